"""The OpenAI chat-completions wire format as a pure translator, from recorded fixtures (no network)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ailib import ChatCompletionRequest, Message, Provider
from ailib._sse import SseEvent, SseParser
from ailib.errors import ContextLengthExceededError, ProtocolError, ProviderError, RateLimitExceeded
from ailib.providers._registry import PROVIDERS
from ailib.providers.openai import WIRE_FORMAT, AzureOpenAIFormat, decode_arguments
from ailib.types import StreamChunk, Tool, ToolCall, Usage

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "openai"
SPEC = PROVIDERS[Provider.OPENAI]


def load(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def events(name: str) -> list[SseEvent]:
    parser = SseParser()
    return parser.feed((FIXTURES / f"{name}.txt").read_bytes()) + parser.flush()


def feed(evts: list[SseEvent]) -> list[StreamChunk]:
    decoder = WIRE_FORMAT.stream_decoder(provider="openai", model="m")
    chunks = [c for e in evts for c in decoder.feed(e)]
    decoder.finish()
    return chunks


def test_stream_asks_for_usage_only_from_providers_known_to_send_it() -> None:
    """OpenAI streams get stream_options.include_usage; a provider not known to accept it does not."""
    req = ChatCompletionRequest("m", [Message.user("hi")])
    assert WIRE_FORMAT.encode(req, "gpt-4o-mini", stream=True, spec=SPEC)["stream_options"] == {"include_usage": True}
    assert "stream_options" not in WIRE_FORMAT.encode(req, "sonar", stream=True, spec=PROVIDERS[Provider.PERPLEXITY])


def test_named_tool_choice_becomes_a_function_object() -> None:
    """A tool name as tool_choice is sent as {"type": "function", "function": {"name": ...}}; auto stays a string."""
    req = ChatCompletionRequest("m", [Message.user("hi")], tools=[Tool.function("get_weather")], tool_choice="get_weather")
    assert WIRE_FORMAT.encode(req, "m", stream=False, spec=SPEC)["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}


def test_tool_call_response_fixture_decodes_arguments() -> None:
    """The recorded tool-call answer gives a ToolCall with arguments decoded from the JSON string, and no text."""
    resp = WIRE_FORMAT.decode(load("response_tool_call"), provider="openai", model="m", headers={})
    assert resp.tool_calls == (ToolCall("call_abc123", "get_weather", {"city": "Paris"}),)
    assert resp.choices[0].message.content is None and resp.usage == Usage(60, 18, 78)


def test_invalid_json_arguments_are_kept_as_the_raw_string() -> None:
    """Arguments that are not valid JSON come back as the raw string; empty arguments as {}."""
    assert decode_arguments('{"city": "Par') == '{"city": "Par'
    assert decode_arguments("") == {} and decode_arguments(None) == {}


def test_stream_fixture_gives_text_then_usage_on_the_done_chunk() -> None:
    """The recorded stream gives its text pieces and ends at [DONE] with finish reason and usage on one last chunk."""
    chunks = feed(events("stream_text"))
    assert [c.delta_text for c in chunks[:-1]] == ["It is sunny", " and 21 degrees", " in Paris."]
    assert (chunks[-1].finish_reason, chunks[-1].usage, chunks[-1].model) == ("stop", Usage(25, 11, 36), "gpt-4o-mini-2024-07-18")


def test_streamed_tool_call_fragments_assemble_into_a_tool_call() -> None:
    """Argument fragments of a streamed tool call join into the final ToolCall's decoded arguments."""
    chunks = feed(events("stream_tool_call"))
    assert "".join(d.arguments_delta for c in chunks for d in c.tool_call_deltas) == '{"city":"Paris"}'
    assert chunks[-1].tool_calls == (ToolCall("call_abc123", "get_weather", {"city": "Paris"}),)


def test_named_error_event_in_stream_is_a_retryable_provider_error() -> None:
    """An ``event: error`` frame inside a 200 stream raises a retryable ProviderError carrying the provider's message."""
    decoder = WIRE_FORMAT.stream_decoder(provider="openai", model="m")
    with pytest.raises(ProviderError, match="boom") as info:
        decoder.feed(SseEvent("error", '{"error": {"message": "boom", "type": "server_error"}}'))
    assert info.value.is_retryable()


def test_error_object_answered_with_200_is_classified() -> None:
    """A gateway's error object with HTTP 200 raises its classified error instead of decoding as an answer."""
    with pytest.raises(ProviderError):
        WIRE_FORMAT.decode({"error": {"message": "upstream overloaded", "type": "server_error"}}, provider="openai", model="m", headers={})


def test_non_string_content_is_a_protocol_error() -> None:
    """A message content that is not a string (a foreign shape) raises ProtocolError."""
    data = load("response_text")
    data["choices"][0]["message"]["content"] = [{"type": "text", "text": "x"}]
    with pytest.raises(ProtocolError):
        WIRE_FORMAT.decode(data, provider="openai", model="m", headers={})


def test_models_list_reads_ids() -> None:
    """The models listing gives data[].id."""
    assert WIRE_FORMAT.decode_models(load("models")) == ["gpt-4o-mini", "gpt-4o"]


def test_azure_urls_use_deployments_and_api_version() -> None:
    """Azure chat URLs go through the deployment named by the model, with the api-version query and api-key header."""
    azure = AzureOpenAIFormat("2024-10-21")
    assert azure.chat_url("https://r.openai.azure.com", "prod-4o", False) == (
        "https://r.openai.azure.com/openai/deployments/prod-4o/chat/completions?api-version=2024-10-21"
    )
    assert azure.auth_headers("k") == {"api-key": "k"}


@pytest.mark.parametrize(
    "error, cls",
    [
        ({"message": "slow down", "type": "requests", "code": "rate_limit_exceeded"}, RateLimitExceeded),
        ({"message": "too long", "type": "invalid_request_error", "code": "context_length_exceeded"}, ContextLengthExceededError),
        ({"message": "busy", "code": 503}, ProviderError),
        ({"message": "slow", "code": 429}, RateLimitExceeded),
        ({"message": "boom", "type": "server_error"}, ProviderError),
    ],
)
def test_in_stream_error_is_classified_by_its_own_code(error, cls) -> None:
    """An error inside a 200 stream is classified from its code/type, not as a blanket 500."""
    decoder = WIRE_FORMAT.stream_decoder(provider="openai", model="m")
    with pytest.raises(cls):
        decoder.feed(SseEvent("message", json.dumps({"error": error})))
