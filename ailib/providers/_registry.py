"""The one table of built-in providers: key variable prefix, base URL, default model, format."""

from __future__ import annotations

import enum
import os
from collections.abc import Mapping
from typing import Any, Optional, Union
from urllib.parse import urlsplit, urlunsplit

import attrs

from .._secrets import redact_url, redacted_headers_repr, redacted_url_repr, remember_url, secret_repr
from .._validators import clean_key
from .._value import value
from ..errors import ConfigurationError

__all__ = ["Provider", "ProviderSpec", "PROVIDERS", "resolve_provider", "provider_for_model", "check_base_url"]


class Provider(enum.Enum):
    """Built-in providers. ``Provider("openai")`` works."""

    OPENAI = "openai"
    ANTHROPIC = "anthropic"
    GEMINI = "gemini"
    GROQ = "groq"
    MISTRAL = "mistral"
    DEEPSEEK = "deepseek"
    XAI = "xai"
    TOGETHER = "together"
    OPENROUTER = "openrouter"
    PERPLEXITY = "perplexity"
    FIREWORKS = "fireworks"
    COHERE = "cohere"
    AZURE_OPENAI = "azure_openai"
    OLLAMA = "ollama"
    MOONSHOT = "moonshot"
    QWEN = "qwen"
    ZHIPU = "zhipu"

    @classmethod
    def lookup(cls, value: object) -> Optional[Provider]:
        """The provider named ``value`` (any case, ``-`` or ``_``), or None when there is none."""
        if isinstance(value, str):
            return _BY_VALUE.get(value.strip().lower().replace("-", "_"))
        return None

    @classmethod
    def _missing_(cls, value: object) -> Provider:
        # Enum's documented hook for values that are not a member's: accept any case and
        # ``-``, and make an unknown name a ConfigurationError (also a ValueError) that lists
        # the known ones.
        member = cls.lookup(value)
        if member is None:
            raise ConfigurationError(f"unknown provider {value!r}; known: {', '.join(m.value for m in cls)}")
        return member

    @property
    def spec(self) -> ProviderSpec:
        """The provider's row of the table: key variable, base URL, default model, format."""
        return PROVIDERS[self]

    def __str__(self) -> str:
        return self.value


# Each provider by its value, for ``Provider.lookup`` (called on the call path by the routing filter).
_BY_VALUE: dict[str, Provider] = {m.value: m for m in Provider}


@value(kw_only=True)
class ProviderSpec:
    """Everything needed to talk to one provider. Custom providers are specs too."""

    name: str
    env_prefix: Optional[str]
    base_url: Optional[str] = attrs.field(repr=redacted_url_repr)
    default_model: str
    wire_format: str = "openai"
    key_required: bool = True
    streaming: bool = True
    tools: bool = True
    images: bool = True
    api_key: Optional[str] = attrs.field(default=None, repr=secret_repr)
    api_key_env: Optional[str] = None
    headers: Mapping[str, str] = attrs.field(factory=dict, repr=redacted_headers_repr, hash=False)
    idempotency_header: Optional[str] = None  # sent with one key per call, reused by its retries
    stream_usage: Optional[bool] = None  # ask for usage in streams (OpenAI format); None: the built-in list decides
    default_embedding_model: Optional[str] = None  # None: the built-in table's (providers/_embed.py), if any

    @property
    def key_variable(self) -> Optional[str]:
        return self.api_key_env or (f"{self.env_prefix}_API_KEY" if self.env_prefix else None)

    def read_api_key(self, explicit: Optional[str] = None, *, required: Optional[bool] = None) -> Optional[str]:
        """The key from ``explicit``, the spec, or the environment, stripped of surrounding
        whitespace (with a warning); ConfigurationError naming its source if it holds a
        character no header can carry, or if ``required`` (default: ``key_required``) and absent."""
        key = clean_key(explicit, "ConnectionOptions(api_key=...)", provider=self.name, stacklevel=3)
        if not key:
            key = clean_key(self.api_key, f"CustomProviderBuilder({self.name!r}).with_api_key(...)", provider=self.name, stacklevel=3)
        if not key and self.key_variable:
            variable = f"the {self.key_variable} environment variable"
            key = clean_key(os.environ.get(self.key_variable), variable, provider=self.name, stacklevel=3)
        if not key and (self.key_required if required is None else required):
            raise self.missing_key()
        return key

    def missing_key(self) -> ConfigurationError:
        """The error for a required key that is absent: it names the variable to set."""
        where = f"set {self.key_variable}" if self.key_variable else "give an api_key"
        return ConfigurationError(f"no API key for {self.name}: {where} or pass ConnectionOptions(api_key=...)", provider=self.name)

    def read_base_url(self, explicit: Optional[str] = None) -> str:
        url = explicit
        if not url and self.env_prefix:
            url = os.environ.get(f"{self.env_prefix}_BASE_URL") or None
        url = url or self.base_url
        if not url:
            var = f"{self.env_prefix}_BASE_URL" if self.env_prefix else "a base URL"
            raise ConfigurationError(f"no base URL for {self.name}: set {var} or pass ConnectionOptions(base_url=...)", provider=self.name)
        return check_base_url(url, self.name)

    def supports(self) -> tuple[str, ...]:
        return tuple(name for name in ("streaming", "tools", "images") if getattr(self, name))


