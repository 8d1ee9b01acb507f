"""Test kit: a real loopback mock provider with scripted faults, and a fake clock."""

from ..clock import FakeClock
from ._faults import Fault, Reply, ReplyCitation
from ._http import RecordedRequest
from ._mock_embed import ServerLimits, mock_embedding, mock_tokens
from ._mock_transport import MockResponse, MockTransport
from ._owner import Route
from ._provider import MockProvider

__all__ = [
    "MockProvider",
    "MockTransport",
    "MockResponse",
    "Fault",
    "Reply",
    "ReplyCitation",
    "RecordedRequest",
    "Route",
    "FakeClock",
    "ServerLimits",
    "mock_embedding",
    "mock_tokens",
]
