"""Issue 26: a shard reads its input as a stream and keeps only its own items; merge streams too."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ailib.testing import MockProvider

KEY = "sk-batch-scale-0123456789abcdef"
MiB = 2**20


def _write_input(path: Path, lines: int) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for i in range(lines):
            f.write(json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"question number {i:07d}"}]}) + "\n")


# Runs `ailib ARGS` and, at exit, writes the process's VmHWM (peak RSS of its own address space, in
# KiB) to the file named first. Not wait4's ru_maxrss: Linux carries that over from the parent
# across fork and exec, so a child of a big pytest worker would report the worker's peak.
_PEAK = """
import atexit, sys
from ailib.cli import main
def _hwm():
    with open("/proc/self/status") as f:
        kib = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    with open(sys.argv[1], "w") as out:
        out.write(str(kib))
atexit.register(_hwm)
sys.exit(main(sys.argv[2:]))
"""


def _peak_rss(args: list[str], env: dict, tmp: Path) -> tuple[int, int]:
    """(exit status, peak RSS in bytes) of `ailib ARGS` in a new process."""
    report = tmp / "peak.txt"
    proc = subprocess.run(
        [sys.executable, "-c", _PEAK, str(report), *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300
    )
    return proc.returncode, int(report.read_text()) * 1024


def test_a_shards_memory_does_not_grow_with_the_input_file(tmp_path):
    """Shard 0/10000 of 200,000 lines (20 requests) peaks under 150 MiB and within 12 MiB of the same shard of 2,000 lines (0.2 requests' worth of file)."""
    small, big = tmp_path / "small.jsonl", tmp_path / "big.jsonl"
    _write_input(small, 2_000)
    _write_input(big, 200_000)  # 19 MB: holding it parsed took ~300 MB before
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    with MockProvider() as mock:
        env.update(OPENAI_BASE_URL=mock.base_url, OPENAI_API_KEY=KEY)
        rc_small, rss_small = _peak_rss(["batch", str(small), "-o", str(tmp_path / "s.jsonl"), "--shard", "0/10000"], env, tmp_path)
        rc_big, rss_big = _peak_rss(["batch", str(big), "-o", str(tmp_path / "b.jsonl"), "--shard", "0/10000"], env, tmp_path)
        assert (rc_small, rc_big) == (0, 0)
        assert mock.request_count == 1 + 20
    records = [json.loads(line) for line in (tmp_path / "b.jsonl").read_text().splitlines()]
    assert [r["index"] for r in records] == list(range(0, 200_000, 10_000))
    assert rss_big < 150 * MiB, rss_big / MiB
    assert rss_big - rss_small < 12 * MiB, (rss_small / MiB, rss_big / MiB)


def test_merge_memory_does_not_grow_with_the_records(tmp_path):
    """Merging 200,000 records from 4 shard files peaks within 12 MiB of merging 2,000 (a few bytes per record, no record held)."""

    def parts(n: int, tag: str) -> list[str]:
        paths = [tmp_path / f"{tag}{k}.jsonl" for k in range(4)]
        files = [open(p, "w", encoding="utf-8") for p in paths]
        for i in range(n):
            rec = {"key": f"{i:064x}#0", "index": i, "response": {"id": f"r{i}", "choices": [{"message": {"content": "x" * 200}}]}}
            files[i % 4].write(json.dumps(rec, separators=(",", ":")) + "\n")
        for f in files:
            f.close()
        return [str(p) for p in paths]

    rc_small, rss_small = _peak_rss(["batch", "merge", *parts(2_000, "s"), "-o", str(tmp_path / "s.out")], dict(os.environ), tmp_path)
    rc_big, rss_big = _peak_rss(["batch", "merge", *parts(200_000, "b"), "-o", str(tmp_path / "b.out")], dict(os.environ), tmp_path)
    assert (rc_small, rc_big) == (0, 0)
    with open(tmp_path / "b.out", "rb") as f:
        assert sum(1 for _ in f) == 200_000
    assert rss_big - rss_small < 12 * MiB, (rss_small / MiB, rss_big / MiB)  # the records are 62 MB of text
