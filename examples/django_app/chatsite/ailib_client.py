"""The process's one AiClient: built on first use from ``settings.AILIB``, shared by every
request thread, closed at exit, and never carried across ``fork``.

Why this shape: an ``AiClient`` is thread-safe, and its connection pool, circuit breakers,
rate limiters and retry budgets only help when every request shares them, so a client per
request is wrong. Building it lazily means a gunicorn ``--preload`` master (which imports
the app, then forks workers) never holds one; if something did build it before the fork,
the child drops the inherited client and builds its own, so no connection is shared
between processes.
"""

from __future__ import annotations

import atexit
import os
import threading
from typing import Any, Optional

from django.conf import settings

from ailib import AiClient, AiClientBuilder, ConnectionOptions, RetryPolicy
from ailib.testing import Fault, MockProvider

ECHO_PREFIX = "You said: "

_lock = threading.Lock()
_client: Optional[AiClient] = None
_mock: Optional[MockProvider] = None


def get_client() -> AiClient:
    """The shared client (built once per process, on first use)."""
    client = _client
    if client is not None:
        return client
    with _lock:
        if _client is None:
            _build(settings.AILIB)
        assert _client is not None
        return _client


def _build(conf: dict) -> None:
    global _client, _mock
    provider: Any = conf["PROVIDER"]
    if conf.get("OFFLINE"):
        _mock = MockProvider(script=echo_script).start()
        provider = _mock.provider()
    builder = AiClientBuilder(provider).with_options(ConnectionOptions(timeout=conf.get("TIMEOUT", 60.0)))
    builder = builder.with_retry(RetryPolicy(max_attempts=conf.get("MAX_RETRIES", 2) + 1, initial_delay=0.05, max_delay=2.0))
    if conf.get("DEADLINE"):
        builder = builder.with_deadline(conf["DEADLINE"])
    _client = builder.build()


def close_client() -> None:
    """Close the shared client (at exit, or from gunicorn's ``worker_exit``); the next
    ``get_client()`` builds a new one."""
    global _client, _mock
    with _lock:
        client, mock, _client, _mock = _client, _mock, None, None
    if client is not None:
        client.close()
    if mock is not None:
        mock.close()


def _forget_inherited() -> None:
    """In a forked child: drop the parent's client unclosed (its sockets are the parent's)."""
    global _client, _mock, _lock
    _client, _mock, _lock = None, None, threading.Lock()


atexit.register(close_client)
os.register_at_fork(after_in_child=_forget_inherited)


def echo_script(index: int, rec: Any) -> Fault:
    """The offline provider: echo the last message (``Fault.ok``); a message containing
    "fail" gets HTTP 500 every time, so the site's error page can be seen offline."""
    messages = (rec.json or {}).get("messages") or [{}]
    text = str(messages[-1].get("content", ""))
    if "fail" in text:
        return Fault.http_status(500)
    return Fault.ok(ECHO_PREFIX + text)
