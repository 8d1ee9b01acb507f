"""One request, four wire formats: bodies, response shapes, tool calls and errors side by side."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
import pytest

from ailib import ChatCompletionRequest, Message
from ailib._sse import SseEvent, SseParser
from ailib.errors import (
    AuthenticationError,
    ContextLengthExceededError,
    InvalidRequestError,
    ModelNotFoundError,
    NetworkError,
    ProtocolError,
    ProviderError,
    RateLimitExceeded,
)
from ailib.providers._base import error_from_response
from ailib.providers._formats import get_wire_format
from ailib.providers._registry import PROVIDERS, Provider, ProviderSpec
from ailib.providers.gemini import synthetic_call_id
from ailib.types import ChatCompletionResponse, Content, StreamChunk, Tool, ToolCall, Usage

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
FORMATS = ("openai", "anthropic", "gemini", "cohere")
PROVIDER_OF = {"openai": Provider.OPENAI, "anthropic": Provider.ANTHROPIC, "gemini": Provider.GEMINI, "cohere": Provider.COHERE}
TEXT = "It is sunny and 21 degrees in Paris."
USAGE = Usage(25, 11, 36)
TEXT_USAGE = {
    **dict.fromkeys(FORMATS, USAGE),
    "anthropic": Usage(25, 11, 36, cached_tokens=0, cache_write_tokens=0),
}  # it reports zero cache use
TOOL_USAGE = Usage(60, 18, 78)
IMAGE_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
STREAM_TEXT = {"openai": "stream_text", "anthropic": "stream_text", "gemini": "stream_text", "cohere": "stream_text"}
RESPONSE_TOOL = {
    "openai": "response_tool_call",
    "anthropic": "response_tool_use",
    "gemini": "response_function_call",
    "cohere": "response_tool_call",
}
STREAM_TOOL = {"openai": "stream_tool_call", "anthropic": "stream_tool_use", "gemini": "stream_function_call", "cohere": "stream_tool_call"}


def load(fmt: str, name: str) -> Any:
    return json.loads((FIXTURES / fmt / f"{name}.json").read_text())


def sse_events(fmt: str, name: str) -> list[SseEvent]:
    parser = SseParser()
    return parser.feed((FIXTURES / fmt / f"{name}.txt").read_bytes()) + parser.flush()


def spec_for(fmt: str) -> ProviderSpec:
    # Cohere's built-in row declares no images; vision models take them, so allow them here.
    return attrs.evolve(PROVIDERS[PROVIDER_OF[fmt]], images=True)


def common_request() -> ChatCompletionRequest:
    return ChatCompletionRequest.from_dict(load("common", "request"))


def encode(fmt: str, request: ChatCompletionRequest | None = None, *, stream: bool = False) -> dict[str, Any]:
    spec = spec_for(fmt)
    return get_wire_format(fmt).encode(request or common_request(), spec.default_model, stream=stream, spec=spec)


def decode(fmt: str, name: str) -> ChatCompletionResponse:
    return get_wire_format(fmt).decode(load(fmt, name), provider=fmt, model="m", headers={})


def stream(fmt: str, name: str) -> list[StreamChunk]:
    decoder = get_wire_format(fmt).stream_decoder(provider=fmt, model="m")
    chunks = [c for e in sse_events(fmt, name) for c in decoder.feed(e)]
    decoder.finish()
    return chunks


# -- the same request, four bodies --------------------------------------------------------------


def test_common_request_fixture_builds_the_documented_request() -> None:
    """The shared fixture request has a system message, several turns, a tool, a tool call and result, and an image."""
    req = common_request()
    roles = [m.role.value for m in req.messages]
    assert roles == ["system", "user", "assistant", "tool", "assistant", "user"]
    assert req.has_images and req.tools and req.messages[2].tool_calls == (ToolCall("call_1", "get_weather", {"city": "Paris"}),)


@pytest.mark.parametrize("fmt", FORMATS)
def test_body_matches_fixture_field_by_field(fmt: str) -> None:
    """Every top-level field, and every message/content entry, of each format's body equals the recorded fixture."""
    body = encode(fmt)
    expected = load(fmt, "request_common")
    assert sorted(body) == sorted(expected)
    for key, value in expected.items():
        if isinstance(value, list):
            assert len(body[key]) == len(value), key
            for i, item in enumerate(value):
                assert body[key][i] == item, f"{key}[{i}]"
        else:
            assert body[key] == value, key


