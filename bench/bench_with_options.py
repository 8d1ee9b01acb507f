"""µs to create ``AiClient.with_options(...)`` views, against building a new client.

A view shares its parent's pool, breakers, limiters and budgets, so making one per call
should cost microseconds (target: < 20 µs), where a new client builds a session.

    python bench/bench_with_options.py [--n 20000]
"""

from __future__ import annotations

import argparse
import timeit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=20000)
    args = parser.parse_args()
    from ailib import AiClient, AiClientBuilder, CustomProviderBuilder

    provider = CustomProviderBuilder("bench").with_base_url("http://127.0.0.1:9/v1").with_api_key("sk-bench").build_provider()
    client = AiClientBuilder(provider).build()
    rows = {
        "with_options(max_retries=0)": lambda: client.with_options(max_retries=0),
        "with_options(timeout=5, deadline=10)": lambda: client.with_options(timeout=5, deadline=10),
    }
    print("| made | µs each (best of 5) |")
    print("|---|---|")
    for name, fn in rows.items():
        best = min(timeit.repeat(fn, number=args.n, repeat=5)) / args.n * 1e6
        print(f"| {name} | {best:.1f} |")
    best = min(timeit.repeat(lambda: AiClient(provider).close(), number=200, repeat=3)) / 200 * 1e6
    print(f"| a new AiClient (baseline) | {best:.1f} |")
    client.close()


if __name__ == "__main__":
    main()
