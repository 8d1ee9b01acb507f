"""The clients under comparison, each as a zero-argument callable making one call.

Every callable returns the answer text, so a run can check that all of them got the same
answer before timing anything. ``Peers.close()`` closes every client it built.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Callable, Optional

from ._payload import ANSWER, STREAM_TEXT

Call = Callable[[], str]
KEY = "sk-bench-0123456789"
MODEL = "bench-model"
PROMPT = [{"role": "user", "content": "Say hello"}]
NEVER = 30.0  # a hedge delay no call of a local server reaches: hedging armed, never firing


def openai_available() -> Optional[str]:
    try:
        import openai
    except ImportError:
        return None
    return str(getattr(openai, "__version__", "?"))


def litellm_available() -> Optional[str]:
    try:
        from importlib.metadata import version

        return version("litellm")
    except Exception:
        return None


class Peers:
    """Builds every client against ``json_port`` (calls) and ``sse_port`` (streams)."""

    def __init__(self, json_port: int, sse_port: int) -> None:
        logging.getLogger("urllib3").setLevel(logging.ERROR)  # "pool is full" warnings at 64 threads
        self.json_base = f"http://127.0.0.1:{json_port}/v1"
        self._closers: list[Callable[[], Any]] = []
        self.json_port = json_port
        self.sse_port = sse_port

    def close(self) -> None:
        for close in reversed(self._closers):
            try:
                close()
            except Exception:
                pass
        self._closers.clear()

    # -- requests, urllib3 -------------------------------------------------------------------------
    def raw_requests(self, base: Optional[str] = None) -> Call:
        """The baseline: ``requests.Session().post(json=...)`` + ``.json()``, as most code does."""
        import requests

        session = requests.Session()
        self._closers.append(session.close)
        url = (base or self.json_base) + "/chat/completions"
        body = {"model": MODEL, "messages": PROMPT}
        headers = {"Authorization": f"Bearer {KEY}"}

        def call() -> str:
            r = session.post(url, json=body, headers=headers)
            r.raise_for_status()
            return r.json()["choices"][0]["message"]["content"]

        return call

    def tuned_requests(self) -> Call:
        """requests tuned by hand: no environment lookups, body encoded once, headers prepared once."""
        import requests
        from requests.adapters import HTTPAdapter

        session = requests.Session()
        session.trust_env = False
        session.mount("http://", HTTPAdapter(pool_connections=1, pool_maxsize=64, max_retries=0))
        self._closers.append(session.close)
        url = self.json_base + "/chat/completions"
        data = json.dumps({"model": MODEL, "messages": PROMPT}).encode()
        headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
        loads = json.loads

        def call() -> str:
            r = session.post(url, data=data, headers=headers, allow_redirects=False)
            if r.status_code != 200:
                raise RuntimeError(r.status_code)
            return loads(r.content)["choices"][0]["message"]["content"]

        return call

    def urllib3_pool(self) -> Call:
        """The floor of this stack: urllib3's connection pool, body and headers prepared once."""
        import urllib3

        pool = urllib3.HTTPConnectionPool("127.0.0.1", self.json_port, maxsize=64, retries=False)
        self._closers.append(pool.close)
        path = "/v1/chat/completions"
        data = json.dumps({"model": MODEL, "messages": PROMPT}).encode()
        headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
        loads = json.loads

        def call() -> str:
            r = pool.urlopen("POST", path, body=data, headers=headers, redirect=False)
            if r.status != 200:
                raise RuntimeError(r.status)
            return loads(r.data)["choices"][0]["message"]["content"]

        return call

    def openai_python(self, base: Optional[str] = None) -> Any:
        from openai import OpenAI

        client = OpenAI(api_key=KEY, base_url=base or self.json_base, max_retries=0)
        self._closers.append(client.close)
        return client

    def openai_call(self) -> Call:
        client = self.openai_python()

        def call() -> str:
            return client.chat.completions.create(model=MODEL, messages=PROMPT).choices[0].message.content  # type: ignore[arg-type,return-value]

        return call

    # -- ailib -------------------------------------------------------------------------------------
    def _provider(self, name: str, base: str) -> Any:
        from ailib import CustomProviderBuilder

        return CustomProviderBuilder(name).with_base_url(base).with_api_key(KEY).build_provider()

    def _request(self) -> Any:
        from ailib import ChatCompletionRequest, Message

        return ChatCompletionRequest(MODEL, [Message.user("Say hello")])

    def ailib_client(self, kind: str, base: Optional[str] = None, transport: Any = None) -> Any:
        """``default``: ``AiClient(provider)``; ``full``: 3-endpoint round robin + limiter + breaker
        + retry + hedging armed but not firing; ``hedged``: default + hedging armed, not firing.
        ``transport``: an object with ``send(request, deadlines, handle)`` instead of the network."""
        from ailib import AiClient, AiClientBuilder, CircuitBreakerPolicy, HedgePolicy, RateLimitPolicy, RetryPolicy

        base = base or self.json_base
        if kind == "default":
            builder = AiClientBuilder(self._provider("bench", base))
        elif kind == "full":
            p1, p2, p3 = (self._provider(f"bench{i}", base) for i in (1, 2, 3))
            builder = (
                AiClientBuilder(p1)
                .with_round_robin_chain([p2, p3])
                .with_rate_limit(RateLimitPolicy(requests_per_second=1_000_000, burst=1_000_000))
                .with_circuit_breaker(CircuitBreakerPolicy())
                .with_retry(RetryPolicy(max_attempts=3))
                .with_hedging(HedgePolicy(delay=NEVER))
            )
        elif kind == "hedged":
            builder = AiClientBuilder(self._provider("bench", base)).with_hedging(HedgePolicy(delay=NEVER))
        else:
            raise ValueError(kind)
        if transport is not None:
            builder = builder.with_transport(transport)
        client = AiClient(self._provider("bench", base)) if kind == "default" and transport is None else builder.build()
        self._closers.append(client.close)
        return client

    def ailib_in_process(self, kind: str) -> Call:
        """ailib's own call path with no network: a transport that hands back a canned answer."""
        client = self.ailib_client(kind, transport=CannedTransport())
        req = self._request()
        chat = client.chat_completion

        def call() -> str:
            return chat(req).text

        return call

    def ailib_call(self, kind: str) -> Call:
        client = self.ailib_client(kind)
        req = self._request()
        chat = client.chat_completion

        def call() -> str:
            return chat(req).text

        return call

    # -- streams -----------------------------------------------------------------------------------
    def stream_base(self, framing: str) -> str:
        return f"http://127.0.0.1:{self.sse_port}/sse-{framing}/v1"

    def stream_iter_lines(self, framing: str) -> Call:
        """The stream baseline: ``requests`` ``iter_lines()`` + ``json.loads`` per data line."""
        import requests

        session = requests.Session()
        self._closers.append(session.close)
        url = self.stream_base(framing) + "/chat/completions"
        body = {"model": MODEL, "messages": PROMPT, "stream": True}
        loads = json.loads

        def call() -> str:
            parts = []
            with session.post(url, json=body, headers={"Authorization": f"Bearer {KEY}"}, stream=True) as r:
                r.raise_for_status()
                for line in r.iter_lines():
                    if line.startswith(b"data: ") and line != b"data: [DONE]":
                        delta = loads(line[6:])["choices"][0]["delta"]
                        parts.append(delta.get("content") or "")
            return "".join(parts)

        return call

    def stream_urllib3(self, framing: str) -> Call:
        """The floor: urllib3, the whole body at once, split into events, ``json.loads`` each."""
        import urllib3

        pool = urllib3.HTTPConnectionPool("127.0.0.1", self.sse_port, maxsize=8, retries=False)
        self._closers.append(pool.close)
        path = f"/sse-{framing}/v1/chat/completions"
        data = json.dumps({"model": MODEL, "messages": PROMPT, "stream": True}).encode()
        headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
        loads = json.loads

        def call() -> str:
            r = pool.urlopen("POST", path, body=data, headers=headers, redirect=False)
            parts = []
            for event in r.data.split(b"\n\n"):
                if event.startswith(b"data: ") and event != b"data: [DONE]":
                    parts.append(loads(event[6:])["choices"][0]["delta"].get("content") or "")
            return "".join(parts)

        return call

    def stream_openai(self, framing: str) -> Call:
        client = self.openai_python(self.stream_base(framing))

        def call() -> str:
            parts = []
            for chunk in client.chat.completions.create(model=MODEL, messages=PROMPT, stream=True):  # type: ignore[arg-type]
                if chunk.choices:
                    parts.append(chunk.choices[0].delta.content or "")
            return "".join(parts)

        return call

    def stream_ailib(self, framing: str) -> Call:
        client = self.ailib_client("default", self.stream_base(framing))
        req = self._request()

        def call() -> str:
            with client.chat_completion_stream(req) as stream:
                return "".join(chunk.delta_text for chunk in stream)

        return call


class CannedTransport:
    """The one-method transport seam answering every call with the bench server's body, at once."""

    def __init__(self) -> None:
        from ailib.transport import HttpResponse

        from ._payload import BODY

        self._response = HttpResponse(200, {"content-type": "application/json", "x-request-id": "req-bench"}, BODY)

    def send(self, request: Any, deadlines: Any, handle: Any) -> Any:
        return self._response


def check(name: str, fn: Call, expected: str) -> None:
    """Fail loudly when a client does not return the server's answer (a broken peer times nothing)."""
    got = fn()
    if got != expected:
        raise RuntimeError(f"{name}: expected {expected[:40]!r}..., got {str(got)[:80]!r}")


EXPECT_CALL = ANSWER
EXPECT_STREAM = STREAM_TEXT
