"""Where the import a user pays goes: ``python -X importtime`` on both sides of the suite's
``import`` figure (``import ailib`` + one default client built, against the dependencies + one
``requests.Session()``), each in fresh interpreters, medians over ``--runs``.

    python -m bench.import_cost --runs 5 --top 15

Prints the two sides' import totals, ailib's modules by cumulative import time (a module's
cumulative includes what it imported first, so a package holds its children; the first column
leaves out the subtrees of modules the other side imports too, i.e. requests, urllib3, tenacity,
attrs and the stdlib they pull, so it is what ailib adds), and the modules outside ailib that only
the ailib side loads, by their own time.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Optional

if __package__ in (None, ""):  # python bench/import_cost.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "bench"

from ._measure import child_env
from .run import CLIENT_BUILD, CLIENT_ENV, SESSION_BUILD

Row = tuple[int, int, int]  # self µs, cumulative µs, cumulative µs without the baseline's modules


def importtime(code: str, env: Optional[dict[str, str]] = None) -> list[tuple[int, str, int, int]]:
    """(depth, module, self µs, cumulative µs) per import, in ``-X importtime`` order (children first),
    from one fresh interpreter running ``code``."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, env=child_env(env), timeout=60)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-800:])
    out = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cum_us, name = line[len("import time:") :].split("|")
        depth = (len(name) - len(name.lstrip()) - 1) // 2
        out.append((depth, name.strip(), int(self_us), int(cum_us)))
    return out


def rows(lines: list[tuple[int, str, int, int]], shared: set[str]) -> dict[str, Row]:
    """Module -> (self, cumulative, cumulative less the subtrees of modules in ``shared``)."""
    pending: dict[int, list[tuple[str, int]]] = {}  # depth -> (module, own cumulative) not yet given a parent
    out: dict[str, Row] = {}
    for depth, name, self_us, cum_us in lines:
        children = pending.pop(depth + 1, [])
        own = self_us + sum(c for n, c in children if n not in shared)
        out[name] = (self_us, cum_us, own)
        pending.setdefault(depth, []).append((name, own))
    return out


def medians(runs: list[dict[str, Row]]) -> dict[str, tuple[float, float, float]]:
    names = set().union(*runs)
    return {n: tuple(statistics.median(r.get(n, (0, 0, 0))[i] for r in runs) for i in range(3)) for n in names}  # type: ignore[misc]


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.import_cost", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5, help="fresh interpreters per side (alternating); default 5")
    parser.add_argument("--top", type=int, default=15, help="rows per table; default 15")
    args = parser.parse_args(argv)
    import compileall

    import ailib

    compileall.compile_dir(str(Path(ailib.__file__).parent), quiet=1)  # from .pyc, like installed packages
    ours, base = [], []
    for _ in range(args.runs):
        ours.append(importtime(CLIENT_BUILD, CLIENT_ENV))
        base.append(importtime(SESSION_BUILD))
    shared = {name for run in base for _, name, _, _ in run}
    a = medians([rows(run, shared) for run in ours])
    b = medians([rows(run, set()) for run in base])
    mine = [n for n in a if n == "ailib" or n.startswith("ailib.")]
    print(
        f"-X importtime, median of {args.runs} fresh interpreters per side (importtime's own overhead inflates every figure): "
        f"every import, ailib + client {sum(v[0] for v in a.values()) / 1e3:.1f} ms, deps + Session "
        f"{sum(v[0] for v in b.values()) / 1e3:.1f} ms; ailib's own modules {sum(a[n][0] for n in mine) / 1e3:.1f} ms; "
        f"other modules only the ailib side loads {sum(a[n][0] for n in a if n not in shared and n not in mine) / 1e3:.1f} ms\n"
    )
    print(f"ailib modules by cumulative import time, less the modules the other side also imports (top {args.top}):\n")
    print("| module | cumulative ms, without deps | cumulative ms, with deps | self ms |\n|---|---:|---:|---:|")
    for n in sorted(mine, key=lambda n: -a[n][2])[: args.top]:
        print(f"| {n} | {a[n][2] / 1e3:.2f} | {a[n][1] / 1e3:.2f} | {a[n][0] / 1e3:.2f} |")
    extra = sorted((n for n in a if n not in shared and n not in mine), key=lambda n: -a[n][0])
    if extra:
        print(f"\nmodules outside ailib that only the ailib side imports, by self time (top {args.top}):\n")
        print("| module | self ms | cumulative ms |\n|---|---:|---:|")
        for n in extra[: args.top]:
            print(f"| {n} | {a[n][0] / 1e3:.2f} | {a[n][1] / 1e3:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
