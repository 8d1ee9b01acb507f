"""Reading a chunked body in bulk: whatever the socket has, many chunks per read.

``http.client`` returns at most one chunk per ``read1``, and an SSE stream sends one chunk
per event, so a 201-event stream costs 201 trips through urllib3 and http.client. This
reader takes what the socket's buffer holds (``read1`` of the buffered socket file: one
``recv``) and strips the chunk framing of everything in it at once. Bytes of a chunk not
complete yet are returned as they arrive, so a stream is never held back.

Used only where it is exact: a chunked response without content encoding, read from a
real connection (not a mocking library's in-memory body), before any of its body was
read. At the end the http.client response is closed the way it closes itself, so the
connection goes back to the pool ready for its next request.
"""

from __future__ import annotations

import http.client
from typing import Any, Callable, Optional

from urllib3 import exceptions as u3

from ._head import HeadResponse

__all__ = ["bulk_chunked_reader"]

_MAX_SIZE_LINE = 1024
_CONNECTION_RESPONSES = (HeadResponse, http.client.HTTPResponse)  # ours, and a user adapter's connections


def bulk_chunked_reader(resp: Any) -> Optional[Callable[[], bytes]]:
    """A ``read()`` returning the next decoded body bytes (``b""`` at the end), or None when
    the fast path does not apply to ``resp``."""
    fp: Any = getattr(resp, "_fp", None)
    if not getattr(resp, "chunked", False) or type(fp) not in _CONNECTION_RESPONSES:
        return None
    if fp.chunk_left is not None or fp.fp is None or len(resp._decoded_buffer):
        return None
    encoding = resp.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        return None
    return _Reader(fp).read


class _Reader:
    __slots__ = ("_resp", "_file", "_buf", "_left", "_done")

    def __init__(self, resp: http.client.HTTPResponse) -> None:
        self._resp = resp
        self._file = resp.fp  # the buffered socket file
        self._buf = b""
        self._left = 0  # bytes of the current chunk still to come (then its CRLF)
        self._done = False

    def read(self) -> bytes:
        while not self._done:
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
                left = -2  # then its CRLF
            if left == -2:
                if end - pos < 2:
                    break
                if buf[pos : pos + 2] != b"\r\n":
                    raise u3.ProtocolError("malformed chunked encoding (no CRLF after a chunk)")
                pos += 2
                left = 0
                continue
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                if end - pos > _MAX_SIZE_LINE:
                    raise u3.ProtocolError("chunk size line too long")
                break
            size_text = buf[pos:eol].split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise u3.ProtocolError(f"invalid chunk length {size_text[:40]!r}") from None
            if size < 0:
                raise u3.ProtocolError("negative chunk size")
            if size == 0:  # the last chunk, then optional trailers up to an empty line
                if buf.startswith(b"\r\n", eol + 2) or buf.find(b"\r\n\r\n", eol) >= 0:
                    self._finish()
                break  # else wait for the rest of the trailers
            pos = eol + 2
            left = size
        self._left = left
        self._buf = b"" if self._done else buf[pos:]
        return b"".join(out)

    def _finish(self) -> None:
        """The body is complete: close the http.client response as it closes itself."""
        self._done = True
        self._resp.chunk_left = None
        self._resp._close_conn()  # type: ignore[attr-defined]
