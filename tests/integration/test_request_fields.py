"""Request fields end to end over loopback: MockProvider (which refuses what the real API refuses) receives them as asked."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ailib import AiClient, AiClientBuilder, ChatCompletionRequest, Message
from ailib.testing import MockProvider
from ailib.types import Content, Role, Tool

KEY = "sk-test-request-fields-0123456789"
WEATHER = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": False}
EPHEMERAL = {"type": "ephemeral"}


def _client(fmt: str) -> Iterator[tuple[MockProvider, AiClient]]:
    with MockProvider(fmt, api_key=KEY) as server:
        client = AiClientBuilder(server.provider(api_key=KEY)).without_retry().build()
        try:
            yield server, client
        finally:
            client.close()


@pytest.fixture
def openai() -> Iterator[tuple[MockProvider, AiClient]]:
    yield from _client("openai")


@pytest.fixture
def anthropic() -> Iterator[tuple[MockProvider, AiClient]]:
    yield from _client("anthropic")


@pytest.fixture
def gemini() -> Iterator[tuple[MockProvider, AiClient]]:
    yield from _client("gemini")


def _body(server: MockProvider) -> Any:
    return server.chat_requests[-1].json


def test_openai_format_gets_strict_detail_and_merged_extra(openai: tuple[MockProvider, AiClient]) -> None:
    """Tool strict, image detail and a deeply merged extra reach an OpenAI-format server, which answers normally."""
    server, client = openai
    req = ChatCompletionRequest(
        "auto",
        [Message(Role.DEVELOPER, "Be brief."), Message.user([Content.text("what?"), Content.image_url("https://x/cat.png", detail="low")])],
        tools=[Tool.function("get_weather", "Weather", WEATHER, strict=True)],
        extra={"stream_options": {"include_obfuscation": False}},
    )
    with client.chat_completion_stream(req) as stream:
        assert "".join(c.delta_text for c in stream)
    body = _body(server)
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}  # a custom OpenAI-compatible provider: system
    assert body["messages"][1]["content"][1] == {"type": "image_url", "image_url": {"url": "https://x/cat.png", "detail": "low"}}
    assert body["tools"][0]["function"]["strict"] is True
    assert body["stream_options"] == {"include_usage": True, "include_obfuscation": False}


def test_anthropic_gets_cache_control_and_no_unset_sampling(anthropic: tuple[MockProvider, AiClient]) -> None:
    """A marked system prompt goes to an Anthropic server as blocks with cache_control; no temperature/top_p is sent."""
    server, client = anthropic
    req = ChatCompletionRequest("auto", [Message.system([Content.text("The manual.", cache_control=EPHEMERAL)]), Message.user("hi")])
    assert client.chat_completion(req).text
    body = _body(server)
    assert body["system"] == [{"type": "text", "text": "The manual.", "cache_control": EPHEMERAL}]
    assert "temperature" not in body and "top_p" not in body


def test_gemini_thinking_config_keeps_generation_config(gemini: tuple[MockProvider, AiClient]) -> None:
    """extra's generationConfig.thinkingConfig reaches a Gemini server beside maxOutputTokens and temperature."""
    server, client = gemini
    extra = {"generationConfig": {"thinkingConfig": {"thinkingBudget": 128}}}
    req = ChatCompletionRequest("auto", [Message.user("hi")], temperature=0.2, max_tokens=64, extra=extra)
    assert client.chat_completion(req).text
    assert _body(server)["generationConfig"] == {"temperature": 0.2, "maxOutputTokens": 64, "thinkingConfig": {"thinkingBudget": 128}}
