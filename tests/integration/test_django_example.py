"""examples/django_app: one shared AiClient from settings, a JSON view and a streamed view, under Django's test client."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

SITE = Path(__file__).resolve().parents[2] / "examples" / "django_app"
ROOT = Path(__file__).resolve().parents[2]


sys.path.insert(0, str(SITE))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
import django  # noqa: E402

# The example's settings configure the `ailib` logger (an application's choice). Django applies
# them at setup, during collection, so they would leak into every later test of the session:
# keep the library's own logger state for the rest of the suite.
_ailib_log = logging.getLogger("ailib")
_saved_log = (_ailib_log.level, list(_ailib_log.handlers), _ailib_log.propagate)


def _restore_ailib_log() -> None:
    _ailib_log.setLevel(_saved_log[0])
    _ailib_log.handlers[:] = _saved_log[1]
    _ailib_log.propagate = _saved_log[2]


django.setup()
_restore_ailib_log()
from chatsite import ailib_client  # noqa: E402
from django.test import Client, override_settings  # noqa: E402

from ailib.testing import Fault, MockProvider  # noqa: E402


@pytest.fixture(autouse=True)
def _library_logging() -> Iterator[None]:
    """Each test leaves the `ailib` logger as the library left it (the WSGI app re-runs Django's setup)."""
    yield
    _restore_ailib_log()


@pytest.fixture
def mock() -> Iterator[MockProvider]:
    with MockProvider(script=ailib_client.echo_script) as m:
        yield m


@pytest.fixture
def site(mock: MockProvider) -> Iterator[Client]:
    """The site configured (in settings.AILIB) to talk to ``mock``; the shared client is rebuilt per test."""
    conf = {"PROVIDER": mock.provider(), "MODEL": "auto", "TIMEOUT": 10.0, "MAX_RETRIES": 2, "DEADLINE": 30.0, "OFFLINE": False}
    ailib_client.close_client()
    with override_settings(AILIB=conf):
        yield Client()
        ailib_client.close_client()


def test_the_chat_view_answers_through_the_shared_client(site, mock):
    """POST /chat returns the provider's answer as JSON."""
    r = site.post("/chat", {"message": "hello"}, content_type="application/json")
    assert r.status_code == 200 and r.json()["reply"] == "You said: hello"
    assert mock.request_count == 1


def test_every_request_thread_shares_one_client(site, mock):
    """40 requests from 8 threads each get their own answer, all through one client object over one pool."""
    seen = []

    def post(i: int) -> str:
        seen.append(id(ailib_client.get_client()))
        return Client().post("/chat", {"message": f"m{i}"}, content_type="application/json").json()["reply"]

    with ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(post, range(40)))
    assert replies == [f"You said: m{i}" for i in range(40)]
    assert len(set(seen)) == 1
    assert len({r.client_port for r in mock.chat_requests}) <= 8


def test_the_stream_view_sends_the_answer_piece_by_piece(site, mock):
    """GET /stream is a streaming response whose pieces join into the answer."""
    r = site.get("/stream", {"q": "tell me a long story about streams"})
    assert r.status_code == 200 and r.streaming and r["Content-Type"].startswith("text/plain")
    pieces = list(r.streaming_content)
    assert len(pieces) > 1
    assert b"".join(pieces).decode() == "You said: tell me a long story about streams"
    assert mock.chat_requests[0].json["stream"] is True


def test_leaving_the_stream_early_closes_the_provider_connection(site, mock):
    """Closing the streamed response after the first piece closes the stream's connection to the provider."""
    mock.enqueue(Fault.stall_stream(after=2, seconds=30))
    r = site.get("/stream", {"q": "x"})
    first = next(iter(r.streaming_content))
    assert first
    r.close()
    deadline = time.monotonic() + 20
    while mock.chat_requests[0].disconnected_at is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert mock.chat_requests[0].disconnected_at is not None


def test_a_failing_provider_is_a_502_before_streaming(site, mock):
    """When every attempt fails before the first piece, /stream answers a JSON 502 naming the error."""
    r = site.get("/stream", {"q": "please fail"})
    assert r.status_code == 502 and not r.streaming and r.json()["error"] == "ProviderError"
    assert mock.request_count == 3  # the client's retries ran first


def test_a_stream_cut_after_the_first_piece_ends_with_a_marker(site, mock):
    """A stream interrupted mid-answer ends the text with a marker instead of a silent short answer."""
    mock.enqueue(Fault.reset_stream(after=2))
    r = site.get("/stream", {"q": "x"})
    body = b"".join(r.streaming_content).decode()
    assert r.status_code == 200 and "[answer interrupted:" in body


def test_bad_input_is_a_400_without_a_call(site, mock):
    """No message, or no q, is a 400 and sends nothing to the provider."""
    assert site.post("/chat", {"text": "hi"}, content_type="application/json").status_code == 400
    assert site.get("/stream").status_code == 400
    assert mock.request_count == 0


def test_offline_by_default_with_an_embedded_mock():
    """With OFFLINE (no key) the site answers from its own MockProvider."""
    ailib_client.close_client()
    conf = {"PROVIDER": "openai", "MODEL": "auto", "OFFLINE": True}
    try:
        with override_settings(AILIB=conf):
            r = Client().post("/chat", {"message": "offline?"}, content_type="application/json")
    finally:
        ailib_client.close_client()
    assert r.status_code == 200 and r.json()["reply"] == "You said: offline?"


def test_a_forked_worker_builds_its_own_client(site, mock):
    """A client built before fork (a --preload master) is not the child's: the child builds a new one that works."""
    parent_client = ailib_client.get_client()
    parent_client.chat("warm the pool")
    pid = os.fork()
    if pid == 0:  # the worker
        code = 1
        try:
            child_client = ailib_client.get_client()
            if child_client is not parent_client and child_client.chat("from the child") == "You said: from the child":
                code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert ailib_client.get_client() is parent_client


def test_the_client_is_closed_at_exit():
    """A process that used the shared client closes it when it exits (atexit), with nothing to call."""
    code = """
import django, os, sys
sys.path.insert(0, sys.argv[1])
os.environ["DJANGO_SETTINGS_MODULE"] = "chatsite.settings"
django.setup()
from chatsite.ailib_client import get_client
client = get_client()
assert client.chat("hi") == "You said: hi"
close = client.close
def traced_close():
    print("closed", flush=True)
    close()
client.close = traced_close
"""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env["PYTHONPATH"] = str(ROOT)
    out = subprocess.run([sys.executable, "-c", code, str(SITE)], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "closed"


def test_the_wsgi_module_builds_no_client():
    """Importing chatsite.wsgi (what gunicorn --preload does in the master) makes no ailib client."""
    ailib_client.close_client()
    import chatsite.wsgi  # noqa: F401

    assert ailib_client._client is None
