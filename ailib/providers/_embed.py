"""Embedding wire formats: URL, body and answer of each provider's embeddings endpoint, its
per-request limits, default embedding models and the known output sizes of models.

Formats: OpenAI ``/embeddings`` (also Azure OpenAI, every OpenAI-compatible provider and custom
gateways), Gemini ``batchEmbedContents``, Cohere v2 ``/v2/embed`` and Ollama ``/api/embed``.
Errors are classified by the endpoint's chat format (the same error bodies).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Optional
from urllib.parse import quote

from .._embedding import EmbeddingRequest, Vectors
from .._response import Usage
from .._value import value
from ..errors import ConfigurationError, InvalidRequestError, ProtocolError
from ._base import _shape_error, _snippet, error_from_response, mask_secrets
from ._registry import ProviderSpec
from ._urls import segment

__all__ = [
    "decode_embedding",
    "EmbedFormat",
    "EmbedPart",
    "embed_format_for",
    "default_embedding_model",
    "known_dimensions",
    "check_same_dimensions",
    "estimate_text_tokens",
]


@value
class EmbedPart:
    """What one embeddings request answered: the vectors, the model the provider named, and
    usage (None when the provider reports none: the token limiter then keeps its estimate)."""

    vectors: Vectors
    model: str
    usage: Optional[Usage]


@value
class Limits:
    """A provider's per-request limits: how many inputs, and how many tokens in all (None: no limit)."""

    inputs: int
    tokens: Optional[int]


# Default embedding model per built-in provider (None: the provider serves none).
DEFAULT_EMBEDDING_MODELS: Mapping[str, str] = {
    "openai": "text-embedding-3-small",
    "azure_openai": "text-embedding-3-small",
    "gemini": "gemini-embedding-001",
    "cohere": "embed-v4.0",
    "mistral": "mistral-embed",
    "together": "BAAI/bge-base-en-v1.5",
    "fireworks": "nomic-ai/nomic-embed-text-v1.5",
    "ollama": "nomic-embed-text",
    "qwen": "text-embedding-v3",
    "zhipu": "embedding-3",
    "openrouter": "openai/text-embedding-3-small",
}

# Output size of well-known models at their default (the ``dimensions`` argument shortens the
# ones marked as able to: OpenAI's v3, Gemini's, Cohere's v4, Qwen's v3).
_DIMENSIONS: Mapping[str, int] = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
    "gemini-embedding-001": 3072,
    "text-embedding-004": 768,
    "embed-v4.0": 1536,
    "embed-english-v3.0": 1024,
    "embed-multilingual-v3.0": 1024,
    "embed-english-light-v3.0": 384,
    "embed-multilingual-light-v3.0": 384,
    "mistral-embed": 1024,
    "nomic-embed-text": 768,
    "nomic-ai/nomic-embed-text-v1.5": 768,
    "mxbai-embed-large": 1024,
    "all-minilm": 384,
    "BAAI/bge-base-en-v1.5": 768,
    "text-embedding-v3": 1024,
    "embedding-3": 2048,
}
_SHORTENS = frozenset({"text-embedding-3-small", "text-embedding-3-large", "gemini-embedding-001", "text-embedding-004", "embed-v4.0"})


def known_dimensions(model: str, dimensions: Optional[int] = None) -> Optional[int]:
    """The size of ``model``'s vectors when it is known: ``dimensions`` for a model that takes
    it (and is at least that large), else its fixed size; None when the model is not in the table."""
    name = model.rsplit("/", 1)[-1] if model not in _DIMENSIONS else model
    size = _DIMENSIONS.get(name)
    if size is None:
        return dimensions  # unknown model: whatever was asked for, if anything
    if dimensions is not None and name in _SHORTENS and dimensions <= size:
        return dimensions
    return size


