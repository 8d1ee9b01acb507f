"""Streams keep every choice (``choice_index``) and the raw event; responses keep their headers, read-only and without secrets."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from ailib._response import ResponseHeaders
from ailib.call.stream import ChatStream
from ailib.providers import anthropic, cohere, openai
from ailib.types import ChatCompletionResponse, StreamChunk

from ._recorded import feed

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def test_openai_stream_keeps_every_choice_by_index() -> None:
    """An n=2 stream: each choice's text comes on chunks with its choice_index; each choice ends with its own chunk, choice 0's last with the usage."""
    chunks, _ = feed(openai.WIRE_FORMAT, "openai", "stream_two_choices")
    texts = {i: "".join(c.delta_text for c in chunks if c.choice_index == i) for i in (0, 1)}
    assert texts == {0: "It is sunny.", 1: "Clear skies today."}
    ends = [(c.choice_index, c.finish_reason) for c in chunks if c.finish_reason]
    assert ends == [(1, "stop"), (0, "stop")]
    assert chunks[-1].usage is not None and chunks[-1].choice_index == 0


def test_chunks_carry_the_raw_event() -> None:
    """Each content chunk carries the decoded event it came from (OpenAI, Anthropic, Cohere)."""
    for wire, fmt, name in ((openai.WIRE_FORMAT, "openai", "stream_text"), (anthropic.WIRE_FORMAT, "anthropic", "stream_text")):
        chunks, _ = feed(wire, fmt, name)
        content = [c for c in chunks if c.delta_text]
        assert content and all(isinstance(c.raw, dict) for c in content)
    chunks, decoder = feed(cohere.WIRE_FORMAT, "cohere", "stream_text")
    assert all(c.raw["type"] == "content-delta" for c in chunks if c.delta_text)
    assert decoder.response_id == "a8fc192e-4bb8-4e15-ae1f-a174e8b02ae8"


class _Resp:
    headers = {"Content-Type": "text/event-stream", "x-request-id": "req_abc", "Set-Cookie": "s=1"}

    def close(self) -> None:
        pass


class _Primed:
    def __init__(self, chunks: list[StreamChunk], decoder: Any) -> None:
        self.resp = _Resp()
        self.events = iter(())
        self.decoder = decoder
        self.chunks = chunks
        self.target = type("T", (), {"endpoint": type("E", (), {"provider": "openai"})(), "model": "m"})()


def test_collected_stream_has_every_choice_and_the_ids() -> None:
    """``collect()`` of an n=2 stream gives both choices in order, the response id, the headers and the request id."""
    from ailib.call.branch import AttemptLog

    chunks, decoder = feed(openai.WIRE_FORMAT, "openai", "stream_two_choices")
    stream = ChatStream(_Primed(chunks, decoder), AttemptLog())  # type: ignore[arg-type]
    resp = stream.collect()
    got = [(c.index, c.message.text(), c.finish_reason) for c in resp.choices]
    assert got == [(0, "It is sunny.", "stop"), (1, "Clear skies today.", "stop")]
    assert stream.text == "It is sunny." and resp.id == "chatcmpl-ABfw4AJ7bWrcSNSbp7KFevRsNS8oA"
    assert resp.request_id == stream.request_id == "req_abc" and "set-cookie" not in resp.headers


def test_collected_stream_names_the_model_the_provider_named() -> None:
    """``collect()`` gives the model the stream's events named (as a body's ``model``), not the requested one."""
    from ailib.call.branch import AttemptLog

    chunks, decoder = feed(openai.WIRE_FORMAT, "openai", "stream_two_choices")
    resp = ChatStream(_Primed(chunks, decoder), AttemptLog()).collect()  # type: ignore[arg-type]
    assert resp.model == "gpt-4o-2024-08-06"


def test_response_headers_are_read_only_case_insensitive_and_without_secrets() -> None:
    """Headers: any case finds them, credentials and cookies are left out, no way to assign; they pickle and compare as a mapping."""
    h = ResponseHeaders(
        {
            "X-Request-Id": "req_1",
            "x-ratelimit-remaining-requests": "99",
            "Authorization": "Bearer sk-x",
            "x-api-key": "k",
            "Set-Cookie": "a=b",
        }
    )
    assert h["x-request-id"] == h["X-REQUEST-ID"] == "req_1" and "X-RateLimit-Remaining-Requests" in h
    assert set(h) == {"x-request-id", "x-ratelimit-remaining-requests"}
    assert not hasattr(h, "__setitem__")
    assert pickle.loads(pickle.dumps(h)) == h == {"x-request-id": "req_1", "x-ratelimit-remaining-requests": "99"}
    resp = ChatCompletionResponse("r", "m", "p", (), headers={"request-id": "req_2"})
    assert resp.request_id == "req_2" and ChatCompletionResponse("r", "m", "p", ()).request_id is None
    assert "request-id" not in repr(resp) and "<1 headers>" in repr(resp)


def test_openai_logprobs_are_kept_on_the_choice() -> None:
    """A body's ``choices[].logprobs`` is kept on the Choice as sent."""
    import json

    data = json.loads((FIXTURES / "openai" / "response_logprobs.json").read_text())
    resp = openai.WIRE_FORMAT.decode(data, provider="openai", model="m", headers={})
    assert resp.choices[0].logprobs == data["choices"][0]["logprobs"] and resp.text == "Foo!"


def test_streamed_logprobs_come_on_chunks_and_collect_into_one_list() -> None:
    """Each chunk carries its logprobs; a collected stream has the choice's whole ``content`` list."""
    from ailib.call.branch import AttemptLog

    chunks, decoder = feed(openai.WIRE_FORMAT, "openai", "stream_logprobs")
    assert [c.logprobs["content"][0]["token"] for c in chunks if c.logprobs] == ["Foo", "!"]
    resp = ChatStream(_Primed(chunks, decoder), AttemptLog()).collect()  # type: ignore[arg-type]
    assert [t["token"] for t in resp.choices[0].logprobs["content"]] == ["Foo", "!"]
