"""A Flask app with a streaming endpoint, served by gunicorn, configured from the environment.

    python examples/flask_streaming.py        # self-check: gunicorn serves the app against a MockProvider; reads a stream
    gunicorn --chdir examples --workers 2 --threads 8 --bind 127.0.0.1:8000 flask_streaming:app
    curl -N 'http://127.0.0.1:8000/stream?q=hello'           # Server-Sent Events, one per piece of the answer
    curl -X POST http://127.0.0.1:8000/chat -H 'Content-Type: application/json' -d '{"message": "hello"}'

The app holds no mock: it talks to the provider named by ``AILIB_PROVIDER`` (default openai)
with the key and base URL from that provider's variables (``OPENAI_API_KEY``,
``OPENAI_BASE_URL``), so ``eval "$(ailib mock-server --background)"`` before ``gunicorn`` serves
it offline. ``AILIB_TIMEOUT``, ``AILIB_MAX_RETRIES`` and ``AILIB_DEADLINE`` tune the client.

One client per worker process, built on first use and shared by the worker's threads: its
pool, breakers, limiters and budgets only help when shared. Nothing is built at import, so
``gunicorn --preload`` forks no client (and a client inherited through ``fork`` would be
dropped by the child anyway). Closing the SSE response (the browser went away) closes the
provider stream: the ``with`` block below is left and its connection discarded.
"""

from __future__ import annotations

import atexit
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

from flask import Flask, Response, jsonify, request, stream_with_context

from ailib import AiClient, AiClientBuilder, AiLibError, ChatCompletionRequest, ConnectionOptions, Message, Provider, RetryPolicy

_lock = threading.Lock()
_client: Optional[AiClient] = None


def client_from_env() -> AiClient:
    """A client configured from the environment (see the module docstring)."""
    env = os.environ
    builder = AiClientBuilder(Provider(env.get("AILIB_PROVIDER", "openai")))
    builder = builder.with_options(ConnectionOptions(timeout=float(env.get("AILIB_TIMEOUT", "60")), connect_timeout=5))
    builder = builder.with_retry(RetryPolicy(max_attempts=int(env.get("AILIB_MAX_RETRIES", "2")) + 1))
    if env.get("AILIB_DEADLINE"):
        builder = builder.with_deadline(float(env["AILIB_DEADLINE"]))
    return builder.build()


def get_client() -> AiClient:
    """This process's client, built on first use."""
    global _client
    with _lock:
        if _client is None:
            _client = client_from_env()
            atexit.register(_client.close)
        return _client


def _sse(data: dict[str, Any], event: Optional[str] = None) -> str:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data)}\n\n"


app = Flask(__name__)


@app.get("/stream")
def stream() -> Response:
    """The answer to ``?q=`` as Server-Sent Events: ``data: {"text": ...}`` per piece, then ``event: done``."""
    question = request.args.get("q", "").strip()
    if not question:
        return Response(_sse({"error": "ask with ?q=..."}, "error"), status=400, mimetype="text/event-stream")
    req = ChatCompletionRequest("auto", [Message.user(question)])

    def events() -> Iterator[str]:
        try:
            with get_client().chat_completion_stream(req) as answer:  # leaving early closes the provider stream
                for chunk in answer:
                    if chunk.delta_text:
                        yield _sse({"text": chunk.delta_text})
            yield _sse({"finish_reason": answer.finish_reason}, "done")
        except AiLibError as err:  # the status line is sent already: report the failure as an event
            yield _sse({"error": type(err).__name__, "detail": str(err)}, "error")

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}  # no buffering in nginx either
    return Response(stream_with_context(events()), mimetype="text/event-stream", headers=headers)


@app.post("/chat")
def chat() -> Any:
    """A whole answer as JSON: ``{"message": "..."}`` in, ``{"reply": "..."}`` out."""
    body = request.get_json(silent=True)
    message = body.get("message") if isinstance(body, dict) else None
    if not isinstance(message, str) or not message.strip():
        return jsonify(error='send a JSON body {"message": "..."}'), 400
    try:
        resp = get_client().chat_completion(ChatCompletionRequest("auto", [Message.user(message)]))
    except AiLibError as err:
        return jsonify(error=type(err).__name__, detail=str(err)), 502
    return jsonify(reply=resp.text, attempts=len(resp.attempts))


@app.get("/healthz")
def healthz() -> Any:
    return jsonify(ok=True)


# -- the self-check: real gunicorn, a MockProvider unless OPENAI_API_KEY is set ---------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    """gunicorn (2 workers x 4 threads) serving this app on 127.0.0.1:port, with ``env``."""
    here = Path(__file__).resolve().parent
    cmd = [sys.executable, "-m", "gunicorn", "--chdir", str(here), "--workers", "2", "--threads", "4"]
    cmd += ["--bind", f"127.0.0.1:{port}", "--graceful-timeout", "5", "--log-level", "warning", "flask_streaming:app"]
    return subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL)


def wait_until_serving(url: str, server: subprocess.Popen[bytes], seconds: float = 60.0) -> None:
    import requests

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.returncode}")
        try:
            if requests.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            time.sleep(0.1)
    raise RuntimeError("gunicorn did not start serving")


def main() -> int:
    import requests

    from ailib.testing import MockProvider

    env = dict(os.environ)
    mock = None
    if not env.get("OPENAI_API_KEY"):
        mock = MockProvider(reply="Streams arrive piece by piece, through gunicorn, to your browser.", event_interval=0.02)
        env.update(AILIB_PROVIDER="openai", OPENAI_BASE_URL=mock.base_url, OPENAI_API_KEY="mock-key")
        print(f"(offline: OPENAI_API_KEY is not set, using a MockProvider at {mock.base_url})")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    server = serve(env, port)
    try:
        wait_until_serving(url, server)
        print(f"gunicorn serves the app at {url}; GET /stream?q=hello:")
        with requests.get(url + "/stream", params={"q": "hello"}, stream=True, timeout=30) as resp:
            text, finish = "", None
            for line in resp.iter_lines(decode_unicode=True):
                if line.startswith("data: "):
                    data = json.loads(line[len("data: ") :])
                    text += data.get("text", "")
                    finish = data.get("finish_reason", finish)
                    print("   ", line)
        reply = requests.post(url + "/chat", json={"message": "hello"}, timeout=30).json()
        print(f"streamed: {text!r} (finish_reason {finish}); POST /chat: {reply}")
        return 0 if text and finish == "stop" and reply.get("reply") == text else 1
    finally:
        server.terminate()
        server.wait(30)
        if mock is not None:
            mock.close()


if __name__ == "__main__":
    raise SystemExit(main())
