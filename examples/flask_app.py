"""A Flask app whose request threads share one AiClient. Offline unless OPENAI_API_KEY is set.

    python examples/flask_app.py              # self-check: 8 threads post to a real threaded server
    python examples/flask_app.py --serve      # serve http://127.0.0.1:5000  (POST /chat {"message": "hi"})

Build one client per process at start-up and close it at exit. It is thread-safe, and its
connection pool, circuit breakers, rate limiters and retry budgets only work when every
request thread shares them: a client per request would open a new connection each time
and forget every failure it saw. Offline, the MockProvider echoes each message and
answers one call in ten with HTTP 503, which the shared client retries.
"""

from __future__ import annotations

import argparse
import json
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Optional

from flask import Flask, jsonify, request

from ailib import (
    AiClient,
    AiClientBuilder,
    AiLibError,
    ChatCompletionRequest,
    CircuitOpenError,
    LocalRateLimitError,
    Message,
    RateLimitExceeded,
    RetryPolicy,
)
from ailib.testing import Fault

ECHO_PREFIX = "You said: "


def make_echo_script() -> Callable[[int, Any], Optional[Fault]]:
    """The offline MockProvider's behaviour: echo each message, but fail the first try of
    one message in ten with HTTP 503 (the shared client retries it)."""
    lock = threading.Lock()
    failed_once: set[str] = set()

    def script(index: int, rec: Any) -> Optional[Fault]:
        messages = (rec.json or {}).get("messages") or [{}]
        text = str(messages[-1].get("content", ""))
        with lock:
            fail = zlib.crc32(text.encode()) % 10 == 3 and text not in failed_once
            failed_once.add(text)
        return Fault.http_status(503) if fail else Fault.ok(ECHO_PREFIX + text)

    return script


def create_app(client: AiClient) -> Flask:
    """The app; every request thread uses ``client`` (kept in ``app.extensions["ailib"]``)."""
    app = Flask(__name__)
    app.extensions["ailib"] = client

    @app.post("/chat")
    def chat() -> Any:
        body = request.get_json(silent=True)
        message = body.get("message") if isinstance(body, dict) else None
        if not isinstance(message, str) or not message.strip():
            return jsonify(error='send a JSON body {"message": "..."}'), 400
        try:
            resp = client.chat_completion(ChatCompletionRequest("auto", [Message.user(message)]))
        except AiLibError as err:
            busy = isinstance(err, (CircuitOpenError, LocalRateLimitError, RateLimitExceeded))
            return jsonify(error=type(err).__name__, detail=str(err)), 503 if busy else 502
        return jsonify(reply=resp.text, provider=resp.provider, model=resp.model, attempts=len(resp.attempts))

    @app.get("/healthz")
    def healthz() -> Any:
        return jsonify(ok=True)

    return app


def _self_check(app: Flask, threads: int = 8, per_thread: int = 5) -> int:
    """Serve ``app`` on a loopback port (a thread per request) and post to it concurrently."""
    import requests
    from werkzeug.serving import WSGIRequestHandler, make_server

    class QuietHandler(WSGIRequestHandler):
        def log_request(self, *args: Any, **kwargs: Any) -> None:
            pass

    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    url = f"http://127.0.0.1:{server.server_port}/chat"

    def post(i: int) -> tuple[str, dict]:
        message = f"question {i}"
        r = requests.post(url, json={"message": message}, timeout=30)
        return message, {"status": r.status_code, **r.json()}

    try:
        with ThreadPoolExecutor(threads) as pool:
            answers = list(pool.map(post, range(threads * per_thread)))
    finally:
        server.shutdown()
        serving.join()
    for message, answer in answers:
        print(f"{message!r:>16} -> {json.dumps(answer)}")
    bad = sum(1 for message, answer in answers if answer["status"] != 200 or answer.get("reply") != ECHO_PREFIX + message)
    retried = sum(1 for _, a in answers if a.get("attempts", 1) > 1)
    print(f"{len(answers)} answers from {threads} threads through one shared client; {retried} needed a retry")
    return 1 if bad else 0


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="A Flask app sharing one AiClient")
    parser.add_argument("--serve", action="store_true", help="serve until Ctrl-C instead of the self-check")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args(argv)
    from _common import provider_or_mock

    with provider_or_mock(script=make_echo_script()) as provider:
        client = AiClientBuilder(provider).with_retry(RetryPolicy(initial_delay=0.05, max_delay=1.0)).build()
        with client:
            app = create_app(client)
            if args.serve:
                app.run(host="127.0.0.1", port=args.port, threaded=True)
                return 0
            return _self_check(app)


if __name__ == "__main__":
    raise SystemExit(main())
