"""One call from plan to answer: the failover loop, retries per target, the final error.

``Pipeline.run`` / ``stream`` / ``list_models`` are the client's only way to the network.
A call asks the router for a plan (no I/O), races its first targets when hedging is on,
then walks the rest in order: plain failover moves on after errors that ``moves_on``
allows, a FallbackChain step only after an error its condition matches. Each target runs
under its retry policy (``RetryRun``); each attempt runs behind the guard (limiter,
breaker, observer) and goes to the wire (``Wire``). No I/O of its own.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Callable, Optional

from .._embedding import EmbeddingRequest, EmbeddingResponse
from .._trace_api import NOOP_CALL, CallTrace
from ..clock import SYSTEM_CLOCK, Clock
from ..errors import (
    AiLibError,
    BudgetExceededError,
    ContentFilteredError,
    ContextLengthExceededError,
    DeadlineExceededError,
    InvalidRequestError,
    LocalRateLimitError,
    QuotaExceededError,
    RateLimitExceeded,
)
from ..metrics import NoopMetrics
from ..reliability.retry import UNKNOWN_LATENCY, RetryPolicy, RetryRun
from ..routing.base import Router
from ..routing.context import ContextWindows, estimate_request_tokens
from ..routing.endpoint import Endpoint, Target
from ..state.memory import EndpointState
from ..types import ChatCompletionRequest, ChatCompletionResponse, Usage
from .attempt import Wire
from .branch import NO_CANCEL, AttemptLog, Branch
from .guard import Guard
from .hooks import Hooks
from .rules import closed_error, final_error, moves_on, release_frames, short, timeout_step
from .spec import CallSpec, Primed
from .tags import labels, log_extra, merge_tags
from .usage import PriceTable, UsageLedger, count_usage

if TYPE_CHECKING:  # imported on first use: only a hedged client loads hedging, only a stream ChatStream
    from ..reliability.hedge import HedgePolicy
    from ..reliability.spend import SpendBudget
    from .hedge import Hedger
    from .spend import Spender
    from .stream import ChatStream

__all__ = ["Pipeline"]

logger = logging.getLogger("ailib")
_INF = float("inf")
_KEEP: Any = object()


AttemptFn = Callable[[Branch, Target], Any]


def _timed(metrics: Any, attempt: AttemptFn, allowed: Optional[frozenset[str]]) -> AttemptFn:
    def timed(branch: Branch, target: Target) -> Any:
        with metrics.start_timer("attempt.duration", labels(branch.spec.request, {"provider": target.endpoint.provider}, allowed)):
            return attempt(branch, target)

    return timed


class _Life:
    """Whether the client is closed: one flag shared by a pipeline and its views."""

    __slots__ = ("closed",)

    def __init__(self) -> None:
        self.closed = False


_NO_STATE = EndpointState()


class Pipeline:
    """Runs calls through routing, hedging, retry, the guard and the transport."""

    def __init__(
        self,
        *,
        router: Router,
        transport: Any,
        retry: RetryPolicy,
        clock: Clock,
        metrics: Any,
        deadline: Optional[float] = None,
        states: Optional[Mapping[str, EndpointState]] = None,
        hedge: Optional[HedgePolicy] = None,
        hedge_workers: int = 32,
        prices: Optional[PriceTable] = None,
        extras: Any = None,
        rng: Callable[[], float] = random.random,
        context: Optional[ContextWindows] = None,
        budget: Optional[SpendBudget] = None,
        hooks: Optional[Hooks] = None,
        tags: Optional[Mapping[str, str]] = None,
    ) -> None:
        self.context = context  # the pre-call context check's windows, or None (off)
        self.prices = prices
        self.budget = budget
        self.tags = tags  # a view's default request tags (with_options(tags=...)); the request's own win
        self.extras = extras  # CallExtras (cache, tracing) or None
        self.ledger = UsageLedger()
        self.router = router
        self.transport = transport
        self.retry = retry
        self.clock = clock
        self.metrics = metrics
        self.deadline = deadline
        self.states: Mapping[str, EndpointState] = states or {}
        self._rng = rng
        self._life = _Life()  # shared with every view of this pipeline
        self._limited = any(state.limiter is not None or state.learn is not None for state in self.states.values())
        self._timers = not isinstance(metrics, NoopMetrics)  # request.duration, attempt.duration
        self.wire = Wire(transport, clock, metrics)
        self.tag_filter = self.wire.tag_filter
        self.hooks = hooks if hooks is not None and hooks.any else None
        self.wire.hooks = self.hooks
        self.spender: Optional[Spender] = None
        if budget is not None:
            from .spend import Spender  # only a client with a budget loads it

            assert prices is not None  # the assembly refuses a budget without prices
            self.spender = Spender(budget, prices, self.wire.record_skip)
        self.guard = Guard(clock, metrics, self.wire.record_skip, router if router.observes else None)
        self.hedger: Optional[Hedger] = None
        if hedge is not None:
            from .hedge import Hedger

            self.hedger = Hedger(
                hedge,
                self.run_target,
                clock=clock,
                metrics=metrics,
                budget_for=self._hedge_budget,
                count_selected=router.multi_target,
                max_workers=max(1, hedge_workers),
            )
            if hedge.percentile is not None:  # only delay="pNN" reads observed latencies
                self.wire.on_latency = self.hedger.observe

    def _around_limits(self, plan: list[Target]) -> tuple[list[Target], bool]:
        """Route around rate limits: when the first target's limiter cannot admit the call
        now and another of the plan's routed targets can, that one goes first (its permit
        taken here; ``routing_mvp.rerouted``). When none can, the one free soonest goes
        first and the call waits for it in the guard. Also whether the new first target's
        permit was taken here (its first attempt is then admitted: passed down to the guard)."""
        states = self.states
        soonest, soonest_wait = 0, _INF
        for i, target in enumerate(plan):
            if target.condition is not None:
                break  # FallbackChain steps are not routed targets
            limiter = states.get(target.endpoint.name, _NO_STATE).limiter
            admitted = False
            if limiter is None:
                pass
            elif limiter.counts_tokens:
                return plan, False  # a token budget needs the request's size: the guard decides
            else:
                try:
                    limiter.acquire(0, max_wait=0.0)
                except LocalRateLimitError as err:
                    wait = err.retry_after if err.retry_after is not None else _INF
                    if wait < soonest_wait:
                        soonest, soonest_wait = i, wait
                    continue
                admitted = True
            if i == 0:
                return plan, admitted
            self.metrics.incr_counter(
                "routing_mvp.rerouted", tags={"provider": target.endpoint.provider, "from": plan[0].endpoint.provider}
            )
            return [target, *plan[:i], *plan[i + 1 :]], admitted
        if soonest == 0:
            return plan, False
        return [plan[soonest], *plan[:soonest], *plan[soonest + 1 :]], False

    @property
    def closed(self) -> bool:
        return self._life.closed

    def view(
        self,
        *,
        retry: Optional[RetryPolicy] = None,
        deadline: Any = _KEEP,
        timeout: Optional[float] = None,
        hedging: bool = True,
        tags: Optional[Mapping[str, str]] = None,
    ) -> Pipeline:
        """A light copy for ``AiClient.with_options``: the same router, transport, state,
        hedger, budget and usage ledger, with its own retry policy, deadline, attempt
        timeout, hedging turned off, or default tags (over the parent's)."""
        view = Pipeline.__new__(Pipeline)
        view.__dict__.update(self.__dict__)
        if tags:
            view.tags = {**self.tags, **tags} if self.tags else dict(tags)
        if retry is not None:
            view.retry = retry
        if deadline is not _KEEP:
            view.deadline = deadline
        if timeout is not None:
            view.wire = self.wire.with_timeout(timeout)
        if not hedging:
            view.hedger = None
        return view

    def _hedge_budget(self, ep: Endpoint) -> Any:
        state = self.states.get(ep.name)
        return state.hedge_budget if state is not None else None

    def close(self) -> None:
        """Refuse new calls; cancel hedges in flight and stop the hedger's threads (≤ 1 s)."""
        self._life.closed = True
        if self.hedger is not None:
            self.hedger.close()
        self.router.close()

    # -- entry points --------------------------------------------------------------------------
    def run(
        self, request: ChatCompletionRequest, *, deadline: Optional[float] = None, cache: Optional[bool] = None
    ) -> ChatCompletionResponse:
        request = merge_tags(self.tags, request)
        spec = CallSpec(request, self._call_deadline(deadline), NOOP_CALL, {})
        extras = self.extras
        hooks = self.hooks
        try:
            if extras is not None and not extras.idle():  # the response cache and tracing (call/extras.py)
                resp: ChatCompletionResponse = extras.run(spec, self._run, cache)
            else:
                resp = self._run(spec)
        except AiLibError as err:
            if hooks is not None:
                hooks.call("after_call", request, None, err)
            raise
        if isinstance(request.response_format, type):  # a model class or dataclass (checked when the request was made)
            from .._response import with_parsed

            resp = with_parsed(resp, request.response_format)
        if hooks is not None:
            hooks.call("after_call", request, resp, None)
        return resp

    def _run(self, spec: CallSpec) -> ChatCompletionResponse:
        log = AttemptLog()
        request = spec.request
        if self._timers:
            try:
                with self.metrics.start_timer("request.duration", labels(request, {}, self.tag_filter) or None):
                    answer = self._execute(spec, log, stream=False)
            except AiLibError as err:
                self._count_request(request, err.provider or "", err.model or "", "error")
                raise
        else:
            answer = self._execute(spec, log, stream=False)
        resp = answer.value
        provider, requested = _winner(log.attempts, resp.provider)
        cost = self.prices.cost(resp.provider, resp.model, resp.usage, requested) if self.prices is not None else None
        self.ledger.add(resp.provider, resp.model, resp.usage, cost)
        if self._timers:
            self._count_request(request, provider, requested, "ok")
            count_usage(self.metrics, provider, requested, resp.usage, cost, labels(request, {}, self.tag_filter))
        headers = answer.headers  # the answer keeps them (read-only; credentials and cookies left out when read)
        return ChatCompletionResponse(
            resp.id, resp.model, resp.provider, resp.choices, resp.usage, tuple(log.attempts), resp.raw, cost, headers
        )

    def embed_part(self, request: EmbeddingRequest, deadline: float, trace: CallTrace = NOOP_CALL) -> EmbeddingResponse:
        """One embeddings request (no larger than a provider takes) through the same plan,
        failover, retries, guard and wire as chat; ``deadline`` is monotonic (shared by the
        parts of a split call), ``trace`` the call's span (``call/embed.py`` starts it)."""
        if self.closed:
            raise closed_error()
        spec = CallSpec(request, deadline, trace, {})
        log = AttemptLog()
        try:
            if self._timers:
                with self.metrics.start_timer("request.duration", None):
                    answer = self._execute(spec, log, stream=False)
            else:
                answer = self._execute(spec, log, stream=False)
        except AiLibError as err:
            if self._timers:
                self._count_request(None, err.provider or "", err.model or "", "error")  # embeddings carry no tags
            raise
        part = answer.value
        usage = part.usage or Usage()  # a provider that reports no tokens: 0 (its limiter kept the estimate)
        won = next(a for a in reversed(log.attempts) if a.outcome == "ok")  # the attempt that answered
        provider, requested = won.provider, won.model
        cost = self.prices.cost(provider, part.model, usage, requested) if self.prices is not None else None
        self.ledger.add(provider, part.model, usage, cost)
        if self._timers:
            self._count_request(None, provider, requested, "ok")
            count_usage(self.metrics, provider, requested, usage, cost)
        return EmbeddingResponse(part.vectors, part.model, provider, usage, tuple(log.attempts), cost)

    def stream(self, request: ChatCompletionRequest, *, deadline: Optional[float] = None, cache: Optional[bool] = None) -> ChatStream:
        request = merge_tags(self.tags, request)
        spec = CallSpec(request, self._call_deadline(deadline), NOOP_CALL, {})
        extras = self.extras
        try:
            if extras is not None and not extras.idle():  # the response cache and tracing (call/extras.py)
                stream: ChatStream = extras.stream(spec, self._open_stream, self._account_stream, cache)
            else:
                from .stream import ChatStream  # loaded by the first stream

                primed, log = self._open_stream(spec)
                stream = ChatStream(primed, log, self._account_stream)
        except AiLibError as err:
            if self.hooks is not None:
                self.hooks.call("after_call", request, None, err)
            raise
        stream.tags = request.tags
        if isinstance(request.response_format, type):  # ``parsed`` once the stream has ended
            stream.parse_as = request.response_format
        if self.hooks is not None:
            self.hooks.call("after_call", request, stream, None)
        return stream

    def _open_stream(self, spec: CallSpec) -> tuple[Primed, AttemptLog]:
        """A streamed call up to its commit point (``request.duration`` covers that part):
        the stream, and the call's attempt log (the stream keeps adding to its last record)."""
        log = AttemptLog()
        if not self._timers:
            return self._execute(spec, log, stream=True), log
        request = spec.request
        try:
            with self.metrics.start_timer("request.duration", labels(request, {}, self.tag_filter) or None):
                primed: Primed = self._execute(spec, log, stream=True)
        except AiLibError as err:
            self._count_request(request, err.provider or "", err.model or "", "error")
            raise
        self._count_request(request, primed.target.endpoint.provider, primed.target.model, "ok")
        return primed, log

    def _count_request(self, request: Any, provider: str, model: str, outcome: str) -> None:
        tags = labels(request, {"provider": provider, "model": model, "outcome": outcome}, self.tag_filter)
        self.metrics.incr_counter("requests", tags=tags)

    def list_models(self, endpoint: Endpoint, *, deadline: Optional[float] = None) -> list[str]:
        """Model ids ``endpoint`` reports, through the same retry, breaker and metrics as chat."""
        log = AttemptLog()
        branch = Branch(CallSpec(None, self._call_deadline(deadline), NOOP_CALL, {}), log, NO_CANCEL)
        target = Target(endpoint, "")
        try:
            models: list[str] = self._retrying(branch, target, self.wire.models).value
            return models
        except AiLibError as err:
            error = final_error(err, [err], log.attempts, False)
            release_frames(error)
            raise error from None

    def _account_stream(self, stream: ChatStream) -> None:
        """A finished stream's usage and cost join the client's totals."""
        reported = stream._reported_model()
        if self.prices is not None:
            stream.cost = self.prices.cost(stream.provider, reported, stream.usage, stream.model)
        self.ledger.add(stream.provider, reported, stream.usage, stream.cost)
        if self.spender is not None and stream._charged is not None and stream.cost is not None:
            self.spender.correct(stream._charged, stream.cost)  # the estimate charged at the commit point, made true
        if self._timers:
            tags = stream.tags
            count_usage(self.metrics, stream.provider, stream.model, stream.usage, stream.cost, _only(tags, self.tag_filter))

    def _call_deadline(self, seconds: Any) -> float:
        if self.closed:
            raise closed_error()
        if seconds is None:
            seconds = self.deadline
            if seconds is None:
                return _INF
        elif isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or math.isnan(seconds) or seconds <= 0:
            raise InvalidRequestError(f"deadline must be a number of seconds > 0 (or None), got {seconds!r}")
        return self.clock.monotonic() + float(seconds)

    # -- plan and failover ---------------------------------------------------------------------
    def _execute(self, spec: CallSpec, log: AttemptLog, *, stream: bool) -> Any:
        try:
            return self._failover(spec, log, stream)
        except AiLibError as err:
            release_frames(err)
            log.clear()  # the error has its own records; the frames above hold the log
            raise

    def _failover(self, spec: CallSpec, log: AttemptLog, stream: bool) -> Any:
        router = self.router
        plan = router.plan(spec.request)
        if spec.request.__class__ is EmbeddingRequest:
            from .embed_rules import embedding_plan  # loaded by the first embedding

            plan = embedding_plan(plan, spec.request)
        multi = len(plan) > 1
        counted = router.multi_target
        metrics = self.metrics
        admitted = False  # whether plan[0]'s first attempt already holds its rate-limit permit
        if counted:
            metrics.incr_counter("routing_mvp.request")
            if self._limited:
                plan, admitted = self._around_limits(plan)
        last: Optional[AiLibError] = None
        rest = plan
        if self.hedger is not None and self._misfit(spec, plan[0]) is None:
            race, rest = plan, []
            if len(plan) > 1 or plan[0].condition is not None:  # races the unconditional targets
                n = 0
                while n < len(plan) and plan[n].condition is None:
                    n += 1
                rest = plan[n:]
                race = plan[:n]
                step = timeout_step(rest)
                if step is not None:  # with a FallbackChain, a hedge goes where a timeout would
                    race = [*race, step]
                    rest = [t for t in rest if t is not step]
            try:
                return self.hedger.run(spec, log, race, stream, self.run_target, admitted)
            except AiLibError as err:
                last = err
                if isinstance(err, DeadlineExceededError) or self.closed:
                    raise final_error(err, log.errors, log.attempts, multi) from None
            admitted = False
        branch = Branch(spec, log, NO_CANCEL)
        refused: Optional[AiLibError] = None  # a refusal moving the chain on: only on_condition steps take it
        for index, target in enumerate(rest):
            if last is not None:
                if refused is not None and last is refused and target.label != "on_condition":
                    continue
                if isinstance(last, BudgetExceededError) and not _asks_for_budget_errors(target):
                    continue  # over budget: only a step that asks for it (on_condition, on_error(BudgetExceededError, ...)) moves on
                if target.condition is not None:  # a FallbackChain step: only for errors it matches
                    if not target.condition(last):
                        continue
                    step_tags = {"step": target.label, "provider": target.endpoint.provider}
                    metrics.incr_counter("fallback.step", tags=labels(spec.request, step_tags, self.tag_filter))
                    spec.trace.event("fallback.step", step=target.label, provider=target.endpoint.provider, model=target.model)
                    logger.info(
                        "fallback step %s -> %s/%s after %s",
                        target.label,
                        target.endpoint.provider,
                        target.model,
                        short(last),
                        extra=log_extra(spec.request),
                    )
                elif not moves_on(last):
                    continue  # plain failover does not apply; a later matching step still may
            if self.clock.monotonic() >= spec.deadline:
                last = DeadlineExceededError("the call's deadline ran out before the next target", provider=target.endpoint.provider)
                log.errors.append(last)
                break
            misfit = self._misfit(spec, target)
            if misfit is not None:  # not sent: on as a provider's ContextLengthExceededError would go
                self.wire.record_skip(branch, target, misfit)
                log.errors.append(misfit)
                last, admitted = misfit, False
                continue
            if counted:
                metrics.incr_counter("routing_mvp.selected", tags={"provider": target.endpoint.provider})
            try:
                if counted:
                    self._honour_rest(branch, target)
                result = self.run_target(branch, target, stream, admitted, rest[index + 1 :])
            except AiLibError as err:
                log.errors.append(err)
                last = err
                if isinstance(err, DeadlineExceededError):
                    break
                if counted and err.retry_after and isinstance(err, RateLimitExceeded) and not isinstance(err, QuotaExceededError):
                    # the call leaves without waiting: the endpoint still gets the pause it asked for
                    router.rest(target.endpoint, self.clock.monotonic() + err.retry_after)
            else:
                refused = None if stream else _refusal_to_fall_back_from(result.value, rest, target)
                if refused is None:
                    return result
                log.errors.append(refused)
                last = refused
            admitted = False
        assert last is not None
        raise final_error(last, log.errors, log.attempts, multi)

    # -- one target: retries around guarded attempts --------------------------------------------
    def run_target(self, branch: Branch, target: Target, stream: bool, admitted: bool = False, nexts: Sequence[Target] = ()) -> Any:
        """One target of a chat call, with its retries (what a hedge branch runs).
        ``admitted``: its first attempt's rate-limit permit is already taken. ``nexts``: the
        targets after it, which a rate-limited call may fall over to instead of waiting."""
        ep = target.endpoint
        spec = branch.spec
        if spec.request.__class__ is EmbeddingRequest:
            from ..providers._embed import embed_format_for

            embed_format_for(ep.spec)  # InvalidRequestError (nothing sent) for a provider without embeddings
            chars = sum(map(len, spec.request.input))
            return self._retrying(branch, target, self.wire.embed, lambda: chars, admitted, nexts)
        ep.wire.check_supported(spec.request, ep.spec, stream=stream)
        return self._retrying(
            branch, target, self.wire.stream if stream else self.wire.chat, lambda: len(spec.body(target, stream)), admitted, nexts
        )

    def _misfit(self, spec: CallSpec, target: Target) -> Optional[ContextLengthExceededError]:
        """The pre-call context check: the ``ContextLengthExceededError`` a request surely too
        large for ``target``'s model's known window would get, or None (it fits, or unknown)."""
        context = self.context
        if context is None or spec.request is None or spec.request.__class__ is EmbeddingRequest:
            return None  # an embedding's limit is per input, not a chat context window
        ep = target.endpoint
        window = context.window(ep.spec, target.model)
        if window is None:
            return None
        need = spec.memo.get("context_tokens")
        if need is None:
            need = spec.memo.setdefault("context_tokens", estimate_request_tokens(spec.request))
        if need <= window:
            return None
        return ContextLengthExceededError(
            f"the request needs about {need} tokens (characters / 4 + max_tokens), more than the {window}-token context "
            f"window of {target.model}; not sent (AiClientBuilder.with_context_windows sets windows)",
            provider=ep.provider,
            model=target.model,
        )

    def _honour_rest(self, branch: Branch, target: Target) -> None:
        """A target whose endpoint rests (the call fell over from its 429 earlier) waits out
        the rest when the retry policy and the deadline allow, else is skipped, unsent."""
        left = self.router.rest_remaining(target.endpoint)
        if left <= 0:
            return
        spec = branch.spec
        if left <= self.retry.max_retry_after and self.clock.monotonic() + left < spec.deadline:
            self.clock.sleep(left)
            return
        err = LocalRateLimitError(
            f"{target.endpoint.name} asked for {left:.3f}s more before the next request (Retry-After)", retry_after=left
        )
        self.wire.record_skip(branch, target, err)
        raise err

    def _fall_over(self, target: Target, nexts: Sequence[Target]) -> Optional[Callable[[AiLibError, float], bool]]:
        """The retry run's ``fall_over``: whether a target of ``nexts`` that ``error`` moves the
        chain to is expected to answer sooner than ``wait`` (or than the policy's
        ``failover_after``); if so the endpoint rests for ``wait`` and the call moves on."""
        if not nexts:
            return None
        router, policy = self.router, self.retry

        def fall_over(error: AiLibError, wait: float) -> bool:
            nxt = next((t for t in nexts if (t.condition(error) if t.condition is not None else moves_on(error))), None)
            if nxt is None or nxt.endpoint.name == target.endpoint.name:
                return False
            threshold = policy.failover_after
            if threshold is None:
                latency = router.expected_latency(nxt.endpoint)
                threshold = (UNKNOWN_LATENCY if latency is None else latency) + router.rest_remaining(nxt.endpoint)
            if wait <= threshold:
                return False
            router.rest(target.endpoint, self.clock.monotonic() + wait)
            self.metrics.incr_counter("retry.fell_over", tags={"provider": target.endpoint.provider})
            return True

        return fall_over

    def _retrying(
        self,
        branch: Branch,
        target: Target,
        attempt: AttemptFn,
        body_size: Any = None,
        admitted: bool = False,
        nexts: Sequence[Target] = (),
    ) -> Any:
        """The target's first attempt, then (only after a failure) its retry policy."""
        state = self.states.get(target.endpoint.name, _NO_STATE)
        if state.retry_budget is not None:
            state.retry_budget.record_call()
        if self._timers:  # one attempt.duration timer around each wire attempt
            attempt = _timed(self.metrics, attempt, self.tag_filter)
        guard = self.guard

        def guarded(adm: bool = False) -> Any:
            return guard.run(branch, target, state, attempt, body_size, adm)

        once: Callable[..., Any] = guarded
        if self.spender is not None and body_size is not None:
            once = self._spending(guarded, branch, target, body_size)
        try:
            return once(admitted)
        except AiLibError as err:
            first = err
        return self._retry(first, branch, target, state, once, nexts)

    def _spending(self, once: Callable[[bool], Any], branch: Branch, target: Target, body_size: Callable[[], int]) -> Callable[..., Any]:
        """``once`` behind the spend cap: each attempt's estimated cost held before it (or
        ``BudgetExceededError``), settled with its true cost after it."""
        spender = self.spender
        assert spender is not None

        def spending(adm: bool = False) -> Any:
            hold = spender.admit(branch, target, body_size)
            try:
                result = once(adm)
            except BaseException:
                spender.release(hold)
                raise
            spender.settle(hold, result, target)
            return result

        return spending

    def _retry(
        self,
        first: AiLibError,
        branch: Branch,
        target: Target,
        state: EndpointState,
        again: Callable[[], Any],
        nexts: Sequence[Target] = (),
    ) -> Any:
        """Retries of a target whose first attempt failed with ``first``, under the retry policy."""
        ep = target.endpoint
        metrics = self.metrics
        spec = branch.spec
        tags = labels(spec.request, {"provider": ep.provider}, self.tag_filter)

        def on_retry(error: AiLibError, wait: float) -> None:
            metrics.incr_counter("retry.attempt", tags=tags)
            spec.trace.event("retry", wait_seconds=wait, provider=ep.provider, **{"error.type": type(error).__name__})
            branch.log.note_wait(wait)
            if logger.isEnabledFor(logging.DEBUG):  # the failure itself was logged at INFO
                logger.debug(
                    "retrying %s/%s in %.3fs after %s", ep.provider, target.model, wait, short(error), extra=log_extra(spec.request)
                )

        def on_stop(reason: str, error: AiLibError) -> None:
            if reason == "exhausted":
                metrics.incr_counter("retry.exhausted", tags=tags)
            elif reason == "budget_exhausted":
                metrics.incr_counter("retry.budget_exhausted", tags=tags)
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug(
                    "not retrying %s/%s (%s) after %s", ep.provider, target.model, reason, short(error), extra=log_extra(spec.request)
                )

        sleep = self.clock.sleep
        if branch.token.cancellable and self.clock is SYSTEM_CLOCK:
            sleep = branch.token.sleep  # a cancelled hedge branch wakes from its backoff at once
        run = RetryRun(
            self.retry,
            clock=self.clock,
            deadline=spec.deadline,
            budget=state.retry_budget,
            rng=self._rng,
            on_stop=on_stop,
            on_retry=on_retry,
            sleep=sleep,
            fall_over=self._fall_over(target, nexts),
        )
        return run.after(first, again)


def _winner(attempts: list[Any], provider: str) -> tuple[str, str]:
    """The provider and (requested) model of the attempt that gave a call's answer: the last
    successful attempt to ``provider`` (the answer's)."""
    for a in reversed(attempts):
        if a.outcome == "ok" and a.provider == provider:
            return a.provider, a.model
    return provider, ""


def _refusal_to_fall_back_from(resp: Any, plan: list[Target], target: Target) -> Optional[AiLibError]:
    """A refused answer (``finish_reason == "refusal"``) as the ``ContentFilteredError`` a later
    ``FallbackChain.on_condition`` step matches, so the chain moves on; None (the refusal is the
    answer) when the answer is not a refusal or no later ``on_condition`` step takes it. Only
    ``on_condition`` steps see refusals: the built-in conditions (``always``, ``on_error``...) act
    on failures only."""
    choices = getattr(resp, "choices", None)
    if not choices or choices[0].finish_reason != "refusal":
        return None
    said = f": {choices[0].refusal}" if choices[0].refusal else ""
    err = ContentFilteredError(f"the model refused to answer{said}", provider=resp.provider, model=resp.model)
    later = plan[plan.index(target) + 1 :] if target in plan else []
    if any(t.label == "on_condition" and t.condition is not None and t.condition(err) for t in later):
        return err
    return None


def _only(tags: Optional[Mapping[str, str]], allowed: Optional[frozenset[str]]) -> Optional[dict[str, str]]:
    """The tags a metrics backend takes (``allowed``; None: all)."""
    if not tags:
        return None
    return dict(tags) if allowed is None else {k: v for k, v in tags.items() if k in allowed}


def _asks_for_budget_errors(target: Target) -> bool:
    """Whether a FallbackChain step may take a spend-cap refusal: any step but the catch-alls
    (``always``, ``on_error(model)``, an array step's later members) and plain targets."""
    if target.condition is None:
        return False
    from ..routing.fallback import always, is_provider_failure  # only a refused call with a FallbackChain needs it

    return target.condition not in (always, is_provider_failure)
