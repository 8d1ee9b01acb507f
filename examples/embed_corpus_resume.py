"""Embed a corpus through a rate-limited provider, crash half way, resume, pay nothing twice.

Offline: a MockProvider limited as OpenAI documents it (requests and tokens per minute,
enforced one second's share at a time, 429 with the exact wait when over) serves the embeddings. A
child process embeds the corpus with a checkpoint and is killed (``os._exit``: no cleanup)
once half the texts are done; this process then resumes from the checkpoint with a new
client. Checked at the end: every vector once, in input order, equal to the server's; every
text paid for exactly once; wall time within 10% of the least the token limit allows, from
the first request the server saw (the child's interpreter start-up comes before it, while the
server's buckets are full and cannot fill any further) to the last vector.

    python examples/embed_corpus_resume.py [--texts 10000] [--seconds 10]

``--seconds``: the least time the token limit allows for the corpus (the token limit is
chosen from it: one second's share goes at once, the rest at the limit's rate).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

from ailib import AiClientBuilder, ConnectionOptions, Provider, RateLimitPolicy, RetryPolicy
from ailib.testing import MockProvider, ServerLimits, mock_embedding, mock_tokens

DIMENSIONS = 64  # small vectors keep the final check quick; the wire and the limits do not care
BATCH_SIZE = 100  # texts a request


def corpus(n: int) -> list[str]:
    """``n`` distinct texts of varied length."""
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu".split()
    return [f"doc {i}: " + " ".join(words[(i * k) % len(words)] for k in range(1, 2 + i % 9)) for i in range(n)]


def client_for(base_url: str, rpm: int, tpm: int):
    """The client both processes use: the same limits as the server, retries that honour its wait."""
    return (
        AiClientBuilder(Provider.OPENAI)
        .with_connection_options(ConnectionOptions(api_key="mock-key", base_url=base_url))
        .with_rate_limit(RateLimitPolicy(requests_per_minute=rpm, tokens_per_minute=tpm, adaptive=False))
        .with_retry(RetryPolicy(max_attempts=6, retry_budget=None))
        .build()
    )


def child(args: argparse.Namespace) -> None:
    """The first run: embeds with a checkpoint and dies half way, as a killed process would."""
    texts = corpus(args.texts)

    def crash_half_way(progress) -> None:
        if progress.done >= len(texts) // 2:
            os._exit(137)  # no cleanup, no compaction: like SIGKILL

    with client_for(args.base_url, args.rpm, args.tpm) as client:
        client.embedding_batch(
            texts, dimensions=DIMENSIONS, checkpoint=args.checkpoint, concurrency=1, batch_size=BATCH_SIZE, progress=crash_half_way
        )
    raise SystemExit("the child was meant to crash")


def main(args: argparse.Namespace) -> int:
    texts = corpus(args.texts)
    total = sum(map(mock_tokens, texts))
    costs = [sum(map(mock_tokens, texts[i : i + BATCH_SIZE])) for i in range(0, len(texts), BATCH_SIZE)]
    tpm = int(total * 60.0 / (args.seconds + 1.0))  # so that the corpus takes about `seconds` past the first second's share
    rpm = 6000
    limits = ServerLimits(requests_per_minute=rpm, tokens_per_minute=tpm)
    least = limits.minimum_seconds(costs)
    checkpoint = os.path.join(tempfile.mkdtemp(), "embeddings.jsonl")
    with MockProvider("openai", script=limits) as mock:
        base_url = mock.url + "/v1"
        start = time.monotonic()
        cmd = [sys.executable, __file__, "--child", "--texts", str(args.texts), "--base-url", base_url]
        cmd += ["--checkpoint", checkpoint, "--rpm", str(rpm), "--tpm", str(tpm)]
        crashed = subprocess.run(cmd, check=False)
        with open(checkpoint, encoding="utf-8") as f:
            written = sum(1 for _ in f)
        print(f"first run: crashed with exit status {crashed.returncode} after {written} requests were checkpointed")
        with client_for(base_url, rpm, tpm) as client:
            resp = client.embedding_batch(texts, dimensions=DIMENSIONS, checkpoint=checkpoint, concurrency=1, batch_size=BATCH_SIZE)
        end = time.monotonic()
    wall, total_wall = end - (limits.first_at or start), end - start
    in_order = resp.vectors == [mock_embedding(t, DIMENSIONS) for t in texts]
    once = len(limits.billed) == len(texts) and set(limits.billed.values()) == {1}
    print(f"resumed: {len(resp.vectors)} vectors of {resp.dimensions} floats, in input order: {in_order}")
    print(f"server: {limits.admitted} requests paid, {limits.refused} refused (429, not paid); every text paid once: {once}")
    print(
        f"{total} tokens at {tpm} tokens/min: least possible {least:.2f} s, took {wall:.2f} s from the first request "
        f"({wall / least:.3f} x; {total_wall:.2f} s with the first process's start-up)"
    )
    ok = crashed.returncode == 137 and in_order and once and len(resp.vectors) == len(texts) and wall <= 1.10 * least
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--texts", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--checkpoint", help=argparse.SUPPRESS)
    parser.add_argument("--rpm", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--tpm", type=int, help=argparse.SUPPRESS)
    parsed = parser.parse_args()
    if parsed.child:
        child(parsed)
    sys.exit(main(parsed))
