"""Which endpoints serve an explicitly named model (so a chain never sends it elsewhere).

An endpoint serves a request's model when the endpoint names its own model for it (a pinned
model, or an entry of its model map), when the request asks for ``auto``, or when nothing
says the model belongs to another provider. It does not when it is a built-in provider that
only serves its own maker's models and the model is either written ``"other/model"`` with
another provider's name, or of a family only its maker serves (``gpt-``/``o1``..., OpenAI;
``claude-``, Anthropic; ``gemini-``, Gemini; ``command``, Cohere; ``grok-``, xAI). Gateways
(OpenRouter, Azure OpenAI deployments, Ollama) and custom providers serve whatever is asked.
Open-weight families (Mistral, Qwen, DeepSeek, Llama...) are served by many hosts (Groq,
Together, Fireworks), so their names never exclude an endpoint.
"""

from __future__ import annotations

from ..providers._registry import PROVIDERS, Provider, ProviderSpec, provider_for_model, split_model
from ..types import AUTO_MODELS

__all__ = ["serves", "is_first_party"]

# Serve other makers' models under the names they are asked for.
_GATEWAYS = frozenset({Provider.OPENROUTER, Provider.AZURE_OPENAI, Provider.OLLAMA})
# Families whose models only their maker (or a gateway) serves.
_OWN_ONLY = frozenset({Provider.OPENAI, Provider.ANTHROPIC, Provider.GEMINI, Provider.COHERE, Provider.XAI})


def _builtin(spec: ProviderSpec) -> Provider | None:
    """The built-in provider ``spec`` is (a custom provider of the same name is not)."""
    member = Provider.lookup(spec.name)
    return member if member is not None and PROVIDERS.get(member) == spec else None


def is_first_party(spec: ProviderSpec) -> bool:
    """A built-in provider that serves models under their makers' names (not a gateway or custom)."""
    own = _builtin(spec)
    return own is not None and own not in _GATEWAYS


# (id(spec), requested) -> (spec, answer): ``serves`` runs for every endpoint of every routed
# call; the spec kept in the entry guards against a reused id. Bounded (unbounded model names).
_ANSWERS: dict[tuple[int, str], tuple[ProviderSpec, bool]] = {}


def serves(spec: ProviderSpec, requested: str) -> bool:
    """Whether an endpoint of ``spec`` without a model of its own for ``requested`` serves it."""
    if requested in AUTO_MODELS:
        return True
    key = (id(spec), requested)
    entry = _ANSWERS.get(key)
    if entry is not None and entry[0] is spec:
        return entry[1]
    if len(_ANSWERS) > 4096:
        _ANSWERS.clear()
    answer = _serves(spec, requested)
    _ANSWERS[key] = (spec, answer)
    return answer


def _serves(spec: ProviderSpec, requested: str) -> bool:
    own = _builtin(spec)
    if own is None or own in _GATEWAYS:
        return True
    named, _ = split_model(requested)
    if named is not None:
        return named is own
    owner = provider_for_model(requested)
    return owner is None or owner is own or owner not in _OWN_ONLY
