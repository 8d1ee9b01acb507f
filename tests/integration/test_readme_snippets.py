"""Every Python block of README.md runs as written, each in a fresh interpreter, with the
providers' environment variables pointing at loopback MockProviders (no network, no keys)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ailib.providers._registry import PROVIDERS
from ailib.testing import MockProvider

ROOT = Path(__file__).resolve().parents[2]
BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), re.S)
FORMATS = {"openai": "openai", "azure": "openai", "anthropic": "anthropic", "gemini": "gemini", "cohere": "cohere"}


def _first_line(block: str) -> str:
    return next((line for line in block.splitlines() if line.strip() and not line.startswith(("from ", "import "))), "")[:60]


@pytest.fixture(scope="module")
def provider_env() -> Iterator[dict[str, str]]:
    """Every built-in provider's <PREFIX>_BASE_URL and <PREFIX>_API_KEY aimed at a mock of its wire format."""
    mocks = {fmt: MockProvider(fmt) for fmt in set(FORMATS.values())}
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    for spec in PROVIDERS.values():
        mock = mocks[FORMATS[spec.wire_format]]
        env[f"{spec.env_prefix}_BASE_URL"] = mock.base_url
        env[f"{spec.env_prefix}_API_KEY"] = "sk-readme-0123456789"
    env["GATEWAY_KEY"] = "sk-gateway-0123456789"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    try:
        yield env
    finally:
        for mock in mocks.values():
            mock.close()


def test_the_readme_has_python_blocks() -> None:
    """The extraction finds the README's Python examples (so the test below cannot pass vacuously)."""
    assert len(BLOCKS) >= 8


@pytest.mark.parametrize("block", BLOCKS, ids=[f"{i}-{_first_line(b)}" for i, b in enumerate(BLOCKS)])
def test_readme_block_runs_as_written(block: str, provider_env: dict[str, str], tmp_path: Path) -> None:
    """The README block runs to the end, unchanged, in a fresh interpreter against the mocks."""
    proc = subprocess.run([sys.executable, "-c", block], env=provider_env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_the_readme_mock_server_example_lets_the_first_chat_succeed(provider_env: dict[str, str]) -> None:
    """The README's `ailib mock-server --faults ...` example, then `ailib chat -v` with the printed variables: the faults are retried and the chat answers."""
    line = next(line for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines() if line.startswith("ailib mock-server"))
    faults = re.search(r'--faults "([^"]+)"', line).group(1)
    env = {k: v for k, v in provider_env.items() if not k.startswith("OPENAI_")}
    server = subprocess.Popen(
        [sys.executable, "-m", "ailib", "mock-server", "--faults", faults],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        printed = dict(server.stdout.readline().strip().split("=", 1) for _ in range(2))
        chat = subprocess.run(
            [sys.executable, "-m", "ailib", "chat", "Hello", "-v"], env={**env, **printed}, capture_output=True, text=True, timeout=60
        )
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert chat.returncode == 0, chat.stderr
    outcomes = re.findall(r"attempt \d+: \S+ (\w+)", chat.stderr)
    assert chat.stdout.strip() == "Hello from MockProvider" and outcomes == ["error"] * (len(faults.split(",")) - 1) + ["ok"]
