"""The `ailib` command's arguments, help and messages, run as a user runs them (a real subprocess)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest

from ailib.cli import build_parser
from ailib.cli.batch import merge_parser
from ailib.testing import MockProvider, Reply

from ._cli import ailib, no_keys, one_error_line

KEY = "sk-cli-args-0123456789abcdef"


@pytest.fixture
def jsonl(tmp_path: Path) -> tuple[str, str]:
    """An input file of one request, and an output path that does not exist yet."""
    src = tmp_path / "in.jsonl"
    src.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n')
    return str(src), str(tmp_path / "out.jsonl")


@pytest.mark.parametrize("shard", ["5/4", "x", "1/0", "3/3"])
def test_a_bad_shard_is_argparse_one_line_exit_2(jsonl, shard):
    """`ailib batch --shard 5/4 ...` prints `ailib batch: error: argument --shard: ...` on one line and exits 2, writing nothing."""
    src, out = jsonl
    proc = ailib("batch", src, "-o", out, "--shard", shard, env=no_keys(OPENAI_API_KEY=KEY))
    line = one_error_line(proc)
    assert proc.returncode == 2 and line.startswith("ailib batch: error: argument --shard: expected K/N with 0 <= K < N"), line
    assert repr(shard) in line and "ConfigurationError" not in line and not os.path.exists(out)


@pytest.mark.parametrize("command", [("batch", "IN", "-o", "OUT"), ("chat", "hi")])
def test_an_unknown_provider_is_argparse_one_line_exit_2(jsonl, command):
    """`--provider nope` prints `ailib CMD: error: argument --provider: unknown provider 'nope' (choose from openai, ...)`, exit 2."""
    src, out = jsonl
    args = [{"IN": src, "OUT": out}.get(a, a) for a in command]
    proc = ailib(*args, "--provider", "nope", env=no_keys(OPENAI_API_KEY=KEY))
    line = one_error_line(proc)
    assert proc.returncode == 2 and line.startswith(f"ailib {command[0]}: error: argument --provider: unknown provider 'nope'"), line
    assert "openai" in line and "zhipu" in line and "ConfigurationError" not in line


@pytest.mark.parametrize("command", [("batch", "IN", "-o", "OUT"), ("chat", "hi")])
def test_no_key_gives_shell_advice_not_python(jsonl, command):
    """Without a key, chat and batch name the variable to export, in one line, and never suggest ConnectionOptions(...)."""
    src, out = jsonl
    args = [{"IN": src, "OUT": out}.get(a, a) for a in command]
    proc = ailib(*args, "--provider", "mistral", env=no_keys())
    line = one_error_line(proc)
    assert proc.returncode == 2 and "set the MISTRAL_API_KEY environment variable (export MISTRAL_API_KEY=...)" in line, line
    assert "ConnectionOptions" not in proc.stderr and not os.path.exists(out)


def test_batch_merge_help_is_its_own():
    """`ailib batch merge --help` prints the merge command's usage (shard files, -o), not the batch command's."""
    proc = ailib("batch", "merge", "--help")
    assert proc.returncode == 0 and proc.stdout.startswith("usage: ailib batch merge"), proc.stdout
    assert "SHARD.jsonl" in proc.stdout and "--concurrency" not in proc.stdout and "IN.jsonl" not in proc.stdout


def test_batch_merge_of_a_missing_file_is_one_line_exit_2(tmp_path):
    """`ailib batch merge` of a shard output that does not exist fails in one line, exit 2, instead of writing an empty file."""
    proc = ailib("batch", "merge", str(tmp_path / "nope.jsonl"), "-o", str(tmp_path / "all.jsonl"))
    assert proc.returncode == 2 and "cannot read" in one_error_line(proc) and not (tmp_path / "all.jsonl").exists()


def test_provider_and_concurrency_have_help_with_defaults():
    """`ailib batch --help` explains --provider and --concurrency, with their defaults."""
    out = ailib("batch", "--help").stdout
    flat = " ".join(out.split())
    assert "--provider P the built-in provider to call (default: openai)" in flat, out
    assert "--concurrency N requests in flight at once, live mode (default: 8)" in flat, out


def _options(parser: argparse.ArgumentParser, prog: str):
    """(prog, action) for every option of ``parser`` and of its subcommands."""
    for action in parser._actions:  # argparse has no public list of a parser's actions
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _options(sub, f"{prog} {name}")
        elif action.option_strings and action.dest not in ("help", "version"):
            yield prog, action


def test_every_option_has_help_and_names_its_default():
    """Every option of chat, batch, batch merge, demo and bench has help text, and each optional one says its default."""
    missing = []
    for prog, action in [*_options(build_parser(), "ailib"), *_options(merge_parser(), "ailib batch merge")]:
        if prog == "ailib mock-server":
            continue  # ailib/cli/mock_server.py is maintained with ailib.testing, outside this change
        text, flag = action.help or "", action.option_strings[-1]
        optional = not action.required and not flag.startswith("--no-")  # a --no-X names the default of its --X
        if not text or (optional and "default" not in text):
            missing.append(f"{prog} {flag}: {text!r}")
    assert not missing, missing


@pytest.mark.parametrize("stream", [False, True])
def test_chat_prints_tool_calls(stream):
    """`ailib chat` on an answer that is only a tool call prints the call (name and JSON arguments), not an empty line."""
    reply = Reply("", (("call_7", "get_weather", {"city": "Paris"}),))
    with MockProvider(reply=reply) as mock:
        env = no_keys(OPENAI_BASE_URL=mock.base_url, OPENAI_API_KEY=KEY)
        proc = ailib("chat", "weather in Paris?", *(["--stream"] if stream else []), env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == 'tool call call_7: get_weather({"city": "Paris"})\n', proc.stdout


def test_demo_labels_the_stalled_primary_as_the_primary():
    """`ailib demo`'s hedging step labels the cancelled first request (primary) and the answering one (hedge)."""
    proc = ailib("demo", env=no_keys(), timeout=120)
    assert proc.returncode == 0, proc.stderr
    hedging = proc.stdout.split("8. Hedging", 1)[1].split("\n9.", 1)[0]
    lines = [line for line in hedging.splitlines() if "attempt" in line]
    assert len(lines) == 2, hedging
    assert "cancelled" in lines[0] and lines[0].rstrip().endswith("(primary)"), lines
    assert " ok " in lines[1] and lines[1].rstrip().endswith("(hedge)"), lines
