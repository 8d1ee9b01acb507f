"""The response cache as the call path sees it: when to use it, hits and misses, and
backend failures that never fail a call."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Optional

from ..clock import SYSTEM_CLOCK, Clock
from ..types import ChatCompletionRequest, ChatCompletionResponse
from ._entry import CachedAnswer, decode, encode_response, encode_stream
from ._key import cache_key, is_reproducible
from .memory import _check_ttl

__all__ = ["ResponseCache"]

log = logging.getLogger("ailib")
_MEMO = 256  # decoded answers kept per cache: a hit on a recent entry skips JSON decoding
_FIRST_BACKOFF, _MAX_BACKOFF = 1.0, 60.0  # seconds a failed backend is left alone


class ResponseCache:
    """A backend (``get``/``set`` of bytes) plus the rules of use.

    By default only reproducible requests (temperature 0 or a seed) are looked up and
    stored; ``reproducible_only=False`` caches every request. Per call, ``use=False``
    bypasses the cache and ``use=True`` uses it whatever the request. Only complete
    answers are stored: never an error, never a stream that did not end normally.
    ``scope`` goes into every key: entries of another scope (other endpoints, another
    credential, another shared namespace) are never seen.
    A backend that fails (Redis down, a locked file) counts ``cache.error``, logs one
    warning, and the call goes to the provider as on a miss. The backend is then left
    alone for a backoff (1 s, doubling to 60 s while it keeps failing): calls in between
    skip it (``cache.skipped``) without a wait or a warning; the first call after the
    backoff tries it again, and a success ends the backoff.
    """

    def __init__(
        self,
        backend: Any,
        *,
        metrics: Any,
        ttl: Optional[float] = None,
        reproducible_only: bool = True,
        clock: Clock = SYSTEM_CLOCK,
        scope: str = "",
    ) -> None:
        _check_ttl(ttl)
        self.backend = backend
        self.scope = scope  # part of every key: the client's endpoints and credentials, or a shared namespace
        self.metrics = metrics
        self.ttl = ttl
        self.reproducible_only = reproducible_only
        self.clock = clock
        self._memo: OrderedDict[str, tuple[bytes, CachedAnswer]] = OrderedDict()
        self._memo_lock = threading.Lock()
        self._down_until = 0.0  # monotonic time until which the backend is skipped
        self._backoff = 0.0  # the current backoff; 0 while the backend works

    def key(self, request: ChatCompletionRequest, *, provider: str, model: str, use: Optional[bool] = None) -> Optional[str]:
        """The entry's key, or None when this call does not use the cache."""
        if use is False or (use is None and self.reproducible_only and not is_reproducible(request)):
            return None
        return cache_key(request, provider=provider, model=model, scope=self.scope)

    def lookup(self, key: str, *, provider: str) -> Optional[CachedAnswer]:
        """The cached answer (counting ``cache.hit``), or None (counting ``cache.miss``)."""
        tags = {"provider": provider}
        value = None
        if self._usable(tags):
            try:
                value = self.backend.get(key)
            except Exception as exc:
                self._failed("get", exc, tags)
            else:
                self._backoff = 0.0
        answer = self._decode(key, value) if value is not None else None
        self.metrics.incr_counter("cache.hit" if answer is not None else "cache.miss", tags=tags)
        return answer

    def _decode(self, key: str, value: bytes) -> Optional[CachedAnswer]:
        """The entry decoded, reusing the last decoding of the same key when the stored
        bytes are unchanged (answers are immutable values)."""
        with self._memo_lock:
            seen = self._memo.get(key)
            if seen is not None and (seen[0] is value or seen[0] == value):
                self._memo.move_to_end(key)
                return seen[1]
        answer = decode(value)
        if answer is not None:
            with self._memo_lock:
                self._memo[key] = (value, answer)
                if len(self._memo) > _MEMO:
                    self._memo.popitem(last=False)
        return answer

    def store_response(self, key: str, response: ChatCompletionResponse) -> None:
        """Store a complete answer under ``key``."""
        self._set(key, encode_response(response), response.provider)

    def store_stream(
        self,
        key: str,
        response: ChatCompletionResponse,
        pieces: Sequence[str],
        reasoning_pieces: Sequence[str] = (),
        refusal_pieces: Sequence[str] = (),
    ) -> None:
        """Store a stream that ended normally (the caller checks that it did): its collected
        ``response`` and the pieces its text, reasoning and refusal arrived in."""
        self._set(key, encode_stream(response, pieces, reasoning_pieces, refusal_pieces), response.provider)

    def _set(self, key: str, value: bytes, provider: str) -> None:
        tags = {"provider": provider}
        if not self._usable(tags):
            return
        try:
            self.backend.set(key, value, self.ttl)
        except Exception as exc:
            self._failed("set", exc, tags)
        else:
            self._backoff = 0.0

    def _usable(self, tags: dict[str, str]) -> bool:
        """False (counting ``cache.skipped``) while a failed backend's backoff runs."""
        if self._down_until and self.clock.monotonic() < self._down_until:
            self.metrics.incr_counter("cache.skipped", tags=tags)
            return False
        return True

    def _failed(self, op: str, exc: Exception, tags: dict[str, str]) -> None:
        self.metrics.incr_counter("cache.error", tags=tags)
        self._backoff = min(_MAX_BACKOFF, self._backoff * 2) if self._backoff else _FIRST_BACKOFF
        self._down_until = self.clock.monotonic() + self._backoff
        log.warning(
            "response cache %r: %s failed (%s); calling the provider, and skipping the cache for %gs",
            self.backend,
            op,
            type(exc).__name__,
            self._backoff,
        )

    def close(self) -> None:
        """Close the backend (when it has a ``close``)."""
        close = getattr(self.backend, "close", None)
        if callable(close):
            close()
