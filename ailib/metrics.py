"""Metrics: a small protocol, a no-op default, a thread-safe in-memory recorder, a
Prometheus exporter (extra ``prometheus``), and an adapter for a user's own object.

Counter names emitted by ailib are listed in ``COUNTERS``. ``start_timer`` is a context
manager on every implementation here (it records an ``observe`` of the elapsed seconds).

Calls, attempts, tokens and cost (tags ``provider`` and ``model``: the target's, as
``attempt.latency`` has them):

- ``requests`` +1 per call that went to a provider, tagged ``outcome`` (``ok``/``error``);
  a stream counts once, at its commit point (or its failure before it). A cache hit
  counts ``cache.hit`` instead.
- ``attempts`` +1 per wire attempt, tagged ``outcome`` (``ok``/``error``/``cancelled``:
  a hedge race's loser).
- ``tokens`` per successful call, tagged ``kind``: ``input`` (every prompt token),
  ``output`` (every completion token), and the details the provider reported:
  ``cached`` (part of input), ``cache_write`` (part of input), ``reasoning`` (part of
  output). Summing over kinds double counts: sum ``input`` and ``output``.
- ``cost_usd`` per successful call whose model has a price (``with_prices``).

A request's tags (``ChatCompletionRequest(tags=...)``, ``with_options(tags=...)``) are added
to the tags of ``requests``, ``attempts``, ``tokens``, ``cost_usd``, ``attempt.latency``,
``request.duration``, ``attempt.duration``, ``retry.*`` and ``fallback.step``; ailib's own
tags keep their names (a request tag may not take them). A backend with a ``request_tags``
attribute (a set of names) gets only those tags: ``PrometheusMetrics(tags=[...])``.

Tokens and cost are counted once per call, from the answer the caller got: a retried
call counts only its last attempt, a hedged call only the winner (a cancelled loser's
usage is never reported to ailib, so it cannot be counted, though the provider may bill
it; ``attempts{outcome="cancelled"}`` shows how many there were). A stream counts them
when it finishes with usage; a stream left early or interrupted counts none.
"""

from __future__ import annotations

import inspect
import logging
import re
import threading
import time
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any, Optional, Protocol, runtime_checkable

from ._fork import register_after_fork

__all__ = ["Metrics", "NoopMetrics", "InMemoryMetrics", "PrometheusMetrics", "COUNTERS", "as_metrics"]

log = logging.getLogger("ailib")

COUNTERS = (
    "routing_mvp.request",
    "routing_mvp.selected",
    "routing_mvp.health_fail",
    "routing_mvp.fallback_default",
    "routing_mvp.no_endpoint",
    "routing_mvp.strategy_fail",
    "retry.attempt",
    "retry.exhausted",
    "retry.budget_exhausted",
    "circuit.opened",
    "circuit.half_open",
    "circuit.closed",
    "circuit.rejected",
    "ratelimit.waited",
    "ratelimit.rejected",
    "hedge.fired",
    "hedge.won",
    "hedge.cancelled",
    "fallback.step",
    "cache.hit",
    "cache.miss",
    "cache.error",
    "cache.skipped",
    "requests",
    "attempts",
    "tokens",
    "cost_usd",
    "hook.error",
)

Tags = Optional[Mapping[str, str]]


@runtime_checkable
class Metrics(Protocol):
    """What ailib reports to: counters, observed durations and timers.

    Give any object with these methods to ``AiClient(metrics=...)`` or
    ``AiClientBuilder.with_metrics``; one with only ``incr_counter`` (and maybe ``observe``
    or a ``start_timer`` returning a timer with ``stop()``) is adapted by ``as_metrics``.
    """

    def incr_counter(self, name: str, value: float = 1, tags: Tags = None) -> None:
        """Add ``value`` to the counter ``name`` for the series ``tags``."""
        ...

    def observe(self, name: str, seconds: float, tags: Tags = None) -> None:
        """Record one observed duration (or other value) of ``name``."""
        ...

    def start_timer(self, name: str, tags: Tags = None) -> AbstractContextManager[Any]:
        """A context manager that observes the seconds spent inside it as ``name``."""
        ...


@contextmanager
def _observed(metrics: Metrics, name: str, tags: Tags) -> Iterator[None]:
    """The one ``start_timer`` of this module: observe the seconds spent inside the block."""
    start = time.perf_counter()
    try:
        yield
    finally:
        metrics.observe(name, time.perf_counter() - start, tags)


class NoopMetrics:
    """Records nothing (the default)."""

    def incr_counter(self, name: str, value: float = 1, tags: Tags = None) -> None:
        """Do nothing."""

    def observe(self, name: str, seconds: float, tags: Tags = None) -> None:
        """Do nothing."""

    def start_timer(self, name: str, tags: Tags = None) -> AbstractContextManager[None]:
        """A context manager that does nothing."""
        return nullcontext()


def _key(tags: Tags) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(tags.items())) if tags else ()


