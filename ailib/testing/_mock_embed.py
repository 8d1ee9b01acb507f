"""Server side of the embeddings endpoints: OpenAI ``/embeddings`` (float or base64), Gemini
``:batchEmbedContents``/``:embedContent``, Cohere ``/v2/embed`` and Ollama ``/api/embed``.

Each is its chat format's mock with the embeddings route, so scripted faults, latency, the
key check and the format's error and 429 bodies apply to it as to chat. Vectors are made
from a hash of the text (``mock_embedding``): the same text always gets the same vector.
Tokens are counted as ``mock_tokens``: a quarter of the characters, rounded up.
"""

from __future__ import annotations

import array
import base64
import hashlib
import sys
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Optional
from urllib.parse import unquote

from ._faults import Reply
from ._mock_base import Refusal
from ._mock_cohere import CohereMock
from ._mock_gemini import GeminiMock
from ._mock_openai import OpenAIMock

__all__ = ["mock_embedding", "mock_tokens", "OpenAIEmbedMock", "GeminiEmbedMock", "CohereEmbedMock", "OllamaEmbedMock"]

DEFAULT_DIMENSIONS = 1536  # when neither the request nor the table of known models says


@lru_cache(maxsize=65536)
def _vector_bytes(text: str, dimensions: int) -> bytes:
    digest = hashlib.shake_256(text.encode("utf-8")).digest(dimensions)
    arr = array.array("f", [b / 128.0 for b in array.array("b", digest)])
    if sys.byteorder != "little":
        arr.byteswap()
    return arr.tobytes()


def mock_embedding(text: str, dimensions: int = DEFAULT_DIMENSIONS) -> list[float]:
    """The vector the mock answers for ``text``: ``dimensions`` float32 values in [-1, 1)
    from a SHAKE-256 hash of the text (exact in float32 and in JSON)."""
    arr = array.array("f")
    arr.frombytes(_vector_bytes(text, dimensions))
    if sys.byteorder != "little":
        arr.byteswap()
    return arr.tolist()


def mock_tokens(text: str) -> int:
    """The tokens the mock bills for ``text``: a quarter of its characters, rounded up (≥ 1)."""
    return max(1, (len(text) + 3) // 4)


def _dimensions(model: str, asked: Any) -> int:
    if isinstance(asked, int) and not isinstance(asked, bool) and asked > 0:
        return asked
    from ..providers._embed import known_dimensions  # the table the client uses too

    return known_dimensions(model) or DEFAULT_DIMENSIONS


def _texts(body: Any, key: str) -> Optional[list[str]]:
    value = body.get(key) if isinstance(body, dict) else None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(t, str) and t for t in value):
        return None
    return value


