"""A cache on Redis (extra ``redis``): one answer per key, expiry by Redis itself."""

from __future__ import annotations

import math
from typing import Any, Optional

from ..errors import ConfigurationError
from .memory import _check_ttl

__all__ = ["RedisCache"]


class RedisCache:
    """Entries as Redis strings under ``namespace``, each living ``ttl`` seconds.

    ``url`` is a ``redis://`` URL, or pass ``client=`` (a ``redis.Redis``). The client is
    made on first use; redis-py's pool reopens its connections in a forked child.
    """

    def __init__(
        self,
        url: Optional[str] = None,
        *,
        client: Any = None,
        ttl: Optional[float] = None,
        namespace: str = "ailib:cache:",
        socket_timeout: float = 2.0,
    ) -> None:
        if (url is None) == (client is None):
            raise ConfigurationError("RedisCache takes a redis:// URL or a client=, exactly one")
        _check_ttl(ttl)
        if client is None:
            _redis_module()  # fail at build, with the install hint, not on every call
        self.url = url
        self.ttl = ttl
        self.namespace = namespace
        self.socket_timeout = socket_timeout
        self._client = client
        self._owned = client is None

    def _redis(self) -> Any:
        if self._client is None:
            redis = _redis_module()
            assert self.url is not None
            self._client = redis.Redis.from_url(self.url, socket_timeout=self.socket_timeout, socket_connect_timeout=self.socket_timeout)
        return self._client

    def get(self, key: str) -> Optional[bytes]:
        """The bytes stored under ``key``, or None."""
        value = self._redis().get(self.namespace + key)
        return None if value is None else bytes(value)

    def set(self, key: str, value: bytes, ttl: Optional[float] = None) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds (default: the cache's; None: no expiry)."""
        ttl = self.ttl if ttl is None else ttl
        px = None if ttl is None else max(1, math.ceil(ttl * 1000))
        self._redis().set(self.namespace + key, value, px=px)

    def delete(self, key: str) -> None:
        """Remove ``key``'s entry, if any."""
        self._redis().delete(self.namespace + key)

    def clear(self) -> None:
        """Remove every entry under this cache's namespace (other keys are left alone)."""
        r = self._redis()
        batch = []
        for name in r.scan_iter(match=self.namespace + "*", count=500):
            batch.append(name)
            if len(batch) >= 500:
                r.delete(*batch)
                batch = []
        if batch:
            r.delete(*batch)

    def close(self) -> None:
        """Close the Redis client this cache made (a ``client=`` given to it stays open)."""
        if self._owned and self._client is not None:
            self._client.close()
            self._client = None

    def __repr__(self) -> str:
        where = _redact_url(self.url) if self.url else "client"
        return f"RedisCache({where}, namespace={self.namespace!r}, ttl={self.ttl})"


def _redis_module() -> Any:
    """The redis package, or ConfigurationError saying how to install it."""
    try:
        import redis
    except ImportError:
        raise ConfigurationError("a redis:// cache needs the redis package: pip install 'ailib[redis]'") from None
    return redis


def _redact_url(url: str) -> str:
    """The URL without a password (``redis://:secret@host`` → ``redis://***@host``)."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = "***@" + rest.rsplit("@", 1)[1]
    return scheme + sep + rest
