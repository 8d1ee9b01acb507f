"""An in-process LRU cache with a size bound and an optional time to live."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any, Optional

from ..errors import ConfigurationError

__all__ = ["MemoryCache"]


class MemoryCache:
    """Least-recently-used entries, at most ``max_entries`` of them (and ``max_bytes`` of
    values when given), each living ``ttl`` seconds (forever when None). Thread-safe.

    ``clock`` is anything with ``monotonic()`` (tests pass a ``FakeClock``).
    """

    def __init__(self, max_entries: int = 1024, *, max_bytes: Optional[int] = None, ttl: Optional[float] = None, clock: Any = None) -> None:
        if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1:
            raise ConfigurationError(f"MemoryCache max_entries must be a positive int, got {max_entries!r}")
        if max_bytes is not None and (not isinstance(max_bytes, int) or max_bytes < 1):
            raise ConfigurationError(f"MemoryCache max_bytes must be a positive int, got {max_bytes!r}")
        _check_ttl(ttl)
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.ttl = ttl
        self._now = clock.monotonic if clock is not None else time.monotonic
        self._lock = threading.Lock()
        self._data: OrderedDict[str, tuple[bytes, float]] = OrderedDict()
        self._bytes = 0

    def get(self, key: str) -> Optional[bytes]:
        with self._lock:
            item = self._data.get(key)
            if item is None:
                return None
            value, expires = item
            if expires <= self._now():
                self._drop(key)
                return None
            self._data.move_to_end(key)
            return value

    def set(self, key: str, value: bytes, ttl: Optional[float] = None) -> None:
        ttl = self.ttl if ttl is None else ttl
        expires = float("inf") if ttl is None else self._now() + ttl
        with self._lock:
            if key in self._data:
                self._drop(key)
            if self.max_bytes is not None and len(value) > self.max_bytes:
                return  # larger than the whole cache: not kept
            self._data[key] = (value, expires)
            self._bytes += len(value)
            while len(self._data) > self.max_entries or (self.max_bytes is not None and self._bytes > self.max_bytes):
                self._drop(next(iter(self._data)))

    def delete(self, key: str) -> None:
        with self._lock:
            if key in self._data:
                self._drop(key)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._bytes = 0

    def close(self) -> None:
        pass

    def __len__(self) -> int:
        return len(self._data)

    def _drop(self, key: str) -> None:
        value, _ = self._data.pop(key)
        self._bytes -= len(value)

    def __repr__(self) -> str:
        return f"MemoryCache(entries={len(self._data)}, max_entries={self.max_entries}, ttl={self.ttl})"


def _check_ttl(ttl: Optional[float]) -> None:
    if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or ttl <= 0):
        raise ConfigurationError(f"a cache ttl must be a positive number of seconds or None, got {ttl!r}")
