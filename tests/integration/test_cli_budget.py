"""`ailib batch --budget USD`: a spend cap over a whole batch run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ailib.testing import MockProvider

KEY = "sk-cli-budget-0123456789abcdef"
PRICES = json.dumps({"gpt-4o-mini": [100.0, 200.0]})  # USD per million tokens
ONE_CALL = (10 * 100.0 + 5 * 200.0) / 1e6  # the mock's default usage: 10 prompt, 5 completion tokens


def _run(mock: MockProvider, *args: str, prices: bool = True) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and k != "AILIB_PRICES"}
    env.update(OPENAI_BASE_URL=mock.base_url, OPENAI_API_KEY=KEY)
    if prices:
        env["AILIB_PRICES"] = PRICES
    return subprocess.run([sys.executable, "-m", "ailib", "batch", *args], env=env, capture_output=True, text=True, timeout=60)


def _write_input(path: Path, n: int) -> None:
    lines = [json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"q{i}"}], "max_tokens": 5}) for i in range(n)]
    path.write_text("\n".join(lines) + "\n")


def test_a_budget_stops_the_batch_before_it_overspends(tmp_path):
    """--budget 0.01 answers lines until the next one's estimate does not fit; the rest are
    recorded as BudgetExceededError without being sent, and the run exits 1."""
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write_input(src, 10)
    with MockProvider() as mock:
        proc = _run(mock, str(src), "-o", str(out), "--concurrency", "1", "--budget", "0.01")
        sent = len(mock.requests)
    assert proc.returncode == 1, proc.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    answered = [r for r in records if "response" in r]
    refused = [r for r in records if "error" in r]
    assert len(answered) + len(refused) == 10 and answered and refused
    assert {r["error"]["type"] for r in refused} == {"BudgetExceededError"}
    assert sent == len(answered) and len(answered) * ONE_CALL <= 0.01


def test_a_budget_without_prices_is_refused_before_anything_is_sent(tmp_path):
    """--budget with no AILIB_PRICES exits 2 naming what is missing; nothing is sent."""
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write_input(src, 2)
    with MockProvider() as mock:
        proc = _run(mock, str(src), "-o", str(out), "--budget", "1", prices=False)
        assert mock.requests == []
    assert proc.returncode == 2 and "needs prices" in proc.stderr
