"""The providers' batch APIs on the wire: OpenAI (files + batches), Anthropic (message batches), Gemini.

Each ``BatchWire`` turns a group of requests (one endpoint, one model) into the
provider's submission, reads a job's status, yields each result by ``custom_id`` and
cancels. Results are decoded by the endpoint's own wire format, and per-request errors
are classified by the same code as live calls (``error_from_response``).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any, Optional

import attrs

from .._value import value
from ..errors import AiLibError, InvalidRequestError, TimeoutError
from ..providers._base import decode_body, error_from_response
from ..providers._urls import segment
from ..providers.gemini import model_path
from ..types import ChatCompletionRequest
from ._http import Http

__all__ = ["BatchWire", "Status", "wire_for"]

log = logging.getLogger("ailib")

_JSON = {"content-type": "application/json"}


def _id(value: Any) -> str:
    """A file or batch id the provider gave, as one URL path segment."""
    return segment(str(value), "a provider batch or file id")


def _gemini_batch(name: Any) -> str:
    """A Gemini batch resource name (``batches/{id}``) as a URL path, its id one segment."""
    name = str(name)
    return "batches/" + _id(name[len("batches/") :] if name.startswith("batches/") else name)


def _counts(counts: Optional[dict[str, Any]]) -> dict[str, Any]:
    return counts or {}


@value
class Status:
    """A job's remote state: ``done`` once results can be read; ``failed`` when the whole job failed."""

    state: str
    done: bool = attrs.field(kw_only=True)
    failed: Optional[str] = attrs.field(default=None, kw_only=True)
    counts: dict[str, Any] = attrs.field(factory=dict, kw_only=True, converter=_counts, hash=False)


class BatchWire:
    name = "base"
    max_requests = 50_000
    max_bytes = 100 * 1024 * 1024

    def entry(self, custom_id: str, request: ChatCompletionRequest, ep: Any, model: str) -> dict[str, Any]:
        raise NotImplementedError

    def submit(self, http: Http, job: dict[str, Any], entries: list[dict[str, Any]], save: Any) -> None:
        """Submit ``entries``; call ``save(job)`` as soon as each remote id is set on ``job``."""
        raise NotImplementedError

    def status(self, http: Http, job: dict[str, Any]) -> Status:
        raise NotImplementedError

    def results(self, http: Http, job: dict[str, Any]) -> Iterator[tuple[str, Any]]:
        """(custom_id, decoded response or classified ``AiLibError``) per finished request."""
        raise NotImplementedError

    def cancel(self, http: Http, job: dict[str, Any]) -> None:
        raise NotImplementedError

    def find(self, http: Http, job: dict[str, Any]) -> Optional[str]:
        """The remote batch a job created before a crash lost its id, when the API can tell."""
        return None

    def size(self, entry: dict[str, Any]) -> int:
        return len(json.dumps(entry, ensure_ascii=False).encode()) + 1

    # -- shared decoding --
    def _ok(self, http: Http, body: Any, model: str) -> Any:
        data = json.dumps(body, ensure_ascii=False).encode()
        ep = http.endpoint
        try:
            return decode_body(ep.wire, 200, _JSON, data, provider=ep.provider, model=model, now=0.0)
        except AiLibError as err:
            return err

    def _error(self, http: Http, status: int, body: Any, model: str) -> AiLibError:
        ep = http.endpoint
        data = json.dumps(body, ensure_ascii=False).encode() if body is not None else b""
        return error_from_response(ep.wire, status, _JSON, data, provider=ep.provider, model=model, now=0.0)


def _jsonl(data: bytes) -> Iterator[dict[str, Any]]:
    for raw in data.splitlines():
        if raw.strip():
            yield json.loads(raw)