def check_same_dimensions(models: Sequence[str]) -> None:
    """``ConfigurationError`` when two embedding models of a fallback chain are known to give
    vectors of different sizes that no ``dimensions`` argument can reconcile (at least one of
    the two cannot shorten its vectors): vectors of one index must all be comparable."""
    known: list[tuple[str, str, int]] = []
    for model in models:
        head, sep, tail = model.partition("/")
        name = tail if sep and head in DEFAULT_EMBEDDING_MODELS and tail in _DIMENSIONS else model
        if name in _DIMENSIONS:
            known.append((model, name, _DIMENSIONS[name]))
    for model, name, size in known:
        for other, other_name, other_size in known:
            if size < other_size and not (name in _SHORTENS and other_name in _SHORTENS):
                raise ConfigurationError(
                    f"embedding fallback between models of different sizes: {other} gives {other_size} dimensions, "
                    f"{model} gives {size}; vectors from both could not be compared"
                )


def estimate_text_tokens(text: str) -> int:
    """A cautious token count for splitting a request (about 3 bytes of UTF-8 per token)."""
    return len(text.encode("utf-8")) // 3 + 1


def default_embedding_model(spec: ProviderSpec) -> Optional[str]:
    """The provider's default embedding model (a custom provider's own, else the table's)."""
    return spec.default_embedding_model or DEFAULT_EMBEDDING_MODELS.get(spec.name)


class EmbedFormat:
    """A pure translator for one embeddings endpoint."""

    name = "base"
    limits = Limits(2048, 300_000)

    def url(self, base_url: str, model: str) -> str:
        raise NotImplementedError

    def encode(self, request: EmbeddingRequest, texts: Sequence[str], model: str) -> dict[str, Any]:
        raise NotImplementedError

    def decode(self, data: Mapping[str, Any], model: str) -> EmbedPart:
        raise NotImplementedError


def _merge(body: dict[str, Any], request: EmbeddingRequest) -> dict[str, Any]:
    if request.extra:
        body.update(request.extra)
    return body


def _usage(prompt: Any) -> Optional[Usage]:
    if not isinstance(prompt, (int, float)) or isinstance(prompt, bool):
        return None  # not reported (Gemini's batchEmbedContents, an Ollama without counts)
    n = int(prompt)
    return Usage(n, 0, n)


class OpenAIEmbed(EmbedFormat):
    """``POST {base}/embeddings``; base64 float32 on the wire where the provider sends it."""

    name = "openai"

    def __init__(self, base64: bool = True, limits: Limits = Limits(2048, 300_000)) -> None:
        self.base64 = base64
        self.limits = limits

    def url(self, base_url: str, model: str) -> str:
        return f"{base_url}/embeddings"

    def encode(self, request: EmbeddingRequest, texts: Sequence[str], model: str) -> dict[str, Any]:
        body: dict[str, Any] = {"model": model, "input": list(texts)}
        if self.base64:
            body["encoding_format"] = "base64"
        if request.dimensions is not None:
            body["dimensions"] = request.dimensions
        return _merge(body, request)

    def decode(self, data: Mapping[str, Any], model: str) -> EmbedPart:
        items = data["data"]
        if any(item.get("index", i) != i for i, item in enumerate(items)):
            items = sorted(items, key=lambda item: item["index"])
        embeddings = [item["embedding"] for item in items]
        if embeddings and isinstance(embeddings[0], str):
            size = len(embeddings[0])  # rows are decoded when read: their shape is checked now
            if size % 4 or any(not isinstance(e, str) or len(e) != size for e in embeddings):
                raise ValueError("base64 vectors of different or impossible lengths")
            vectors = Vectors.from_base64(embeddings)
        else:
            vectors = Vectors(embeddings)
        usage = data.get("usage") or {}
        return EmbedPart(vectors, str(data.get("model") or model), _usage(usage.get("prompt_tokens", usage.get("total_tokens"))))


