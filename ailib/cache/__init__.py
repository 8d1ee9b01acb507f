"""Response cache: answers to repeated deterministic requests, without a network call.

Backends store bytes under string keys (``get``, ``set(key, value, ttl)``, ``delete``,
``clear``, ``close``): ``MemoryCache`` (in-process LRU), ``SQLiteCache`` (one file shared
by processes), ``RedisCache`` (extra ``redis``). ``make_cache`` turns the argument of
``AiClientBuilder.with_cache`` into one of them.
"""

from __future__ import annotations

import os
from typing import Any, Optional, Protocol, Union, runtime_checkable

from ..errors import ConfigurationError
from ._entry import CachedAnswer
from ._key import cache_key, is_reproducible
from ._layer import ResponseCache
from .memory import MemoryCache
from .sqlite import SQLiteCache

__all__ = [
    "Cache",
    "MemoryCache",
    "SQLiteCache",
    "RedisCache",
    "ResponseCache",
    "CachedAnswer",
    "cache_key",
    "is_reproducible",
    "make_cache",
]

_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


@runtime_checkable
class Cache(Protocol):
    """A cache backend: bytes under string keys (``delete``, ``clear`` and ``close`` are
    optional). Any object with these two methods can be given to ``with_cache``."""

    def get(self, key: str) -> Optional[bytes]:
        """The bytes stored under ``key``, or None."""
        ...

    def set(self, key: str, value: bytes, ttl: Optional[float] = None) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds (None: the backend's default)."""
        ...


CacheLike = Union[str, "os.PathLike[str]", Cache]


def make_cache(backend: CacheLike) -> Cache:
    """``"memory"`` → ``MemoryCache()``; ``"redis://..."`` → ``RedisCache``; any other
    string or path → ``SQLiteCache`` on that file; an object with ``get``/``set`` as is."""
    if isinstance(backend, str):
        if backend == "memory":
            return MemoryCache()
        if backend.startswith(_REDIS_SCHEMES):
            from .redis import RedisCache

            return RedisCache(backend)
        if not backend.strip():
            raise ConfigurationError("with_cache needs 'memory', a redis:// URL, a file path or a cache object")
        return SQLiteCache(backend)
    if isinstance(backend, os.PathLike):
        return SQLiteCache(backend)
    if callable(getattr(backend, "get", None)) and callable(getattr(backend, "set", None)):
        return backend
    raise ConfigurationError(
        f"with_cache takes 'memory', a redis:// URL, a file path or an object with get/set, not {type(backend).__name__}"
    )


def __getattr__(name: str) -> Any:
    if name == "RedisCache":  # imported on first use: no redis import for other backends
        from .redis import RedisCache

        return RedisCache
    raise AttributeError(f"module 'ailib.cache' has no attribute {name!r}")
