"""The provider table, keys and base URLs from the environment, custom providers."""

from __future__ import annotations

import pytest

from ailib import AiClient, ConfigurationError, ConnectionOptions, CustomProviderBuilder, Provider
from ailib.providers import PROVIDERS
from ailib.providers._registry import provider_for_model, split_model
from ailib.routing.endpoint import build_endpoint

API_MD_PROVIDERS = "OPENAI ANTHROPIC GEMINI GROQ MISTRAL DEEPSEEK XAI TOGETHER OPENROUTER PERPLEXITY FIREWORKS COHERE AZURE_OPENAI OLLAMA MOONSHOT QWEN ZHIPU".split()


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for spec in PROVIDERS.values():
        monkeypatch.delenv(f"{spec.env_prefix}_API_KEY", raising=False)
        monkeypatch.delenv(f"{spec.env_prefix}_BASE_URL", raising=False)


def test_every_documented_provider_exists_with_a_row():
    """Every provider named in API.md is in the enum and the table."""
    for name in API_MD_PROVIDERS:
        assert Provider[name] in PROVIDERS
        assert Provider(name.lower()) is Provider[name]


def test_an_unknown_provider_name_is_a_configuration_error_listing_the_known_ones():
    """Provider("opneai") raises ConfigurationError (still a ValueError) naming the value and every known provider."""
    with pytest.raises(ConfigurationError, match="unknown provider 'opneai'; known: openai, anthropic") as info:
        Provider("opneai")
    assert isinstance(info.value, ValueError) and all(p.value in str(info.value) for p in Provider)
    assert Provider("OpenAI") is Provider.OPENAI and Provider("azure-openai") is Provider.AZURE_OPENAI and Provider.lookup("opneai") is None


def test_missing_key_names_the_variable():
    """A missing key raises ConfigurationError naming <PREFIX>_API_KEY."""
    with pytest.raises(ConfigurationError, match="GROQ_API_KEY"):
        AiClient(Provider.GROQ)


def test_key_and_base_url_come_from_the_environment(monkeypatch):
    """<PREFIX>_API_KEY and <PREFIX>_BASE_URL are read (once, at construction)."""
    monkeypatch.setenv("MISTRAL_API_KEY", "k-mistral")
    monkeypatch.setenv("MISTRAL_BASE_URL", "http://127.0.0.1:9/v1/")
    ep = build_endpoint(Provider.MISTRAL)
    assert ep.api_key == "k-mistral"
    assert ep.base_url == "http://127.0.0.1:9/v1"
    assert ep.chat_url("m", False) == "http://127.0.0.1:9/v1/chat/completions"
    assert ep.headers["Authorization"] == "Bearer k-mistral"


def test_explicit_options_win_over_environment(monkeypatch):
    """ConnectionOptions(api_key, base_url) override the environment."""
    monkeypatch.setenv("OPENAI_API_KEY", "env-key")
    ep = build_endpoint(Provider.OPENAI, ConnectionOptions(api_key="opt-key", base_url="http://127.0.0.1:1/v1"))
    assert ep.api_key == "opt-key" and ep.base_url == "http://127.0.0.1:1/v1"


def test_ollama_needs_no_key():
    """Ollama runs without a key and sends no Authorization header."""
    ep = build_endpoint(Provider.OLLAMA)
    assert ep.api_key is None and "Authorization" not in ep.headers


def test_non_http_base_url_is_rejected(monkeypatch):
    """A base_url that is not http(s) is a ConfigurationError."""
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    with pytest.raises(ConfigurationError):
        build_endpoint(Provider.OPENAI, ConnectionOptions(base_url="ftp://x"))
    monkeypatch.setenv("OPENAI_BASE_URL", "file:///etc/passwd")
    with pytest.raises(ConfigurationError, match="http"):
        build_endpoint(Provider.OPENAI)


