"""The corpus-embedding example, smaller: a crash half way and a resume pay for every text once,
give every vector in input order, and take within 10% of the least time the token limit allows."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "embed_corpus_resume.py"


def test_crash_and_resume_pay_once_in_order_near_the_token_limit() -> None:
    """2,000 texts, a child process killed half way, a resume: exit 0 and the example's own checks
    (every vector once and in order, each text paid once, wall time <= 1.1 x the minimum) hold."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    proc = subprocess.run(
        [sys.executable, str(EXAMPLE), "--texts", "2000", "--seconds", "8"],
        cwd=EXAMPLE.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "crashed with exit status 137 after 10 requests were checkpointed" in out
    assert "2000 vectors of 64 floats, in input order: True" in out
    assert "every text paid once: True" in out
    assert out.strip().endswith("OK")
