"""Peak memory of a 10,000-request batch, above the empty-process baseline. Target: < 100 MB.

Each case runs in a fresh subprocess so the figures do not mix. The child imports ailib
and builds its client, reads its peak RSS (the baseline: ``VmHWM`` on Linux, as
``ru_maxrss`` there keeps the parent's peak across ``exec``; ``getrusage`` elsewhere), builds
the requests, runs ``chat_completion_batch`` and reads its peak RSS again; the table
shows the baseline and the growth (results and inputs kept alive until the end, as a
caller would). The MockProvider runs in this parent process, so the recorded requests of
the test server are not counted.

    python bench/bench_batch_memory.py [--requests 10000] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from ailib.testing import MockProvider

CHILD = r"""
import json, resource, sys, time
from ailib import AiClientBuilder, CustomProviderBuilder, RetryPolicy

def peak_mb():
    try:  # Linux: this program's own high-water mark (ru_maxrss keeps the parent's across exec)
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024

base_url, n, concurrency, checkpoint = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] or None
provider = CustomProviderBuilder("mock").with_base_url(base_url).with_default_chat_model("mock-model").build_provider()
client = AiClientBuilder(provider).with_retry(RetryPolicy(initial_delay=0.001, max_delay=0.01)).build()
baseline = peak_mb()
bodies = [{"model": "auto", "messages": [{"role": "user", "content": f"Summarise document number {i} in one line."}]} for i in range(n)]
start = time.perf_counter()
results = client.chat_completion_batch(bodies, concurrency=concurrency, checkpoint=checkpoint)
elapsed = time.perf_counter() - start
failed = sum(isinstance(r, Exception) for r in results)
print(json.dumps({"baseline_mb": baseline, "peak_mb": peak_mb(), "elapsed": elapsed, "failed": failed, "n": len(results)}))
"""

TARGET_MB = 100.0


def run_case(base_url: str, n: int, concurrency: int, checkpoint: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, base_url, str(n), str(concurrency), checkpoint],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def empty_process_mb() -> float:
    """Peak RSS of a Python process that only imports ailib (for reference)."""
    code = CHILD.split("base_url, n")[0] + "print(peak_mb())"
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    n = args.requests
    rows = []
    with tempfile.TemporaryDirectory() as tmp, MockProvider() as mock:
        ckpt = os.path.join(tmp, "batch.jsonl")
        cases = [
            (f"{n:,} requests, no checkpoint", ""),
            (f"{n:,} requests, checkpoint", ckpt),
            (f"{n:,} requests resumed from a complete checkpoint (none sent)", ckpt),
        ]
        for label, path in cases:
            before = mock.request_count
            t0 = time.perf_counter()
            r = run_case(mock.base_url, n, args.concurrency, path)
            assert r["n"] == n and r["failed"] == 0, r
            rows.append((label, r, mock.request_count - before, time.perf_counter() - t0))
    print(
        f"Python {sys.version.split()[0]}, concurrency {args.concurrency}; a process that only imports ailib peaks at {empty_process_mb():.1f} MB RSS.\n"
    )
    print("| case | baseline RSS (MB) | peak RSS (MB) | above baseline (MB) | requests sent | batch time (s) | target |")
    print("|---|---|---|---|---|---|---|")
    for label, r, sent, _ in rows:
        growth = r["peak_mb"] - r["baseline_mb"]
        verdict = "ok" if growth < TARGET_MB else "OVER"
        print(
            f"| {label} | {r['baseline_mb']:.1f} | {r['peak_mb']:.1f} | {growth:.1f} | {sent:,} | {r['elapsed']:.1f} | < {TARGET_MB:.0f} MB {verdict} |"
        )


if __name__ == "__main__":
    main()
