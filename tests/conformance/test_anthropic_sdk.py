"""The `anthropic` SDK against MockProvider("anthropic"): what it gets from api.anthropic.com."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ailib.testing import Fault, MockProvider, Reply

from .conftest import KEY, TEXT, TOOL, WEATHER_TOOL_SCHEMA, served

anthropic = pytest.importorskip("anthropic")

MESSAGES = [{"role": "user", "content": "hi"}]
TOOLS = [{"name": "get_weather", "description": "Weather", "input_schema": WEATHER_TOOL_SCHEMA}]


@pytest.fixture(scope="module")
def module_mock() -> Iterator[MockProvider]:
    yield from served("anthropic")


@pytest.fixture
def mock(module_mock: MockProvider) -> MockProvider:
    module_mock.reset()
    return module_mock


@pytest.fixture
def sdk(mock: MockProvider):
    client = anthropic.Anthropic(api_key=KEY, base_url=mock.url, max_retries=0, timeout=10)
    yield client
    client.close()


def create(sdk, stream: bool = False, **kw):
    return sdk.messages.create(model="claude-3-5-haiku-latest", max_tokens=64, messages=MESSAGES, stream=stream, **kw)


def test_completion_with_a_system_prompt(sdk, mock: MockProvider) -> None:
    """A message returns the reply text with stop_reason end_turn; the top-level system prompt reaches the server."""
    message = create(sdk, system="Be brief.")
    assert message.content[0].text == TEXT and message.stop_reason == "end_turn" and message.role == "assistant"
    assert mock.chat_requests[0].json["system"] == "Be brief."


def test_stream_reports_usage_without_being_asked(sdk) -> None:
    """A streamed message (Anthropic always streams usage) gives the text and the final usage through the SDK's helper."""
    with sdk.messages.stream(model="claude-3-5-haiku-latest", max_tokens=64, messages=MESSAGES) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == TEXT and final.usage.input_tokens == 11 and final.usage.output_tokens == 7


def test_stream_event_sequence(sdk) -> None:
    """The raw events run message_start, content blocks, message_delta (stop reason, usage), message_stop."""
    types = [event.type for event in create(sdk, stream=True)]
    assert types[0] == "message_start" and types[-2:] == ["message_delta", "message_stop"]
    assert "content_block_start" in types and "content_block_delta" in types and "content_block_stop" in types


def test_tool_calls(sdk, mock: MockProvider) -> None:
    """A tool_use answer has stop_reason tool_use and the decoded input."""
    mock.enqueue(Fault.ok("", tool_calls=(TOOL,)))
    message = create(sdk, tools=TOOLS)
    block = message.content[0]
    assert message.stop_reason == "tool_use" and (block.type, block.id, block.name, block.input) == ("tool_use", *TOOL)


def test_tool_calls_streamed(sdk, mock: MockProvider) -> None:
    """Streamed input_json_delta pieces join into the tool input in the SDK's final message."""
    mock.enqueue(Fault.ok("", tool_calls=(TOOL,)))
    with sdk.messages.stream(model="claude-3-5-haiku-latest", max_tokens=64, messages=MESSAGES, tools=TOOLS) as stream:
        final = stream.get_final_message()
    block = final.content[0]
    assert final.stop_reason == "tool_use" and (block.id, block.name, block.input) == TOOL


