"""The Gemini generateContent wire format, from recorded fixtures (no network)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import responses

from ailib import AiClient, ChatCompletionRequest, ConnectionOptions, Message, Provider
from ailib._sse import SseEvent, SseParser
from ailib.errors import AuthenticationError, ContentFilteredError, InvalidRequestError, ProtocolError, ProviderError
from ailib.providers._base import error_from_response
from ailib.providers._registry import PROVIDERS
from ailib.providers.gemini import WIRE_FORMAT, synthetic_call_id
from ailib.types import Content, StreamChunk, Tool, ToolCall, Usage

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "gemini"
SPEC = PROVIDERS[Provider.GEMINI]
KEY = "AIzaSyTestKey0123456789abcdefghij"
BASE = "https://generativelanguage.googleapis.com"


def load(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def events(name: str) -> list[SseEvent]:
    parser = SseParser()
    return parser.feed((FIXTURES / f"{name}.txt").read_bytes()) + parser.flush()


def body(messages: list[Any], **kw: Any) -> dict[str, Any]:
    return WIRE_FORMAT.encode(ChatCompletionRequest("gemini-2.0-flash", messages, **kw), "gemini-2.0-flash", stream=False, spec=SPEC)


def decode(data: dict[str, Any]):
    return WIRE_FORMAT.decode(data, provider="gemini", model="m", headers={})


def feed(evts: list[SseEvent]) -> list[StreamChunk]:
    decoder = WIRE_FORMAT.stream_decoder(provider="gemini", model="m")
    chunks = [c for e in evts for c in decoder.feed(e)]
    decoder.finish()
    return chunks


WEATHER = ToolCall("call_w", "get_weather", {"city": "Paris"})


# -- request ------------------------------------------------------------------------------------


def test_urls_name_the_model_and_stream_with_alt_sse() -> None:
    """generateContent and streamGenerateContent?alt=sse under /v1beta/models/{model}; full resource names stay whole."""
    assert WIRE_FORMAT.chat_url(BASE, "gemini-2.0-flash", False) == f"{BASE}/v1beta/models/gemini-2.0-flash:generateContent"
    assert WIRE_FORMAT.chat_url(BASE, "gemini-2.0-flash", True) == f"{BASE}/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse"
    assert WIRE_FORMAT.chat_url(BASE, "tunedModels/my-model", False) == f"{BASE}/v1beta/tunedModels/my-model:generateContent"
    assert WIRE_FORMAT.chat_url(BASE, "models/gemini-2.5-pro", False) == f"{BASE}/v1beta/models/gemini-2.5-pro:generateContent"


def test_key_travels_in_the_goog_header_only() -> None:
    """The API key is sent as x-goog-api-key; there is no Authorization header and no key in any URL."""
    headers = WIRE_FORMAT.static_headers(SPEC, KEY, None)
    assert headers["x-goog-api-key"] == KEY and "Authorization" not in headers
    assert KEY not in WIRE_FORMAT.chat_url(BASE, "m", True) + WIRE_FORMAT.models_url(BASE)


def test_roles_map_to_user_and_model_and_system_to_system_instruction() -> None:
    """assistant → model, user → user, and every system message joins systemInstruction."""
    b = body([Message.system("Be brief."), Message.user("hi"), Message.assistant("hello"), Message.system("French."), Message.user("bye")])
    assert b["systemInstruction"] == {"parts": [{"text": "Be brief."}, {"text": "French."}]}
    assert b["contents"] == [
        {"role": "user", "parts": [{"text": "hi"}]},
        {"role": "model", "parts": [{"text": "hello"}]},
        {"role": "user", "parts": [{"text": "bye"}]},
    ]


def test_parallel_tool_results_merge_into_one_turn_named_after_their_calls() -> None:
    """Two tool results become functionResponse parts of one user turn, each named after the call it answers."""
    calls = [ToolCall("a", "get_weather", {"city": "Paris"}), ToolCall("b", "get_time", {"tz": "CET"})]
    b = body([Message.user("?"), Message.assistant(None, calls), Message.tool("b", "12:00"), Message.tool("a", '{"sky": "clear"}')])
    assert b["contents"][1] == {
        "role": "model",
        "parts": [
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
            {"functionCall": {"name": "get_time", "args": {"tz": "CET"}}},
        ],
    }
    assert b["contents"][2] == {
        "role": "user",
        "parts": [
            {"functionResponse": {"name": "get_time", "response": {"output": "12:00"}}},
            {"functionResponse": {"name": "get_weather", "response": {"sky": "clear"}}},
        ],
    }


def test_tool_result_for_an_unknown_call_fails_before_sending() -> None:
    """A tool result whose id matches no earlier assistant call cannot be named: InvalidRequestError up front."""
    req = ChatCompletionRequest("m", [Message.user("?"), Message.assistant(None, [WEATHER]), Message.tool("other", "x")])
    with pytest.raises(InvalidRequestError, match="answers no earlier assistant tool call"):
        WIRE_FORMAT.check_supported(req, SPEC, stream=False)


def test_tool_result_may_name_its_function_itself() -> None:
    """A tool message that carries ``name`` is sent under that name even without a matching earlier call."""
    b = body([Message.user("?"), Message(role="tool", content="[1, 2]", tool_call_id="x", name="get_list")])
    assert b["contents"][0]["parts"][1] == {"functionResponse": {"name": "get_list", "response": {"output": [1, 2]}}}


def test_image_url_is_rejected_before_sending() -> None:
    """An image URL (Gemini needs inline data) raises InvalidRequestError naming gemini and image URLs."""
    req = ChatCompletionRequest("m", [Message.user([Content.text("what?"), Content.image_url("https://example.com/cat.png")])])
    with pytest.raises(InvalidRequestError, match="gemini does not support image URLs"):
        WIRE_FORMAT.check_supported(req, SPEC, stream=False)


def test_generation_config_and_json_modes() -> None:
    """json_object sets responseMimeType; json_schema also sends the schema as responseJsonSchema."""
    assert body([Message.user("hi")], response_format={"type": "json_object"})["generationConfig"] == {
        "responseMimeType": "application/json"
    }
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    cfg = body([Message.user("hi")], max_tokens=9, response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema}})[
        "generationConfig"
    ]
    assert cfg == {"maxOutputTokens": 9, "responseMimeType": "application/json", "responseJsonSchema": schema}
    assert "generationConfig" not in body([Message.user("hi")])


def test_tool_schemas_drop_keys_gemini_rejects_and_empty_parameters() -> None:
    """$schema and additionalProperties are removed at every level; a tool without parameters sends none."""
    params = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "additionalProperties": {"type": "string"},
            "tags": {"type": "array", "items": {"type": "object", "additionalProperties": False, "properties": {"k": {"type": "string"}}}},
        },
    }
    decls = body([Message.user("hi")], tools=[Tool.function("f", "d", params), Tool.function("now", "time")])["tools"][0][
        "functionDeclarations"
    ]
    assert decls[0]["parameters"] == {
        "type": "object",
        "properties": {
            "additionalProperties": {"type": "string"},
            "tags": {"type": "array", "items": {"type": "object", "properties": {"k": {"type": "string"}}}},
        },
    }
    assert decls[1] == {"name": "now", "description": "time"}


@pytest.mark.parametrize(
    ("choice", "config"),
    [
        ("auto", {"mode": "AUTO"}),
        ("required", {"mode": "ANY"}),
        ("none", {"mode": "NONE"}),
        ("get_weather", {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}),
        ({"type": "function", "function": {"name": "get_weather"}}, {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}),
    ],
)
def test_tool_choice_maps_to_function_calling_config(choice: Any, config: dict[str, Any]) -> None:
    """tool_choice maps onto toolConfig.functionCallingConfig modes and allowed names."""
    assert body([Message.user("hi")], tools=[Tool.function("get_weather")], tool_choice=choice)["toolConfig"] == {
        "functionCallingConfig": config
    }


# -- response -----------------------------------------------------------------------------------


def test_function_call_gets_a_stable_synthetic_id() -> None:
    """A functionCall without id gets ``call_`` + a hash, identical on every decode of the same response."""
    first = decode(load("response_function_call")).tool_calls[0]
    assert first.id.startswith("call_") and first.id == decode(load("response_function_call")).tool_calls[0].id
    assert first.id == synthetic_call_id("7Uc8aKnmC6mY1MkPq8CZ8Qc", 0, "get_weather", {"city": "Paris"})


def test_function_call_id_from_the_api_is_kept() -> None:
    """When the API gives a functionCall id, that id is used."""
    data = load("response_function_call")
    data["candidates"][0]["content"]["parts"][0]["functionCall"]["id"] = "fc-123"
    assert decode(data).tool_calls[0].id == "fc-123"


def test_round_trip_tool_result_is_named_after_the_decoded_call() -> None:
    """Feeding a decoded call and its result back gives a functionResponse with the call's function name."""
    call = decode(load("response_function_call")).tool_calls[0]
    b = body([Message.user("weather?"), Message.assistant(None, [call]), Message.tool(call.id, '{"temp_c": 21}')])
    assert b["contents"][2]["parts"] == [{"functionResponse": {"name": "get_weather", "response": {"temp_c": 21}}}]


