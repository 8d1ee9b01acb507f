"""The mock's batch endpoints: OpenAI files + batches, Anthropic message batches, Gemini batch mode.

Every ``MockProvider`` serves them (``ROUTES``, picked up by ``_routes``). Their state and
settings live in ``batch_api(mock)``, a ``BatchApi``:

- **A compressible clock**: a batch spends ``validate`` virtual seconds validating, then
  ``duration`` running (its completed count grows linearly), then ``finalize`` finalizing;
  virtual time runs ``speed`` times faster than real time; ``freeze()``/``thaw()`` stop and
  restart it (a test can hold batches in progress while it kills a client).
- **Partial failures**: a ``fail_fraction`` of the requests (chosen by a hash of their
  ``custom_id`` and the batch, deterministic) end with ``fail_status`` (500) in the
  format's error shape; ``expire=True`` makes batches expire before their requests ran;
  ``reject=True`` fails whole batches (validation failed).
- **Counters**: ``uploads`` and ``created`` (what a client paid for), ``polls``.
- Answers echo the request's last user text (``answer(body) -> str`` to change it); results
  come back shuffled, so clients must match them by ``custom_id``.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import threading
import time
from typing import Any, Callable, Optional
from urllib.parse import quote, unquote

from ._faults import Reply
from ._owner import Route

__all__ = ["BatchApi", "batch_api", "ROUTES"]

_lock = threading.Lock()


class BatchApi:
    """The batch state and settings of one mock server."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.speed = 1.0
        self.validate = 0.0
        self.duration = 1.0
        self.finalize = 0.0
        self.fail_fraction = 0.0
        self.fail_status = 500
        self.expire = False
        self.reject = False
        self.create_delay = 0.0
        self.answer: Optional[Callable[[Any], str]] = None
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.uploads = 0
        self.created = 0
        self.polls = 0
        self._virtual = 0.0
        self._real = time.monotonic()
        self._frozen = False

    def configure(self, **settings: Any) -> BatchApi:
        for name, value in settings.items():
            if not hasattr(self, name) or name.startswith("_"):
                raise AttributeError(f"BatchApi has no setting {name!r}")
            setattr(self, name, value)
        return self

    # -- the clock --
    def now(self) -> float:
        with self.lock:
            return self._now()

    def _now(self) -> float:
        if self._frozen:
            return self._virtual
        real = time.monotonic()
        return self._virtual + (real - self._real) * self.speed

    def freeze(self) -> None:
        with self.lock:
            self._virtual, self._frozen = self._now(), True

    def thaw(self) -> None:
        with self.lock:
            self._real, self._frozen = time.monotonic(), False

    # -- batches --
    def new_id(self, prefix: str) -> str:
        return f"{prefix}{random.getrandbits(64):016x}"

    def create(self, kind: str, entries: list[dict[str, Any]], extra: dict[str, Any]) -> dict[str, Any]:
        if self.create_delay:
            time.sleep(self.create_delay)
        with self.lock:
            self.created += 1
            bid = self.new_id({"openai": "batch_", "anthropic": "msgbatch_", "gemini": "batches/"}[kind])
            b = {"id": bid, "kind": kind, "entries": entries, "start": self._now(), "cancelled": None, **extra}
            self.batches[bid] = b
            return b

    def phase(self, b: dict[str, Any]) -> tuple[str, int]:
        """(``validating``/``in_progress``/``finalizing``/``completed``/``expired``/``cancelled``, requests done)."""
        t = self.now() - b["start"]
        n = len(b["entries"])
        if b["cancelled"] is not None:
            return "cancelled", 0
        if self.reject:
            return "failed", 0
        if t < self.validate:
            return "validating", 0
        t -= self.validate
        if t < self.duration:
            return ("expired", 0) if self.expire and t > self.duration / 2 else ("in_progress", int(n * t / self.duration))
        if self.expire:
            return "expired", 0
        return ("finalizing", n) if t - self.duration < self.finalize else ("completed", n)

    def fails(self, b: dict[str, Any], custom_id: str) -> bool:
        if self.fail_fraction <= 0:
            return False
        h = int(hashlib.sha256(f"{b['id']}/{custom_id}".encode()).hexdigest()[:8], 16)
        return h / 0xFFFFFFFF < self.fail_fraction

    def reply_for(self, body: Any) -> Reply:
        if self.answer is not None:
            return Reply(self.answer(body))
        text = ""
        msgs = (body.get("messages") or body.get("contents") or []) if isinstance(body, dict) else []
        if msgs:
            last = msgs[-1]
            content = last.get("content", last.get("parts"))
            if isinstance(content, str):
                text = content
            elif isinstance(content, list) and content and isinstance(content[0], dict):
                text = str(content[0].get("text", ""))
        return Reply(f"re: {text}")


