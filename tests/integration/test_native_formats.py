"""Every wire format end to end over loopback: MockProvider speaking OpenAI, Anthropic, Gemini and Cohere."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, Callable

import pytest

from ailib import (
    AiClient,
    AiClientBuilder,
    ChatCompletionRequest,
    ConnectionOptions,
    CustomProviderBuilder,
    Message,
    Provider,
    RetryPolicy,
)
from ailib.errors import (
    AuthenticationError,
    ContextLengthExceededError,
    InvalidRequestError,
    ModelNotFoundError,
    ProviderError,
    RateLimitExceeded,
    StreamInterruptedError,
)
from ailib.testing import Fault, MockProvider, Reply
from ailib.types import Content, Tool, Usage

FORMATS = ("openai", "anthropic", "gemini", "cohere", "openai_responses")
NATIVE = ("anthropic", "gemini", "cohere")
KEY = "sk-test-native-0123456789abcdef"
FAST = RetryPolicy(initial_delay=0.01, max_delay=0.05)
REPLY = "Hello from MockProvider"
IMAGE_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
WEATHER = Tool.function(
    "get_weather", "Current weather for a city", {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
)
CALL = (("call_1", "get_weather", {"city": "Paris"}),)
# The mock's default usage as each format reports it: OpenAI and Anthropic send their zero details.
USAGE = {
    "openai": Usage(10, 5, 15, cached_tokens=0, reasoning_tokens=0),
    "anthropic": Usage(10, 5, 15, cached_tokens=0, cache_write_tokens=0, cache_write_1h_tokens=0),
    "gemini": Usage(10, 5, 15),
    "cohere": Usage(10, 5, 15),
    "openai_responses": Usage(10, 5, 15, cached_tokens=0, reasoning_tokens=0),
}
# A reply that read 60 of its 100 prompt tokens from a cache, wrote 20 and reasoned for 12 of 30 output tokens,
# and the usage each format can carry of it (only Anthropic reports cache writes; Cohere reports no details).
DETAILED = Reply(REPLY, prompt_tokens=100, completion_tokens=30, cached_tokens=60, cache_write_tokens=20, reasoning_tokens=12)
DETAILED_USAGE = {
    "openai": Usage(100, 30, 130, cached_tokens=60, reasoning_tokens=12),
    "anthropic": Usage(100, 30, 130, cached_tokens=60, cache_write_tokens=20, cache_write_1h_tokens=0),
    "gemini": Usage(100, 30, 130, cached_tokens=60, reasoning_tokens=12),
    "cohere": Usage(100, 30, 130),
    "openai_responses": Usage(100, 30, 130, cached_tokens=60, reasoning_tokens=12),
}

CHAT_PATH = {
    "openai": "/v1/chat/completions",
    "anthropic": "/v1/messages",
    "gemini": "/v1beta/models/mock-model:generateContent",
    "cohere": "/v2/chat",
    "openai_responses": "/v1/responses",
}
AUTH = {
    "openai": ("authorization", f"Bearer {KEY}"),
    "anthropic": ("x-api-key", KEY),
    "gemini": ("x-goog-api-key", KEY),
    "cohere": ("authorization", f"Bearer {KEY}"),
    "openai_responses": ("authorization", f"Bearer {KEY}"),
}


@pytest.fixture(params=FORMATS)
def fmt(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def server(fmt: str) -> Iterator[MockProvider]:
    with MockProvider(fmt, api_key=KEY) as m:
        yield m


@pytest.fixture
def ai(server: MockProvider) -> Iterator[AiClient]:
    c = AiClientBuilder(server.provider(api_key=KEY)).with_retry(FAST).build()
    yield c
    c.close()


@pytest.fixture
def ai_once(server: MockProvider) -> Iterator[AiClient]:
    """A client that never retries, to see each error class as the server sent it."""
    c = AiClientBuilder(server.provider(api_key=KEY)).without_retry().build()
    yield c
    c.close()


def ask(text: str = "hi", **kw: Any) -> ChatCompletionRequest:
    return ChatCompletionRequest("auto", [Message.system("Be brief."), Message.user(text)], **kw)


# Where each format puts the parts these tests look for in the body the server received.
def tool_result_of(fmt: str, body: dict[str, Any]) -> Any:
    if fmt == "anthropic":
        return body["messages"][-1]["content"][0]
    if fmt == "gemini":
        return body["contents"][-1]["parts"][0]
    if fmt == "openai_responses":
        return body["input"][-1]
    return body["messages"][-1]


def expected_tool_result(fmt: str, call_id: str) -> Any:
    return {
        "openai": {"role": "tool", "content": '{"temp_c": 21}', "tool_call_id": call_id},
        "anthropic": {"type": "tool_result", "tool_use_id": call_id, "content": '{"temp_c": 21}'},
        "gemini": {"functionResponse": {"name": "get_weather", "response": {"temp_c": 21}}},
        "cohere": {"role": "tool", "tool_call_id": call_id, "content": '{"temp_c": 21}'},
        "openai_responses": {"type": "function_call_output", "call_id": call_id, "output": '{"temp_c": 21}'},
    }[fmt]


IMAGE_OF: dict[str, Callable[[dict[str, Any]], Any]] = {
    "openai": lambda b: b["messages"][0]["content"][1],
    "anthropic": lambda b: b["messages"][0]["content"][1],
    "gemini": lambda b: b["contents"][0]["parts"][1],
    "cohere": lambda b: b["messages"][0]["content"][1],
    "openai_responses": lambda b: b["input"][0]["content"][1],
}
IMAGE_SENT = {
    "openai": {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{IMAGE_B64}"}},
    "anthropic": {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": IMAGE_B64}},
    "gemini": {"inlineData": {"mimeType": "image/png", "data": IMAGE_B64}},
    "cohere": {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{IMAGE_B64}"}},
    "openai_responses": {"type": "input_image", "image_url": f"data:image/png;base64,{IMAGE_B64}", "detail": "auto"},
}


# -- plain, streamed ----------------------------------------------------------------------------


def test_plain_call(fmt: str, server: MockProvider, ai: AiClient) -> None:
    """A plain call reaches the format's path with its auth header and returns text, finish reason and usage."""
    resp = ai.chat_completion(ask())
    assert (resp.text, resp.finish_reason, resp.usage, len(resp.attempts)) == (REPLY, "stop", USAGE[fmt], 1)
    rec = server.chat_requests[0]
    header, value = AUTH[fmt]
    assert rec.path == CHAT_PATH[fmt] and rec.headers[header] == value
    assert KEY not in rec.path


