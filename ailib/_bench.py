"""``ailib bench``: run the benchmarks in ``bench/`` and print their tables (for the README)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Optional, TextIO

ORDER = ("overhead", "retry_budget", "routing", "hedging", "primitives", "state", "batch_memory")


def find_bench_dir() -> Optional[Path]:
    """``bench/`` of a source checkout: beside the package, or under the current directory."""
    for candidate in (Path(__file__).resolve().parents[1] / "bench", Path.cwd() / "bench"):
        if (candidate / "bench_overhead.py").exists():
            return candidate
    return None


def run(only: Optional[list], out: TextIO, err: TextIO) -> int:
    bench = find_bench_dir()
    if bench is None:
        print("ailib bench: no bench/ directory found; run it from a clone of the ailib repository", file=err)
        return 2
    names = [n for n in ORDER if (bench / f"bench_{n}.py").exists()]
    names += sorted(p.stem[6:] for p in bench.glob("bench_*.py") if p.stem[6:] not in names)
    if only:
        unknown = set(only) - set(names)
        if unknown:
            print(f"ailib bench: unknown benchmark(s) {sorted(unknown)}; available: {', '.join(names)}", file=err)
            return 2
        names = [n for n in names if n in only]
    status = 0
    for name in names:
        script = bench / f"bench_{name}.py"
        print(f"\n### {name}  (python bench/{script.name})\n", file=out, flush=True)
        proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
        out.write(proc.stdout)
        if proc.returncode != 0:
            status = 1
            print(f"(failed with exit code {proc.returncode})\n{proc.stderr[-2000:]}", file=out)
    return status
