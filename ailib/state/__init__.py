"""Where live reliability state is kept: in memory by default; Redis to share it."""

from .memory import EndpointState, MemoryStateStore

__all__ = ["EndpointState", "MemoryStateStore"]
