"""The `google-genai` SDK against MockProvider("gemini"): what it gets from generativelanguage.googleapis.com."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ailib.testing import Fault, MockProvider, Reply

from .conftest import KEY, TEXT, TOOL, served

genai = pytest.importorskip("google.genai")
from google.genai import errors, types  # noqa: E402

MODEL = "gemini-2.0-flash"


@pytest.fixture(scope="module")
def module_mock() -> Iterator[MockProvider]:
    yield from served("gemini")


@pytest.fixture
def mock(module_mock: MockProvider) -> MockProvider:
    module_mock.reset()
    return module_mock


def client_for(mock: MockProvider, key: str = KEY):
    options = types.HttpOptions(base_url=mock.url, timeout=10_000, retry_options=types.HttpRetryOptions(attempts=1))
    return genai.Client(api_key=key, http_options=options)


@pytest.fixture
def sdk(mock: MockProvider):
    return client_for(mock)


def generate(sdk, stream: bool = False, **config):
    kw = dict(model=MODEL, contents="hi", config=types.GenerateContentConfig(**config) if config else None)
    if stream:
        return list(sdk.models.generate_content_stream(**kw))
    return sdk.models.generate_content(**kw)


def test_completion_with_a_system_prompt(sdk, mock: MockProvider) -> None:
    """generate_content returns the text with finish reason STOP; the system instruction reaches the server."""
    response = generate(sdk, system_instruction="Be brief.")
    assert response.text == TEXT and response.candidates[0].finish_reason == types.FinishReason.STOP
    assert mock.chat_requests[0].json["systemInstruction"]["parts"][0]["text"] == "Be brief."
    assert mock.chat_requests[0].route.endswith(f"/models/{MODEL}:generateContent")


def test_stream_carries_usage_without_being_asked(sdk) -> None:
    """A stream (Gemini always reports usage) joins into the text, and its last chunk has the full usage."""
    chunks = generate(sdk, stream=True)
    assert "".join(c.text or "" for c in chunks) == TEXT
    usage = chunks[-1].usage_metadata
    assert (usage.prompt_token_count, usage.candidates_token_count, usage.total_token_count) == (11, 7, 18)
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP


def test_tool_calls(sdk, mock: MockProvider) -> None:
    """A function-call answer gives function_calls with name and args (Gemini sends no call id)."""
    mock.enqueue(Fault.ok("", tool_calls=(TOOL,)))
    response = generate(sdk)
    call = response.function_calls[0]
    assert (call.name, call.args) == (TOOL[1], TOOL[2])


def test_tool_calls_streamed(sdk, mock: MockProvider) -> None:
    """A streamed function call arrives whole in one chunk."""
    mock.enqueue(Fault.ok("", tool_calls=(TOOL,)))
    calls = [c for chunk in generate(sdk, stream=True) for c in (chunk.function_calls or ())]
    assert [(c.name, c.args) for c in calls] == [(TOOL[1], TOOL[2])]


def test_usage_fields(sdk) -> None:
    """usage_metadata has prompt, candidates and total token counts."""
    usage = generate(sdk).usage_metadata
    assert (usage.prompt_token_count, usage.candidates_token_count, usage.total_token_count) == (11, 7, 18)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_429_with_retry_after(sdk, mock: MockProvider, stream: bool) -> None:
    """A 429 raises ClientError with code 429, status RESOURCE_EXHAUSTED, and the Retry-After header on the response."""
    mock.enqueue(Fault.http_status(429, retry_after="7", message="Resource has been exhausted"))
    with pytest.raises(errors.ClientError) as info:
        generate(sdk, stream=stream)
    err = info.value
    assert (err.code, err.status, err.message) == (429, "RESOURCE_EXHAUSTED", "Resource has been exhausted")
    assert err.response.headers["retry-after"] == "7"


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_500(sdk, mock: MockProvider, stream: bool) -> None:
    """A 500 raises ServerError with status INTERNAL."""
    mock.enqueue(Fault.http_status(500))
    with pytest.raises(errors.ServerError) as info:
        generate(sdk, stream=stream)
    assert (info.value.code, info.value.status) == (500, "INTERNAL")


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_401_for_a_wrong_key(mock: MockProvider, stream: bool) -> None:
    """A wrong key raises ClientError 401 UNAUTHENTICATED."""
    with pytest.raises(errors.ClientError) as info:
        generate(client_for(mock, key="wrong-key"), stream=stream)
    assert (info.value.code, info.value.status) == (401, "UNAUTHENTICATED")


def test_mid_stream_failure_is_an_error_chunk_the_sdk_raises(sdk, mock: MockProvider) -> None:
    """Gemini ends a failed stream with a chunk holding its error object: the SDK raises APIError after the first text."""
    mock.enqueue(Fault.error_event(after=1))
    got = []
    with pytest.raises(errors.APIError) as info:
        for chunk in sdk.models.generate_content_stream(model=MODEL, contents="hi"):
            got.append(chunk.text)
    assert got and info.value.code == 503 and info.value.status == "UNAVAILABLE"


def test_models_list(sdk) -> None:
    """models.list gives the mock's models in Gemini's shape (names under models/)."""
    models = list(sdk.models.list())
    assert [m.name for m in models] == ["models/mock-model", "models/mock-model-large"]
    assert models[0].display_name == "Mock Model" and models[0].input_token_limit > 0


def test_request_ids(sdk) -> None:
    """Gemini identifies each response by its responseId, which the SDK exposes as response_id."""
    assert generate(sdk).response_id == "mock-response-1"


def test_an_unknown_role_is_refused_as_gemini_does(sdk) -> None:
    """A content with a role other than user/model raises ClientError 400 INVALID_ARGUMENT."""
    with pytest.raises(errors.ClientError) as info:
        sdk.models.generate_content(model=MODEL, contents=[types.Content(role="wizard", parts=[types.Part(text="hi")])])
    assert (info.value.code, info.value.status) == (400, "INVALID_ARGUMENT")


def test_usage_details_as_the_sdk_reads_them(sdk, mock: MockProvider) -> None:
    """The mock's cached and thought tokens are where the SDK's usage_metadata puts them; candidates exclude thoughts."""
    mock.enqueue(Fault("ok", reply=Reply(TEXT, prompt_tokens=100, completion_tokens=30, cached_tokens=60, reasoning_tokens=12)))
    usage = generate(sdk).usage_metadata
    assert (usage.prompt_token_count, usage.cached_content_token_count) == (100, 60)
    assert (usage.candidates_token_count, usage.thoughts_token_count, usage.total_token_count) == (18, 12, 130)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_a_real_shaped_429(sdk, mock: MockProvider, stream: bool) -> None:
    """Fault.rate_limited: ClientError 429 RESOURCE_EXHAUSTED whose details hold QuotaFailure and RetryInfo's retryDelay."""
    mock.enqueue(Fault.rate_limited(34.4))
    with pytest.raises(errors.ClientError) as info:
        generate(sdk, stream=stream)
    err = info.value
    assert (err.code, err.status) == (429, "RESOURCE_EXHAUSTED")
    retry = [d for d in err.details["error"]["details"] if d["@type"].endswith("google.rpc.RetryInfo")]
    assert retry == [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "34.4s"}]