def test_streamed_call(fmt: str, server: MockProvider, ai: AiClient) -> None:
    """A streamed call yields the text in pieces, then finish reason and usage, through the format's stream path."""
    with ai.chat_completion_stream(ask()) as stream:
        pieces = [c.delta_text for c in stream if c.delta_text]
    assert len(pieces) > 1 and "".join(pieces) == REPLY
    assert (stream.text, stream.finish_reason, stream.usage) == (REPLY, "stop", USAGE[fmt])
    path = server.chat_requests[0].path
    assert path.endswith(":streamGenerateContent?alt=sse") if fmt == "gemini" else server.chat_requests[0].json["stream"] is True


@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "streamed"])
def test_usage_details_as_each_format_reports_them(fmt: str, server: MockProvider, ai: AiClient, streamed: bool) -> None:
    """Cached, cache-write and reasoning tokens the mock reports reach Usage, plain and streamed, and the totals."""
    server.enqueue(Fault("ok", reply=DETAILED))
    if streamed:
        with ai.chat_completion_stream(ask()) as stream:
            list(stream)
        usage = stream.usage
    else:
        usage = ai.chat_completion(ask()).usage
    assert usage == DETAILED_USAGE[fmt]
    (total,) = ai.usage_totals().values()
    expected = DETAILED_USAGE[fmt]
    assert (total.cached_tokens, total.cache_write_tokens, total.reasoning_tokens) == (
        expected.cached_tokens or 0,
        expected.cache_write_tokens or 0,
        expected.reasoning_tokens or 0,
    )


def test_list_models(ai: AiClient) -> None:
    """list_models reads each format's model listing."""
    assert ai.list_models() == ["mock-model", "mock-model-large"]


# -- tools ----------------------------------------------------------------------------------------


