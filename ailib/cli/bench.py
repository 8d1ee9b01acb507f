"""``ailib bench [NAME ...]``: run bench/ (from a clone) and print the tables."""

from __future__ import annotations

import argparse
import sys

from ._common import Subcommands


def add_parser(sub: Subcommands) -> None:
    p = sub.add_parser("bench", help="run the benchmarks in bench/ (from a clone) and print their tables")
    p.add_argument("only", nargs="*", help="benchmark names, e.g. overhead routing (default: all)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .._bench import run as run_bench

    return run_bench(args.only, sys.stdout, sys.stderr)
