"""Chunked bodies as http.client reads them for us: exact however the bytes arrive, reuse after the end, errors."""

from __future__ import annotations

import socket
import time
from typing import Any, Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from ailib.errors import AiLibError
from ailib.transport import AttemptHandle, Deadlines, HttpRequest, SocketTransport

from ._server import RawServer
from ._support import Listener, client_for, read_head, request


class _ChunkedServer(Listener):
    """Answers each request on a kept-alive connection with ``head + pieces`` (a chunked
    body), each piece its own send; closes the connection after ``close_after`` answers."""

    def __init__(self, pieces: list[bytes], close_after: int = 100) -> None:
        self.pieces = pieces
        self.close_after = close_after
        self.connections = 0
        super().__init__()

    def serve(self, sock: socket.socket) -> None:
        self.connections += 1
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with sock:
            buf = b""
            for _ in range(self.close_after):
                got = read_head(sock, buf)
                if got is None:
                    return
                buf = got[1]
                sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n")
                for piece in self.pieces:
                    sock.sendall(piece)


def _encode(chunks: list[bytes], trailers: bytes = b"") -> bytes:
    return (
        b"".join(b"%x;ext=1\r\n%s\r\n" % (len(c), c) if i % 2 else b"%X\r\n%s\r\n" % (len(c), c) for i, c in enumerate(chunks))
        + b"0\r\n"
        + trailers
        + b"\r\n"
    )


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    pieces, pos = [], 0
    for cut in cuts:
        if pos >= len(data):
            break
        pieces.append(data[pos : pos + cut])
        pos += cut
    return [*pieces, data[pos:]] if pos < len(data) else pieces


def _responses(server: _ChunkedServer, count: int, read: Callable[[Any], Any]) -> list[Any]:
    """``count`` responses, each read by ``read(stream)`` and closed, one after another on one transport (GET)."""
    transport = SocketTransport()
    try:
        out = []
        for _ in range(count):
            dl = Deadlines(5.0, 5.0, 5.0, time.monotonic() + 10.0)
            stream = transport.send(HttpRequest("GET", server.base_url + "/x", {}, None, stream=True), dl, AttemptHandle())
            try:
                out.append(read(stream))
            finally:
                stream.close()
        return out
    finally:
        transport.close()


def _bodies(server: _ChunkedServer, count: int) -> list[bytes]:
    """Responses read whole (http.client's own chunked reading)."""
    return _responses(server, count, lambda stream: stream.read_all())


def _events(server: _ChunkedServer, count: int) -> list[list[str]]:
    """Responses read as SSE streams (the bulk chunked reader)."""
    return _responses(server, count, lambda stream: [e.data for e in stream.events()])


@settings(max_examples=40, deadline=None)
@given(
    chunks=st.lists(st.binary(min_size=1, max_size=40), max_size=12),
    cuts=st.lists(st.integers(1, 30), max_size=20),
    trailers=st.sampled_from([b"", b"X-T: 1\r\n", b"X-T: 1\n"]),
)
def test_the_body_is_exact_however_the_bytes_are_split(chunks, cuts, trailers):
    """Any chunked body (extensions, trailers ending in CRLF or a bare LF), sent in any pieces,
    reads back exactly, twice on one kept-alive connection."""
    data = _encode(chunks, trailers)
    server = _ChunkedServer(_split(data, cuts))
    try:
        assert _bodies(server, 2) == [b"".join(chunks)] * 2
        assert server.connections == 1
    finally:
        server.close()


@settings(max_examples=40, deadline=None)
@given(
    texts=st.lists(st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), max_size=30), min_size=1, max_size=10),
    chunk_cuts=st.lists(st.integers(1, 25), max_size=20),
    cuts=st.lists(st.integers(1, 30), max_size=20),
    trailers=st.sampled_from([b"", b"X-T: 1\r\n", b"X-T: 1\n"]),
)
def test_a_chunked_event_stream_is_exact_however_chunks_and_bytes_are_split(texts, chunk_cuts, cuts, trailers):
    """SSE events in a chunked body (chunk boundaries anywhere, extensions, trailers ending in CRLF
    or a bare LF), sent in any pieces, come out exactly (the bulk reader), twice on one connection."""
    body = b"".join(b"data: " + t.encode() + b"\n\n" for t in texts)
    data = _encode(_split(body, chunk_cuts), trailers)
    server = _ChunkedServer(_split(data, cuts))
    try:
        assert _events(server, 2) == [texts, texts]
        assert server.connections == 1
    finally:
        server.close()


def test_bytes_after_a_chunked_stream_close_its_connection():
    """A chunked stream followed by bytes it did not frame: the events are whole, and the connection is not reused."""
    server = _ChunkedServer([_encode([b"data: a\n\n"]) + b"HTTP/1.1 200 OK\r\n"])
    try:
        assert _events(server, 2) == [["a"], ["a"]]
        assert server.connections == 2
    finally:
        server.close()


def test_a_body_cut_before_its_last_chunk_is_an_error():
    """A chunked body whose connection closes before the last chunk is a classified error, not a short body."""
    server = _ChunkedServer([b"5\r\nhello\r\n"], close_after=1)
    try:
        try:
            _bodies(server, 1)
            raise AssertionError("a cut body was returned as whole")
        except AiLibError as err:
            assert "broken" in str(err) or "chunk" in str(err).lower()
    finally:
        server.close()


def test_a_bad_chunk_size_is_an_error():
    """A chunk size that is not hex is a classified error."""
    server = _ChunkedServer([b"zz\r\nhello\r\n0\r\n\r\n"], close_after=1)
    try:
        try:
            _bodies(server, 1)
            raise AssertionError("a bad chunk size was accepted")
        except AiLibError:
            pass
    finally:
        server.close()


def test_a_chunked_keep_alive_stream_leaves_its_connection_reusable():
    """After a chunked SSE stream read to its end, the next call reuses the same connection."""
    with RawServer("chunked") as server, client_for(server.base_url) as client:
        with client.chat_completion_stream(request("x" * 500)) as stream:
            text = "".join(c.delta_text or "" for c in stream)
        assert text == "echo:" + "x" * 500
        assert client.chat_completion(request("next")).text == "echo:next"
        assert len(server.connections) == 1
