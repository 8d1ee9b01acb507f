"""Files that hold prompts, answers or checkpoints are created mode 0600 whatever the umask."""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
from collections.abc import Iterator

import pytest

from ailib import AiClientBuilder, ChatCompletionRequest, Message
from ailib.batch import merge_outputs
from ailib.cache import SQLiteCache
from ailib.testing import MockProvider

from ..conftest import FAST_RETRY

DET = ChatCompletionRequest("auto", [Message.user("what is 2+2?")], temperature=0)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture(params=[0o022, 0o000, 0o277], ids=["umask022", "umask000", "umask277"])
def umask(request) -> Iterator[int]:
    """The process umask for the test (restored after): permissive, none at all, and one that takes owner bits away."""
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def client(mock: MockProvider, **cache):
    return AiClientBuilder(mock.provider()).with_retry(FAST_RETRY).with_cache(**cache).build()


def test_a_new_sqlite_cache_and_its_wal_and_shm_are_0600(mock, tmp_path, umask):
    """The cache file, its -wal and its -shm (created by a cached call) are all exactly 0600."""
    path = tmp_path / "sub" / "cache.sqlite"
    with client(mock, backend=path) as c:
        c.chat_completion(DET)
        files = [path, path.with_name("cache.sqlite-wal"), path.with_name("cache.sqlite-shm")]
        assert [(f.name, mode(f)) for f in files] == [(f.name, 0o600) for f in files]


def test_an_old_ailib_cache_file_left_0644_is_set_to_0600(mock, tmp_path):
    """A cache file (with -wal and -shm) that an older ailib left 0644 is tightened to 0600 when reused."""
    path = tmp_path / "cache.sqlite"
    old = os.umask(0o022)
    try:
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE ailib_cache (key TEXT PRIMARY KEY, value BLOB NOT NULL, created_at REAL NOT NULL, expires_at REAL)")
        conn.commit()
        files = [path, tmp_path / "cache.sqlite-wal", tmp_path / "cache.sqlite-shm"]
        assert all(mode(f) == 0o644 for f in files)
        with client(mock, backend=path) as c:
            c.chat_completion(DET)
            assert [mode(f) for f in files] == [0o600] * 3
        conn.close()
    finally:
        os.umask(old)


def test_a_users_own_database_keeps_its_mode_with_one_warning(tmp_path, ailib_logs):
    """A 0644 SQLite file that also holds a table of the user's is not chmod-ed; ailib warns once that others can read it."""
    path = tmp_path / "app.db"
    old = os.umask(0o022)
    try:
        conn = sqlite3.connect(path)
        conn.execute("CREATE TABLE users (id INTEGER)")
        conn.commit()
        conn.close()
    finally:
        os.umask(old)
    for _ in range(2):
        cache = SQLiteCache(path)
        cache.set("k", b"v")
        cache.close()
    assert mode(path) == 0o644
    warnings = [r.getMessage() for r in ailib_logs.records if r.levelno == logging.WARNING and "chmod 600" in r.getMessage()]
    assert len(warnings) == 1 and str(path) in warnings[0]


def test_a_batch_checkpoint_is_0600_while_written_and_after_compaction(tmp_path, umask):
    """chat_completion_batch(checkpoint=...): the file is 0600 while requests run and after the compaction that replaces it."""
    path = tmp_path / "out.jsonl"
    reqs = [ChatCompletionRequest("auto", [Message.user(f"q{i}")]) for i in range(3)]
    seen: list[int] = []

    def note_mode(i, rec):  # runs as each request arrives: the checkpoint exists from the first result on
        if path.exists():
            seen.append(mode(path))

    with MockProvider(script=note_mode) as mock, AiClientBuilder(mock.provider()).with_retry(FAST_RETRY).build() as c:
        results = c.chat_completion_batch(reqs, concurrency=1, checkpoint=path)
    assert all(not isinstance(r, Exception) for r in results)
    assert seen == [0o600, 0o600, 0o600] and mode(path) == 0o600


def test_a_checkpoint_left_0644_by_an_earlier_run_is_set_to_0600(mock, tmp_path):
    """Re-running a batch over a checkpoint an older ailib wrote 0644 leaves it 0600."""
    path = tmp_path / "out.jsonl"
    reqs = [ChatCompletionRequest("auto", [Message.user(f"q{i}")]) for i in range(2)]
    with AiClientBuilder(mock.provider()).with_retry(FAST_RETRY).build() as c:
        c.chat_completion_batch(reqs[:1], concurrency=1, checkpoint=path)
        os.chmod(path, 0o644)
        c.chat_completion_batch(reqs, concurrency=1, checkpoint=path)
    assert mode(path) == 0o600


def test_merged_shard_outputs_are_0600(mock, tmp_path, umask):
    """merge_outputs writes the joined file 0600."""
    reqs = [ChatCompletionRequest("auto", [Message.user(f"q{i}")]) for i in range(4)]
    with AiClientBuilder(mock.provider()).with_retry(FAST_RETRY).build() as c:
        parts = []
        for k in range(2):
            part = tmp_path / f"part{k}.jsonl"
            c.chat_completion_batch(reqs, concurrency=1, checkpoint=part, shard=(k, 2))
            parts.append(part)
    out = tmp_path / "all.jsonl"
    assert merge_outputs(parts, out) == 4
    assert [mode(p) for p in [*parts, out]] == [0o600] * 3