class OpenAIBatch(BatchWire):
    """``/files`` (purpose ``batch``) + ``/batches``; output and error files by ``custom_id``."""

    name = "openai"
    max_requests = 50_000
    max_bytes = 200 * 1024 * 1024
    _TERMINAL = {"completed", "failed", "expired", "cancelled"}

    def entry(self, custom_id: str, request: ChatCompletionRequest, ep: Any, model: str) -> dict[str, Any]:
        body = ep.wire.encode(request, model, stream=False, spec=ep.spec)
        return {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body}

    def submit(self, http: Http, job: dict[str, Any], entries: list[dict[str, Any]], save: Any) -> None:
        if job.get("file_id"):  # uploaded before a crash: the batch may exist already
            found = self.find(http, job)
            if found is not None:
                job["batch_id"] = found
                job["state"] = "submitted"
                save(job)
                return
        else:
            content = b"".join(json.dumps(e, ensure_ascii=False).encode() + b"\n" for e in entries)
            boundary = "ailib" + uuid.uuid4().hex
            body = (
                (
                    f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n'
                    f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{job["id"]}.jsonl"\r\n'
                    "Content-Type: application/jsonl\r\n\r\n"
                ).encode()
                + content
                + f"\r\n--{boundary}--\r\n".encode()
            )
            res = http.call("POST", http.url("/files"), body, content_type=f"multipart/form-data; boundary={boundary}", retry=False)
            job["file_id"] = res["id"]
            job["state"] = "uploaded"
            save(job)
        payload = {
            "input_file_id": job["file_id"],
            "endpoint": "/v1/chat/completions",
            "completion_window": "24h",
            "metadata": {"ailib_job": job["id"]},
        }
        res = http.call("POST", http.url("/batches"), json.dumps(payload).encode(), retry=False)
        job["batch_id"] = res["id"]
        job["state"] = "submitted"
        save(job)

    def status(self, http: Http, job: dict[str, Any]) -> Status:
        res = http.call("GET", http.url(f"/batches/{_id(job['batch_id'])}"))
        state = str(res.get("status"))
        job["output_file_id"] = res.get("output_file_id")
        job["error_file_id"] = res.get("error_file_id")
        failed = None
        if state == "failed":
            errs = (res.get("errors") or {}).get("data") or [{}]
            failed = str(errs[0].get("message") or "the batch failed validation")
        return Status(state, done=state in self._TERMINAL, failed=failed, counts=res.get("request_counts"))

    def results(self, http: Http, job: dict[str, Any]) -> Iterator[tuple[str, Any]]:
        model = job["model"]
        for key in ("output_file_id", "error_file_id"):
            file_id = job.get(key)
            if not file_id:
                continue
            for rec in _jsonl(http.raw("GET", http.url(f"/files/{_id(file_id)}/content"))):
                resp, err = rec.get("response"), rec.get("error")
                if resp and 200 <= int(resp.get("status_code", 0)) < 300:
                    yield rec["custom_id"], self._ok(http, resp.get("body"), model)
                elif resp:
                    yield rec["custom_id"], self._error(http, int(resp.get("status_code", 500)), resp.get("body"), model)
                else:
                    yield rec["custom_id"], self._line_error(http, err or {}, model)

    def _line_error(self, http: Http, err: dict[str, Any], model: str) -> AiLibError:
        code, message = str(err.get("code") or ""), str(err.get("message") or "the request did not run")
        if code == "batch_expired":
            return TimeoutError(
                f"the provider batch expired before this request ran: {message}",
                phase="batch",
                provider=http.endpoint.provider,
                model=model,
            )
        return self._error(http, 500, {"error": {"code": code, "message": message}}, model)

    def find(self, http: Http, job: dict[str, Any]) -> Optional[str]:
        """The batch already created from this job's file (a crash may have lost its id)."""
        res = http.call("GET", http.url("/batches?limit=100"))
        for b in res.get("data") or []:
            if b.get("input_file_id") == job["file_id"] or (b.get("metadata") or {}).get("ailib_job") == job["id"]:
                return str(b["id"])
        return None

    def cancel(self, http: Http, job: dict[str, Any]) -> None:
        http.call("POST", http.url(f"/batches/{_id(job['batch_id'])}/cancel"), b"{}")


_ANTHROPIC_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}


class AnthropicBatch(BatchWire):
    """``/v1/messages/batches``: requests inline, results streamed from ``results_url`` as JSONL."""

    name = "anthropic"
    max_requests = 100_000
    max_bytes = 256 * 1024 * 1024

    def entry(self, custom_id: str, request: ChatCompletionRequest, ep: Any, model: str) -> dict[str, Any]:
        return {"custom_id": custom_id, "params": ep.wire.encode(request, model, stream=False, spec=ep.spec)}

    def submit(self, http: Http, job: dict[str, Any], entries: list[dict[str, Any]], save: Any) -> None:
        if job.get("submitted_once"):  # the API cannot tell which batch a lost creation made
            log.warning(
                "provider batch %s: a previous run died while creating it; submitting again "
                "(if Anthropic had created it, that batch runs too: cancel it in the console)",
                job["id"],
            )
        job["submitted_once"] = True
        save(job)
        res = http.call("POST", http.url("/v1/messages/batches"), json.dumps({"requests": entries}).encode(), retry=False)
        job["batch_id"] = res["id"]
        job["state"] = "submitted"
        save(job)

    def status(self, http: Http, job: dict[str, Any]) -> Status:
        res = http.call("GET", http.url(f"/v1/messages/batches/{_id(job['batch_id'])}"))
        state = str(res.get("processing_status"))
        job["results_url"] = res.get("results_url")
        return Status(state, done=state == "ended", counts=res.get("request_counts"))

    def results(self, http: Http, job: dict[str, Any]) -> Iterator[tuple[str, Any]]:
        model = job["model"]
        url = job.get("results_url") or http.url(f"/v1/messages/batches/{_id(job['batch_id'])}/results")
        for rec in _jsonl(http.raw("GET", url)):
            result = rec.get("result") or {}
            kind = result.get("type")
            if kind == "succeeded":
                yield rec["custom_id"], self._ok(http, result.get("message"), model)
            elif kind == "errored":
                body = result.get("error") or {}
                etype = str((body.get("error") or {}).get("type") or "api_error")
                yield rec["custom_id"], self._error(http, _ANTHROPIC_STATUS.get(etype, 500), body, model)
            else:  # canceled, expired: the request never ran
                yield (
                    rec["custom_id"],
                    TimeoutError(
                        f"the provider batch ended ({kind}) before this request ran",
                        phase="batch",
                        provider=http.endpoint.provider,
                        model=model,
                    ),
                )

    def cancel(self, http: Http, job: dict[str, Any]) -> None:
        http.call("POST", http.url(f"/v1/messages/batches/{_id(job['batch_id'])}/cancel"), b"{}")


