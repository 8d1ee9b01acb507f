"""Response cache: answers to repeated deterministic requests, without a network call.

Backends store bytes under string keys (``get``, ``set(key, value, ttl)``, ``delete``,
``clear``, ``close``): ``MemoryCache`` (in-process LRU), ``SQLiteCache`` (one file shared
by processes), ``RedisCache`` (extra ``redis``). ``make_cache`` turns the argument of
``AiClientBuilder.with_cache`` into one of them.
"""

from __future__ import annotations

import os
from typing import Any

from ..errors import ConfigurationError
from ._entry import CachedAnswer
from ._key import cache_key, is_reproducible
from ._layer import ResponseCache
from .memory import MemoryCache
from .sqlite import SQLiteCache

__all__ = ["MemoryCache", "SQLiteCache", "RedisCache", "ResponseCache", "CachedAnswer", "cache_key", "is_reproducible", "make_cache"]

_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def make_cache(backend: Any) -> Any:
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
