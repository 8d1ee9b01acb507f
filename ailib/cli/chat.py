"""``ailib chat TEXT``: send one message to a provider and print the answer."""

from __future__ import annotations

import argparse
import sys

from ._common import Subcommands, UsageError, print_attempts

_EPILOG = """environment:
  Each provider reads its key from <PREFIX>_API_KEY and an optional base URL from
  <PREFIX>_BASE_URL: OPENAI_API_KEY / OPENAI_BASE_URL, ANTHROPIC_API_KEY, GEMINI_API_KEY,
  GROQ_API_KEY, COHERE_API_KEY, ... (the README's provider table lists them all).
  The default provider is openai, with its default chat model unless --model is given.

example:
  OPENAI_API_KEY=sk-... ailib chat "Hello" --stream
  ailib chat "Hello" --provider anthropic --model claude-3-5-haiku-latest -v"""


def add_parser(sub: Subcommands) -> None:
    from ..providers._registry import Provider

    names = ", ".join(p.value for p in Provider)
    p = sub.add_parser(
        "chat",
        help="send one message",
        description="Send one user message and print the answer.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("text", help="the message")
    p.add_argument("--provider", default="openai", metavar="P", help=f"one of: {names} (default: openai)")
    p.add_argument("--model", default="auto", help="a model name (default: the provider's default chat model)")
    p.add_argument("--stream", action="store_true", help="print the answer as it streams")
    p.add_argument("-v", "--verbose", action="store_true", help="print the attempts on stderr")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .. import AiClient, ChatCompletionRequest, Message
    from ..errors import AiLibError, ConfigurationError

    try:
        client = AiClient(args.provider)
    except ConfigurationError as err:
        raise UsageError("chat", str(err)) from None
    except ValueError:
        raise UsageError("chat", f"unknown provider {args.provider!r} (see 'ailib chat --help')") from None
    try:
        with client:
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
                print_attempts(attempts, out=sys.stderr)
    except AiLibError as err:
        print(f"ailib chat: error: {type(err).__name__}: {err}", file=sys.stderr)
        if args.verbose:
            print_attempts(err.attempts, out=sys.stderr)
        return 1
    return 0
