"""The pre-call context check: a request's estimated size against its model's context window.

The estimate is deliberately simple and cheap: the characters of every message's text (image
parts not counted) and of the tools' JSON schemas, divided by 4 (about one token per four
characters of English, as OpenAI documents), rounded up, plus ``max_tokens`` when set (a
provider refuses a prompt whose answer could not fit). It underestimates code and non-Latin
scripts, so it refuses only requests that surely do not fit.

The windows come from ``CONTEXT_WINDOWS`` (tokens, as each provider publishes them), which
apply to the built-in first-party providers only (a deployment name on Azure, a gateway's
or a custom provider's model name may mean anything), and from the client's own entries
(``AiClientBuilder.with_context_windows``), which apply to every endpoint and win. A model
matches its exact entry, else the longest entry it starts with followed by ``-``, ``:``, ``@``
or ``/`` (``"gpt-4o"`` covers ``"gpt-4o-2024-08-06"``); a model without one is not checked.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any, Optional

from ..errors import ConfigurationError
from ..types import ChatCompletionRequest
from ._serving import is_first_party

__all__ = ["CONTEXT_WINDOWS", "ContextWindows", "estimate_request_tokens", "CHARS_PER_TOKEN"]

CHARS_PER_TOKEN = 4

# Context windows in tokens, as published by each provider.
CONTEXT_WINDOWS: dict[str, int] = {
    "gpt-3.5-turbo": 16_385,
    "gpt-4": 8_192,
    "gpt-4-32k": 32_768,
    "gpt-4-turbo": 128_000,
    "gpt-4-1106-preview": 128_000,
    "gpt-4-0125-preview": 128_000,
    "gpt-4-vision-preview": 128_000,
    "gpt-4o": 128_000,
    "gpt-4o-mini": 128_000,
    "gpt-4.1": 1_047_576,
    "gpt-4.1-mini": 1_047_576,
    "gpt-4.1-nano": 1_047_576,
    "o1": 200_000,
    "o1-preview": 128_000,
    "o1-mini": 128_000,
    "o3": 200_000,
    "o3-mini": 200_000,
    "o4-mini": 200_000,
    "claude-2.0": 100_000,
    "claude-2.1": 200_000,
    "claude-3": 200_000,
    "claude-sonnet-4": 200_000,
    "claude-opus-4": 200_000,
    "claude-haiku-4": 200_000,
    "gemini-1.5-pro": 2_097_152,
    "gemini-1.5-flash": 1_048_576,
    "gemini-2.0-flash": 1_048_576,
    "gemini-2.5-pro": 1_048_576,
    "gemini-2.5-flash": 1_048_576,
}

_BOUNDARIES = ("-", ":", "@", "/")


def _lookup(table: Mapping[str, int], model: str) -> Optional[int]:
    found = table.get(model)
    if found is not None:
        return found
    best: Optional[str] = None
    for key in table:
        if len(model) > len(key) and model.startswith(key) and model[len(key)] in _BOUNDARIES:
            if best is None or len(key) > len(best):
                best = key
    return table[best] if best is not None else None


def estimate_request_tokens(request: ChatCompletionRequest) -> int:
    """ceil(characters / 4) of the messages' text and the tools' schemas, plus ``max_tokens``."""
    chars = sum(len(m.text()) for m in request.messages if m.content is not None)
    if request.tools:
        chars += sum(len(json.dumps(t.parameters, default=str)) + len(t.name) + len(t.description or "") for t in request.tools)
    return math.ceil(chars / CHARS_PER_TOKEN) + (request.max_tokens or 0)


class ContextWindows:
    """The windows a client checks against: the built-in table (first-party providers) and
    the client's own entries (every endpoint; they win)."""

    def __init__(self, own: Optional[Mapping[str, int]] = None) -> None:
        own = dict(own or {})
        for model, window in own.items():
            if not isinstance(model, str) or not model or isinstance(window, bool) or not isinstance(window, int) or window < 1:
                raise ConfigurationError(f"with_context_windows takes {{model name: tokens (int >= 1)}}, got {model!r}: {window!r}")
        self.own = own
        # (id(spec), model) -> (spec, window), filled per call. Keyed by identity: a spec's own
        # hash walks every field on each call; the spec kept in the entry guards against a
        # reused id.
        self._known: dict[tuple[int, str], tuple[Any, Optional[int]]] = {}

    def window(self, spec: Any, model: str) -> Optional[int]:
        """The context window of ``model`` on a provider ``spec``, or None when unknown."""
        key = (id(spec), model)
        entry = self._known.get(key)
        if entry is not None and entry[0] is spec:
            return entry[1]
        if len(self._known) > 4096:  # callers with unbounded model names: stay bounded
            self._known.clear()
        found = self._find(spec, model)
        self._known[key] = (spec, found)
        return found

    def _find(self, spec: Any, model: str) -> Optional[int]:
        if self.own:
            found = _lookup(self.own, model)
            if found is not None:
                return found
        return _lookup(CONTEXT_WINDOWS, model) if is_first_party(spec) else None