def test_blocked_prompt_raises_content_filtered() -> None:
    """promptFeedback.blockReason with no candidates raises ContentFilteredError naming the reason."""
    with pytest.raises(ContentFilteredError, match="SAFETY"):
        decode(load("response_blocked_prompt"))


def test_safety_finish_with_no_content_raises_content_filtered() -> None:
    """A candidate stopped by SAFETY with no parts raises ContentFilteredError."""
    with pytest.raises(ContentFilteredError, match="answer"):
        decode(load("response_safety_finish"))


def test_finish_reasons_map_to_common_values() -> None:
    """MAX_TOKENS → length and a SAFETY stop that kept some text → content_filter; STOP with calls → tool_calls."""
    data = load("response_text")
    data["candidates"][0]["finishReason"] = "MAX_TOKENS"
    assert decode(data).finish_reason == "length"
    data["candidates"][0]["finishReason"] = "SAFETY"
    assert decode(data).finish_reason == "content_filter"
    assert decode(load("response_function_call")).finish_reason == "tool_calls"


def test_thought_parts_are_not_answer_text_and_thought_tokens_count() -> None:
    """Parts marked ``thought`` are left out of the text; thoughtsTokenCount counts as completion and as reasoning tokens."""
    data = load("response_text")
    data["candidates"][0]["content"]["parts"].insert(0, {"text": "thinking...", "thought": True})
    data["usageMetadata"] = {"promptTokenCount": 10, "candidatesTokenCount": 5, "thoughtsTokenCount": 20, "totalTokenCount": 35}
    resp = decode(data)
    assert resp.text == "It is sunny and 21 degrees in Paris." and resp.usage == Usage(10, 25, 35, reasoning_tokens=20)


