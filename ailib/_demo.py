"""``ailib demo``: an offline tour of the reliability layer on embedded MockProviders."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Sequence
from typing import TextIO

from . import (
    AiClientBuilder,
    AiLibError,
    ChatCompletionRequest,
    CircuitBreakerPolicy,
    HedgePolicy,
    Message,
    RetryPolicy,
)
from .errors import StreamInterruptedError
from .metrics import InMemoryMetrics
from .testing import Fault, MockProvider
from .types import Attempt


def _attempts(attempts: Sequence[Attempt], out: TextIO) -> None:
    """One line per attempt. In a raced call, the first attempt is the primary (it starts
    before any hedge; ``Attempt.hedge`` also marks a cancelled primary, as every loser of a
    race is), and the later ones are labelled hedges."""
    raced = any(a.hedge for a in attempts)
    for i, a in enumerate(attempts, 1):
        err = f"  {type(a.error).__name__}: {a.error}" if a.error is not None else ""
        wait = f"  then waited {a.wait_after:.2f}s" if a.wait_after is not None else ""
        role = (" (primary)" if i == 1 else " (hedge)" if a.hedge else "") if raced else ""
        print(f"    attempt {i}: {a.provider}/{a.model} {a.outcome:<9} {a.elapsed * 1000:7.1f} ms{role}{err}{wait}", file=out)


def run(out: TextIO) -> int:
    """Run the tour, printing to ``out``; the exit status (0)."""
    fast = RetryPolicy(initial_delay=0.05, max_delay=0.2)
    req = ChatCompletionRequest("auto", [Message.user("Tell me about reliability.")])
    metrics = InMemoryMetrics()

    def say(*parts: object) -> None:
        print(*parts, file=out)

    say("ailib demo: every call below goes over real HTTP to MockProviders on 127.0.0.1 (no network, no keys).\n")
    primary = MockProvider(reply="Reliability is keeping promises when things fail.", name="openai-mock")
    backup = MockProvider("anthropic", reply="Claude here: the primary was down.", name="anthropic-mock")
    with primary, backup:
        client = AiClientBuilder(primary.provider()).with_retry(fast).with_metrics(metrics).build()
        with client:
            say("1. A plain call")
            resp = client.chat_completion(req)
            say(f"    answer: {resp.text!r}  usage: {resp.usage}")
            _attempts(resp.attempts, out)

            say("\n2. Streaming")
            with client.chat_completion_stream(req) as stream:
                pieces = [chunk.delta_text for chunk in stream if chunk.delta_text]
            say(f"    chunks: {pieces}")

            say("\n3. A 429 with Retry-After: 0.3, then a 503: retried, waiting as the server asked")
            primary.enqueue(Fault.http_status(429, retry_after="0.3"), Fault.http_status(503))
            _attempts(client.chat_completion(req).attempts, out)

            say("\n4. A 401 is not retried: it fails at once, classified, with its attempts")
            primary.enqueue(Fault.http_status(401, message="invalid api key"))
            try:
                client.chat_completion(req)
            except AiLibError as err:
                say(f"    raised {type(err).__name__}: {err}")

            say("\n5. A stream cut after its first content: never a silent short answer")
            primary.enqueue(Fault.cut_stream(after=1))
            try:
                with client.chat_completion_stream(req) as stream:
                    for _ in stream:
                        pass
            except AiLibError as err:
                partial = err.partial_text if isinstance(err, StreamInterruptedError) else ""
                say(f"    raised {type(err).__name__}; partial text kept: {partial!r}")

        say("\n6. Failover across wire formats: the OpenAI-format provider is down, the Anthropic-format one answers")
        chain = AiClientBuilder(primary.provider()).with_failover_chain([backup.provider()]).with_retry(fast).with_metrics(metrics)
        with chain.build() as client:
            primary.enqueue(*[Fault.http_status(503)] * 3)
            resp = client.chat_completion(req)
            say(f"    answer from {resp.provider}: {resp.text!r}")
            _attempts(resp.attempts, out)

        say("\n7. Circuit breaker: after 3 consecutive 503s the circuit opens; the next call fails in microseconds, sending nothing")
        breaker = AiClientBuilder(primary.provider()).without_retry().with_metrics(metrics)
        with breaker.with_circuit_breaker(CircuitBreakerPolicy(failure_threshold=3, recovery_timeout=30)).build() as client:
            primary.enqueue(*[Fault.http_status(503)] * 3)
            for _ in range(3):
                try:
                    client.chat_completion(req)
                except AiLibError:
                    pass
            sent = primary.request_count
            start = time.perf_counter()
            try:
                client.chat_completion(req)
            except AiLibError as err:
                took = (time.perf_counter() - start) * 1e6
                say(f"    raised {type(err).__name__} in {took:.0f} µs; requests reaching the server: {primary.request_count - sent}")

        say("\n8. Hedging: the first request stalls for 2 s; a hedge after 50 ms answers and the stalled one is cancelled")
        with AiClientBuilder(primary.provider()).with_hedging(HedgePolicy(delay=0.05)).with_metrics(metrics).build() as client:
            primary.enqueue(Fault.delay(2.0))
            start = time.perf_counter()
            resp = client.chat_completion(req)
            say(f"    answered in {(time.perf_counter() - start) * 1000:.0f} ms")
            _attempts(resp.attempts, out)

        say("\n9. A resumable batch: 6 requests with a checkpoint, then the same batch again plus 4 more")
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "results.jsonl")
            requests = [ChatCompletionRequest("auto", [Message.user(f"question {i}")]) for i in range(10)]
            with AiClientBuilder(primary.provider()).with_retry(fast).build() as client:
                before = primary.request_count
                client.chat_completion_batch(requests[:6], checkpoint=path)
                first = primary.request_count - before
                results = client.chat_completion_batch(requests, checkpoint=path)
                second = primary.request_count - before - first
            say(f"    first run sent {first} requests; the re-run sent only {second}; {len(results)} answers returned in order")

    say("\nCounters recorded on the way:")
    totals = metrics.snapshot()["totals"]
    for name in sorted(totals):
        say(f"    {name:<26} {totals[name]}")
    say("\nDone. See README.md for everything else.")
    return 0
