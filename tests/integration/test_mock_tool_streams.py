"""MockProvider streams tool calls as the real APIs do: arguments token by token (Gemini: whole
functionCall parts), and no text in an answer that has only tool calls."""

from __future__ import annotations

import json

import pytest

from ailib import AiClientBuilder, ChatCompletionRequest, Message, Tool
from ailib.testing import Fault, MockProvider, Reply

ARGS = {"city": "Paris", "unit": "celsius", "days": 3}
CALL = (("call_1", "get_weather", ARGS),)
WEATHER = Tool.function("get_weather", "Weather", {"type": "object", "properties": {"city": {"type": "string"}}})
REQ = ChatCompletionRequest("mock-model", [Message.user("Weather in Paris?")], tools=[WEATHER])


def _stream(fmt: str, fault: Fault):
    with MockProvider(fmt, name="mock") as mock, AiClientBuilder(mock.provider()).build() as client:
        mock.enqueue(fault)
        with client.chat_completion_stream(REQ) as stream:
            chunks = list(stream)
        return stream, chunks, mock.chat_requests[0]


@pytest.mark.parametrize("fmt", ["openai", "anthropic", "cohere"])
def test_tool_call_arguments_arrive_token_by_token(fmt):
    """The arguments come in many small fragments (each a token or so, at most 8 characters), joining to the JSON."""
    stream, chunks, _ = _stream(fmt, Fault.ok(tool_calls=CALL))
    pieces = [d.arguments_delta for c in chunks for d in c.tool_call_deltas if d.arguments_delta]
    assert len(pieces) >= 12 and max(map(len, pieces)) <= 8
    assert json.loads("".join(pieces)) == ARGS
    assert [(c.name, c.arguments) for c in stream.tool_calls] == [("get_weather", ARGS)]


def test_openai_tool_call_arguments_are_compact_json_split_like_the_api():
    """OpenAI's arguments are compact JSON, cut as the API cuts them: '{"', 'city', '":"', 'Paris', '","' ..."""
    _, chunks, _ = _stream("openai", Fault.ok(tool_calls=(("call_1", "get_weather", {"city": "Paris"}),)))
    pieces = [d.arguments_delta for c in chunks for d in c.tool_call_deltas if d.arguments_delta]
    assert pieces == ['{"', "city", '":"', "Paris", '"}']


def test_gemini_sends_a_function_call_whole():
    """Gemini streams a functionCall as one whole part (args as an object), not in fragments."""
    stream, chunks, _ = _stream("gemini", Fault.ok(tool_calls=CALL))
    raw_calls = [
        p["functionCall"]
        for c in chunks
        if c.raw
        for cand in c.raw.get("candidates", [])
        for p in cand["content"]["parts"]
        if "functionCall" in p
    ]
    assert raw_calls == [{"name": "get_weather", "args": ARGS}]
    assert [(c.name, c.arguments) for c in stream.tool_calls] == [("get_weather", ARGS)]


@pytest.mark.parametrize("fmt", ["openai", "anthropic", "gemini", "cohere"])
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_an_answer_with_only_tool_calls_has_no_text(fmt, stream):
    """Fault.ok(tool_calls=...) answers with the calls and no text, streamed or not, in every format."""
    with MockProvider(fmt, name="mock") as mock, AiClientBuilder(mock.provider()).build() as client:
        mock.enqueue(Fault.ok(tool_calls=CALL))
        resp = client.chat_completion_stream(REQ).collect() if stream else client.chat_completion(REQ)
    assert resp.text == "" and resp.finish_reason == "tool_calls"
    assert [c.name for c in resp.tool_calls] == ["get_weather"]


@pytest.mark.parametrize("fmt", ["openai", "anthropic", "gemini", "cohere"])
def test_a_reply_with_text_and_tool_calls_has_both(fmt):
    """A Reply with both text and calls streams both: the text first, then the calls."""
    with MockProvider(fmt, name="mock") as mock, AiClientBuilder(mock.provider()).build() as client:
        mock.reply = Reply("Let me check.", CALL)
        resp = client.chat_completion_stream(REQ).collect()
    assert resp.text == "Let me check." and [c.arguments for c in resp.tool_calls] == [ARGS]
