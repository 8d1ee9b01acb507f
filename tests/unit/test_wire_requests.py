"""Requests say what the user asked, in every format: exact request bodies from pure encoding (no network)."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from ailib import AiClientBuilder, ChatCompletionRequest, ConnectionOptions, Message
from ailib.errors import InvalidRequestError
from ailib.providers._formats import get_wire_format
from ailib.providers._registry import PROVIDERS, Provider, ProviderSpec
from ailib.testing import MockTransport

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


# -- 2. OpenAI's 4-stop limit ---------------------------------------------------------------------

FIVE_STOPS = ["a", "b", "c", "d", "e"]


@pytest.mark.parametrize("provider", [Provider.OPENAI, Provider.AZURE_OPENAI])
def test_more_than_four_stops_to_openai_fail_before_sending(provider: Provider) -> None:
    """Five stop sequences for OpenAI (or Azure OpenAI) raise InvalidRequestError naming the limit, from check and encode."""
    spec, req = PROVIDERS[provider], ChatCompletionRequest("m", [Message.user("hi")], stop=FIVE_STOPS)
    wire = get_wire_format(spec.wire_format)
    with pytest.raises(InvalidRequestError, match="at most 4 stop sequences, got 5"):
        wire.check_supported(req, spec, stream=False)
    with pytest.raises(InvalidRequestError, match="at most 4 stop sequences"):
        wire.encode(req, "m", stream=False, spec=spec)


def test_four_stops_go_to_openai_as_given() -> None:
    """Four stop sequences are within OpenAI's limit and are sent as a list."""
    req = ChatCompletionRequest("m", [Message.user("hi")], stop=FIVE_STOPS[:4])
    assert encode("openai", req)["stop"] == ["a", "b", "c", "d"]


@pytest.mark.parametrize("provider", [Provider.DEEPSEEK, Provider.GROQ, Provider.OPENROUTER])
def test_openai_compatible_providers_get_every_stop_sequence(provider: Provider) -> None:
    """OpenAI-compatible services set their own limits (DeepSeek takes 16): the list is sent whole, unchecked."""
    spec, req = PROVIDERS[provider], ChatCompletionRequest("m", [Message.user("hi")], stop=FIVE_STOPS)
    wire = get_wire_format(spec.wire_format)
    wire.check_supported(req, spec, stream=False)
    assert wire.encode(req, "m", stream=False, spec=spec)["stop"] == FIVE_STOPS


def test_the_stop_limit_is_checked_before_any_network_call() -> None:
    """Through a client, five stops to OpenAI raise InvalidRequestError and the transport sees no request."""
    transport = MockTransport(lambda req: {})
    options = ConnectionOptions(api_key="sk-test-0", base_url="http://openai.invalid/v1")
    with AiClientBuilder("openai").with_connection_options(options).with_transport(transport).build() as client:
        with pytest.raises(InvalidRequestError, match="at most 4"):
            client.chat_completion(ChatCompletionRequest("m", [Message.user("hi")], stop=FIVE_STOPS))
    assert transport.requests == []