def check_base_url(url: Any, name: str) -> str:
    """``url`` without a trailing slash on its path if it is an http(s) URL with a host; else
    ConfigurationError (its message shows the URL redacted: no password, no query values)."""
    remember_url(url)
    if not isinstance(url, str) or not url.lower().startswith(("http://", "https://")):
        raise ConfigurationError(f"base URL for {name} must be http(s), got {redact_url(url)!r}", provider=name)
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018  (raises ValueError on a bad port)
    except ValueError:
        host = None
    if not host or any(c.isspace() or ord(c) < 32 or 127 <= ord(c) < 160 for c in url):
        raise ConfigurationError(f"base URL for {name} must be an http(s) URL with a host, got {redact_url(url)!r}", provider=name)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/"))) if parts.query or parts.fragment else url.rstrip("/")


def _spec(name: str, prefix: str, base_url: Optional[str], model: str, fmt: str = "openai", **kw: Any) -> ProviderSpec:
    return ProviderSpec(name=name, env_prefix=prefix, base_url=base_url, default_model=model, wire_format=fmt, **kw)


PROVIDERS: Mapping[Provider, ProviderSpec] = {
    Provider.OPENAI: _spec("openai", "OPENAI", "https://api.openai.com/v1", "gpt-4o-mini"),
    Provider.ANTHROPIC: _spec("anthropic", "ANTHROPIC", "https://api.anthropic.com", "claude-3-5-haiku-latest", "anthropic"),
    Provider.GEMINI: _spec("gemini", "GEMINI", "https://generativelanguage.googleapis.com", "gemini-2.0-flash", "gemini"),
    Provider.GROQ: _spec("groq", "GROQ", "https://api.groq.com/openai/v1", "llama-3.1-8b-instant"),
    Provider.MISTRAL: _spec("mistral", "MISTRAL", "https://api.mistral.ai/v1", "mistral-small-latest"),
    Provider.DEEPSEEK: _spec("deepseek", "DEEPSEEK", "https://api.deepseek.com/v1", "deepseek-chat", images=False),
    Provider.XAI: _spec("xai", "XAI", "https://api.x.ai/v1", "grok-2-latest"),
    Provider.TOGETHER: _spec("together", "TOGETHER", "https://api.together.xyz/v1", "meta-llama/Llama-3.3-70B-Instruct-Turbo"),
    Provider.OPENROUTER: _spec("openrouter", "OPENROUTER", "https://openrouter.ai/api/v1", "openai/gpt-4o-mini"),
    Provider.PERPLEXITY: _spec("perplexity", "PERPLEXITY", "https://api.perplexity.ai", "sonar", tools=False, images=False),
    Provider.FIREWORKS: _spec(
        "fireworks", "FIREWORKS", "https://api.fireworks.ai/inference/v1", "accounts/fireworks/models/llama-v3p1-8b-instruct"
    ),
    Provider.COHERE: _spec("cohere", "COHERE", "https://api.cohere.com", "command-r-plus", "cohere", images=False),
    Provider.AZURE_OPENAI: _spec("azure_openai", "AZURE_OPENAI", None, "gpt-4o-mini", "azure"),
    Provider.OLLAMA: _spec("ollama", "OLLAMA", "http://localhost:11434/v1", "llama3.2", key_required=False),
    Provider.MOONSHOT: _spec("moonshot", "MOONSHOT", "https://api.moonshot.cn/v1", "moonshot-v1-8k", images=False),
    Provider.QWEN: _spec("qwen", "QWEN", "https://dashscope.aliyuncs.com/compatible-mode/v1", "qwen-plus"),
    Provider.ZHIPU: _spec("zhipu", "ZHIPU", "https://open.bigmodel.cn/api/paas/v4", "glm-4-flash"),
}

