"""The response cache in the call path (memory and SQLite here; Redis in tests/redis): hits never reach the provider."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ailib import AiClientBuilder, ChatCompletionRequest, ChatStream, ConfigurationError, Message, ProviderError, StreamInterruptedError
from ailib.cache import MemoryCache, SQLiteCache
from ailib.metrics import InMemoryMetrics
from ailib.testing import Fault, MockProvider

from ..conftest import FAST_RETRY, SECRET

ROOT = Path(__file__).resolve().parents[2]
DET = ChatCompletionRequest("auto", [Message.user("what is 2+2?")], temperature=0)
SAMPLED = ChatCompletionRequest("auto", [Message.user("write a poem")], temperature=0.9)


def build(mock: MockProvider, cache, metrics=None, api_key: str = SECRET, **kw):
    builder = AiClientBuilder(mock.provider(api_key=api_key)).with_retry(FAST_RETRY).with_cache(cache, **kw)
    if metrics is not None:
        builder = builder.with_metrics(metrics)
    return builder.build()


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_a_second_identical_deterministic_request_never_reaches_the_provider(mock, tmp_path, backend):
    """The repeat is answered from the cache: same text, no request to the mock, no attempts, a hit and a miss counted."""
    spec = "memory" if backend == "memory" else str(tmp_path / "cache.sqlite")
    metrics = InMemoryMetrics()
    with build(mock, spec, metrics) as client:
        first = client.chat_completion(DET)
        second = client.chat_completion(ChatCompletionRequest("auto", [Message.user("what is 2+2?")], temperature=0))
    assert mock.request_count == 1
    assert (second.text, second.model, second.provider, second.usage) == (first.text, first.model, first.provider, first.usage)
    assert second.attempts == () and len(first.attempts) == 1
    assert (metrics.counter("cache.miss"), metrics.counter("cache.hit")) == (1, 1)


_SECOND_PROCESS = textwrap.dedent(
    """
    import os, sys
    from ailib import AiClientBuilder, ChatCompletionRequest, CustomProviderBuilder, Message
    provider = (
        CustomProviderBuilder("mock").with_base_url(sys.argv[2]).with_wire_format("openai")
        .with_default_chat_model("mock-model").with_api_key(os.environ["SECOND_PROCESS_KEY"]).build_provider()
    )
    with AiClientBuilder(provider).with_cache(sys.argv[1]).build() as client:
        resp = client.chat_completion(ChatCompletionRequest("auto", [Message.user("what is 2+2?")], temperature=0))
    print(resp.text)
    """
)

_SHARED_NAMESPACE_PROCESS = textwrap.dedent(
    """
    import sys
    from ailib import AiClientBuilder, ChatCompletionRequest, Message
    from ailib.testing import MockProvider, Reply
    with MockProvider() as mock:  # its own provider: any request reaching it is counted
        mock.reply = Reply(text="a different answer")
        builder = AiClientBuilder(mock.provider(api_key="sk-other-process-key"))
        with builder.with_cache(sys.argv[1], shared_namespace="team").build() as client:
            resp = client.chat_completion(ChatCompletionRequest("auto", [Message.user("what is 2+2?")], temperature=0))
        print(mock.request_count, resp.text)
    """
)


def test_a_second_process_sharing_the_sqlite_file_gets_the_answer_from_it(mock, tmp_path):
    """Another process (same endpoint, same key) reads the answer this one stored, sending nothing."""
    path = tmp_path / "shared.sqlite"
    with build(mock, path) as client:
        text = client.chat_completion(DET).text
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SECOND_PROCESS_KEY": SECRET}
    out = subprocess.run(
        [sys.executable, "-c", _SECOND_PROCESS, str(path), mock.base_url], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == text
    assert mock.request_count == 1


def test_a_second_process_naming_the_same_shared_namespace_gets_the_answer(mock, tmp_path):
    """With shared_namespace on both, another process (own mock, own key) reads this one's answer, sending nothing."""
    path = tmp_path / "shared.sqlite"
    with build(mock, path, shared_namespace="team") as client:
        text = client.chat_completion(DET).text
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", _SHARED_NAMESPACE_PROCESS, str(path)], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"0 {text}"


def test_sampled_requests_are_not_cached_by_default(mock):
    """A request with temperature > 0 and no seed goes to the provider every time."""
    with build(mock, "memory") as client:
        client.chat_completion(SAMPLED)
        client.chat_completion(SAMPLED)
    assert mock.request_count == 2


def test_a_seed_makes_a_request_cacheable(mock):
    """temperature 0.7 with a seed is reproducible: the repeat is a hit."""
    seeded = ChatCompletionRequest("auto", [Message.user("hi")], temperature=0.7, extra={"seed": 42})
    with build(mock, "memory") as client:
        client.chat_completion(seeded)
        client.chat_completion(seeded)
    assert mock.request_count == 1


def test_reproducible_only_false_caches_every_request(mock):
    """with_cache(..., reproducible_only=False) caches sampled requests too."""
    with build(mock, "memory", reproducible_only=False) as client:
        client.chat_completion(SAMPLED)
        client.chat_completion(SAMPLED)
    assert mock.request_count == 1


