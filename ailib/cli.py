"""The ``ailib`` command: demo, chat, mock-server."""

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
    from . import AiClient, AiClientBuilder, ChatCompletionRequest, Message, RetryPolicy
    from .testing import Fault, MockProvider

    fast_retry = RetryPolicy(initial_delay=0.05, max_delay=0.2)
    req = ChatCompletionRequest("auto", [Message.user("Tell me about reliability.")])
    print("ailib demo: every call below goes over real HTTP to MockProviders on 127.0.0.1 (no network, no keys).\n")
    with MockProvider(reply="Reliability is keeping promises when things fail.", name="mock-openai") as mock:
        client = AiClientBuilder(mock.provider()).with_retry(fast_retry).build()
        with client:
            print("1. A plain call")
            resp = client.chat_completion(req)
            print(f"    answer: {resp.text!r}  usage: {resp.usage}")
            _print_attempts(resp.attempts)

            print("\n2. Streaming")
            with client.chat_completion_stream(req) as stream:
                pieces = [chunk.delta_text for chunk in stream if chunk.delta_text]
            print(f"    chunks: {pieces}")
            _print_attempts(stream.attempts)

            print("\n3. The provider fails twice with 503, then answers: retried with backoff")
            mock.enqueue(Fault.http_status(503), Fault.http_status(503))
            resp = client.chat_completion(req)
            print(f"    answer: {resp.text!r}")
            _print_attempts(resp.attempts)

            print("\n4. A 429 with Retry-After: 0.3 -> the retry waits as the server asked")
            mock.enqueue(Fault.http_status(429, retry_after="0.3"))
            resp = client.chat_completion(req)
            _print_attempts(resp.attempts)

            print("\n5. A 401 is not retried: it fails at once, classified, with its attempts")
            mock.enqueue(Fault.http_status(401, message="invalid api key"))
            try:
                client.chat_completion(req)
            except AiLibError as err:
                print(f"    raised {type(err).__name__}: {err}")
                _print_attempts(err.attempts)

            print("\n6. A stream cut after its first content: never a silent short answer")
            mock.enqueue(Fault.cut_stream(after=1))
            try:
                with client.chat_completion_stream(req) as stream:
                    for _ in stream:
                        pass
            except AiLibError as err:
                print(f"    raised {type(err).__name__}; partial text kept: {err.partial_text!r}")

            print("\n7. A connection reset before the answer is retried transparently")
            mock.enqueue(Fault.reset())
            resp = client.chat_completion(req)
            _print_attempts(resp.attempts)
    print("\nDone: see README.md for failover, hedging, rate limits and circuit breakers.")
    del AiClient
    return 0


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ailib", description="One client API over many LLM providers.")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="an offline tour on embedded mock providers")
    demo.set_defaults(func=_demo)

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
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)
