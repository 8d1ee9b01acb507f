"""Recorded provider traffic served back byte for byte by a raw-socket HTTP/1.1 server.

``load(fmt, name)`` reads a recording under ``tests/fixtures/<fmt>/replay/`` (each with a
``.source`` naming where it was recorded) and returns what a server sends: the body bytes, and
the response headers. ``ReplayServer`` serves it on 127.0.0.1 to every request: a stream as
chunked transfer encoding in ``chunk_size``-byte pieces (7 by default, so events, lines and
UTF-8 characters are split across reads), a body with ``Content-Length``.

Recordings come in three forms:

* the SSE body as served (openai-python's ``.inline-snapshot/external/*.bin``, anthropic-sdk-python's
  streaming fixtures): sent unchanged;
* one recorded event per line (vercel/ai's ``*.chunks.txt``): each line is sent unchanged, framed
  as its format's SSE event (``data: LINE``; Anthropic and Cohere also name the event's ``type``
  in an ``event:`` line, as their APIs do, and so does the OpenAI Responses API; OpenAI-compatible streams end with ``data: [DONE]``,
  which vercel/ai adds the same way when it replays them), bodies (``*.json``) unchanged;
* anthropic-sdk-python's recorded request/response pairs (``runner_*.json``): the first response's
  recorded headers and body (a stream body is the recorded string; a JSON body, which the SDK
  stored decoded, is re-serialised).

Response headers: the recorded ones when the recording has them; otherwise (and for a request id,
which no recording kept) the ones in ``_NOT_RECORDED`` below, which are realistic names with
made-up values, not recorded.
"""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path
from typing import Any, NamedTuple, Optional

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

# Headers a recording did not keep, served so that `.headers` and `.request_id` can be checked:
# the names each provider documents, made-up values (NOT recorded).
_NOT_RECORDED: dict[str, tuple[tuple[str, str], ...]] = {
    "openai": (
        ("x-request-id", "req_replay0000000000000000000001"),
        ("x-ratelimit-limit-requests", "10000"),
        ("x-ratelimit-remaining-requests", "9999"),
        ("x-ratelimit-reset-requests", "6ms"),
        ("x-ratelimit-remaining-tokens", "149984"),
        ("openai-processing-ms", "317"),
    ),
    "openai_responses": (("x-request-id", "req_replay0000000000000000000005"), ("openai-processing-ms", "421")),
    "anthropic": (
        ("request-id", "req_replay0000000000000000000002"),
        ("anthropic-ratelimit-requests-limit", "50"),
        ("anthropic-ratelimit-requests-remaining", "49"),
    ),
    "gemini": (("x-goog-request-id", "replay-0000000000000003"), ("server-timing", "gfet4t7; dur=812")),
    "cohere": (("x-request-id", "replay-0000000000000004"), ("x-debug-trace-id", "0000000000000000000000000000abcd")),
}
_CONTENT_TYPE = {True: "text/event-stream; charset=utf-8", False: "application/json"}
# Hop-by-hop and framing headers of the recording: this server sets its own.
_FRAMING = frozenset({"content-length", "transfer-encoding", "connection", "content-encoding", "keep-alive"})


class Recording(NamedTuple):
    """What the server sends for one recording."""

    fmt: str
    body: bytes  # byte for byte what goes on the wire (before chunked framing)
    stream: bool
    headers: tuple[tuple[str, str], ...]
    recorded_headers: tuple[tuple[str, str], ...]  # the subset the recording itself holds


def _frame_lines(fmt: str, text: str) -> bytes:
    """vercel/ai's one-event-per-line recordings as the SSE body the API sends."""
    out = []
    for line in text.split("\n"):
        if not line.strip():
            continue
        if fmt in ("anthropic", "cohere", "openai_responses"):
            out.append(f"event: {json.loads(line)['type']}\ndata: {line}\n\n")
        else:
            out.append(f"data: {line}\n\n")
    if fmt == "openai" and not any(x.startswith("data: [DONE]") for x in out):
        out.append("data: [DONE]\n\n")
    return "".join(out).encode("utf-8")


