"""Embedding a corpus with a checkpoint: resume, changed texts, torn lines, failed requests,
shards, and `ailib batch` on a file of texts, over real loopback HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ailib import AiClient, AiLibError, ConnectionOptions, ProviderError
from ailib.batch import read_embeddings
from ailib.testing import Fault, MockProvider, mock_embedding

TEXTS = [f"text {i}" for i in range(10)]


def _client(mock: MockProvider, **kw) -> AiClient:
    return AiClient("openai", options=ConnectionOptions(api_key="k", base_url=mock.url + "/v1", retry_delay=0.01, **kw))


def _sent(mock: MockProvider) -> list[list[str]]:
    return [r.json["input"] for r in mock.requests]


def test_a_rerun_sends_only_the_texts_not_yet_answered(tmp_path: Path) -> None:
    """A run stopped after two requests of three keeps them in the checkpoint; the re-run sends
    only the third and returns every vector in input order."""
    path = tmp_path / "emb.jsonl"

    class Stop(Exception):
        pass

    def stop_after_two(progress) -> None:
        if progress.done >= 8:
            raise Stop

    with MockProvider("openai") as mock, _client(mock) as client:
        with pytest.raises(Stop):
            client.embedding_batch(TEXTS, dimensions=4, checkpoint=path, batch_size=4, concurrency=1, progress=stop_after_two)
        first = len(mock.requests)
        resp = client.embedding_batch(TEXTS, dimensions=4, checkpoint=path, batch_size=4, concurrency=1)
    assert first == 2 and _sent(mock)[first:] == [TEXTS[8:]]
    assert resp.vectors == [mock_embedding(t, 4) for t in TEXTS]
    assert read_embeddings(path) == resp.vectors


def test_a_complete_checkpoint_is_compacted_and_sends_nothing_again(tmp_path: Path) -> None:
    """After a clean run the file holds one record per request in input order; a re-run sends nothing."""
    path = tmp_path / "emb.jsonl"
    with MockProvider("openai") as mock, _client(mock) as client:
        client.embedding_batch(TEXTS, dimensions=4, checkpoint=path, batch_size=3, concurrency=3)
        again = client.embedding_batch(TEXTS, dimensions=4, checkpoint=path, batch_size=3)
    starts = [json.loads(line)["start"] for line in path.read_text().splitlines()]
    assert starts == [0, 3, 6, 9] and len(mock.requests) == 4
    assert again.vectors == [mock_embedding(t, 4) for t in TEXTS] and again.attempts == ()


def test_a_changed_text_is_embedded_again(tmp_path: Path) -> None:
    """A record whose texts no longer match the input is not used: only its range is sent again."""
    path = tmp_path / "emb.jsonl"
    changed = [*TEXTS[:5], "a new text", *TEXTS[6:]]
    with MockProvider("openai") as mock, _client(mock) as client:
        client.embedding_batch(TEXTS, dimensions=4, checkpoint=path, batch_size=5)
        resp = client.embedding_batch(changed, dimensions=4, checkpoint=path, batch_size=5)
    assert _sent(mock)[2:] == [changed[5:]]
    assert resp.vectors == [mock_embedding(t, 4) for t in changed]


def test_other_settings_do_not_reuse_the_checkpoint(tmp_path: Path) -> None:
    """Vectors recorded with other dimensions are not reused: every text is sent again."""
    path = tmp_path / "emb.jsonl"
    with MockProvider("openai") as mock, _client(mock) as client:
        client.embedding_batch(TEXTS, dimensions=4, checkpoint=path)
        resp = client.embedding_batch(TEXTS, dimensions=8, checkpoint=path)
    assert len(mock.requests) == 2 and resp.dimensions == 8


def test_a_torn_last_line_is_cut_off_and_its_texts_sent_again(tmp_path: Path) -> None:
    """A half-written last record (a crash mid-write) is ignored and cut; its texts are sent again."""
    path = tmp_path / "emb.jsonl"
    with MockProvider("openai") as mock, _client(mock) as client:
        client.embedding_batch(TEXTS, dimensions=4, checkpoint=path, batch_size=5)
        lines = path.read_bytes().splitlines(keepends=True)
        path.write_bytes(lines[0] + lines[1][: len(lines[1]) // 2])
        resp = client.embedding_batch(TEXTS, dimensions=4, checkpoint=path, batch_size=5)
    assert _sent(mock)[2:] == [TEXTS[5:]]
    assert resp.vectors == [mock_embedding(t, 4) for t in TEXTS]
    assert read_embeddings(path) == resp.vectors


def test_a_failed_request_fails_only_its_texts(tmp_path: Path) -> None:
    """A request that fails for good raises its error after the others were answered and written;
    the re-run sends only the failed request's texts."""
    path = tmp_path / "emb.jsonl"
    faults = [Fault.ok(), Fault.http_status(500), Fault.http_status(500)]
    with MockProvider("openai", script=faults) as mock, _client(mock, max_retries=1) as client:
        with pytest.raises(ProviderError):
            client.embedding_batch(TEXTS, dimensions=4, checkpoint=path, batch_size=4, concurrency=1)
        assert [len(x) for x in _sent(mock)] == [4, 4, 4, 2]
        resp = client.embedding_batch(TEXTS, dimensions=4, checkpoint=path, batch_size=4, concurrency=1)
    assert _sent(mock)[4:] == [TEXTS[4:8]]
    assert resp.vectors == [mock_embedding(t, 4) for t in TEXTS]