def test_system_message_goes_where_each_format_wants_it() -> None:
    """System text: an OpenAI/Cohere system message, Anthropic's top-level system, Gemini's systemInstruction."""
    system = "You are a concise weather assistant."
    assert encode("openai")["messages"][0] == {"role": "system", "content": system}
    assert encode("cohere")["messages"][0] == {"role": "system", "content": system}
    anthropic = encode("anthropic")
    assert anthropic["system"] == system
    assert all(m["role"] in ("user", "assistant") for m in anthropic["messages"])
    gemini = encode("gemini")
    assert gemini["systemInstruction"] == {"parts": [{"text": system}]}
    assert all(c["role"] in ("user", "model") for c in gemini["contents"])


def test_image_is_encoded_natively_by_each_format() -> None:
    """The inline PNG becomes a data URL (OpenAI, Cohere), a base64 source (Anthropic) and inlineData (Gemini)."""
    data_url = f"data:image/png;base64,{IMAGE_B64}"
    assert encode("openai")["messages"][1]["content"][1] == {"type": "image_url", "image_url": {"url": data_url}}
    assert encode("cohere")["messages"][1]["content"][1] == {"type": "image_url", "image_url": {"url": data_url}}
    assert encode("anthropic")["messages"][0]["content"][1] == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": IMAGE_B64},
    }
    assert encode("gemini")["contents"][0]["parts"][1] == {"inlineData": {"mimeType": "image/png", "data": IMAGE_B64}}


def test_tool_definition_is_encoded_natively_by_each_format() -> None:
    """The tool becomes OpenAI/Cohere function tools, an Anthropic input_schema tool and a Gemini functionDeclaration."""
    params = load("common", "request")["tools"][0]["function"]["parameters"]
    function = {"name": "get_weather", "description": "Current weather for a city", "parameters": params}
    assert encode("openai")["tools"] == [{"type": "function", "function": function}]
    assert encode("cohere")["tools"] == [{"type": "function", "function": function}]
    assert encode("anthropic")["tools"] == [{"name": "get_weather", "description": "Current weather for a city", "input_schema": params}]
    assert encode("gemini")["tools"] == [{"functionDeclarations": [function]}]
    assert encode("anthropic")["tool_choice"] == {"type": "auto"}
    assert encode("gemini")["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}
    assert "tool_choice" not in encode("cohere")  # auto is Cohere's default


def test_tool_call_and_result_are_encoded_natively_by_each_format() -> None:
    """The assistant tool call and its result keep their pairing: by id (OpenAI, Anthropic, Cohere), by name (Gemini)."""
    openai = encode("openai")["messages"]
    assert openai[2]["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": '{"city": "Paris"}'}
    assert openai[3] == {"role": "tool", "content": '{"temp_c": 21, "sky": "clear"}', "tool_call_id": "call_1"}
    anthropic = encode("anthropic")["messages"]
    assert anthropic[1]["content"][1] == {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}}
    assert anthropic[2] == {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": '{"temp_c": 21, "sky": "clear"}'}],
    }
    gemini = encode("gemini")["contents"]
    assert gemini[1]["parts"][1] == {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}
    assert gemini[2] == {
        "role": "user",
        "parts": [{"functionResponse": {"name": "get_weather", "response": {"temp_c": 21, "sky": "clear"}}}],
    }
    cohere = encode("cohere")["messages"]
    assert cohere[2]["tool_calls"] == [
        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
    ]
    assert cohere[3] == {"role": "tool", "tool_call_id": "call_1", "content": '{"temp_c": 21, "sky": "clear"}'}


