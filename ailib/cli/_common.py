"""What the subcommands share: a one-line-error parser, the user-error exception, attempt lines."""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn, Protocol, TextIO

if TYPE_CHECKING:
    from ..types import Attempt


class UsageError(Exception):
    """A mistake of the user's (no key, port in use, unreadable file): one line, exit 2."""

    def __init__(self, command: str, message: str) -> None:
        super().__init__(message)
        self.command = command


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (and a pointer to --help), exit 2."""

    def error(self, message: str) -> NoReturn:
        """Print ``PROG: error: MESSAGE (see 'PROG --help')`` on stderr and exit 2."""
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


class Subcommands(Protocol):
    """What ``ArgumentParser.add_subparsers()`` returns, as the subcommands use it."""

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        """A new subcommand parser called ``name``."""
        ...


def provider_name(text: str) -> str:
    """argparse ``type`` of ``--provider``: a built-in provider's name, or argparse's error
    (``argument --provider: unknown provider 'nope' (choose from openai, ...)``)."""
    from ..providers._registry import Provider

    member = Provider.lookup(text)
    if member is None:
        raise argparse.ArgumentTypeError(f"unknown provider {text!r} (choose from {', '.join(p.value for p in Provider)})")
    return member.value


def check_provider(command: str, name: str) -> None:
    """``UsageError`` in the words of a shell user when the provider's key or base URL is
    not in the environment (the library's own message suggests Python code instead)."""
    from ..errors import ConfigurationError
    from ..providers._registry import resolve_provider

    spec = resolve_provider(name)
    try:
        with warnings.catch_warnings():  # a stripped key warns once, when the client reads it
            warnings.simplefilter("ignore")
            key = spec.read_api_key(required=False)
    except ConfigurationError as err:  # a key no header can carry: the message names the variable
        raise UsageError(command, err.message) from None
    if spec.key_required and not key:
        var = spec.key_variable
        raise UsageError(command, f"no API key for {spec.name}: set the {var} environment variable (export {var}=...)")
    if spec.env_prefix and not spec.base_url and not os.environ.get(f"{spec.env_prefix}_BASE_URL"):
        var = f"{spec.env_prefix}_BASE_URL"
        raise UsageError(command, f"no base URL for {spec.name}: set the {var} environment variable (export {var}=https://...)")


def print_attempts(attempts: Sequence[Attempt], out: TextIO = sys.stdout) -> None:
    """One line per attempt: provider/model, outcome, time, error and the wait after it."""
    for i, a in enumerate(attempts, 1):
        err = f"  {type(a.error).__name__}: {a.error}" if a.error is not None else ""
        wait = f"  then waited {a.wait_after:.2f}s" if a.wait_after is not None else ""
        print(f"    attempt {i}: {a.provider}/{a.model} {a.outcome:<9} {a.elapsed * 1000:7.1f} ms{err}{wait}", file=out)
