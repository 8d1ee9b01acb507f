"""Active health checks: probe an endpoint at most once per interval, cache the verdict."""

from __future__ import annotations

import threading
from typing import Any, Optional

import attrs

from .._validators import number
from ..errors import AiLibError
from ..reliability.clock import Clock
from ..transport import AttemptHandle, Deadlines, HttpRequest, Transport

__all__ = ["HealthCheck", "HealthMonitor"]


_positive = number("a number > 0", low=0, low_open=True, finite=False)


@attrs.frozen
class HealthCheck:
    """Probe ``base_url + path`` (the format's models listing for the default path)."""

    path: str = "/models"
    interval: float = attrs.field(default=30.0, validator=_positive)
    timeout: float = attrs.field(default=5.0, validator=_positive)


class _Status:
    __slots__ = ("ok", "checked_at", "lock")

    def __init__(self, ok: Optional[bool]) -> None:
        self.ok = ok  # None: never probed and not known bad
        self.checked_at = float("-inf")
        self.lock = threading.Lock()


class HealthMonitor:
    """Per-endpoint health verdicts. A probe runs on the calling thread at most once per
    interval per endpoint (other threads use the last verdict meanwhile)."""

    def __init__(self, transport: Transport, clock: Clock, metrics: Any, check: Optional[HealthCheck], endpoints: Any, initially_unhealthy: set) -> None:
        self.transport = transport
        self.clock = clock
        self.metrics = metrics
        self.check = check
        self._status = {ep.name: _Status(False if ep.name in initially_unhealthy else None) for ep in endpoints}
        self._fallback_check = HealthCheck()

    def is_healthy(self, ep: Any) -> bool:
        st = self._status.get(ep.name)
        if st is None:
            return True
        check = self.check or (self._fallback_check if st.ok is False else None)
        if check is not None and self.clock.monotonic() - st.checked_at >= check.interval:
            if st.lock.acquire(blocking=False):
                try:
                    self._probe(ep, st, check)
                finally:
                    st.lock.release()
        return st.ok is not False

    def _probe(self, ep: Any, st: _Status, check: HealthCheck) -> None:
        url = ep.wire.models_url(ep.base_url) if check.path == "/models" else ep.base_url + check.path
        start = self.clock.monotonic()
        dl = Deadlines(check.timeout, check.timeout, check.timeout, start + check.timeout)
        try:
            resp = self.transport.send(HttpRequest("GET", url, ep.headers, None, ep.verify, ep.proxy), dl, AttemptHandle())
            ok = 200 <= resp.status < 300
        except AiLibError:
            ok = False
        st.ok = ok
        st.checked_at = self.clock.monotonic()
        if not ok:
            self.metrics.incr_counter("routing_mvp.health_fail", tags={"provider": ep.provider, "endpoint": ep.name})

    def mark(self, ep: Any, ok: bool) -> None:
        """Record a verdict (tests and passive signals)."""
        st = self._status.get(ep.name)
        if st is not None:
            st.ok = ok
            st.checked_at = self.clock.monotonic()
