"""The bulk chunked reader: exact bodies however the bytes arrive, reuse after the end, errors."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from urllib3 import exceptions as u3

from ailib.transport._chunked import _Reader

from ._server import RawServer
from ._support import client_for, request


class _Drip(io.RawIOBase):
    """A raw stream returning the given pieces one per read (as recv would)."""

    def __init__(self, pieces: list[bytes]) -> None:
        self._pieces = list(pieces)

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[no-untyped-def]
        if not self._pieces:
            return 0
        piece = self._pieces.pop(0)
        b[: len(piece)] = piece
        return len(piece)


class _FakeResponse:
    def __init__(self, pieces: list[bytes]) -> None:
        self.fp = io.BufferedReader(_Drip(pieces))
        self.chunk_left = None
        self.closed_conn = False

    def _close_conn(self) -> None:
        self.closed_conn = True
        self.fp = None


def _read_all(pieces: list[bytes]) -> tuple[bytes, _FakeResponse]:
    resp = _FakeResponse(pieces)
    reader = _Reader(resp)  # type: ignore[arg-type]
    out = []
    while True:
        data = reader.read()
        if not data:
            return b"".join(out), resp
        out.append(data)


def _encode(chunks: list[bytes], trailers: bytes = b"") -> bytes:
    return (
        b"".join(b"%x;ext=1\r\n%s\r\n" % (len(c), c) if i % 2 else b"%X\r\n%s\r\n" % (len(c), c) for i, c in enumerate(chunks))
        + b"0\r\n"
        + trailers
        + b"\r\n"
    )


@settings(max_examples=200, deadline=None)
@given(
    chunks=st.lists(st.binary(min_size=1, max_size=40), max_size=12),
    cuts=st.lists(st.integers(1, 30), max_size=40),
    trailers=st.sampled_from([b"", b"X-T: 1\r\n"]),
)
def test_the_body_is_exact_however_the_bytes_are_split(chunks, cuts, trailers):
    """Any chunking, extensions and trailers, cut into any reads: the decoded body is exact and the response is closed at its end."""
    wire = _encode(chunks, trailers)
    pieces, pos = [], 0
    for cut in cuts:
        if pos >= len(wire):
            break
        pieces.append(wire[pos : pos + cut])
        pos += cut
    if pos < len(wire):
        pieces.append(wire[pos:])
    body, resp = _read_all(pieces)
    assert body == b"".join(chunks)
    assert resp.closed_conn


def test_a_body_cut_before_its_last_chunk_is_an_error():
    """EOF inside a chunked body raises a urllib3 ProtocolError (classified as a broken connection)."""
    with pytest.raises(u3.ProtocolError):
        _read_all([b"5\r\nhel"])


def test_a_bad_chunk_size_is_an_error():
    """A chunk size that is not hex raises a urllib3 ProtocolError."""
    with pytest.raises(u3.ProtocolError):
        _read_all([b"zz\r\nhello\r\n0\r\n\r\n"])


def test_a_chunked_keep_alive_stream_read_in_bulk_leaves_its_connection_reusable():
    """After a chunked SSE stream read to its end, the next call reuses the same connection."""
    with RawServer("chunked") as server, client_for(server.base_url) as client:
        with client.chat_completion_stream(request("x" * 500)) as stream:
            text = "".join(c.delta_text or "" for c in stream)
        assert text == "echo:" + "x" * 500
        assert client.chat_completion(request("next")).text == "echo:next"
        assert len(server.connections) == 1


def test_a_chunked_stream_from_the_transports_own_connections_is_read_in_bulk():
    """The responses of the socket transport's own connections qualify for the bulk reader (a
    chunked SSE stream is not read one chunk per read)."""
    import time

    from ailib.transport import AttemptHandle, Deadlines, HttpRequest, SocketTransport
    from ailib.transport._chunked import bulk_chunked_reader

    with RawServer("chunked") as server:
        transport = SocketTransport()
        try:
            body = b'{"model": "m", "stream": true, "messages": [{"role": "user", "content": "hi"}]}'
            req = HttpRequest("POST", server.base_url + "/chat/completions", {"Content-Type": "application/json"}, body, stream=True)
            stream = transport.send(req, Deadlines(5.0, 5.0, 5.0, time.monotonic() + 5.0), AttemptHandle())
            try:
                assert bulk_chunked_reader(stream._resp) is not None
            finally:
                stream.close()
        finally:
            transport.close()
