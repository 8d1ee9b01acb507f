"""Refusals and response metadata end to end: MockProvider speaking OpenAI and Anthropic over loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ailib import AiClient, AiClientBuilder, ChatCompletionRequest, FallbackChain, Message, RetryPolicy
from ailib.errors import ContentFilteredError
from ailib.testing import Fault, MockProvider

KEY = "sk-test-refusal-0123456789abcdef"
FAST = RetryPolicy(initial_delay=0.01, max_delay=0.05)
REFUSAL = "I'm sorry, but I can't help with that."


@pytest.fixture(params=("openai", "anthropic"))
def server(request: pytest.FixtureRequest) -> Iterator[MockProvider]:
    with MockProvider(request.param, api_key=KEY) as m:
        yield m


@pytest.fixture
def ai(server: MockProvider) -> Iterator[AiClient]:
    c = AiClientBuilder(server.provider(api_key=KEY)).with_retry(FAST).build()
    yield c
    c.close()


def ask() -> ChatCompletionRequest:
    return ChatCompletionRequest("auto", [Message.user("hi")])


def test_refusal_is_its_own_outcome(server: MockProvider, ai: AiClient) -> None:
    """A refused call returns finish_reason "refusal" and the refusal text, never an empty success; first_text() raises."""
    server.enqueue(Fault.refused(REFUSAL))
    resp = ai.chat_completion(ask())
    assert (resp.finish_reason, resp.refusal, resp.text) == ("refusal", REFUSAL, "")
    with pytest.raises(ContentFilteredError, match="refused"):
        resp.first_text()


def test_streamed_refusal_is_its_own_outcome(server: MockProvider, ai: AiClient) -> None:
    """A streamed refusal delivers its text on chunks (past the commit point) and collects to a refusal."""
    server.enqueue(Fault.refused(REFUSAL))
    with ai.chat_completion_stream(ask()) as stream:
        chunks = list(stream)
        assert stream.finish_reason == "refusal" and stream.refusal == REFUSAL and stream.text == ""
    assert chunks[-1].finish_reason == "refusal"
    resp = stream.collect()
    assert (resp.finish_reason, resp.refusal) == ("refusal", REFUSAL)
    if server.format.name == "openai":  # OpenAI streams the refusal text piece by piece
        assert "".join(c.refusal or "" for c in chunks) == REFUSAL
    else:  # Anthropic says it once, as stop_details' explanation, on the last chunk
        assert chunks[-1].refusal == REFUSAL and resp.choices[0].refusal_details == {
            "type": "refusal",
            "category": None,
            "explanation": REFUSAL,
        }


def test_success_exposes_headers_request_id_and_ids(server: MockProvider, ai: AiClient) -> None:
    """A response and a stream expose the answer's headers, its request id and the response id; no credential among them."""
    resp = ai.chat_completion(ask())
    rid = resp.request_id
    assert rid and resp.headers[server.format.request_id_header] == rid
    assert resp.headers["Content-Type"].startswith("application/json")
    assert not any(KEY in v for v in resp.headers.values())
    with ai.chat_completion_stream(ask()) as stream:
        assert stream.request_id and stream.request_id != rid
        list(stream)
    collected = stream.collect()
    assert stream.id and collected.id == stream.id and collected.request_id == stream.request_id


def test_on_condition_step_takes_a_refusal(server: MockProvider) -> None:
    """A FallbackChain on_condition predicate sees a refusal as ContentFilteredError and moves the chain on; an `always` step before it does not."""
    chain = (
        FallbackChain()
        .primary("mock-model")
        .always("mock-model-always")
        .on_condition(lambda err: isinstance(err, ContentFilteredError) and "refused" in err.message)
        .fallback("mock-model-large")
    )
    c = AiClientBuilder(server.provider(api_key=KEY)).with_retry(FAST).fallback(chain).build()
    try:
        server.enqueue(Fault.refused(REFUSAL))
        resp = c.chat_completion(ask())
        assert resp.finish_reason == "stop" and resp.model == "mock-model-large"
        assert [a.model for a in resp.attempts] == ["mock-model", "mock-model-large"]
    finally:
        c.close()


def test_refusal_is_the_answer_when_no_condition_takes_it(server: MockProvider) -> None:
    """Built-in conditions act on failures only: with `always` and `on_error` steps, a refusal is returned as the answer."""
    chain = FallbackChain().primary("mock-model").on_error("mock-model-large").always("mock-model-always")
    c = AiClientBuilder(server.provider(api_key=KEY)).with_retry(FAST).fallback(chain).build()
    try:
        server.enqueue(Fault.refused(REFUSAL))
        resp = c.chat_completion(ask())
        assert (resp.finish_reason, resp.refusal, len(resp.attempts)) == ("refusal", REFUSAL, 1)
    finally:
        c.close()


def test_mock_scripts_name_a_refusal() -> None:
    """A text or JSON fault script can ask MockProvider for a refusal."""
    from ailib.testing._script import faults_from_json, parse_faults

    assert parse_faults("refused") == [Fault.refused()]
    assert faults_from_json([{"fault": "refused", "text": "No."}]) == [Fault.refused("No.")]