def test_models_list_strips_the_models_prefix() -> None:
    """models[].name loses its ``models/`` prefix."""
    assert WIRE_FORMAT.decode_models(load("models")) == ["gemini-2.0-flash", "gemini-2.5-pro"]


def test_invalid_api_key_400_is_an_authentication_error() -> None:
    """Gemini's 400 INVALID_ARGUMENT with reason API_KEY_INVALID is an AuthenticationError, not a bad request."""
    rec = load("errors")["auth"]
    err = error_from_response(WIRE_FORMAT, 400, {}, json.dumps(rec["body"]).encode(), provider="gemini", model="m", now=0.0)
    assert isinstance(err, AuthenticationError) and "API key not valid" in str(err)


# -- streaming ----------------------------------------------------------------------------------


def test_stream_terminal_is_the_chunk_with_finish_reason() -> None:
    """Text arrives per event; the event with finishReason ends the stream with usage from usageMetadata."""
    decoder = WIRE_FORMAT.stream_decoder(provider="gemini", model="m")
    evts = events("stream_text")
    assert [c.delta_text for c in decoder.feed(evts[0])] == ["It is sunny"] and not decoder.done
    decoder.feed(evts[1])
    last = decoder.feed(evts[2])
    assert decoder.done and [c.delta_text for c in last] == [" in Paris.", ""]
    assert (last[-1].finish_reason, last[-1].usage, last[-1].model) == ("stop", Usage(25, 11, 36), "gemini-2.0-flash")


