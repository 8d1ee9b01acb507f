"""``ailib batch`` and ``ailib batch merge``: wiring only; the options and the logic live in
``ailib.batch._command``."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ._common import Parser, Subcommands, check_provider, provider_name

if TYPE_CHECKING:
    from ..client import AiClient


def add_parser(sub: Subcommands) -> None:
    """Register ``ailib batch`` on the top-level parser's subcommands."""
    from ..batch._command import BATCH_EPILOG, configure_parser

    p = sub.add_parser(
        "batch",
        help="run a JSONL file of requests, resumably (live, provider batch, shards); or merge shard outputs",
        description="Run a JSONL file of OpenAI-style requests, resumably: re-run the same command to finish what is left.",
        epilog=BATCH_EPILOG,
    )
    p.add_argument("--provider", type=provider_name, default="openai", metavar="P", help="the built-in provider to call (default: openai)")
    configure_parser(p)
    p.set_defaults(func=run)


def merge_parser() -> Parser:
    """The parser of ``ailib batch merge`` (its own, so ``ailib batch merge --help`` is its help)."""
    from ..batch._command import configure_merge_parser, run_merge

    p = Parser(
        prog="ailib batch merge",
        description="Join the outputs of 'ailib batch --shard K/N' runs into one file, in input order "
        "(byte for byte what one process would have written).",
    )
    configure_merge_parser(p)
    p.set_defaults(func=run_merge)
    return p


def run(args: argparse.Namespace) -> int:
    """Run ``ailib batch`` from parsed arguments; the exit status."""
    from ..batch._command import run_command

    return run_command(args, build_client)


def build_client(args: argparse.Namespace) -> AiClient:
    """The client ``ailib batch`` runs on, from its arguments."""
    from .. import AiClientBuilder, ConnectionOptions, RateLimitPolicy, RetryPolicy
    from ..batch._command import BATCH_RETRY_ATTEMPTS

    check_provider("batch", args.provider)
    builder = (
        AiClientBuilder(args.provider)
        .with_connection_options(ConnectionOptions(pool_size=max(args.concurrency, 8)))
        .with_retry(RetryPolicy(max_attempts=BATCH_RETRY_ATTEMPTS))
    )
    tpm = getattr(args, "tpm", None)
    if args.rpm or args.rps or tpm:
        builder = builder.with_rate_limit(
            RateLimitPolicy(requests_per_minute=args.rpm, requests_per_second=args.rps, tokens_per_minute=tpm)
        )
    if getattr(args, "cache", None):
        builder = builder.with_cache(args.cache)
    store = None
    if args.state_store:
        from ..state import RedisStateStore

        store = RedisStateStore(args.state_store)
        builder = builder.with_state_store(store)
    if getattr(args, "budget", None) is not None:
        builder = builder.with_budget(args.budget, store=store)
    return builder.build()