def test_tool_call_round_trip(fmt: str, server: MockProvider, ai: AiClient) -> None:
    """The model's tool call decodes to a ToolCall; sending back its result reaches the server in native form."""
    server.enqueue(Fault.ok(tool_calls=CALL))
    first = ai.chat_completion(ask("Weather in Paris?", tools=[WEATHER]))
    (call,) = first.tool_calls
    assert (call.name, call.arguments, first.finish_reason) == ("get_weather", {"city": "Paris"}, "tool_calls")
    assert call.id == "call_1" if fmt != "gemini" else call.id.startswith("call_")  # Gemini has no ids: synthesised
    follow_up = ChatCompletionRequest(
        "auto",
        [Message.user("Weather in Paris?"), Message.assistant(None, first.tool_calls), Message.tool(call.id, '{"temp_c": 21}')],
        tools=[WEATHER],
    )
    assert ai.chat_completion(follow_up).text == REPLY
    sent = server.chat_requests[1].json
    assert tool_result_of(fmt, sent) == expected_tool_result(fmt, call.id)


def test_streamed_tool_call(fmt: str, server: MockProvider, ai: AiClient) -> None:
    """A streamed tool call ends with a ToolCall whose arguments are decoded, its deltas joining to the JSON."""
    server.enqueue(Fault.ok(tool_calls=CALL))
    with ai.chat_completion_stream(ask("Weather?", tools=[WEATHER])) as stream:
        deltas = [d for c in stream for d in c.tool_call_deltas]
    (call,) = stream.tool_calls
    assert (call.name, call.arguments, stream.finish_reason) == ("get_weather", {"city": "Paris"}, "tool_calls")
    assert json.loads("".join(d.arguments_delta for d in deltas)) == {"city": "Paris"}


# -- images ---------------------------------------------------------------------------------------


def test_image_input(fmt: str, server: MockProvider, ai: AiClient) -> None:
    """An inline image reaches the server in the format's own image shape."""
    req = ChatCompletionRequest("auto", [Message.user([Content.text("What is this?"), Content.image_base64(IMAGE_B64, "image/png")])])
    assert ai.chat_completion(req).text == REPLY
    assert IMAGE_OF[fmt](server.chat_requests[0].json) == IMAGE_SENT[fmt]


def test_builtin_cohere_refuses_images_before_any_request() -> None:
    """The built-in Cohere provider (no image support) raises InvalidRequestError and sends nothing."""
    with MockProvider("cohere", api_key=KEY) as server:
        client = AiClient(Provider.COHERE, options=ConnectionOptions(api_key=KEY, base_url=server.url))
        req = ChatCompletionRequest("auto", [Message.user([Content.text("What?"), Content.image_base64(IMAGE_B64, "image/png")])])
        with pytest.raises(InvalidRequestError, match="cohere does not support image input"):
            client.chat_completion(req)
        assert server.request_count == 0


def test_gemini_refuses_image_urls_before_any_request() -> None:
    """Gemini cannot fetch image URLs: InvalidRequestError naming the provider, and nothing is sent."""
    with MockProvider("gemini", api_key=KEY) as server:
        client = AiClient(server.provider("gemini-gw", api_key=KEY))
        req = ChatCompletionRequest("auto", [Message.user([Content.text("What?"), Content.image_url("https://example.com/cat.png")])])
        with pytest.raises(InvalidRequestError, match="gemini-gw does not support image URLs"):
            client.chat_completion(req)
        assert server.request_count == 0


# -- errors ---------------------------------------------------------------------------------------

CONTEXT_FAULT = {
    "openai": Fault.http_status(400, error_type="context_length_exceeded", message="This model's maximum context length is 128000 tokens."),
    "anthropic": Fault.http_status(400, message="prompt is too long: 208310 tokens > 200000 maximum"),
    "gemini": Fault.http_status(400, message="The input token count (1250000) exceeds the maximum number of tokens allowed (1048576)."),
    "cohere": Fault.http_status(
        400, message="too many tokens: total number of tokens in the prompt cannot exceed 128000 - received 131072."
    ),
    "openai_responses": Fault.http_status(
        400, error_type="context_length_exceeded", message="Your input exceeds the context window of this model."
    ),
}


