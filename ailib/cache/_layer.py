"""The response cache as the call path sees it: when to use it, hits and misses, and
backend failures that never fail a call."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Optional

from ..types import ChatCompletionRequest, ChatCompletionResponse, ToolCall, Usage
from ._entry import CachedAnswer, decode, encode_response, encode_stream
from ._key import cache_key, is_reproducible
from .memory import _check_ttl

__all__ = ["ResponseCache"]

log = logging.getLogger("ailib")


class ResponseCache:
    """A backend (``get``/``set`` of bytes) plus the rules of use.

    By default only reproducible requests (temperature 0 or a seed) are looked up and
    stored; ``reproducible_only=False`` caches every request. Per call, ``use=False``
    bypasses the cache and ``use=True`` uses it whatever the request. Only complete
    answers are stored: never an error, never a stream that did not end normally.
    A backend that fails (Redis down, a locked file) counts ``cache.error`` and the call
    goes to the provider as on a miss.
    """

    def __init__(self, backend: Any, *, metrics: Any, ttl: Optional[float] = None, reproducible_only: bool = True) -> None:
        _check_ttl(ttl)
        self.backend = backend
        self.metrics = metrics
        self.ttl = ttl
        self.reproducible_only = reproducible_only

    def key(self, request: ChatCompletionRequest, *, provider: str, model: str, use: Optional[bool] = None) -> Optional[str]:
        """The entry's key, or None when this call does not use the cache."""
        if use is False or (use is None and self.reproducible_only and not is_reproducible(request)):
            return None
        return cache_key(request, provider=provider, model=model)

    def lookup(self, key: str, *, provider: str) -> Optional[CachedAnswer]:
        """The cached answer (counting ``cache.hit``), or None (counting ``cache.miss``)."""
        tags = {"provider": provider}
        try:
            value = self.backend.get(key)
        except Exception as exc:
            self._failed("get", exc, tags)
            value = None
        answer = decode(value) if value is not None else None
        self.metrics.incr_counter("cache.hit" if answer is not None else "cache.miss", tags=tags)
        return answer

    def store_response(self, key: str, response: ChatCompletionResponse) -> None:
        self._set(key, encode_response(response), response.provider)

    def store_stream(
        self,
        key: str,
        *,
        provider: str,
        model: str,
        pieces: Sequence[str],
        tool_calls: Sequence[ToolCall],
        finish_reason: Optional[str],
        usage: Optional[Usage],
    ) -> None:
        """Store a stream that ended normally (the caller checks that it did)."""
        value = encode_stream(provider=provider, model=model, pieces=pieces, tool_calls=tool_calls, finish_reason=finish_reason, usage=usage)
        self._set(key, value, provider)

    def _set(self, key: str, value: bytes, provider: str) -> None:
        try:
            self.backend.set(key, value, self.ttl)
        except Exception as exc:
            self._failed("set", exc, {"provider": provider})

    def _failed(self, op: str, exc: Exception, tags: dict) -> None:
        self.metrics.incr_counter("cache.error", tags=tags)
        log.warning("response cache %r: %s failed (%s); calling the provider", self.backend, op, type(exc).__name__)

    def close(self) -> None:
        close = getattr(self.backend, "close", None)
        if callable(close):
            close()