def batch_api(mock: Any) -> BatchApi:
    """The ``BatchApi`` of a ``MockProvider`` (created on first use)."""
    with _lock:
        api = getattr(mock, "_batch_api", None)
        if api is None:
            api = BatchApi()
            mock._batch_api = api
        return api


def _results_order(b: dict[str, Any]) -> list[int]:
    order = list(range(len(b["entries"])))
    random.Random(b["id"]).shuffle(order)
    return order


# -- OpenAI ---------------------------------------------------------------------------------------
def _multipart_file(rec: Any) -> bytes:
    ctype = rec.headers.get("content-type", "")
    body: bytes = rec.body
    m = re.search(r"boundary=([^;]+)", ctype)
    if not m:
        return body
    for part in body.split(b"--" + m.group(1).strip('"').encode()):
        head, _, data = part.partition(b"\r\n\r\n")
        if b'name="file"' in head:
            return data[:-2] if data.endswith(b"\r\n") else data
    return b""


def _openai_upload(mock: Any, ex: Any, rec: Any, m: Any) -> None:
    api = batch_api(mock)
    data = _multipart_file(rec)
    with api.lock:
        api.uploads += 1
        fid = api.new_id("file-")
        api.files[fid] = data
    ex.send_json(200, {"id": fid, "object": "file", "bytes": len(data), "purpose": "batch", "filename": "input.jsonl"})


def _openai_file_content(mock: Any, ex: Any, rec: Any, m: Any) -> None:
    api = batch_api(mock)
    data = api.files.get(unquote(m.group(1)))
    if data is None:
        ex.send_json(404, {"error": {"message": "no such file", "type": "invalid_request_error", "code": "not_found"}})
        return
    ex.send_bytes(200, "application/jsonl", data)


def _openai_view(mock: Any, b: dict[str, Any]) -> dict[str, Any]:
    api = batch_api(mock)
    status, done = api.phase(b)
    n = len(b["entries"])
    view = {
        "id": b["id"],
        "object": "batch",
        "endpoint": b.get("endpoint") or "/v1/chat/completions",
        "input_file_id": b["input_file_id"],
        "completion_window": "24h",
        "status": status,
        "metadata": b.get("metadata"),
        "output_file_id": None,
        "error_file_id": None,
        "errors": None,
    }
    if status == "failed":
        view["errors"] = {"object": "list", "data": [{"code": "invalid_request", "message": "mock rejected the batch", "line": None}]}
    if status in ("completed", "expired", "cancelled"):
        _openai_files(mock, b, status)
        view["output_file_id"], view["error_file_id"] = b["output_file_id"], b["error_file_id"]
    failed = sum(1 for e in b["entries"] if api.fails(b, e["custom_id"])) if status == "completed" else 0
    view["request_counts"] = {"total": n, "completed": done - failed if status == "completed" else done, "failed": failed}
    return view


def _openai_files(mock: Any, b: dict[str, Any], status: str) -> None:
    if "output_file_id" in b:
        return
    api = batch_api(mock)
    fmt = mock._formats["openai"]
    out, err = [], []
    for pos in _results_order(b):
        e = b["entries"][pos]
        cid = e["custom_id"]
        if status != "completed":
            code = "batch_expired" if status == "expired" else "batch_cancelled"
            err.append({"id": f"req_{pos}", "custom_id": cid, "response": None, "error": {"code": code, "message": f"request {code[6:]}"}})
        elif api.fails(b, cid):
            body = fmt.error_body(api.fail_status, None, "mock batch failure")
            err.append(
                {
                    "id": f"req_{pos}",
                    "custom_id": cid,
                    "response": {"status_code": api.fail_status, "request_id": f"r{pos}", "body": body},
                    "error": None,
                }
            )
        elif str(e.get("url", "")).endswith("/embeddings"):  # an embeddings line: the mock's vectors for its texts
            body = mock._formats["openai_embed"].success(api.reply_for({}), e["body"].get("model", "mock-model"), e["body"])
            out.append(
                {
                    "id": f"req_{pos}",
                    "custom_id": cid,
                    "response": {"status_code": 200, "request_id": f"r{pos}", "body": body},
                    "error": None,
                }
            )
        else:
            body = fmt.success(api.reply_for(e["body"]), e["body"].get("model", "mock-model"))
            out.append(
                {
                    "id": f"req_{pos}",
                    "custom_id": cid,
                    "response": {"status_code": 200, "request_id": f"r{pos}", "body": body},
                    "error": None,
                }
            )
    with api.lock:
        b["output_file_id"] = b["error_file_id"] = None
        if out:
            b["output_file_id"] = fid = api.new_id("file-")
            api.files[fid] = b"".join(json.dumps(x).encode() + b"\n" for x in out)
        if err:
            b["error_file_id"] = fid = api.new_id("file-")
            api.files[fid] = b"".join(json.dumps(x).encode() + b"\n" for x in err)


