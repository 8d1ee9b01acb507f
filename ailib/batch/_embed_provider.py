"""A corpus embedded through OpenAI's batch API (``/files`` + ``/batches`` with endpoint
``/v1/embeddings``), at the batch price (half the live one), crash-safe.

One remote batch per run: one line per request of the texts not yet answered
(``custom_id`` ``r{start}-{end}``). Its job record (``{"job": {...}}`` in the embedding
checkpoint) is written and fsync-ed before anything is sent and again as soon as each remote
id exists, so a re-run after a crash resumes polling the same remote batch instead of
submitting again, and no text is paid for twice. Each answered line becomes an ordinary
checkpoint record as it is collected.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from typing import Any, Callable, Optional

from .._embedding import EmbeddingRequest, EmbeddingResponse
from .._response import Usage
from ..errors import ConfigurationError, ProviderError
from ..providers._base import classify_http_error
from ..providers._embed import AzureEmbed, OpenAIEmbed, embed_format_for
from ._http import Http

__all__ = ["run_provider_embeddings"]

_POLL_MAX = 60.0
_TERMINAL = {"completed", "failed", "expired", "cancelled"}


def _upload(http: Http, job: dict[str, Any], entries: list[dict[str, Any]]) -> str:
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
    return str(res["id"])


def _find(http: Http, job: dict[str, Any]) -> Optional[str]:
    """The batch already made from this job's file (a crash may have lost its id)."""
    res = http.call("GET", http.url("/batches?limit=100"))
    for b in res.get("data") or []:
        if b.get("input_file_id") == job["file_id"] or (b.get("metadata") or {}).get("ailib_job") == job["id"]:
            return str(b["id"])
    return None


def run_provider_embeddings(
    client: Any,
    texts: Sequence[str],
    ranges: list[tuple[int, int]],
    template: EmbeddingRequest,
    model: str,
    ckpt: Any,
    *,
    poll_interval: float,
    on_result: Callable[[int, int, Any], None],
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Embed ``ranges`` of ``texts`` in one remote batch (or resume the checkpoint's unfinished
    one); ``on_result(start, end, response_or_error)`` for each line collected."""
    from ._provider import BATCH_DISCOUNT

    pipeline = client._pipeline
    ep = pipeline.router.endpoints()[0]
    fmt = embed_format_for(ep.spec)
    if not isinstance(fmt, OpenAIEmbed) or isinstance(fmt, AzureEmbed) or ep.spec.wire_format != "openai":
        raise ConfigurationError(
            f"embedding through a provider's batch API needs the OpenAI batch API; {ep.provider} has none ailib speaks (use mode='live')"
        )
    http = Http(pipeline.transport, ep, sleep=sleep)
    job = ckpt.pending_job() if ckpt is not None else None

    def save(j: dict[str, Any]) -> None:
        if ckpt is not None:
            ckpt.write_job(j)

    if job is None:
        if not ranges:
            return
        job = {"id": uuid.uuid4().hex, "kind": "embeddings", "endpoint": ep.name, "model": model, "ranges": ranges, "state": "new"}
        save(job)
    ranges = [(int(r[0]), int(r[1])) for r in job["ranges"]]
    model = job["model"]
    if not job.get("batch_id"):
        if job.get("file_id"):
            found = _find(http, job)
            if found is not None:
                job["batch_id"], job["state"] = found, "submitted"
                save(job)
        if not job.get("batch_id"):
            if not job.get("file_id"):
                entries = [
                    {"custom_id": f"r{s}-{e}", "method": "POST", "url": "/v1/embeddings", "body": fmt.encode(template, texts[s:e], model)}
                    for s, e in ranges
                ]
                job["file_id"], job["state"] = _upload(http, job, entries), "uploaded"
                save(job)
            payload = {"input_file_id": job["file_id"], "endpoint": "/v1/embeddings", "completion_window": "24h"}
            payload["metadata"] = {"ailib_job": job["id"]}
            res = http.call("POST", http.url("/batches"), json.dumps(payload).encode(), retry=False)
            job["batch_id"], job["state"] = str(res["id"]), "submitted"
            save(job)
    wait = poll_interval
    while True:
        res = http.call("GET", http.url(f"/batches/{job['batch_id']}"))
        state = str(res.get("status"))
        if state in _TERMINAL:
            break
        sleep(wait)
        wait = min(wait * 1.5, _POLL_MAX)
    if state == "failed":
        errs = (res.get("errors") or {}).get("data") or [{}]
        job["state"] = "collected"
        save(job)
        raise ProviderError(f"the provider batch failed: {errs[0].get('message') or 'rejected'}", provider=ep.provider, model=model)
    by_id = {f"r{s}-{e}": (s, e) for s, e in ranges}
    seen: set[str] = set()
    for key in ("output_file_id", "error_file_id"):
        file_id = res.get(key)
        if not file_id:
            continue
        for raw in http.raw("GET", http.url(f"/files/{file_id}/content")).splitlines():
            if not raw.strip():
                continue
            line = json.loads(raw)
            where = by_id.get(str(line.get("custom_id")))
            if where is None:
                continue
            seen.add(str(line.get("custom_id")))
            resp = line.get("response") or {}
            status = int(resp.get("status_code") or 0)
            if 200 <= status < 300:
                part = fmt.decode(resp["body"], model)
                usage = part.usage or Usage()
                cost = pipeline.prices.cost(ep.provider, part.model, usage, model) if pipeline.prices is not None else None
                result: Any = EmbeddingResponse(
                    part.vectors, part.model, ep.provider, usage, (), None if cost is None else cost * BATCH_DISCOUNT
                )
            else:
                err = line.get("error") or (resp.get("body") or {}).get("error") or {}
                message = str(err.get("message") or "the request did not run in the provider batch")
                result = classify_http_error(
                    status or 500, {}, message=message, codes=(str(err.get("code") or ""),), provider=ep.provider, model=model
                )
            on_result(where[0], where[1], result)
    for cid, (s, e) in by_id.items():
        if cid not in seen:
            on_result(
                s, e, ProviderError(f"the provider batch ended ({state}) without an answer for texts {s}-{e - 1}", provider=ep.provider)
            )
    job["state"] = "collected"
    save(job)
