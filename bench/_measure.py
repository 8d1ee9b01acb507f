"""Timing primitives: interleaved rounds with a ratio per round, thread throughput, subprocess figures."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import threading
import time
from typing import Callable, Optional

Call = Callable[[], object]


def time_calls(fn: Call, n: int) -> list[float]:
    """Seconds per call for ``n`` sequential calls."""
    out = []
    perf = time.perf_counter
    for _ in range(n):
        t = perf()
        fn()
        out.append(perf() - t)
    return out


def interleaved(
    clients: dict[str, Call], baseline: str, *, rounds: int, round_seconds: float, block_seconds: float, warmup: int
) -> dict[str, dict]:
    """Every client in every round, finely interleaved, with a ratio to the baseline per round.

    A round is a series of cycles; each cycle runs every client (order rotated) for one block
    of about ``block_seconds``, so a burst of load from elsewhere hits all clients alike. Block
    sizes come from the warm-up, so slow and fast clients get the same time. Returns per client
    ``median_us`` and ``p90_us`` over every call, ``calls`` and ``ratios``: per round, the median
    over its cycles of the client's block median divided by the baseline's in the same cycle;
    ``cpu_us`` and ``cpu_ratios`` the same for this process's CPU time per call (the client's
    own work, all its threads; the server is another process), which a loaded machine
    disturbs far less than wall time.
    """
    names = list(clients)
    block = {}
    for name in names:
        xs = time_calls(clients[name], warmup)
        block[name] = max(1, min(500, round(block_seconds / max(statistics.median(xs), 1e-6))))
    cycles = max(1, round(round_seconds / block_seconds))
    samples: dict[str, list[float]] = {k: [] for k in names}
    ratios: dict[str, list[float]] = {k: [] for k in names}
    cpu: dict[str, list[float]] = {k: [] for k in names}  # process CPU seconds per call, per block
    cpu_ratios: dict[str, list[float]] = {k: [] for k in names}
    cpu_clock = time.process_time
    turn = 0
    for _ in range(rounds):
        cycle_ratios: dict[str, list[float]] = {k: [] for k in names}
        cycle_cpu: dict[str, list[float]] = {k: [] for k in names}
        for _ in range(cycles):
            turn += 1
            medians, cpus = {}, {}
            for name in names[turn % len(names) :] + names[: turn % len(names)]:
                c0 = cpu_clock()
                xs = time_calls(clients[name], block[name])
                cpus[name] = (cpu_clock() - c0) / len(xs)
                samples[name] += xs
                cpu[name].append(cpus[name])
                medians[name] = statistics.median(xs)
            for name in names:  # neighbours in time: a burst of load from elsewhere cancels out
                cycle_ratios[name].append(medians[name] / medians[baseline])
                cycle_cpu[name].append(cpus[name] / cpus[baseline] if cpus[baseline] else float("nan"))
        for name in names:
            ratios[name].append(statistics.median(cycle_ratios[name]))
            cpu_ratios[name].append(statistics.median(cycle_cpu[name]))
    out = {}
    for name in names:
        xs = sorted(samples[name])
        out[name] = {
            "median_us": statistics.median(xs) * 1e6,
            "p90_us": xs[min(len(xs) - 1, int(0.9 * len(xs)))] * 1e6,
            "calls": len(xs),
            "ratios": ratios[name],
            "cpu_us": statistics.median(cpu[name]) * 1e6,
            "cpu_ratios": cpu_ratios[name],
        }
    return out


def throughput(fn: Call, threads: int, seconds: float) -> float:
    """Calls per second from ``threads`` threads calling ``fn`` for ``seconds``."""
    counts = [0] * threads
    errors: list[BaseException] = []
    start = threading.Barrier(threads + 1)
    stop_at = [0.0]

    def worker(i: int) -> None:
        start.wait()
        end = stop_at[0]
        now = time.perf_counter
        c = 0
        try:
            while now() < end:
                fn()
                c += 1
        except BaseException as exc:  # surfaced below: a failing client must not look fast
            errors.append(exc)
        counts[i] = c

    pool = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads)]
    for t in pool:
        t.start()
    t0 = time.perf_counter()
    stop_at[0] = t0 + seconds
    start.wait()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - t0
    if errors:
        raise RuntimeError(f"{len(errors)} thread(s) failed: {errors[0]!r}") from errors[0]
    return sum(counts) / elapsed


def interleaved_throughput(clients: dict[str, Call], baseline: str, *, threads: int, rounds: int, seconds: float) -> dict[str, dict]:
    """Throughput per client in every round (order rotated), with a ratio to the baseline per round.

    Each client's window is ``seconds`` or long enough for about eight calls per thread
    (from its warm-up rate; at most 3 s), so a slow client's last calls do not dominate."""
    names = list(clients)
    window = {}
    for name in names:  # warm pools up to the thread count; a window holds at least ~8 calls per thread
        rate = throughput(clients[name], threads, min(0.2, seconds))
        window[name] = min(3.0, max(seconds, 8 * threads / max(rate, 1e-9)))
    per_round = []
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        per_round.append({name: throughput(clients[name], threads, window[name]) for name in order})
    return {
        name: {
            "calls_per_s": statistics.median(m[name] for m in per_round),
            "ratios": [m[name] / m[baseline] for m in per_round],
        }
        for name in names
    }


def child_env(extra: Optional[dict[str, str]] = None) -> dict[str, str]:
    """The environment for measuring children: bytecode allowed (installed packages have it),
    plus ``extra`` variables."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.update(extra or {})
    return env


def run_child(code: str, *, timeout: float = 60.0, env: Optional[dict[str, str]] = None) -> list[float]:
    """Run ``code`` in a fresh interpreter (``env``: variables to add); it prints numbers on its last line."""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=child_env(env), timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"child failed: {proc.stderr[-800:]}")
    return [float(x) for x in proc.stdout.strip().splitlines()[-1].split()]


def median_or_none(xs: list[float]) -> Optional[float]:
    return statistics.median(xs) if xs else None
