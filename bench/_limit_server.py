"""A loopback OpenAI-shaped server that enforces a rate limit the way OpenAI documents it.

``LimitServer(rpm, tpm)`` answers ``POST .../chat/completions`` and enforces ``rpm``
requests and ``tpm`` tokens per minute, **one second's share at a time** (OpenAI's rate-limit
guide: a per-minute limit "may be enforced over shorter periods", e.g. 60,000 requests per
minute as 1,000 per second): each limit is a bucket refilled continuously at its per-minute
rate whose capacity is one second's share (GCRA with a tolerance of 1 s). A refused request
costs nothing and gets a 429 shaped as OpenAI sends it (``rate_limit_exceeded`` body with
the "Rate limit reached ... on tokens per min (TPM): Limit ..., Used ..., Requested ...
Please try again in 644ms" wording, ``x-ratelimit-*`` headers and a whole-second
``retry-after``; see ``ailib/testing/_rate_limits.py`` for the sources of that shape).

A request's token cost is what OpenAI counts against the limit before it answers: the
prompt's estimated tokens (``ceil(characters of the messages' content / 4)``) plus
``max_tokens``. The answer's usage reports that same prompt count and ``max_tokens``
completion tokens, so ``usage.total_tokens`` equals the cost charged. Successful answers
carry ``x-ratelimit-limit-*`` (the per-minute limits), ``-remaining-*`` (what a per-minute
bucket would have left) and ``-reset-*`` (the time until it is full again), as OpenAI's do.

Counts (``ok``, ``refused``) and the time of the last answer are kept for the benchmark.
Made-up values: the organization id, ids and the answer text.
"""

from __future__ import annotations

import json
import math
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional

from ailib.testing._rate_limits import openai_duration

__all__ = ["LimitServer", "cost_of", "workload"]

_ORG = "org-mockmockmockmockmockmock"  # made-up organization id
_TAU = 1.0  # one second's share


def prompt_tokens(body: dict[str, Any]) -> int:
    """The prompt's estimated tokens: characters of the messages' text content / 4, rounded up."""
    chars = 0
    for message in body.get("messages") or ():
        content = message.get("content")
        if isinstance(content, str):
            chars += len(content)
        elif isinstance(content, list):
            chars += sum(len(part.get("text") or "") for part in content if isinstance(part, dict))
    return math.ceil(chars / 4)


def cost_of(body: dict[str, Any]) -> int:
    """The tokens a request counts against the limit: prompt estimate + ``max_tokens``."""
    return prompt_tokens(body) + int(body.get("max_tokens") or body.get("max_completion_tokens") or 0)


def workload(n: int, total_tokens: int, model: str = "gpt-4o-mini") -> list[dict[str, Any]]:
    """``n`` request bodies whose costs (``cost_of``) sum to exactly ``total_tokens``: prompts
    and ``max_tokens`` of varied sizes (a fixed pattern, the same every run)."""
    per = total_tokens / n
    bodies = []
    spent = 0
    for i in range(n):
        max_tokens = max(1, int(per * (0.3 + 0.4 * ((i * 37) % 11) / 10)))  # 30 %..70 % of the mean
        remaining = n - i
        if remaining == 1:
            cost = total_tokens - spent
        else:
            cost = max(max_tokens + 1, round(per * (0.6 + 0.8 * ((i * 53) % 17) / 16)))
        pt = cost - max_tokens
        spent += cost
        text = (f"request {i}: " + "lorem ipsum dolor sit amet " * (pt + 1))[: 4 * pt]
        bodies.append({"model": model, "messages": [{"role": "user", "content": text}], "max_tokens": max_tokens})
    # the pattern's mean is not exactly ``per``: spread the difference over the last requests
    diff = total_tokens - sum(cost_of(b) for b in bodies)
    i = 0
    while diff:
        body = bodies[-1 - (i % n)]
        step = 1 if diff > 0 else -1
        if body["max_tokens"] + step >= 1:
            body["max_tokens"] += step
            diff -= step
        i += 1
    return bodies