def _openai_create(mock: Any, ex: Any, rec: Any, m: Any) -> None:
    api = batch_api(mock)
    body = rec.json or {}
    data = api.files.get(str(body.get("input_file_id")))
    if data is None:
        ex.send_json(400, {"error": {"message": "input_file_id not found", "type": "invalid_request_error", "code": None}})
        return
    entries = [json.loads(line) for line in data.splitlines() if line.strip()]
    extra = {"input_file_id": body["input_file_id"], "metadata": body.get("metadata"), "endpoint": body.get("endpoint")}
    b = api.create("openai", entries, extra)
    ex.send_json(200, _openai_view(mock, b))


def _lookup(mock: Any, ex: Any, bid: str) -> Optional[dict[str, Any]]:
    b = batch_api(mock).batches.get(bid)
    if b is None:
        ex.send_json(404, {"error": {"message": f"no batch {bid}", "type": "not_found_error", "code": "not_found"}})
    return b


def _openai_get(mock: Any, ex: Any, rec: Any, m: Any) -> None:
    b = _lookup(mock, ex, unquote(m.group(1)))
    if b is not None:
        batch_api(mock).polls += 1
        ex.send_json(200, _openai_view(mock, b))


def _openai_list(mock: Any, ex: Any, rec: Any, m: Any) -> None:
    api = batch_api(mock)
    views = [_openai_view(mock, b) for b in list(api.batches.values()) if b["kind"] == "openai"]
    ex.send_json(200, {"object": "list", "data": views[::-1], "has_more": False})


def _cancel(mock: Any, ex: Any, rec: Any, m: Any, view: Callable[[Any, dict[str, Any]], dict[str, Any]], prefix: str = "") -> None:
    b = _lookup(mock, ex, prefix + unquote(m.group(1)))
    if b is not None:
        api = batch_api(mock)
        if api.phase(b)[0] in ("validating", "in_progress"):
            b["cancelled"] = api.now()
        ex.send_json(200, view(mock, b))


# -- Anthropic ------------------------------------------------------------------------------------
def _anthropic_view(mock: Any, b: dict[str, Any]) -> dict[str, Any]:
    status, done = batch_api(mock).phase(b)
    ended = status in ("completed", "expired", "cancelled", "failed")
    n = len(b["entries"])
    return {
        "id": b["id"],
        "type": "message_batch",
        "processing_status": "ended" if ended else ("canceling" if status == "cancelled" else "in_progress"),
        "request_counts": {
            "processing": 0 if ended else n - done,
            "succeeded": done if ended else 0,
            "errored": 0,
            "canceled": 0,
            "expired": 0,
        },
        "results_url": f"{mock.url}/v1/messages/batches/{quote(b['id'], safe='')}/results" if ended else None,
    }


def _anthropic_create(mock: Any, ex: Any, rec: Any, m: Any) -> None:
    entries = (rec.json or {}).get("requests") or []
    ex.send_json(200, _anthropic_view(mock, batch_api(mock).create("anthropic", entries, {})))


def _anthropic_get(mock: Any, ex: Any, rec: Any, m: Any) -> None:
    b = _lookup(mock, ex, unquote(m.group(1)))
    if b is not None:
        batch_api(mock).polls += 1
        ex.send_json(200, _anthropic_view(mock, b))


def _anthropic_results(mock: Any, ex: Any, rec: Any, m: Any) -> None:
    b = _lookup(mock, ex, unquote(m.group(1)))
    if b is None:
        return
    api = batch_api(mock)
    status, _ = api.phase(b)
    fmt = mock._formats["anthropic"]
    lines = []
    for pos in _results_order(b):
        e = b["entries"][pos]
        cid = e["custom_id"]
        if status == "failed":
            result: dict[str, Any] = {"type": "errored", "error": fmt.error_body(400, None, "mock rejected the batch")}
        elif status != "completed":
            result = {"type": "expired" if status == "expired" else "canceled"}
        elif api.fails(b, cid):
            result = {"type": "errored", "error": fmt.error_body(api.fail_status, None, "mock batch failure")}
        else:
            result = {"type": "succeeded", "message": fmt.success(api.reply_for(e["params"]), e["params"].get("model", "mock-model"))}
        lines.append(json.dumps({"custom_id": cid, "result": result}).encode() + b"\n")
    ex.send_bytes(200, "application/binary", b"".join(lines))


