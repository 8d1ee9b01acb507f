"""Test kit: a real loopback mock provider with scripted faults, and a fake clock."""

from ..reliability.clock import FakeClock
from ._faults import Fault, Reply
from ._server import MockProvider, RecordedRequest

__all__ = ["MockProvider", "Fault", "Reply", "RecordedRequest", "FakeClock"]
