"""What a call asks (``CallSpec``, made once and never changed), and what an attempt hands
back (``Answer``, ``Primed``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, NamedTuple, Optional

from .._trace_api import CallTrace
from ..routing.endpoint import Target
from ..types import StreamChunk, Usage

__all__ = ["CallSpec", "Answer", "Primed"]

_encode_json = json.JSONEncoder(separators=(",", ":")).encode  # json.dumps(.., separators=..) builds an encoder per call
_KEY = "idempotency"  # the memo's entry for the call's idempotency key


class CallSpec(NamedTuple):
    """One call, described once by the pipeline and read by every layer below it: the
    request (None for a models listing), the monotonic deadline (``inf``: none) and the
    call's span. ``memo`` caches what is derived from them (each encoded body, the
    idempotency key): pure functions of the spec, shared by every branch of the call,
    each entry set once with ``setdefault`` so concurrent branches agree on it."""

    request: Any
    deadline: float
    trace: CallTrace
    memo: dict[Any, Any]

    def traced(self, trace: CallTrace) -> CallSpec:
        """The same call with its span (``call/extras.py`` starts it)."""
        return CallSpec(self.request, self.deadline, trace, self.memo)

    def idempotency_key(self) -> str:
        """One key per call, the same on every retry and branch of it."""
        key: Optional[str] = self.memo.get(_KEY)
        if key is None:
            import uuid  # first use only: most calls never need a key

            key = self.memo.setdefault(_KEY, uuid.uuid4().hex)
        return key

    def body(self, target: Target, stream: bool) -> bytes:
        """The request body for ``target``, encoded once per wire format, model and mode."""
        ep = target.endpoint
        key = (ep.wire.name, target.model, stream)
        body: Optional[bytes] = self.memo.get(key)
        if body is None:
            data = ep.wire.encode(self.request, target.model, stream=stream, spec=ep.spec)
            body = self.memo.setdefault(key, _encode_json(data).encode())
        return body


class Answer:
    """A decoded answer (a response, or a models list), the headers it came with (the
    rate limiter reads them) and its usage (the token limiter reconciles with it)."""

    __slots__ = ("value", "headers", "usage")

    def __init__(self, value: Any, headers: Mapping[str, str], usage: Optional[Usage] = None) -> None:
        self.value = value
        self.headers = headers
        self.usage = usage

    def close(self) -> None:
        """Nothing to release (a stream's ``Primed`` closes its connection)."""


class Primed:
    """A stream that reached its commit point: the first content chunk (or its end) is in hand."""

    __slots__ = ("resp", "events", "decoder", "chunks", "target", "charged")

    def __init__(self, resp: Any, events: Any, decoder: Any, chunks: list[StreamChunk], target: Target) -> None:
        self.resp = resp
        self.events = events
        self.decoder = decoder
        self.chunks = chunks
        self.target = target
        self.charged: Optional[float] = None  # USD charged to a spend budget at the commit point (its estimate)

    @property
    def headers(self) -> Mapping[str, str]:
        headers: Mapping[str, str] = self.resp.headers
        return headers

    usage = None  # a stream's usage arrives with its last chunk

    def close(self) -> None:
        self.resp.close()