class AzureEmbed(OpenAIEmbed):
    """Azure OpenAI: the deployment's ``/embeddings`` with the ``api-version`` query."""

    name = "azure"

    def url(self, base_url: str, model: str) -> str:
        from .openai import AzureOpenAIFormat

        version = AzureOpenAIFormat().api_version
        if "/deployments/" not in base_url:
            base_url = f"{base_url}/openai/deployments/{segment(model, 'an Azure deployment name', model=model)}"
        return f"{base_url}/embeddings?api-version={quote(version, safe='')}"


_GEMINI_TASKS = {
    "search_query": "RETRIEVAL_QUERY",
    "search_document": "RETRIEVAL_DOCUMENT",
    "classification": "CLASSIFICATION",
    "clustering": "CLUSTERING",
    "semantic_similarity": "SEMANTIC_SIMILARITY",
}


class GeminiEmbed(EmbedFormat):
    """``POST {base}/v1beta/models/{model}:batchEmbedContents`` (100 texts a request)."""

    name = "gemini"
    limits = Limits(100, None)

    def url(self, base_url: str, model: str) -> str:
        from .gemini import API_VERSION, model_path

        return f"{base_url}/{API_VERSION}/{model_path(model)}:batchEmbedContents"

    def encode(self, request: EmbeddingRequest, texts: Sequence[str], model: str) -> dict[str, Any]:
        from .gemini import model_path

        name = model_path(model)
        extra: dict[str, Any] = {}
        if request.input_type is not None:
            extra["taskType"] = _GEMINI_TASKS[request.input_type]
        if request.dimensions is not None:
            extra["outputDimensionality"] = request.dimensions
        if request.extra:
            extra.update(request.extra)
        return {"requests": [{"model": name, "content": {"parts": [{"text": t}]}, **extra} for t in texts]}

    def decode(self, data: Mapping[str, Any], model: str) -> EmbedPart:
        rows = [e["values"] for e in data["embeddings"]]
        meta = data.get("usageMetadata") or {}
        return EmbedPart(Vectors(rows), model, _usage(meta.get("promptTokenCount", meta.get("totalTokenCount"))))


_COHERE_TYPES = {"semantic_similarity": "clustering"}


class CohereEmbed(EmbedFormat):
    """``POST {base}/v2/embed`` with ``input_type`` (default ``search_document``) and float vectors."""

    name = "cohere"
    limits = Limits(96, None)

    def url(self, base_url: str, model: str) -> str:
        return f"{base_url}/v2/embed"

    def encode(self, request: EmbeddingRequest, texts: Sequence[str], model: str) -> dict[str, Any]:
        kind = request.input_type or "search_document"
        body: dict[str, Any] = {
            "model": model,
            "texts": list(texts),
            "input_type": _COHERE_TYPES.get(kind, kind),
            "embedding_types": ["float"],
        }
        if request.dimensions is not None:
            body["output_dimension"] = request.dimensions
        return _merge(body, request)

    def decode(self, data: Mapping[str, Any], model: str) -> EmbedPart:
        embeddings = data["embeddings"]
        rows = embeddings["float"] if isinstance(embeddings, Mapping) else embeddings  # v2 by type; v1 a bare list
        billed = (data.get("meta") or {}).get("billed_units") or {}
        return EmbedPart(Vectors(rows), model, _usage(billed.get("input_tokens")))


class OllamaEmbed(EmbedFormat):
    """Ollama's own ``POST {root}/api/embed`` (the root is the base URL without ``/v1``)."""

    name = "ollama"
    limits = Limits(512, None)

    def url(self, base_url: str, model: str) -> str:
        root = base_url[: -len("/v1")] if base_url.endswith("/v1") else base_url
        return f"{root}/api/embed"

    def encode(self, request: EmbeddingRequest, texts: Sequence[str], model: str) -> dict[str, Any]:
        body: dict[str, Any] = {"model": model, "input": list(texts)}
        if request.dimensions is not None:
            body["dimensions"] = request.dimensions
        return _merge(body, request)

    def decode(self, data: Mapping[str, Any], model: str) -> EmbedPart:
        return EmbedPart(Vectors(data["embeddings"]), str(data.get("model") or model), _usage(data.get("prompt_eval_count")))


