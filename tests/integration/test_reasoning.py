"""Reasoning end to end through MockProvider: responses and streams show it, and the assistant
message of the answer carries it for the replay."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ailib import AiClient, AiClientBuilder, ChatCompletionRequest, Message
from ailib.testing import Fault, MockProvider

KEY = "sk-test-reasoning-0123456789abcdef"
THINKING = "First I consider the question, then I answer it."


@pytest.fixture(params=("anthropic", "gemini", "openai", "cohere", "openai_responses"))
def server(request: pytest.FixtureRequest) -> Iterator[MockProvider]:
    with MockProvider(request.param, api_key=KEY) as m:
        yield m


@pytest.fixture
def ai(server: MockProvider) -> Iterator[AiClient]:
    c = AiClientBuilder(server.provider(api_key=KEY)).build()
    yield c
    c.close()


def signed(message: Message, server: MockProvider) -> bool:
    """Anthropic and Gemini sign their reasoning; OpenAI-compatible and Cohere reasoning text has no signature."""
    signatures = [p.signature for p in message.reasoning_parts if p.signature]
    return bool(signatures) if server.provider().wire_format in ("anthropic", "gemini") else not signatures


def ask() -> ChatCompletionRequest:
    return ChatCompletionRequest("auto", [Message.user("hi")])


def test_a_response_shows_its_reasoning(server: MockProvider, ai: AiClient) -> None:
    """.reasoning is the model's thinking; its parts (signed) are on the answer's message."""
    server.enqueue(Fault.ok("Answer.", reasoning=THINKING))
    resp = ai.chat_completion(ask())
    assert (resp.reasoning, resp.text) == (THINKING, "Answer.")
    assert signed(resp.choices[0].message, server)


def test_a_stream_delivers_reasoning_deltas_and_collects_the_parts(server: MockProvider, ai: AiClient) -> None:
    """delta_reasoning pieces join into the thinking; collect() keeps the signed parts on the message."""
    server.enqueue(Fault.ok("Answer.", reasoning=THINKING))
    with ai.chat_completion_stream(ask()) as stream:
        pieces = [c.delta_reasoning for c in stream if c.delta_reasoning]
        assert stream.reasoning == THINKING and stream.text == "Answer."
        resp = stream.collect()
    assert "".join(pieces) == THINKING and len(pieces) > 1
    assert resp.reasoning == THINKING and signed(resp.choices[0].message, server)


def test_an_answer_without_reasoning_has_none(server: MockProvider, ai: AiClient) -> None:
    """No thinking: .reasoning is None and the message has no reasoning parts."""
    resp = ai.chat_completion(ask())
    assert resp.reasoning is None and resp.choices[0].message.reasoning_parts == ()
