"""The Anthropic Messages wire format, from recorded fixtures (no network)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import responses

from ailib import AiClient, ChatCompletionRequest, ConnectionOptions, Message, Provider
from ailib._sse import SseEvent, SseParser
from ailib.errors import InvalidRequestError, ProtocolError, ProviderError, RateLimitExceeded
from ailib.providers._registry import PROVIDERS
from ailib.providers.anthropic import WIRE_FORMAT, default_max_tokens
from ailib.types import Content, StreamChunk, Tool, ToolCall, Usage

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "anthropic"
SPEC = PROVIDERS[Provider.ANTHROPIC]
KEY = "sk-ant-api03-test-key-0123456789"


def load(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def events(name: str) -> list[SseEvent]:
    parser = SseParser()
    return parser.feed((FIXTURES / f"{name}.txt").read_bytes()) + parser.flush()


def body(messages: list[Any], **kw: Any) -> dict[str, Any]:
    return WIRE_FORMAT.encode(
        ChatCompletionRequest("claude-3-5-haiku-latest", messages, **kw), "claude-3-5-haiku-latest", stream=False, spec=SPEC
    )


def feed_all(evts: list[SseEvent]) -> list[StreamChunk]:
    decoder = WIRE_FORMAT.stream_decoder(provider="anthropic", model="m")
    chunks = [c for e in evts for c in decoder.feed(e)]
    decoder.finish()
    return chunks


# -- request ------------------------------------------------------------------------------------


def test_headers_carry_api_key_and_version_not_bearer() -> None:
    """Requests authenticate with x-api-key and send anthropic-version 2023-06-01, never an Authorization header."""
    headers = WIRE_FORMAT.static_headers(SPEC, KEY, None)
    assert headers["x-api-key"] == KEY and headers["anthropic-version"] == "2023-06-01"
    assert "Authorization" not in headers


def test_custom_headers_can_override_the_version_and_add_betas() -> None:
    """A provider's own headers win over the default anthropic-version and can add anthropic-beta."""
    headers = WIRE_FORMAT.static_headers(SPEC, KEY, {"anthropic-version": "2024-01-01", "anthropic-beta": "x"})
    assert headers["anthropic-version"] == "2024-01-01" and headers["anthropic-beta"] == "x"


def test_urls_follow_the_sdk_base_url_convention() -> None:
    """Chat goes to {base}/v1/messages and the model list to {base}/v1/models."""
    assert WIRE_FORMAT.chat_url("https://api.anthropic.com", "m", True) == "https://api.anthropic.com/v1/messages"
    assert WIRE_FORMAT.models_url("https://api.anthropic.com").startswith("https://api.anthropic.com/v1/models")


def test_max_tokens_defaults_per_model_when_not_given() -> None:
    """max_tokens (required by the API) defaults to 8192 for Claude 3.5+ and 4096 for Claude 3 and unknown models."""
    assert body([Message.user("hi")])["max_tokens"] == 8192
    assert default_max_tokens("claude-3-haiku-20240307") == 4096
    assert default_max_tokens("claude-sonnet-4-20250514") == 8192
    assert default_max_tokens("anthropic/claude-3-7-sonnet-latest") == 8192
    assert default_max_tokens("my-gateway-model") == 4096
    assert body([Message.user("hi")], max_tokens=17)["max_tokens"] == 17


def test_every_system_message_is_lifted_into_the_system_field() -> None:
    """System messages anywhere in the conversation are joined into the top-level system string."""
    b = body(
        [Message.system("Be brief."), Message.user("hi"), Message.assistant("hello"), Message.system("Use French."), Message.user("bye")]
    )
    assert b["system"] == "Be brief.\n\nUse French."
    assert [m["role"] for m in b["messages"]] == ["user", "assistant", "user"]


def test_consecutive_same_role_messages_are_merged() -> None:
    """Two user messages in a row become one user message with both text blocks."""
    b = body([Message.user("one"), Message.user("two"), Message.assistant("ok")])
    assert b["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}]},
        {"role": "assistant", "content": "ok"},
    ]


