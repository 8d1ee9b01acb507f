"""What the integrations cost: ``import ailib`` with and without the ``otel`` extra, a
cache hit per call, and tracing per call.

All against baselines measured in the same run:

- import: ``import ailib`` in fresh processes with ``opentelemetry`` importable versus
  blocked (as if the extra were not installed); the ratio should be ~1.0 since ailib
  imports OpenTelemetry only on a traced call.
- cache hit: ``chat_completion`` answered from ``MemoryCache`` / ``SQLiteCache`` versus the
  same call uncached to a fast local server (a separate process).
- tracing: the uncached call with tracing off, on without an SDK (the global no-op
  provider), and on with the SDK recording to an in-memory exporter; over the socket
  server, and in-process over ``MockTransport`` (no sockets: ailib's own cost only).

    python bench/bench_integrations.py [--calls 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

_BLOCK_OTEL = (
    "import sys\n"
    "class _Block:\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name.split('.')[0] == 'opentelemetry': raise ImportError(name)\n"
    "sys.meta_path.insert(0, _Block())\n"
)
_IMPORT = "import time; t=time.perf_counter(); import ailib; print(time.perf_counter()-t, any(m.startswith('opentelemetry') for m in sys.modules))"


def import_times(runs: int = 9) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run([sys.executable, "-c", "import ailib"], env=env, check=True)  # bytecode written once
    out: dict[str, list[float]] = {"with": [], "without": []}
    for _ in range(runs):  # interleaved, so drift hits both alike
        for name, prefix in (("with", "import sys\n"), ("without", _BLOCK_OTEL)):
            res = subprocess.run(
                [sys.executable, "-c", prefix + _IMPORT], env=env, capture_output=True, text=True, check=True
            ).stdout.split()
            if res[1] != "False":
                raise SystemExit("import ailib imported opentelemetry")
            out[name].append(float(res[0]))
    w, wo = statistics.median(out["with"]), statistics.median(out["without"])
    return {"with_ms": w * 1000, "without_ms": wo * 1000, "ratio": w / wo}


def time_calls(fn: Callable[[], object], n: int) -> list[float]:
    out = []
    perf = time.perf_counter
    for _ in range(n):
        t = perf()
        fn()
        out.append(perf() - t)
    return out


def per_call(calls: int, rounds: int) -> dict[str, float]:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from ailib import AiClientBuilder, ChatCompletionRequest, CustomProviderBuilder, Message

    proc = subprocess.Popen([sys.executable, str(HERE / "_fast_server.py")], stdout=subprocess.PIPE, text=True)
    port = int(proc.stdout.readline())  # type: ignore[union-attr]
    tmp = tempfile.TemporaryDirectory()
    exporter = InMemorySpanExporter()
    sdk = TracerProvider()
    sdk.add_span_processor(SimpleSpanProcessor(exporter))
    try:
        provider = CustomProviderBuilder("bench").with_base_url(f"http://127.0.0.1:{port}/v1").with_api_key("sk-bench").build_provider()
        req = ChatCompletionRequest("bench-model", [Message.user("Say hello")], temperature=0)

        def client(**kw: object):
            b = AiClientBuilder(provider)
            if "cache" in kw:
                b = b.with_cache(kw["cache"])
            return b.with_tracing(bool(kw.get("tracing", False)), tracer_provider=kw.get("tp")).build()

        clients = {
            "uncached, tracing off": client(),
            "uncached, tracing on, no SDK": client(tracing=True),
            "uncached, tracing on, SDK recording": client(tracing=True, tp=sdk),
            "memory cache hit": client(cache="memory"),
            "SQLite cache hit": client(cache=os.path.join(tmp.name, "c.sqlite")),
        }
        fns = {name: (lambda c=c: c.chat_completion(req)) for name, c in clients.items()}
        for fn in fns.values():  # warm pools; fill the caches
            time_calls(fn, 100)
        times: dict[str, list[float]] = {name: [] for name in fns}
        for _ in range(rounds):
            for name, fn in fns.items():
                times[name] += time_calls(fn, calls // rounds)
                exporter.clear()
        for c in clients.values():
            c.close()
    finally:
        proc.kill()
        proc.wait()
        tmp.cleanup()
    return {name: statistics.median(ts) * 1e6 for name, ts in times.items()}


def in_process(calls: int, rounds: int) -> dict[str, float]:
    """Tracing and cache cost with no network at all (MockTransport), interleaved rounds."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from ailib import AiClientBuilder, ChatCompletionRequest, CustomProviderBuilder, Message
    from ailib.testing import MockTransport

    body = {
        "id": "x", "object": "chat.completion", "model": "bench-model",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }  # fmt: skip
    transport = MockTransport(lambda request: body)
    exporter = InMemorySpanExporter()
    sdk = TracerProvider()
    sdk.add_span_processor(SimpleSpanProcessor(exporter))
    provider = CustomProviderBuilder("bench").with_base_url("http://127.0.0.1:9/v1").with_api_key("sk-bench").build_provider()
    req = ChatCompletionRequest("bench-model", [Message.user("Say hello")], temperature=0)

    def client(tracing: bool, tp: object = None, cache: object = None):
        b = AiClientBuilder(provider).with_transport(transport).with_tracing(tracing, tracer_provider=tp)
        return (b.with_cache(cache) if cache else b).build()

    clients = {
        "in-process: tracing off": client(False),
        "in-process: tracing on, no SDK": client(True),
        "in-process: tracing on, SDK recording": client(True, sdk),
        "in-process: memory cache hit": client(False, cache="memory"),
    }
    fns = {name: (lambda c=c: c.chat_completion(req)) for name, c in clients.items()}
    for fn in fns.values():
        time_calls(fn, 200)
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            times[name] += time_calls(fn, calls // rounds)
            exporter.clear()
            transport.requests.clear()
    for c in clients.values():
        c.close()
    return {name: statistics.median(ts) * 1e6 for name, ts in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    imp = import_times()
    r = per_call(args.calls, args.rounds)
    base = r["uncached, tracing off"]
    print("| measure | median | vs baseline |")
    print("|---|---|---|")
    print(f"| `import ailib`, otel blocked (baseline) | {imp['without_ms']:.1f} ms | 1.00x |")
    print(f"| `import ailib`, otel installed | {imp['with_ms']:.1f} ms | {imp['ratio']:.2f}x |")
    for name, us in r.items():
        print(f"| chat_completion: {name} | {us:.0f} µs | {us / base:.2f}x |")
    p = in_process(args.calls, args.rounds)
    base = p["in-process: tracing off"]
    for name, us in p.items():
        print(f"| chat_completion {name} | {us:.1f} µs | {us / base:.2f}x |")


if __name__ == "__main__":
    main()
