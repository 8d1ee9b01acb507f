"""Peak RSS of one `ailib batch --shard K/N` process over a generated input (issue 26).

    python scripts/shard_memory.py [LINES] [K/N]      # default: 1000000 lines, shard 0/1000

Writes LINES request lines (about 93 bytes each) to a temporary directory, runs the shard as
a child process against a loopback MockProvider, and prints the child's peak resident set
size (its ``VmHWM``), its wall time and the number of requests it sent; then
the same for ``ailib batch merge`` of LINES records from 4 shard files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ailib.testing import MockProvider

# Runs `ailib ARGS` and at exit writes the process's VmHWM (its own peak RSS, KiB) to the file
# named first. Not wait4's ru_maxrss, which Linux carries over from the parent across fork and exec.
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


def peak(args: list[str], env: dict[str, str], report: Path) -> tuple[int, float, int]:
    """(exit status, wall seconds, peak RSS in bytes) of `ailib ARGS` in a new process."""
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", _PEAK, str(report), *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc.returncode, time.monotonic() - start, int(report.read_text()) * 1024


def write_input(path: Path, lines: int) -> None:
    """``lines`` distinct OpenAI-style request lines."""
    with open(path, "w", encoding="utf-8") as f:
        for i in range(lines):
            f.write(json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"question number {i:07d}"}]}))
            f.write("\n")


def run_shard(src: Path, out: Path, shard: str, base_url: str) -> tuple[int, float, int]:
    """(exit status, wall seconds, peak RSS in bytes) of one shard process."""
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    env.update(OPENAI_BASE_URL=base_url, OPENAI_API_KEY="sk-shard-memory-0123456789")
    return peak(["batch", str(src), "-o", str(out), "--shard", shard, "--no-progress"], env, out.with_suffix(".peak"))


def write_shard_outputs(directory: Path, records: int, shards: int) -> list[Path]:
    """``shards`` finished shard outputs holding ``records`` small response records in all."""
    paths = [directory / f"part{k}.jsonl" for k in range(shards)]
    files = [open(p, "w", encoding="utf-8") for p in paths]
    for i in range(records):
        rec = {"key": f"{i:064x}#0", "index": i, "response": {"id": f"r{i}", "choices": [{"message": {"content": "ok"}}]}}
        files[i % shards].write(json.dumps(rec, separators=(",", ":")) + "\n")
    for f in files:
        f.close()
    return paths


def run_merge(paths: list[Path], out: Path) -> tuple[int, float, int]:
    """(exit status, wall seconds, peak RSS in bytes) of one ``ailib batch merge`` process."""
    return peak(["batch", "merge", *map(str, paths), "-o", str(out)], dict(os.environ), out.with_suffix(".peak"))


def main() -> None:
    lines = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    shard = sys.argv[2] if len(sys.argv) > 2 else "0/1000"
    with tempfile.TemporaryDirectory() as tmp:
        parts = write_shard_outputs(Path(tmp), lines, 4)
        rc, wall, rss = run_merge(parts, Path(tmp) / "merged.jsonl")
        print(f"merge of {lines} records from 4 files: exit {rc}, {wall:.1f} s, peak RSS {rss / 2**20:.1f} MiB")
    with tempfile.TemporaryDirectory() as tmp, MockProvider() as mock:
        src = Path(tmp) / "in.jsonl"
        write_input(src, lines)
        rc, wall, rss = run_shard(src, Path(tmp) / "out.jsonl", shard, mock.base_url)
        print(
            f"{lines} lines ({src.stat().st_size / 1e6:.1f} MB), shard {shard}: exit {rc}, "
            f"{mock.request_count} requests, {wall:.1f} s, peak RSS {rss / 2**20:.1f} MiB"
        )


if __name__ == "__main__":
    main()
