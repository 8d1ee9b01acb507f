"""The ``ailib batch`` command's logic (the CLI module only wires it into its parser).

``ailib batch IN.jsonl -o OUT.jsonl [--mode live|provider|auto] [--shard K/N]
[--state-store redis://...] [--cancel-remote]`` and ``ailib batch merge
SHARD.jsonl... -o OUT.jsonl``. Exit status: 0 if every request succeeded, 1 if some failed, 2 if the
batch could not start (a bad argument is argparse's one line, ``ailib batch: error: argument ...``),
130 on Ctrl-C (re-run the same command to resume).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import Any

from ..errors import AiLibError

__all__ = ["configure_parser", "configure_merge_parser", "run_command", "run_merge", "BATCH_RETRY_ATTEMPTS"]

BATCH_RETRY_ATTEMPTS = 5

BATCH_EPILOG = """Join the outputs of --shard runs with: ailib batch merge SHARD.jsonl ... -o OUT.jsonl
(see 'ailib batch merge --help')."""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _shard(text: str) -> tuple[int, int]:
    """``--shard K/N`` → ``(k, n)``, or argparse's error for anything else."""
    from ._shard import parse_shard

    try:
        shard = parse_shard(text)
    except AiLibError:
        raise argparse.ArgumentTypeError(f"expected K/N with 0 <= K < N (e.g. 0/4), got {text!r}") from None
    assert shard is not None
    return shard


def configure_parser(batch: argparse.ArgumentParser) -> None:
    """Add the batch command's arguments to its (sub)parser (the CLI adds ``--provider``)."""
    batch.add_argument("input", metavar="IN.jsonl", help="one OpenAI-style request body per line")
    batch.add_argument(
        "-o", "--output", metavar="OUT.jsonl", required=True, help="results and checkpoint; re-run with the same path to resume"
    )
    batch.add_argument("--model", default=None, help="override every line's model (default: each line's own)")
    batch.add_argument(
        "--concurrency", type=_positive_int, default=8, metavar="N", help="requests in flight at once, live mode (default: 8)"
    )
    batch.add_argument(
        "--rpm", type=_positive_int, default=None, metavar="N", help="client-side limit, requests per minute (default: none)"
    )
    batch.add_argument(
        "--rps", type=_positive_float, default=None, metavar="N", help="client-side limit, requests per second (default: none)"
    )
    batch.add_argument(
        "--mode",
        choices=("live", "provider", "auto"),
        default="live",
        help="live calls, the provider's batch API (half price, within 24 h), or auto (default: live)",
    )
    batch.add_argument(
        "--shard",
        type=_shard,
        metavar="K/N",
        default=None,
        help="run only the requests with index %% N == K, 0 <= K < N (default: all of them)",
    )
    batch.add_argument(
        "--state-store",
        metavar="URL",
        default=None,
        help="redis://... shares one rate limit and breaker per endpoint among shards and machines (default: in-process)",
    )
    batch.add_argument(
        "--poll-interval",
        type=_positive_float,
        default=None,
        metavar="SECONDS",
        help="first wait between provider batch status checks, then backing off to 60 s (default: chosen by the mode)",
    )
    batch.add_argument(
        "--cache",
        metavar="PATH",
        default=None,
        help="answer repeated deterministic requests (temperature 0 or a seed) from this SQLite file "
        "('memory' and redis://... work too); a re-run pays nothing for them (default: no cache)",
    )
    batch.add_argument(
        "--cancel-remote", action="store_true", help="on Ctrl-C, cancel the provider batches this run submitted (default: leave them)"
    )
    batch.add_argument(
        "--progress",
        action="store_true",
        default=None,
        help="a progress bar (tqdm if installed, else a one-line summary) (default: when stderr is a terminal)",
    )
    batch.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar, even on a terminal")


