"""``ailib mock-server``: a MockProvider in the foreground, scriptable while it runs.

At start it prints on stdout the environment lines a client needs (``OPENAI_BASE_URL=...``
and ``OPENAI_API_KEY=...`` for the OpenAI format), and on stderr how to script it:
``POST /_mock/script`` with a JSON list of faults, ``GET /_mock/requests``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import TYPE_CHECKING

from ._common import Subcommands, UsageError

if TYPE_CHECKING:
    from ..testing import Fault, Reply

FORMATS = ("openai", "anthropic", "gemini", "cohere")
_PREFIX = {"openai": "OPENAI", "anthropic": "ANTHROPIC", "gemini": "GEMINI", "cohere": "COHERE"}
_EPILOG = """faults (--faults, comma-separated, one per chat request in order, then normal answers):
  STATUS[:retry-after=S]  an error status, e.g. 429:retry-after=1, 500, 401
  ok  reset  stall[:S]  delay:S  cut:N  error-event:N  drip:S  malformed

--script FILE: a JSON list of such strings or of objects naming a Fault constructor, e.g.
  ["429:retry-after=1", {"fault": "ok", "tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]}]

while it runs:
  curl -X POST $URL/_mock/script -d '["500", "ok"]'     queue more faults
  curl $URL/_mock/requests                              what the server received
  curl -X POST $URL/_mock/reply -d '{"text": "hi"}'      the default answer from now on"""


def add_parser(sub: Subcommands) -> None:
    p = sub.add_parser(
        "mock-server",
        help="run a MockProvider in the foreground",
        description="Serve a provider's wire format on 127.0.0.1 with scripted faults.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: any free one)")
    p.add_argument("--format", default="openai", choices=FORMATS, help="wire format (default: openai)")
    p.add_argument("--faults", default="", help='e.g. "429:retry-after=1,500,reset,ok"')
    p.add_argument("--script", metavar="FILE", help="a JSON list of faults to run first")
    p.add_argument("--reply", default=None, help="the text of a normal answer")
    p.add_argument(
        "--tool-call",
        action="append",
        default=[],
        metavar="NAME=JSON",
        help='answer with a tool call, e.g. get_weather=\'{"city": "Paris"}\' (repeatable)',
    )
    p.add_argument(
        "--framing", default="chunked", choices=("chunked", "length", "close", "http10"), help="how bodies are delimited (default: chunked)"
    )
    p.add_argument("--api-key", default=None, help="require this key (default: accept any)")
    p.set_defaults(func=run)


def _faults(args: argparse.Namespace) -> list[Fault]:
    from ..testing._script import ScriptError, faults_from_json, parse_faults

    try:
        faults = parse_faults(args.faults or "")
        if args.script:
            try:
                with open(args.script, encoding="utf-8") as f:
                    text = f.read()
            except OSError as exc:
                raise UsageError("mock-server", f"cannot read {args.script}: {exc.strerror}") from None
            faults = faults_from_json(text) + faults
    except ScriptError as exc:
        raise UsageError("mock-server", str(exc)) from None
    return faults


def _reply(args: argparse.Namespace) -> Reply:
    from ..testing import Reply

    calls = []
    for i, item in enumerate(args.tool_call):
        name, sep, raw = item.partition("=")
        try:
            arguments = json.loads(raw) if sep else {}
        except ValueError:
            raise UsageError("mock-server", f"--tool-call {item!r}: the arguments are not JSON") from None
        if not name or not isinstance(arguments, dict):
            raise UsageError("mock-server", f"--tool-call {item!r}: expected NAME=JSON-OBJECT")
        calls.append((f"call_mock_{i}", name, arguments))
    text = args.reply if args.reply is not None else ("" if calls else Reply().text)
    return Reply(text, tuple(calls))


def run(args: argparse.Namespace) -> int:
    from ..testing import MockProvider

    faults, reply = _faults(args), _reply(args)
    try:
        mock = MockProvider(args.format, port=args.port, script=faults, reply=reply, framing=args.framing, api_key=args.api_key)
    except OSError as exc:
        raise UsageError("mock-server", f"cannot listen on 127.0.0.1:{args.port}: {exc.strerror or exc}") from None
    prefix = _PREFIX[args.format]
    try:
        print(f"{prefix}_BASE_URL={mock.base_url}", flush=True)
        print(f"{prefix}_API_KEY={args.api_key or 'mock-key'}", flush=True)
        print(
            f"MockProvider ({args.format}) listening on {mock.url}; {len(faults)} fault(s) queued; "
            f"script it with POST {mock.url}/_mock/script, see GET {mock.url}/_mock/requests (Ctrl-C to stop)",
            file=sys.stderr,
            flush=True,
        )
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0  # Ctrl-C is how a foreground server is stopped
    finally:
        mock.close()
