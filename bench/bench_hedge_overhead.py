"""Per-call cost of hedging when no hedge fires: a hedged client against an unhedged one.

Both clients call the same fast local server (a separate process) in the same run,
in back-to-back pairs (alternating which goes first); the difference reported is the
median of the per-pair differences, which a loaded machine's drift and preemptions
disturb far less than a difference of medians. The hedged client's delay (5 s) never
passes, so the difference is what arming and disarming a hedge costs a call (the primary
runs on the caller's thread; target: within 10 µs of unhedged, medians of the same run).

    python bench/bench_hedge_overhead.py [--calls 3000] [--rounds 6]

Also run over an in-process transport (``with_transport``, no sockets), where the
difference is not hidden under the cost of a loopback round trip.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._measure import time_calls

HERE = Path(__file__).resolve().parent


def start_server() -> tuple[subprocess.Popen, int]:
    """The fast local OpenAI-shaped server (a separate process); returns it and its port."""
    proc = subprocess.Popen([sys.executable, str(HERE / "_fast_server.py")], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, int(proc.stdout.readline())


class _Canned:
    """An in-process transport (the one-method seam) answering every call at once."""

    def __init__(self) -> None:
        from ailib.transport import HttpResponse

        body = json.dumps(
            {
                "id": "c",
                "model": "bench-model",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello"}, "finish_reason": "stop"}],
            }
        ).encode()
        self.response = HttpResponse(200, {"content-type": "application/json"}, body)

    def send(self, request: object, deadlines: object, handle: object) -> object:
        return self.response


def run(calls: int, rounds: int = 0, in_process: bool = False, port: Optional[int] = None) -> dict[str, float]:
    """Paired medians over ``calls`` pairs: against the server at ``port`` (started here when
    None), or through an in-process transport."""
    from ailib import AiClientBuilder, ChatCompletionRequest, CustomProviderBuilder, HedgePolicy, Message

    proc: Optional[subprocess.Popen] = None
    if not in_process and port is None:
        proc, port = start_server()
    try:
        base = f"http://127.0.0.1:{port or 1}/v1"  # in process: never dialled
        provider = CustomProviderBuilder("bench").with_base_url(base).with_api_key("sk-bench").build_provider()
        plain_b = AiClientBuilder(provider)
        hedged_b = AiClientBuilder(provider).with_hedging(HedgePolicy(delay=5.0))
        if in_process:
            plain_b, hedged_b = plain_b.with_transport(_Canned()), hedged_b.with_transport(_Canned())
        plain, hedged = plain_b.build(), hedged_b.build()
        req = ChatCompletionRequest("bench-model", [Message.user("Say hello")])
        fns = {"unhedged": lambda: plain.chat_completion(req).text, "hedged": lambda: hedged.chat_completion(req).text}
        for fn in fns.values():  # warm up pools and caches
            time_calls(fn, 300)
        times: dict[str, list[float]] = {name: [] for name in fns}
        diffs: list[float] = []  # per pair of back-to-back calls: hedged - unhedged
        perf = time.perf_counter
        one, two = fns["unhedged"], fns["hedged"]
        for i in range(calls):
            if i % 2:  # alternate which goes first
                t0 = perf()
                one()
                t1 = perf()
                two()
                t2 = perf()
                a, b = t1 - t0, t2 - t1
            else:
                t0 = perf()
                two()
                t1 = perf()
                one()
                t2 = perf()
                b, a = t1 - t0, t2 - t1
            times["unhedged"].append(a)
            times["hedged"].append(b)
            diffs.append(b - a)
        plain.close()
        hedged.close()
    finally:
        if proc is not None:
            proc.kill()
            proc.wait()
    med = {name: statistics.median(ts) * 1e6 for name, ts in times.items()}
    return {"unhedged_median_us": med["unhedged"], "hedged_median_us": med["hedged"], "difference_us": statistics.median(diffs) * 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=6, help="unused (kept for the old command line)")
    args = parser.parse_args()
    loop = run(args.calls)
    mem = run(args.calls, in_process=True)
    print("| client | loopback server, median µs per call | in-process transport, median µs per call |")
    print("|---|---|---|")
    print(f"| unhedged | {loop['unhedged_median_us']:.1f} | {mem['unhedged_median_us']:.1f} |")
    print(f"| hedged, no hedge fired (delay 5 s) | {loop['hedged_median_us']:.1f} | {mem['hedged_median_us']:.1f} |")
    print(f"| difference (median of pairs) | {loop['difference_us']:+.1f} | {mem['difference_us']:+.1f} |")


if __name__ == "__main__":
    main()
