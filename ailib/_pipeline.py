"""One call's orchestration: plan → (hedge) → per target: limit, breaker, retry → attempt.

No I/O of its own: the transport sends, wire formats translate. Attempt records,
metrics and log lines are produced here and nowhere else.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import threading
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any, Callable, Optional

from ._endpoint import Endpoint, Target
from ._hedging import HedgeCancelledError, Hedger
from ._usage import PriceTable, UsageLedger
from .errors import (
    AiLibError,
    AllProvidersFailedError,
    CircuitOpenError,
    DeadlineExceededError,
    LocalRateLimitError,
    ProtocolError,
    RateLimitExceeded,
    StreamInterruptedError,
    TimeoutError,
)
from .providers._base import decode_body, error_from_response
from .reliability.circuit import is_breaker_failure
from .reliability.clock import SYSTEM_CLOCK, Clock
from .reliability.hedge import HedgePolicy
from .reliability.ratelimit import estimate_tokens
from .reliability.retry import RetryPolicy, RetryRun
from .state.memory import EndpointState
from .transport import AttemptHandle, Deadlines, HttpRequest, StreamResponse, Transport, redact_headers
from .types import Attempt, ChatCompletionRequest, ChatCompletionResponse, StreamChunk, ToolCall, Usage

__all__ = ["Pipeline", "ChatStream", "Router", "StaticRouter"]

log = logging.getLogger("ailib")
_INF = float("inf")
_NO_STATE = EndpointState()


class Router:
    """Turns a request into an ordered plan of targets."""

    multi_target = False  # a client with more than one target (routing counters apply)

    def plan(self, request: ChatCompletionRequest) -> list[Target]:
        raise NotImplementedError

    def endpoints(self) -> Sequence[Endpoint]:
        raise NotImplementedError


class StaticRouter(Router):
    """Always the same endpoints, in order (one endpoint: a single-target client)."""

    def __init__(self, endpoints: Sequence[Endpoint]) -> None:
        self._endpoints = tuple(endpoints)
        self.multi_target = len(self._endpoints) > 1

    def plan(self, request: ChatCompletionRequest) -> list[Target]:
        model = request.model
        return [Target(ep, ep.resolve_model(model)) for ep in self._endpoints]

    def endpoints(self) -> Sequence[Endpoint]:
        return self._endpoints


class _Call:
    """The state of one call (or of one hedge branch of it): deadline, attempts, bodies,
    and the handle of the attempt in flight, so the call can be cancelled."""

    __slots__ = (
        "request", "deadline", "attempts", "errors", "_bodies", "_idempotency_key", "hedge", "cancelled",
        "cancel_reason", "handle", "in_attempt", "attempt_start", "on_failure", "lock", "frozen", "cancel_event",
    )  # fmt: skip

    def __init__(self, request: ChatCompletionRequest, deadline: float, *, bodies: Optional[dict] = None, hedge: bool = False) -> None:
        self.request = request
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
        self.on_failure: Optional[Callable[[AiLibError], None]] = None
        self.lock: Optional[threading.Lock] = None  # set on hedge branches only
        self.frozen = False
        self.cancel_event: Optional[threading.Event] = None

    def fork(self, hedge: bool) -> _Call:
        """A branch of this call for hedging: same request, deadline and encoded bodies."""
        branch = _Call(self.request, self.deadline, bodies=self._bodies, hedge=hedge)
        branch.lock = threading.Lock()
        branch.cancel_event = threading.Event()
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
        """Cancel the attempt in flight (its socket is shut down) and any later one."""
        self.cancel_reason = reason
        self.cancelled = True
        handle = self.handle
        if handle is not None:
            handle.cancel(reason)
        if self.cancel_event is not None:
            self.cancel_event.set()

    def record(self, attempt: Attempt) -> None:
        lock = self.lock
        if lock is None:
            self.attempts.append(attempt)
            self.in_attempt = False
            return
        with lock:
            if not self.frozen:
                self.attempts.append(attempt)
            self.in_attempt = False

    def freeze(self) -> tuple[list, bool]:
        """Stop recording (a finished branch); return its attempts and whether one is in flight."""
        assert self.lock is not None
        with self.lock:
            self.frozen = True
            return list(self.attempts), self.in_attempt

    def idempotency_key(self) -> str:
        """One key per call, the same on every retry of it."""
        if self._idempotency_key is None:
            self._idempotency_key = uuid.uuid4().hex
        return self._idempotency_key

    def body(self, target: Target, stream: bool) -> bytes:
        ep = target.endpoint
        key = (ep.wire.name, target.model, stream)
        body = self._bodies.get(key)
        if body is None:
            data = ep.wire.encode(self.request, target.model, stream=stream, spec=ep.spec)
            body = json.dumps(data, separators=(",", ":")).encode()
            self._bodies[key] = body
        return body


class _Answer:
    """A decoded answer and the headers it came with (the rate limiter reads them)."""

    __slots__ = ("response", "headers")

    def __init__(self, response: ChatCompletionResponse, headers: Mapping[str, str]) -> None:
        self.response = response
        self.headers = headers


class _Primed:
    """A stream that reached its commit point: the first content chunk (or its end) is in hand."""

    __slots__ = ("resp", "events", "decoder", "chunks", "target")

    def __init__(self, resp: StreamResponse, events: Any, decoder: Any, chunks: list[StreamChunk], target: Target) -> None:
        self.resp = resp
        self.events = events
        self.decoder = decoder
        self.chunks = chunks
        self.target = target


class Pipeline:
    """Runs calls through routing, retry and the transport; records every attempt."""

    def __init__(
        self,
        *,
        router: Router,
        transport: Transport,
        retry: RetryPolicy,
        clock: Clock,
        metrics: Any,
        deadline: Optional[float] = None,
        states: Optional[Mapping[str, EndpointState]] = None,
        hedge: Optional[HedgePolicy] = None,
        hedge_workers: int = 32,
        prices: Optional[PriceTable] = None,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.prices = prices
        self.ledger = UsageLedger()
        self.router = router
        self.transport = transport
        self.retry = retry
        self.clock = clock
        self.metrics = metrics
        self.deadline = deadline
        self._states: Mapping[str, EndpointState] = states or {}
        self._rng = rng
        self._observer = router if getattr(router, "observes", False) else None
        self._hedger = Hedger(self, hedge, max_workers=hedge_workers) if hedge is not None else None

    def hedge_budget(self, ep: Endpoint) -> Any:
        state = self._states.get(ep.name)
        return state.hedge_budget if state is not None else None

    def account_stream(self, stream: ChatStream) -> None:
        """A finished stream's usage and cost join the client's totals."""
        if self.prices is not None:
            stream.cost = self.prices.cost(stream.provider, stream.model, stream.usage)
        self.ledger.add(stream.provider, stream.model, stream.usage, stream.cost)

    def discard(self, result: Any) -> None:
        """Release a result nobody will read (a hedge that lost the race)."""
        if isinstance(result, _Primed):
            result.resp.close()

    def close(self) -> None:
        if self._hedger is not None:
            self._hedger.close()

    # -- entry points --------------------------------------------------------------------------
    def run(self, request: ChatCompletionRequest, *, deadline: Optional[float] = None) -> ChatCompletionResponse:
        call = _Call(request, self._call_deadline(deadline))
        answer: _Answer = self._execute(call, stream=False)
        resp = answer.response
        cost = self.prices.cost(resp.provider, resp.model, resp.usage) if self.prices is not None else None
        self.ledger.add(resp.provider, resp.model, resp.usage, cost)
        return _with_attempts(resp, call.attempts, cost)

    def stream(self, request: ChatCompletionRequest, *, deadline: Optional[float] = None) -> ChatStream:
        call = _Call(request, self._call_deadline(deadline))
        primed: _Primed = self._execute(call, stream=True)
        return ChatStream(primed, call, self)

    def _call_deadline(self, seconds: Optional[float]) -> float:
        seconds = seconds if seconds is not None else self.deadline
        return _INF if seconds is None else self.clock.monotonic() + seconds

    # -- plan and failover --------------------------------------------------------------------
    def _execute(self, call: _Call, *, stream: bool) -> Any:
        router = self.router
        plan = router.plan(call.request)
        multi = len(plan) > 1
        counted = router.multi_target
        metrics = self.metrics
        if counted:
            metrics.incr_counter("routing_mvp.request")
        last: Optional[AiLibError] = None
        rest = plan
        if self._hedger is not None:
            n = 0
            while n < len(plan) and plan[n].condition is None:
                n += 1
            rest = plan[n:]
            try:
                return self._hedger.run(call, plan[:n], stream)
            except AiLibError as err:
                last = err
                if isinstance(err, DeadlineExceededError):
                    raise self._final_error(call, err, multi) from None
        for target in rest:
            if last is not None:
                if target.condition is not None:  # a FallbackChain step: only for errors it matches
                    if not target.condition(last):
                        continue
                    metrics.incr_counter("fallback.step", tags={"step": target.label, "provider": target.endpoint.provider})
                    log.info("fallback step %s -> %s/%s after %s", target.label, target.endpoint.provider, target.model, _short(last))
                elif not _moves_on(last):
                    continue  # plain failover does not apply; a later matching step still may
            if self.clock.monotonic() >= call.deadline:
                last = DeadlineExceededError("the call's deadline ran out before the next target", provider=target.endpoint.provider)
                call.errors.append(last)
                break
            if counted:
                metrics.incr_counter("routing_mvp.selected", tags={"provider": target.endpoint.provider})
            try:
                return self._run_target(call, target, stream)
            except AiLibError as err:
                call.errors.append(err)
                last = err
                if isinstance(err, DeadlineExceededError):
                    break
        assert last is not None
        raise self._final_error(call, last, multi)

    def _final_error(self, call: _Call, last: AiLibError, multi: bool) -> AiLibError:
        """A single target's own error; a chain that stopped early on a non-retryable
        error, that error; a chain where every target tried failed, AllProvidersFailedError."""
        attempts = tuple(call.attempts)
        if isinstance(last, DeadlineExceededError) or not multi or not _moves_on(last) or len(call.errors) < 2:
            last.attempts = attempts
            return last
        names = ", ".join(f"{e.provider}: {type(e).__name__}" for e in call.errors)
        return AllProvidersFailedError(
            f"all {len(call.errors)} targets failed ({names})", errors=call.errors, attempts=attempts, status_code=last.status_code
        )

    # -- one target: retries around attempts ----------------------------------------------------
    def _run_target(self, call: _Call, target: Target, stream: bool) -> Any:
        ep = target.endpoint
        ep.wire.check_supported(call.request, ep.spec, stream=stream)
        state = self._states.get(ep.name, _NO_STATE)
        budget = state.retry_budget
        if budget is not None:
            budget.record_call()
        tags = {"provider": ep.provider}
        metrics = self.metrics

        def on_retry(error: AiLibError, wait: float) -> None:
            metrics.incr_counter("retry.attempt", tags=tags)
            if call.attempts:
                call.attempts[-1] = _evolve_attempt(call.attempts[-1], wait)
            if log.isEnabledFor(logging.DEBUG):  # the failure itself was logged at INFO
                log.debug("retrying %s/%s in %.3fs after %s", ep.provider, target.model, wait, _short(error))

        def on_stop(reason: str, error: AiLibError) -> None:
            if reason == "exhausted":
                metrics.incr_counter("retry.exhausted", tags=tags)
            elif reason == "budget_exhausted":
                metrics.incr_counter("retry.budget_exhausted", tags=tags)
            if log.isEnabledFor(logging.DEBUG):
                log.debug("not retrying %s/%s (%s) after %s", ep.provider, target.model, reason, _short(error))

        sleep = self.clock.sleep
        if call.cancel_event is not None and self.clock is SYSTEM_CLOCK:
            sleep = call.cancel_event.wait  # a cancelled hedge branch wakes from its backoff at once
        run = RetryRun(
            self.retry, clock=self.clock, deadline=call.deadline, budget=budget, rng=self._rng, on_stop=on_stop, on_retry=on_retry, sleep=sleep
        )
        attempt = self._attempt_stream if stream else self._attempt
        return run.call(lambda: self._guarded(call, target, state, attempt, stream))

    def _guarded(self, call: _Call, target: Target, state: EndpointState, attempt: Callable[..., Any], stream: bool) -> Any:
        """One attempt behind the endpoint's rate limiter and circuit breaker."""
        limiter, breaker = state.limiter, state.breaker
        observer = self._observer
        if limiter is None and breaker is None and observer is None:
            return attempt(call, target)
        ep = target.endpoint
        tokens = 0
        if limiter is not None:
            if limiter.policy.tokens_per_minute:
                tokens = estimate_tokens(len(call.body(target, stream)), call.request.max_tokens)
            max_wait = min(limiter.policy.max_wait, max(0.0, call.deadline - self.clock.monotonic()))
            try:
                waited = limiter.acquire(tokens, max_wait=max_wait)
            except LocalRateLimitError as err:
                self.metrics.incr_counter("ratelimit.rejected", tags={"provider": ep.provider})
                self._record_skip(call, target, err)
                raise
            if waited > 0:
                self.metrics.incr_counter("ratelimit.waited", tags={"provider": ep.provider})
                self.metrics.observe("ratelimit.waited", waited, tags={"provider": ep.provider})
        permit = None
        if breaker is not None:
            try:
                permit = breaker.acquire(probe_timeout=ep.total_timeout)
            except CircuitOpenError as err:
                self.metrics.incr_counter("circuit.rejected", tags={"provider": ep.provider})
                self._record_skip(call, target, err)
                raise
        if observer is not None:
            observer.on_start(ep)
            started = self.clock.monotonic()
        try:
            result = attempt(call, target)
        except AiLibError as err:
            if observer is not None:
                observer.on_end(ep, self.clock.monotonic() - started, False)
            if breaker is not None:
                if is_breaker_failure(err):
                    breaker.record_failure(permit)
                else:
                    breaker.release(permit)
            if limiter is not None and isinstance(err, RateLimitExceeded):
                limiter.on_rate_limited(err.retry_after)
            raise
        except BaseException:
            if observer is not None:
                observer.on_end(ep, self.clock.monotonic() - started, False)
            if breaker is not None:
                breaker.release(permit)
            raise
        if observer is not None:
            observer.on_end(ep, self.clock.monotonic() - started, True)
        if breaker is not None:
            breaker.record_success(permit)
        if limiter is not None:
            limiter.on_success()
            headers = result.resp.headers if isinstance(result, _Primed) else result.headers
            if headers is not None:
                limiter.observe_headers(headers)
            usage = None if isinstance(result, _Primed) else result.response.usage
            if tokens and usage is not None:
                limiter.reconcile(tokens, usage.total_tokens)
        return result

    def _record_skip(self, call: _Call, target: Target, err: AiLibError) -> None:
        ep = target.endpoint
        err.provider = err.provider or ep.provider
        err.model = err.model or target.model
        call.record(Attempt(ep.provider, target.model, self.clock.time(), 0.0, "skipped", err, call.hedge, ep.name))

    # -- one wire attempt -----------------------------------------------------------------------
    def _deadlines(self, ep: Endpoint, start: float, call: _Call) -> Deadlines:
        return Deadlines(ep.connect_timeout, ep.first_byte_timeout, ep.idle_timeout, start + ep.total_timeout, call.deadline)

    def _request(self, call: _Call, target: Target, stream: bool) -> HttpRequest:
        ep = target.endpoint
        headers = ep.stream_headers if stream else ep.headers
        if ep.spec.idempotency_header:
            headers = {**headers, ep.spec.idempotency_header: call.idempotency_key()}
        req = HttpRequest("POST", ep.chat_url(target.model, stream), headers, call.body(target, stream), ep.verify, ep.proxy)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("POST %s headers=%s body=%d bytes", req.url, redact_headers(req.headers), len(req.body or b""))
        return req

    def _attempt(self, call: _Call, target: Target) -> _Answer:
        clock = self.clock
        ep = target.endpoint
        started_at = clock.time()
        start = clock.monotonic()
        handle = call.new_handle(start)
        try:
            req = self._request(call, target, False)
            resp = self.transport.send(req, self._deadlines(ep, start, call), handle)
            result = decode_body(ep.wire, resp.status, resp.headers, resp.body, provider=ep.provider, model=target.model, now=started_at)
        except AiLibError as err:
            self._record_failure(call, target, err, started_at, start)
            raise
        self._record_success(call, target, started_at, start)
        return _Answer(result, resp.headers)

    def _attempt_stream(self, call: _Call, target: Target) -> _Primed:
        clock = self.clock
        ep = target.endpoint
        started_at = clock.time()
        start = clock.monotonic()
        handle = call.new_handle(start)
        resp: Optional[StreamResponse] = None
        try:
            req = self._request(call, target, True)
            resp = self.transport.open_stream(req, self._deadlines(ep, start, call), handle)
            if not 200 <= resp.status < 300:
                body = resp.read_all()
                raise error_from_response(ep.wire, resp.status, resp.headers, body, provider=ep.provider, model=target.model, now=started_at)
            ctype = resp.headers.get("content-type", "")
            if "event-stream" not in ctype.lower():
                body = resp.read_all()
                raise ProtocolError(
                    f"expected an event stream, got content type {ctype or 'none'!r}", provider=ep.provider, model=target.model
                )
            decoder = ep.wire.stream_decoder(provider=ep.provider, model=target.model)
            events = resp.events()
            chunks: list[StreamChunk] = []
            for event in events:  # up to the commit point: the first content chunk, or the end
                chunks.extend(decoder.feed(event))
                if decoder.done or any(c.has_content for c in chunks):
                    break
            else:
                decoder.finish()
        except AiLibError as err:
            if resp is not None:
                resp.close()
            err.provider = err.provider or ep.provider
            self._record_failure(call, target, err, started_at, start)
            raise
        self._record_success(call, target, started_at, start)
        return _Primed(resp, events, decoder, chunks, target)

    def _record_success(self, call: _Call, target: Target, started_at: float, start: float) -> None:
        ep = target.endpoint
        elapsed = self.clock.monotonic() - start
        call.record(Attempt(ep.provider, target.model, started_at, elapsed, "ok", hedge=call.hedge, endpoint=ep.name))
        self.metrics.observe("attempt.latency", elapsed, tags={"provider": ep.provider, "model": target.model, "outcome": "ok"})
        if self._hedger is not None:
            self._hedger.window(ep.name).add(elapsed)

    def _record_failure(self, call: _Call, target: Target, err: AiLibError, started_at: float, start: float) -> None:
        ep = target.endpoint
        if err.provider is None:
            err.provider = ep.provider
        if err.model is None:
            err.model = target.model
        cancelled = isinstance(err, HedgeCancelledError)
        outcome = "cancelled" if cancelled else "error"
        hedge = call.hedge or cancelled  # a race's loser is recorded as a hedge attempt, with no error
        error = None if cancelled else err
        elapsed = self.clock.monotonic() - start
        call.record(Attempt(ep.provider, target.model, started_at, elapsed, outcome, error, hedge, ep.name))
        if cancelled:
            return
        self.metrics.observe("attempt.latency", elapsed, tags={"provider": ep.provider, "model": target.model, "outcome": "error"})
        if log.isEnabledFor(logging.INFO):
            log.info("attempt %d to %s/%s failed: %s", len(call.attempts), ep.provider, target.model, _short(err))
        if call.on_failure is not None:
            call.on_failure(err)


