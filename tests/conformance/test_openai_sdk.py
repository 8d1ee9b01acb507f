"""The `openai` SDK against MockProvider("openai"): what it gets from api.openai.com."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from ailib.testing import Fault, MockProvider, Reply

from .conftest import KEY, TEXT, TOOL, WEATHER_TOOL_SCHEMA, served

openai = pytest.importorskip("openai")

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather", "parameters": WEATHER_TOOL_SCHEMA}}]


@pytest.fixture(scope="module")
def module_mock() -> Iterator[MockProvider]:
    yield from served("openai")


@pytest.fixture
def mock(module_mock: MockProvider) -> MockProvider:
    module_mock.reset()
    return module_mock


@pytest.fixture
def sdk(mock: MockProvider):
    client = openai.OpenAI(api_key=KEY, base_url=mock.base_url, max_retries=0, timeout=10)
    yield client
    client.close()


def create(sdk, stream: bool = False, **kw):
    return sdk.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=stream, **kw)


def test_completion_with_a_system_prompt(sdk, mock: MockProvider) -> None:
    """A completion returns the reply text, and the system message reaches the server first."""
    completion = create(sdk)
    assert completion.choices[0].message.content == TEXT and completion.choices[0].finish_reason == "stop"
    assert mock.chat_requests[0].json["messages"][0] == {"role": "system", "content": "Be brief."}


def test_stream_without_usage_has_a_choice_in_every_chunk(sdk) -> None:
    """Without stream_options, the common loop `chunk.choices[0].delta.content` runs to the end and no chunk carries usage."""
    chunks = list(create(sdk, stream=True))
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks)
    assert text == TEXT and all(chunk.usage is None for chunk in chunks)


def test_stream_with_usage_ends_with_a_usage_chunk(sdk) -> None:
    """With stream_options.include_usage, the last chunk has no choices and the usage; the others have usage None."""
    chunks = list(create(sdk, stream=True, stream_options={"include_usage": True}))
    *body, last = chunks
    assert last.choices == [] and (last.usage.prompt_tokens, last.usage.completion_tokens, last.usage.total_tokens) == (11, 7, 18)
    assert all(c.usage is None and len(c.choices) == 1 for c in body)
    assert "".join(c.choices[0].delta.content or "" for c in body) == TEXT


def test_tool_calls(sdk, mock: MockProvider) -> None:
    """A tool-call answer has finish_reason tool_calls, no content, and arguments as a JSON string."""
    mock.enqueue(Fault.ok("", tool_calls=(TOOL,)))
    message = create(sdk, tools=TOOLS).choices[0]
    call = message.message.tool_calls[0]
    assert message.finish_reason == "tool_calls" and message.message.content is None
    assert (call.id, call.type, call.function.name, json.loads(call.function.arguments)) == (TOOL[0], "function", TOOL[1], TOOL[2])


def test_tool_calls_streamed(sdk, mock: MockProvider) -> None:
    """Streamed tool-call deltas carry id and name first, then argument pieces that join into the JSON."""
    mock.enqueue(Fault.ok("", tool_calls=(TOOL,)))
    calls: dict = {}
    finish = None
    for chunk in create(sdk, stream=True, tools=TOOLS):
        choice = chunk.choices[0]
        finish = choice.finish_reason or finish
        for d in choice.delta.tool_calls or ():
            entry = calls.setdefault(d.index, {"id": None, "name": None, "arguments": ""})
            entry["id"] = d.id or entry["id"]
            entry["name"] = (d.function.name if d.function else None) or entry["name"]
            entry["arguments"] += (d.function.arguments or "") if d.function else ""
    assert finish == "tool_calls"
    assert [(c["id"], c["name"], json.loads(c["arguments"])) for c in calls.values()] == [TOOL]


def test_usage_fields(sdk) -> None:
    """usage has prompt, completion and total tokens."""
    usage = create(sdk).usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (11, 7, 18)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_429_with_retry_after(sdk, mock: MockProvider, stream: bool) -> None:
    """A 429 raises RateLimitError with the Retry-After header, the error body's message and the request id."""
    mock.enqueue(Fault.http_status(429, retry_after="7", message="Rate limit reached"))
    with pytest.raises(openai.RateLimitError) as info:
        list(create(sdk, stream=True)) if stream else create(sdk)
    err = info.value
    assert err.status_code == 429 and err.response.headers["retry-after"] == "7"
    assert err.body["message"] == "Rate limit reached" and (err.body["type"], err.body["code"]) == ("requests", "rate_limit_exceeded")
    assert err.request_id and err.request_id.startswith("req_mock")


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_500(sdk, mock: MockProvider, stream: bool) -> None:
    """A 500 raises InternalServerError with the error body's type."""
    mock.enqueue(Fault.http_status(500))
    with pytest.raises(openai.InternalServerError) as info:
        list(create(sdk, stream=True)) if stream else create(sdk)
    assert info.value.status_code == 500 and info.value.body["type"] == "server_error"


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_401_for_a_wrong_key(mock: MockProvider, stream: bool) -> None:
    """A wrong key raises AuthenticationError."""
    sdk = openai.OpenAI(api_key="sk-wrong", base_url=mock.base_url, max_retries=0)
    with pytest.raises(openai.AuthenticationError) as info:
        list(create(sdk, stream=True)) if stream else create(sdk)
    assert info.value.status_code == 401


