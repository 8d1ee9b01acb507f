"""The response cache's pieces on their own: keys, entries, the memory and SQLite backends, the rules of use."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ailib import ChatCompletionRequest, ChatCompletionResponse, Choice, ConfigurationError, Message, Tool, ToolCall, Usage
from ailib.cache import MemoryCache, ResponseCache, SQLiteCache, cache_key, is_reproducible, make_cache
from ailib.cache._entry import decode, encode_response
from ailib.metrics import InMemoryMetrics
from ailib.testing import FakeClock

REQ = ChatCompletionRequest("m", [Message.user("hi")], temperature=0)
RESP = ChatCompletionResponse("id1", "m", "openai", (Choice(0, Message.assistant("hello"), "stop"),), Usage(3, 1, 4))


def key(req: ChatCompletionRequest = REQ, provider: str = "openai", model: str = "m") -> str:
    return cache_key(req, provider=provider, model=model)


# -- keys ------------------------------------------------------------------------------------
def test_equal_requests_share_a_key():
    """Two separately built identical requests (dict or objects) get the same key."""
    a = ChatCompletionRequest("m", [Message.user("hi")], temperature=0, max_tokens=5)
    b = ChatCompletionRequest.from_dict({"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5, "temperature": 0})
    assert key(a) == key(b)


@pytest.mark.parametrize(
    "other",
    [
        ChatCompletionRequest("m", [Message.user("hi!")], temperature=0),
        ChatCompletionRequest("m", [Message.system("s"), Message.user("hi")], temperature=0),
        ChatCompletionRequest("m", [Message.user("hi")], temperature=0, max_tokens=9),
        ChatCompletionRequest("m", [Message.user("hi")], temperature=0, top_p=0.5),
        ChatCompletionRequest("m", [Message.user("hi")], temperature=0, stop="x"),
        ChatCompletionRequest("m", [Message.user("hi")], temperature=0, tools=[Tool.function("f")]),
        ChatCompletionRequest("m", [Message.user("hi")], temperature=0, extra={"seed": 1}),
        ChatCompletionRequest("m", [Message.user("hi")], temperature=0, response_format={"type": "json_object"}),
    ],
)
def test_any_difference_in_the_request_changes_the_key(other):
    """Messages, tools and every parameter are part of the key."""
    assert key(other) != key(REQ)


def test_provider_and_model_are_part_of_the_key():
    """The same request to another provider or model is another entry."""
    assert len({key(), key(provider="anthropic"), key(model="m2")}) == 3


def test_reproducible_means_temperature_zero_or_a_seed():
    """temperature=0 or extra seed make a request reproducible; otherwise it is not."""
    assert is_reproducible(REQ)
    assert is_reproducible(ChatCompletionRequest("m", [Message.user("hi")], temperature=0.7, extra={"seed": 7}))
    assert not is_reproducible(ChatCompletionRequest("m", [Message.user("hi")]))
    assert not is_reproducible(ChatCompletionRequest("m", [Message.user("hi")], temperature=0.2))


# -- entries ---------------------------------------------------------------------------------
def test_a_response_round_trips_through_an_entry():
    """Text, tool calls, finish reason, usage, provider and model survive encoding."""
    resp = ChatCompletionResponse(
        "id", "m", "openai", (Choice(0, Message.assistant("t", tool_calls=[ToolCall("c1", "f", {"a": 1})]), "tool_calls"),), Usage(1, 2, 3)
    )
    back = decode(encode_response(resp))
    assert back is not None
    got = back.response
    assert (got.text, got.tool_calls, got.finish_reason, got.usage, got.provider, got.model) == (
        "t",
        resp.tool_calls,
        "tool_calls",
        Usage(1, 2, 3),
        "openai",
        "m",
    )


def test_a_non_streamed_entry_replays_as_one_text_chunk_and_a_final_chunk():
    """Replay gives the text, then a chunk with finish reason and usage."""
    answer = decode(encode_response(RESP))
    assert answer is not None
    chunks = answer.chunks()
    assert [c.delta_text for c in chunks] == ["hello", ""]
    assert (chunks[-1].finish_reason, chunks[-1].usage) == ("stop", Usage(3, 1, 4))


def test_an_unreadable_entry_is_a_miss():
    """Garbage or another format version decodes to None, never raises."""
    assert decode(b"not json") is None
    assert decode(b'{"v": 99, "response": {}}') is None


# -- memory backend --------------------------------------------------------------------------
def test_memory_cache_evicts_the_least_recently_used():
    """Over max_entries the entry used longest ago goes first."""
    c = MemoryCache(2)
    c.set("a", b"1")
    c.set("b", b"2")
    assert c.get("a") == b"1"  # a is now the most recent
    c.set("c", b"3")
    assert (c.get("a"), c.get("b"), c.get("c")) == (b"1", None, b"3")


def test_memory_cache_bounds_bytes():
    """max_bytes evicts old entries until the values fit."""
    c = MemoryCache(100, max_bytes=10)
    c.set("a", b"12345")
    c.set("b", b"12345")
    c.set("c", b"1")
    assert c.get("a") is None and c.get("b") == b"12345" and c.get("c") == b"1"


def test_memory_cache_entries_expire_after_their_ttl():
    """An entry is served until its ttl passes on the injected clock, then it is gone."""
    clock = FakeClock()
    c = MemoryCache(ttl=10, clock=clock)
    c.set("a", b"1")
    c.set("b", b"2", ttl=100)
    clock.advance(9.9)
    assert c.get("a") == b"1"
    clock.advance(0.2)
    assert c.get("a") is None and c.get("b") == b"2" and len(c) == 1


@pytest.mark.parametrize("bad", [dict(max_entries=0), dict(ttl=0), dict(ttl=-1), dict(max_bytes=0)])
def test_memory_cache_rejects_bad_settings(bad):
    """Non-positive sizes or ttl raise ConfigurationError."""
    with pytest.raises(ConfigurationError):
        MemoryCache(**bad)


# -- SQLite backend --------------------------------------------------------------------------
def test_sqlite_cache_persists_across_instances(tmp_path):
    """A value written by one SQLiteCache is read by another on the same file."""
    path = tmp_path / "c.sqlite"
    a = SQLiteCache(path)
    a.set("k", b"v")
    a.close()
    b = SQLiteCache(str(path))
    assert b.get("k") == b"v" and b.get("other") is None
    b.close()


def test_sqlite_cache_uses_wal_and_a_busy_timeout(tmp_path):
    """The file is in WAL mode and the connection waits for locks instead of failing."""
    c = SQLiteCache(tmp_path / "c.sqlite", busy_timeout=7.5)
    c.set("k", b"v")
    conn = c._connection()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 7500
    c.close()


def test_sqlite_cache_entries_expire(tmp_path):
    """An entry past its ttl (on the injected wall clock) is a miss and is deleted."""
    clock = FakeClock()
    c = SQLiteCache(tmp_path / "c.sqlite", ttl=5, clock=clock)
    c.set("k", b"v")
    clock.advance(4)
    assert c.get("k") == b"v"
    clock.advance(2)
    assert c.get("k") is None and len(c) == 0
    c.close()


def test_sqlite_cache_max_entries_drops_the_oldest(tmp_path):
    """With max_entries the file keeps only the newest entries."""
    clock = FakeClock()
    c = SQLiteCache(tmp_path / "c.sqlite", max_entries=2, clock=clock)
    for k in "abc":
        c.set(k, k.encode())
        clock.advance(1)
    assert (c.get("a"), c.get("b"), c.get("c")) == (None, b"b", b"c")
    c.close()


_WRITER = textwrap.dedent(
    """
    import sys
    from ailib.cache import SQLiteCache
    path, me = sys.argv[1], sys.argv[2]
    c = SQLiteCache(path)
    for i in range(300):
        c.set(f"{me}-{i}", f"{me}:{i}".encode())
        assert c.get(f"{me}-{i}") == f"{me}:{i}".encode()
    c.close()
    """
)


def test_sqlite_cache_is_safe_for_several_processes_writing_at_once(tmp_path):
    """Four processes write 300 entries each to one file at once; every entry is there, no lock error."""
    path = tmp_path / "shared.sqlite"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(path), f"p{n}"], env=env, stderr=subprocess.PIPE) for n in range(4)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    c = SQLiteCache(path)
    assert len(c) == 1200 and c.get("p3-299") == b"p3:299"
    c.close()


def test_sqlite_cache_opens_a_new_connection_in_a_forked_child(tmp_path):
    """After fork the child never uses the parent's connection: it opens its own and both work."""
    c = SQLiteCache(tmp_path / "c.sqlite")
    c.set("parent", b"1")
    parent_conn = c._connection()
    pid = os.fork()
    if pid == 0:  # child
        ok = c.get("parent") == b"1" and c._connection() is not parent_conn
        c.set("child", b"2")
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert c._connection() is parent_conn and c.get("child") == b"2"
    c.close()