def test_sampling_parameters_use_each_formats_names() -> None:
    """temperature/max_tokens/top_p/stop map onto each format's own parameter names."""
    assert {k: encode("openai")[k] for k in ("temperature", "max_tokens", "top_p", "stop")} == {
        "temperature": 0.2,
        "max_tokens": 256,
        "top_p": 0.9,
        "stop": ["END"],
    }
    assert {k: encode("anthropic")[k] for k in ("temperature", "max_tokens", "top_p", "stop_sequences")} == {
        "temperature": 0.2,
        "max_tokens": 256,
        "top_p": 0.9,
        "stop_sequences": ["END"],
    }
    assert encode("gemini")["generationConfig"] == {"temperature": 0.2, "maxOutputTokens": 256, "topP": 0.9, "stopSequences": ["END"]}
    assert {k: encode("cohere")[k] for k in ("temperature", "max_tokens", "p", "stop_sequences")} == {
        "temperature": 0.2,
        "max_tokens": 256,
        "p": 0.9,
        "stop_sequences": ["END"],
    }


@pytest.mark.parametrize("fmt", FORMATS)
def test_stream_flag_is_only_in_the_body_of_formats_that_take_it(fmt: str) -> None:
    """Streaming sets ``stream: true`` in the body, except Gemini, which streams by URL."""
    body = encode(fmt, stream=True)
    url = get_wire_format(fmt).chat_url("https://h", "gemini-2.0-flash", True)
    if fmt == "gemini":
        assert "stream" not in body and url.endswith(":streamGenerateContent?alt=sse")
    else:
        assert body["stream"] is True


# -- the same answer, four formats -------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_text_response_decodes_to_the_same_shape(fmt: str) -> None:
    """Each format's recorded text answer decodes to one assistant choice with the same text, finish reason and usage."""
    resp = decode(fmt, "response_text")
    assert isinstance(resp, ChatCompletionResponse)
    assert len(resp.choices) == 1 and resp.choices[0].message.role.value == "assistant"
    assert (resp.text, resp.finish_reason, resp.usage, resp.tool_calls, resp.provider) == (TEXT, "stop", TEXT_USAGE[fmt], (), fmt)
    assert resp.id


@pytest.mark.parametrize("fmt", FORMATS)
def test_text_stream_decodes_to_the_same_chunks(fmt: str) -> None:
    """Each format's recorded text stream gives text chunks, then one last chunk with finish reason and usage."""
    chunks = stream(fmt, STREAM_TEXT[fmt])
    assert all(isinstance(c, StreamChunk) and c.provider == fmt for c in chunks)
    assert "".join(c.delta_text for c in chunks) == TEXT
    last = chunks[-1]
    assert (last.finish_reason, last.usage, last.tool_calls) == ("stop", TEXT_USAGE[fmt], ())
    assert all(c.finish_reason is None and c.usage is None for c in chunks[:-1])
    assert [c.delta_text for c in chunks[:-1]] == ["It is sunny", " and 21 degrees", " in Paris."]


@pytest.mark.parametrize("fmt", FORMATS)
def test_tool_call_response_decodes_to_the_same_shape(fmt: str) -> None:
    """Each format's recorded tool-call answer gives one ToolCall with decoded arguments and finish reason tool_calls."""
    resp = decode(fmt, RESPONSE_TOOL[fmt])
    (call,) = resp.tool_calls
    assert (call.name, call.arguments) == ("get_weather", {"city": "Paris"})
    assert call.id
    assert (resp.finish_reason, resp.usage) == ("tool_calls", TOOL_USAGE)


