"""ailib reads the logprobs MockProvider(openai) sends when a request asks for them, streamed and not."""

from __future__ import annotations

import pytest

from ailib import AiClientBuilder, ChatCompletionRequest, Message
from ailib.testing import MockProvider, Reply


def _req(**extra: object) -> ChatCompletionRequest:
    return ChatCompletionRequest("mock-model", [Message.user("hi")], extra=extra or None)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_logprobs_asked_for_reach_the_choice(stream):
    """With logprobs=True and top_logprobs=2, Choice.logprobs has one entry per token of the text, each with 2 alternatives."""
    with MockProvider("openai", name="mock") as mock, AiClientBuilder(mock.provider()).build() as client:
        mock.reply = Reply("Hello there, friend!")
        resp = (
            client.chat_completion_stream(_req(logprobs=True, top_logprobs=2)).collect()
            if stream
            else client.chat_completion(_req(logprobs=True, top_logprobs=2))
        )
    entries = resp.choices[0].logprobs["content"]
    assert "".join(e["token"] for e in entries) == "Hello there, friend!"
    assert all(len(e["top_logprobs"]) == 2 and e["top_logprobs"][0]["token"] == e["token"] for e in entries)


def test_streamed_logprobs_arrive_on_each_chunk():
    """A streamed answer with logprobs carries one token and its entry on each content chunk."""
    with MockProvider("openai", name="mock") as mock, AiClientBuilder(mock.provider()).build() as client:
        mock.reply = Reply("Hello there, friend!")
        with client.chat_completion_stream(_req(logprobs=True)) as stream:
            chunks = [c for c in stream if c.delta_text]
    assert [c.delta_text for c in chunks] == ["Hello", " there", ",", " friend", "!"]
    assert all([e["token"] for e in c.logprobs["content"]] == [c.delta_text] for c in chunks)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_no_logprobs_unless_asked(stream):
    """Without logprobs in the request, Choice.logprobs is None."""
    with MockProvider("openai", name="mock") as mock, AiClientBuilder(mock.provider()).build() as client:
        resp = client.chat_completion_stream(_req()).collect() if stream else client.chat_completion(_req())
    assert resp.choices[0].logprobs is None
