"""Every Python block of README.md (and of the docs pages it sends readers to) runs as written,
each in a fresh interpreter, after exactly the README's offline step and nothing else.

The environment starts scrubbed: no `*_API_KEY`, no `*_BASE_URL`, no other provider setting.
The test then runs the README's three-line offline block in bash, through the real `ailib`
command (`eval "$(ailib mock-server --background)"` and the lines after it), and gives every
block the environment that step left behind. Whatever a block needs beyond that, the README
must say.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ailib.providers._registry import PROVIDERS

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
DOCS = ("README.md", "docs/testing.md", "docs/batch.md", "docs/tracing.md", "docs/connections.md", "docs/cache.md")
BLOCKS = [(doc, b) for doc in DOCS for b in re.findall(r"```python\n(.*?)```", (ROOT / doc).read_text(encoding="utf-8"), re.S)]
# Variables that would let a block reach a provider without the offline step.
PROVIDER_VARIABLES = re.compile(r".*(_API_KEY|_BASE_URL|_API_VERSION)$|AILIB_.*|GATEWAY_KEY|OTEL_.*")


def _first_line(block: str) -> str:
    return next((line for line in block.splitlines() if line.strip() and not line.startswith(("from ", "import "))), "")[:50]


def offline_block() -> str:
    """The README's offline step: the first bash block that starts `ailib mock-server --background`."""
    for block in re.findall(r"```bash\n(.*?)```", README, re.S):
        if 'eval "$(ailib mock-server --background)"' in block:
            return block
    raise AssertionError("README.md has no bash block with the offline step")


def scrubbed_env(tmp: Path) -> dict[str, str]:
    """os.environ without any provider setting; `ailib` and `python` on PATH run this checkout."""
    env = {k: v for k, v in os.environ.items() if not PROVIDER_VARIABLES.fullmatch(k)}
    bin_dir = tmp / "bin"
    bin_dir.mkdir()
    for name, args in (("ailib", '-m ailib "$@"'), ("python", '"$@"')):
        (bin_dir / name).write_text(f'#!/bin/sh\nexec "{sys.executable}" {args}\n')
        (bin_dir / name).chmod(0o755)
    env["PATH"] = os.pathsep.join([str(bin_dir), env.get("PATH", "")])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    env["XDG_RUNTIME_DIR"] = str(tmp / "run")  # the background server's private state, this test's own
    (tmp / "run").mkdir(mode=0o700)
    return env


def _env_after(script: str, env: dict[str, str], tmp: Path) -> tuple[subprocess.CompletedProcess, dict[str, str]]:
    """Run ``script`` in bash from the clone's root; return the run and the environment it ends with."""
    dump = tmp / "env.after"
    proc = subprocess.run(
        ["bash", "-c", f"set -e\n{script}\nenv -0 > {shlex.quote(str(dump))}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    after = dict(item.split("=", 1) for item in dump.read_text().split("\0") if "=" in item) if dump.exists() else {}
    return proc, after


@pytest.fixture(scope="module")
def offline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[subprocess.CompletedProcess, dict[str, str]]]:
    """The README's offline block run as written in a scrubbed environment; yields (its run, the environment after it); then `ailib mock-server --stop`."""
    tmp = tmp_path_factory.mktemp("offline")
    env = scrubbed_env(tmp)
    proc, after = _env_after(offline_block(), env, tmp)
    try:
        yield proc, after
    finally:
        subprocess.run(["ailib", "mock-server", "--stop"], env=after or env, capture_output=True, timeout=60)


def test_the_readme_has_python_blocks() -> None:
    """The extraction finds the README's Python examples (so the test below cannot pass vacuously)."""
    assert sum(1 for doc, _ in BLOCKS if doc == "README.md") >= 12


def test_the_offline_step_is_three_lines_right_after_the_setup(offline: tuple[subprocess.CompletedProcess, dict[str, str]]) -> None:
    """The offline block is three commands, the first bash block after the two set-up commands; run as written, it ends with every provider's key and base URL set and the first chat answered."""
    proc, after = offline
    commands = [line for line in offline_block().splitlines() if line.strip()]
    setup = re.findall(r"```bash\n(.*?)```", README, re.S)[0]
    assert len([line for line in setup.splitlines() if line.strip()]) == 2 and README.index(setup) < README.index(offline_block())
    assert len(commands) == 3
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Hello from MockProvider" in proc.stdout
    for spec in PROVIDERS.values():
        assert after.get(f"{spec.env_prefix}_API_KEY") == "mock-key"
        assert after.get(f"{spec.env_prefix}_BASE_URL", "").startswith("http://127.0.0.1:")


@pytest.mark.parametrize("doc, block", BLOCKS, ids=[f"{doc}:{i}-{_first_line(b)}" for i, (doc, b) in enumerate(BLOCKS)])
def test_readme_block_runs_as_written(
    doc: str, block: str, offline: tuple[subprocess.CompletedProcess, dict[str, str]], tmp_path: Path
) -> None:
    """The block runs to the end, unchanged, in a fresh interpreter with only what the offline step exported."""
    proc, env = offline
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = subprocess.run([sys.executable, "-c", block], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]


def test_the_readme_fault_example_retries_then_answers(offline: tuple[subprocess.CompletedProcess, dict[str, str]], tmp_path: Path) -> None:
    """The Command line section's bash block, run as written after the offline step: the chat shows each fault retried, then the answer."""
    proc, env = offline
    block = next(b for b in re.findall(r"```bash\n(.*?)```", README, re.S) if "--faults" in b and "ailib chat" in b)
    faults = re.search(r'--faults "([^"]+)"', block).group(1)
    run = subprocess.run(["bash", "-c", f"set -e\n{block}"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    outcomes = re.findall(r"attempt \d+: \S+ (\w+)", run.stderr)
    assert run.stdout.strip().endswith("Hello from MockProvider")
    assert outcomes == ["error"] * (len(faults.split(",")) - 1) + ["ok"]
