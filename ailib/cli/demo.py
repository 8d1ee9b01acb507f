"""``ailib demo``: an offline tour on embedded mock providers."""

from __future__ import annotations

import argparse
import sys

from ._common import Subcommands


def add_parser(sub: Subcommands) -> None:
    p = sub.add_parser(
        "demo",
        help="an offline tour on embedded mock providers",
        description="An offline tour of the reliability layer: every call goes over real HTTP to mock providers on 127.0.0.1 (no network, no keys).",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .._demo import run as tour

    return tour(sys.stdout)
