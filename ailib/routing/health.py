"""Active health checks: verdicts read without I/O, probes run off the caller's thread.

The probe itself is injected (``probe(endpoint, check) -> bool``; the client gives one
that sends ``GET`` through its transport), so routing never touches the network. When a
verdict is due (an endpoint with a ``HealthCheck`` once per interval, or one known bad),
the first caller to notice starts the probe on a background thread and, like every
other caller meanwhile, goes on with the last verdict. The exception is the first verdict:
with a ``HealthCheck`` configured, the first calls wait for every endpoint's first probe,
at most ``HealthCheck.timeout`` (``await_first``), so no call goes to an endpoint whose
probe would have failed.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Optional

import attrs

from .._fork import register_after_fork
from .._validators import number
from .._value import value
from ..clock import SYSTEM_CLOCK, Clock

__all__ = ["HealthCheck", "HealthMonitor", "Probe"]

log = logging.getLogger("ailib")
Probe = Callable[[Any, "HealthCheck"], bool]  # (endpoint, check) -> healthy?


_positive = number("a number > 0", low=0, low_open=True, finite=False)


@value
class HealthCheck:
    """Probe ``base_url + path`` (the format's models listing for the default path)."""

    path: str = "/models"
    interval: float = attrs.field(default=30.0, validator=_positive)
    timeout: float = attrs.field(default=5.0, validator=_positive)


class _Status:
    __slots__ = ("ok", "checked_at", "lock", "judged")

    def __init__(self, ok: Optional[bool]) -> None:
        self.ok = ok  # None: never probed and not known bad
        self.checked_at = float("-inf")
        self.lock = threading.Lock()  # held while a probe of this endpoint runs
        self.judged = threading.Event()  # set once a probe has ended (its first verdict)


class HealthMonitor:
    """Per-endpoint health verdicts; at most one probe per endpoint in flight, at most
    one per interval."""

    def __init__(
        self,
        probe: Probe,
        clock: Clock,
        metrics: Any,
        check: Optional[HealthCheck],
        endpoints: Any,
        initially_unhealthy: set[str],
        *,
        spawn: Optional[Callable[[Callable[[], None]], Any]] = None,
    ) -> None:
        self.probe = probe
        self.clock = clock
        self.metrics = metrics
        self.check = check
        self._status = {ep.name: _Status(False if ep.name in initially_unhealthy else None) for ep in endpoints}
        self._fallback_check = HealthCheck()
        self._spawn = spawn or self._thread
        self._threads: set[threading.Thread] = set()
        self._lock = threading.Lock()
        self._all_judged = False  # every endpoint has had a first verdict (await_first's fast path)
        self.closed = False
        register_after_fork(self)

    def await_first(self, endpoints: Any) -> None:
        """With health checks on, the first calls wait for a first verdict: start the probe
        of every endpoint not yet judged and wait for them all, at most the probe timeout
        (a probe that has not answered by then leaves its endpoint unknown: usable)."""
        if self._all_judged or self.check is None or self.closed:
            return
        pending = [(ep, st) for ep in endpoints for st in (self._status.get(ep.name),) if st is not None and not st.judged.is_set()]
        if not pending:
            self._all_judged = True
            return
        for ep, _ in pending:
            self.is_healthy(ep)  # starts its probe unless one runs already
        end = SYSTEM_CLOCK.monotonic() + self.check.timeout
        for _, st in pending:
            st.judged.wait(max(0.0, end - SYSTEM_CLOCK.monotonic()))

    def is_healthy(self, ep: Any) -> bool:
        """The last verdict (unknown counts as healthy); starts a due probe in the background."""
        st = self._status.get(ep.name)
        if st is None:
            return True
        check = self.check or (self._fallback_check if st.ok is False else None)
        if check is not None and not self.closed and self.clock.monotonic() - st.checked_at >= check.interval:
            if st.lock.acquire(blocking=False):  # released when the probe ends
                try:
                    self._spawn(lambda: self._probe(ep, st, check))
                except BaseException:
                    st.lock.release()
                    raise
        return st.ok is not False

    def _probe(self, ep: Any, st: _Status, check: HealthCheck) -> None:
        try:
            try:
                ok = bool(self.probe(ep, check))
            except Exception:
                ok = False
            st.ok = ok
            st.checked_at = self.clock.monotonic()
            if not ok:
                self.metrics.incr_counter("routing_mvp.health_fail", tags={"provider": ep.provider, "endpoint": ep.name})
                log.info("health probe of %s failed", ep.name)
        finally:
            st.judged.set()
            st.lock.release()

    def _thread(self, fn: Callable[[], None]) -> None:
        def run() -> None:
            try:
                fn()
            finally:
                with self._lock:
                    self._threads.discard(thread)

        thread = threading.Thread(target=run, name="ailib-health", daemon=True)
        with self._lock:
            self._threads.add(thread)
        thread.start()

    def mark(self, ep: Any, ok: bool) -> None:
        """Record a verdict (tests and passive signals)."""
        st = self._status.get(ep.name)
        if st is not None:
            st.ok = ok
            st.checked_at = self.clock.monotonic()

    def close(self, timeout: float = 1.0) -> None:
        """Start no more probes; wait (at most ``timeout`` s in all) for those in flight."""
        self.closed = True
        with self._lock:
            threads = list(self._threads)
        end = SYSTEM_CLOCK.monotonic() + timeout
        for t in threads:
            t.join(max(0.0, end - SYSTEM_CLOCK.monotonic()))

    def _after_fork_in_child(self) -> None:
        """Probes in flight in the parent do not exist in a child: free their slots."""
        self._lock = threading.Lock()
        self._threads = set()
        for st in self._status.values():
            st.lock = threading.Lock()
            if not st.judged.is_set():
                st.judged = threading.Event()