def test_parallel_tool_results_merge_into_one_user_message_results_first() -> None:
    """Consecutive tool results (and a following user text) form one user message with tool_result blocks first."""
    calls = [ToolCall("toolu_1", "get_weather", {"city": "Paris"}), ToolCall("toolu_2", "get_weather", {"city": "Rome"})]
    b = body(
        [
            Message.user("weather?"),
            Message.assistant(None, calls),
            Message.tool("toolu_1", "sunny"),
            Message.tool("toolu_2", "rain"),
            Message.user("thanks"),
        ]
    )
    assert len(b["messages"]) == 3
    user = b["messages"][2]
    assert user["role"] == "user"
    assert user["content"] == [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"},
        {"type": "tool_result", "tool_use_id": "toolu_2", "content": "rain"},
        {"type": "text", "text": "thanks"},
    ]
    assert [blk["type"] for blk in b["messages"][1]["content"]] == ["tool_use", "tool_use"]


def test_image_url_becomes_a_url_source() -> None:
    """An image URL is sent as an image block with a url source."""
    b = body([Message.user([Content.text("what?"), Content.image_url("https://example.com/cat.jpg")])])
    assert b["messages"][0]["content"][1] == {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}}


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", {"type": "auto"}),
        ("required", {"type": "any"}),
        ("none", {"type": "none"}),
        ("get_weather", {"type": "tool", "name": "get_weather"}),
        ({"type": "function", "function": {"name": "get_weather"}}, {"type": "tool", "name": "get_weather"}),
    ],
)
def test_tool_choice_maps_to_anthropic_shape(choice: Any, expected: dict[str, Any]) -> None:
    """OpenAI-style tool_choice values map to Anthropic's auto/any/none/tool objects."""
    assert body([Message.user("hi")], tools=[Tool.function("get_weather")], tool_choice=choice)["tool_choice"] == expected


def test_extra_fields_reach_the_body() -> None:
    """Fields in ``extra`` (e.g. metadata, top_k) are sent as given and may override the default max_tokens."""
    b = body([Message.user("hi")], extra={"top_k": 5, "max_tokens": 100})
    assert b["top_k"] == 5 and b["max_tokens"] == 100


@pytest.mark.parametrize(
    ("request_kw", "feature"),
    [
        ({"temperature": 1.5}, "temperature above 1"),
        ({"response_format": {"type": "json_object"}}, "response_format"),
    ],
)
def test_unservable_options_fail_before_sending(request_kw: dict[str, Any], feature: str) -> None:
    """temperature > 1 and JSON mode raise InvalidRequestError naming anthropic and the feature."""
    req = ChatCompletionRequest("m", [Message.user("hi")], **request_kw)
    with pytest.raises(InvalidRequestError, match=f"anthropic does not support {feature}"):
        WIRE_FORMAT.check_supported(req, SPEC, stream=False)


def test_tool_message_without_call_id_fails_before_sending() -> None:
    """A tool result that names no tool call cannot become a tool_result block: InvalidRequestError up front."""
    req = ChatCompletionRequest("m", [Message.user("hi"), Message(role="tool", content="x")])
    with pytest.raises(InvalidRequestError, match="tool_call_id"):
        WIRE_FORMAT.check_supported(req, SPEC, stream=False)


# -- response -----------------------------------------------------------------------------------


def test_text_and_tool_use_blocks_both_survive_decoding() -> None:
    """A response with a text block and a tool_use block gives the text and the ToolCall with its input object."""
    resp = WIRE_FORMAT.decode(load("response_tool_use"), provider="anthropic", model="m", headers={})
    assert resp.text == "I'll check the weather in Paris."
    assert resp.tool_calls == (ToolCall("toolu_01A09q90qw90lq917835lq9", "get_weather", {"city": "Paris"}),)
    assert resp.model == "claude-3-5-haiku-20241022" and resp.id == "msg_01Aq9w938a90dw8q"


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"), ("tool_use", "tool_calls"), ("refusal", "refusal")],
)
def test_stop_reasons_map_to_common_finish_reasons(stop_reason: str, finish: str) -> None:
    """Anthropic stop reasons map onto the common finish_reason values."""
    data = dict(load("response_text"), stop_reason=stop_reason)
    assert WIRE_FORMAT.decode(data, provider="anthropic", model="m", headers={}).finish_reason == finish


def test_refusal_with_no_content_decodes_with_refusal_finish() -> None:
    """A refusal answer has no text, finish_reason refusal and an empty refusal text (it is an answer, not a transport error)."""
    resp = WIRE_FORMAT.decode(load("response_refusal"), provider="anthropic", model="m", headers={})
    assert (resp.text, resp.finish_reason, resp.tool_calls, resp.refusal) == ("", "refusal", (), "")


