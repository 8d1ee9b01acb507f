"""Per-call overhead of ``AiClient.chat_completion`` against raw ``requests`` on one local endpoint.

Both clients call the same fast local server (a separate process) in the same run,
interleaved in rounds so drift affects both alike. Reports median and p90 microseconds
per call and the ratio ailib / raw requests (target: median <= 1.15x). Also reports
``import ailib`` time against the import time of its own dependencies (target <= 1.3x).

    python bench/bench_overhead.py [--calls 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent


def start_server() -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen([sys.executable, str(HERE / "_fast_server.py")], stdout=subprocess.PIPE, text=True)
    port = int(proc.stdout.readline())
    return proc, port


def time_calls(fn: Callable[[], object], n: int) -> list[float]:
    out = []
    perf = time.perf_counter
    for _ in range(n):
        t = perf()
        fn()
        out.append(perf() - t)
    return out


def import_times(runs: int = 7) -> dict[str, float]:
    code = (
        "import time; t=time.perf_counter(); import requests, urllib3, tenacity, attrs; a=time.perf_counter()-t;"
        "import ailib; b=time.perf_counter()-t; print(a, b)"
    )
    import compileall
    import os

    import ailib

    # Installed packages carry bytecode; measure both sides from .pyc files, whatever
    # PYTHONDONTWRITEBYTECODE says in this shell.
    compileall.compile_dir(os.path.dirname(ailib.__file__), quiet=1)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    deps, total = [], []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout.split()
        deps.append(float(out[0]))
        total.append(float(out[1]))
    d, t = statistics.median(deps), statistics.median(total)
    return {"deps_ms": d * 1000, "ailib_ms": t * 1000, "ratio": t / d}


def run(calls: int, rounds: int) -> dict[str, float]:
    import requests

    from ailib import AiClient, ChatCompletionRequest, CustomProviderBuilder, Message

    proc, port = start_server()
    try:
        base = f"http://127.0.0.1:{port}/v1"
        body = {"model": "bench-model", "messages": [{"role": "user", "content": "Say hello"}]}
        session = requests.Session()

        def raw() -> object:
            r = session.post(base + "/chat/completions", json=body, headers={"Authorization": "Bearer sk-bench"})
            r.raise_for_status()
            return r.json()["choices"][0]["message"]["content"]

        provider = CustomProviderBuilder("bench").with_base_url(base).with_api_key("sk-bench").build_provider()
        client = AiClient(provider)
        req = ChatCompletionRequest("bench-model", [Message.user("Say hello")])

        def ours() -> object:
            return client.chat_completion(req).text

        for fn in (raw, ours):  # warm up pools and caches
            time_calls(fn, 200)
        raw_times: list[float] = []
        our_times: list[float] = []
        for _ in range(rounds):
            raw_times += time_calls(raw, calls // rounds)
            our_times += time_calls(ours, calls // rounds)
        client.close()
        session.close()
    finally:
        proc.kill()
        proc.wait()

    def q(xs: list[float], p: float) -> float:
        xs = sorted(xs)
        return xs[min(len(xs) - 1, int(p * len(xs)))]

    raw_med, our_med = statistics.median(raw_times), statistics.median(our_times)
    return {
        "raw_median_us": raw_med * 1e6,
        "ailib_median_us": our_med * 1e6,
        "raw_p90_us": q(raw_times, 0.9) * 1e6,
        "ailib_p90_us": q(our_times, 0.9) * 1e6,
        "ratio": our_med / raw_med,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    r = run(args.calls, args.rounds)
    imp = import_times()
    print("| measure | raw requests | ailib | ratio |")
    print("|---|---|---|---|")
    print(f"| chat_completion median per call | {r['raw_median_us']:.0f} µs | {r['ailib_median_us']:.0f} µs | {r['ratio']:.2f}x |")
    print(f"| chat_completion p90 per call | {r['raw_p90_us']:.0f} µs | {r['ailib_p90_us']:.0f} µs | {r['ailib_p90_us'] / r['raw_p90_us']:.2f}x |")
    print(f"| import time (deps vs import ailib) | {imp['deps_ms']:.0f} ms | {imp['ailib_ms']:.0f} ms | {imp['ratio']:.2f}x |")


if __name__ == "__main__":
    main()
