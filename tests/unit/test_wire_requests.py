"""Requests say what the user asked, in every format: exact request bodies from pure encoding (no network)."""

from __future__ import annotations

import json
from typing import Any

import attrs
import pytest

from ailib import AiClientBuilder, ChatCompletionRequest, ConnectionOptions, Message
from ailib._sse import SseEvent
from ailib.errors import InvalidRequestError
from ailib.providers._formats import get_wire_format
from ailib.providers._registry import PROVIDERS, Provider, ProviderSpec
from ailib.testing import MockTransport
from ailib.types import Content, Role, Tool, ToolCall

FORMATS = ("openai", "anthropic", "gemini", "cohere")
PROVIDER_OF = {"openai": Provider.OPENAI, "anthropic": Provider.ANTHROPIC, "gemini": Provider.GEMINI, "cohere": Provider.COHERE}
IMAGE_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
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


# -- 3. raw-string tool arguments, Cohere "null" arguments ----------------------------------------

RAW = '{"city": "Par'  # what a model sent: not valid JSON, kept as the raw text


def _replay(arguments: Any) -> ChatCompletionRequest:
    call = ToolCall("call_1", "get_weather", arguments)
    return ChatCompletionRequest(
        "m", [Message.user("weather?"), Message.assistant(None, [call]), Message.tool("call_1", "sunny"), Message.user("thanks")]
    )


def test_raw_string_arguments_go_back_to_openai_and_cohere_as_they_came() -> None:
    """Arguments kept as the raw invalid-JSON text are sent back byte for byte, not JSON-encoded a second time."""
    openai = encode("openai", _replay(RAW))["messages"][1]
    assert openai == {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": RAW}}],
    }
    cohere = encode("cohere", _replay(RAW))["messages"][1]
    assert cohere["tool_calls"][0]["function"]["arguments"] == RAW


def test_a_decoded_invalid_answer_replays_unchanged_to_openai() -> None:
    """An OpenAI answer whose arguments are not JSON, replayed as the assistant turn, sends the very same arguments string."""
    answer: dict[str, Any] = {
        "id": "r",
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": RAW}}],
                },
                "finish_reason": "tool_calls",
            }
        ],
    }
    message = get_wire_format("openai").decode(answer, provider="openai", model="m", headers={}).choices[0].message
    req = ChatCompletionRequest("m", [Message.user("weather?"), message, Message.tool("call_1", "sunny")])
    assert encode("openai", req)["messages"][1]["tool_calls"] == answer["choices"][0]["message"]["tool_calls"]


def test_raw_string_arguments_survive_to_dict_and_from_dict() -> None:
    """Message.to_dict keeps raw arguments as they came, and from_dict keeps invalid JSON as the raw text (no error)."""
    message = Message.assistant(None, [ToolCall("call_1", "get_weather", RAW)])
    d = message.to_dict()
    assert d["tool_calls"][0]["function"]["arguments"] == RAW
    assert Message.from_dict(d) == message
    assert Message.from_dict(Message.assistant(None, [ToolCall("c", "f", {"a": 1})]).to_dict()).tool_calls == (
        ToolCall("c", "f", {"a": 1}),
    )


@pytest.mark.parametrize("fmt", ["anthropic", "gemini"])
def test_raw_string_arguments_cannot_go_to_formats_that_need_an_object(fmt: str) -> None:
    """Anthropic and Gemini need an object: invalid raw arguments raise InvalidRequestError before sending."""
    with pytest.raises(InvalidRequestError, match="not a JSON object"):
        encode(fmt, _replay(RAW))


