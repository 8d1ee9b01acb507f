"""Gemini's grounding and citation metadata as ailib citations and server-tool parts.

A candidate's ``groundingMetadata`` (Google Search grounding, retrieval) lists its sources
(``groundingChunks``: ``web``/``retrievedContext``/``maps`` with ``uri`` and ``title``) and
which spans of the answer each supports (``groundingSupports``: ``segment`` with
``startIndex``/``endIndex``, ``groundingChunkIndices``); ``webSearchQueries`` are the searches
Gemini ran. ``citationMetadata.citationSources`` name sources the answer recites. Gemini
measures the offsets in UTF-8 bytes within the part ``segment.partIndex`` names (the whole
text when it names none): they become character offsets into the answer text here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Optional

from ..types import Citation, ServerToolPart

__all__ = ["grounding", "part_starts"]

_SOURCE_KINDS = ("web", "retrievedContext", "maps", "image")


def part_starts(parts: Sequence[Any]) -> dict[int, tuple[int, str]]:
    """Each answer text part's ``(character offset in the answer text, its text)``, by its index among ``parts``."""
    out: dict[int, tuple[int, str]] = {}
    at = 0
    for i, p in enumerate(parts):
        text = p.get("text") if isinstance(p, Mapping) else None
        if isinstance(text, str) and not p.get("thought"):
            out[i] = (at, text)
            at += len(text)
    return out


def _chars(text: str, byte_offset: Any) -> Optional[int]:
    """A UTF-8 byte offset into ``text`` as a character offset (None when there is none)."""
    if not isinstance(byte_offset, int) or isinstance(byte_offset, bool):
        return None
    return len(text.encode("utf-8")[: max(byte_offset, 0)].decode("utf-8", errors="ignore"))


def _span(segment: Mapping[str, Any], text: str, parts: Mapping[int, tuple[int, str]]) -> tuple[Optional[int], Optional[int]]:
    """``segment``'s ``(start, end)`` as character offsets into the answer ``text``."""
    index = segment.get("partIndex")
    base, within = parts.get(index, (0, text)) if isinstance(index, int) else (0, text)
    start = _chars(within, segment.get("startIndex", 0))
    end = _chars(within, segment.get("endIndex"))
    return (None if start is None else base + start), (None if end is None else base + end)


def _source(chunk: Any) -> Mapping[str, Any]:
    if isinstance(chunk, Mapping):
        for kind in _SOURCE_KINDS:
            found = chunk.get(kind)
            if isinstance(found, Mapping):
                return found
    return {}


def _opt(value: Any) -> Optional[str]:
    return None if value is None else str(value)


def grounding(
    candidate: Mapping[str, Any], text: str, parts: Mapping[int, tuple[int, str]]
) -> tuple[tuple[Citation, ...], tuple[ServerToolPart, ...]]:
    """A candidate's citations (one per source of each grounding support, then its citation
    sources) and its search as a server-tool part, against its answer ``text``."""
    cites: list[Citation] = []
    servers: list[ServerToolPart] = []
    meta = candidate.get("groundingMetadata")
    if isinstance(meta, Mapping):
        chunks = meta.get("groundingChunks") or []
        for support in meta.get("groundingSupports") or ():
            if not isinstance(support, Mapping):
                continue
            segment = support.get("segment") or {}
            start, end = _span(segment, text, parts)
            for ci in support.get("groundingChunkIndices") or ():
                source = _source(chunks[ci]) if isinstance(ci, int) and 0 <= ci < len(chunks) else {}
                cites.append(
                    Citation(
                        "gemini",
                        "grounding",
                        _opt(source.get("text")),
                        _opt(source.get("uri")),
                        _opt(source.get("title")),
                        start,
                        end,
                        ci if isinstance(ci, int) else None,
                        raw=support,
                    )
                )
        queries = meta.get("webSearchQueries")
        if queries or chunks:
            name = "google_search" if queries or any(isinstance(c, Mapping) and "web" in c for c in chunks) else "retrieval"
            servers.append(
                ServerToolPart("gemini", "grounding_metadata", None, name, {"queries": list(queries or ())}, meta, offset=len(text))
            )
    recited = candidate.get("citationMetadata")
    for source in (recited.get("citationSources") or ()) if isinstance(recited, Mapping) else ():
        if isinstance(source, Mapping):
            start, end = _span(source, text, {})
            cites.append(
                Citation("gemini", "citation_source", None, _opt(source.get("uri")), _opt(source.get("title")), start, end, raw=source)
            )
    return tuple(cites), tuple(servers)