class _Bucket:
    """GCRA over one limit: ``per_minute`` units, enforced one second's share at a time."""

    def __init__(self, per_minute: float) -> None:
        self.per_minute = per_minute
        self.interval = 60.0 / per_minute  # seconds per unit
        self.tat = -math.inf

    def wait(self, cost: int, now: float) -> float:
        """Seconds until ``cost`` units fit (0: now)."""
        step = min(cost * self.interval, _TAU)  # a cost above the share fits a full bucket
        return max(0.0, max(self.tat, now) + step - _TAU - now)

    def take(self, cost: int, now: float) -> None:
        self.tat = max(self.tat, now) + cost * self.interval

    def remaining(self, now: float) -> int:
        """What a per-minute bucket with this rate would have left now."""
        return max(0, math.floor((60.0 - max(0.0, self.tat - now)) / self.interval))

    def reset(self, now: float) -> float:
        return max(0.0, self.tat - now)

    def left_this_second(self, now: float) -> int:
        return max(0, math.floor((_TAU - max(0.0, self.tat - now)) / self.interval))


class LimitServer:
    """The server, on 127.0.0.1 in a thread; use as a context manager (``url``: its base URL)."""

    def __init__(self, rpm: int, tpm: int, *, latency: float = 0.0, model: str = "gpt-4o-mini") -> None:
        self.rpm, self.tpm, self.latency, self.model = rpm, tpm, latency, model
        self._lock = threading.Lock()
        self._requests = _Bucket(rpm)
        self._tokens = _Bucket(tpm)
        self.ok = 0
        self.refused = 0
        self.tokens = 0
        self.last_answer = 0.0
        self._server: Optional[ThreadingHTTPServer] = None

    # -- the decision ----------------------------------------------------------------------
    def admit(self, cost: int) -> tuple[int, dict[str, Any], dict[str, str]]:
        """Status, body and headers for a request costing ``cost`` tokens (charged when admitted)."""
        with self._lock:
            now = time.monotonic()
            req_wait = self._requests.wait(1, now)
            tok_wait = self._tokens.wait(cost, now)
            if req_wait <= 0 and tok_wait <= 0:
                self._requests.take(1, now)
                self._tokens.take(cost, now)
                self.ok += 1
                self.tokens += cost
                return 200, {}, self._headers(now)
            self.refused += 1
            headers = self._headers(now)
            if tok_wait >= req_wait:
                kind, wait, used = "tokens", tok_wait, self.tpm - self._tokens.left_this_second(now) * 60
                message = (
                    f"Rate limit reached for {self.model} in organization {_ORG} on tokens per min (TPM): Limit {self.tpm}, "
                    f"Used {max(0, used)}, Requested {cost}. Please try again in {openai_duration(wait)}. "
                    "Visit https://platform.openai.com/account/rate-limits to learn more."
                )
                headers["x-ratelimit-remaining-tokens"] = str(self._tokens.left_this_second(now))
            else:
                kind, wait = "requests", req_wait
                message = (
                    f"Rate limit reached for {self.model} in organization {_ORG} on requests per min (RPM): Limit {self.rpm}, "
                    f"Used {self.rpm}, Requested 1. Please try again in {openai_duration(wait)}. "
                    "Visit https://platform.openai.com/account/rate-limits to learn more."
                )
                headers["x-ratelimit-remaining-requests"] = "0"
            headers[f"x-ratelimit-reset-{kind}"] = openai_duration(wait)
            headers["retry-after"] = str(max(1, math.ceil(wait)))
            body = {"error": {"message": message, "type": kind, "param": None, "code": "rate_limit_exceeded"}}
            return 429, body, headers

    def _headers(self, now: float) -> dict[str, str]:
        r, t = self._requests, self._tokens
        return {
            "x-ratelimit-limit-requests": str(self.rpm),
            "x-ratelimit-limit-tokens": str(self.tpm),
            "x-ratelimit-remaining-requests": str(r.remaining(now)),
            "x-ratelimit-remaining-tokens": str(t.remaining(now)),
            "x-ratelimit-reset-requests": openai_duration(r.reset(now)),
            "x-ratelimit-reset-tokens": openai_duration(t.reset(now)),
        }

    def answer(self, body: dict[str, Any], n: int) -> dict[str, Any]:
        prompt = prompt_tokens(body)
        completion = int(body.get("max_tokens") or 0)
        return {
            "id": f"chatcmpl-limit{n}",
            "object": "chat.completion",
            "created": 1700000000,
            "model": body.get("model") or self.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "logprobs": None, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
        }

    # -- the HTTP side ---------------------------------------------------------------------
    def __enter__(self) -> LimitServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = json.loads(raw or b"{}")
                status, payload, headers = owner.admit(cost_of(body))
                if status == 200:
                    if owner.latency:
                        time.sleep(owner.latency)
                    payload = owner.answer(body, owner.ok)
                    owner.last_answer = time.monotonic()
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self._server = server
        threading.Thread(target=server.serve_forever, name="limit-server", daemon=True).start()
        return self

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_port}/v1"

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
