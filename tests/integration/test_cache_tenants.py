"""A shared response cache never serves one endpoint's or one key's answer to another client."""

from __future__ import annotations

import hashlib
import json

import pytest

from ailib import AiClientBuilder, AuthenticationError, ChatCompletionRequest, ChatCompletionResponse, Choice, Message, Usage
from ailib.cache import MemoryCache, SQLiteCache
from ailib.cache._entry import encode_response
from ailib.testing import MockProvider

from ..conftest import FAST_RETRY

DET = ChatCompletionRequest("auto", [Message.user("what is 2+2?")], temperature=0)
GOOD_KEY = "sk-tenant-good-0123456789abcdef"
REVOKED_KEY = "sk-tenant-revoked-0123456789abcdef"


def gateway(mock: MockProvider, cache, key: str = GOOD_KEY, **kw):
    """A client of ``mock`` as a custom provider named "gw" (the same name for every gateway)."""
    return AiClientBuilder(mock.provider("gw", api_key=key)).with_retry(FAST_RETRY).with_cache(cache, **kw).build()


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_two_base_urls_sharing_a_cache_each_get_their_own_endpoints_answer(tmp_path, backend):
    """Clients of the same provider name at two base URLs, one cache: each answer comes from its own gateway."""
    shared = MemoryCache() if backend == "memory" else SQLiteCache(tmp_path / "shared.sqlite")
    with MockProvider(reply="ANSWER-FROM-GATEWAY-A") as a_mock, MockProvider(reply="ANSWER-FROM-GATEWAY-B") as b_mock:
        with gateway(a_mock, shared) as a, gateway(b_mock, shared) as b:
            texts = [a.chat_completion(DET).text, b.chat_completion(DET).text, a.chat_completion(DET).text, b.chat_completion(DET).text]
        assert texts == ["ANSWER-FROM-GATEWAY-A", "ANSWER-FROM-GATEWAY-B"] * 2
        assert (a_mock.request_count, b_mock.request_count) == (1, 1)
    shared.close()


def test_a_revoked_key_is_never_served_another_keys_cached_answer(tmp_path):
    """After a valid key's answer is cached, a client whose key the provider refuses gets the 401, not that answer."""
    path = tmp_path / "shared.sqlite"
    with MockProvider(api_key=GOOD_KEY, reply="ANSWER-FOR-THE-GOOD-KEY") as mock:
        with gateway(mock, path) as good:
            assert good.chat_completion(DET).text == "ANSWER-FOR-THE-GOOD-KEY"
        with gateway(mock, path, key=REVOKED_KEY) as revoked:
            with pytest.raises(AuthenticationError):
                revoked.chat_completion(DET)
            with pytest.raises(AuthenticationError):
                revoked.chat_completion_stream(DET).text()
        assert mock.request_count == 3


def test_the_same_key_at_the_same_endpoint_shares_entries_across_clients(tmp_path):
    """Two clients built alike (same base URL, same key) share one entry: the scope is stable, not per client."""
    path = tmp_path / "shared.sqlite"
    with MockProvider() as mock:
        with gateway(mock, path) as first:
            first.chat_completion(DET)
        with gateway(mock, path) as second:
            second.chat_completion(DET)
        assert mock.request_count == 1


def test_a_shared_namespace_shares_entries_across_base_urls(tmp_path):
    """with_cache(shared_namespace=...) on both clients: the second gateway's client is answered from the first's entry."""
    path = tmp_path / "shared.sqlite"
    with MockProvider(reply="ANSWER-FROM-GATEWAY-A") as a_mock, MockProvider(reply="ANSWER-FROM-GATEWAY-B") as b_mock:
        with (
            gateway(a_mock, path, shared_namespace="both") as a,
            gateway(b_mock, path, key="sk-other-0123456789", shared_namespace="both") as b,
        ):
            assert a.chat_completion(DET).text == b.chat_completion(DET).text == "ANSWER-FROM-GATEWAY-A"
        assert (a_mock.request_count, b_mock.request_count) == (1, 0)


def _old_format_key(request: ChatCompletionRequest, provider: str, model: str) -> str:
    """The key 0.1 stored entries under: ``ailib:v1:`` + SHA-256 of the provider and the request only."""
    body = request.to_dict()
    body["model"] = model
    canonical = json.dumps({"provider": provider, "request": body}, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=repr)
    return "ailib:v1:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def test_an_entry_stored_under_an_old_format_key_is_not_served_after_an_upgrade(tmp_path):
    """A SQLite file holding an entry under the old (provider + request) key: the client misses it and asks its provider."""
    path = tmp_path / "old.sqlite"
    old = SQLiteCache(path)
    stale = ChatCompletionResponse(
        "x", "mock-model", "gw", (Choice(0, Message.assistant("STALE-OLD-FORMAT-ANSWER"), "stop"),), Usage(1, 1, 2)
    )
    old.set(_old_format_key(DET, "gw", "mock-model"), encode_response(stale))
    old.close()
    with MockProvider(reply="FRESH-ANSWER") as mock, gateway(mock, path) as client:
        assert client.chat_completion(DET).text == "FRESH-ANSWER"
        assert mock.request_count == 1


def test_old_format_entries_are_removed_from_a_sqlite_file_when_it_is_opened(tmp_path):
    """Opening a file that holds old-format entries deletes them (they would never be read), and keeps current ones."""
    path = tmp_path / "old.sqlite"
    old = SQLiteCache(path)
    old.set("ailib:v1:" + "0" * 64, b"old")
    old.set("ailib:v1:" + "f" * 64, b"old")
    old.set("ailib:v2:" + "a" * 64, b"current")
    old.close()
    reopened = SQLiteCache(path)
    assert len(reopened) == 1 and reopened.get("ailib:v2:" + "a" * 64) == b"current"
    reopened.close()
