"""Helpers for transport tests: a client on a RawServer, one timed call, concurrent cells."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any, Callable, Optional

from ailib import AiClientBuilder, ChatCompletionRequest, ConnectionOptions, CustomProviderBuilder, Message
from ailib.errors import AiLibError, StreamInterruptedError, TimeoutError
from tests._timing import SLACK  # the suite's one slack factor (AILIB_TEST_SLACK)

__all__ = ["SLACK", "KEY", "client_for", "request", "timed_call", "is_timeout", "run_cells", "read_head", "content_length", "Listener"]

KEY = "sk-raw-0123456789"


def request(text: str = "hi") -> ChatCompletionRequest:
    return ChatCompletionRequest("m", [Message.user(text)])


def client_for(base_url: str, *, ca: Optional[str] = None, deadline: Optional[float] = None, retry: Any = True, **options: Any):
    """A client of one custom OpenAI-format provider at ``base_url``; ``retry``: True (the
    default policy), False (none) or a ``RetryPolicy``."""
    provider = CustomProviderBuilder("raw").with_base_url(base_url).with_api_key(KEY).build_provider()
    builder = AiClientBuilder(provider).with_options(ConnectionOptions(verify=ca or True, **options))
    if deadline is not None:
        builder = builder.with_deadline(deadline)
    if retry is False:
        builder = builder.without_retry()
    elif retry is not True:
        builder = builder.with_retry(retry)
    return builder.build()


def timed_call(client: Any, stream: bool, text: str = "hi") -> tuple[float, Optional[AiLibError], str]:
    """(seconds, the error or None, the text received) of one call, streamed or not."""
    start = time.monotonic()
    got = ""
    try:
        if stream:
            with client.chat_completion_stream(request(text)) as s:
                for chunk in s:
                    got += chunk.delta_text or ""
        else:
            got = client.chat_completion(request(text)).text
    except AiLibError as err:
        return time.monotonic() - start, err, got
    return time.monotonic() - start, None, got


def is_timeout(err: Optional[AiLibError]) -> bool:
    """A timeout, or a stream interrupted by one after it had delivered content."""
    if isinstance(err, StreamInterruptedError):
        err = err.cause
    return isinstance(err, TimeoutError)


def run_cells(cells: dict[str, Callable[[], Any]]) -> dict[str, Any]:
    """Run every cell in its own thread at once; their results by name (an exception is a result)."""
    results: dict[str, Any] = {}

    def run(name: str, fn: Callable[[], Any]) -> None:
        try:
            results[name] = fn()
        except BaseException as exc:  # reported by the test, not lost in the thread
            results[name] = exc

    threads = [threading.Thread(target=run, args=item, daemon=True) for item in cells.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for name in cells:
        results.setdefault(name, "hung")
    return results


def read_head(sock: Any, buf: bytes) -> Optional[tuple[bytes, bytes]]:
    """For a raw test server: (the next request head on ``sock``, the bytes read after it),
    where ``buf`` holds what was read already; None if the client closed first."""
    while b"\r\n\r\n" not in buf:
        data = sock.recv(65536)
        if not data:
            return None
        buf += data
    head, _, rest = buf.partition(b"\r\n\r\n")
    return head, rest


def content_length(head: bytes) -> int:
    """The Content-Length of a request head."""
    return int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])


class Listener:
    """A raw test server on 127.0.0.1: accepts connections on one thread and hands each to
    ``serve`` (the next one waits until it returns; ``threaded``: each on a thread of its
    own). Subclasses set their own state before calling ``__init__``, which starts the thread."""

    threaded = False

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.port = self._listener.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            if self.threaded:
                threading.Thread(target=self.serve, args=(sock,), daemon=True).start()
            else:
                self.serve(sock)

    def serve(self, sock: socket.socket) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self._listener.close()
