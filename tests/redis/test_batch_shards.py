"""Issue 18's shard test: four `ailib batch --shard K/4` processes share one Redis rate limit; merge equals one process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ailib import AiClientBuilder, ConnectionOptions
from ailib.batch import run_batch
from ailib.testing import Fault, MockProvider

KEY = "sk-shards-0123456789abcdef"
RATE = 50.0
SHARDS = 4
PER_SHARD = 75


def _cli(mock: MockProvider, *args: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update(OPENAI_BASE_URL=mock.base_url, OPENAI_API_KEY=KEY)
    return subprocess.Popen(
        [sys.executable, "-m", "ailib", "batch", *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )


def _rate(times: list[float]) -> float:
    """Arrivals per second: 1 / the slope of a least-squares line through (arrival rank, time).

    Fitting time against rank leaves each arrival's scheduling delay (after the limiter
    admitted it) in the error term, where it does not bias the slope, unlike counting
    arrivals between two instants, which a few late arrivals at the window's edge inflate.
    """
    n = len(times)
    mean_k, mean_t = (n - 1) / 2, sum(times) / n
    cov = sum((k - mean_k) * (t - mean_t) for k, t in enumerate(times))
    var = sum((k - mean_k) ** 2 for k in range(n))
    return var / cov


def _finish(proc: subprocess.Popen) -> None:
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err


@pytest.mark.alone
def test_four_shards_share_one_limit_and_merge_to_the_single_process_output(tmp_path: Path, own_redis) -> None:
    """4 shard processes on a shared 50 req/s Redis limit admit 50 +- 3% req/s together; the merged output equals one process's, byte for byte."""
    n = SHARDS * PER_SHARD
    src = tmp_path / "in.jsonl"
    src.write_text(
        "".join(json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"q{i}"}]}) + "\n" for i in range(n))
    )
    gate = threading.Event()
    gate.set()
    seen: set[int] = set()
    opened_at: list[float] = []
    lock = threading.Lock()

    def script(i: int, rec) -> Fault:
        prompt = rec.json["messages"][-1]["content"]
        if not gate.is_set():  # hold the first calls until every shard process is up, so all four start together
            with lock:
                seen.add(int(prompt[1:]) % SHARDS)
                if len(seen) == SHARDS:
                    opened_at.append(time.monotonic())
                    gate.set()
            gate.wait(60)
        return Fault.ok("re: " + prompt)

    with MockProvider(script=script) as mock:
        single = tmp_path / "single.jsonl"
        opts = ConnectionOptions(api_key=KEY, base_url=mock.base_url)
        with AiClientBuilder("openai").with_options(opts).build() as client:  # what `ailib batch` builds, in this process
            items = [json.loads(line) for line in src.read_text().splitlines()]
            assert all(not isinstance(r, Exception) for r in run_batch(client, items, concurrency=8, checkpoint=single))

        mock.reset()
        gate.clear()
        outs = [tmp_path / f"shard{k}.jsonl" for k in range(SHARDS)]
        procs = [
            _cli(
                mock,
                str(src),
                "-o",
                str(out),
                "--shard",
                f"{k}/{SHARDS}",
                "--rps",
                str(RATE),
                "--concurrency",
                "8",
                "--state-store",
                own_redis.url,
            )
            for k, out in enumerate(outs)
        ]
        for proc in procs:
            _finish(proc)
        arrivals = sorted(r.received_at for r in mock.chat_requests)

    assert len(arrivals) == n
    start = opened_at[0] + 1.5  # past the burst: from here on the shared bucket admits exactly RATE a second
    steady = [t for t in arrivals if t >= start]
    rate = _rate(steady)
    assert len(steady) > 2 * RATE and RATE * 0.97 <= rate <= RATE * 1.03, rate

    merged = tmp_path / "merged.jsonl"
    proc = subprocess.run(
        [sys.executable, "-m", "ailib", "batch", "merge", *map(str, outs), "-o", str(merged)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert merged.read_bytes() == single.read_bytes()
