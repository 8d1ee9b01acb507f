"""Embedding 2,048 inputs of 1,536 dimensions with base64 on the wire: ailib's ``embed``
against the openai SDK's ``embeddings.create`` in the same run, and the decode step.

Both clients call the same local server (``bench/_embed_server.py``, one canned 16.8 MB
base64 answer) in interleaved rounds; each figure is the median over the rounds, and each
ratio the median of the per-round ratios to the SDK. The SDK decodes every vector into a
list of floats (with NumPy when installed, as here); ailib's ``embed`` returns vectors that
are decoded when read, so it is shown three ways: as returned, with every vector read as
a list (what the SDK hands back), and as one NumPy array.

Decode step: the answer's JSON already parsed, the time to make the response's vectors
(``OpenAIEmbed.decode``), then to read them all (``Vectors.buffer()``, ``numpy()``,
``list(vectors)``), and the SDK's own base64 decode of the same data; best of 9, CPU time.

    python bench/bench_embeddings.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ailib import AiClient, ConnectionOptions
from ailib.providers._embed import OpenAIEmbed
from bench._embed_server import BODY, DIMENSIONS, INPUTS

MODEL = "text-embedding-3-small"
TEXTS = [f"text number {i} to embed" for i in range(INPUTS)]


def _best_ms(fn, repeat: int = 9) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.process_time()
        fn()
        best = min(best, time.process_time() - t)
    return best * 1e3


def decode_figures() -> dict[str, float]:
    import numpy as np

    data = json.loads(BODY)
    fmt = OpenAIEmbed()
    part = fmt.decode(data, MODEL)
    vectors = part.vectors
    assert len(vectors) == INPUTS and vectors.dimensions == DIMENSIONS
    return {
        "json.loads of the body": _best_ms(lambda: json.loads(BODY)),
        "decode step: OpenAIEmbed.decode (vectors ready, read lazily)": _best_ms(lambda: fmt.decode(data, MODEL)),
        "every vector as one float32 buffer: Vectors.buffer()": _best_ms(vectors.buffer),
        "every vector as one NumPy array: Vectors.numpy()": _best_ms(vectors.numpy),
        "every vector as a list of floats: list(vectors)": _best_ms(lambda: list(vectors)),
        "the SDK's decode (np.frombuffer(b64decode(..)).tolist() per vector)": _best_ms(
            lambda: [np.frombuffer(base64.b64decode(d["embedding"]), dtype="float32").tolist() for d in data["data"]]
        ),
    }


def call_figures(rounds: int) -> dict[str, tuple[float, float]]:
    import openai

    proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("_embed_server.py"))], stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline())
        base = f"http://127.0.0.1:{port}/v1"
        sdk = openai.OpenAI(api_key="sk-bench", base_url=base, max_retries=0, timeout=60)
        client = AiClient("openai", options=ConnectionOptions(api_key="sk-bench", base_url=base, timeout=60))
        calls = {
            "openai SDK embeddings.create (baseline)": lambda: sdk.embeddings.create(model=MODEL, input=TEXTS),
            "ailib embed (vectors read lazily)": lambda: client.embed(TEXTS, model=MODEL),
            "ailib embed + every vector as a list": lambda: list(client.embed(TEXTS, model=MODEL).vectors),
            "ailib embed + .vectors.numpy()": lambda: client.embed(TEXTS, model=MODEL).vectors.numpy(),
        }
        for fn in calls.values():  # warm up: connections, imports
            fn()
        times: dict[str, list[float]] = {k: [] for k in calls}
        names = list(calls)
        for r in range(rounds):
            for name in names[r % len(names) :] + names[: r % len(names)]:  # rotate the order per round
                t = time.perf_counter()
                calls[name]()
                times[name].append(time.perf_counter() - t)
        base_name = names[0]
        out = {}
        for name in names:
            ratios = [a / b for a, b in zip(times[name], times[base_name])]
            out[name] = (statistics.median(times[name]) * 1e3, statistics.median(ratios))
        client.close()
        sdk.close()
        return out
    finally:
        proc.kill()
        proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    import openai

    print(f"{INPUTS} inputs x {DIMENSIONS} dimensions, base64 ({len(BODY) / 1e6:.1f} MB answer); openai-python {openai.__version__}")
    print()
    print("| call | median per call | × openai SDK |")
    print("|---|---:|---:|")
    for name, (ms, ratio) in call_figures(args.rounds).items():
        print(f"| {name} | {ms:.1f} ms | {ratio:.2f}× |")
    print()
    print("| decode step (answer parsed; CPU, best of 9) | time |")
    print("|---|---:|")
    for name, ms in decode_figures().items():
        print(f"| {name} | {ms:.2f} ms |")


if __name__ == "__main__":
    main()