# -- Gemini ---------------------------------------------------------------------------------------
_GEMINI_STATE = {
    "validating": "BATCH_STATE_PENDING",
    "in_progress": "BATCH_STATE_RUNNING",
    "finalizing": "BATCH_STATE_RUNNING",
    "completed": "BATCH_STATE_SUCCEEDED",
    "expired": "BATCH_STATE_EXPIRED",
    "cancelled": "BATCH_STATE_CANCELLED",
    "failed": "BATCH_STATE_FAILED",
}


def _gemini_view(mock: Any, b: dict[str, Any]) -> dict[str, Any]:
    api = batch_api(mock)
    status, done = api.phase(b)
    state = _GEMINI_STATE[status]
    meta = {
        "@type": "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch",
        "name": b["id"],
        "displayName": b.get("display_name"),
        "model": f"models/{b['model']}",
        "state": state,
        "batchStats": {"requestCount": str(len(b["entries"])), "successfulRequestCount": str(done)},
    }
    view: dict[str, Any] = {"name": b["id"], "metadata": meta, "done": status in ("completed", "expired", "cancelled", "failed")}
    if status == "completed":
        fmt = mock._formats["gemini"]
        items = []
        for pos, e in enumerate(b["entries"]):
            key = (e.get("metadata") or {}).get("key")
            if api.fails(b, key or f"i{pos}"):
                item: dict[str, Any] = {"error": fmt.error_body(api.fail_status, None, "mock batch failure")["error"]}
            else:
                item = {"response": fmt.success(api.reply_for(e.get("request") or {}), b["model"])}
            items.append(item)  # Gemini answers in input order (and does not echo metadata)
        view["response"] = {
            "@type": "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatchOutput",
            "inlinedResponses": {"inlinedResponses": items},
        }
    elif status in ("expired", "cancelled", "failed"):
        view["error"] = {"code": {"expired": 4, "cancelled": 1, "failed": 3}[status], "message": f"batch {status}"}
    return view


def _gemini_create(mock: Any, ex: Any, rec: Any, m: Any) -> None:
    batch = (rec.json or {}).get("batch") or {}
    entries = ((batch.get("input_config") or batch.get("inputConfig") or {}).get("requests") or {}).get("requests") or []
    extra = {"model": unquote(m.group(1)), "display_name": batch.get("display_name") or batch.get("displayName")}
    ex.send_json(200, _gemini_view(mock, batch_api(mock).create("gemini", entries, extra)))


def _gemini_list(mock: Any, ex: Any, rec: Any, m: Any) -> None:
    api = batch_api(mock)
    ops = [_gemini_view(mock, b) for b in list(api.batches.values()) if b["kind"] == "gemini"]
    ex.send_json(200, {"operations": ops[::-1]})


def _gemini_get(mock: Any, ex: Any, rec: Any, m: Any) -> None:
    b = _lookup(mock, ex, "batches/" + unquote(m.group(1)))
    if b is not None:
        batch_api(mock).polls += 1
        ex.send_json(200, _gemini_view(mock, b))


def _routes() -> list[Route]:
    return [
        Route("POST", r"/v1/files", _openai_upload),
        Route("GET", r"/v1/files/([^/]+)/content", _openai_file_content),
        Route("POST", r"/v1/batches", _openai_create),
        Route("GET", r"/v1/batches", _openai_list),
        Route("GET", r"/v1/batches/([^/]+)", _openai_get),
        Route("POST", r"/v1/batches/([^/]+)/cancel", lambda p, e, r, m: _cancel(p, e, r, m, _openai_view)),
        Route("POST", r"/v1/messages/batches", _anthropic_create),
        Route("GET", r"/v1/messages/batches/([^/]+)", _anthropic_get),
        Route("GET", r"/v1/messages/batches/([^/]+)/results", _anthropic_results),
        Route("POST", r"/v1/messages/batches/([^/]+)/cancel", lambda p, e, r, m: _cancel(p, e, r, m, _anthropic_view)),
        Route("POST", r"/v1beta/models/([^/:]+):batchGenerateContent", _gemini_create),
        Route("GET", r"/v1beta/batches", _gemini_list),
        Route("GET", r"/v1beta/batches/([^/:]+)", _gemini_get),
        Route("POST", r"/v1beta/batches/([^/:]+):cancel", lambda p, e, r, m: _cancel(p, e, r, m, _gemini_view, "batches/")),
    ]


ROUTES = _routes()
