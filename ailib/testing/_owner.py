"""What the mock's request handling needs from the MockProvider that owns the server.

The handlers (``_routes``, ``_call``, ``_control``, the fault behaviours and extra routes)
sit below ``_provider`` and see their owner through ``MockOwner``, so no module of the
package imports one above it. ``Route`` lives here because its handler receives the owner.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Optional, Protocol

from .._value import value
from ._faults import Fault, Reply
from ._http import Exchange, RecordedRequest, ServerOwner
from ._mock_base import MockFormat

__all__ = ["MockOwner", "Route", "Handler"]


class MockOwner(ServerOwner, Protocol):
    """The MockProvider as its handlers use it."""

    reply: Reply
    event_interval: float
    api_key: Optional[str]
    validate: bool
    routes: list[Route]

    @property
    def format(self) -> MockFormat:
        """The wire format the server speaks by default."""

    def recorded(self) -> list[RecordedRequest]:
        """Every request received, in order."""

    def enqueue(self, *faults: Fault) -> Any:
        """Queue faults for the next chat requests."""

    def pending_faults(self) -> list[Fault]:
        """The faults still queued."""

    def clear_faults(self) -> None:
        """Drop every queued fault."""

    def clear_requests(self) -> None:
        """Forget the recorded requests."""

    def _new_request_id(self) -> str: ...
    def _format_for(self, method: str, path: str) -> Optional[MockFormat]: ...
    def _record(self, rec: RecordedRequest, *, count: bool) -> int: ...
    def _next_fault(self, index: int, rec: RecordedRequest) -> Optional[Fault]: ...
    def _latency(self) -> float: ...


Handler = Callable[[MockOwner, Exchange, RecordedRequest, "re.Match[str]"], None]


@value
class Route:
    """One extra path the server answers: ``method`` and a regex for the path (no query)."""

    method: str
    pattern: str
    handler: Handler

    def match(self, method: str, route: str) -> Optional[re.Match[str]]:
        """The match of ``route`` when ``method`` is this route's, else None."""
        if method != self.method:
            return None
        return re.fullmatch(self.pattern, route)
