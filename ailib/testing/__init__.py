"""Test kit: a real loopback mock provider with scripted faults, and a fake clock."""

from ..reliability.clock import FakeClock
from ._faults import Fault, Reply
from ._mock_transport import MockResponse, MockTransport
from ._http import RecordedRequest
from ._provider import MockProvider
from ._routes import Route

__all__ = ["MockProvider", "MockTransport", "MockResponse", "Fault", "Reply", "RecordedRequest", "Route", "FakeClock"]
