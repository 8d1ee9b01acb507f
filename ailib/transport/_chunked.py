"""Reading a chunked stream in bulk: whatever the socket has, many chunks per read.

``http.client`` returns at most one chunk per ``read1``, and an SSE stream sends one chunk
per event, so a 201-event stream would cost 201 trips through urllib3 and http.client.
This reader takes what the response's own file holds (``read1`` of the ``ResponseFile``
our connection made: at most one ``recv``, bounded like every other read) and strips the
chunk framing of all of it at once. Bytes of a chunk not complete yet are returned as
they arrive, so a stream is never held back. At the body's end the http.client response
is closed (its public ``close()``), which tells the connection the response has ended.

Used only where it is exact: a chunked response without content encoding, made by our
own connection class, before any of its body was read.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from urllib3 import exceptions as u3

from ._reader import ResponseFile

__all__ = ["bulk_chunked_reader", "ChunkedBody"]

_MAX_SIZE_LINE = 1024
_MAX_TRAILERS = 65536
_DATA_END = -2  # expecting the CRLF after a chunk's data
_TRAILERS = -1  # after the last chunk: trailer lines up to an empty one


def bulk_chunked_reader(raw: Any, handle: Any) -> Optional[ChunkedBody]:
    """A reader of ``raw``'s body in bulk, or None when the fast path does not apply."""
    response = handle.response
    if response is None or not getattr(raw, "chunked", False):
        return None
    if not isinstance(response.fp, ResponseFile) or response.chunk_left is not None or not response.chunked:
        return None
    if raw.headers.get("content-encoding", "identity").strip().lower() not in ("", "identity"):
        return None
    return ChunkedBody(response.fp, response.close)


class ChunkedBody:
    """``read()``: the next decoded body bytes, ``b""`` at the end. ``clean``: whether the
    body ended exactly where the connection's next response would start."""

    __slots__ = ("_file", "_end", "_buf", "_left", "_trailers", "done", "clean")

    def __init__(self, file: ResponseFile, end: Callable[[], None]) -> None:
        self._file = file
        self._end = end  # closes the http.client response: the body is over
        self._buf = b""
        self._left = 0  # bytes of the current chunk still to come, or _DATA_END, or _TRAILERS
        self._trailers = 0
        self.done = False
        self.clean = False

    def read(self) -> bytes:
        while not self.done:
            data = self._file.read1(65536)
            if not data:
                raise u3.ProtocolError("Response ended prematurely (in a chunked body)")
            out = self._parse(self._buf + data if self._buf else data)
            if out:
                return out
        return b""

    def _parse(self, buf: bytes) -> bytes:
        out: list[bytes] = []
        pos, end = 0, len(buf)
        left = self._left
        while pos < end:
            if left > 0:  # inside a chunk's data
                take = min(left, end - pos)
                out.append(buf[pos : pos + take])
                pos += take
                left -= take
                if left:
                    break
                left = _DATA_END
            if left == _DATA_END:
                if end - pos < 2:
                    break
                if buf[pos : pos + 2] != b"\r\n":
                    raise u3.ProtocolError("malformed chunked encoding (no CRLF after a chunk)")
                pos += 2
                left = 0
                continue
            eol = buf.find(b"\n", pos)  # a size line, or a trailer line (CRLF or a bare LF, as http.client reads them)
            if eol < 0:
                if end - pos > (_MAX_TRAILERS if left == _TRAILERS else _MAX_SIZE_LINE):
                    raise u3.ProtocolError("chunk size line or trailers too long")
                break
            line = buf[pos:eol]
            pos = eol + 1
            if left == _TRAILERS:
                self._trailers += len(line) + 1
                if self._trailers > _MAX_TRAILERS:
                    raise u3.ProtocolError("chunked trailers too long")
                if line in (b"", b"\r"):  # the empty line: the body is over
                    self._finish(extra=pos < end)
                    break
                continue
            size_text = line.split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise u3.ProtocolError(f"invalid chunk length {size_text[:40]!r}") from None
            if size < 0:
                raise u3.ProtocolError("negative chunk size")
            left = size if size else _TRAILERS
        self._left = left
        self._buf = b"" if self.done else buf[pos:]
        return b"".join(out)

    def _finish(self, *, extra: bool) -> None:
        self.done = True
        self.clean = not extra  # bytes after the body: the connection is out of step
        self._end()
