"""A call's tags (``ChatCompletionRequest.tags``, merged with ``with_options(tags=...)``) as
labels on its metrics and as the ``extra`` of its log lines. Never sent, never in a cache key.

A metrics backend says which tags it takes with a ``request_tags`` attribute (a set of tag
names; ``PrometheusMetrics`` takes only those named by its ``tags=``); one without it
takes every tag.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional

__all__ = ["merge_tags", "labels", "log_extra", "tag_filter"]

_EMPTY: Mapping[str, str] = {}


def merge_tags(defaults: Optional[Mapping[str, str]], request: Any) -> Any:
    """``request`` with ``defaults`` (a view's tags) under its own tags (the request's win)."""
    if not defaults:
        return request
    import attrs

    own = request.tags
    merged = {**defaults, **own} if own else dict(defaults)
    if own == merged:
        return request
    return attrs.evolve(request, tags=merged)


def tag_filter(metrics: Any) -> Optional[frozenset[str]]:
    """The tag names ``metrics`` takes, or None for every tag."""
    allowed = getattr(metrics, "request_tags", None)
    return None if allowed is None else frozenset(allowed)


def labels(request: Any, base: dict[str, str], allowed: Optional[frozenset[str]]) -> dict[str, str]:
    """``base`` (ailib's own tags) with the request's tags that the backend takes."""
    tags = _tags_of(request)
    if not tags:
        return base
    if allowed is None:
        return {**tags, **base}
    return {**{k: v for k, v in tags.items() if k in allowed}, **base}


def log_extra(request: Any) -> dict[str, Any]:
    """The ``extra`` of a call's log line: ``{"ailib_tags": {...}}`` (empty without tags)."""
    tags = _tags_of(request)
    return {"ailib_tags": dict(tags) if tags else {}}


def _tags_of(request: Any) -> Optional[Mapping[str, str]]:
    """A call's tags; None for a call without (no request, or an embedding request, which takes none)."""
    return getattr(request, "tags", None)
