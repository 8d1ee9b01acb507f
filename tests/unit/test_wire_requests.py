"""Requests say what the user asked, in every format: exact request bodies from pure encoding (no network)."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from ailib import ChatCompletionRequest, Message
from ailib.providers._formats import get_wire_format
from ailib.providers._registry import PROVIDERS, Provider, ProviderSpec

FORMATS = ("openai", "anthropic", "gemini", "cohere")
PROVIDER_OF = {"openai": Provider.OPENAI, "anthropic": Provider.ANTHROPIC, "gemini": Provider.GEMINI, "cohere": Provider.COHERE}
SAMPLING = {"temperature", "top_p", "p", "topP", "stop", "stop_sequences", "stopSequences", "max_tokens", "maxOutputTokens"}


def spec_for(fmt: str) -> ProviderSpec:
    return attrs.evolve(PROVIDERS[PROVIDER_OF[fmt]], images=True)


def encode(fmt: str, request: ChatCompletionRequest, *, model: str = "m", stream: bool = False) -> dict[str, Any]:
    spec = spec_for(fmt)
    wire = get_wire_format(fmt)
    wire.check_supported(request, spec, stream=stream)
    return wire.encode(request, model, stream=stream, spec=spec)


# -- 1. sampling parameters only when the user set them ------------------------------------------


def test_no_sampling_parameter_is_sent_when_none_was_set() -> None:
    """A request without temperature/top_p/stop/max_tokens gets exactly the format's minimal body."""
    req = ChatCompletionRequest("m", [Message.user("hi")])
    assert encode("openai", req) == {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    assert encode("anthropic", req, model="claude-sonnet-4-5") == {
        "model": "claude-sonnet-4-5",
        "max_tokens": 8192,  # required by the API
        "messages": [{"role": "user", "content": "hi"}],
    }
    assert encode("gemini", req) == {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    assert encode("cohere", req) == {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("stream", [False, True])
def test_only_the_sampling_parameter_set_is_sent(fmt: str, stream: bool) -> None:
    """Setting only top_p sends top_p (under the format's name) and no temperature, streamed or not."""
    body = encode(fmt, ChatCompletionRequest("m", [Message.user("hi")], top_p=0.5), stream=stream)
    flat = {**body, **body.get("generationConfig", {})}
    sent = {k for k in SAMPLING if k in flat} - ({"max_tokens"} if fmt == "anthropic" else set())
    assert sent == {{"openai": "top_p", "anthropic": "top_p", "gemini": "topP", "cohere": "p"}[fmt]}
    assert "temperature" not in flat


@pytest.mark.parametrize("fmt", FORMATS)
def test_temperature_zero_is_sent_as_set(fmt: str) -> None:
    """temperature=0 is a value the user set, not an absence: it is sent."""
    body = encode(fmt, ChatCompletionRequest("m", [Message.user("hi")], temperature=0))
    assert {**body, **body.get("generationConfig", {})}["temperature"] == 0
