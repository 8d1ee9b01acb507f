"""An incremental Server-Sent Events parser (the WHATWG event-stream rules)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Optional

from ._value import value

if TYPE_CHECKING:
    import codecs

__all__ = ["SseEvent", "SseParser"]


@value
class SseEvent:
    """One server-sent event."""

    event: str = "message"
    data: str = ""
    id: Optional[str] = None


class SseParser:
    """Feed bytes as they arrive; get complete events back.

    Handles ``\\n``, ``\\r\\n`` and ``\\r`` line ends (also split across reads), multi-line
    ``data:``, comments (``:`` lines), a leading BOM and fields without a space.
    Only those three are line ends: U+2028, U+0085 and other characters Python's
    ``str.splitlines`` breaks on are data (JSON may carry them unescaped).
    Undecodable bytes are replaced, never raised: the wire format decides what is garbage.
    Work is linear in the input however it is split: an incomplete line is kept as a list
    of pieces and joined once, when its line end arrives.
    """

    def __init__(self) -> None:
        self._parts: list[str] = []  # the incomplete last line, in pieces
        self._partial = 0  # characters in _parts
        self._data: list[str] = []
        self._data_size = 0  # characters in _data
        self._event = ""
        self._id: Optional[str] = None
        self._started = False
        self._pending_cr = False
        self._decoder = _utf8_decoder()

    def feed(self, chunk: bytes) -> list[SseEvent]:
        text = self._decoder.decode(chunk)
        if not text:
            return []
        if not self._started:
            self._started = True
            if text.startswith("\ufeff"):
                text = text[1:]
        if self._pending_cr:
            self._pending_cr = False
            if text.startswith("\n"):
                text = text[1:]  # the "\n" of a "\r\n" split across reads
        end = max(text.rfind("\n"), text.rfind("\r"))
        if end < 0:
            if text:
                self._parts.append(text)
                self._partial += len(text)
            return []
        head = text[: end + 1]
        if self._parts:
            head = "".join(self._parts) + head
        rest = text[end + 1 :]
        self._parts = [rest] if rest else []
        self._partial = len(rest)
        self._pending_cr = head.endswith("\r")
        events: list[SseEvent] = []
        lines = head.split("\n") if "\r" not in head else _LINE_END.split(head)
        data = self._data
        for line in lines[:-1]:  # head ends with a line end: the last piece is ""
            if line[:5] == "data:":  # the common line, inline: no call per line
                value = line[6:] if line[5:6] == " " else line[5:]
                data.append(value)
                self._data_size += len(value) + 1
                continue
            if not line:  # dispatch, inline
                if data or self._event:
                    events.append(SseEvent(self._event or "message", "\n".join(data), self._id))
                    data = self._data = []
                    self._data_size = 0
                    self._event = ""
                continue
            event = self._line(line)
            if event is not None:
                events.append(event)
            data = self._data  # a dispatched event starts a new list
        return events

    def flush(self) -> list[SseEvent]:
        """End of stream: a last line without a line end is processed; an unterminated event is dropped."""
        tail = "".join(self._parts)
        self._parts, self._partial = [], 0
        if tail:
            self._line(tail)
        return []

    @property
    def has_partial_event(self) -> bool:
        return bool(self._data or self._parts)

    @property
    def pending_size(self) -> int:
        """Characters held for the event not yet complete (its data lines and the current line)."""
        return self._data_size + self._partial

    def _line(self, line: str) -> Optional[SseEvent]:
        if not line:
            if not self._data and not self._event:
                return None
            event = SseEvent(self._event or "message", "\n".join(self._data), self._id)
            self._data = []
            self._data_size = 0
            self._event = ""
            return event
        if line.startswith(":"):
            return None
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
            self._data_size += len(value) + 1
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self._id = value
        return None


_LINE_END = re.compile(r"\r\n|\r|\n")


def _utf8_decoder() -> codecs.IncrementalDecoder:
    import codecs

    return codecs.getincrementaldecoder("utf-8")(errors="replace")