@pytest.mark.parametrize("fmt", FORMATS)
def test_streamed_tool_call_yields_tool_call_with_decoded_arguments(fmt: str) -> None:
    """Streaming a tool call gives deltas whose fragments join to the arguments, and a final ToolCall with them decoded."""
    chunks = stream(fmt, STREAM_TOOL[fmt])
    last = chunks[-1]
    (call,) = last.tool_calls
    assert (call.name, call.arguments, last.finish_reason, last.usage) == ("get_weather", {"city": "Paris"}, "tool_calls", TOOL_USAGE)
    deltas = [d for c in chunks for d in c.tool_call_deltas]
    assert deltas[0].name == "get_weather" and deltas[0].id == call.id
    assert json.loads("".join(d.arguments_delta for d in deltas)) == {"city": "Paris"}
    assert all(d.index == 0 for d in deltas)


def test_tool_call_ids_are_the_providers_or_stable_synthetic_ones() -> None:
    """OpenAI/Anthropic/Cohere ids pass through; Gemini's are synthesised, equal streamed or not for one response."""
    assert decode("openai", RESPONSE_TOOL["openai"]).tool_calls[0].id == "call_abc123"
    assert decode("anthropic", RESPONSE_TOOL["anthropic"]).tool_calls[0].id == "toolu_01A09q90qw90lq917835lq9"
    assert stream("anthropic", STREAM_TOOL["anthropic"])[-1].tool_calls[0].id == "toolu_01T1x1fJ34qAmk2tNTrN7Up6"
    assert decode("cohere", RESPONSE_TOOL["cohere"]).tool_calls[0].id == "get_weather_k8yd2m1v0x7c"
    expected = synthetic_call_id("7Uc8aKnmC6mY1MkPq8CZ8Qc", 0, "get_weather", {"city": "Paris"})
    assert decode("gemini", RESPONSE_TOOL["gemini"]).tool_calls[0].id == expected
    assert stream("gemini", STREAM_TOOL["gemini"])[-1].tool_calls[0].id == expected


# -- errors -------------------------------------------------------------------------------------

ERROR_CLASSES = {
    "rate_limit": RateLimitExceeded,
    "overloaded": ProviderError,
    "context_length": ContextLengthExceededError,
    "auth": AuthenticationError,
    "model_not_found": ModelNotFoundError,
}


@pytest.mark.parametrize("case", sorted(ERROR_CLASSES))
@pytest.mark.parametrize("fmt", FORMATS)
def test_error_bodies_map_to_the_right_class(fmt: str, case: str) -> None:
    """Each format's recorded error body (rate limit, overload, context length, auth, model not found) gets its class."""
    rec = load(fmt, "errors")[case]
    err = error_from_response(
        get_wire_format(fmt), rec["status"], rec["headers"], json.dumps(rec["body"]).encode(), provider=fmt, model="m", now=0.0
    )
    assert type(err) is ERROR_CLASSES[case]
    assert err.status_code == rec["status"] and err.provider == fmt
    assert err.message and not err.message.startswith("HTTP ")  # the provider's own message was read
    assert err.is_retryable() == (case in ("rate_limit", "overloaded"))


def test_anthropic_529_overloaded_is_a_retryable_provider_error() -> None:
    """Anthropic's 529 overloaded_error is a retryable ProviderError carrying status 529."""
    rec = load("anthropic", "errors")["overloaded"]
    err = error_from_response(
        get_wire_format("anthropic"), 529, {}, json.dumps(rec["body"]).encode(), provider="anthropic", model="m", now=0.0
    )
    assert isinstance(err, ProviderError) and err.status_code == 529 and err.is_retryable()
    assert err.request_id is None and "Overloaded" in str(err)


# -- stream failures ----------------------------------------------------------------------------

TERMINAL = {
    "openai": lambda e: e.data == "[DONE]",
    "anthropic": lambda e: e.event == "message_stop",
    "gemini": lambda e: '"finishReason"' in e.data,
    "cohere": lambda e: e.event == "message-end",
}


