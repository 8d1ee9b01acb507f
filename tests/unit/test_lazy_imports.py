"""`import ailib` loads only what a client and a call need; the rest is imported on first use."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

# Never imported by `import ailib`, nor by building a default client and making a call.
EXTRAS = (
    "redis",
    "prometheus_client",
    "tqdm",
    "opentelemetry",
    "ailib.testing",
    "ailib.batch",
    "ailib.cli",
    "ailib.cache",
    "ailib._tracing",
    "ailib.state.redis",
    # routing and hedging: only a routed or hedged client loads them
    "ailib.routing.fallback",
    "ailib.routing.health",
    "ailib.routing.model_array",
    "ailib.routing.router",
    "ailib.reliability.hedge",
    "ailib.call.hedge",
    "ailib.call.race",
    "concurrent.futures.thread",
    # the rate limiter (and RateLimitPolicy): only a rate-limited client loads it
    "ailib.reliability.ratelimit",
    # the stream machinery (ChatStream, the SSE parser): only a stream loads it
    "ailib.call.stream",
    "ailib._sse",
)
# Not imported by `import ailib` (a call may load them when it needs them).
IMPORT_ONLY = ("uuid",)
NATIVE_FORMATS = ("ailib.providers.anthropic", "ailib.providers.gemini", "ailib.providers.cohere")

_LOADED = """
import json, sys
def loaded(names):
    return sorted(m for m in sys.modules for n in names if m == n or m.startswith(n + "."))
"""


def _run(code: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", _LOADED + textwrap.dedent(code)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_import_ailib_skips_optional_extras_and_native_formats():
    """A bare `import ailib` imports no Redis, Prometheus, tqdm, OpenTelemetry, testing kit, batch, CLI, routing, hedging, rate limiter, stream machinery, uuid or native format."""
    out = _run(
        f"""
        import ailib
        print(json.dumps(loaded({list(EXTRAS + NATIVE_FORMATS + IMPORT_ONLY)!r})))
        """
    )
    assert out == []


ENGINE = ("ailib._assembly", "ailib.call", "ailib.transport", "ailib.routing", "ailib.state")


def test_the_call_machinery_loads_with_the_first_client_built():
    """`import ailib` (and touching `AiClient`, `AiClientBuilder`) loads none of the call
    machinery (assembly, pipeline, transport, routing, state); building a client loads it."""
    out = _run(
        f"""
        import ailib
        ailib.AiClient, ailib.AiClientBuilder
        before = loaded({ENGINE!r})
        provider = ailib.CustomProviderBuilder("p").with_base_url("http://127.0.0.1:9/v1").build_provider()
        ailib.AiClientBuilder(provider).build().close()
        print(json.dumps([before, loaded({ENGINE!r})]))
        """
    )
    before, after = out
    assert before == []
    assert {"ailib._assembly", "ailib.call.pipeline", "ailib.transport", "ailib.routing.endpoint", "ailib.state.memory"} <= set(after)


def test_a_call_on_a_default_client_imports_no_extras():
    """Building an OpenAI-compatible client and making a real loopback call imports none of the extras, routing, hedging, rate limiter, stream machinery or native formats."""
    out = _run(
        f"""
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        BODY = json.dumps({{"id": "x", "model": "m", "choices": [{{"index": 0, "message": {{"role": "assistant", "content": "hi"}}, "finish_reason": "stop"}}]}}).encode()

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(BODY)))
                self.end_headers()
                self.wfile.write(BODY)
            def log_message(self, *a):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        import ailib
        provider = ailib.CustomProviderBuilder("t").with_base_url(f"http://127.0.0.1:{{server.server_port}}/v1").with_api_key("sk-test-123456").build_provider()
        with ailib.AiClient(provider) as client:
            text = client.chat_completion(ailib.ChatCompletionRequest("m", [ailib.Message.user("hello")])).text
        server.shutdown()
        print(json.dumps({{"text": text, "loaded": loaded({list(EXTRAS + NATIVE_FORMATS)!r})}}))
        """
    )
    assert out == {"text": "hi", "loaded": []}


def test_every_public_name_imports_from_a_fresh_interpreter():
    """`from ailib import X` works for every name in `__all__`, lazy ones included, and `dir(ailib)` lists them all."""
    out = _run(
        """
        import ailib
        missing_dir = sorted(set(ailib.__all__) - set(dir(ailib)))
        ns = {}
        exec("from ailib import *", ns)
        missing_star = sorted(set(ailib.__all__) - set(ns))
        broken = [n for n in ailib.__all__ if getattr(ailib, n, None) is None]
        print(json.dumps([missing_dir, missing_star, broken]))
        """
    )
    assert out == [[], [], []]


def test_a_native_format_is_imported_on_first_use():
    """The Anthropic wire format module is imported only when a client or caller first asks for it."""
    out = _run(
        """
        import ailib
        from ailib.providers._formats import get_wire_format
        before = loaded(["ailib.providers.anthropic"])
        fmt = get_wire_format("anthropic")
        print(json.dumps([before, loaded(["ailib.providers.anthropic"]), fmt.name]))
        """
    )
    assert out == [[], ["ailib.providers.anthropic"], "anthropic"]


def test_unknown_attribute_still_raises_attribute_error():
    """The lazy loader does not swallow typos: an unknown name raises AttributeError."""
    import ailib

    with pytest.raises(AttributeError, match="NoSuchThing"):
        ailib.NoSuchThing  # noqa: B018


def test_routing_names_import_on_first_use_from_ailib_routing():
    """`ailib.routing` loads FallbackChain's module only when the name is first asked for, and lists every public name."""
    out = _run(
        """
        import ailib.routing as routing
        before = loaded(["ailib.routing.fallback"])
        from ailib.routing import FallbackChain
        print(json.dumps([before, loaded(["ailib.routing.fallback"]), FallbackChain.__name__, sorted(set(routing.__all__) - set(dir(routing)))]))
        """
    )
    assert out == [[], ["ailib.routing.fallback"], "FallbackChain", []]


