"""The `cohere` SDK (ClientV2) against MockProvider("cohere"): what it gets from api.cohere.com."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from ailib.testing import Fault, MockProvider

from .conftest import KEY, TEXT, TOOL, WEATHER_TOOL_SCHEMA, served

cohere = pytest.importorskip("cohere")
from cohere.core.api_error import ApiError  # noqa: E402

MODEL = "command-r-plus"
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather", "parameters": WEATHER_TOOL_SCHEMA}}]
NO_RETRY = {"max_retries": 0}


@pytest.fixture(scope="module")
def module_mock() -> Iterator[MockProvider]:
    yield from served("cohere")


@pytest.fixture
def mock(module_mock: MockProvider) -> MockProvider:
    module_mock.reset()
    return module_mock


@pytest.fixture
def sdk(mock: MockProvider):
    return cohere.ClientV2(api_key=KEY, base_url=mock.url, timeout=10)


def chat(sdk, stream: bool = False, **kw):
    if stream:
        return list(sdk.chat_stream(model=MODEL, messages=MESSAGES, request_options=NO_RETRY, **kw))
    return sdk.chat(model=MODEL, messages=MESSAGES, request_options=NO_RETRY, **kw)


def test_completion_with_a_system_prompt(sdk, mock: MockProvider) -> None:
    """chat returns the text with finish reason COMPLETE; the system message reaches the server first."""
    response = chat(sdk)
    assert response.message.content[0].text == TEXT and response.finish_reason == "COMPLETE"
    assert mock.chat_requests[0].json["messages"][0] == {"role": "system", "content": "Be brief."}


def test_stream_carries_usage_without_being_asked(sdk, caplog: pytest.LogCaptureFixture) -> None:
    """A stream (Cohere always reports usage) parses into known events only: the deltas join into the text, message-end has usage."""
    with caplog.at_level(logging.WARNING):
        events = chat(sdk, stream=True)
    text = "".join(e.delta.message.content.text for e in events if e.type == "content-delta")
    end = events[-1]
    assert text == TEXT and events[0].type == "message-start" and end.type == "message-end"
    assert end.delta.finish_reason == "COMPLETE" and end.delta.usage.tokens.output_tokens == 7
    assert not caplog.records


def test_tool_calls(sdk, mock: MockProvider) -> None:
    """A tool-call answer has finish reason TOOL_CALL, a tool plan, and arguments as a JSON string."""
    mock.enqueue(Fault.ok("", tool_calls=(TOOL,)))
    response = chat(sdk, tools=TOOLS)
    call = response.message.tool_calls[0]
    assert response.finish_reason == "TOOL_CALL" and response.message.tool_plan
    assert (call.id, call.function.name, json.loads(call.function.arguments)) == TOOL


def test_tool_calls_streamed(sdk, mock: MockProvider) -> None:
    """tool-call-start names the call; tool-call-delta pieces join into the arguments; finish reason TOOL_CALL."""
    mock.enqueue(Fault.ok("", tool_calls=(TOOL,)))
    events = chat(sdk, stream=True, tools=TOOLS)
    start = next(e for e in events if e.type == "tool-call-start").delta.message.tool_calls
    arguments = "".join(e.delta.message.tool_calls.function.arguments for e in events if e.type == "tool-call-delta")
    assert (start.id, start.function.name, json.loads(arguments)) == TOOL
    assert events[-1].delta.finish_reason == "TOOL_CALL"


def test_usage_fields(sdk) -> None:
    """usage has billed units and tokens, input and output."""
    usage = chat(sdk).usage
    assert (usage.tokens.input_tokens, usage.tokens.output_tokens) == (11, 7)
    assert (usage.billed_units.input_tokens, usage.billed_units.output_tokens) == (11, 7)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_429_with_retry_after(sdk, mock: MockProvider, stream: bool) -> None:
    """A 429 raises TooManyRequestsError with the Retry-After header and the error body's message."""
    mock.enqueue(Fault.http_status(429, retry_after="7", message="too many requests"))
    with pytest.raises(cohere.TooManyRequestsError) as info:
        chat(sdk, stream=stream)
    err = info.value
    assert err.status_code == 429 and err.headers["retry-after"] == "7" and err.body["message"] == "too many requests"


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_500(sdk, mock: MockProvider, stream: bool) -> None:
    """A 500 raises InternalServerError."""
    mock.enqueue(Fault.http_status(500))
    with pytest.raises(cohere.InternalServerError) as info:
        chat(sdk, stream=stream)
    assert info.value.status_code == 500


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_401_for_a_wrong_key(mock: MockProvider, stream: bool) -> None:
    """A wrong key raises UnauthorizedError."""
    with pytest.raises(cohere.UnauthorizedError) as info:
        chat(cohere.ClientV2(api_key="wrong-key", base_url=mock.url), stream=stream)
    assert info.value.status_code == 401


def test_mid_stream_failure_ends_with_finish_reason_error(sdk, mock: MockProvider, caplog: pytest.LogCaptureFixture) -> None:
    """Cohere has no error event: a failed generation ends with message-end, finish_reason ERROR and the error text, which the SDK parses."""
    mock.enqueue(Fault.error_event(after=1, message="internal generation failure"))
    with caplog.at_level(logging.WARNING):
        events = chat(sdk, stream=True)
    assert any(e.type == "content-delta" for e in events) and events[-1].type == "message-end"
    assert (events[-1].delta.finish_reason, events[-1].delta.error) == ("ERROR", "internal generation failure")
    assert not caplog.records


def test_models_list(sdk) -> None:
    """models.list gives the mock's chat models."""
    assert [m.name for m in sdk.models.list().models] == ["mock-model", "mock-model-large"]


def test_request_ids(sdk, mock: MockProvider) -> None:
    """Each response has its id, and an error's headers carry the x-request-id of its request."""
    assert chat(sdk).id == "mock-chat-1"
    mock.enqueue(Fault.http_status(500))
    with pytest.raises(ApiError) as info:
        chat(sdk)
    assert info.value.headers["x-request-id"].startswith("req_mock")


def test_empty_messages_are_refused_as_cohere_does(sdk) -> None:
    """An empty messages list raises BadRequestError with Cohere's {"id", "message"} body."""
    with pytest.raises(cohere.BadRequestError) as info:
        sdk.chat(model=MODEL, messages=[], request_options=NO_RETRY)
    assert "messages" in info.value.body["message"]


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_a_real_shaped_429(sdk, mock: MockProvider, stream: bool) -> None:
    """Fault.rate_limited: TooManyRequestsError whose body is Cohere's trial-key message."""
    mock.enqueue(Fault.rate_limited(20))
    with pytest.raises(cohere.TooManyRequestsError) as info:
        chat(sdk, stream=stream)
    assert info.value.status_code == 429 and info.value.body["message"].startswith("You are using a Trial key")