def _moves_on(err: AiLibError) -> bool:
    """Whether failover proceeds to the next target after ``err``."""
    if isinstance(err, DeadlineExceededError):
        return False
    return err.is_retryable() or isinstance(err, (CircuitOpenError, LocalRateLimitError, TimeoutError))


def _short(err: AiLibError) -> str:
    return f"{type(err).__name__}: {err}"


def _evolve_attempt(a: Attempt, wait: float) -> Attempt:
    return Attempt(a.provider, a.model, a.started_at, a.elapsed, a.outcome, a.error, a.hedge, a.endpoint, wait)


def _with_attempts(resp: ChatCompletionResponse, attempts: list[Attempt], cost: Optional[float]) -> ChatCompletionResponse:
    return ChatCompletionResponse(resp.id, resp.model, resp.provider, resp.choices, resp.usage, tuple(attempts), resp.raw, cost)


class ChatStream:
    """An iterator of ``StreamChunk`` and a context manager; leaving early closes the connection.

    Failures after the first content chunk raise ``StreamInterruptedError`` with the text
    delivered so far; a stream never ends short silently. After the end: ``text``,
    ``tool_calls``, ``usage``, ``finish_reason``, ``attempts``.
    """

    def __init__(self, primed: _Primed, call: _Call, pipeline: Pipeline) -> None:
        self._resp = primed.resp
        self._events = primed.events
        self._decoder = primed.decoder
        self._pending: deque[StreamChunk] = deque(primed.chunks)
        self._call = call
        self._pipeline = pipeline
        self.cost: Optional[float] = None
        self.provider = primed.target.endpoint.provider
        self.model = primed.target.model
        self._parts: list[str] = []
        self.tool_calls: tuple[ToolCall, ...] = ()
        self.usage: Optional[Usage] = None
        self.finish_reason: Optional[str] = None
        self.finished = False
        self._closed = False

    @property
    def attempts(self) -> tuple[Attempt, ...]:
        return tuple(self._call.attempts)

    @property
    def text(self) -> str:
        """The text delivered so far."""
        return "".join(self._parts)

    def __iter__(self) -> ChatStream:
        return self

    def __next__(self) -> StreamChunk:
        if self._pending:
            return self._deliver(self._pending.popleft())
        if self._closed:
            raise StopIteration
        while True:
            try:
                event = next(self._events)
            except StopIteration:
                try:
                    self._decoder.finish()
                except AiLibError as err:
                    raise self._interrupted(err) from err
                self.finished = True
                self.close()
                self._pipeline.account_stream(self)
                raise
            except AiLibError as err:
                raise self._interrupted(err) from err
            try:
                chunks = self._decoder.feed(event)
            except AiLibError as err:
                raise self._interrupted(err) from err
            if chunks:
                self._pending.extend(chunks[1:])
                return self._deliver(chunks[0])

    def _deliver(self, chunk: StreamChunk) -> StreamChunk:
        if chunk.delta_text:
            self._parts.append(chunk.delta_text)
        if chunk.tool_calls:
            self.tool_calls = chunk.tool_calls
        if chunk.usage is not None:
            self.usage = chunk.usage
        if chunk.finish_reason is not None:
            self.finish_reason = chunk.finish_reason
        return chunk

    def _interrupted(self, cause: AiLibError) -> StreamInterruptedError:
        self.close()
        attempts = self._call.attempts
        if attempts and attempts[-1].outcome == "ok":
            a = attempts[-1]
            attempts[-1] = Attempt(a.provider, a.model, a.started_at, a.elapsed, "error", cause, a.hedge, a.endpoint)
        partial = self.text
        return StreamInterruptedError(
            f"stream interrupted after {len(partial)} characters: {type(cause).__name__}: {cause.message}",
            partial_text=partial,
            cause=cause,
            provider=self.provider,
            model=self.model,
            attempts=attempts,
        )

    def collect(self) -> ChatCompletionResponse:
        """Read the rest of the stream and return it as one response."""
        from .types import Choice, Message, Role

        for _ in self:
            pass
        message = Message(Role.ASSISTANT, self.text or None, tool_calls=self.tool_calls or None)
        return ChatCompletionResponse("", self.model, self.provider, (Choice(0, message, self.finish_reason),), self.usage, self.attempts, cost=self.cost)

    def close(self) -> None:
        """Stop reading; an unfinished stream's connection is closed, not reused."""
        if not self._closed:
            self._closed = True
            self._resp.close()

    def __enter__(self) -> ChatStream:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # never raise from a finalizer
            self.close()