def test_import_ailib_compiles_no_regular_expression():
    """`import ailib` compiles none of its patterns (secrets, Prometheus names, ...): each is compiled on first use."""
    out = _run(
        """
        import re
        import requests, urllib3, tenacity, attrs  # the dependencies compile their own
        before = set(re._cache)
        import ailib
        ailib.AiClient
        print(json.dumps(sorted(str(key[1]) for key in set(re._cache) - before)))
        """
    )
    assert out == []


def test_the_first_stream_loads_the_stream_machinery_and_streams():
    """A chunked SSE stream on a fresh interpreter imports ChatStream, the SSE parser and the chunked reader then, and works."""
    out = _run(
        """
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        BODY = json.dumps({"id": "x", "model": "m", "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}]}).encode()
        EVENTS = [
            b'data: {"choices": [{"index": 0, "delta": {"content": "he"}}]}\\n\\n',
            b'data: {"choices": [{"index": 0, "delta": {"content": "llo"}, "finish_reason": "stop"}]}\\n\\n',
            b"data: [DONE]\\n\\n",
        ]

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            def do_POST(self):
                stream = json.loads(self.rfile.read(int(self.headers["Content-Length"]))).get("stream")
                self.send_response(200)
                if not stream:
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(BODY)))
                    self.end_headers()
                    self.wfile.write(BODY)
                    return
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for event in EVENTS:
                    self.wfile.write(b"%x\\r\\n%s\\r\\n" % (len(event), event))
                self.wfile.write(b"0\\r\\n\\r\\n")
            def log_message(self, *a):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        import ailib
        names = ["ailib.call.stream", "ailib._sse"]
        provider = ailib.CustomProviderBuilder("t").with_base_url(f"http://127.0.0.1:{server.server_port}/v1").with_api_key("sk-test-123456").build_provider()
        req = ailib.ChatCompletionRequest("m", [ailib.Message.user("hello")])
        with ailib.AiClient(provider) as client:
            client.chat_completion(req)
            before = loaded(names)
            with client.chat_completion_stream(req) as stream:
                text = "".join(chunk.delta_text for chunk in stream)
        server.shutdown()
        print(json.dumps([before, loaded(names), text, type(stream).__name__]))
        """
    )
    assert out == [[], ["ailib._sse", "ailib.call.stream"], "hello", "ChatStream"]
