"""Per-call overhead and import time: the ``call`` and ``import`` sections of the suite, one run.

Kept for ``ailib bench overhead`` and old instructions; the figures in docs/benchmarks.md come from
``python -m bench.run --runs 3`` (every section, three runs, ranges).

    python bench/bench_overhead.py [--runs N] [--quick]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.run import main

if __name__ == "__main__":
    sys.exit(main(["--runs", "1", "--only", "call,import", *sys.argv[1:]]))
