"""The ``ailib`` command: a module per subcommand (demo, chat, batch, mock-server, bench).

User errors (bad arguments, no key, a port in use) print one line and exit non-zero; Ctrl-C
exits 130 without a traceback; a closed pipe (``ailib demo | head``) ends quietly.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Optional

from . import batch, bench, chat, demo, mock_server
from ._common import Parser, UsageError

if TYPE_CHECKING:
    from ..testing import Fault

__all__ = ["main", "build_parser", "parse_faults"]

_SUBCOMMANDS = (demo, chat, batch, mock_server, bench)


def parse_faults(spec: str) -> list[Fault]:
    """``"429:retry-after=1,500,reset,stall:2,delay:0.5,cut:2,ok"`` → a list of ``Fault``."""
    from ..testing._script import parse_faults as parse

    return parse(spec)


def build_parser() -> Parser:
    """The ``ailib`` argument parser, with a subparser per subcommand."""
    from .. import __version__

    parser = Parser(prog="ailib", description="One client API over many LLM providers.")
    parser.add_argument("--version", action="version", version=f"ailib {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{demo,chat,batch,mock-server,bench}", parser_class=Parser)
    for module in _SUBCOMMANDS:
        module.add_parser(sub)
    return parser


def _quiet_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null so the exit flush does not complain."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the ``ailib`` command with ``argv`` (default: ``sys.argv[1:]``); the exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        if args_list[:2] == ["batch", "merge"]:  # its own parser, so `ailib batch merge --help` is its help
            args = batch.merge_parser().parse_args(args_list[2:])
        else:
            args = build_parser().parse_args(args_list)
        return int(args.func(args) or 0)
    except UsageError as exc:
        print(f"ailib {exc.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
    except BrokenPipeError:
        _quiet_stdout()
        return 141  # what a process killed by SIGPIPE reports