@pytest.mark.parametrize("fmt", FORMATS)
def test_stream_without_terminal_event_fails_at_the_end(fmt: str) -> None:
    """A stream cut before its format's terminal event fails (an incomplete transfer: NetworkError), never ends normally."""
    decoder = get_wire_format(fmt).stream_decoder(provider=fmt, model="m")
    events = [e for e in sse_events(fmt, STREAM_TEXT[fmt]) if not TERMINAL[fmt](e)]
    chunks = [c for e in events for c in decoder.feed(e)]
    assert chunks and not decoder.done
    with pytest.raises(NetworkError, match="stream ended without") as info:
        decoder.finish()
    assert info.value.is_retryable() and info.value.provider == fmt


@pytest.mark.parametrize("fmt", FORMATS)
def test_garbage_json_in_a_stream_event_is_a_protocol_error(fmt: str) -> None:
    """An event whose data is not JSON raises ProtocolError in every format."""
    decoder = get_wire_format(fmt).stream_decoder(provider=fmt, model="m")
    with pytest.raises(ProtocolError, match="malformed JSON"):
        decoder.feed(SseEvent("message", '{"type": "content-delta", "delta": '))


@pytest.mark.parametrize("fmt", ["anthropic", "gemini", "cohere"])
def test_wrong_shape_in_a_stream_event_is_a_protocol_error(fmt: str) -> None:
    """Valid JSON of the wrong shape (a text delta without its text) raises ProtocolError, not KeyError."""
    bad = {
        "anthropic": SseEvent("content_block_delta", '{"type": "content_block_delta", "index": 0}'),
        "gemini": SseEvent("message", '{"candidates": [{"content": {"parts": [{"functionCall": {"args": {}}}]}, "index": 0}]}'),
        "cohere": SseEvent("content-delta", '{"type": "content-delta", "index": 0, "delta": {"message": null}}'),
    }[fmt]
    decoder = get_wire_format(fmt).stream_decoder(provider=fmt, model="m")
    with pytest.raises(ProtocolError, match=f"unexpected {fmt} stream event shape"):
        decoder.feed(bad)


@pytest.mark.parametrize(
    ("fmt", "event"),
    [
        ("anthropic", SseEvent("error", '{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}')),
        ("gemini", SseEvent("message", '{"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}')),
        ("cohere", SseEvent("error", '{"type": "error", "message": "overloaded", "status": 503}')),
        ("openai", SseEvent("message", '{"error": {"message": "The server is overloaded", "type": "server_error"}}')),
    ],
)
def test_error_event_inside_a_200_stream_is_a_retryable_provider_error(fmt: str, event: SseEvent) -> None:
    """An overload reported inside an HTTP 200 stream raises a retryable ProviderError."""
    decoder = get_wire_format(fmt).stream_decoder(provider=fmt, model="m")
    with pytest.raises(ProviderError) as info:
        decoder.feed(event)
    assert info.value.is_retryable() and info.value.provider == fmt


# -- unsupported features fail before sending ---------------------------------------------------


def test_unsupported_features_raise_invalid_request_naming_provider_and_feature() -> None:
    """Images to built-in Cohere, image URLs to Gemini, temperature > 1 to Anthropic and tools to Perplexity all fail up front."""
    url_image = ChatCompletionRequest(
        "m", [Message.user([Content.text("what is this?"), Content.image_url("https://example.com/cat.png")])]
    )
    cases = [
        (Provider.COHERE, common_request(), "image input"),
        (Provider.GEMINI, url_image, "image URLs"),
        (Provider.ANTHROPIC, ChatCompletionRequest("m", [Message.user("hi")], temperature=1.5), "temperature above 1"),
        (Provider.PERPLEXITY, ChatCompletionRequest("m", [Message.user("hi")], tools=[Tool.function("f")]), "tools"),
    ]
    for provider, request, feature in cases:
        spec = PROVIDERS[provider]
        with pytest.raises(InvalidRequestError) as info:
            get_wire_format(spec.wire_format).check_supported(request, spec, stream=False)
        assert spec.name in str(info.value) and feature in str(info.value), provider
        assert info.value.provider == spec.name
