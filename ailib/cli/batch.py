"""``ailib batch``: wiring only; the options and the logic live in ``ailib.batch._command``."""

from __future__ import annotations

import argparse
from typing import Any

from ._common import Subcommands


def add_parser(sub: Subcommands) -> None:
    from ..batch._command import configure_parser

    p = sub.add_parser("batch", help="run a JSONL file of requests, resumably (live, provider batch, shards); or merge shard outputs")
    configure_parser(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..batch._command import run_command

    return run_command(args, build_client)


def build_client(args: argparse.Namespace) -> Any:
    """The client ``ailib batch`` runs on, from its arguments."""
    from .. import AiClientBuilder, ConnectionOptions, RateLimitPolicy, RetryPolicy
    from ..batch._command import BATCH_RETRY_ATTEMPTS

    builder = (
        AiClientBuilder(args.provider)
        .with_options(ConnectionOptions(pool_size=max(args.concurrency, 8)))
        .with_retry(RetryPolicy(max_attempts=BATCH_RETRY_ATTEMPTS))
    )
    if args.rpm or args.rps:
        builder = builder.with_rate_limit(RateLimitPolicy(requests_per_minute=args.rpm, requests_per_second=args.rps))
    if getattr(args, "cache", None):
        builder = builder.with_cache(args.cache)
    if args.state_store:
        from ..state import RedisStateStore

        builder = builder.with_state_store(RedisStateStore(args.state_store))
    return builder.build()
