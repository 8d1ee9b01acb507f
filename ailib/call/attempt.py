"""One wire attempt: encode, send through the transport, decode, record.

Every attempt record (``Attempt``), its latency observation and its log line are made
here, and nowhere else: into the branch's own ``AttemptLog``. An attempt's outcome goes
back up as its return value or its raised error, never through a callback.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Callable, Optional

from .._secrets import redact_url
from .._trace_api import NOOP_ATTEMPT
from ..clock import Clock
from ..errors import AiLibError, ProtocolError
from ..metrics import NoopMetrics
from ..providers._base import decode_body, error_from_response
from ..routing.endpoint import Endpoint, Target
from ..transport import AttemptHandle, Deadlines, HttpRequest, redact_headers
from ..types import Attempt, StreamChunk
from .branch import Branch
from .hooks import Hooks
from .rules import HedgeCancelledError, short
from .spec import Answer, CallSpec, Primed
from .tags import labels, log_extra, tag_filter

__all__ = ["Wire"]

log = logging.getLogger("ailib")

# What an attempt exchanges over the wire: (spec, target, handle, deadlines, started_at) -> its result.
Exchange = Callable[[CallSpec, Target, AttemptHandle, Deadlines, float], Any]


class Wire:
    """Sends one attempt of a call to one target over ``transport`` (one ``send`` method)."""

    def __init__(self, transport: Any, clock: Clock, metrics: Any, on_latency: Optional[Callable[[str, float], None]] = None) -> None:
        self.transport = transport
        self.clock = clock
        self.metrics = metrics
        self.observing = not isinstance(metrics, NoopMetrics)
        self.on_latency = on_latency  # (endpoint name, seconds) of each successful attempt
        self.timeout: Optional[float] = None  # a per-call view's total seconds per attempt
        self.hooks: Optional[Hooks] = None  # the client's per-call hooks (before/after each attempt)
        self.tag_filter = tag_filter(metrics)  # the request tags the metrics backend takes

    def with_timeout(self, seconds: float) -> Wire:
        """A copy whose attempts each get ``seconds`` in total (``AiClient.with_options``)."""
        wire = Wire.__new__(Wire)
        wire.__dict__.update(self.__dict__)
        wire.timeout = seconds
        return wire

    # -- requests --------------------------------------------------------------------------
    def _deadlines(self, ep: Endpoint, start: float, deadline: float) -> Deadlines:
        total = self.timeout
        if total is None:
            return Deadlines(ep.connect_timeout, ep.first_byte_timeout, ep.idle_timeout, start + ep.total_timeout, deadline)
        opts = ep.options
        first_byte = total if opts.first_byte_timeout is None else min(opts.first_byte_timeout, total)
        return Deadlines(min(ep.connect_timeout, total), first_byte, min(ep.idle_timeout, total), start + total, deadline)

    def _chat_request(self, spec: CallSpec, target: Target, stream: bool) -> HttpRequest:
        ep = target.endpoint
        headers = ep.stream_headers if stream else ep.headers
        if ep.spec.idempotency_header:
            headers = {**headers, ep.spec.idempotency_header: spec.idempotency_key()}
        req = HttpRequest("POST", ep.chat_url(target.model, stream), headers, spec.body(target, stream), ep.verify, ep.proxy, stream=stream)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("POST %s headers=%s body=%d bytes", redact_url(req.url), redact_headers(req.headers), len(req.body or b""))
        return req

    # -- attempts --------------------------------------------------------------------------
    def chat(self, branch: Branch, target: Target) -> Answer:
        """One non-streamed chat attempt: the decoded response, or a classified error."""
        answer: Answer = self._attempt(branch, target, self._chat, True)
        return answer

    def stream(self, branch: Branch, target: Target) -> Primed:
        """One streamed attempt, read up to its commit point (the first content chunk)."""
        primed: Primed = self._attempt(branch, target, self._stream, True)
        return primed

    def embed(self, branch: Branch, target: Target) -> Answer:
        """One embeddings attempt: an ``EmbedPart`` (vectors, model, usage), or a classified error."""
        answer: Answer = self._attempt(branch, target, self._embed, True)
        return answer

    def models(self, branch: Branch, target: Target) -> Answer:
        """One models-listing attempt (``GET`` the format's models URL): model ids."""
        answer: Answer = self._attempt(branch, target, self._models, False)
        return answer

    def _attempt(self, branch: Branch, target: Target, exchange: Exchange, traced: bool) -> Any:
        """The scaffolding of every attempt: its handle, its span (``traced``), the exchange
        itself, and its record (``Attempt``, latency, log line). Raises the attempt's error."""
        clock = self.clock
        ep = target.endpoint
        started_at = clock.time()
        start = clock.monotonic()
        handle = branch.token.begin(branch.log, start)  # Branch.begin, inlined
        span = branch.spec.trace.attempt(ep.provider, target.model, hedge=branch.hedge, endpoint=ep.name) if traced else NOOP_ATTEMPT
        hooks = self.hooks if traced else None
        if hooks is not None:
            hooks.call("before_attempt", branch.spec.request, ep.provider, target.model)
        try:
            result = exchange(branch.spec, target, handle, self._deadlines(ep, start, branch.spec.deadline), started_at)
        except AiLibError as err:
            span.end("cancelled" if isinstance(err, HedgeCancelledError) else "error", err)
            self._record_failure(branch, target, err, started_at, start)
            raise
        except BaseException:
            span.end("error")
            raise
        span.end()
        self._record_success(branch, target, started_at, start)
        return result

    def _chat(self, spec: CallSpec, target: Target, handle: AttemptHandle, deadlines: Deadlines, started_at: float) -> Answer:
        ep = target.endpoint
        resp = self.transport.send(self._chat_request(spec, target, False), deadlines, handle)
        result = decode_body(ep.wire, resp.status, resp.headers, resp.body, provider=ep.provider, model=target.model, now=started_at)
        return Answer(result, resp.headers, result.usage)

    def _stream(self, spec: CallSpec, target: Target, handle: AttemptHandle, deadlines: Deadlines, started_at: float) -> Primed:
        ep = target.endpoint
        resp: Any = None
        try:
            resp = self.transport.send(self._chat_request(spec, target, True), deadlines, handle)
            if not 200 <= resp.status < 300:
                body = resp.read_all()
                raise error_from_response(
                    ep.wire, resp.status, resp.headers, body, provider=ep.provider, model=target.model, now=started_at
                )
            ctype = resp.headers.get("content-type", "")
            if "event-stream" not in ctype.lower():
                resp.read_all()
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
        except AiLibError:
            if resp is not None:
                resp.close()
            raise
        return Primed(resp, events, decoder, chunks, target)

    def _models(self, spec: CallSpec, target: Target, handle: AttemptHandle, deadlines: Deadlines, started_at: float) -> Answer:
        ep = target.endpoint
        resp = self.transport.send(HttpRequest("GET", ep.models_url(), ep.headers, None, ep.verify, ep.proxy), deadlines, handle)
        if not 200 <= resp.status < 300:
            raise error_from_response(
                ep.wire, resp.status, resp.headers, resp.body, provider=ep.provider, model=target.model, now=started_at
            )
        try:
            ids = ep.wire.decode_models(json.loads(resp.body))
        except (ValueError, KeyError, TypeError) as exc:
            raise ProtocolError(f"unexpected models list from {ep.provider}: {exc}", provider=ep.provider) from None
        return Answer(ids, resp.headers)

    def _embed(self, spec: CallSpec, target: Target, handle: AttemptHandle, deadlines: Deadlines, started_at: float) -> Answer:
        from ..providers._embed import decode_embedding, embed_format_for  # loaded by the first embedding

        ep = target.endpoint
        fmt = embed_format_for(ep.spec)
        key = ("embed", ep.name, target.model)
        body: Optional[bytes] = spec.memo.get(key)
        if body is None:
            data = fmt.encode(spec.request, spec.request.input, target.model)
            body = spec.memo.setdefault(key, json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode())
        url = ep.url(fmt.url(ep.base_url, target.model))
        resp = self.transport.send(HttpRequest("POST", url, ep.headers, body, ep.verify, ep.proxy), deadlines, handle)
        part = decode_embedding(fmt, ep, resp.status, resp.headers, resp.body, model=target.model, now=started_at)
        if len(part.vectors) != len(spec.request.input):
            raise ProtocolError(
                f"{ep.provider} answered {len(part.vectors)} vectors for {len(spec.request.input)} inputs",
                provider=ep.provider,
                model=target.model,
            )
        return Answer(part, resp.headers, part.usage)

    def probe(self, ep: Endpoint, check: Any) -> bool:
        """A health probe (no attempt record): ``GET`` the check's path; 2xx is healthy."""
        url = ep.models_url() if check.path == "/models" else ep.url(ep.base_url + check.path)
        start = self.clock.monotonic()
        dl = Deadlines(check.timeout, check.timeout, check.timeout, start + check.timeout)
        try:
            resp = self.transport.send(HttpRequest("GET", url, ep.headers, None, ep.verify, ep.proxy), dl, AttemptHandle())
        except AiLibError:
            return False
        status: int = resp.status
        return 200 <= status < 300

    # -- records ---------------------------------------------------------------------------
    def record_skip(self, branch: Branch, target: Target, err: AiLibError) -> None:
        """An attempt the guard refused (open circuit, no rate-limit permit): nothing sent."""
        ep = target.endpoint
        err.provider = err.provider or ep.provider
        err.model = err.model or target.model
        record = Attempt(ep.provider, target.model, self.clock.time(), 0.0, "skipped", err, branch.hedge, ep.name)
        branch.log.record(record)
        self._after(branch, record)

    def _after(self, branch: Branch, record: Attempt) -> None:
        """The ``after_attempt`` hook, for a chat attempt's record."""
        request = branch.spec.request
        if self.hooks is not None and request is not None:
            self.hooks.call("after_attempt", request, record)

    def _record_success(self, branch: Branch, target: Target, started_at: float, start: float) -> None:
        ep = target.endpoint
        elapsed = self.clock.monotonic() - start
        record = Attempt(ep.provider, target.model, started_at, elapsed, "ok", hedge=branch.hedge, endpoint=ep.name)
        branch.log.record(record)
        if self.observing:  # the default NoopMetrics records nothing: no tags built for it
            tags = labels(branch.spec.request, {"provider": ep.provider, "model": target.model, "outcome": "ok"}, self.tag_filter)
            self.metrics.observe("attempt.latency", elapsed, tags=tags)
            self.metrics.incr_counter("attempts", tags=tags)
        self._after(branch, record)
        if self.on_latency is not None:
            self.on_latency(ep.name, elapsed)

    def _record_failure(self, branch: Branch, target: Target, err: AiLibError, started_at: float, start: float) -> None:
        ep = target.endpoint
        cancelled = isinstance(err, HedgeCancelledError)  # shared and never raised: left as is
        if not cancelled:
            err.provider = err.provider or ep.provider
            err.model = err.model or target.model
        outcome = "cancelled" if cancelled else "error"
        hedge = branch.hedge or cancelled  # a race's loser is recorded as a hedge attempt, with no error
        elapsed = self.clock.monotonic() - start
        attempts = branch.log
        record = Attempt(ep.provider, target.model, started_at, elapsed, outcome, None if cancelled else err, hedge, ep.name)
        attempts.record(record)
        request = branch.spec.request
        if self.observing:
            tags = labels(request, {"provider": ep.provider, "model": target.model, "outcome": outcome}, self.tag_filter)
            self.metrics.incr_counter("attempts", tags=tags)
        self._after(branch, record)
        if cancelled:
            return
        if self.observing:
            tags = labels(request, {"provider": ep.provider, "model": target.model, "outcome": "error"}, self.tag_filter)
            self.metrics.observe("attempt.latency", elapsed, tags=tags)
        if log.isEnabledFor(logging.INFO):
            n = len(attempts.attempts)
            log.info("attempt %d to %s/%s failed: %s", n, ep.provider, target.model, short(err), extra=log_extra(request))