def test_mid_stream_failure_is_an_error_object_the_sdk_raises(sdk, mock: MockProvider) -> None:
    """OpenAI signals a failure inside a 200 stream as a data line holding an error object: the SDK raises APIError after the first content."""
    mock.enqueue(Fault.error_event(after=1, error_type="server_error", message="The server had an error"))
    got = []
    with pytest.raises(openai.APIError, match="The server had an error"):
        for chunk in create(sdk, stream=True):
            got.append(chunk.choices[0].delta.content or "")
    assert "".join(got) and TEXT.startswith("".join(got))


def test_models_list(sdk) -> None:
    """models.list pages through the mock's models."""
    assert [m.id for m in sdk.models.list()] == ["mock-model", "mock-model-large"]


def test_request_ids(sdk) -> None:
    """Each response's _request_id is the x-request-id header, one per request."""
    first, second = create(sdk), create(sdk)
    assert first._request_id.startswith("req_mock") and first._request_id != second._request_id


def test_empty_messages_are_refused_as_openai_does(sdk) -> None:
    """An empty messages list raises BadRequestError with param messages."""
    with pytest.raises(openai.BadRequestError) as info:
        sdk.chat.completions.create(model="gpt-4o-mini", messages=[])
    assert info.value.body["param"] == "messages" and info.value.body["code"] == "empty_array"


def test_usage_details_as_the_sdk_reads_them(sdk, mock: MockProvider) -> None:
    """The mock's cached and reasoning tokens are where the SDK's CompletionUsage types put them."""
    mock.enqueue(Fault("ok", reply=Reply(TEXT, prompt_tokens=100, completion_tokens=30, cached_tokens=60, reasoning_tokens=12)))
    usage = create(sdk).usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (100, 30, 130)
    assert (usage.prompt_tokens_details.cached_tokens, usage.completion_tokens_details.reasoning_tokens) == (60, 12)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_a_real_shaped_429(sdk, mock: MockProvider, stream: bool) -> None:
    """Fault.rate_limited: RateLimitError with type "requests", code "rate_limit_exceeded", x-ratelimit-* and retry-after."""
    mock.enqueue(Fault.rate_limited(20))
    with pytest.raises(openai.RateLimitError) as info:
        list(create(sdk, stream=True)) if stream else create(sdk)
    err = info.value
    assert (err.type, err.code) == ("requests", "rate_limit_exceeded") and "Please try again in 20s." in err.message
    assert err.response.headers["retry-after"] == "20" and err.response.headers["x-ratelimit-remaining-requests"] == "0"