ProviderLike = Union[Provider, ProviderSpec, str]


def resolve_provider(p: Any) -> ProviderSpec:
    """A ``Provider``, its lower-case name, or a custom ``ProviderSpec`` → the spec."""
    if isinstance(p, ProviderSpec):
        return p
    if isinstance(p, Provider):
        return PROVIDERS[p]
    if isinstance(p, str):
        member = Provider.lookup(p)
        if member is None:
            known = ", ".join(m.value for m in Provider)
            raise ConfigurationError(f"unknown provider {p!r}; known: {known}")
        return PROVIDERS[member]
    spec = getattr(p, "spec", None)  # objects that carry a spec (e.g. a custom provider wrapper)
    if isinstance(spec, ProviderSpec):
        return spec
    raise ConfigurationError(f"not a provider: {p!r}")


# Well-known model families, checked in order (first prefix wins).
_MODEL_FAMILIES: tuple[tuple[tuple[str, ...], Provider], ...] = (
    (("gpt-", "o1", "o3", "o4", "chatgpt-", "text-embedding-"), Provider.OPENAI),
    (("claude-",), Provider.ANTHROPIC),
    (("gemini-",), Provider.GEMINI),
    (("mistral-", "mixtral-", "codestral-", "pixtral-", "ministral-"), Provider.MISTRAL),
    (("command-", "command"), Provider.COHERE),
    (("deepseek-",), Provider.DEEPSEEK),
    (("grok-",), Provider.XAI),
    (("moonshot-", "kimi-"), Provider.MOONSHOT),
    (("qwen-", "qwen2", "qwen3", "qwq-"), Provider.QWEN),
    (("glm-",), Provider.ZHIPU),
)


def split_model(model: str) -> tuple[Optional[Provider], str]:
    """``"anthropic/claude-3-haiku"`` → (ANTHROPIC, "claude-3-haiku"); otherwise (None, model).

    Only a known provider name before the first ``/`` counts, so OpenRouter-style names
    such as ``"meta-llama/Llama-3"`` stay whole.
    """
    head, sep, tail = model.partition("/")
    if sep:
        provider = Provider.lookup(head)
        if provider is not None:
            return provider, tail
    return None, model


def provider_for_model(model: str) -> Optional[Provider]:
    """The provider a model name belongs to: an explicit ``provider/`` prefix or a known family."""
    explicit, name = split_model(model)
    if explicit is not None:
        return explicit
    lowered = name.lower()
    for prefixes, provider in _MODEL_FAMILIES:
        if lowered.startswith(prefixes):
            return provider
    return None


def markdown_table() -> str:
    """The provider table as printed in the README (a test keeps the two equal)."""
    rows = [
        "| provider | `Provider` | wire format | key variable | default base URL | default chat model | streaming | tools | images |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    yes = {True: "yes", False: "no"}
    for member, spec in PROVIDERS.items():
        key = (spec.key_variable or "") + ("" if spec.key_required else " (optional)")
        base = spec.base_url or f"set `{spec.env_prefix}_BASE_URL`"
        fmt = "openai (Azure deployment URL, `api-key` header)" if spec.wire_format == "azure" else spec.wire_format
        rows.append(
            f"| {spec.name} | `{member.name}` | {fmt} | `{key}` | {base} | `{spec.default_model}` | "
            f"{yes[spec.streaming]} | {yes[spec.tools]} | {yes[spec.images]} |"
        )
    return "\n".join(rows)
