"""`ailib batch --tpm`: a client-side tokens-per-minute limit beside --rpm."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ailib.testing import MockProvider

KEY = "sk-cli-batch-0123456789abcdef"


def _run(mock: MockProvider, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update(OPENAI_BASE_URL=mock.base_url, OPENAI_API_KEY=KEY)
    return subprocess.run([sys.executable, "-m", "ailib", "batch", *args], env=env, capture_output=True, text=True, timeout=60)


def test_tpm_paces_the_requests_by_their_tokens(tmp_path: Path) -> None:
    """--tpm 6000 (100 tokens a second, one second's share at once) spreads 8 requests of about
    30 estimated tokens each over at least ~1 s at the server, with every request answered."""
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    lines = [{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"q{i}"}], "max_tokens": 10} for i in range(8)]
    src.write_text("".join(json.dumps(line) + "\n" for line in lines))
    with MockProvider() as mock:
        proc = _run(mock, str(src), "-o", str(out), "--tpm", "6000", "--concurrency", "8")
        times = sorted(r.received_at for r in mock.chat_requests)
    assert proc.returncode == 0, proc.stderr
    assert len(times) == 8 and times[-1] - times[0] >= 0.8


def test_tpm_is_listed_beside_rpm_in_the_help() -> None:
    """`ailib batch --help` documents --tpm as a tokens-per-minute limit."""
    proc = subprocess.run([sys.executable, "-m", "ailib", "batch", "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "--tpm N" in proc.stdout and "tokens per minute" in proc.stdout
