"""`ailib batch --cache PATH`: a re-run with a fresh output answers deterministic requests from the SQLite cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from ailib.testing import MockProvider


def test_a_second_batch_with_the_same_cache_sends_nothing(tmp_path):
    """Two runs of the same deterministic JSONL into different outputs: the second reaches the provider 0 times, same answers."""
    src, cache = tmp_path / "in.jsonl", tmp_path / "answers.sqlite"
    src.write_text(
        "".join(
            json.dumps({"model": "gpt-4o-mini", "temperature": 0, "messages": [{"role": "user", "content": f"q{i}"}]}) + "\n"
            for i in range(6)
        )
    )
    with MockProvider() as mock:
        env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
        env.update(OPENAI_BASE_URL=mock.base_url, OPENAI_API_KEY="sk-batch-cache-0123456789")

        def run(out: str) -> list:
            proc = subprocess.run(
                [sys.executable, "-m", "ailib", "batch", str(src), "-o", str(tmp_path / out), "--cache", str(cache), "--no-progress"],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert proc.returncode == 0, proc.stderr
            return [json.loads(line)["response"]["choices"][0]["message"]["content"] for line in (tmp_path / out).read_text().splitlines()]

        first = run("first.jsonl")
        assert mock.request_count == 6
        second = run("second.jsonl")
    assert mock.request_count == 6 and second == first
    assert b"sk-batch-cache" not in cache.read_bytes()
