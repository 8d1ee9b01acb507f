"""The state of one call (or of one hedge branch of it), and what an attempt hands back."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any, Callable, Optional

from .._trace_api import NOOP_CALL, CallTrace
from ..errors import AiLibError
from ..routing.endpoint import Target
from ..transport import AttemptHandle
from ..types import Attempt, StreamChunk, Usage

__all__ = ["CallState", "Answer", "Primed"]

_encode_json = json.JSONEncoder(separators=(",", ":")).encode  # json.dumps(.., separators=..) builds an encoder per call


class CallState:
    """One call's deadline, attempts, errors and encoded bodies, and the handle of the
    attempt in flight, so the call can be cancelled from another thread."""

    __slots__ = (
        "request", "deadline", "attempts", "errors", "_bodies", "_idempotency_key", "hedge", "cancelled",
        "cancel_reason", "handle", "in_attempt", "attempt_start", "on_failure", "lock", "frozen", "_cancel_event",
        "branch", "trace", "preadmitted", "race",
    )  # fmt: skip

    def __init__(
        self, request: Any, deadline: float, *, bodies: Optional[dict[tuple[str, str, bool], bytes]] = None, hedge: bool = False
    ) -> None:
        self.request = request  # a ChatCompletionRequest, or None for a models listing
        self.deadline = deadline
        self.attempts: list[Attempt] = []
        self.errors: list[AiLibError] = []
        self._bodies: dict[tuple[str, str, bool], bytes] = {} if bodies is None else bodies
        self._idempotency_key: Optional[str] = None
        self.hedge = hedge
        self.cancelled = False
        self.cancel_reason: Optional[AiLibError] = None
        self.handle: Optional[AttemptHandle] = None
        self.in_attempt = False
        self.attempt_start = 0.0
        self.on_failure: Optional[Callable[[CallState, AiLibError], None]] = None  # a failed attempt, told to its race
        self.lock: Optional[threading.Lock] = None  # set on hedge branches only
        self.frozen = False
        self._cancel_event: Optional[threading.Event] = None
        self.branch = False  # racing: another thread may cancel it (backoff sleeps wake up)
        self.preadmitted: Any = None  # the endpoint whose rate-limit permit routing already took
        self.trace: CallTrace = NOOP_CALL  # the call's span (ailib/_tracing.py); a no-op unless traced
        self.race: Any = None  # the hedged call's Race, once it needs one (call/hedge.py)

    def fork(self, hedge: bool) -> CallState:
        """A branch of this call for hedging (run on another thread): same request,
        deadline and encoded bodies; its own attempts, under its own lock."""
        branch = CallState(self.request, self.deadline, bodies=self._bodies, hedge=hedge)
        branch.branch = True
        branch.lock = threading.Lock()
        branch.trace = self.trace
        return branch

    def new_handle(self, start: float) -> AttemptHandle:
        handle = AttemptHandle()
        self.handle = handle
        self.attempt_start = start
        self.in_attempt = True
        if self.cancelled:
            handle.cancel(self.cancel_reason)
        return handle

    def cancel(self, reason: AiLibError) -> None:
        """Cancel the attempt in flight (its socket is shut down), any later one, and a
        retry backoff in progress (``sleep_unless_cancelled``)."""
        self.cancel_reason = reason
        self.cancelled = True  # before reading the event: see sleep_unless_cancelled
        handle = self.handle
        if handle is not None:
            handle.cancel(reason)
        event = self._cancel_event
        if event is not None:
            event.set()

    def sleep_unless_cancelled(self, seconds: float) -> None:
        """A backoff that a cancellation ends at once (real time only)."""
        event = self._cancel_event
        if event is None:
            event = threading.Event()
            self._cancel_event = event
        if not self.cancelled and seconds > 0:
            event.wait(seconds)

    def record(self, attempt: Attempt) -> None:
        lock = self.lock
        if lock is None:
            if not self.frozen:
                self.attempts.append(attempt)
            self.in_attempt = False
            return
        with lock:
            if not self.frozen:
                self.attempts.append(attempt)
            self.in_attempt = False

    def freeze(self) -> tuple[list[Attempt], bool]:
        """Stop recording (a finished branch); return its attempts and whether one is in flight."""
        assert self.lock is not None
        with self.lock:
            self.frozen = True
            return list(self.attempts), self.in_attempt

    def idempotency_key(self) -> str:
        """One key per call, the same on every retry of it."""
        if self._idempotency_key is None:
            import uuid  # first use only: most calls never need a key

            self._idempotency_key = uuid.uuid4().hex
        return self._idempotency_key

    def body(self, target: Target, stream: bool) -> bytes:
        """The request body for ``target``, encoded once per wire format, model and mode."""
        ep = target.endpoint
        key = (ep.wire.name, target.model, stream)
        body = self._bodies.get(key)
        if body is None:
            data = ep.wire.encode(self.request, target.model, stream=stream, spec=ep.spec)
            body = _encode_json(data).encode()
            self._bodies[key] = body
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

    __slots__ = ("resp", "events", "decoder", "chunks", "target")

    def __init__(self, resp: Any, events: Any, decoder: Any, chunks: list[StreamChunk], target: Target) -> None:
        self.resp = resp
        self.events = events
        self.decoder = decoder
        self.chunks = chunks
        self.target = target

    @property
    def headers(self) -> Mapping[str, str]:
        headers: Mapping[str, str] = self.resp.headers
        return headers

    usage = None  # a stream's usage arrives with its last chunk

    def close(self) -> None:
        self.resp.close()