def test_shards_split_the_work_and_join_in_order(tmp_path: Path) -> None:
    """Three shards send disjoint blocks; their files joined give every vector once, in input order."""
    paths = [tmp_path / f"part{k}.jsonl" for k in range(3)]
    with MockProvider("openai") as mock, _client(mock) as client:
        parts = [client.embedding_batch(TEXTS, dimensions=4, checkpoint=p, shard=(k, 3)) for k, p in enumerate(paths)]
    assert [len(p.vectors) for p in parts] == [3, 3, 4]
    assert sorted(t for sent in _sent(mock) for t in sent) == sorted(TEXTS)
    assert read_embeddings(*reversed(paths)) == [mock_embedding(t, 4) for t in TEXTS]


def test_ailib_batch_embeds_a_file_of_texts_and_resumes(tmp_path: Path) -> None:
    """`ailib batch` on {"input": ...} lines embeds them (exit 0); the output holds every vector
    in order, and running it again sends nothing."""
    src = tmp_path / "texts.jsonl"
    out = tmp_path / "out.jsonl"
    src.write_text("".join(json.dumps({"input": t, "dimensions": 4}) + "\n" for t in TEXTS))
    with MockProvider("openai") as mock:
        env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
        env.update(OPENAI_BASE_URL=mock.url + "/v1", OPENAI_API_KEY="sk-cli")

        def run() -> subprocess.CompletedProcess:
            cmd = [sys.executable, "-m", "ailib", "batch", str(src), "-o", str(out), "--no-progress"]
            return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)

        first = run()
        second = run()
    assert first.returncode == 0, first.stderr
    assert "10 texts embedded (4 dimensions" in first.stderr
    assert second.returncode == 0 and len(mock.requests) == 1
    assert read_embeddings(out) == [mock_embedding(t, 4) for t in TEXTS]


def test_errors_of_an_embedding_batch_are_ailib_errors(tmp_path: Path) -> None:
    """An invalid setting (batch_size 0) is refused before anything is sent."""
    with MockProvider("openai") as mock, _client(mock) as client:
        with pytest.raises(AiLibError):
            client.embedding_batch(TEXTS, batch_size=0)
    assert mock.requests == []


def test_provider_mode_embeds_through_the_openai_batch_api(tmp_path: Path) -> None:
    """mode="provider" uploads one file of /v1/embeddings lines, creates one batch, polls it and
    writes every vector in order; a re-run sends nothing."""
    from ailib.testing._batch_api import batch_api

    path = tmp_path / "emb.jsonl"
    with MockProvider("openai") as mock, _client(mock) as client:
        api = batch_api(mock).configure(duration=0.2)
        resp = client.embedding_batch(TEXTS, dimensions=4, checkpoint=path, batch_size=4, mode="provider")
        again = client.embedding_batch(TEXTS, dimensions=4, checkpoint=path, batch_size=4, mode="provider")
        created = api.created
    assert resp.vectors == [mock_embedding(t, 4) for t in TEXTS] and again.vectors == resp.vectors
    assert created == 1
    assert [json.loads(line)["start"] for line in path.read_text().splitlines()] == [0, 4, 8]


def test_provider_mode_resumes_the_same_remote_batch_after_a_kill(tmp_path: Path) -> None:
    """A process killed while polling its remote batch leaves the job in the checkpoint; the
    re-run polls that same batch (no second upload or batch) and gets every vector."""
    from ailib.testing._batch_api import batch_api

    path = tmp_path / "emb.jsonl"
    with MockProvider("openai") as mock:
        api = batch_api(mock).configure(duration=3600.0)
        script = (
            "import sys; from ailib import AiClient, ConnectionOptions\n"
            f"c = AiClient('openai', options=ConnectionOptions(api_key='k', base_url={mock.url + '/v1'!r}))\n"
            f"c.embedding_batch({TEXTS!r}, dimensions=4, checkpoint={str(path)!r}, batch_size=4, mode='provider')\n"
        )
        child = subprocess.Popen([sys.executable, "-c", script])
        try:
            for _ in range(400):
                if path.exists() and '"batch_id"' in path.read_text():
                    break
                child.poll()
                assert child.returncode is None
                time.sleep(0.025)
        finally:
            child.kill()
            child.wait()
        assert api.created == 1 and api.uploads == 1
        api.configure(duration=0.0)
        with _client(mock) as client:
            resp = client.embedding_batch(TEXTS, dimensions=4, checkpoint=path, batch_size=4, mode="provider")
        assert api.created == 1 and api.uploads == 1
    assert resp.vectors == [mock_embedding(t, 4) for t in TEXTS]


def test_provider_mode_needs_the_openai_batch_api(tmp_path: Path) -> None:
    """Cohere has no batch API ailib speaks: ConfigurationError, nothing sent."""
    from ailib import ConfigurationError

    with MockProvider("cohere") as mock:
        client = AiClient("cohere", options=ConnectionOptions(api_key="k", base_url=mock.url))
        with client, pytest.raises(ConfigurationError, match="batch API"):
            client.embedding_batch(TEXTS, mode="provider")
    assert mock.requests == []
