"""Keys, base-URL queries, userinfo and path ids on real loopback HTTP: what reaches the server,
and that no key, password or query secret reaches an error, a log line or an attempt record."""

from __future__ import annotations

import logging
import pickle
import traceback
import warnings
from typing import Any

import pytest

from ailib import (
    AiClient,
    AiClientBuilder,
    ChatCompletionRequest,
    ConfigurationError,
    ConnectionOptions,
    CustomProviderBuilder,
    Message,
    RetryPolicy,
)
from ailib.batch import run_batch
from ailib.errors import AiLibError, InvalidRequestError
from ailib.testing import Fault, MockProvider, MockTransport

UP = ".." + "/"  # a parent-directory step (spelled so no test names a path above the repository)
KEY = "qv5Tn2Wx8Lp4Rk7Zb1Hs6Jd3Fg9Mc0Ye"  # shaped like no known key format
NO_RETRY = RetryPolicy(max_attempts=1)


def _request(model: str = "auto") -> ChatCompletionRequest:
    return ChatCompletionRequest(model, [Message.user("hi")])


def _everything(err: BaseException) -> str:
    return "\n".join([str(err), repr(err), "".join(traceback.format_exception(type(err), err, err.__traceback__)), repr(pickle.dumps(err))])


def test_a_key_read_with_its_newline_is_sent_bare(monkeypatch: pytest.MonkeyPatch) -> None:
    """OPENAI_API_KEY ending in '\\n' (a key file) works: the server gets 'Bearer <key>' and the user one warning."""
    with MockProvider() as mock:
        monkeypatch.setenv("OPENAI_API_KEY", KEY + "\n")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            client = AiClient("openai", options=ConnectionOptions(base_url=mock.base_url))
        with client:
            assert client.chat("hi")
            assert client.chat("again")
        assert [r.headers["authorization"] for r in mock.requests] == [f"Bearer {KEY}"] * 2
    assert len([w for w in caught if "API key" in str(w.message)]) == 1


def test_a_key_with_an_inner_line_break_fails_before_any_request() -> None:
    """A key with an inner CRLF is a ConfigurationError at build time (not http.client's ValueError); nothing is sent."""
    with MockProvider() as mock:
        with pytest.raises(ConfigurationError) as info:
            AiClient("openai", options=ConnectionOptions(base_url=mock.base_url, api_key=KEY[:9] + "\r\n" + KEY[9:]))
        assert mock.requests == []
    assert KEY[9:] not in _everything(info.value) and KEY[:9] not in _everything(info.value)


def test_a_base_url_query_follows_the_path_on_chat_stream_and_models() -> None:
    """https://h/v1?api_key=K sends /v1/chat/completions?api_key=K (chat, stream and models), never /v1?api_key=K/chat/..."""
    with MockProvider() as mock:
        opts = ConnectionOptions(base_url=f"{mock.base_url}?api_key={KEY}&tenant=t1", api_key="mock-key")
        with AiClient("openai", options=opts) as client:
            client.chat("hi")
            with client.chat_completion_stream(_request()) as stream:
                list(stream)
            client.list_models()
        paths = [r.path for r in mock.requests]
    assert paths == [
        f"/v1/chat/completions?api_key={KEY}&tenant=t1",
        f"/v1/chat/completions?api_key={KEY}&tenant=t1",
        f"/v1/models?api_key={KEY}&tenant=t1",
    ]


def test_azure_deployment_is_encoded_and_api_version_merges_with_the_base_query() -> None:
    """An Azure deployment 'x#frag' is sent as x%23frag with api-version kept, and the base URL's own query added after it."""
    with MockProvider() as mock:
        root = mock.base_url.rsplit("/v1", 1)[0]
        opts = ConnectionOptions(base_url=f"{root}?tenant=t1", api_key="mock-key", max_retries=0)
        with AiClient("azure_openai", options=opts) as client:
            client.chat_completion(_request("x#frag"))
            client.chat_completion(_request("x?key=k"))
        paths = [r.path for r in mock.requests]
    assert paths[0].startswith("/openai/deployments/x%23frag/chat/completions?api-version=") and paths[0].endswith("&tenant=t1")
    assert paths[1].startswith("/openai/deployments/x%3Fkey%3Dk/chat/completions?api-version=")


def test_azure_api_version_in_the_base_url_replaces_the_default() -> None:
    """?api-version= in an Azure base URL is the one sent (once), not the built-in default."""
    with MockProvider() as mock:
        root = mock.base_url.rsplit("/v1", 1)[0]
        opts = ConnectionOptions(base_url=f"{root}/openai/deployments/dep?api-version=2025-01-01-preview", api_key="mock-key")
        with AiClient("azure_openai", options=opts) as client:
            client.chat("hi")
        assert mock.requests[0].path == "/openai/deployments/dep/chat/completions?api-version=2025-01-01-preview"