class GeminiBatch(BatchWire):
    """``models/{model}:batchGenerateContent`` with inline requests keyed by ``metadata.key``."""

    name = "gemini"
    max_requests = 50_000
    max_bytes = 20 * 1024 * 1024  # the inline-request limit
    _TERMINAL = {
        "BATCH_STATE_SUCCEEDED",
        "BATCH_STATE_FAILED",
        "BATCH_STATE_CANCELLED",
        "BATCH_STATE_EXPIRED",
        "JOB_STATE_SUCCEEDED",
        "JOB_STATE_FAILED",
        "JOB_STATE_CANCELLED",
        "JOB_STATE_EXPIRED",
    }

    def entry(self, custom_id: str, request: ChatCompletionRequest, ep: Any, model: str) -> dict[str, Any]:
        return {"request": ep.wire.encode(request, model, stream=False, spec=ep.spec), "metadata": {"key": custom_id}}

    def submit(self, http: Http, job: dict[str, Any], entries: list[dict[str, Any]], save: Any) -> None:
        if job.get("submitted_once"):  # a crash during a submission: the batch may exist already
            found = self.find(http, job)
            if found is not None:
                job["batch_id"] = found
                job["state"] = "submitted"
                save(job)
                return
        job["submitted_once"] = True
        save(job)
        body = {"batch": {"display_name": job["id"], "input_config": {"requests": {"requests": entries}}}}
        res = http.call(
            "POST", http.url(f"/v1beta/{model_path(job['model'])}:batchGenerateContent"), json.dumps(body).encode(), retry=False
        )
        job["batch_id"] = res["name"]
        job["state"] = "submitted"
        save(job)

    def find(self, http: Http, job: dict[str, Any]) -> Optional[str]:
        """The batch whose display name is this job's id (created before a crash lost its name)."""
        res = http.call("GET", http.url("/v1beta/batches?pageSize=100"))
        for op in res.get("operations") or res.get("batches") or []:
            meta = op.get("metadata") or op
            if meta.get("displayName") == job["id"] or meta.get("display_name") == job["id"]:
                return str(op.get("name") or meta.get("name"))
        return None

    def _get(self, http: Http, job: dict[str, Any]) -> dict[str, Any]:
        return http.call("GET", http.url(f"/v1beta/{_gemini_batch(job['batch_id'])}"))

    def status(self, http: Http, job: dict[str, Any]) -> Status:
        res = self._get(http, job)
        meta = res.get("metadata") or {}
        state = str(meta.get("state") or ("BATCH_STATE_SUCCEEDED" if res.get("done") else "BATCH_STATE_PENDING"))
        failed = str((res.get("error") or {}).get("message") or "the batch failed") if state.endswith("FAILED") else None
        return Status(state, done=bool(res.get("done")) or state in self._TERMINAL, failed=failed, counts=meta.get("batchStats"))

    def results(self, http: Http, job: dict[str, Any]) -> Iterator[tuple[str, Any]]:
        model = job["model"]
        res = self._get(http, job)
        out = (
            (res.get("response") or {}).get("inlinedResponses")
            or (res.get("metadata") or {}).get("output", {}).get("inlinedResponses")
            or {}
        )
        items = out.get("inlinedResponses") or []
        for pos, item in enumerate(items):  # in input order; metadata.key when the API echoes it
            key = (item.get("metadata") or {}).get("key") or f"i{pos}"
            if "response" in item:
                yield key, self._ok(http, item["response"], model)
            else:
                err = item.get("error") or {}
                yield key, self._error(http, int(err.get("code") or 500), {"error": err}, model)

    def cancel(self, http: Http, job: dict[str, Any]) -> None:
        http.call("POST", http.url(f"/v1beta/{_gemini_batch(job['batch_id'])}:cancel"), b"{}")


_WIRES: dict[str, BatchWire] = {"openai": OpenAIBatch(), "anthropic": AnthropicBatch(), "gemini": GeminiBatch()}


def wire_for(ep: Any) -> Optional[BatchWire]:
    """The batch API of an endpoint's wire format, or None when its provider has none."""
    return _WIRES.get(getattr(ep.wire, "name", ""))


def failed_job_error(http: Http, job: dict[str, Any], message: str) -> AiLibError:
    """The error every request of a job that failed as a whole ends with."""
    return InvalidRequestError(f"the provider rejected the batch: {message}", provider=http.endpoint.provider, model=job.get("model"))
