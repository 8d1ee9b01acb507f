"""The Cohere v2 chat wire format, from recorded fixtures (no network)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
import pytest
import responses

from ailib import AiClient, ChatCompletionRequest, ConnectionOptions, Message, Provider
from ailib._sse import SseEvent, SseParser
from ailib.errors import InvalidRequestError, ProtocolError, ProviderError, RateLimitExceeded
from ailib.providers._registry import PROVIDERS
from ailib.providers.cohere import WIRE_FORMAT
from ailib.types import Content, StreamChunk, Tool, ToolCall, Usage

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cohere"
SPEC = PROVIDERS[Provider.COHERE]
KEY = "co-test-key-0123456789abcdef"


def load(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def events(name: str) -> list[SseEvent]:
    parser = SseParser()
    return parser.feed((FIXTURES / f"{name}.txt").read_bytes()) + parser.flush()


def body(messages: list[Any], *, stream: bool = False, **kw: Any) -> dict[str, Any]:
    return WIRE_FORMAT.encode(ChatCompletionRequest("command-r-plus", messages, **kw), "command-r-plus", stream=stream, spec=SPEC)


def decode(data: dict[str, Any]):
    return WIRE_FORMAT.decode(data, provider="cohere", model="m", headers={})


def feed(evts: list[SseEvent]) -> list[StreamChunk]:
    decoder = WIRE_FORMAT.stream_decoder(provider="cohere", model="m")
    chunks = [c for e in evts for c in decoder.feed(e)]
    decoder.finish()
    return chunks


# -- request ------------------------------------------------------------------------------------


def test_url_and_bearer_auth() -> None:
    """Chat goes to {base}/v2/chat with Authorization: Bearer; models come from /v1/models."""
    assert WIRE_FORMAT.chat_url("https://api.cohere.com", "m", True) == "https://api.cohere.com/v2/chat"
    assert WIRE_FORMAT.models_url("https://api.cohere.com").startswith("https://api.cohere.com/v1/models")
    assert WIRE_FORMAT.static_headers(SPEC, KEY, None)["Authorization"] == f"Bearer {KEY}"


def test_assistant_text_beside_tool_calls_is_the_tool_plan() -> None:
    """An assistant turn with tool calls sends its text as tool_plan and arguments as a JSON string."""
    msgs = body(
        [
            Message.user("?"),
            Message.assistant("I will look it up.", [ToolCall("c1", "get_weather", {"city": "Paris"})]),
            Message.tool("c1", "sunny"),
        ]
    )["messages"]
    assert msgs[1] == {
        "role": "assistant",
        "tool_plan": "I will look it up.",
        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}],
    }
    assert msgs[2] == {"role": "tool", "tool_call_id": "c1", "content": "sunny"}


def test_parameters_use_cohere_names_and_stream_flag() -> None:
    """top_p → p, stop → stop_sequences, and streaming sets stream: true."""
    b = body([Message.user("hi")], stream=True, top_p=0.5, stop=["x"], max_tokens=10)
    assert (b["p"], b["stop_sequences"], b["max_tokens"], b["stream"]) == (0.5, ["x"], 10, True)


@pytest.mark.parametrize(("choice", "sent"), [("auto", None), ("required", "REQUIRED"), ("none", "NONE")])
def test_tool_choice_maps_to_required_and_none(choice: str, sent: str | None) -> None:
    """required/none map to REQUIRED/NONE; auto is Cohere's default and is not sent."""
    b = body([Message.user("hi")], tools=[Tool.function("f")], tool_choice=choice)
    assert b.get("tool_choice") == sent


def test_forcing_one_named_tool_fails_before_sending() -> None:
    """Cohere cannot force a specific tool: InvalidRequestError naming cohere, before any request."""
    req = ChatCompletionRequest("m", [Message.user("hi")], tools=[Tool.function("f")], tool_choice="f")
    with pytest.raises(InvalidRequestError, match="cohere does not support tool_choice"):
        WIRE_FORMAT.check_supported(req, SPEC, stream=False)


