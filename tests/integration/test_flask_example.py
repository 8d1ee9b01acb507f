"""examples/flask_app.py: one AiClient shared by a threaded Flask server's request threads."""

from __future__ import annotations

import importlib.util
import sys
import threading
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import requests
from werkzeug.serving import WSGIRequestHandler, make_server

from ailib import AiClientBuilder
from ailib.testing import MockProvider

from ..conftest import FAST_RETRY

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
THREADS = 16
PER_THREAD = 10


def _load_example() -> ModuleType:
    sys.path.insert(0, str(EXAMPLES))  # the example imports its sibling _common
    try:
        spec = importlib.util.spec_from_file_location("flask_app_example", EXAMPLES / "flask_app.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(EXAMPLES))


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


@pytest.fixture
def served() -> Iterator[tuple[str, Any, MockProvider, Any]]:
    """The example app on a loopback port (a thread per request), over a MockProvider."""
    example = _load_example()
    with MockProvider(script=example.make_echo_script(), latency=0.01) as mock:
        client = AiClientBuilder(mock.provider()).with_retry(FAST_RETRY).build()
        app = example.create_app(client)
        server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_Quiet)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_port}", client, mock, app
        finally:
            server.shutdown()
            thread.join()
            client.close()


def test_concurrent_requests_each_get_their_own_answer_through_one_shared_client(served):
    """160 concurrent posts from 16 threads each get the echo of their own message, retries included."""
    url, client, mock, app = served
    example_prefix = "You said: "

    def post(i: int) -> tuple[int, str, dict]:
        message = f"message number {i}"
        r = requests.post(url + "/chat", json={"message": message}, timeout=30)
        return r.status_code, message, r.json()

    with ThreadPoolExecutor(THREADS) as pool:
        answers = list(pool.map(post, range(THREADS * PER_THREAD)))
    assert all(status == 200 for status, _, _ in answers), [a for a in answers if a[0] != 200][:3]
    assert [body["reply"] for _, _, body in answers] == [example_prefix + message for _, message, _ in answers]
    retried = {message for _, message, body in answers if body["attempts"] == 2}
    assert retried == {m for _, m, _ in answers if zlib.crc32(m.encode()) % 10 == 3}  # failed once, retried by the client
    assert app.extensions["ailib"] is client


def test_the_shared_client_reuses_one_pool_of_connections(served):
    """160 calls from 16 request threads arrive over at most 16 connections: one shared pool, not a client per request."""
    url, client, mock, _ = served

    def post(i: int) -> int:
        return requests.post(url + "/chat", json={"message": f"m{i}"}, timeout=30).status_code

    with ThreadPoolExecutor(THREADS) as pool:
        statuses = list(pool.map(post, range(THREADS * PER_THREAD)))
    assert set(statuses) == {200}, statuses
    ports = {r.client_port for r in mock.chat_requests}
    assert mock.request_count >= THREADS * PER_THREAD
    assert len(ports) <= THREADS, f"{len(ports)} connections for {mock.request_count} calls"


def test_a_bad_body_is_a_400_without_a_call(served):
    """A post without a message gets 400 and sends nothing to the provider."""
    url, _, mock, _ = served
    r = requests.post(url + "/chat", json={"text": "hi"}, timeout=10)
    assert r.status_code == 400
    assert mock.request_count == 0


def test_a_provider_error_maps_to_a_502(served):
    """When the provider keeps failing, the app answers 502 with the error class, never a crash."""
    from ailib.testing import Fault

    url, _, mock, _ = served
    mock.enqueue(*[Fault.http_status(500)] * 3)
    r = requests.post(url + "/chat", json={"message": "hi"}, timeout=10)
    assert r.status_code == 502 and r.json()["error"] == "ProviderError"
