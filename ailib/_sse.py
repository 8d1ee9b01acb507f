"""An incremental Server-Sent Events parser (the WHATWG event-stream rules)."""

from __future__ import annotations

from typing import Optional

import attrs

__all__ = ["SseEvent", "SseParser"]


@attrs.frozen(slots=True)
class SseEvent:
    event: str = "message"
    data: str = ""
    id: Optional[str] = None


class SseParser:
    """Feed bytes as they arrive; get complete events back.

    Handles ``\\n``, ``\\r\\n`` and ``\\r`` line ends (also split across reads), multi-line
    ``data:``, comments (``:`` lines), a leading BOM and fields without a space.
    Undecodable bytes are replaced, never raised: the wire format decides what is garbage.
    """

    def __init__(self) -> None:
        self._buf = ""
        self._data: list[str] = []
        self._event = ""
        self._id: Optional[str] = None
        self._started = False
        self._pending_cr = False
        self._decoder = _utf8_decoder()

    def feed(self, chunk: bytes) -> list[SseEvent]:
        text = self._decoder.decode(chunk)
        if not self._started and text:
            self._started = True
            if text.startswith("\ufeff"):
                text = text[1:]
        if self._pending_cr and text.startswith("\n"):
            text = text[1:]
        self._pending_cr = False
        buf = self._buf + text
        if not buf:
            return []
        events: list[SseEvent] = []
        lines = buf.splitlines(keepends=True)
        last = lines[-1]
        if last.endswith(("\n", "\r")):
            self._buf = ""
            if last.endswith("\r"):
                self._pending_cr = True  # a following "\n" belongs to this line end
        else:
            self._buf = lines.pop()
        for line in lines:
            event = self._line(line.rstrip("\r\n"))
            if event is not None:
                events.append(event)
        return events

    def flush(self) -> list[SseEvent]:
        """End of stream: a last line without a line end is processed; an unterminated event is dropped."""
        tail, self._buf = self._buf, ""
        if tail:
            self._line(tail)
        return []

    @property
    def has_partial_event(self) -> bool:
        return bool(self._data or self._buf)

    def _line(self, line: str) -> Optional[SseEvent]:
        if not line:
            if not self._data and not self._event:
                return None
            event = SseEvent(self._event or "message", "\n".join(self._data), self._id)
            self._data = []
            self._event = ""
            return event
        if line.startswith(":"):
            return None
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self._id = value
        return None


def _utf8_decoder():
    import codecs

    return codecs.getincrementaldecoder("utf-8")(errors="replace")