def load(fmt: str, name: str) -> Recording:
    """The recording ``tests/fixtures/<fmt>/replay/<name>`` as a server sends it."""
    path = FIXTURES / fmt / "replay" / name
    assert (path.parent / (name + ".source")).exists(), f"{name} has no .source"
    raw = path.read_bytes()
    recorded: tuple[tuple[str, str], ...] = ()
    if name.startswith("runner_"):
        pair = json.loads(raw)[0]["response"]
        body = pair["body"]
        stream = isinstance(body, str)
        data = body.encode("utf-8") if stream else json.dumps(body).encode("utf-8")
        recorded = tuple((k, v) for k, v in pair["headers"].items() if k.lower() not in _FRAMING)
    elif name.endswith(".chunks.txt"):
        data, stream = _frame_lines(fmt, raw.decode("utf-8")), True
    else:
        data, stream = raw, not name.endswith(".json")
    names = {k.lower() for k, _ in recorded}
    extra = [(k, v) for k, v in _NOT_RECORDED[fmt] if k not in names]
    if "content-type" not in names:
        extra.insert(0, ("content-type", _CONTENT_TYPE[stream]))
    return Recording(fmt, data, stream, recorded + tuple(extra), recorded)


def sse_payloads(rec: Recording) -> list[Any]:
    """Each SSE event's ``data`` decoded with ``json.loads`` (``[DONE]`` and blanks left out):
    the test's own reading of the recording, independent of ailib's parser."""
    out = []
    for block in rec.body.decode("utf-8").replace("\r\n", "\n").split("\n\n"):
        data = "\n".join(line[5:].lstrip(" ") if line.startswith("data:") else "" for line in block.split("\n") if line.startswith("data:"))
        if data and data != "[DONE]":
            out.append(json.loads(data))
    return out


class ReplayServer:
    """A raw-socket HTTP/1.1 server on 127.0.0.1 answering every request with one recording.

    Keeps connections alive; ``.requests`` holds each request's (method, target, headers, body).
    """

    def __init__(self, rec: Recording, *, chunk_size: int = 7) -> None:
        self.rec = rec
        self.chunk_size = chunk_size
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(8)
        self._sock.settimeout(0.2)
        self._stop = threading.Event()
        self._conns: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, name="replay-server", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def __enter__(self) -> ReplayServer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for c in self._conns:
            c.close()
        self._sock.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.settimeout(10)
        buf = b""
        try:
            while True:
                request, buf = _read_request(conn, buf)
                if request is None:
                    return
                self.requests.append(request)
                self._respond(conn)
        except OSError:
            return
        finally:
            conn.close()

    def _respond(self, conn: socket.socket) -> None:
        rec = self.rec
        head = ["HTTP/1.1 200 OK", *(f"{k}: {v}" for k, v in rec.headers)]
        if rec.stream:
            head.append("transfer-encoding: chunked")
        else:
            head.append(f"content-length: {len(rec.body)}")
        conn.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        if not rec.stream:
            conn.sendall(rec.body)
            return
        for at in range(0, len(rec.body), self.chunk_size):
            piece = rec.body[at : at + self.chunk_size]
            conn.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
        conn.sendall(b"0\r\n\r\n")


def _read_request(conn: socket.socket, buf: bytes) -> tuple[Optional[tuple[str, str, dict[str, str], bytes]], bytes]:
    while b"\r\n\r\n" not in buf:
        more = conn.recv(65536)
        if not more:
            return None, b""
        buf += more
    head, buf = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:] if ":" in line)}
    length = int(headers.get("content-length", "0"))
    while len(buf) < length:
        more = conn.recv(65536)
        if not more:
            return None, b""
        buf += more
    return (method, target, headers, buf[:length]), buf[length:]