def test_cache_tokens_count_as_prompt_tokens() -> None:
    """Prompt tokens include cache writes and cache reads as well as uncached input; each is also reported on its own."""
    data = dict(
        load("response_text"),
        usage={"input_tokens": 5, "cache_creation_input_tokens": 100, "cache_read_input_tokens": 20, "output_tokens": 7},
    )
    assert WIRE_FORMAT.decode(data, provider="anthropic", model="m", headers={}).usage == Usage(
        125, 7, 132, cached_tokens=20, cache_write_tokens=100
    )


def test_models_list_reads_ids() -> None:
    """The models listing gives the data[].id values."""
    assert WIRE_FORMAT.decode_models(load("models")) == ["claude-sonnet-4-20250514", "claude-3-5-haiku-20241022"]


# -- streaming ----------------------------------------------------------------------------------


def test_stream_text_reads_named_events_and_ignores_ping() -> None:
    """The recorded stream gives its text deltas, then a final chunk with usage from message_start and message_delta."""
    chunks = feed_all(events("stream_text"))
    assert [c.delta_text for c in chunks] == ["It is sunny", " and 21 degrees", " in Paris.", ""]
    assert chunks[-1].usage == Usage(25, 11, 36, 0, 0) and chunks[-1].model == "claude-3-5-haiku-20241022"


def test_stream_never_decodes_the_data_of_pings_and_block_ends() -> None:
    """``ping`` and ``content_block_stop`` carry nothing a stream needs: their data is not
    decoded (data that is not JSON there does not fail the stream; the same data on a
    content event does)."""
    decoder = WIRE_FORMAT.stream_decoder(provider="anthropic", model="m")
    assert decoder.feed(SseEvent("ping", "not json")) == []
    assert decoder.feed(SseEvent("content_block_stop", "{broken")) == []
    with pytest.raises(ProtocolError):
        decoder.feed(SseEvent("content_block_delta", "not json"))


def test_stream_tool_use_gives_deltas_then_the_complete_call() -> None:
    """input_json_delta fragments arrive as ToolCallDeltas; message_stop brings the ToolCall with decoded input."""
    chunks = feed_all(events("stream_tool_use"))
    assert chunks[0].delta_text == "I'll check the weather in Paris."
    deltas = [d for c in chunks for d in c.tool_call_deltas]
    assert deltas[0].id == "toolu_01T1x1fJ34qAmk2tNTrN7Up6" and deltas[0].name == "get_weather"
    assert [d.arguments_delta for d in deltas[1:]] == ['{"city": ', '"Paris"}']
    assert chunks[-1].tool_calls == (ToolCall("toolu_01T1x1fJ34qAmk2tNTrN7Up6", "get_weather", {"city": "Paris"}),)
    assert chunks[-1].finish_reason == "tool_calls"


def test_stream_tool_input_that_is_not_json_is_kept_raw() -> None:
    """A tool input stream that does not form valid JSON is kept as the raw string, not dropped."""
    decoder = WIRE_FORMAT.stream_decoder(provider="anthropic", model="m")
    start = {"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": "t1", "name": "f", "input": {}}}
    for data in (
        start,
        {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": '{"a": '}},
        {"type": "message_stop"},
    ):
        chunks = decoder.feed(SseEvent(data["type"], json.dumps(data)))
    assert chunks[-1].tool_calls == (ToolCall("t1", "f", '{"a": '),)


def test_unknown_event_types_are_ignored() -> None:
    """Event types the decoder does not know (added by later API versions) produce nothing and do not fail."""
    decoder = WIRE_FORMAT.stream_decoder(provider="anthropic", model="m")
    assert decoder.feed(SseEvent("future_event", '{"type": "future_event", "x": 1}')) == []
    assert (
        decoder.feed(
            SseEvent(
                "content_block_delta", '{"type": "content_block_delta", "index": 0, "delta": {"type": "citations_delta", "citation": {}}}'
            )
        )
        == []
    )
    assert not decoder.done


def test_server_tool_blocks_are_not_returned_as_tool_calls() -> None:
    """A server_tool_use block (e.g. web search) streams its input but yields no ToolCall for the caller."""
    decoder = WIRE_FORMAT.stream_decoder(provider="anthropic", model="m")
    frames = [
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}},
        },
        {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": '{"query": "paris"}'}},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_stop"},
    ]
    chunks = [c for f in frames for c in decoder.feed(SseEvent(f["type"], json.dumps(f)))]
    assert chunks[-1].tool_calls == () and all(not c.tool_call_deltas for c in chunks)


