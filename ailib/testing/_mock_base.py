"""What a mock wire format provides to MockProvider (the server side of a format)."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Optional

from ._faults import Reply, ReplyCitation

# (HTTP status, the format's error body): how the real API refuses a request.
Refusal = tuple[int, dict[str, Any]]


def sse(data: Any, event: Optional[str] = None) -> bytes:
    """One SSE frame; ``data`` is JSON-encoded unless it is already a string."""
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)  # raw UTF-8, as providers send
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {text}\n\n".encode()


class MockFormat:
    """Server side of one wire format: routes, answers, stream events, error bodies, validation."""

    name = "base"
    base_path = ""  # appended to http://127.0.0.1:PORT to form the client's base_url
    request_id_header = "x-request-id"  # the header the format's SDK reads its request id from

    def matches(self, method: str, path: str) -> bool:
        raise NotImplementedError

    def is_models(self, method: str, path: str) -> bool:
        return False

    def is_stream(self, path: str, body: Any) -> bool:
        return bool(isinstance(body, dict) and body.get("stream"))

    def model_of(self, path: str, body: Any) -> str:
        return str(body.get("model", "mock-model")) if isinstance(body, dict) else "mock-model"

    def validate(self, path: str, body: Any) -> Optional[Refusal]:
        """The refusal the real API gives this chat request body, or None if it is valid."""
        return None

    def success(self, reply: Reply, model: str, body: Any = None) -> dict[str, Any]:
        raise NotImplementedError

    def stream_events(self, reply: Reply, model: str, body: Any = None) -> tuple[list[bytes], list[bytes], list[bytes]]:
        """(opening events, content events, closing events incl. the terminal one)."""
        raise NotImplementedError

    def error_body(self, status: int, error_type: Optional[str], message: str) -> dict[str, Any]:
        raise NotImplementedError

    def error_event(self, error_type: str, message: str) -> Optional[bytes]:
        """The format's in-stream failure frame; None where the API has none (the mock cuts the connection)."""
        return None

    def not_found(self, method: str, path: str) -> tuple[int, dict[str, Any]]:
        """The status and body the real API answers for a path it does not serve."""
        return 404, self.error_body(404, None, f"Invalid URL ({method} {path.split('?', 1)[0]})")

    def other(self, method: str, path: str, body: Any) -> Optional[dict[str, Any]]:
        """A 200 JSON answer for a further endpoint the format serves (None: not one)."""
        return None

    def models(self) -> dict[str, Any]:
        return {}


def chunks_of(text: str, n: int = 3) -> list[str]:
    """Split text into about ``n`` pieces (at least one)."""
    if not text:
        return []
    step = max(1, -(-len(text) // n))
    return [text[i : i + step] for i in range(0, len(text), step)]


def int_below(body: dict[str, Any], key: str, minimum: int) -> bool:
    """True if ``body[key]`` is present and is not an integer >= ``minimum``."""
    value = body.get(key)
    return value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < minimum)


# A token as a BPE tokenizer cuts JSON: a word or number with its leading space, a run of
# spaces, or up to three punctuation characters (``{"``, ``":"``, ``"}``).
_TOKEN = re.compile(r" ?[A-Za-z]+| ?\d+|\s+|[^\sA-Za-z\d]{1,3}")


def token_pieces(text: str) -> list[str]:
    """``text`` cut as a model emits it, about one token a piece (tool-call arguments arrive so:
    ``{"`` ``city`` ``":"`` ``Paris`` ``"}``); the pieces join back to ``text``."""
    return _TOKEN.findall(text)


def cited_segments(reply: Reply) -> list[tuple[str, tuple[ReplyCitation, ...]]]:
    """The reply's text cut at its cited spans: ``(piece, the citations of that piece)`` in order
    (as Anthropic sends a cited answer: one text block per cited span, with plain blocks between)."""
    text = reply.text
    spans = sorted({(c.start, c.end) for c in reply.citations if c.end <= len(text)})
    cuts = sorted({0, len(text), *(i for span in spans for i in span)})
    return [(text[a:b], tuple(c for c in reply.citations if (c.start, c.end) == (a, b))) for a, b in zip(cuts, cuts[1:]) if a < b]


def mock_id(kind: str, text: str) -> str:
    """A stable mock identifier (search ids, encrypted indexes): ``kind`` and a hash of ``text``."""
    return f"{kind}{hashlib.sha256(text.encode()).hexdigest()[:24]}"