# Built-in OpenAI-compatible providers not known to send base64 vectors: asked for floats.
# Every other OpenAI-format endpoint (OpenAI, Azure, Together, Fireworks, OpenRouter, custom
# gateways such as vLLM or LiteLLM) gets ``encoding_format="base64"``.
_FLOATS = frozenset({"mistral", "groq", "deepseek", "xai", "perplexity", "moonshot", "qwen", "zhipu"})
# Limits below OpenAI's (inputs per request, tokens per request), as each provider documents them.
_LIMITS: Mapping[str, Limits] = {
    "mistral": Limits(512, 16_384),
    "qwen": Limits(10, None),
    "zhipu": Limits(64, None),
}
_FORMATS: dict[str, EmbedFormat] = {}


def embed_format_for(spec: ProviderSpec) -> EmbedFormat:
    """The embeddings translator of a provider; ``InvalidRequestError`` if it serves none."""
    key = spec.name if spec.name == "ollama" or spec.name in _FLOATS else spec.wire_format
    fmt = _FORMATS.get(key)
    if fmt is not None:
        return fmt
    if spec.name == "ollama":
        fmt = OllamaEmbed()
    elif spec.wire_format == "azure":
        fmt = AzureEmbed()
    elif spec.wire_format == "openai":
        fmt = OpenAIEmbed(base64=spec.name not in _FLOATS, limits=_LIMITS.get(spec.name, Limits(2048, 300_000)))
    elif spec.wire_format == "gemini":
        fmt = GeminiEmbed()
    elif spec.wire_format == "cohere":
        fmt = CohereEmbed()
    else:
        raise InvalidRequestError(f"{spec.name} has no embeddings API; nothing was sent", provider=spec.name)
    _FORMATS[key] = fmt
    return fmt


def decode_embedding(fmt: EmbedFormat, ep: Any, status: int, headers: Any, body: bytes, *, model: str, now: float) -> EmbedPart:
    """A complete HTTP answer of an embeddings endpoint → its part, or the classified error it
    means: as a chat answer's (``decode_body``) for the status, content type and JSON; an error
    object with status 200 is classified like an error status (an overload is retried)."""
    if not 200 <= status < 300:
        raise error_from_response(ep.wire, status, headers, body, provider=ep.provider, model=model, now=now)
    data = _json_object(headers, body, status, provider=ep.provider, model=model)
    if "error" in data and not any(key in data for key in ("data", "embeddings", "embedding")):
        raise error_from_response(ep.wire, status, headers, body, provider=ep.provider, model=model, now=now)
    try:
        part = fmt.decode(data, model)
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        raise ProtocolError(
            f"unexpected {fmt.name} embeddings response: {type(exc).__name__}: {mask_secrets(str(exc))[:200]}",
            provider=ep.provider,
            model=model,
            status_code=status,
        ) from None
    return part


def _json_object(headers: Any, body: bytes, status: int, *, provider: str, model: str) -> dict[str, Any]:
    """A 2xx body as the JSON object it must be, or the ``ProtocolError`` saying why it is not
    (wrong content type, empty, malformed, not an object), worded as ``decode_body`` words it."""
    ctype = headers.get("content-type") or ""
    if ctype and "json" not in ctype.lower():
        raise _shape_error(f"expected a JSON response, got content type {ctype!r}: {_snippet(body)!r}", headers, status, provider, model)
    if not body:
        raise _shape_error("empty response body", headers, status, provider, model)
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:  # malformed, not UTF-8, nested too deep
        raise _shape_error(f"malformed JSON in response ({type(exc).__name__})", headers, status, provider, model) from None
    if not isinstance(data, dict):
        raise _shape_error(f"expected a JSON object, got {type(data).__name__}", headers, status, provider, model)
    return data
