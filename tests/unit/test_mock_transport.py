"""``MockTransport``: retry, failover, hedging and streaming run through the whole pipeline with no socket."""

from __future__ import annotations

import json
import socket
import time

import pytest

from ailib import AiClientBuilder, ChatCompletionRequest, CustomProviderBuilder, HedgePolicy, Message, RetryPolicy
from ailib.errors import NetworkError
from ailib.testing import MockResponse, MockTransport

FAST = RetryPolicy(initial_delay=0.001, max_delay=0.002)
REQ = ChatCompletionRequest("m", [Message.user("hi")])


def _answer(text: str) -> dict:
    return {
        "id": "x",
        "object": "chat.completion",
        "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def _provider(name: str):
    return CustomProviderBuilder(name).with_base_url(f"http://{name}.invalid/v1").with_api_key("sk-mock-0").build_provider()


@pytest.fixture(autouse=True)
def no_sockets(monkeypatch):
    """Any attempt to open a connection fails the test."""

    def refuse(self, *args, **kwargs):
        raise AssertionError("a socket was connected")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_retry_runs_through_the_mock_transport():
    """A 503 then a 200: the call succeeds on its second attempt, both recorded, no socket opened."""
    answers = iter([MockResponse(503, json={"error": {"message": "busy"}}), _answer("ok")])
    transport = MockTransport(lambda req: next(answers))
    with AiClientBuilder(_provider("a")).with_transport(transport).with_retry(FAST).build() as client:
        resp = client.chat_completion(REQ)
    assert resp.text == "ok"
    assert [a.outcome for a in resp.attempts] == ["error", "ok"]
    assert len(transport.requests) == 2


def test_failover_runs_through_the_mock_transport():
    """The first target fails with a simulated network error on every try; the second answers."""

    def handler(req):
        if "://a." in req.url:
            raise NetworkError("simulated reset", request_sent=False)
        return _answer("from b")

    transport = MockTransport(handler)
    with AiClientBuilder(_provider("a")).with_failover_chain([_provider("b")]).with_transport(transport).with_retry(FAST).build() as client:
        resp = client.chat_completion(REQ)
    assert resp.text == "from b"
    assert [a.outcome for a in resp.attempts][-1] == "ok"
    assert {json.loads(r.body)["messages"][0]["content"] for r in transport.requests} == {"hi"}


def test_hedging_runs_through_the_mock_transport_and_cancels_the_slow_primary():
    """A primary that would take 5 s is hedged after 50 ms: the hedge answers, the primary is cancelled."""

    def handler(req):
        if "://a." in req.url:
            return MockResponse(json=_answer("slow"), delay=5.0)
        return _answer("hedge")

    transport = MockTransport(handler)
    builder = AiClientBuilder(_provider("a")).with_failover_chain([_provider("b")]).with_transport(transport)
    with builder.with_hedging(HedgePolicy(delay=0.05, max_extra_load=1.0)).build() as client:
        start = time.monotonic()
        resp = client.chat_completion(REQ)
        elapsed = time.monotonic() - start
    assert resp.text == "hedge"
    assert sorted(a.outcome for a in resp.attempts) == ["cancelled", "ok"]
    assert elapsed < 5.0  # hang guard only: the primary's 5 s never ran out


def test_streaming_runs_through_the_mock_transport():
    """SSE events returned by the handler stream to the caller chunk by chunk, ending at [DONE]."""
    chunk = {"id": "x", "object": "chat.completion.chunk", "model": "m"}
    events = [
        {**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hel"}, "finish_reason": None}]},
        {**chunk, "choices": [{"index": 0, "delta": {"content": "lo"}, "finish_reason": None}]},
        {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        "[DONE]",
    ]
    transport = MockTransport(lambda req: MockResponse(events=events))
    with AiClientBuilder(_provider("a")).with_transport(transport).build() as client:
        with client.chat_completion_stream(REQ) as stream:
            parts = [c.delta_text for c in stream if c.delta_text]
    assert parts == ["Hel", "lo"]
    assert transport.requests[0].stream is True


def test_a_stream_fault_before_content_is_retried_through_the_mock_transport():
    """A stream whose first try breaks before any content (a raised error) is retried and then delivered."""
    chunk = {"id": "x", "object": "chat.completion.chunk", "model": "m"}
    good = [
        {**chunk, "choices": [{"index": 0, "delta": {"content": "ok"}, "finish_reason": None}]},
        {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        "[DONE]",
    ]
    answers = iter([MockResponse(events=[NetworkError("cut", request_sent=True)]), MockResponse(events=good)])
    transport = MockTransport(lambda req: next(answers))
    with AiClientBuilder(_provider("a")).with_transport(transport).with_retry(FAST).build() as client:
        with client.chat_completion_stream(REQ) as stream:
            text = "".join(c.delta_text or "" for c in stream)
    assert text == "ok"
    assert len(transport.requests) == 2
