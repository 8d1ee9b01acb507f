"""``ailib bench``: run the benchmark suite in ``bench/`` (a source checkout) and print its tables.

``ailib bench`` runs ``python -m bench.run --runs 3``: ailib against raw and tuned requests,
urllib3 and openai-python, every figure side by side in one run, as the README prints it.
``ailib bench quick`` is one short run (for a first look); ``ailib bench NAME ...`` runs the
single-purpose scripts ``bench/bench_NAME.py`` (routing, hedging, state, ...).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Optional, TextIO

ORDER = ("overhead", "retry_budget", "routing", "hedging", "primitives", "state", "batch_memory", "decode")
SUITE = {"suite": ["--runs", "3"], "quick": ["--runs", "1", "--quick"]}


def find_bench_dir() -> Optional[Path]:
    """``bench/`` of a source checkout: beside the package, or under the current directory."""
    for candidate in (Path(__file__).resolve().parents[1] / "bench", Path.cwd() / "bench"):
        if (candidate / "run.py").exists():
            return candidate
    return None


def _stream(cmd: list[str], cwd: Path, out: TextIO) -> int:
    proc = subprocess.Popen(cmd, cwd=str(cwd), stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        out.write(line)
        out.flush()
    return proc.wait()


def run(only: Optional[list[str]], out: TextIO, err: TextIO) -> int:
    bench = find_bench_dir()
    if bench is None:
        print("ailib bench: no bench/ directory found; run it from a clone of the ailib repository", file=err)
        return 2
    scripts = [n for n in ORDER if (bench / f"bench_{n}.py").exists()]
    scripts += sorted(p.stem[6:] for p in bench.glob("bench_*.py") if p.stem[6:] not in scripts)
    names = list(only or ["suite"])
    unknown = set(names) - set(scripts) - set(SUITE)
    if unknown:
        print(
            f"ailib bench: unknown benchmark(s) {sorted(unknown)}; available: {', '.join([*SUITE, *scripts])}",
            file=err,
        )
        return 2
    status = 0
    for name in names:
        if name in SUITE:
            print(f"\n### {name}  (python -m bench.run {' '.join(SUITE[name])})\n", file=out, flush=True)
            code = _stream([sys.executable, "-m", "bench.run", *SUITE[name]], bench.parent, out)
        else:
            script = bench / f"bench_{name}.py"
            print(f"\n### {name}  (python bench/{script.name})\n", file=out, flush=True)
            proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
            out.write(proc.stdout)
            code = proc.returncode
            if code != 0:
                print(f"{proc.stderr[-2000:]}", file=out)
        if code != 0:
            status = 1
            print(f"(failed with exit code {code})", file=out)
    return status