def test_stream_function_call_is_one_complete_delta_and_call() -> None:
    """A streamed functionCall gives one delta with the whole arguments JSON and the final ToolCall."""
    chunks = feed(events("stream_function_call"))
    (delta,) = chunks[0].tool_call_deltas
    assert (delta.index, delta.name, json.loads(delta.arguments_delta)) == (0, "get_weather", {"city": "Paris"})
    assert chunks[-1].tool_calls == (ToolCall(delta.id or "", "get_weather", {"city": "Paris"}),)


def test_stream_safety_stop_without_content_raises_content_filtered() -> None:
    """A stream whose only chunk is a SAFETY stop raises ContentFilteredError (a request problem, not retried)."""
    with pytest.raises(ContentFilteredError) as info:
        feed(events("stream_safety"))
    assert not info.value.is_retryable()


def test_stream_blocked_prompt_raises_content_filtered() -> None:
    """A stream chunk with promptFeedback.blockReason and no candidates raises ContentFilteredError."""
    decoder = WIRE_FORMAT.stream_decoder(provider="gemini", model="m")
    with pytest.raises(ContentFilteredError, match="PROHIBITED_CONTENT"):
        decoder.feed(SseEvent("message", '{"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}}'))


def test_stream_error_object_is_classified_by_its_code() -> None:
    """The recorded in-stream error (503 UNAVAILABLE) raises a retryable ProviderError with that status."""
    decoder = WIRE_FORMAT.stream_decoder(provider="gemini", model="m")
    with pytest.raises(ProviderError) as info:
        decoder.feed(events("stream_error")[0])
    assert info.value.status_code == 503 and info.value.is_retryable()


def test_stream_event_that_is_not_an_object_is_a_protocol_error() -> None:
    """Event data that is a JSON string rather than a response object raises ProtocolError."""
    with pytest.raises(ProtocolError):
        WIRE_FORMAT.stream_decoder(provider="gemini", model="m").feed(SseEvent("message", '"hello"'))


# -- through the client (responses library, no network) -------------------------------------------


@responses.activate
def test_client_call_uses_header_auth_and_native_body() -> None:
    """AiClient posts contents/systemInstruction to :generateContent with x-goog-api-key and no key in the URL."""
    url = f"{BASE}/v1beta/models/gemini-2.0-flash:generateContent"
    responses.add(responses.POST, url, json=load("response_text"), status=200)
    client = AiClient(Provider.GEMINI, options=ConnectionOptions(api_key=KEY, base_url=BASE, max_retries=0))
    resp = client.chat_completion(ChatCompletionRequest("auto", [Message.system("Be brief."), Message.user("Weather?")], temperature=0.5))
    assert resp.text == "It is sunny and 21 degrees in Paris." and resp.usage == Usage(25, 11, 36)
    sent = responses.calls[0].request
    assert sent.url == url and KEY not in sent.url and sent.headers["x-goog-api-key"] == KEY
    assert json.loads(sent.body) == {
        "contents": [{"role": "user", "parts": [{"text": "Weather?"}]}],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "generationConfig": {"temperature": 0.5},
    }


@responses.activate
def test_client_blocked_prompt_raises_without_retrying() -> None:
    """A blocked prompt surfaces from AiClient as ContentFilteredError after exactly one request."""
    responses.add(
        responses.POST, f"{BASE}/v1beta/models/gemini-2.0-flash:generateContent", json=load("response_blocked_prompt"), status=200
    )
    client = AiClient(Provider.GEMINI, options=ConnectionOptions(api_key=KEY, base_url=BASE, retry_delay=0.0))
    with pytest.raises(ContentFilteredError):
        client.chat_completion(ChatCompletionRequest("auto", [Message.user("something bad")]))
    assert len(responses.calls) == 1