def test_cohere_null_arguments_decode_as_an_empty_object_and_replay_everywhere() -> None:
    """Cohere's "null" arguments (a call without arguments) decode as {}, which Anthropic and Gemini accept back."""
    answer = {
        "id": "r",
        "finish_reason": "TOOL_CALL",
        "message": {
            "role": "assistant",
            "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get_time", "arguments": "null"}}],
        },
    }
    message = get_wire_format("cohere").decode(answer, provider="cohere", model="m", headers={}).choices[0].message
    assert message.tool_calls == (ToolCall("call_1", "get_time", {}),)
    req = ChatCompletionRequest("m", [Message.user("time?"), message, Message.tool("call_1", "12:00")])
    assert encode("anthropic", req)["messages"][1]["content"] == [{"type": "tool_use", "id": "call_1", "name": "get_time", "input": {}}]
    assert encode("gemini", req)["contents"][1]["parts"] == [{"functionCall": {"name": "get_time", "args": {}}}]


def test_cohere_streamed_null_arguments_decode_as_an_empty_object() -> None:
    """A streamed Cohere tool call whose arguments are "null" ends as a ToolCall with {}."""
    decoder = get_wire_format("cohere").stream_decoder(provider="cohere", model="m")
    start: dict[str, Any] = {
        "type": "tool-call-start",
        "index": 0,
        "delta": {"message": {"tool_calls": {"id": "call_1", "type": "function", "function": {"name": "get_time", "arguments": "null"}}}},
    }
    end: dict[str, Any] = {"type": "message-end", "delta": {"finish_reason": "TOOL_CALL"}}
    chunks = [c for e in (start, end) for c in decoder.feed(SseEvent(e["type"], json.dumps(e)))]
    assert chunks[-1].tool_calls == (ToolCall("call_1", "get_time", {}),)


# -- 4. tool strict, image detail, the developer role ---------------------------------------------

WEATHER = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": False}


def test_tool_strict_is_sent_to_openai_as_function_strict() -> None:
    """Tool.function(..., strict=True) becomes function.strict; a tool without strict sends no such key."""
    tools = [Tool.function("get_weather", "Weather", WEATHER, strict=True), Tool.function("noop")]
    body = encode("openai", ChatCompletionRequest("m", [Message.user("hi")], tools=tools))
    assert body["tools"] == [
        {"type": "function", "function": {"name": "get_weather", "description": "Weather", "parameters": WEATHER, "strict": True}},
        {"type": "function", "function": {"name": "noop", "description": "", "parameters": {"type": "object", "properties": {}}}},
    ]


def test_tool_strict_false_is_sent_as_set() -> None:
    """strict=False is the user's choice too, and is sent."""
    body = encode("openai", ChatCompletionRequest("m", [Message.user("hi")], tools=[Tool.function("f", strict=False)]))
    assert body["tools"][0]["function"]["strict"] is False


def test_tool_strict_is_ignored_by_gemini_which_has_no_such_flag() -> None:
    """Gemini function declarations have no strict flag: the body is the one a non-strict tool gives.
    (Anthropic and Cohere send it: tests/unit/test_structured_output.py.)"""
    strict = ChatCompletionRequest("m", [Message.user("hi")], tools=[Tool.function("get_weather", "Weather", WEATHER, strict=True)])
    plain = ChatCompletionRequest("m", [Message.user("hi")], tools=[Tool.function("get_weather", "Weather", WEATHER)])
    assert encode("gemini", strict) == encode("gemini", plain)


def test_tool_strict_from_an_openai_dict_and_back() -> None:
    """An OpenAI tool dict with strict keeps it, and to_dict writes it back; a non-bool strict is refused."""
    tool = {"type": "function", "function": {"name": "f", "description": "", "parameters": WEATHER, "strict": True}}
    req = ChatCompletionRequest.from_dict({"messages": [{"role": "user", "content": "hi"}], "tools": [tool]})
    assert req.tools == (Tool.function("f", "", WEATHER, strict=True),)
    assert req.to_dict()["tools"] == [tool]
    with pytest.raises(InvalidRequestError, match="strict"):
        Tool.function("f", strict="yes")  # type: ignore[arg-type]


def _image_request(part: Content) -> ChatCompletionRequest:
    return ChatCompletionRequest("m", [Message.user([Content.text("what is it?"), part])])