class InMemoryMetrics:
    """Thread-safe counters and observations, for tests and dashboards in-process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
        self._observations: dict[str, list[tuple[float, dict[str, Any]]]] = {}
        register_after_fork(self)

    def _after_fork_in_child(self) -> None:
        self._lock = threading.Lock()  # what was counted carries over

    def incr_counter(self, name: str, value: float = 1, tags: Tags = None) -> None:
        """Add ``value`` to the counter ``name``'s series for ``tags``."""
        key = _key(tags)
        with self._lock:
            series = self._counters.setdefault(name, {})
            series[key] = series.get(key, 0) + value

    def observe(self, name: str, seconds: float, tags: Tags = None) -> None:
        """Record one observation of ``name`` (see ``observations``)."""
        with self._lock:
            self._observations.setdefault(name, []).append((seconds, dict(tags or {})))

    def start_timer(self, name: str, tags: Tags = None) -> AbstractContextManager[None]:
        """A context manager that observes the seconds spent inside it as ``name``."""
        return _observed(self, name, tags)

    def counter(self, name: str, **tags: str) -> float:
        """A counter's total over all tags, or over the series matching ``tags`` (an int while
        only ints were added; ``cost_usd`` adds floats)."""
        with self._lock:
            series = self._counters.get(name, {})
            want = set(tags.items())
            return sum(v for k, v in series.items() if want <= set(k))

    def observations(self, name: str) -> list[float]:
        """Every value observed for ``name``, in order (all tags together)."""
        with self._lock:
            return [s for s, _ in self._observations.get(name, [])]

    def snapshot(self) -> dict[str, Any]:
        """Everything recorded: ``{"counters": {name: {tags: value}}, "observations": {name: count}}``."""
        with self._lock:
            return {
                "counters": {n: {",".join(f"{k}={v}" for k, v in key): val for key, val in s.items()} for n, s in self._counters.items()},
                "totals": {n: sum(s.values()) for n, s in self._counters.items()},
                "observations": {n: len(v) for n, v in self._observations.items()},
            }


