"""A batch on a Dask cluster, offline: 2 shards, each running its calls on a LocalCluster of 2
worker processes, one rate limit shared through Redis, the shard outputs merged.

The client travels to the workers pickled as its configuration, never its key: each worker
reads the key again from the environment variable the provider names (here MOCK_API_KEY;
OPENAI_API_KEY for AiClientBuilder("openai")). A client built with a literal key refuses to
pickle. With a RedisStateStore, every worker process draws on one limit per endpoint.

Redis: $AILIB_REDIS_URL if set, else a redis-server started here on a free port if one is
installed, else no shared limit (each worker then limits itself alone).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

import distributed

from ailib import AiClientBuilder, CustomProviderBuilder, RateLimitPolicy
from ailib.batch import merge_outputs
from ailib.testing import Fault, MockProvider

RATE = 10.0  # requests per second for the whole cluster
SHARDS = 2


@contextlib.contextmanager
def redis_url() -> Iterator[Optional[str]]:
    """A Redis URL to share state through, or None."""
    if os.environ.get("AILIB_REDIS_URL"):
        yield os.environ["AILIB_REDIS_URL"]
        return
    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):  # up to 10 s for it to listen
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.kill()
        proc.wait()


def main() -> None:
    arrivals: list[float] = []
    lock = threading.Lock()

    def server(i: int, rec: Any) -> Fault:
        with lock:
            arrivals.append(time.monotonic())
        return Fault.ok("summary of " + rec.json["messages"][-1]["content"])

    os.environ.setdefault("MOCK_API_KEY", "mock-key")  # set before the workers start: they inherit it
    requests = [{"model": "mock-model", "messages": [{"role": "user", "content": f"note {i}"}], "metadata": {"note": i}} for i in range(40)]
    with MockProvider(script=server) as mock, redis_url() as url, tempfile.TemporaryDirectory() as tmp:
        provider = (
            CustomProviderBuilder("mock")
            .with_base_url(mock.base_url)
            .with_api_key_env("MOCK_API_KEY")
            .with_default_chat_model("mock-model")
            .build_provider()
        )
        builder = AiClientBuilder(provider).with_rate_limit(RateLimitPolicy(requests_per_second=RATE))
        if url is not None:
            from ailib.state import RedisStateStore

            builder = builder.with_state_store(RedisStateStore(url, namespace="dask-example"))
        print(f"shared limit: {RATE:g} req/s through {'Redis' if url else 'nothing (no Redis): each worker alone'}")
        outs = [Path(tmp) / f"part{k}.jsonl" for k in range(SHARDS)]
        with (
            builder.build() as client,
            distributed.LocalCluster(n_workers=2, threads_per_worker=4, processes=True, dashboard_address=None) as cluster,
            distributed.Client(cluster) as dask,
        ):
            executor = dask.get_executor()
            start = time.monotonic()
            threads = [
                threading.Thread(
                    target=client.chat_completion_batch,
                    args=(requests,),
                    kwargs={"shard": (k, SHARDS), "executor": executor, "concurrency": 4, "checkpoint": outs[k]},
                )
                for k in range(SHARDS)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            elapsed = time.monotonic() - start
        merged = Path(tmp) / "results.jsonl"
        n = merge_outputs(outs, merged)
        print(f"{n} requests on {SHARDS} shards and 2 Dask workers in {elapsed:.1f} s; merged into {merged.name}")
        later = [t for t in arrivals if t >= arrivals[0] + 1.0]  # past the first second's burst
        rate = (len(later) - 1) / (later[-1] - later[0]) if len(later) > 1 else float("nan")
        print(f"the server saw {len(arrivals)} requests: {len(arrivals) - len(later)} in the first second, then {rate:.1f} req/s")
        print("first line:", merged.read_text().splitlines()[0][:120], "...")


if __name__ == "__main__":
    main()
