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


def _batch(args: argparse.Namespace) -> int:
    """``ailib batch``: the logic lives in ``ailib.batch._command``."""
    from .batch._command import run_command

    return run_command(args)


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

    batch = sub.add_parser("batch", help="run a JSONL file of requests, resumably (live, provider batch, shards); or merge shard outputs")
    from .batch._command import configure_parser

    configure_parser(batch)
    batch.set_defaults(func=_batch)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)