def _arity(fn: Any) -> int:
    """How many positional arguments ``fn`` takes (a large number for ``*args``)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 3
    n = 0
    for p in params:
        if p.kind is p.VAR_POSITIONAL:
            return 99
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            n += 1
    return n


class _Adapted:
    """Wraps a user's object that has ``incr_counter`` (and maybe ``start_timer``/``observe``).

    A simpler shape is accepted too: ``incr_counter(name, value)`` without tags and
    ``start_timer(name)`` returning ``None``, a context manager, or a timer with ``stop()``.
    How many arguments each method takes is read once here, so a ``TypeError`` raised
    inside the user's method is never mistaken for a signature mismatch.
    """

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._incr = inner.incr_counter
        self._incr_n = _arity(self._incr)
        observe = getattr(inner, "observe", None)
        self._observe = observe if callable(observe) else None
        self._observe_n = _arity(observe) if self._observe is not None else 0
        start = getattr(inner, "start_timer", None)
        self._start = start if callable(start) else None
        self._start_n = _arity(start) if self._start is not None else 0

    def incr_counter(self, name: str, value: float = 1, tags: Tags = None) -> None:
        n = self._incr_n
        if n >= 3:
            self._incr(name, value, tags)
        elif n == 2:
            self._incr(name, value)
        else:
            self._incr(name)

    def observe(self, name: str, seconds: float, tags: Tags = None) -> None:
        if self._observe is None:
            return
        if self._observe_n >= 3:
            self._observe(name, seconds, tags)
        else:
            self._observe(name, seconds)

    @contextmanager
    def start_timer(self, name: str, tags: Tags = None) -> Iterator[None]:
        """The object's own timer (a context manager, or one with ``stop()``), else one
        made from ``observe``."""
        if self._start is None:
            with _observed(self, name, tags):
                yield
            return
        timer = self._start(name, tags) if self._start_n >= 2 else self._start(name)
        if timer is not None and hasattr(timer, "__enter__") and hasattr(timer, "__exit__"):
            with timer:
                yield
            return
        try:
            yield
        finally:
            stop = getattr(timer, "stop", None)
            if callable(stop):
                stop()

    def __repr__(self) -> str:
        return f"_Adapted({type(self._inner).__name__})"


_NAME_BAD = r"[^a-zA-Z0-9_]"  # compiled on first use (re's cache): only Prometheus names need it
DEFAULT_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
# Metric objects per registry, shared by every PrometheusMetrics on that registry (a
# registry refuses a second metric of the same name).
_REGISTERED: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()
_REGISTERED_LOCK = threading.Lock()


def _prom_name(text: str) -> str:
    name = re.sub(_NAME_BAD, "_", text)
    return "_" + name if name[:1].isdigit() else name


def _label_name(text: str) -> str:
    name = _prom_name(text).lstrip("_") or "tag"
    return "tag_" + name if name in ("le", "quantile") else name


class PrometheusMetrics:
    """Prometheus counters and latency histograms (extra ``prometheus``).

    A counter ``retry.attempt`` becomes ``ailib_retry_attempt_total``; an observation or
    timer ``request.latency`` becomes the histogram ``ailib_request_latency_seconds``.
    Tags become labels. A Prometheus metric has a fixed label set: with ``labels=`` every
    metric gets exactly those labels; otherwise each metric's labels are the tag names of
    its first use. A missing label is exported as ``""``, a tag outside the set is dropped.
    Request tags (``ChatCompletionRequest(tags=...)``) reach Prometheus only when named in
    ``tags=``: those names are labels of every metric (``""`` on a call without them), and
    every other request tag is left out, so one call's tags never fix a metric's labels.

    ``registry`` defaults to a new ``CollectorRegistry`` (not the global one), so clients and
    tests do not collide; pass ``prometheus_client.REGISTRY`` to use the process-wide one.
    Serve it with ``prometheus_client.start_http_server(port, registry=m.registry)`` or read
    ``m.exposition()``. A metrics failure never fails a call: it is logged at DEBUG.
    """

    def __init__(
        self,
        registry: Any = None,
        *,
        namespace: str = "ailib",
        labels: Optional[Sequence[str]] = None,
        buckets: Optional[Sequence[float]] = None,
        tags: Sequence[str] = (),
    ) -> None:
        try:
            import prometheus_client
        except ImportError as exc:  # pragma: no cover - depends on the environment
            from .errors import ConfigurationError

            raise ConfigurationError("PrometheusMetrics needs prometheus_client: pip install 'ailib[prometheus]'") from exc
        self._prom = prometheus_client
        self.registry = registry if registry is not None else prometheus_client.CollectorRegistry()
        self.namespace = _prom_name(namespace) if namespace else ""
        self._labels = tuple(_label_name(x) for x in labels) if labels is not None else None
        self.request_tags = frozenset(str(t) for t in tags)  # the request tags taken (ailib.call.tags reads it)
        self._tag_labels = tuple(sorted(_label_name(t) for t in self.request_tags))
        self._buckets = tuple(buckets) if buckets else DEFAULT_LATENCY_BUCKETS
        with _REGISTERED_LOCK:
            self._shared: dict[str, Any] = _REGISTERED.setdefault(self.registry, {})

    def _full(self, name: str, suffix: str) -> str:
        base = _prom_name(name)
        if suffix and base.endswith(suffix):
            base = base[: -len(suffix)]
        return f"{self.namespace}_{base}" if self.namespace else base

    def _series(self, kind: str, name: str, tags: Tags) -> Any:
        """The labelled child of metric ``name`` for ``tags`` (creating the metric once)."""
        # prometheus_client appends _total to a counter's name; a histogram gets _seconds here
        full = self._full(name, "_total") if kind == "counter" else self._full(name, "_seconds") + "_seconds"
        clean = {_label_name(k): "" if v is None else str(v) for k, v in tags.items()} if tags else {}
        entry = self._shared.get(full)
        if entry is None:
            with _REGISTERED_LOCK:
                entry = self._shared.get(full)
                if entry is None:
                    if self._labels is not None:
                        names = self._labels
                    else:
                        names = tuple(sorted(set(clean) - set(self._tag_labels))) + self._tag_labels
                    metric: Any
                    if kind == "counter":
                        metric = self._prom.Counter(full, f"ailib counter {name}", names, registry=self.registry)
                    else:
                        help_text = f"ailib latency of {name}, seconds"
                        metric = self._prom.Histogram(full, help_text, names, registry=self.registry, buckets=self._buckets)
                    entry = (metric, names)
                    self._shared[full] = entry
        metric, names = entry
        if not names:
            return metric
        return metric.labels(*[clean.get(n, "") for n in names])

    def incr_counter(self, name: str, value: float = 1, tags: Tags = None) -> None:
        """Add ``value`` to the Prometheus counter for ``name`` (``.`` becomes ``_``)."""
        try:
            self._series("counter", name, tags).inc(value)
        except (ValueError, TypeError) as exc:
            log.debug("PrometheusMetrics: counter %s not recorded: %s", name, exc)

    def observe(self, name: str, seconds: float, tags: Tags = None) -> None:
        """Observe ``seconds`` on the Prometheus histogram for ``name``."""
        try:
            self._series("histogram", name, tags).observe(seconds)
        except (ValueError, TypeError) as exc:
            log.debug("PrometheusMetrics: observation %s not recorded: %s", name, exc)

    def start_timer(self, name: str, tags: Tags = None) -> AbstractContextManager[None]:
        """A context manager that observes the seconds spent inside it (a histogram)."""
        return _observed(self, name, tags)

    def exposition(self) -> str:
        """The registry in the Prometheus text format (what ``/metrics`` serves)."""
        return self._prom.generate_latest(self.registry).decode("utf-8")


def as_metrics(obj: object) -> Metrics:
    """A ``Metrics`` for ``obj``: itself if it is complete, else an adapter; None → NoopMetrics.

    Raises ``ConfigurationError`` for an object without ``incr_counter``.
    """
    if obj is None:
        return NoopMetrics()
    if all(callable(getattr(obj, m, None)) for m in ("incr_counter", "observe", "start_timer")):
        return obj  # type: ignore[return-value]
    if callable(getattr(obj, "incr_counter", None)):
        return _Adapted(obj)
    from .errors import ConfigurationError

    raise ConfigurationError(f"metrics object {type(obj).__name__} has no incr_counter method")
