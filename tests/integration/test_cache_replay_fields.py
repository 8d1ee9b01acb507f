"""A cached answer keeps everything the original carried: reasoning (parts, signatures, text),
refusals, tool calls, usage details, logprobs, citations, server-tool parts and further choices,
streamed and not."""

from __future__ import annotations

from typing import Any

import pytest

from ailib import AiClientBuilder, ChatCompletionRequest, Message
from ailib.testing import MockProvider, Reply, ReplyCitation

KEY = "sk-test-cache-0123456789abcdef"
CALL = (("call_1", "get_weather", {"city": "Paris"}),)
THINKING = Reply(
    "It is sunny.", CALL, prompt_tokens=100, completion_tokens=30, cached_tokens=60, cache_write_tokens=20, reasoning="Check the weather."
)


def _req(**extra: Any) -> ChatCompletionRequest:
    return ChatCompletionRequest("mock-model", [Message.user("weather in Paris?")], temperature=0, extra=extra or None)


def _stream_view(stream: Any) -> dict[str, Any]:
    """Everything a caller reads off a stream, chunk by chunk and at its end."""
    chunks = list(stream)
    return {
        "reasoning_deltas": [c.delta_reasoning for c in chunks if c.delta_reasoning],
        "text_deltas": [c.delta_text for c in chunks if c.delta_text],
        "refusal": stream.refusal,
        "refusal_details": stream.refusal_details,
        "reasoning": stream.reasoning,
        "reasoning_parts": stream.reasoning_parts,
        "tool_calls": stream.tool_calls,
        "usage": stream.usage,
        "finish_reason": stream.finish_reason,
        "id": stream.id,
        "citations": stream.citations,
        "server_tool_parts": stream.server_tool_parts,
    }


def _twice(fmt: str, reply: Reply, *, stream: bool, **extra: Any) -> tuple[Any, Any, int]:
    with MockProvider(fmt, name="mock") as mock:
        mock.reply = reply
        with AiClientBuilder(mock.provider(api_key=KEY)).with_cache("memory").build() as client:
            if stream:
                with client.chat_completion_stream(_req(**extra)) as s:
                    first = _stream_view(s)
                with client.chat_completion_stream(_req(**extra)) as s:
                    second = _stream_view(s)
            else:
                first = client.chat_completion(_req(**extra))
                second = client.chat_completion(_req(**extra))
        return first, second, mock.request_count


@pytest.mark.parametrize("fmt", ["anthropic", "gemini", "openai"])
def test_a_cached_stream_replays_its_reasoning_tool_calls_and_usage_details(fmt):
    """The replay of a cached stream gives the same reasoning deltas, text deltas, reasoning parts (signatures
    included), tool calls, usage (cached and cache-write counts) and finish reason as the original stream."""
    first, second, sent = _twice(fmt, THINKING, stream=True)
    assert sent == 1
    assert first["reasoning"] == "Check the weather." and first["tool_calls"]
    assert second == first


@pytest.mark.parametrize("fmt", ["openai", "anthropic"])
def test_a_cached_streamed_refusal_replays_as_a_refusal(fmt):
    """A refused stream, replayed from the cache, still refuses: the same refusal text, details and finish reason, no text."""
    first, second, sent = _twice(fmt, Reply("", refusal="I can't help with that."), stream=True)
    assert sent == 1
    assert first["finish_reason"] == "refusal" and first["refusal"] is not None
    assert second == first
    assert second["text_deltas"] == []


def test_a_cached_stream_keeps_its_logprobs_and_further_choices():
    """An OpenAI stream asked for n=2 and logprobs: the replay's collected response has both choices and the logprobs."""
    with MockProvider("openai", name="mock") as mock:
        with AiClientBuilder(mock.provider(api_key=KEY)).with_cache("memory").build() as client:
            first = client.chat_completion_stream(_req(n=2, logprobs=True, top_logprobs=2)).collect()
            second = client.chat_completion_stream(_req(n=2, logprobs=True, top_logprobs=2)).collect()
        assert mock.request_count == 1
    assert len(first.choices) == 2 and first.choices[0].logprobs
    assert [(c.index, c.message, c.finish_reason, c.logprobs) for c in second.choices] == [
        (c.index, c.message, c.finish_reason, c.logprobs) for c in first.choices
    ]


@pytest.mark.parametrize("fmt", ["anthropic", "gemini", "openai"])
def test_a_cached_answer_keeps_reasoning_tool_calls_and_usage_details(fmt):
    """A non-streamed answer from the cache has the same choices (reasoning parts, tool calls), usage and id as the original."""
    first, second, sent = _twice(fmt, THINKING, stream=False)
    assert sent == 1
    assert first.reasoning == "Check the weather." and first.tool_calls
    assert (second.id, second.choices, second.usage) == (first.id, first.choices, first.usage)


def test_a_cached_refusal_stays_a_refusal():
    """A non-streamed Anthropic refusal from the cache keeps finish_reason "refusal", its text and its stop_details."""
    first, second, sent = _twice("anthropic", Reply("", refusal="I can't help with that."), stream=False)
    assert sent == 1
    assert first.finish_reason == "refusal" and first.choices[0].refusal_details
    assert second.choices == first.choices


CITED = Reply(
    "Paris is sunny today.",
    citations=[ReplyCitation(0, 21, "https://weather.example/paris", "Paris weather", "Sunny in Paris")],
    web_search="weather in Paris",
)


@pytest.mark.parametrize("fmt", ["anthropic", "gemini", "openai", "cohere"])
@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
def test_a_cached_answer_keeps_its_citations_and_server_tool_parts(fmt, stream):
    """A cached answer (streamed or not) gives the same citations and server-tool parts (the search) as the original."""
    first, second, sent = _twice(fmt, CITED, stream=stream)
    assert sent == 1
    if not stream:
        first, second = _stream_free(first), _stream_free(second)
    assert first["citations"] and second == first


def _stream_free(resp: Any) -> dict[str, Any]:
    return {"text": resp.text, "citations": resp.citations, "server_tool_parts": resp.server_tool_parts}
