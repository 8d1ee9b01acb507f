"""Routers: turn a request into an ordered plan of targets (endpoint + model [+ condition]).

The first target of a plan is the selected one; the rest are its failover order, then
the FallbackChain's conditional steps. Strategies see only endpoints that are healthy
(breaker not open, last probe not failed); when none is, the builder's own provider is
the fallback of last resort.
"""

from __future__ import annotations

import itertools
import math
import random
import threading
from collections.abc import Sequence
from typing import Any, Callable, Optional

from .._fork import register_after_fork
from ..clock import SYSTEM_CLOCK, Clock
from ..types import AUTO_MODELS, ChatCompletionRequest
from .base import Router
from .endpoint import ArrayStep, Endpoint, Target
from .fallback import is_provider_failure
from .model_array import LoadBalancingStrategy

__all__ = ["ChainRouter", "Stats"]

_EWMA_ALPHA = 0.2
# HEALTH_BASED: outcomes decay with this time constant (seconds); an endpoint is judged
# only on at least HEALTH_MIN_SAMPLE (decayed) outcomes, and is unhealthy above
# HEALTH_MAX_ERROR errors among them.
HEALTH_WINDOW = 30.0
HEALTH_MIN_SAMPLE = 5.0
HEALTH_MAX_ERROR = 0.5
_EXPLORE = 0.05  # latency strategy: share of calls that try another endpoint first


class Stats:
    """What routing observes of one endpoint: in-flight count, EWMA latency, error rate."""

    __slots__ = ("inflight", "latency", "samples", "error_rate", "current_weight", "lock", "ok_w", "err_w", "seen_at")

    def __init__(self) -> None:
        self.inflight = 0
        self.latency = 0.0
        self.samples = 0
        self.error_rate = 0.0
        self.ok_w = 0.0  # decayed successes and errors (HEALTH_BASED)
        self.err_w = 0.0
        self.seen_at = 0.0
        self.current_weight = 0.0
        self.lock = threading.Lock()