def test_cache_false_bypasses_and_cache_true_forces(mock):
    """cache=False sends a cached request anyway (and stores nothing); cache=True caches a sampled one."""
    with build(mock, "memory") as client:
        client.chat_completion(DET)
        client.chat_completion(DET, cache=False)
        assert mock.request_count == 2
        client.chat_completion(SAMPLED, cache=True)
        client.chat_completion(SAMPLED, cache=True)
        assert mock.request_count == 3
        client.chat_completion(ChatCompletionRequest("auto", [Message.user("new")], temperature=0), cache=False)
        client.chat_completion(ChatCompletionRequest("auto", [Message.user("new")], temperature=0))
    assert mock.request_count == 5


def test_errors_are_never_cached(mock):
    """A call that failed stores nothing: the repeat goes to the provider and succeeds."""
    mock.enqueue(*[Fault.http_status(500)] * 3)
    with build(mock, "memory") as client:
        with pytest.raises(ProviderError):
            client.chat_completion(DET)
        assert client.chat_completion(DET).text == "Hello from MockProvider"
        client.chat_completion(DET)
    assert mock.request_count == 4


def test_a_cached_stream_replays_as_a_stream(mock):
    """A streamed answer is replayed from the cache as a ChatStream with the same pieces, finish reason and usage."""
    with build(mock, "memory") as client:
        with client.chat_completion_stream(DET) as live:
            live_pieces = [c.delta_text for c in live if c.delta_text]
        replay = client.chat_completion_stream(DET)
        assert isinstance(replay, ChatStream)
        with replay:
            replay_pieces = [c.delta_text for c in replay if c.delta_text]
    assert mock.request_count == 1
    assert len(live_pieces) > 1 and replay_pieces == live_pieces
    assert (replay.finished, replay.finish_reason, replay.usage, replay.text) == (True, live.finish_reason, live.usage, live.text)


def test_a_non_streamed_answer_serves_a_later_stream_and_back(mock):
    """The cache entry is the answer: a stream request is served from a non-streamed call's entry, and vice versa."""
    with build(mock, "memory") as client:
        text = client.chat_completion(DET).text
        assert client.chat_completion_stream(DET).collect().text == text
        other = ChatCompletionRequest("auto", [Message.user("other")], temperature=0)
        streamed = client.chat_completion_stream(other).collect().text
        assert client.chat_completion(other).text == streamed
    assert mock.request_count == 2


def test_a_partial_stream_is_never_cached(mock):
    """A stream cut after its first piece, or closed early, stores nothing: the repeat reaches the provider."""
    mock.enqueue(Fault.reset_stream(after=2))
    with build(mock, "memory") as client:
        with pytest.raises(StreamInterruptedError):
            list(client.chat_completion_stream(DET))
        with client.chat_completion_stream(DET) as s:
            next(iter(s))  # leave early
        assert client.chat_completion(DET).text == "Hello from MockProvider"
    assert mock.request_count == 3


def test_clients_with_different_keys_do_not_share_an_entry_and_no_key_is_stored(mock, tmp_path):
    """A client with another key misses the first key's entry (its own request is sent), and no file holds either key."""
    path = tmp_path / "c.sqlite"
    with build(mock, path, api_key="sk-first-key-000000000000") as a:
        a.chat_completion(DET)
    with build(mock, path, api_key="sk-second-key-11111111111") as b:
        b.chat_completion(DET)
    assert mock.request_count == 2
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert b"sk-first-key" not in raw and b"sk-second-key" not in raw


def test_clients_naming_one_shared_namespace_share_entries_across_keys(mock, tmp_path):
    """with_cache(shared_namespace=...) on both: a client with another key is answered from the first one's entry."""
    path = tmp_path / "c.sqlite"
    with build(mock, path, api_key="sk-first-key-000000000000", shared_namespace="team") as a:
        a.chat_completion(DET)
    with build(mock, path, api_key="sk-second-key-11111111111", shared_namespace="team") as b:
        b.chat_completion(DET)
    assert mock.request_count == 1
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert b"sk-first-key" not in raw and b"sk-second-key" not in raw


def test_a_cache_object_is_used_as_given(mock):
    """with_cache(MemoryCache(...)) uses that object: its entries are visible to the caller."""
    cache = MemoryCache(10)
    with build(mock, cache) as client:
        client.chat_completion(DET)
    assert len(cache) == 1


def test_a_sqlite_cache_given_as_an_object_is_shared_by_clients(mock, tmp_path):
    """Two clients given one SQLiteCache share answers."""
    cache = SQLiteCache(tmp_path / "c.sqlite")
    with build(mock, cache) as a:
        a.chat_completion(DET)
    with build(mock, cache) as b:
        b.chat_completion(DET)
    assert mock.request_count == 1
    cache.close()


def test_with_cache_rejects_what_it_cannot_use():
    """A number or an empty string is a ConfigurationError at build time."""
    with pytest.raises(ConfigurationError):
        AiClientBuilder("openai").with_cache(3)
    with pytest.raises(ConfigurationError):
        AiClientBuilder("openai").with_cache("")