def test_azure_deployment_url_and_api_key_header(monkeypatch):
    """Azure uses the deployment URL with api-version and the api-key header."""
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "az-key")
    monkeypatch.setenv("AZURE_OPENAI_BASE_URL", "https://res.openai.azure.com")
    ep = build_endpoint(Provider.AZURE_OPENAI)
    assert ep.chat_url("my-deploy", False).startswith(
        "https://res.openai.azure.com/openai/deployments/my-deploy/chat/completions?api-version="
    )
    assert ep.headers["api-key"] == "az-key" and "Authorization" not in ep.headers
    monkeypatch.setenv("AZURE_OPENAI_BASE_URL", "https://res.openai.azure.com/openai/deployments/d1")
    assert (
        build_endpoint(Provider.AZURE_OPENAI)
        .chat_url("ignored", False)
        .startswith("https://res.openai.azure.com/openai/deployments/d1/chat/completions?api-version=")
    )


def test_azure_without_base_url_names_the_variable(monkeypatch):
    """Azure has no default URL: the error names AZURE_OPENAI_BASE_URL."""
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "az-key")
    with pytest.raises(ConfigurationError, match="AZURE_OPENAI_BASE_URL"):
        build_endpoint(Provider.AZURE_OPENAI)


def test_custom_provider_builder(monkeypatch):
    """A custom provider reads its key from its own variable and sends its headers."""
    monkeypatch.setenv("GATEWAY_KEY", "gw-key")
    spec = (
        CustomProviderBuilder("my-gateway")
        .with_base_url("http://127.0.0.1:5/v1")
        .with_api_key_env("GATEWAY_KEY")
        .with_default_chat_model("gpt-4-turbo")
        .with_headers({"X-Team": "a"})
        .build_provider()
    )
    ep = build_endpoint(spec)
    assert ep.headers["Authorization"] == "Bearer gw-key" and ep.headers["X-Team"] == "a"
    assert ep.default_model == "gpt-4-turbo" and ep.provider == "my-gateway"


def test_custom_provider_missing_key_names_its_variable():
    """A custom provider with an unset key variable names that variable."""
    spec = CustomProviderBuilder("gw").with_base_url("http://127.0.0.1:5").with_api_key_env("NOPE_KEY").build_provider()
    with pytest.raises(ConfigurationError, match="NOPE_KEY"):
        build_endpoint(spec)


@pytest.mark.parametrize(
    "call",
    [
        lambda b: b.with_base_url("ftp://x"),
        lambda b: b.with_wire_format("soap"),
        lambda b: b.with_api_key_env("not a var"),
        lambda b: b.build_provider(),
    ],
)
def test_custom_builder_rejects_bad_settings(call):
    """Bad custom-provider settings raise ConfigurationError."""
    with pytest.raises(ConfigurationError):
        call(CustomProviderBuilder("gw"))


@pytest.mark.parametrize(
    "model, provider",
    [
        ("gpt-4o", Provider.OPENAI),
        ("o3-mini", Provider.OPENAI),
        ("claude-3-haiku", Provider.ANTHROPIC),
        ("gemini-1.5-pro", Provider.GEMINI),
        ("mixtral-8x7b", Provider.MISTRAL),
        ("command-r", Provider.COHERE),
        ("deepseek-chat", Provider.DEEPSEEK),
        ("grok-2", Provider.XAI),
        ("anthropic/claude-3-haiku", Provider.ANTHROPIC),
        ("meta-llama/Llama-3", None),
        ("my-finetune", None),
    ],
)
def test_model_families_resolve_to_providers(model, provider):
    """Known families and provider/ prefixes name their provider; others none."""
    assert provider_for_model(model) is provider


def test_split_model_keeps_unknown_prefixes():
    """Only a known provider name before '/' is split off."""
    assert split_model("anthropic/claude-3-haiku") == (Provider.ANTHROPIC, "claude-3-haiku")
    assert split_model("meta-llama/Llama-3") == (None, "meta-llama/Llama-3")


def test_model_resolution_on_an_endpoint(monkeypatch):
    """auto → provider default; explicit names unchanged; own provider prefix dropped."""
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    ep = build_endpoint(Provider.OPENAI)
    assert ep.resolve_model("auto") == ep.resolve_model("") == ep.resolve_model("default") == "gpt-4o-mini"
    assert ep.resolve_model("gpt-4o") == "gpt-4o"
    assert ep.resolve_model("openai/gpt-4o") == "gpt-4o"