# -- make_cache ------------------------------------------------------------------------------
def test_make_cache_maps_strings_and_paths(tmp_path):
    """'memory' is a MemoryCache, redis:// a RedisCache, another string or a Path a SQLiteCache, an object itself."""
    from ailib.cache import RedisCache

    assert isinstance(make_cache("memory"), MemoryCache)
    assert isinstance(make_cache("redis://127.0.0.1:1/0"), RedisCache)
    s = make_cache(str(tmp_path / "a.db"))
    assert isinstance(s, SQLiteCache) and s.path == str(tmp_path / "a.db")
    assert isinstance(make_cache(tmp_path / "b.db"), SQLiteCache)
    own = MemoryCache(3)
    assert make_cache(own) is own
    with pytest.raises(ConfigurationError):
        make_cache(42)
    with pytest.raises(ConfigurationError):
        make_cache("  ")


def test_the_redis_cache_repr_hides_the_password():
    """A redis URL's password never shows in the cache's repr (which log lines use)."""
    from ailib.cache import RedisCache

    assert "hunter2" not in repr(RedisCache("redis://:hunter2@127.0.0.1:6379/0"))


# -- the rules of use --------------------------------------------------------------------------
def test_by_default_only_reproducible_requests_use_the_cache():
    """A temperature-0 request gets a key; a sampled one does not unless forced; use=False bypasses."""
    rc = ResponseCache(MemoryCache(), metrics=InMemoryMetrics())
    sampled = ChatCompletionRequest("m", [Message.user("hi")], temperature=0.9)
    assert rc.key(REQ, provider="p", model="m") is not None
    assert rc.key(sampled, provider="p", model="m") is None
    assert rc.key(sampled, provider="p", model="m", use=True) is not None
    assert rc.key(REQ, provider="p", model="m", use=False) is None
    everything = ResponseCache(MemoryCache(), metrics=InMemoryMetrics(), reproducible_only=False)
    assert everything.key(sampled, provider="p", model="m") is not None


