"""``ailib batch``: wiring only; the options and the logic live in ``ailib.batch._command``."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from ..batch._command import configure_parser

    p = sub.add_parser("batch", help="run a JSONL file of requests, resumably (live, provider batch, shards); or merge shard outputs")
    configure_parser(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..batch._command import run_command

    return run_command(args)
