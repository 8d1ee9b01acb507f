"""``ailib chat TEXT``: send one message to a provider and print the answer."""

from __future__ import annotations

import argparse
import json
import sys

from ._common import Subcommands, UsageError, check_provider, print_attempts, provider_name

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
    p.add_argument("--provider", type=provider_name, default="openai", metavar="P", help=f"one of: {names} (default: openai)")
    p.add_argument("--model", default="auto", help="a model name (default: the provider's default chat model)")
    p.add_argument("--stream", action="store_true", help="print the answer as it streams (default: print it at the end)")
    p.add_argument("-v", "--verbose", action="store_true", help="print the attempts on stderr (default: only errors)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Send the message and print the answer (its text, then any tool calls); the exit status."""
    from .. import AiClient, ChatCompletionRequest, Message
    from ..errors import AiLibError, ConfigurationError

    check_provider("chat", args.provider)
    try:
        client = AiClient(args.provider)
    except ConfigurationError as err:
        raise UsageError("chat", err.message) from None
    try:
        with client:
            req = ChatCompletionRequest(args.model, [Message.user(args.text)])
            if args.stream:
                with client.chat_completion_stream(req) as stream:
                    has_text = False
                    for chunk in stream:
                        if chunk.delta_text:
                            sys.stdout.write(chunk.delta_text)
                            sys.stdout.flush()
                            has_text = True
                    if has_text:
                        print()
                    tool_calls, finish = stream.tool_calls, stream.finish_reason
                attempts = stream.attempts
            else:
                resp = client.chat_completion(req)
                has_text = bool(resp.text)
                if has_text:
                    print(resp.text)
                tool_calls, finish, attempts = resp.tool_calls, resp.finish_reason, resp.attempts
            for call in tool_calls:
                print(f"tool call {call.id}: {call.name}({json.dumps(call.arguments, ensure_ascii=False)})")
            if not tool_calls and not has_text:
                print(f"ailib chat: the answer has no text (finish reason: {finish or 'none'})", file=sys.stderr)
            if args.verbose:
                print_attempts(attempts, out=sys.stderr)
    except AiLibError as err:
        print(f"ailib chat: error: {type(err).__name__}: {err}", file=sys.stderr)
        if args.verbose:
            print_attempts(err.attempts, out=sys.stderr)
        return 1
    return 0
