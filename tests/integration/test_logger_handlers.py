"""The "ailib" logger is the application's to configure: the library never adds handlers or sets levels."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_USE_EVERYTHING = textwrap.dedent(
    """
    import importlib, logging, pkgutil, sys, tempfile, os
    import ailib
    from ailib import AiClientBuilder, ChatCompletionRequest, ConnectionOptions, FallbackChain, Message, RetryPolicy, CircuitBreakerPolicy
    from ailib.testing import Fault, MockProvider

    for mod in pkgutil.walk_packages(ailib.__path__, "ailib."):
        name = mod.name
        if name.startswith("ailib.cli") or name == "ailib.__main__":
            continue  # the command line is an application: it may configure its own output
        try:
            importlib.import_module(name)
        except ImportError as exc:  # an optional extra that is not installed
            print("skipped", name, exc, file=sys.stderr)

    req = ChatCompletionRequest("auto", [Message.user("hi")], temperature=0)
    with MockProvider() as mock:
        mock.enqueue(Fault.http_status(503), Fault.http_status(500))
        builder = AiClientBuilder(mock.provider()).with_retry(RetryPolicy(initial_delay=0.01, max_attempts=2))
        # a short recovery: the batch below meets the open breaker, pauses and probes (logging
        # all the way) in a fraction of a second instead of the default 30 s per pause; a short
        # attempt timeout: a worker that meets the other's probe in flight pauses for as long as
        # the probe may last (the attempt timeout, 600 s by default, a pause of 5 s at most)
        breaker = CircuitBreakerPolicy(failure_threshold=1, recovery_timeout=0.2)
        builder = builder.fallback(FallbackChain().always("backup")).with_circuit_breaker(breaker)
        with builder.with_options(ConnectionOptions(timeout=1.0)).build() as client:
            for call in (lambda: client.chat_completion(req), lambda: list(client.chat_completion_stream(req))):
                try:
                    call()
                    print("answered")
                except ailib.AiLibError as err:  # failures are the point: they log
                    print(type(err).__name__, *(type(e).__name__ for e in getattr(err, "errors", ())))
            client.chat_completion_batch([req, req], concurrency=2)
    ailib_logger = logging.getLogger("ailib")
    print(len(ailib_logger.handlers), ailib_logger.level, ailib_logger.propagate, len(logging.getLogger().handlers))
    print(sorted(n for n, lg in logging.Logger.manager.loggerDict.items() if n.startswith("ailib") and getattr(lg, "handlers", None)))
    """
)


def test_using_the_library_configures_no_logging():
    """After importing every module and running calls that log (failures, fallback, circuit, stream, batch), no handler or level is set."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", _USE_EVERYTHING], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    plain, stream, counts, with_handlers = out.stdout.strip().splitlines()
    # the 503 opens the breaker, the retry and the fallback step meet it open; then the stream does
    assert (plain, stream) == ("AllProvidersFailedError CircuitOpenError CircuitOpenError",) * 2, out.stdout
    assert counts == "0 0 True 0"  # no handler on "ailib", level NOTSET, propagates to root, root untouched
    assert with_handlers == "[]"