def test_json_response_formats_map_to_json_object() -> None:
    """json_object and json_schema both become Cohere's json_object format, the schema under json_schema."""
    assert body([Message.user("hi")], response_format={"type": "json_object"})["response_format"] == {"type": "json_object"}
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    sent = body([Message.user("hi")], response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema}})[
        "response_format"
    ]
    assert sent == {"type": "json_object", "json_schema": schema}


def test_builtin_cohere_rejects_images_before_sending() -> None:
    """The built-in cohere provider declares no image input, so an image raises InvalidRequestError up front."""
    req = ChatCompletionRequest("m", [Message.user([Content.text("what?"), Content.image_base64("AAAA", "image/png")])])
    with pytest.raises(InvalidRequestError, match="cohere does not support image input"):
        WIRE_FORMAT.check_supported(req, SPEC, stream=False)


def test_images_become_image_url_items_when_the_provider_allows_them() -> None:
    """For a Cohere-format provider with images allowed (vision models), images are sent as image_url items."""
    spec = attrs.evolve(SPEC, images=True)
    req = ChatCompletionRequest("m", [Message.user([Content.text("what?"), Content.image_base64("AAAA", "image/png")])])
    WIRE_FORMAT.check_supported(req, spec, stream=False)
    content = WIRE_FORMAT.encode(req, "m", stream=False, spec=spec)["messages"][0]["content"]
    assert content == [{"type": "text", "text": "what?"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]


# -- response -----------------------------------------------------------------------------------


def test_tool_plan_is_not_answer_text() -> None:
    """A tool-call response's tool_plan is not returned as text; the call is."""
    resp = decode(load("response_tool_call"))
    assert resp.text == "" and resp.tool_calls == (ToolCall("get_weather_k8yd2m1v0x7c", "get_weather", {"city": "Paris"}),)


@pytest.mark.parametrize(
    ("reason", "finish"), [("COMPLETE", "stop"), ("STOP_SEQUENCE", "stop"), ("MAX_TOKENS", "length"), ("TOOL_CALL", "tool_calls")]
)
def test_finish_reasons_map_to_common_values(reason: str, finish: str) -> None:
    """Cohere finish reasons map onto the common finish_reason values."""
    assert decode(dict(load("response_text"), finish_reason=reason)).finish_reason == finish


def test_error_finish_reason_raises_retryable_provider_error() -> None:
    """finish_reason ERROR (a failed generation) raises a retryable ProviderError instead of a partial answer."""
    with pytest.raises(ProviderError) as info:
        decode(dict(load("response_text"), finish_reason="ERROR"))
    assert info.value.is_retryable()


def test_usage_falls_back_to_billed_units() -> None:
    """Without usage.tokens, billed_units (floats on the wire) give the token counts."""
    data = dict(load("response_text"), usage={"billed_units": {"input_tokens": 7.0, "output_tokens": 3.0}})
    assert decode(data).usage == Usage(7, 3, 10)


def test_models_list_reads_names() -> None:
    """The models listing gives models[].name."""
    assert WIRE_FORMAT.decode_models(load("models")) == ["command-r-plus", "command-a-03-2025"]


def test_error_body_message_is_read() -> None:
    """Cohere's {"message": ...} error body gives the error text."""
    assert WIRE_FORMAT.error_details(load("errors")["auth"]["body"]) == ("invalid api token", ())


# -- streaming ----------------------------------------------------------------------------------


def test_stream_type_is_read_from_json_when_events_are_unnamed() -> None:
    """The same stream with the type only inside the JSON data (no event: lines) decodes identically."""
    named = feed(events("stream_text"))
    unnamed = feed([SseEvent("message", e.data) for e in events("stream_text")])
    assert named == unnamed and "".join(c.delta_text for c in unnamed) == "It is sunny and 21 degrees in Paris."


def test_stream_type_is_read_from_event_name_when_json_has_none() -> None:
    """An event whose JSON has no type is dispatched by its SSE event name."""
    decoder = WIRE_FORMAT.stream_decoder(provider="cohere", model="m")
    chunk = decoder.feed(SseEvent("content-delta", '{"index": 0, "delta": {"message": {"content": {"text": "hi"}}}}'))
    assert chunk[0].delta_text == "hi"


def test_stream_never_decodes_the_data_of_events_that_carry_nothing() -> None:
    """Named events that carry nothing a stream needs (content-end, tool-call-end, citation-end,
    debug) are not decoded: data that is not JSON there does not fail the stream; the same data
    on a content event does (citation-start carries a citation)."""
    decoder = WIRE_FORMAT.stream_decoder(provider="cohere", model="m")
    for name in ("content-end", "tool-call-end", "citation-end", "debug"):
        assert decoder.feed(SseEvent(name, "not json")) == []
    with pytest.raises(ProtocolError):
        decoder.feed(SseEvent("content-delta", "not json"))


def test_stream_tool_call_keeps_tool_plan_out_of_the_text_and_decodes_arguments() -> None:
    """tool-plan-delta events give no text; tool-call events give deltas and a final ToolCall with decoded arguments."""
    chunks = feed(events("stream_tool_call"))
    assert all(c.delta_text == "" for c in chunks)
    deltas = [d for c in chunks for d in c.tool_call_deltas]
    assert (deltas[0].id, deltas[0].name) == ("get_weather_k8yd2m1v0x7c", "get_weather")
    assert chunks[-1].tool_calls == (ToolCall("get_weather_k8yd2m1v0x7c", "get_weather", {"city": "Paris"}),)
    assert (chunks[-1].finish_reason, chunks[-1].usage) == ("tool_calls", Usage(60, 18, 78))


def test_stream_error_event_is_classified_by_its_status() -> None:
    """An in-stream error event with status 429 raises RateLimitExceeded; one without a status is a ProviderError."""
    with pytest.raises(RateLimitExceeded):
        WIRE_FORMAT.stream_decoder(provider="cohere", model="m").feed(
            SseEvent("error", '{"type": "error", "message": "slow", "status": 429}')
        )
    with pytest.raises(ProviderError):
        WIRE_FORMAT.stream_decoder(provider="cohere", model="m").feed(SseEvent("message", '{"type": "error", "message": "boom"}'))


def test_stream_message_end_with_error_reason_raises() -> None:
    """message-end with finish_reason ERROR raises a ProviderError carrying Cohere's error text."""
    decoder = WIRE_FORMAT.stream_decoder(provider="cohere", model="m")
    with pytest.raises(ProviderError, match="internal failure"):
        decoder.feed(SseEvent("message-end", '{"type": "message-end", "delta": {"finish_reason": "ERROR", "error": "internal failure"}}'))


# -- through the client (responses library, no network) -------------------------------------------


@responses.activate
def test_client_call_posts_v2_chat_with_bearer_and_decodes() -> None:
    """AiClient posts the native v2 body with a Bearer key and returns the decoded answer."""
    responses.add(responses.POST, "https://api.cohere.com/v2/chat", json=load("response_text"), status=200)
    client = AiClient(Provider.COHERE, options=ConnectionOptions(api_key=KEY, base_url="https://api.cohere.com", max_retries=0))
    resp = client.chat_completion(ChatCompletionRequest("auto", [Message.system("Be brief."), Message.user("Weather?")], top_p=0.3))
    assert resp.text == "It is sunny and 21 degrees in Paris." and resp.finish_reason == "stop"
    sent = responses.calls[0].request
    assert sent.headers["Authorization"] == f"Bearer {KEY}"
    assert json.loads(sent.body) == {
        "model": "command-r-plus",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Weather?"}],
        "p": 0.3,
    }
