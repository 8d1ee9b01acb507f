"""Recorded wire fixtures fed through a format's stream decoder, for the decoder tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ailib._sse import SseEvent, SseParser
from ailib.types import StreamChunk

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def events(fmt: str, name: str) -> list[SseEvent]:
    """The SSE events of ``tests/fixtures/<fmt>/<name>.txt``."""
    parser = SseParser()
    return parser.feed((FIXTURES / fmt / f"{name}.txt").read_bytes()) + parser.flush()


def feed(wire: Any, fmt: str, name: str) -> tuple[list[StreamChunk], Any]:
    """Every chunk ``wire``'s stream decoder makes of that recording, and the decoder after ``finish()``."""
    decoder = wire.stream_decoder(provider=fmt, model="m")
    chunks = [c for e in events(fmt, name) for c in decoder.feed(e)]
    decoder.finish()
    return chunks, decoder