def test_lookups_count_hits_and_misses():
    """A miss counts cache.miss, a stored answer then counts cache.hit."""
    metrics = InMemoryMetrics()
    rc = ResponseCache(MemoryCache(), metrics=metrics)
    k = rc.key(REQ, provider="openai", model="m")
    assert k is not None
    assert rc.lookup(k, provider="openai") is None
    rc.store_response(k, RESP)
    hit = rc.lookup(k, provider="openai")
    assert hit is not None and hit.response.text == "hello"
    assert (metrics.counter("cache.hit"), metrics.counter("cache.miss")) == (1, 1)


class _Broken:
    def get(self, key):
        raise OSError("disk gone")

    def set(self, key, value, ttl=None):
        raise OSError("disk gone")


def test_a_failing_backend_is_a_miss_not_an_error(caplog):
    """A backend error counts cache.error, logs a warning, and the lookup is a miss; the next store skips the backend."""
    metrics = InMemoryMetrics()
    rc = ResponseCache(_Broken(), metrics=metrics, clock=FakeClock())
    assert rc.lookup("k", provider="p") is None
    rc.store_response("k", RESP)
    assert metrics.counter("cache.error") == 1 and metrics.counter("cache.skipped") == 1 and metrics.counter("cache.miss") == 1
    assert "calling the provider" in caplog.text


class _Flaky:
    """A backend that fails while ``down`` and counts the calls that reach it."""

    def __init__(self) -> None:
        self.down = True
        self.calls = 0
        self.store = MemoryCache()

    def get(self, key):
        self.calls += 1
        if self.down:
            raise ConnectionError("redis unreachable")
        return self.store.get(key)

    def set(self, key, value, ttl=None):
        self.calls += 1
        if self.down:
            raise ConnectionError("redis unreachable")
        self.store.set(key, value, ttl)


def test_an_unreachable_backend_warns_once_per_backoff_and_recovers(caplog):
    """While the backend is down it is tried, and warned about, once per backoff (1 s, then 2 s); once back it is used at once."""
    clock, backend, metrics = FakeClock(), _Flaky(), InMemoryMetrics()
    rc = ResponseCache(backend, metrics=metrics, clock=clock)
    for _ in range(50):  # fifty calls inside the first backoff: one try, one warning
        assert rc.lookup("k", provider="p") is None
        rc.store_response("k", RESP)
    assert (backend.calls, caplog.text.count("response cache")) == (1, 1) and "skipping the cache for 1s" in caplog.text
    clock.advance(1.0)
    assert rc.lookup("k", provider="p") is None  # tried again, still down: the backoff doubles
    clock.advance(1.5)
    rc.store_response("k", RESP)
    assert (backend.calls, caplog.text.count("response cache")) == (2, 2) and "skipping the cache for 2s" in caplog.text
    backend.down = False
    clock.advance(0.5)
    rc.store_response("k", RESP)
    assert rc.lookup("k", provider="p").response.text == "hello"
    assert backend.calls == 4 and caplog.text.count("response cache") == 2 and metrics.counter("cache.error") == 2


def test_a_redis_cache_without_the_redis_package_fails_at_build(monkeypatch):
    """with_cache("redis://...") without the redis extra raises ConfigurationError with the install hint when the client is built."""
    from ailib import AiClientBuilder

    monkeypatch.setitem(sys.modules, "redis", None)  # as if not installed: `import redis` raises ImportError
    with pytest.raises(ConfigurationError, match=r"pip install 'ailib\[redis\]'"):
        AiClientBuilder("openai").with_cache("redis://127.0.0.1:6379/0")


def test_a_changed_entry_is_decoded_again():
    """The decoded-answer memo never serves stale data: new bytes under a key give the new answer."""
    backend = MemoryCache()
    rc = ResponseCache(backend, metrics=InMemoryMetrics())
    rc.store_response("k", RESP)
    assert rc.lookup("k", provider="p").response.text == "hello"
    other = ChatCompletionResponse("id2", "m", "openai", (Choice(0, Message.assistant("changed"), "stop"),))
    backend.set("k", encode_response(other))
    assert rc.lookup("k", provider="p").response.text == "changed"