def configure_merge_parser(merge: argparse.ArgumentParser) -> None:
    """Add ``ailib batch merge``'s arguments to its parser."""
    merge.add_argument("shards", nargs="+", metavar="SHARD.jsonl", help="the outputs of the --shard K/N runs, in any order")
    merge.add_argument("-o", "--output", metavar="OUT.jsonl", required=True, help="the joined results, in input order")


def _read_items(path: str, model: Any) -> list[Any]:
    with open(path, encoding="utf-8") as f:
        lines = [line for line in f if line.strip()]
    items: list[Any] = []
    for line in lines:
        try:
            body = json.loads(line)
        except ValueError:
            items.append(line.strip())  # becomes an InvalidRequestError result
            continue
        if model and isinstance(body, dict):
            body = {**body, "model": model}
        items.append(body)
    return items


def run_merge(args: argparse.Namespace) -> int:
    """Run ``ailib batch merge`` from parsed arguments; the exit status."""
    from ._shard import merge_outputs

    for path in args.shards:  # a shard output that is not there is a mistake, not an empty shard
        if not os.path.isfile(path):
            print(f"ailib batch merge: error: cannot read {path}: no such file", file=sys.stderr)
            return 2
    try:
        n = merge_outputs(args.shards, args.output)
    except AiLibError as exc:
        print(f"ailib batch merge: error: {exc.message}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"ailib batch merge: error: {exc.filename or args.output}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(f"ailib batch merge: {n} requests from {len(args.shards)} files -> {args.output}", file=sys.stderr)
    return 0


def run_command(args: argparse.Namespace, build_client: Callable[[argparse.Namespace], Any]) -> int:
    """Run ``ailib batch`` (or ``ailib batch merge``) from parsed arguments; the exit status.

    ``build_client`` makes the client from the arguments (the CLI layer owns the builder)."""
    from ._run import run_batch

    try:
        items = _read_items(args.input, args.model)
    except OSError as exc:
        print(f"ailib batch: error: cannot read {args.input}: {exc.strerror}", file=sys.stderr)
        return 2
    progress = args.progress if args.progress is not None else bool(getattr(sys.stderr, "isatty", lambda: False)())
    try:
        client = build_client(args)
    except AiLibError as err:
        print(f"ailib batch: error: {err.message}", file=sys.stderr)
        return 2
    if items and all(isinstance(x, dict) and "input" in x and "messages" not in x for x in items):  # texts to embed
        from ._embed import run_embed_command

        with client:
            return run_embed_command(args, items, client, progress)
    with client:
        try:
            results = run_batch(
                client,
                items,
                concurrency=args.concurrency,
                progress=progress,
                checkpoint=args.output,
                mode=args.mode,
                shard=args.shard,
                cancel_remote=args.cancel_remote,
                poll_interval=args.poll_interval,
            )
        except KeyboardInterrupt:
            print(f"\nailib batch: interrupted; finished results are in {args.output}; run the same command to resume", file=sys.stderr)
            return 130
        except OSError as exc:
            print(f"ailib batch: error: cannot write {args.output}: {exc.strerror}", file=sys.stderr)
            return 2
        except AiLibError as err:
            print(f"ailib batch: error: {type(err).__name__}: {err}", file=sys.stderr)
            return 2
    failures = [(i, r) for i, r in enumerate(results) if isinstance(r, AiLibError)]
    resumed = sum(1 for r in results if not isinstance(r, AiLibError) and not r.attempts)
    ok = len(results) - len(failures)
    print(
        f"ailib batch: {len(results)} requests: {ok} ok ({resumed} from the checkpoint{' or the cache' if getattr(args, 'cache', None) else ''}), {len(failures)} failed -> {args.output}",
        file=sys.stderr,
    )
    for i, failure in failures[:10]:
        print(f"  request {i}: {type(failure).__name__}: {failure}", file=sys.stderr)
    if len(failures) > 10:
        print(f'  ... and {len(failures) - 10} more (see the "error" lines of {args.output}); re-run to retry them', file=sys.stderr)
    return 1 if failures else 0
