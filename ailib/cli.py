"""The ``ailib`` command: demo, chat, batch, mock-server."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import Optional

from .errors import AiLibError


def _print_attempts(attempts: Sequence, out=sys.stdout) -> None:
    for i, a in enumerate(attempts, 1):
        err = f"  {type(a.error).__name__}: {a.error}" if a.error is not None else ""
        wait = f"  then waited {a.wait_after:.2f}s" if a.wait_after is not None else ""
        print(f"    attempt {i}: {a.provider}/{a.model} {a.outcome:<9} {a.elapsed * 1000:7.1f} ms{err}{wait}", file=out)


def _demo(args: argparse.Namespace) -> int:
    from ._demo import run

    return run(sys.stdout)


def _bench(args: argparse.Namespace) -> int:
    from ._bench import run

    return run(args.only, sys.stdout, sys.stderr)


def _chat(args: argparse.Namespace) -> int:
    from . import AiClient, ChatCompletionRequest, Message

    try:
        with AiClient(args.provider) as client:
            req = ChatCompletionRequest(args.model, [Message.user(args.text)])
            if args.stream:
                with client.chat_completion_stream(req) as stream:
                    for chunk in stream:
                        sys.stdout.write(chunk.delta_text)
                        sys.stdout.flush()
                print()
                attempts = stream.attempts
            else:
                resp = client.chat_completion(req)
                print(resp.text)
                attempts = resp.attempts
            if args.verbose:
                _print_attempts(attempts, out=sys.stderr)
    except AiLibError as err:
        print(f"error: {type(err).__name__}: {err}", file=sys.stderr)
        if args.verbose:
            _print_attempts(err.attempts, out=sys.stderr)
        return 1
    return 0


def parse_faults(spec: str) -> list:
    """``"429:retry-after=1,500,reset,stall:2,delay:0.5,cut:2,ok"`` → a list of ``Fault``."""
    from .testing import Fault

    faults = []
    for item in filter(None, (s.strip() for s in spec.split(","))):
        name, _, arg = item.partition(":")
        if name.isdigit():
            kw = {}
            if arg.startswith("retry-after="):
                kw["retry_after"] = arg.split("=", 1)[1]
            faults.append(Fault.http_status(int(name), **kw))
        elif name == "ok":
            faults.append(Fault.ok())
        elif name == "reset":
            faults.append(Fault.reset())
        elif name == "stall":
            faults.append(Fault.stall(float(arg) if arg else None))
        elif name == "delay":
            faults.append(Fault.delay(float(arg or 1)))
        elif name == "cut":
            faults.append(Fault.cut_stream(int(arg or 1)))
        elif name == "drip":
            faults.append(Fault.drip(float(arg or 1)))
        elif name == "malformed":
            faults.append(Fault.malformed())
        else:
            raise SystemExit(f"ailib mock-server: unknown fault {item!r}")
    return faults


def _mock_server(args: argparse.Namespace) -> int:
    from .testing import MockProvider

    mock = MockProvider(args.format, port=args.port, script=parse_faults(args.faults or ""))
    print(f"MockProvider ({args.format}) listening on {mock.base_url}  (Ctrl-C to stop)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        mock.close()
    return 0


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


BATCH_RETRY_ATTEMPTS = 5


def _batch(args: argparse.Namespace) -> int:
    """``ailib batch IN.jsonl -o OUT.jsonl``: exit 0 if every request succeeded, 1 if some
    failed, 2 if the batch could not start, 130 on Ctrl-C (re-run the same command to resume).

    Each non-blank input line is one OpenAI-style request body. OUT.jsonl is the batch
    checkpoint (see ``ailib.batch``): one ``{"key", "index", "response" | "error"}`` object
    per request; ``index`` counts the input's non-blank lines from 0. A complete run leaves
    exactly one line per request, in input order.
    """
    import json

    from . import AiClientBuilder, ConnectionOptions, RateLimitPolicy, RetryPolicy

    try:
        with open(args.input, encoding="utf-8") as f:
            lines = [line for line in f if line.strip()]
    except OSError as exc:
        print(f"ailib batch: cannot read {args.input}: {exc.strerror}", file=sys.stderr)
        return 2
    items: list = []
    for line in lines:
        try:
            body = json.loads(line)
        except ValueError:
            items.append(line.strip())  # becomes an InvalidRequestError result
            continue
        if args.model and isinstance(body, dict):
            body = {**body, "model": args.model}
        items.append(body)
    del lines
    try:
        builder = (
            AiClientBuilder(args.provider)
            .with_options(ConnectionOptions(pool_size=max(args.concurrency, 8)))
            .with_retry(RetryPolicy(max_attempts=BATCH_RETRY_ATTEMPTS))
        )
        if args.rpm:
            builder = builder.with_rate_limit(RateLimitPolicy(requests_per_minute=args.rpm))
        client = builder.build()
    except AiLibError as err:
        print(f"ailib batch: {type(err).__name__}: {err}", file=sys.stderr)
        return 2
    with client:
        try:
            results = client.chat_completion_batch(items, concurrency=args.concurrency, progress=args.progress, checkpoint=args.output)
        except KeyboardInterrupt:
            print(f"\nailib batch: interrupted; finished results are in {args.output}; run the same command to resume", file=sys.stderr)
            return 130
        except OSError as exc:
            print(f"ailib batch: cannot write {args.output}: {exc.strerror}", file=sys.stderr)
            return 2
    failures = [(i, r) for i, r in enumerate(results) if isinstance(r, AiLibError)]
    resumed = sum(1 for r in results if not isinstance(r, AiLibError) and not r.attempts)
    ok = len(results) - len(failures)
    print(f"ailib batch: {len(results)} requests: {ok} ok ({resumed} from the checkpoint), {len(failures)} failed -> {args.output}", file=sys.stderr)
    for i, err in failures[:10]:
        print(f"  request {i}: {type(err).__name__}: {err}", file=sys.stderr)
    if len(failures) > 10:
        print(f"  ... and {len(failures) - 10} more (see the \"error\" lines of {args.output}); re-run to retry them", file=sys.stderr)
    return 1 if failures else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ailib", description="One client API over many LLM providers.")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="an offline tour on embedded mock providers")
    demo.set_defaults(func=_demo)

    bench = sub.add_parser("bench", help="run the benchmarks in bench/ (from a clone) and print their tables")
    bench.add_argument("only", nargs="*", help="benchmark names, e.g. overhead routing (default: all)")
    bench.set_defaults(func=_bench)

    chat = sub.add_parser("chat", help="send one message")
    chat.add_argument("text")
    chat.add_argument("--provider", default="openai")
    chat.add_argument("--model", default="auto")
    chat.add_argument("--stream", action="store_true")
    chat.add_argument("-v", "--verbose", action="store_true", help="print the attempts")
    chat.set_defaults(func=_chat)

    mock = sub.add_parser("mock-server", help="run a MockProvider in the foreground")
    mock.add_argument("--port", type=int, default=0)
    mock.add_argument("--format", default="openai")
    mock.add_argument("--faults", default="", help='e.g. "429:retry-after=1,500,reset,ok"')
    mock.set_defaults(func=_mock_server)

    batch = sub.add_parser("batch", help="run a JSONL file of requests, resumably")
    batch.add_argument("input", metavar="IN.jsonl", help="one OpenAI-style request body per line")
    batch.add_argument("-o", "--output", metavar="OUT.jsonl", required=True, help="results and checkpoint; re-run with the same path to resume")
    batch.add_argument("--provider", default="openai")
    batch.add_argument("--model", default=None, help="override every line's model")
    batch.add_argument("--concurrency", type=_positive_int, default=8)
    batch.add_argument("--rpm", type=_positive_int, default=None, help="client-side limit, requests per minute")
    batch.add_argument("--progress", action="store_true", help="a progress bar (tqdm if installed) on stderr")
    batch.set_defaults(func=_batch)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)
