"""Running the `ailib` command as a user does (a real subprocess), for the CLI tests."""

from __future__ import annotations

import os
import subprocess
import sys


def ailib(*args: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run `python -m ailib ARGS` and capture its output."""
    return subprocess.run([sys.executable, "-m", "ailib", *args], env=env, capture_output=True, text=True, timeout=timeout)


def no_keys(**extra: str) -> dict:
    """The environment without any provider key or base URL, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    env.update(extra)
    return env


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    """The only line on stderr (asserting there is one, and no traceback)."""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]
