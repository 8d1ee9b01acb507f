"""Which OpenAI API a request goes to: chat completions or the Responses API (``wire_api``).

``ConnectionOptions(wire_api=...)`` decides, per provider:

* ``"chat"``: every request to ``/chat/completions``.
* ``"responses"``: every request to ``/responses`` (OpenAI, Azure OpenAI, and any
  OpenAI-format gateway that serves the Responses API).
* ``"auto"``: a model served only by the Responses API (``RESPONSES_ONLY_MODELS``: gpt-5-pro,
  o1-pro, o3-pro, the codex models, deep research, computer use) goes to ``/responses``,
  every other model to ``/chat/completions``. The model is the one sent (for Azure OpenAI,
  the deployment name, which must then be named after its model to be recognised).
* unset: ``"auto"`` for OpenAI and Azure OpenAI, ``"chat"`` for every other OpenAI-format
  provider (most OpenAI-compatible services have no Responses API).

Other formats (Anthropic, Gemini, Cohere) have one API; ``wire_api="responses"`` there is a
``ConfigurationError``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Optional

from ..errors import ConfigurationError
from ._base import StreamDecoder, WireFormat
from ._registry import ProviderSpec, split_model

if TYPE_CHECKING:
    from ..types import ChatCompletionRequest, ChatCompletionResponse

__all__ = ["RESPONSES_ONLY_MODELS", "responses_only", "with_wire_api", "WireSwitch"]

# Models OpenAI serves only on /v1/responses, as regular expressions matched at the start of the
# lower-cased model name. Append to this list for a new one (before building the clients that need
# it: a client remembers its decision per model); ``wire_api="responses"`` sends any model there.
RESPONSES_ONLY_MODELS: list[str] = [
    r"(o1|o3|gpt-5(\.\d+)?)-pro\b",  # o1-pro, o3-pro, gpt-5-pro, gpt-5.2-pro (and dated versions)
    r"[\w.-]*codex",  # gpt-5-codex, gpt-5.1-codex-max, codex-mini-latest
    r"(o3|o4-mini)-deep-research",
    r"computer-use-preview",
]
_AUTO_BY_DEFAULT = frozenset({"openai", "azure_openai"})
_MEMO_SIZE = 256  # models an endpoint remembers the decision for


def responses_only(model: str) -> bool:
    """True when ``model`` (with or without a ``provider/`` prefix) is served only by the Responses API."""
    name = split_model(model)[1].lower()
    return any(re.match(pattern, name) for pattern in RESPONSES_ONLY_MODELS)


def with_wire_api(wire: WireFormat, spec: ProviderSpec, wire_api: Optional[str]) -> WireFormat:
    """The translator an endpoint of ``spec`` uses given its ``wire_api`` option."""
    if spec.wire_format == "openai_responses":
        if wire_api == "chat":
            raise ConfigurationError(f"{spec.name} speaks only the Responses API; wire_api='chat' cannot apply", provider=spec.name)
        return wire
    if spec.wire_format not in ("openai", "azure"):
        if wire_api == "responses":
            raise ConfigurationError(
                f"{spec.name} speaks the {spec.wire_format} format, which has no Responses API; "
                "wire_api='responses' is for OpenAI and Azure OpenAI",
                provider=spec.name,
            )
        return wire
    if wire_api == "chat" or (wire_api is None and spec.name not in _AUTO_BY_DEFAULT):
        return wire
    azure = spec.wire_format == "azure"
    if wire_api == "responses":
        return _responses_format(azure)
    return WireSwitch(wire, azure)


def _responses_format(azure: bool) -> WireFormat:
    """The Responses API translator (its module is loaded on first use)."""
    from .openai_responses import WIRE_FORMAT, AzureResponsesFormat

    return AzureResponsesFormat() if azure else WIRE_FORMAT


class WireSwitch(WireFormat):
    """``wire_api="auto"``: each request goes to the API its model needs (``responses_only``).
    Named as the chat format, since every model not in the table keeps it."""

    def __init__(self, chat: WireFormat, azure: bool) -> None:
        self.chat = chat
        self._azure = azure
        self._responses: Optional[WireFormat] = None
        self._picked: dict[str, bool] = {}  # model -> responses_only(model), for the models this endpoint saw
        self.name = chat.name
        self.stream_accept = chat.stream_accept
        self.error_code_keys = chat.error_code_keys

    def pick(self, model: str) -> WireFormat:
        """The format ``model`` is sent in."""
        only = self._picked.get(model)
        if only is None:
            only = responses_only(model)
            if len(self._picked) < _MEMO_SIZE:
                self._picked[model] = only
        if not only:
            return self.chat
        if self._responses is None:
            self._responses = _responses_format(self._azure)
        return self._responses

    def auth_headers(self, api_key: Optional[str]) -> dict[str, str]:
        return self.chat.auth_headers(api_key)

    def chat_url(self, base_url: str, model: str, stream: bool) -> str:
        return self.pick(model).chat_url(base_url, model, stream)

    def models_url(self, base_url: str) -> str:
        return self.chat.models_url(base_url)

    def encode(self, request: ChatCompletionRequest, model: str, *, stream: bool, spec: ProviderSpec) -> dict[str, Any]:
        return self.pick(model).encode(request, model, stream=stream, spec=spec)

    def decode(self, data: dict[str, Any], *, provider: str, model: str, headers: Mapping[str, str]) -> ChatCompletionResponse:
        return self.pick(model).decode(data, provider=provider, model=model, headers=headers)

    def stream_decoder(self, *, provider: str, model: str) -> StreamDecoder:
        return self.pick(model).stream_decoder(provider=provider, model=model)

    def error_details(self, data: Any) -> tuple[str, tuple[str, ...]]:
        return self.chat.error_details(data)

    def retry_delay(self, data: Any) -> Optional[float]:
        return self.chat.retry_delay(data)

    def decode_models(self, data: Any) -> list[str]:
        return self.chat.decode_models(data)

    def check_request_options(self, request: ChatCompletionRequest, spec: ProviderSpec, model: str) -> None:
        self.pick(model).check_request_options(request, spec, model)

    def check_supported(self, request: ChatCompletionRequest, spec: ProviderSpec, *, stream: bool) -> None:
        self.pick(request.model).check_supported(request, spec, stream=stream)
