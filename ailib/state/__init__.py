"""Where live reliability state is kept: in memory by default; Redis to share it.

``RedisStateStore`` is imported on first use, so ``import ailib`` never imports redis.
"""

from __future__ import annotations

from typing import Any

from .memory import EndpointState, MemoryStateStore

__all__ = ["EndpointState", "MemoryStateStore", "RedisStateStore"]


def __getattr__(name: str) -> Any:
    if name == "RedisStateStore":
        from .redis import RedisStateStore

        return RedisStateStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