class OpenAIEmbedMock(OpenAIMock):
    """``POST .../embeddings``: ``data[i].embedding`` floats, or base64 float32 when asked."""

    def matches(self, method: str, path: str) -> bool:
        return method == "POST" and path.split("?", 1)[0].endswith("/embeddings")

    def is_models(self, method: str, path: str) -> bool:
        return False

    def validate(self, path: str, body: Any) -> Optional[Refusal]:
        if not isinstance(body, dict):
            return 400, {"error": {"message": "We could not parse the JSON body of your request.", "type": "invalid_request_error"}}
        if _texts(body, "input") is None:
            return 400, {
                "error": {
                    "message": "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": None,
                }
            }
        if body.get("encoding_format", "float") not in ("float", "base64"):
            return 400, {"error": {"message": "Invalid encoding_format", "type": "invalid_request_error", "param": "encoding_format"}}
        return None

    def success(self, reply: Reply, model: str, body: Any = None) -> dict[str, Any]:
        texts = _texts(body, "input") or []
        dims = _dimensions(model, (body or {}).get("dimensions"))
        b64 = (body or {}).get("encoding_format") == "base64"
        data = [
            {
                "object": "embedding",
                "index": i,
                "embedding": base64.b64encode(_vector_bytes(t, dims)).decode("ascii") if b64 else mock_embedding(t, dims),
            }
            for i, t in enumerate(texts)
        ]
        tokens = sum(map(mock_tokens, texts))
        return {"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}


class OllamaEmbedMock(OpenAIEmbedMock):
    """Ollama's ``POST /api/embed``: ``embeddings`` as float lists, ``prompt_eval_count``."""

    def matches(self, method: str, path: str) -> bool:
        return method == "POST" and path.split("?", 1)[0].endswith("/api/embed")

    def validate(self, path: str, body: Any) -> Optional[Refusal]:
        if _texts(body, "input") is None:
            return 400, {"error": "invalid input type"}
        return None

    def error_body(self, status: int, error_type: Optional[str], message: str) -> dict[str, Any]:
        return {"error": message}

    def success(self, reply: Reply, model: str, body: Any = None) -> dict[str, Any]:
        texts = _texts(body, "input") or []
        dims = _dimensions(model, (body or {}).get("dimensions"))
        return {
            "model": model,
            "embeddings": [mock_embedding(t, dims) for t in texts],
            "total_duration": 14143917,
            "load_duration": 1019500,
            "prompt_eval_count": sum(map(mock_tokens, texts)),
        }


_GEMINI_METHODS = (":batchEmbedContents", ":embedContent")


class GeminiEmbedMock(GeminiMock):
    """``:batchEmbedContents`` (``embeddings[].values``) and ``:embedContent`` (``embedding.values``)."""

    def matches(self, method: str, path: str) -> bool:
        return method == "POST" and path.split("?", 1)[0].endswith(_GEMINI_METHODS)

    def is_models(self, method: str, path: str) -> bool:
        return False

    def is_stream(self, path: str, body: Any) -> bool:
        return False

    def model_of(self, path: str, body: Any) -> str:
        route = unquote(path.split("?", 1)[0]).rsplit(":", 1)[0]
        return route.split("/models/", 1)[1] if "/models/" in route else route.rsplit("/", 1)[-1]

    def _items(self, path: str, body: Any) -> Optional[list[dict[str, Any]]]:
        if not isinstance(body, dict):
            return None
        items = body.get("requests") if path.split("?", 1)[0].endswith(":batchEmbedContents") else [body]
        if not isinstance(items, list) or not items:
            return None
        for item in items:
            parts = (item.get("content") or {}).get("parts") if isinstance(item, dict) else None
            if not isinstance(parts, list) or not parts or not all(isinstance(p, dict) and isinstance(p.get("text"), str) for p in parts):
                return None
        return items

    def validate(self, path: str, body: Any) -> Optional[Refusal]:
        if self._items(path, body) is None:
            return 400, {
                "error": {
                    "code": 400,
                    "message": "* BatchEmbedContentsRequest.requests: contents is not specified",
                    "status": "INVALID_ARGUMENT",
                }
            }
        return None

    def success(self, reply: Reply, model: str, body: Any = None) -> dict[str, Any]:
        path = ":batchEmbedContents" if isinstance(body, dict) and "requests" in body else ":embedContent"
        items = self._items(path, body) or []
        out = []
        for item in items:
            text = "".join(p["text"] for p in item["content"]["parts"])
            out.append({"values": mock_embedding(text, _dimensions(model, item.get("outputDimensionality")))})
        if path == ":embedContent":
            return {"embedding": out[0]}
        return {"embeddings": out}


class CohereEmbedMock(CohereMock):
    """Cohere v2 ``POST /v2/embed``: ``embeddings.float``, ``meta.billed_units.input_tokens``."""

    def matches(self, method: str, path: str) -> bool:
        return method == "POST" and path.split("?", 1)[0].endswith("/v2/embed")

    def is_models(self, method: str, path: str) -> bool:
        return False

    def validate(self, path: str, body: Any) -> Optional[Refusal]:
        if _texts(body, "texts") is None:
            return 400, {"id": "mock-error-1", "message": "invalid request: texts must be a non-empty list of strings"}
        if body.get("input_type") not in ("search_document", "search_query", "classification", "clustering", "image"):
            return 400, {"id": "mock-error-1", "message": "invalid request: valid input_type must be provided with the provided model"}
        return None

    def success(self, reply: Reply, model: str, body: Any = None) -> dict[str, Any]:
        texts = _texts(body, "texts") or []
        dims = _dimensions(model, (body or {}).get("output_dimension"))
        kinds = (body or {}).get("embedding_types") or ["float"]
        return {
            "id": "mock-embed-1",
            "embeddings": {kind: [mock_embedding(t, dims) for t in texts] for kind in kinds if kind == "float"},
            "texts": texts,
            "meta": {"api_version": {"version": "2"}, "billed_units": {"input_tokens": sum(map(mock_tokens, texts))}},
            "response_type": "embeddings_by_type",
        }


def _request_texts(body: Any) -> list[str]:
    """The texts of an embeddings request body in any of the formats (empty for chat bodies)."""
    if not isinstance(body, dict):
        return []
    for key in ("input", "texts"):
        texts = _texts(body, key)
        if texts is not None:
            return texts
    items: list[Any] = body["requests"] if isinstance(body.get("requests"), list) else [body] if "content" in body else []
    return ["".join(p.get("text", "") for p in (i.get("content") or {}).get("parts", [])) for i in items if isinstance(i, dict)]


_SHARE = 1.0  # seconds: the buckets hold one second's share of their per-minute rates


class ServerLimits:
    """A ``MockProvider`` script that rate-limits as OpenAI documents it: a request bucket and a
    token bucket refilled continuously at their per-minute rates and enforced one second's share
    at a time (GCRA with a tolerance of 1 s; "60,000 requests per minute may be enforced as 1,000
    per second"), both full at the start. A request costing more than one second's share fits a
    full bucket and leaves it in debt. A request the buckets cannot admit now gets the format's
    429 (``limit="requests"`` or ``"tokens"``) with ``retry-after-ms`` (the exact wait) and is
    not charged; an admitted request is charged its tokens (``mock_tokens`` of each text).
    ``billed`` counts how many times each text was in an admitted request: a text paid for
    twice shows as 2. This is the client's own model (``RateLimitPolicy``), so a client paced
    at the same limits draws no 429."""

    def __init__(self, *, requests_per_minute: float, tokens_per_minute: float, clock: Any = None) -> None:
        import threading
        import time

        self._now = clock or time.monotonic
        self._lock = threading.Lock()
        self.rpm = float(requests_per_minute)
        self.tpm = float(tokens_per_minute)
        self._tat_requests = self._tat_tokens = self._now()  # theoretical arrival times (GCRA): full at the start
        self.first_at: Optional[float] = None  # when the first request came (the clock's time)
        self.admitted = 0
        self.refused = 0
        self.tokens = 0
        self.billed: dict[str, int] = {}

    def __call__(self, index: int, rec: Any) -> Any:
        from ._faults import Fault

        texts = _request_texts(rec.json)
        cost = sum(map(mock_tokens, texts))
        with self._lock:
            now = self._now()
            if self.first_at is None:
                self.first_at = now
            step_requests, step_tokens = 60.0 / self.rpm, cost * 60.0 / self.tpm
            wait_requests = max(0.0, max(self._tat_requests, now) + min(step_requests, _SHARE) - _SHARE - now)
            wait_tokens = max(0.0, max(self._tat_tokens, now) + min(step_tokens, _SHARE) - _SHARE - now)
            if wait_requests > 0 or wait_tokens > 0:
                self.refused += 1
                wait = max(wait_requests, wait_tokens)
                limit = "tokens" if wait_tokens >= wait_requests else "requests"
                return Fault.rate_limited(wait, limit=limit, headers={"retry-after-ms": str(max(1, int(wait * 1000 + 1)))})
            self._tat_requests = max(self._tat_requests, now) + step_requests
            self._tat_tokens = max(self._tat_tokens, now) + step_tokens
            self.admitted += 1
            self.tokens += cost
            for text in texts:
                self.billed[text] = self.billed.get(text, 0) + 1
        return None

    def minimum_seconds(self, costs: Sequence[int]) -> float:
        """The least time from the first request to the admission of the last, for requests of
        ``costs`` tokens sent in this order each as soon as the token bucket allows."""
        rate = self.tpm / 60.0
        tat = at = 0.0
        for cost in costs:
            at = max(at, tat + min(cost / rate, _SHARE) - _SHARE)
            tat = max(tat, at) + cost / rate
        return at
