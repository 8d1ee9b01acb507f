"""The ``ailib batch`` command's logic (the CLI module only wires it into its parser).

``ailib batch IN.jsonl|- -o OUT.jsonl [--mode live|provider|auto] [--shard K/N|auto[/N]]
[--state-store redis://...] [--cancel-remote]`` and ``ailib batch merge
SHARD.jsonl... -o OUT.jsonl``. Exit status: 0 if every request succeeded, 1 if some failed, 2 if the
batch could not start (a bad argument is argparse's one line, ``ailib batch: error: argument ...``),
130 on Ctrl-C (re-run the same command to resume). ``-o`` naming the input (the same file, by
device and inode) or anything but a regular file is refused before anything is written.
"""

from __future__ import annotations

import argparse
import os
import stat
import sys
from collections.abc import Callable, Sequence
from typing import Any, Optional

from ..errors import AiLibError, ConfigurationError
from ._input import same_file

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
    """``--shard K/N`` or ``auto[/N]`` (from the environment) → ``(k, n)``, or argparse's error."""
    from ._shard import parse_shard

    try:
        shard = parse_shard(text)
    except AiLibError as err:
        if text.startswith("auto"):
            raise argparse.ArgumentTypeError(err.message) from None
        raise argparse.ArgumentTypeError(f"expected K/N with 0 <= K < N (e.g. 0/4), or auto, got {text!r}") from None
    assert shard is not None
    return shard


def configure_parser(batch: argparse.ArgumentParser) -> None:
    """Add the batch command's arguments to its (sub)parser (the CLI adds ``--provider``)."""
    batch.add_argument(
        "input",
        metavar="IN.jsonl",
        help="one OpenAI-style request body, or OpenAI batch-format line, per line ('-': standard input)",
    )
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
    batch.add_argument("--tpm", type=_positive_int, default=None, metavar="N", help="client-side limit, tokens per minute (default: none)")
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
        help="run only the requests with index %% N == K, 0 <= K < N; 'auto' or 'auto/N': K from JOB_COMPLETION_INDEX "
        "(Kubernetes) or SLURM_ARRAY_TASK_ID, N from auto/N, AILIB_SHARD_COUNT or SLURM_ARRAY_TASK_COUNT (default: all)",
    )
    batch.add_argument(
        "--state-store",
        metavar="URL",
        default=None,
        help="redis://... shares one rate limit and breaker per endpoint among shards and machines (default: in-process)",
    )
    batch.add_argument(
        "--budget",
        type=_positive_float,
        default=None,
        metavar="USD",
        help="a spend cap in USD: calls whose estimated cost does not fit are not sent (prices from AILIB_PRICES; "
        "shared among shards with --state-store) (default: none)",
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


def _output_problem(output: str, inputs: Sequence[str]) -> Optional[str]:
    """Why ``output`` must not be written (it is one of ``inputs``, or not a regular file), or None.

    The output is a checkpoint: read back, appended to and replaced; writing it over an
    input would destroy the input, and a device (``/dev/full``, a FIFO) is never a file."""
    try:
        out = os.stat(output)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"cannot use -o {output}: {exc.strerror}"
    for path in inputs:
        try:
            src = os.fstat(0) if path == "-" else os.stat(path)
        except OSError:
            continue
        if same_file(out, src):
            name = "the standard input" if path == "-" else f"the input {path}"
            return f"-o {output} is {name}: the results would overwrite it; choose another output file"
    if not stat.S_ISREG(out.st_mode):
        return f"-o {output} is not a regular file: the output is a checkpoint, read back and replaced; give a file path"
    return None


def run_merge(args: argparse.Namespace) -> int:
    """Run ``ailib batch merge`` from parsed arguments; the exit status."""
    from ._shard import merge_outputs

    for path in args.shards:  # a shard output that is not there is a mistake, not an empty shard
        if not os.path.isfile(path):
            print(f"ailib batch merge: error: cannot read {path}: no such file", file=sys.stderr)
            return 2
    problem = _output_problem(args.output, args.shards)
    if problem:
        print(f"ailib batch merge: error: {problem}", file=sys.stderr)
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
    """Run ``ailib batch`` from parsed arguments; the exit status.

    ``build_client`` makes the client from the arguments (the CLI layer owns the builder)."""
    from ._embed import embedding_items
    from ._input import read_lines
    from ._run import iter_batch

    if args.input != "-" and not os.path.isfile(args.input):
        reason = "no such file" if not os.path.exists(args.input) else "not a regular file"
        print(f"ailib batch: error: cannot read {args.input}: {reason}", file=sys.stderr)
        return 2
    problem = _output_problem(args.output, [args.input])
    if problem:
        print(f"ailib batch: error: {problem}", file=sys.stderr)
        return 2
    progress = args.progress if args.progress is not None else bool(getattr(sys.stderr, "isatty", lambda: False)())
    try:
        client = build_client(args)
    except AiLibError as err:
        print(f"ailib batch: error: {err.message}", file=sys.stderr)
        return 2
    texts = embedding_items(args.input) if args.input != "-" else None  # a file of {"input": ...} lines: a corpus
    if texts is not None:
        from ._embed import run_embed_command

        with client:
            return run_embed_command(args, texts, client, progress)
    where: dict[int, str] = {}  # input index -> "FILE line N", for the shard's share only

    def lines() -> Any:
        for i, line in enumerate(read_lines(args.input, model=args.model, stdin=sys.stdin.buffer)):
            if args.shard is None or i % args.shard[1] == args.shard[0]:
                where[i] = line.where
            yield line

    total = ok = resumed = 0
    failures: list[tuple[int, AiLibError]] = []
    failed = 0
    with client:
        try:
            for i, result in iter_batch(
                client,
                lines(),
                concurrency=args.concurrency,
                progress=progress,
                checkpoint=args.output,
                mode=args.mode,
                shard=args.shard,
                cancel_remote=args.cancel_remote,
                poll_interval=args.poll_interval,
            ):
                total += 1
                if isinstance(result, AiLibError):
                    failed += 1
                    if len(failures) < 10 or i < failures[-1][0]:  # the first ten by input index
                        failures = sorted([*failures, (i, result)], key=lambda f: f[0])[:10]
                else:
                    ok += 1
                    resumed += not result.attempts
        except KeyboardInterrupt:
            print(f"\nailib batch: interrupted; finished results are in {args.output}; run the same command to resume", file=sys.stderr)
            return 130
        except OSError as exc:
            name = exc.filename or args.output
            print(f"ailib batch: error: {name}: {exc.strerror or exc}", file=sys.stderr)
            return 2
        except ConfigurationError as err:  # a file that cannot be read as input or output: names the file
            print(f"ailib batch: error: {err.message}", file=sys.stderr)
            return 2
        except AiLibError as err:
            print(f"ailib batch: error: {type(err).__name__}: {err}", file=sys.stderr)
            return 2
    cached = " or the cache" if getattr(args, "cache", None) else ""
    print(
        f"ailib batch: {total} requests: {ok} ok ({resumed} from the checkpoint{cached}), {failed} failed -> {args.output}", file=sys.stderr
    )
    for i, failure in failures:
        place = where.get(i, "")
        suffix = f" ({place})" if place and place not in failure.message else ""
        print(f"  request {i}: {type(failure).__name__}: {failure}{suffix}", file=sys.stderr)
    if failed > 10:
        print(f'  ... and {failed - 10} more (see the "error" lines of {args.output}); re-run to retry them', file=sys.stderr)
    if failures:
        print("  (request N counts the input's requests from 0; blank lines are not requests)", file=sys.stderr)
    return 1 if failed else 0
