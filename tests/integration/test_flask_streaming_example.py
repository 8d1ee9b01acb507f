"""examples/flask_streaming.py under a real gunicorn (2 workers x 4 threads), against a MockProvider.

The app is configured only through the environment, as the README says: AILIB_PROVIDER and
the provider's OPENAI_BASE_URL / OPENAI_API_KEY aimed at the mock, AILIB_MAX_RETRIES for its
retries.
"""

from __future__ import annotations

import importlib.util
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
import requests

from ailib.testing import Fault, MockProvider

pytest.importorskip("gunicorn")
pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="gunicorn needs fork")

ROOT = Path(__file__).resolve().parents[2]
REPLY = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen"
INTERVAL = 0.15


def _example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("flask_streaming_example", ROOT / "examples" / "flask_streaming.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, MockProvider]]:
    """The example served by gunicorn (as its own `serve()` starts it), its provider a paced MockProvider; yields (url, mock)."""
    example = _example()
    with MockProvider(reply=REPLY, event_interval=INTERVAL) as mock:
        env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
        env.update(AILIB_PROVIDER="openai", OPENAI_BASE_URL=mock.base_url, OPENAI_API_KEY="sk-flask-0123456789", AILIB_MAX_RETRIES="1")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        port = example._free_port()
        server = example.serve(env, port)
        try:
            url = f"http://127.0.0.1:{port}"
            example.wait_until_serving(url, server)
            yield url, mock
        finally:
            server.terminate()
            try:
                server.wait(30)
            except Exception:
                server.kill()
                server.wait()


def _events(url: str, q: str) -> list[tuple[float, str, dict]]:
    """(arrival time, event name, data) of every SSE event of GET /stream?q=..., read as they come."""
    out: list[tuple[float, str, dict]] = []
    event = "message"
    with requests.get(url + "/stream", params={"q": q}, stream=True, timeout=30) as resp:
        assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/event-stream")
        for line in resp.iter_lines(chunk_size=1, decode_unicode=True):
            if line.startswith("event: "):
                event = line[len("event: ") :]
            elif line.startswith("data: "):
                out.append((time.monotonic(), event, json.loads(line[len("data: ") :])))
                event = "message"
    return out


def test_the_stream_reaches_the_browser_piece_by_piece(served: tuple[str, MockProvider]) -> None:
    """GET /stream: the pieces join to the whole answer, then `event: done`; the first piece arrives long before the last (not buffered)."""
    url, mock = served
    mock.clear_faults()
    events = _events(url, "count to fifteen")
    pieces = [(t, data["text"]) for t, name, data in events if name == "message"]
    assert "".join(text for _, text in pieces) == REPLY and len(pieces) >= 3
    assert events[-1][1:] == ("done", {"finish_reason": "stop"})
    assert pieces[-1][0] - pieces[0][0] >= INTERVAL * (len(pieces) - 2)


def test_a_stream_cut_after_content_ends_with_an_error_event(served: tuple[str, MockProvider]) -> None:
    """A provider stream cut after two chunks: the pieces sent so far, then `event: error` naming StreamInterruptedError."""
    url, mock = served
    mock.enqueue(Fault.cut_stream(after=2))
    events = _events(url, "cut me short")
    assert [name for _, name, _ in events][-1] == "error" and events[-1][2]["error"] == "StreamInterruptedError"
    assert all(name == "message" for _, name, _ in events[:-1]) and len(events) >= 2


def test_chat_answers_json_and_retries_as_configured(served: tuple[str, MockProvider]) -> None:
    """POST /chat: a 503 then the answer, in 2 attempts (AILIB_MAX_RETRIES=1 allows one retry); a second 503 pair is a 502."""
    url, mock = served
    mock.enqueue(Fault.http_status(503))
    ok = requests.post(url + "/chat", json={"message": "hi"}, timeout=30)
    mock.enqueue(Fault.http_status(503), Fault.http_status(503))
    failed = requests.post(url + "/chat", json={"message": "hi"}, timeout=30)
    assert ok.status_code == 200 and ok.json() == {"reply": REPLY, "attempts": 2}
    assert failed.status_code == 502 and failed.json()["error"] == "ProviderError"


def test_the_example_runs_in_this_interpreter_without_building_a_client_at_import() -> None:
    """Importing the app builds no client (safe under gunicorn --preload); a bad question is a 400."""
    example = _example()
    assert example._client is None
    got = example.app.test_client().get("/stream?q=")
    assert got.status_code == 400 and example._client is None
