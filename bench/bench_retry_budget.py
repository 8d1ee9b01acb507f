"""Load amplification during an outage: wire attempts per call with and without the retry budget.

A MockProvider fails every request with 503. Both clients make the same number of calls
from 8 threads with 3-attempt retries (backoff 0 so the run is quick; the budget, not
time, is what is measured). The naive client (no budget) sends 3 attempts per call; the
budgeted one stays near 1 + retry_budget. Target: <= 1.2x.

    python bench/bench_retry_budget.py [--calls 2000]
"""

from __future__ import annotations

import argparse
from concurrent.futures import ThreadPoolExecutor
from typing import Optional

from ailib import AiClientBuilder, AiLibError, ChatCompletionRequest, Message, RetryPolicy
from ailib.testing import Fault, MockProvider


def amplification(calls: int, budget: Optional[float]) -> float:
    with MockProvider(script=lambda i, rec: Fault.http_status(503)) as mock:
        policy = RetryPolicy(max_attempts=3, initial_delay=0.0, max_delay=0.0, retry_budget=budget)
        client = AiClientBuilder(mock.provider()).with_retry(policy).without_circuit_breaker().build()
        req = ChatCompletionRequest("auto", [Message.user("hi")])

        def one(_: int) -> None:
            try:
                client.chat_completion(req)
            except AiLibError:
                pass

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(one, range(calls)))
        client.close()
        return mock.request_count / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    naive = amplification(args.calls, None)
    budgeted = amplification(args.calls, 0.1)
    print(f"| provider down, {args.calls} calls, 3 attempts each | wire attempts per call |")
    print("|---|---|")
    print(f"| naive retry (no budget) | {naive:.2f}x |")
    print(f"| ailib retry budget (retry_budget=0.1) | {budgeted:.2f}x |")


if __name__ == "__main__":
    main()
