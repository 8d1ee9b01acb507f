"""Every example runs offline and exits 0."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted(p for p in (Path(__file__).resolve().parents[2] / "examples").glob("*.py") if not p.name.startswith("_"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs_offline(path):
    """The example completes against MockProvider with no keys in the environment."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    proc = subprocess.run([sys.executable, str(path)], cwd=path.parent, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip()


def test_cli_demo_runs_offline():
    """`ailib demo` runs with no network and no keys and prints the attempts."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    proc = subprocess.run([sys.executable, "-m", "ailib", "demo"], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "attempt 1:" in out and "RateLimitExceeded" in out and "StreamInterruptedError" in out
    assert "answer from anthropic-mock" in out  # failover across wire formats
    assert "raised CircuitOpenError" in out and "requests reaching the server: 0" in out
    assert "cancelled" in out and "hedge.won" in out
    assert "the re-run sent only 4" in out  # the resumable batch


def test_cli_chat_against_a_mock(mock):
    """`ailib chat` talks to the provider named, with base URL and key from the environment."""
    env = {**os.environ, "OPENAI_BASE_URL": mock.base_url, "OPENAI_API_KEY": "sk-cli-test-key"}
    proc = subprocess.run([sys.executable, "-m", "ailib", "chat", "hi", "-v"], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "Hello from MockProvider"
    assert "attempt 1: openai/gpt-4o-mini ok" in proc.stderr


def test_cli_chat_missing_key_names_the_variable():
    """`ailib chat` without a key exits 2 (a user error) and names the variable to set."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    proc = subprocess.run(
        [sys.executable, "-m", "ailib", "chat", "hi", "--provider", "groq"], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2 and "GROQ_API_KEY" in proc.stderr


def test_mock_server_fault_grammar():
    """The --faults grammar builds the documented faults in order."""
    from ailib.cli import parse_faults

    faults = parse_faults("429:retry-after=1,500,reset,stall:2,cut:1,ok")
    assert [f.kind for f in faults] == ["status", "status", "reset", "stall", "cut_stream", "ok"]
    assert faults[0].headers["Retry-After"] == "1" and faults[3].seconds == 2.0


def test_cli_bench_lists_and_rejects_unknown_names():
    """`ailib bench NAME` with an unknown name exits 2 and lists the benchmarks it has."""
    proc = subprocess.run([sys.executable, "-m", "ailib", "bench", "no-such"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "overhead" in proc.stderr and "hedging" in proc.stderr


def test_cli_bench_runs_a_benchmark():
    """`ailib bench primitives` runs that benchmark and prints its table."""
    proc = subprocess.run([sys.executable, "-m", "ailib", "bench", "primitives"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout
    assert "### primitives" in proc.stdout and "| operation |" in proc.stdout
