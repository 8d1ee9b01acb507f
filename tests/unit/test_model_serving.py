"""Which endpoints serve an explicitly named model (ailib.routing._serving)."""

from __future__ import annotations

import pytest

from ailib import CustomProviderBuilder, Provider
from ailib.providers._registry import PROVIDERS
from ailib.routing._serving import serves


@pytest.mark.parametrize(
    "provider, model, expected",
    [
        (Provider.GROQ, "gpt-4", False),  # an OpenAI-only family
        (Provider.MISTRAL, "claude-3-haiku", False),
        (Provider.OPENAI, "gpt-4", True),
        (Provider.AZURE_OPENAI, "gpt-4", True),  # deployments serve OpenAI models
        (Provider.OPENROUTER, "anthropic/claude-3-haiku", True),  # a gateway
        (Provider.OLLAMA, "qwen2.5:7b", True),
        (Provider.GROQ, "mixtral-8x7b-32768", True),  # open weights: many hosts
        (Provider.GROQ, "llama-3.3-70b-versatile", True),  # no known owner
        (Provider.GROQ, "mistral/mistral-large", False),  # an explicit other provider
        (Provider.MISTRAL, "mistral/mistral-large", True),
        (Provider.GROQ, "auto", True),
    ],
)
def test_built_in_providers_serve_their_own_and_open_models(provider, model, expected):
    """A built-in provider is excluded only for another maker's closed family or an explicit other provider/ prefix."""
    assert serves(PROVIDERS[provider], model) is expected


def test_a_custom_provider_named_like_a_built_in_serves_everything():
    """A custom provider (even one named "groq") may be a gateway: it is sent any model."""
    spec = CustomProviderBuilder("groq").with_base_url("http://127.0.0.1:1/v1").build_provider()
    assert serves(spec, "gpt-4") and serves(spec, "anthropic/claude-3-haiku")
