"""The pre-call context check over real loopback MockProviders: a request surely larger than
its model's context window is not sent; it goes to the step a ContextLengthExceededError
would select, or raises that error."""

from __future__ import annotations

import pytest

from ailib import (
    AiClientBuilder,
    ChatCompletionRequest,
    ContextLengthExceededError,
    FallbackChain,
    Message,
    Provider,
)
from ailib.routing.context import ContextWindows, estimate_request_tokens
from ailib.testing import MockProvider

BIG = "word " * 8_000  # 40,000 characters: about 10,000 tokens, over gpt-4's 8,192


def req(model: str, text: str = BIG, **kw) -> ChatCompletionRequest:
    return ChatCompletionRequest(model, [Message.user(text)], **kw)


@pytest.fixture
def openai_anthropic(monkeypatch):
    with MockProvider("openai", name="openai") as oa, MockProvider("anthropic", name="anthropic") as an:
        monkeypatch.setenv("OPENAI_BASE_URL", oa.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-openai-0123456789")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", an.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-0123456789")
        yield oa, an


def test_an_oversized_request_goes_straight_to_the_step_a_context_error_selects(openai_anthropic):
    """10,000 estimated tokens for gpt-4 (8,192): OpenAI is never called; the on_condition(context) step on Claude answers."""
    oa, an = openai_anthropic
    chain = (
        FallbackChain()
        .primary("gpt-4")
        .on_condition(lambda e: isinstance(e, ContextLengthExceededError))
        .fallback("anthropic/claude-3-haiku")
    )
    with AiClientBuilder(Provider.OPENAI).fallback(chain).build() as client:
        resp = client.chat_completion(req("gpt-4"))
    assert resp.provider == "anthropic" and oa.request_count == 0 and an.request_count == 1
    assert [a.outcome for a in resp.attempts] == ["skipped", "ok"] and isinstance(resp.attempts[0].error, ContextLengthExceededError)


def test_without_a_matching_step_the_error_is_raised_unsent(openai_anthropic):
    """A plain client: the oversized gpt-4 request raises ContextLengthExceededError with no request made."""
    oa, _ = openai_anthropic
    with AiClientBuilder(Provider.OPENAI).build() as client:
        with pytest.raises(ContextLengthExceededError, match="8192"):
            client.chat_completion(req("gpt-4"))
        client.chat_completion(req("gpt-4o"))  # 128k: fits and is sent
    assert oa.request_count == 1


def test_max_tokens_counts_toward_the_window(openai_anthropic):
    """A 100-character prompt with max_tokens=9000 does not fit gpt-4's 8,192 and is not sent."""
    oa, _ = openai_anthropic
    with AiClientBuilder(Provider.OPENAI).build() as client, pytest.raises(ContextLengthExceededError):
        client.chat_completion(req("gpt-4", "x" * 100, max_tokens=9000))
    assert oa.request_count == 0


def test_own_windows_cover_any_endpoint_and_the_check_can_be_turned_off():
    """with_context_windows({"house-model": 50}) refuses a 400-character prompt on a custom provider; check=False sends it."""
    with MockProvider() as mock:
        with AiClientBuilder(mock.provider()).with_context_windows({"house-model": 50}).build() as client:
            with pytest.raises(ContextLengthExceededError):
                client.chat_completion(req("house-model-v2", "y" * 400))
        with AiClientBuilder(mock.provider()).with_context_windows({"house-model": 50}, check=False).build() as client:
            client.chat_completion(req("house-model-v2", "y" * 400))
    assert mock.request_count == 1


def test_the_built_in_table_applies_to_first_party_providers_only():
    """gpt-4 has a window on OpenAI, none on a custom provider or Azure (deployment names mean anything)."""
    from ailib.providers._registry import PROVIDERS

    windows = ContextWindows()
    assert windows.window(PROVIDERS[Provider.OPENAI], "gpt-4-0613") == 8192
    assert windows.window(PROVIDERS[Provider.OPENAI], "gpt-4o-2024-08-06") == 128_000
    assert windows.window(PROVIDERS[Provider.AZURE_OPENAI], "gpt-4") is None
    assert windows.window(PROVIDERS[Provider.OPENAI], "gpt-4.5-preview") is None  # no entry: not checked
    assert estimate_request_tokens(req("m", "abcd" * 10, max_tokens=5)) == 15