def test_image_detail_is_sent_to_openai_and_cohere() -> None:
    """Content.image_url(url, detail="low") becomes image_url.detail for OpenAI and Cohere, for URLs and inline images."""
    url_part = {"type": "image_url", "image_url": {"url": "https://x/cat.png", "detail": "low"}}
    data_part = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{IMAGE_B64}", "detail": "high"}}
    for fmt in ("openai", "cohere"):
        assert encode(fmt, _image_request(Content.image_url("https://x/cat.png", detail="low")))["messages"][0]["content"][1] == url_part
        inline = Content.image_url(f"data:image/png;base64,{IMAGE_B64}", detail="high")
        assert encode(fmt, _image_request(inline))["messages"][0]["content"][1] == data_part
    assert Content.image_base64(IMAGE_B64, detail="high") == Content.image_url(f"data:image/png;base64,{IMAGE_B64}", detail="high")


def test_image_without_detail_sends_no_detail_key() -> None:
    """An image without detail is sent as {"url": ...} alone."""
    part = encode("openai", _image_request(Content.image_url("https://x/cat.png")))["messages"][0]["content"][1]
    assert part == {"type": "image_url", "image_url": {"url": "https://x/cat.png"}}


def test_image_detail_is_ignored_by_anthropic_and_gemini() -> None:
    """Anthropic and Gemini have no image detail: the body is the one an image without detail gives."""
    for fmt, part in (
        ("anthropic", Content.image_url("https://x/cat.png", detail="low")),
        ("gemini", Content.image_base64(IMAGE_B64, detail="low")),
    ):
        plain = attrs.evolve(part, detail=None)
        assert encode(fmt, _image_request(part)) == encode(fmt, _image_request(plain))


