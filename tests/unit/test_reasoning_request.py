"""``ChatCompletionRequest(reasoning=...)``: checked when built, mapped to each format's own field."""

from __future__ import annotations

from typing import Any

import pytest

from ailib import ChatCompletionRequest, Message
from ailib.errors import InvalidRequestError
from ailib.providers._registry import PROVIDERS, Provider
from ailib.providers.anthropic import WIRE_FORMAT as ANTHROPIC
from ailib.providers.cohere import WIRE_FORMAT as COHERE
from ailib.providers.gemini import WIRE_FORMAT as GEMINI
from ailib.providers.openai import WIRE_FORMAT as OPENAI


def request(**kw: Any) -> ChatCompletionRequest:
    return ChatCompletionRequest("m", [Message.user("hi")], **kw)


def body(fmt: Any, provider: Provider, **kw: Any) -> dict[str, Any]:
    spec = PROVIDERS[provider]
    req = request(**kw)
    fmt.check_supported(req, spec, stream=False)
    return fmt.encode(req, "m", stream=False, spec=spec)


@pytest.mark.parametrize("bad", ["max", "", 0, -5, True, 1.5, {"effort": "high"}])
def test_a_bad_reasoning_is_refused_when_built(bad: Any) -> None:
    """Only "low", "medium", "high" or a positive int budget; anything else raises InvalidRequestError at construction."""
    with pytest.raises(InvalidRequestError, match="reasoning"):
        request(reasoning=bad)


def test_openai_format_gets_reasoning_effort() -> None:
    """An effort goes as reasoning_effort; a budget as the effort it falls in; none sends nothing."""
    assert body(OPENAI, Provider.OPENAI, reasoning="high")["reasoning_effort"] == "high"
    assert [body(OPENAI, Provider.OPENAI, reasoning=n)["reasoning_effort"] for n in (512, 1024, 4000, 20000)] == [
        "low",
        "low",
        "medium",
        "high",
    ]
    assert "reasoning_effort" not in body(OPENAI, Provider.OPENAI)


def test_anthropic_gets_a_thinking_budget_below_max_tokens() -> None:
    """thinking.budget_tokens from the budget (or the effort's); max_tokens defaults above it; one at or below it is refused."""
    sent = body(ANTHROPIC, Provider.ANTHROPIC, reasoning="medium")
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 4096} and sent["max_tokens"] > 4096
    sent = body(ANTHROPIC, Provider.ANTHROPIC, reasoning=2000, max_tokens=3000)
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 2000} and sent["max_tokens"] == 3000
    with pytest.raises(InvalidRequestError, match="above the thinking budget"):
        body(ANTHROPIC, Provider.ANTHROPIC, reasoning="high", max_tokens=1000)
    assert "thinking" not in body(ANTHROPIC, Provider.ANTHROPIC)


def test_gemini_gets_a_thinking_config_beside_the_rest() -> None:
    """An effort is thinkingLevel, a budget thinkingBudget; the rest of generationConfig stays."""
    config = body(GEMINI, Provider.GEMINI, reasoning="low", max_tokens=100)["generationConfig"]
    assert config == {"maxOutputTokens": 100, "thinkingConfig": {"thinkingLevel": "low"}}
    config = body(GEMINI, Provider.GEMINI, reasoning=2048, extra={"generationConfig": {"thinkingConfig": {"includeThoughts": True}}})[
        "generationConfig"
    ]
    assert config == {"thinkingConfig": {"thinkingBudget": 2048, "includeThoughts": True}}


def test_cohere_gets_a_thinking_token_budget() -> None:
    """Cohere's thinking takes a token budget (an effort as its budget)."""
    assert body(COHERE, Provider.COHERE, reasoning="low")["thinking"] == {"type": "enabled", "token_budget": 1024}
    assert "thinking" not in body(COHERE, Provider.COHERE)


def test_reasoning_survives_to_dict_and_from_dict() -> None:
    """An effort is written as reasoning_effort, a budget as ailib's reasoning_budget, and both read back."""
    for value in ("high", 3000):
        req = request(reasoning=value)
        assert ChatCompletionRequest.from_dict(req.to_dict()).reasoning == value