@pytest.mark.parametrize(
    ("case", "error"),
    [
        ("rate_limit", RateLimitExceeded),
        ("overloaded", ProviderError),
        ("context_length", ContextLengthExceededError),
        ("auth", AuthenticationError),
        ("not_found", ModelNotFoundError),
    ],
)
def test_each_error_class(fmt: str, server: MockProvider, ai_once: AiClient, case: str, error: type) -> None:
    """Each format's error body for rate limit, overload (529 for Anthropic), context length, auth and unknown model gets its class."""
    fault = {
        "rate_limit": Fault.http_status(429, retry_after="3"),
        "overloaded": Fault.http_status(529 if fmt == "anthropic" else 503),
        "context_length": CONTEXT_FAULT[fmt],
        "auth": Fault.http_status(401),
        "not_found": Fault.http_status(404, message="model mock-model not found"),
    }[case]
    server.enqueue(fault)
    with pytest.raises(error) as info:
        ai_once.chat_completion(ask())
    assert type(info.value) is error and info.value.status_code == fault.status
    assert info.value.message == (fault.message or f"mock error {fault.status}")  # read from the format's error body
    if case == "rate_limit":
        assert info.value.retry_after == 3.0


def test_wrong_key_is_an_authentication_error_that_hides_the_key(fmt: str, server: MockProvider) -> None:
    """A wrong key gets the format's 401 body, classified as AuthenticationError, with the key in no message."""
    wrong = "sk-wrong-key-0123456789abcdef"
    client = AiClient(server.provider(api_key=wrong))
    with pytest.raises(AuthenticationError) as info:
        client.chat_completion(ask())
    assert wrong not in str(info.value) and wrong not in repr(info.value)


def test_error_event_before_content_is_retried_transparently(fmt: str, server: MockProvider, ai: AiClient) -> None:
    """An overload error event inside a 200 stream, before any content, is a failed attempt the client retries."""
    server.enqueue(Fault.error_event(after=0))
    with ai.chat_completion_stream(ask()) as stream:
        text = "".join(c.delta_text for c in stream)
    assert text == REPLY and server.request_count == 2
    assert [a.outcome for a in stream.attempts] == ["error", "ok"]
    assert isinstance(stream.attempts[0].error, ProviderError)


def test_error_event_after_content_interrupts_with_partial_text(fmt: str, server: MockProvider, ai: AiClient) -> None:
    """An error event after the first content chunk raises StreamInterruptedError with the text delivered so far."""
    server.enqueue(Fault.error_event(after=1))
    got = []
    with pytest.raises(StreamInterruptedError) as info:
        with ai.chat_completion_stream(ask()) as stream:
            for chunk in stream:
                got.append(chunk.delta_text)
    assert info.value.partial_text == "".join(got) == "Hello fr"
    assert isinstance(info.value.__cause__, ProviderError) and server.request_count == 1


def test_stream_cut_after_content_is_never_a_short_answer(fmt: str, server: MockProvider, ai: AiClient) -> None:
    """A stream that ends cleanly but without its terminal event, after content, raises StreamInterruptedError."""
    server.enqueue(Fault.cut_stream(after=2))
    with pytest.raises(StreamInterruptedError) as info:
        with ai.chat_completion_stream(ask()) as stream:
            for _ in stream:
                pass
    assert info.value.partial_text == "Hello from MockP"


# -- custom providers in every format ---------------------------------------------------------------


@pytest.mark.parametrize("wire", NATIVE)
def test_custom_provider_builder_speaks_each_native_format(wire: str) -> None:
    """CustomProviderBuilder(...).with_wire_format(fmt) talks to a gateway in that format, plain and streamed."""
    with MockProvider(wire, api_key=KEY) as server:
        provider = (
            CustomProviderBuilder("my-gateway")
            .with_base_url(server.url)
            .with_wire_format(wire)
            .with_api_key(KEY)
            .with_default_chat_model("gw-model")
            .build_provider()
        )
        with AiClient(provider) as client:
            assert client.chat_completion(ask()).text == REPLY
            assert client.chat_completion_stream(ask()).collect().text == REPLY
        first = server.chat_requests[0]
        header, value = AUTH[wire]
        assert first.headers[header] == value
        if wire == "gemini":
            assert first.path == "/v1beta/models/gw-model:generateContent"
        else:
            assert first.json["model"] == "gw-model"


def test_anthropic_gets_a_default_max_tokens_on_the_wire() -> None:
    """Anthropic requires max_tokens: a request without one still sends the documented default."""
    with MockProvider("anthropic", api_key=KEY) as server, AiClient(server.provider(api_key=KEY)) as client:
        client.chat_completion(ask())
        client.chat_completion(ask(max_tokens=50))
        assert [r.json["max_tokens"] for r in server.chat_requests] == [4096, 50]
        assert server.chat_requests[0].headers["anthropic-version"] == "2023-06-01"
