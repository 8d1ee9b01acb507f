"""The optional layers around one call: the response cache and OpenTelemetry tracing.

``Pipeline.run``/``stream`` hand a call here only when a client has a cache or tracing
can be on (``opentelemetry`` is installed and ``with_tracing(False)`` was not called);
otherwise the call path is exactly as without them. Order: the call span starts (and is
current), the cache is asked, and only on a miss does the call go to the network; a
complete answer is then stored. Tracing itself is ``ailib/_tracing.py``; the cache,
``ailib/cache``.

With default settings, tracing starts once the application has imported OpenTelemetry
(which configuring an SDK does): until then a call imports neither ``opentelemetry`` nor
``ailib._tracing``, and a client without a cache skips this layer (``idle``: one
dictionary lookup).
"""

from __future__ import annotations

import importlib.util
import sys
from typing import TYPE_CHECKING, Any, Callable, Optional

import attrs

from .._trace_api import NOOP_CALL, CallTrace
from ..routing.endpoint import Endpoint
from ..types import ChatCompletionResponse
from .branch import AttemptLog
from .spec import CallSpec, Primed

if TYPE_CHECKING:
    from .stream import ChatStream

__all__ = ["CallExtras", "make_extras"]


def make_extras(cache: Any, tracing: Any, primary: Optional[Endpoint], priced: bool) -> Optional[CallExtras]:
    """The extras a client needs, or None when it has no cache and cannot trace.

    ``tracing``: None (the default: on once the application imports OpenTelemetry), or a
    ``Tracing`` from ``with_tracing``.
    """
    traced = (tracing is None or tracing.enabled) and importlib.util.find_spec("opentelemetry") is not None  # a lookup, not an import
    if cache is None and not traced:
        return None
    return CallExtras(cache, tracing if traced else False, primary, priced)


class CallExtras:
    def __init__(self, cache: Any, tracing: Any, primary: Optional[Endpoint], priced: bool) -> None:
        self.cache = cache  # a ResponseCache, or None
        self.tracing = tracing  # a Tracing; None: the default, made once OpenTelemetry is imported; False: off
        self.primary = primary  # the client's first endpoint: names the provider and model of keys and spans
        self.hit_cost = 0.0 if priced else None  # an answer from the cache costs nothing

    def idle(self) -> bool:
        """Whether a call now needs none of this: no cache, and no tracing (turned off, or on by
        default while the application has not imported OpenTelemetry)."""
        tracing = self.tracing
        return self.cache is None and (tracing is False or (tracing is None and "opentelemetry.trace" not in sys.modules))

    def _start(self, spec: CallSpec, stream: bool, provider: str, model: str) -> CallTrace:
        tracing = self.tracing
        if tracing is None:
            if "opentelemetry.trace" not in sys.modules:  # the application has not set up OpenTelemetry
                return NOOP_CALL
            from .._tracing import Tracing

            tracing = self.tracing = Tracing()
        elif tracing is False:
            return NOOP_CALL
        trace: CallTrace = tracing.start_call(spec.request, stream=stream, system=provider, model=model)
        return trace

    def trace_call(self, request: Any, provider: str, model: str) -> CallTrace:
        """A span for a call that is not a chat completion (an embedding; ``call/embed.py``)."""
        return self._start(CallSpec(request, 0.0, NOOP_CALL, {}), False, provider, model)

    def _names(self, spec: CallSpec) -> tuple[str, str]:
        ep, model = self.primary, spec.request.model
        return (ep.provider, ep.resolve_model(model)) if ep is not None else ("", model)

    def _lookup(self, spec: CallSpec, trace: CallTrace, provider: str, model: str, use: Optional[bool]) -> tuple[Optional[str], Any]:
        """The call's cache key (None when it is not cached) and the entry found under it, if any."""
        if self.cache is None:
            return None, None
        key = self.cache.key(spec.request, provider=provider, model=model, use=use)
        if key is None:
            return None, None
        hit = self.cache.lookup(key, provider=provider)
        trace.cached(hit is not None)
        return key, hit

    def run(self, spec: CallSpec, run: Callable[[CallSpec], ChatCompletionResponse], use: Optional[bool]) -> ChatCompletionResponse:
        provider, model = self._names(spec)
        trace = self._start(spec, False, provider, model)
        spec = spec.traced(trace)
        token = trace.activate()
        try:
            key, hit = self._lookup(spec, trace, provider, model, use)
            if hit is not None:
                resp: ChatCompletionResponse = attrs.evolve(hit.response, cost=self.hit_cost)
                trace.finish(resp)
                return resp
            resp = run(spec)
            if key is not None:
                self.cache.store_response(key, resp)
        except BaseException as err:
            trace.fail(err)
            raise
        finally:
            trace.deactivate(token)
        trace.finish(resp)
        return resp

    def stream(
        self,
        spec: CallSpec,
        open_stream: Callable[[CallSpec], tuple[Primed, AttemptLog]],
        account: Callable[[ChatStream], None],
        use: Optional[bool],
    ) -> ChatStream:
        from .stream import ChatStream  # loaded by the first stream

        provider, model = self._names(spec)
        trace = self._start(spec, True, provider, model)
        spec = spec.traced(trace)
        token = trace.activate()
        try:
            key, hit = self._lookup(spec, trace, provider, model, use)
            if hit is not None:
                replay = ChatStream(Primed(_Spent(), iter(()), _Spent(hit.response), hit.chunks(), _Where(hit.response)), AttemptLog())  # type: ignore[arg-type]  # a Target's two fields
                replay.cost = self.hit_cost
                replay.trace = trace  # its span ends when the replay ends or is closed
                return replay
            primed, log = open_stream(spec)
        except BaseException as err:
            trace.fail(err)
            raise
        finally:
            trace.deactivate(token)
        on_finish = account
        if key is not None:
            cache = self.cache

            def on_finish(s: ChatStream) -> None:  # only a stream that ended normally: never a partial one
                account(s)
                cache.store_stream(key, s._collected(), s._parts, s._reasoning, s._refusal or ())

        stream = ChatStream(primed, log, on_finish)
        stream.trace = trace
        return stream


class _Spent:
    """The connection and decoder of a replayed stream: nothing left to read or close. As the
    decoder, it names the cached answer's id and refusal details, as the original's did."""

    complete = False  # the replay ends when its (empty) events do

    def __init__(self, resp: Optional[ChatCompletionResponse] = None) -> None:
        self.response_id = resp.id if resp is not None else None
        self.refusal_details = resp.choices[0].refusal_details if resp is not None and resp.choices else None

    def close(self) -> None:
        pass

    def finish(self) -> None:
        pass

    def feed(self, event: Any) -> list[Any]:
        return []


class _Where:
    """A replay's target: the provider and model that gave the cached answer."""

    def __init__(self, resp: ChatCompletionResponse) -> None:
        self.endpoint = _Provider(resp.provider)
        self.model = resp.model


class _Provider:
    def __init__(self, provider: str) -> None:
        self.provider = provider