def test_event_name_is_used_when_the_data_has_no_type() -> None:
    """An event whose JSON lacks ``type`` is dispatched by its SSE event name."""
    decoder = WIRE_FORMAT.stream_decoder(provider="anthropic", model="m")
    assert (
        decoder.feed(SseEvent("content_block_delta", '{"index": 0, "delta": {"type": "text_delta", "text": "hi"}}'))[0].delta_text == "hi"
    )
    decoder.feed(SseEvent("message_stop", "{}"))
    assert decoder.done


def test_overloaded_error_event_in_stream_is_retryable_provider_error() -> None:
    """The recorded overloaded_error event inside a 200 stream raises a retryable ProviderError (status 529)."""
    decoder = WIRE_FORMAT.stream_decoder(provider="anthropic", model="m")
    start, error = events("stream_error")
    assert decoder.feed(start) == []
    with pytest.raises(ProviderError) as info:
        decoder.feed(error)
    assert info.value.is_retryable() and info.value.status_code == 529 and "Overloaded" in str(info.value)


def test_rate_limit_error_event_in_stream_is_rate_limit_exceeded() -> None:
    """An in-stream rate_limit_error is classified as RateLimitExceeded, like its HTTP counterpart."""
    decoder = WIRE_FORMAT.stream_decoder(provider="anthropic", model="m")
    with pytest.raises(RateLimitExceeded):
        decoder.feed(SseEvent("error", '{"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}'))


def test_non_object_event_data_is_a_protocol_error() -> None:
    """Event data that is JSON but not an object raises ProtocolError."""
    with pytest.raises(ProtocolError, match="not a JSON object"):
        WIRE_FORMAT.stream_decoder(provider="anthropic", model="m").feed(SseEvent("message_start", "[1, 2]"))


def test_error_type_returned_with_200_is_classified() -> None:
    """A JSON error object answered with HTTP 200 (by a gateway) raises its classified error, not a bogus response."""
    with pytest.raises(InvalidRequestError) as info:
        WIRE_FORMAT.decode(
            {"type": "error", "error": {"type": "invalid_request_error", "message": "bad"}}, provider="anthropic", model="m", headers={}
        )
    assert type(info.value) is InvalidRequestError and info.value.status_code == 400


# -- through the client (responses library, no network) -------------------------------------------


@responses.activate
def test_client_call_sends_native_request_and_decodes_answer() -> None:
    """AiClient posts the native body with Anthropic headers to /v1/messages and returns the decoded answer."""
    responses.add(responses.POST, "https://api.anthropic.com/v1/messages", json=load("response_text"), status=200)
    client = AiClient(Provider.ANTHROPIC, options=ConnectionOptions(api_key=KEY, base_url="https://api.anthropic.com", max_retries=0))
    resp = client.chat_completion(ChatCompletionRequest("auto", [Message.system("Be brief."), Message.user("Weather in Paris?")]))
    assert resp.text == "It is sunny and 21 degrees in Paris." and resp.usage == Usage(25, 11, 36, 0, 0)
    sent = responses.calls[0].request
    assert sent.headers["x-api-key"] == KEY and sent.headers["anthropic-version"] == "2023-06-01"
    assert json.loads(sent.body) == {
        "model": "claude-3-5-haiku-latest",
        "max_tokens": 8192,
        "system": "Be brief.",
        "messages": [{"role": "user", "content": "Weather in Paris?"}],
    }


@responses.activate
def test_client_maps_529_to_provider_error_without_leaking_the_key() -> None:
    """A 529 overloaded answer surfaces as ProviderError whose text never contains the API key."""
    rec = load("errors")["overloaded"]
    responses.add(responses.POST, "https://api.anthropic.com/v1/messages", json=rec["body"], status=529)
    client = AiClient(Provider.ANTHROPIC, options=ConnectionOptions(api_key=KEY, base_url="https://api.anthropic.com", max_retries=0))
    with pytest.raises(ProviderError) as info:
        client.chat_completion(ChatCompletionRequest("auto", [Message.user("hi")]))
    assert info.value.status_code == 529 and KEY not in str(info.value) and KEY not in repr(info.value)