def test_usage_fields(sdk) -> None:
    """usage has input and output tokens."""
    usage = create(sdk).usage
    assert (usage.input_tokens, usage.output_tokens) == (11, 7)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_429_with_retry_after(sdk, mock: MockProvider, stream: bool) -> None:
    """A 429 raises RateLimitError with Retry-After, the rate_limit_error type and the request id."""
    mock.enqueue(Fault.http_status(429, retry_after="7", message="Rate limited"))
    with pytest.raises(anthropic.RateLimitError) as info:
        list(create(sdk, stream=True)) if stream else create(sdk)
    err = info.value
    assert err.status_code == 429 and err.response.headers["retry-after"] == "7"
    assert err.body["error"] == {"type": "rate_limit_error", "message": "Rate limited"}
    assert err.request_id and err.request_id.startswith("req_mock")


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_500(sdk, mock: MockProvider, stream: bool) -> None:
    """A 500 raises InternalServerError with the api_error type."""
    mock.enqueue(Fault.http_status(500))
    with pytest.raises(anthropic.InternalServerError) as info:
        list(create(sdk, stream=True)) if stream else create(sdk)
    assert info.value.status_code == 500 and info.value.body["error"]["type"] == "api_error"


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_401_for_a_wrong_key(mock: MockProvider, stream: bool) -> None:
    """A wrong key raises AuthenticationError with the authentication_error type."""
    sdk = anthropic.Anthropic(api_key="sk-wrong", base_url=mock.url, max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as info:
        list(create(sdk, stream=True)) if stream else create(sdk)
    assert info.value.status_code == 401 and info.value.body["error"]["type"] == "authentication_error"


def test_mid_stream_failure_is_an_error_event_the_sdk_raises(sdk, mock: MockProvider) -> None:
    """Anthropic signals an overload inside a 200 stream with an `error` event: the SDK raises APIStatusError (overloaded_error)."""
    mock.enqueue(Fault.error_event(after=1))
    seen = []
    with pytest.raises(anthropic.APIStatusError) as info:
        for event in create(sdk, stream=True):
            seen.append(event.type)
    assert "content_block_delta" in seen and info.value.body["error"]["type"] == "overloaded_error"


def test_models_list(sdk) -> None:
    """models.list gives the mock's models."""
    assert [m.id for m in sdk.models.list()] == ["mock-model", "mock-model-large"]


def test_request_ids(sdk) -> None:
    """Each message's _request_id is the request-id header, one per request."""
    first, second = create(sdk), create(sdk)
    assert first._request_id.startswith("req_mock") and first._request_id != second._request_id


def test_count_tokens(sdk) -> None:
    """messages.count_tokens is served (it used to be an OpenAI-shaped 404)."""
    assert sdk.messages.count_tokens(model="claude-3-5-haiku-latest", messages=MESSAGES).input_tokens > 0


def test_a_system_role_message_is_refused_as_anthropic_does(sdk) -> None:
    """A "system" role inside messages raises BadRequestError with the invalid_request_error type."""
    with pytest.raises(anthropic.BadRequestError) as info:
        sdk.messages.create(model="claude-3-5-haiku-latest", max_tokens=64, messages=[{"role": "system", "content": "x"}])
    assert info.value.body["error"]["type"] == "invalid_request_error" and "system" in info.value.body["error"]["message"]


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_cache_usage_as_the_sdk_reads_it(sdk, mock: MockProvider, stream: bool) -> None:
    """The mock's cache reads and writes are separate from input_tokens, as the SDK's Usage type reads them."""
    mock.enqueue(Fault("ok", reply=Reply(TEXT, prompt_tokens=100, completion_tokens=30, cached_tokens=60, cache_write_tokens=20)))
    if stream:
        with sdk.messages.stream(model="claude-3-5-haiku-latest", max_tokens=64, messages=MESSAGES) as s:
            usage = s.get_final_message().usage
    else:
        usage = create(sdk).usage
    assert (usage.input_tokens, usage.cache_read_input_tokens, usage.cache_creation_input_tokens, usage.output_tokens) == (20, 60, 20, 30)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_a_real_shaped_429(sdk, mock: MockProvider, stream: bool) -> None:
    """Fault.rate_limited: RateLimitError with rate_limit_error, the body's request_id equal to the SDK's, and retry-after."""
    mock.enqueue(Fault.rate_limited(20))
    with pytest.raises(anthropic.RateLimitError) as info:
        list(create(sdk, stream=True)) if stream else create(sdk)
    err = info.value
    assert err.body["error"]["type"] == "rate_limit_error" and err.body["request_id"] == err.request_id
    assert err.response.headers["retry-after"] == "20" and err.response.headers["anthropic-ratelimit-requests-remaining"] == "0"