def test_image_detail_from_an_openai_dict_and_back() -> None:
    """An OpenAI image_url part with detail keeps it through Message.from_dict and to_dict; a bad detail is refused."""
    d = {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/cat.png", "detail": "high"}}]}
    message = Message.from_dict(d)
    assert message.parts() == (Content.image_url("https://x/cat.png", detail="high"),)
    assert message.to_dict() == d
    with pytest.raises(InvalidRequestError, match="detail"):
        Content.image_url("https://x/cat.png", detail="")


def _developer_request() -> ChatCompletionRequest:
    return ChatCompletionRequest("m", [Message(Role.DEVELOPER, "Answer in French."), Message.user("hi")])


def test_developer_role_goes_to_openai_as_developer() -> None:
    """Role.DEVELOPER (or a {"role": "developer"} dict) is sent as developer to OpenAI and Azure OpenAI."""
    assert encode("openai", _developer_request())["messages"][0] == {"role": "developer", "content": "Answer in French."}
    from_dict = ChatCompletionRequest("m", [{"role": "developer", "content": "Answer in French."}, {"role": "user", "content": "hi"}])
    assert from_dict == _developer_request()
    azure = PROVIDERS[Provider.AZURE_OPENAI]
    body = get_wire_format(azure.wire_format).encode(_developer_request(), "m", stream=False, spec=azure)
    assert body["messages"][0]["role"] == "developer"


def test_developer_role_is_system_everywhere_else() -> None:
    """OpenAI-compatible services get a developer message as system; Anthropic, Gemini and Cohere as their system prompt."""
    deepseek = PROVIDERS[Provider.DEEPSEEK]
    body = get_wire_format("openai").encode(_developer_request(), "m", stream=False, spec=deepseek)
    assert body["messages"][0] == {"role": "system", "content": "Answer in French."}
    assert encode("anthropic", _developer_request())["system"] == "Answer in French."
    assert encode("gemini", _developer_request())["systemInstruction"] == {"parts": [{"text": "Answer in French."}]}
    assert encode("cohere", _developer_request())["messages"][0] == {"role": "system", "content": "Answer in French."}


def test_developer_message_with_parts_is_flattened_like_system() -> None:
    """A developer message given as parts is sent as one text, as a system message is."""
    req = ChatCompletionRequest("m", [Message(Role.DEVELOPER, [Content.text("a"), Content.text("b")]), Message.user("hi")])
    assert encode("openai", req)["messages"][0] == {"role": "developer", "content": "ab"}
    assert Role.DEVELOPER.is_system and Role.SYSTEM.is_system and not Role.USER.is_system


# -- 5. extra merged deeply ------------------------------------------------------------------------


def test_gemini_thinking_config_through_extra_keeps_the_generation_config() -> None:
    """extra={"generationConfig": {"thinkingConfig": ...}} adds to ailib's generationConfig instead of replacing it."""
    thinking = {"generationConfig": {"thinkingConfig": {"thinkingBudget": 1024, "includeThoughts": True}}}
    req = ChatCompletionRequest("m", [Message.user("hi")], temperature=0.3, max_tokens=500, extra=thinking)
    assert encode("gemini", req)["generationConfig"] == {
        "temperature": 0.3,
        "maxOutputTokens": 500,
        "thinkingConfig": {"thinkingBudget": 1024, "includeThoughts": True},
    }


def test_extra_replaces_non_object_values_and_adds_new_keys() -> None:
    """A list or scalar in extra replaces the body's value; new keys are added; objects merge at every depth."""
    req = ChatCompletionRequest(
        "m",
        [Message.user("hi")],
        stop=["END"],
        temperature=0.5,
        extra={"stop": ["X"], "temperature": 1.0, "seed": 7, "stream_options": {"include_obfuscation": False}},
    )
    body = encode("openai", req, stream=True)
    assert body["stop"] == ["X"] and body["temperature"] == 1.0 and body["seed"] == 7
    assert body["stream_options"] == {"include_usage": True, "include_obfuscation": False}


JSON_SCHEMA = {"type": "json_schema", "json_schema": {"name": "r", "schema": {"type": "object"}}}


@pytest.mark.parametrize(
    ("fmt", "kwargs", "extra", "key", "expected"),
    [
        (
            "openai",
            {"response_format": JSON_SCHEMA},
            {"response_format": {"json_schema": {"strict": True}}},
            "response_format",
            {"type": "json_schema", "json_schema": {"name": "r", "schema": {"type": "object"}, "strict": True}},
        ),
        (
            "anthropic",
            {"tools": [Tool.function("f")], "tool_choice": "auto"},
            {"tool_choice": {"disable_parallel_tool_use": True}},
            "tool_choice",
            {"type": "auto", "disable_parallel_tool_use": True},
        ),
        (
            "gemini",
            {"response_format": {"type": "json_object"}},
            {"generationConfig": {"topK": 5}},
            "generationConfig",
            {"responseMimeType": "application/json", "topK": 5},
        ),
        (
            "cohere",
            {"response_format": JSON_SCHEMA},
            {"response_format": {"json_schema": {"required": ["a"]}}},
            "response_format",
            {"type": "json_object", "json_schema": {"type": "object", "required": ["a"]}},
        ),
    ],
)
def test_extra_is_merged_deeply_in_every_format(fmt: str, kwargs: dict[str, Any], extra: dict[str, Any], key: str, expected: Any) -> None:
    """Each format merges extra into its own body key by key, never replacing a whole section it built."""
    req = ChatCompletionRequest("m", [Message.user("hi")], extra=extra, **kwargs)
    assert encode(fmt, req)[key] == expected


def test_merging_extra_changes_neither_the_request_nor_the_callers_objects() -> None:
    """The user's response_format and extra are left as they were after encoding (the merge copies what it changes)."""
    response_format = {"type": "json_schema", "json_schema": {"name": "r"}}
    extra = {"response_format": {"json_schema": {"strict": True}}}
    req = ChatCompletionRequest("m", [Message.user("hi")], response_format=response_format, extra=extra)
    encode("openai", req)
    encode("openai", req)
    assert response_format == {"type": "json_schema", "json_schema": {"name": "r"}}
    assert extra == {"response_format": {"json_schema": {"strict": True}}}


# -- 6. Anthropic block-level cache_control ---------------------------------------------------------

EPHEMERAL = {"type": "ephemeral"}


def test_cache_control_on_a_system_part_sends_the_system_prompt_as_marked_blocks() -> None:
    """A marked system part makes Anthropic's system a list of text blocks, the mark on its block (as the docs show)."""
    long_doc = "The whole manual. " * 3
    req = ChatCompletionRequest(
        "m",
        [
            Message.system("You answer questions about the manual."),
            Message.system([Content.text(long_doc, cache_control=EPHEMERAL)]),
            Message.user("What does page 2 say?"),
        ],
    )
    body = encode("anthropic", req, model="claude-sonnet-4-5")
    assert body["system"] == [
        {"type": "text", "text": "You answer questions about the manual."},
        {"type": "text", "text": long_doc, "cache_control": {"type": "ephemeral"}},
    ]
    assert body["messages"] == [{"role": "user", "content": "What does page 2 say?"}]


def test_cache_control_on_a_user_part_is_sent_on_its_block() -> None:
    """A marked user text (even a single one) goes as a block carrying cache_control, never collapsed to a string."""
    req = ChatCompletionRequest(
        "m",
        [
            Message.user([Content.text("big context", cache_control={"type": "ephemeral", "ttl": "1h"})]),
            Message.assistant("ok"),
            Message.user("q"),
        ],
    )
    assert encode("anthropic", req)["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "big context", "cache_control": {"type": "ephemeral", "ttl": "1h"}}]},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "q"},
    ]


def test_cache_control_on_images_and_tool_results() -> None:
    """Marked image parts carry cache_control on the image block; a marked tool result is sent as blocks."""
    req = ChatCompletionRequest(
        "m",
        [
            Message.user([Content.image_base64(IMAGE_B64, cache_control=EPHEMERAL)]),
            Message.assistant(None, [ToolCall("call_1", "read", {})]),
            Message.tool("call_1", [Content.text("file text", cache_control=EPHEMERAL)]),
        ],
    )
    messages = encode("anthropic", req)["messages"]
    assert messages[0]["content"] == [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": IMAGE_B64}, "cache_control": EPHEMERAL}
    ]
    assert messages[2]["content"] == [
        {"type": "tool_result", "tool_use_id": "call_1", "content": [{"type": "text", "text": "file text", "cache_control": EPHEMERAL}]}
    ]


def test_unmarked_system_prompt_stays_one_string() -> None:
    """Without marks, system messages still go as one string joined by a blank line (the body as before)."""
    req = ChatCompletionRequest("m", [Message.system("a"), Message.system([Content.text("b")]), Message.user("q")])
    assert encode("anthropic", req)["system"] == "a\n\nb"


@pytest.mark.parametrize("fmt", ["openai", "gemini", "cohere"])
def test_cache_control_is_ignored_by_other_formats(fmt: str) -> None:
    """OpenAI, Gemini and Cohere have no block marks: a marked request encodes as the unmarked one."""
    marked = ChatCompletionRequest(
        "m", [Message.system([Content.text("doc", cache_control=EPHEMERAL)]), Message.user([Content.text("q", cache_control=EPHEMERAL)])]
    )
    plain = ChatCompletionRequest("m", [Message.system([Content.text("doc")]), Message.user([Content.text("q")])])
    assert encode(fmt, marked) == encode(fmt, plain)


def test_cache_control_from_a_dict_part_and_validation() -> None:
    """A dict text part with cache_control keeps it; a cache_control that is not a dict is refused at construction."""
    message = Message.from_dict({"role": "user", "content": [{"type": "text", "text": "doc", "cache_control": EPHEMERAL}]})
    assert message.parts() == (Content.text("doc", cache_control=EPHEMERAL),)
    with pytest.raises(InvalidRequestError, match="cache_control"):
        Content.text("doc", cache_control="ephemeral")  # type: ignore[arg-type]
