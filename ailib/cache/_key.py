"""The cache key: a hash of the canonical request and of who asked where, and which
requests are reproducible."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ..types import ChatCompletionRequest

__all__ = ["cache_key", "is_reproducible", "KEY_PREFIX", "OLD_KEY_PREFIXES"]

# v2: keys include the scope. Entries stored under v1 keys (the provider and request only)
# are never looked up again: after an upgrade they miss, and expire or are pruned.
KEY_PREFIX = "ailib:v2:"
OLD_KEY_PREFIXES = ("ailib:v1:",)  # keys of earlier versions: never looked up, removed from SQLite files


def cache_key(request: ChatCompletionRequest, *, provider: str, model: str, scope: str = "") -> str:
    """A stable key for ``request`` sent to ``provider``/``model`` within ``scope``.

    Built from the canonical request (provider, resolved model, messages, tools, tool
    choice, response format and every sampling parameter, ``extra`` included) and
    ``scope``: a client passes the identity of its endpoints (base URLs, routing headers
    and a one-way digest of each credential, see ``Endpoint.identity``), or the shared
    namespace named in ``with_cache(shared_namespace=...)``. Credentials never reach it.
    """
    body: dict[str, Any] = request.to_dict()
    body["model"] = model
    canonical = json.dumps(
        {"provider": provider, "scope": scope, "request": body}, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=repr
    )
    return KEY_PREFIX + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def is_reproducible(request: ChatCompletionRequest) -> bool:
    """Whether the same request is expected to get the same answer: temperature 0 or a seed."""
    if request.temperature == 0:
        return True
    extra = request.extra
    return bool(extra) and extra.get("seed") is not None  # type: ignore[union-attr]
