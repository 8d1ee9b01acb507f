"""Embeddings in the response cache: one entry per text (provider, model, settings, text), so
a text embedded once is never paid for again, whatever call it comes back in.

An entry is the vector as little-endian float32 bytes behind a one-line JSON header
(``{"v": 1, "model": ..., "provider": ...}``); the backend and its failure handling are the
client's ``ResponseCache``'s (``cache.hit``/``cache.miss`` counted per text).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any, Optional

from .._embedding import EmbeddingRequest
from ._key import KEY_PREFIX
from ._layer import ResponseCache

__all__ = ["embedding_keys", "lookup_vectors", "store_vectors"]


def embedding_keys(request: EmbeddingRequest, *, provider: str, model: str, scope: str = "") -> list[str]:
    """One key per text of ``request``: its provider, resolved model, settings and the text,
    within ``scope`` (the cache's: the client's endpoints' identity or a shared namespace, as
    for chat answers, so two tenants never read each other's entries)."""
    settings = json.dumps(
        {
            "provider": provider,
            "scope": scope,
            "model": model,
            "dimensions": request.dimensions,
            "input_type": request.input_type,
            "extra": request.extra,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=repr,
    ).encode("utf-8")
    keys = []
    for text in request.input:
        h = hashlib.sha256(settings)
        h.update(b"\x00")
        h.update(text.encode("utf-8"))
        keys.append(f"{KEY_PREFIX}embed:{h.hexdigest()}")
    return keys


def lookup_vectors(cache: ResponseCache, keys: Sequence[str], *, provider: str) -> list[Optional[tuple[bytes, str, str]]]:
    """Per key, ``(float32 bytes, model, provider)`` of its entry, or None (a miss, or the backend failing)."""
    tags = {"provider": provider}
    out: list[Optional[tuple[bytes, str, str]]] = []
    for key in keys:
        value = None
        if cache._usable(tags):
            try:
                value = cache.backend.get(key)
            except Exception as exc:  # a failing backend is a miss (ResponseCache's rules)
                cache._failed("get", exc, tags)
        entry = _decode(value) if value is not None else None
        cache.metrics.incr_counter("cache.hit" if entry is not None else "cache.miss", tags=tags)
        out.append(entry)
    return out


def store_vectors(cache: ResponseCache, keys: Sequence[str], rows: Sequence[bytes], *, model: str, provider: str) -> None:
    """Store each row (float32 bytes) under its key."""
    head = json.dumps({"v": 1, "model": model, "provider": provider}, separators=(",", ":")).encode("utf-8") + b"\n"
    for key, row in zip(keys, rows):
        cache._set(key, head + row, provider)


def _decode(value: Any) -> Optional[tuple[bytes, str, str]]:
    try:
        head, _, row = bytes(value).partition(b"\n")
        meta = json.loads(head)
        if meta.get("v") != 1 or len(row) % 4:
            return None
        return row, str(meta["model"]), str(meta["provider"])
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