def test_gemini_key_in_the_base_url_query_and_model_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Gemini base URL ?key=K needs no GEMINI_API_KEY and merges after alt=sse; a traversal model is one encoded segment."""
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    with MockProvider("gemini") as mock:
        root = mock.base_url.rstrip("/")
        with AiClient("gemini", options=ConnectionOptions(base_url=f"{root}?key={KEY}", max_retries=0)) as client:
            with client.chat_completion_stream(_request("models/gemini-1.5-pro")) as stream:
                list(stream)
            client.chat_completion(_request(UP * 3 + "v1/files"))
            with pytest.raises(InvalidRequestError) as info:
                client.chat_completion(_request(".."))
        paths = [r.path for r in mock.requests]
    assert paths == [
        f"/v1beta/models/gemini-1.5-pro:streamGenerateContent?alt=sse&key={KEY}",
        f"/v1beta/models/..%2F..%2F..%2Fv1%2Ffiles:generateContent?key={KEY}",
    ]
    assert KEY not in _everything(info.value)


def test_userinfo_becomes_basic_auth_and_never_reaches_the_url() -> None:
    """http://user:pass@host/v1 on a keyless provider sends Authorization: Basic and a request line without the userinfo."""
    with MockProvider() as mock:
        url = mock.base_url.replace("http://", f"http://bob:{KEY}@")
        with AiClient("ollama", options=ConnectionOptions(base_url=url)) as client:
            client.chat("hi")
            (single,) = client.fallback_chain()
            with single:
                single.chat("again")  # the single-target client keeps the credentials
        assert [r.path for r in mock.requests] == ["/v1/chat/completions"] * 2
        assert {r.headers["authorization"] for r in mock.requests} == {"Basic Ym9iOnF2NVRuMld4OExwNFJrN1piMUhzNkpkM0ZnOU1jMFll"}


def test_no_log_line_error_or_record_shows_a_base_url_secret(caplog: pytest.LogCaptureFixture) -> None:
    """With DEBUG logs on and a failing server, no log line, error or attempt shows the URL's password or query values."""
    password, token = KEY[:16] + "pw", KEY[16:] + "tk"
    with MockProvider() as mock:
        mock.enqueue(Fault.http_status(500))
        mock.enqueue(Fault.http_status(500))
        url = mock.base_url.replace("http://", f"http://bob:{password}@") + f"?sig={token}"
        spec = CustomProviderBuilder("gw").with_base_url(url).build_provider()
        caplog.set_level(logging.DEBUG, logger="ailib")
        with AiClientBuilder(spec).with_retry(RetryPolicy(max_attempts=2, initial_delay=0.001)).build() as client:
            with pytest.raises(AiLibError) as info:
                client.chat_completion(_request())
        assert mock.requests[0].path == f"/v1/chat/completions?sig={token}"
    err = info.value
    shown = [r.getMessage() for r in caplog.records] + [_everything(err), repr(err.attempts)]
    assert any("chat/completions?sig=***" in line for line in shown)  # the request line is logged, redacted
    for text in shown:
        assert password not in text and token not in text


def test_provider_batch_ids_are_encoded_and_carry_the_base_query(tmp_path: Any) -> None:
    """Batch and file ids the provider returns go into paths as one encoded segment each, with the base URL's query."""
    seen: list[str] = []

    def handler(req: Any) -> Any:
        seen.append(f"{req.method} {req.url}")
        path = req.url.split("?")[0]
        if path.endswith("/files"):
            return {"id": "file/../in"}
        if path.endswith("/batches"):
            return {"id": "b#1?x"}
        if "/batches/" in path:
            return {"id": "b#1?x", "status": "completed", "output_file_id": "out/..", "request_counts": {}}
        return b""  # no result lines: the request ends as an error, which is fine here

    spec = CustomProviderBuilder("gw").with_base_url("https://gw.example/v1?tenant=t1").with_api_key("k" * 12).build_provider()
    client = AiClientBuilder(spec).with_transport(MockTransport(handler)).with_retry(NO_RETRY).build()
    with client:
        run_batch(client, [_request()], mode="provider", poll_interval=0.01)
    assert "POST https://gw.example/v1/files?tenant=t1" in seen
    assert "GET https://gw.example/v1/batches/b%231%3Fx?tenant=t1" in seen
    assert "GET https://gw.example/v1/files/out%2F../content?tenant=t1" in seen
