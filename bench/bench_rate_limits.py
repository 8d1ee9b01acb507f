"""Throughput at a provider's rate limit: a batch against a server that enforces it.

The server (``bench/_limit_server.py``) enforces ``--rpm`` requests and ``--tpm`` tokens per
minute one second's share at a time, as OpenAI documents, and answers 429 with OpenAI's body
and headers. The workload: 1,000 requests of 125,445 tokens in total against
600 RPM / 60,000 TPM, so the minimum wall time is 125.4 s (the token limit binds). It runs
from ``--concurrency`` threads, twice: on a client with no limits configured (adaptive by
default: it learns the limits from the headers) and on one with
``RateLimitPolicy(requests_per_minute=rpm, tokens_per_minute=tpm)``. Each run prints its
wall time as a ratio to the minimum, the failed calls and the 429s the server sent.
Targets: no limits configured, 0 failed and <= 1.15x; configured, <= 1.02x and
<= 10 429s.

    python bench/bench_rate_limits.py [--requests 1000] [--tokens 125445] [--rpm 600] [--tpm 60000]
        [--concurrency 16] [--latency 0.2] [--only default|configured]

It takes about two minutes per run at the default sizes.
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Optional

if __package__ in (None, ""):  # run as a script: python bench/bench_rate_limits.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ailib import (
    AiClientBuilder,
    AiLibError,
    ChatCompletionRequest,
    ConnectionOptions,
    CustomProviderBuilder,
    Message,
    RateLimitPolicy,
)
from bench._limit_server import LimitServer, workload


def minimum_seconds(requests: int, tokens: int, rpm: int, tpm: int) -> float:
    """The shortest wall time the limits allow (the binding one of the two)."""
    return max(requests * 60.0 / rpm, tokens * 60.0 / tpm)


def run_batch(
    *,
    requests: int,
    tokens: int,
    rpm: int,
    tpm: int,
    concurrency: int,
    latency: float,
    policy: Optional[RateLimitPolicy],
) -> dict[str, Any]:
    """One batch against a fresh server: wall time, its ratio to the minimum, failures, 429s."""
    bodies = workload(requests, tokens)
    with LimitServer(rpm, tpm, latency=latency) as server:
        provider = CustomProviderBuilder("limited").with_base_url(server.url).with_api_key("sk-bench-0000000000").build_provider()
        builder = AiClientBuilder(provider).with_connection_options(ConnectionOptions(pool_size=max(8, concurrency)))
        if policy is not None:
            builder = builder.with_rate_limit(policy)
        client = builder.build()
        failures: list[str] = []

        def one(body: dict[str, Any]) -> None:
            request = ChatCompletionRequest(body["model"], [Message.user(body["messages"][0]["content"])], max_tokens=body["max_tokens"])
            try:
                client.chat_completion(request)
            except AiLibError as err:
                failures.append(type(err).__name__)

        start = time.monotonic()
        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(one, bodies))
        wall = time.monotonic() - start
        client.close()
        minimum = minimum_seconds(requests, tokens, rpm, tpm)
        return {
            "wall_s": wall,
            "minimum_s": minimum,
            "ratio": wall / minimum,
            "failed": len(failures),
            "failure_kinds": sorted(set(failures)),
            "http_429": server.refused,
            "answered": server.ok,
            "tokens_admitted": server.tokens,
        }


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--tokens", type=int, default=125_445)
    parser.add_argument("--rpm", type=int, default=600)
    parser.add_argument("--tpm", type=int, default=60_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency", type=float, default=0.2, help="the server's answer time, seconds (default 0.2)")
    parser.add_argument("--only", choices=("default", "configured"), default=None)
    args = parser.parse_args(argv)
    shape = dict(requests=args.requests, tokens=args.tokens, rpm=args.rpm, tpm=args.tpm, concurrency=args.concurrency, latency=args.latency)
    minimum = minimum_seconds(args.requests, args.tokens, args.rpm, args.tpm)
    print(f"{args.requests} requests, {args.tokens} tokens, {args.rpm} RPM / {args.tpm} TPM: minimum {minimum:.1f} s", flush=True)
    runs = [
        ("no limits configured", None),
        ("RateLimitPolicy(rpm, tpm)", RateLimitPolicy(requests_per_minute=args.rpm, tokens_per_minute=args.tpm)),
    ]
    if args.only == "default":
        runs = runs[:1]
    elif args.only == "configured":
        runs = runs[1:]
    for label, policy in runs:
        r = run_batch(policy=policy, **shape)  # type: ignore[arg-type]
        print(
            f"{label:28} wall {r['wall_s']:7.1f} s = {r['ratio']:.3f}x minimum | failed {r['failed']} {r['failure_kinds'] or ''}"
            f"| 429s {r['http_429']} | answered {r['answered']}",
            flush=True,
        )


if __name__ == "__main__":
    main()
