"""The cache key: a hash of the canonical request, and which requests are reproducible."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ..types import ChatCompletionRequest

__all__ = ["cache_key", "is_reproducible", "KEY_PREFIX"]

KEY_PREFIX = "ailib:v1:"


def cache_key(request: ChatCompletionRequest, *, provider: str, model: str) -> str:
    """A stable key for ``request`` sent to ``provider``/``model``.

    Built from the canonical request only: provider, resolved model, messages, tools,
    tool choice, response format and every sampling parameter (``extra`` included).
    Credentials never reach it: a request holds no key, and the provider is named, not
    its connection settings.
    """
    body: dict[str, Any] = request.to_dict()
    body["model"] = model
    canonical = json.dumps({"provider": provider, "request": body}, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=repr)
    return KEY_PREFIX + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def is_reproducible(request: ChatCompletionRequest) -> bool:
    """Whether the same request is expected to get the same answer: temperature 0 or a seed."""
    if request.temperature == 0:
        return True
    extra = request.extra
    return bool(extra) and extra.get("seed") is not None  # type: ignore[union-attr]