class ChainRouter(Router):
    """Routes over several endpoints with a strategy; appends fallback steps."""

    observes = True
    multi_target = True

    def __init__(
        self,
        endpoints: Sequence[Endpoint],
        strategy: Optional[LoadBalancingStrategy],
        *,
        metrics: Any,
        breakers: Callable[[Endpoint], Any],
        health: Any = None,
        steps: Sequence[Target] = (),
        default: Optional[Endpoint] = None,
        custom: Any = None,
        prices: Optional[Callable[[Endpoint, ChatCompletionRequest], Optional[float]]] = None,
        primary_model: Optional[str] = None,
        rng: Callable[[], float] = random.random,
        clock: Clock = SYSTEM_CLOCK,
        limiters: Optional[Callable[[Endpoint], Any]] = None,
    ) -> None:
        self._clock = clock
        self._usage: Any = None
        self._limiters: dict[str, Any] = {}
        if strategy is LoadBalancingStrategy.USAGE_BASED:
            from .usage import UsageTracker  # usage-based clients only

            self._usage = UsageTracker(clock)
            if limiters is not None:
                self._limiters = {ep.name: limiters(ep) for ep in endpoints}
        self._primary_model = primary_model
        self._endpoints = tuple(endpoints)
        self.strategy = strategy
        self.metrics = metrics
        self._breakers = {ep.name: breakers(ep) for ep in self._endpoints}
        self._targets: dict[tuple[str, str], Target] = {}
        self._health = health
        self._steps = tuple(steps)
        self._default = default
        self._custom = custom
        self._prices = prices
        self._rng = rng
        self._counter = itertools.count()
        self._weights_lock = threading.Lock()
        self.stats = {ep.name: Stats() for ep in self._endpoints}
        self._rests: dict[str, float] = {}  # endpoint name -> monotonic time its rest ends
        self._rests_lock = threading.Lock()
        # a FallbackChain step naming a ModelArray: its own router, with the array's strategy
        self._arrays: dict[int, ChainRouter] = {
            id(step): ChainRouter(
                step.members, step.strategy, metrics=metrics, breakers=breakers, prices=prices, rng=rng, clock=clock, limiters=limiters
            )
            for step in self._steps
            if isinstance(step, ArrayStep)
        }
        register_after_fork(self)

    def endpoints(self) -> Sequence[Endpoint]:
        return self._endpoints

    def close(self) -> None:
        if self._health is not None:
            self._health.close()

    def _after_fork_in_child(self) -> None:
        """Statistics carry over into a forked child; locks held at the fork are replaced."""
        self._weights_lock = threading.Lock()
        self._rests_lock = threading.Lock()
        for st in self.stats.values():
            st.lock = threading.Lock()

    # -- the plan ---------------------------------------------------------------------------
    def plan(self, request: ChatCompletionRequest) -> list[Target]:
        if self._health is not None:
            self._health.await_first(self._endpoints)  # returns at once after the first verdicts
        eps = [ep for ep in self._endpoints if self._usable(ep)]
        if not eps:
            self.metrics.incr_counter("routing_mvp.no_endpoint")
            if self._default is not None:
                self.metrics.incr_counter("routing_mvp.fallback_default", tags={"provider": self._default.provider})
                eps = [self._default]
            else:
                eps = list(self._endpoints)  # let each target's breaker speak: skipped, not sent
        else:
            eps = self._order(eps, request)
            if self._rests:
                eps = self._resting_last(eps)
        model = self._primary_model or request.model
        targets = [self._target(ep, model) for ep in eps]
        if model not in AUTO_MODELS and len(targets) > 1:
            served = [t for t, ep in zip(targets, eps) if ep.serves(model)]
            if served and len(served) < len(targets):  # never send a model to a provider that lacks it
                targets = served
        if self._arrays:
            for step in self._steps:
                targets.extend(self._array_targets(step, request) if isinstance(step, ArrayStep) else (step,))
        elif self._steps:
            targets.extend(self._steps)
        return targets

    def _array_targets(self, step: ArrayStep, request: ChatCompletionRequest) -> list[Target]:
        """A ModelArray step's endpoints in its strategy's order: the first under the step's
        condition, the rest after any failure that is not the caller's own."""
        members = self._arrays[id(step)].plan(request)
        return [Target(t.endpoint, t.model, step.condition if i == 0 else is_provider_failure, step.label) for i, t in enumerate(members)]

    def _target(self, ep: Endpoint, model: str) -> Target:
        """Targets are immutable: one per (endpoint, requested model), reused."""
        key = (ep.name, model)
        target = self._targets.get(key)
        if target is None:
            if len(self._targets) > 4096:  # callers with unbounded model names: stay bounded
                self._targets.clear()
            target = self._targets[key] = Target(ep, ep.resolve_model(model))
        return target

    # -- rests (a 429 the call fell over from instead of waiting) ------------------------------
    def rest(self, ep: Endpoint, until: float) -> None:
        with self._rests_lock:
            if until > self._rests.get(ep.name, float("-inf")):
                self._rests[ep.name] = until

    def rest_remaining(self, ep: Endpoint) -> float:
        until = self._rests.get(ep.name)
        if until is None:
            return 0.0
        left = until - self._clock.monotonic()
        if left <= 0:
            with self._rests_lock:
                if self._rests.get(ep.name) == until:
                    del self._rests[ep.name]
            return 0.0
        return left

    def _resting_last(self, eps: list[Endpoint]) -> list[Endpoint]:
        """Endpoints still resting go after the others, the one free soonest first."""
        resting = [(self.rest_remaining(ep), i) for i, ep in enumerate(eps)]
        if not any(left > 0 for left, _ in resting):
            return eps
        awake = [eps[i] for left, i in resting if left <= 0]
        return awake + [eps[i] for left, i in sorted(r for r in resting if r[0] > 0)]

    def expected_latency(self, ep: Endpoint) -> Optional[float]:
        st = self.stats.get(ep.name)
        if st is None:
            for sub in self._arrays.values():
                found = sub.expected_latency(ep)
                if found is not None:
                    return found
            return None
        return st.latency if st.samples else None

    def _usable(self, ep: Endpoint) -> bool:
        breaker = self._breakers[ep.name]
        if breaker is not None and not breaker.accepting():
            return False
        return self._health is None or self._health.is_healthy(ep)

    def _order(self, eps: list[Endpoint], request: ChatCompletionRequest) -> list[Endpoint]:
        if self._custom is not None:
            try:
                ordered = list(self._custom.select(eps, request))
                if ordered and all(e in eps for e in ordered):
                    return ordered + [e for e in eps if e not in ordered]
                raise ValueError("a custom strategy must return a non-empty ordering of the endpoints it was given")
            except Exception:
                self.metrics.incr_counter("routing_mvp.strategy_fail")
                return eps
        s = self.strategy
        if s is None or len(eps) == 1:
            return eps
        if s is LoadBalancingStrategy.ROUND_ROBIN:
            return self._rotate(eps)
        if s is LoadBalancingStrategy.WEIGHTED:
            return self._weighted(eps)
        if s is LoadBalancingStrategy.LEAST_CONNECTIONS:
            n = len(eps)
            start = next(self._counter) % n
            stats = self.stats
            order = sorted(range(n), key=lambda i: (stats[eps[i].name].inflight, (i - start) % n))
            return [eps[i] for i in order]
        if s is LoadBalancingStrategy.HEALTH_BASED:
            now = self._clock.monotonic()
            healthy = [e for e in eps if self._healthy(e, now)]
            sick = [e for e in eps if e not in healthy] if len(healthy) < len(eps) else []
            if not healthy:
                healthy, sick = eps, []
            shared = self._weighted(healthy) if any(e.weight != 1.0 for e in healthy) else self._rotate(healthy)
            return shared + sick
        if s is LoadBalancingStrategy.LATENCY_BASED:
            ordered = sorted(eps, key=lambda e: self.stats[e.name].latency if self.stats[e.name].samples else 0.0)
            if self._rng() < _EXPLORE:
                pick = ordered[1 + int(self._rng() * (len(ordered) - 1)) % (len(ordered) - 1)]
                ordered.remove(pick)
                ordered.insert(0, pick)
            return ordered
        if s is LoadBalancingStrategy.COST_BASED:
            return eps if self._prices is None else _by_cost(eps, request, self._prices)
        if s is LoadBalancingStrategy.USAGE_BASED:  # most headroom first; ties (unknown) rotate
            return sorted(self._rotate(eps), key=lambda e: -self.headroom(e))
        return eps

    def headroom(self, ep: Endpoint) -> float:
        """USAGE_BASED: the share of ``ep``'s rate limits left, the smaller of what its provider
        last reported and what its own limiter has free (1.0 when nothing is known)."""
        share = 1.0 if self._usage is None else self._usage.share(ep.name)
        limiter = self._limiters.get(ep.name)
        free = getattr(limiter, "headroom", None)
        if free is not None:
            share = min(share, free())
        return share

    def _healthy(self, ep: Endpoint, now: float) -> bool:
        """Healthy unless, over a window decaying with HEALTH_WINDOW, it has at least
        HEALTH_MIN_SAMPLE outcomes and more than HEALTH_MAX_ERROR of them are errors. As the
        window ages, an unhealthy endpoint falls below the sample and gets trial calls."""
        st = self.stats[ep.name]
        decay = math.exp(-(now - st.seen_at) / HEALTH_WINDOW)
        ok, err = st.ok_w * decay, st.err_w * decay
        total = ok + err
        return total + 0.01 < HEALTH_MIN_SAMPLE or err <= HEALTH_MAX_ERROR * total  # 0.01: decay since the last

    def _rotate(self, eps: list[Endpoint]) -> list[Endpoint]:
        i = next(self._counter) % len(eps)
        return eps[i:] + eps[:i]

    def _weighted(self, eps: list[Endpoint]) -> list[Endpoint]:
        """Smooth weighted round robin (nginx): exact shares, no bursts to one endpoint."""
        with self._weights_lock:
            total = 0.0
            best = None
            for ep in eps:
                st = self.stats[ep.name]
                st.current_weight += ep.weight
                total += ep.weight
                if best is None or st.current_weight > self.stats[best.name].current_weight:
                    best = ep
            assert best is not None
            self.stats[best.name].current_weight -= total
        rest = sorted((e for e in eps if e is not best), key=lambda e: -e.weight)
        return [best, *rest]

    # -- observations (called by the pipeline around each attempt) -------------------------------
    def on_start(self, ep: Endpoint) -> None:
        st = self.stats.get(ep.name)
        if st is None:
            for sub in self._arrays.values():
                sub.on_start(ep)
        if st is not None:
            with st.lock:
                st.inflight += 1

    def on_headers(self, ep: Endpoint, headers: Any) -> None:
        """A successful attempt's response headers (USAGE_BASED reads their rate-limit share)."""
        if ep.name not in self.stats:
            for sub in self._arrays.values():
                sub.on_headers(ep, headers)
            return
        if self._usage is not None:
            self._usage.observe(ep.name, headers)

    def on_end(self, ep: Endpoint, seconds: float, ok: Optional[bool]) -> None:
        """An attempt ended: ``ok`` True/False, or None when it was cancelled (a race's
        loser says nothing about the endpoint's health)."""
        st = self.stats.get(ep.name)
        if st is None:
            for sub in self._arrays.values():
                sub.on_end(ep, seconds, ok)
            return
        now = self._clock.monotonic()
        with st.lock:
            st.inflight -= 1
            if ok is None:
                return
            decay = math.exp(-(now - st.seen_at) / HEALTH_WINDOW)
            st.ok_w = st.ok_w * decay + (1.0 if ok else 0.0)
            st.err_w = st.err_w * decay + (0.0 if ok else 1.0)
            st.seen_at = now
            if ok:
                st.latency = seconds if st.samples == 0 else st.latency + _EWMA_ALPHA * (seconds - st.latency)
                st.samples += 1
            st.error_rate += _EWMA_ALPHA * ((0.0 if ok else 1.0) - st.error_rate)


def _by_cost(
    eps: list[Endpoint], request: ChatCompletionRequest, prices: Callable[[Endpoint, ChatCompletionRequest], Optional[float]]
) -> list[Endpoint]:
    """Cheapest estimated cost first; endpoints without a known price last, in order."""
    known: list[tuple[float, Endpoint]] = []
    unknown: list[tuple[Optional[float], Endpoint]] = []
    for ep in eps:
        p = prices(ep, request)
        if p is None:
            unknown.append((p, ep))
        else:
            known.append((p, ep))
    known.sort(key=lambda pe: pe[0])
    return [ep for _, ep in known] + [ep for _, ep in unknown]
