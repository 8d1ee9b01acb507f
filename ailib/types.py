"""Messages, requests, responses, stream chunks and attempt records (frozen attrs classes).

The request is defined here; messages live in ``_message``, responses in ``_response`` and
attempt records beside the errors that carry them (``errors``); every name is importable from
here. Within the bottom layer the imports run one way: ``types`` → ``_response`` →
``_message`` → ``errors`` → ``_secrets``, ``_value``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Optional

import attrs

from ._message import AUTO_MODELS as AUTO_MODELS  # re-exported (routing reads it from here)
from ._message import Content, Message, ReasoningPart, Role, Tool, ToolCall, ToolCallDelta, _check_json
from ._response import Attempt, ChatCompletionResponse, Choice, StreamChunk, Usage
from ._value import value
from .errors import InvalidRequestError

__all__ = [
    "Role",
    "Content",
    "Message",
    "Tool",
    "ToolCall",
    "ToolCallDelta",
    "ReasoningPart",
    "ChatCompletionRequest",
    "ChatCompletionResponse",
    "Choice",
    "Usage",
    "StreamChunk",
    "Attempt",
]


_EXPECTED = "a list of Message objects or OpenAI-style dicts, e.g. [{'role': 'user', 'content': 'hi'}]"


def _to_messages(value: Any) -> tuple[Message, ...]:
    if isinstance(value, (Message, Mapping)):  # one message where a list of them is expected
        raise InvalidRequestError(f"messages must be {_EXPECTED}; got one {type(value).__name__}: wrap it in a list")
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise InvalidRequestError(f"messages must be {_EXPECTED}; got a {type(value).__name__}")
    out = []
    for i, m in enumerate(value):
        if isinstance(m, Message):
            out.append(m)
        elif isinstance(m, Mapping):
            out.append(Message.from_dict(m))
        else:
            raise InvalidRequestError(f"messages[{i}] must be a Message or an OpenAI-style dict, got a {type(m).__name__}")
    if not out:
        raise InvalidRequestError("a request needs at least one message")
    for i, m in enumerate(out):
        if m.content is None and not m.tool_calls:
            raise InvalidRequestError(f"message {i} (assistant) has neither content nor tool calls")
    return tuple(out)


def _to_tools(value: Any) -> Optional[tuple[Tool, ...]]:
    if value is None:
        return None
    out = []
    for t in value:
        if isinstance(t, Tool):
            out.append(t)
        elif isinstance(t, Mapping):  # OpenAI shape {"type": "function", "function": {...}}
            fn = t.get("function", t)
            out.append(Tool.function(fn.get("name", ""), fn.get("description", ""), fn.get("parameters"), strict=fn.get("strict")))
        else:
            raise InvalidRequestError(f"a tool must be a Tool or a dict, not {type(t).__name__}")
    return tuple(out)


def _to_stop(value: Any) -> Optional[tuple[str, ...]]:
    if value is None:
        return None
    if isinstance(value, str):
        return (value,)
    stops = tuple(value)
    if not all(isinstance(s, str) for s in stops):
        raise InvalidRequestError("stop must be a string or a list of strings")
    return stops


def _check_optional_number(name: str, lo: float, hi: Optional[float] = None) -> Callable[[Any, Any, Any], None]:
    def check(_inst: Any, _attr: Any, value: Any) -> None:
        if value is None:
            return
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            raise InvalidRequestError(f"{name} must be a number, got {value!r}")
        if value < lo or (hi is not None and value > hi):
            bound = f"between {lo} and {hi}" if hi is not None else f">= {lo}"
            raise InvalidRequestError(f"{name} must be {bound}, got {value}")

    return check


def _check_max_tokens(_inst: Any, _attr: Any, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequestError(f"max_tokens must be an int, got {type(value).__name__}")
    if value <= 0:
        raise InvalidRequestError(f"max_tokens must be positive, got {value}")


def _check_extra(_inst: Any, _attr: Any, value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, Mapping):
        raise InvalidRequestError("extra must be a dict of additional body fields")
    _check_json(value, "extra")


def _to_model(value: Any) -> str:
    if value is None:
        return "auto"
    if not isinstance(value, str):
        raise InvalidRequestError(f"model must be a string, got {type(value).__name__}")
    return value


@value
class ChatCompletionRequest:
    """A provider-neutral chat request. Invalid input raises ``InvalidRequestError`` here.

    Only what is set is sent: ``temperature``, ``top_p``, ``stop`` and ``max_tokens`` left at
    None are left out of every format's body (Anthropic alone requires ``max_tokens``: a default
    is sent there). ``extra`` holds further body fields in the serving format's own names; it is
    merged deeply into the body each format builds (objects key by key, any other value replaces).
    """

    model: str = attrs.field(converter=_to_model)
    messages: tuple[Message, ...] = attrs.field(converter=_to_messages)
    temperature: Optional[float] = attrs.field(default=None, kw_only=True, validator=_check_optional_number("temperature", 0, 2))
    max_tokens: Optional[int] = attrs.field(default=None, kw_only=True, validator=_check_max_tokens)
    top_p: Optional[float] = attrs.field(default=None, kw_only=True, validator=_check_optional_number("top_p", 0, 1))
    stop: Optional[tuple[str, ...]] = attrs.field(default=None, kw_only=True, converter=_to_stop)
    tools: Optional[tuple[Tool, ...]] = attrs.field(default=None, kw_only=True, converter=_to_tools)
    tool_choice: Any = attrs.field(default=None, kw_only=True, hash=False)
    response_format: Any = attrs.field(default=None, kw_only=True, hash=False)
    extra: Optional[Mapping[str, Any]] = attrs.field(default=None, kw_only=True, validator=_check_extra, hash=False)

    @classmethod
    def from_dict(cls, body: Mapping[str, Any]) -> ChatCompletionRequest:
        """Build from an OpenAI-style request body (unknown keys go to ``extra``)."""
        if not isinstance(body, Mapping):
            raise InvalidRequestError("a request body must be a JSON object")
        known = {"model", "messages", "temperature", "max_tokens", "top_p", "stop", "tools", "tool_choice", "response_format"}
        extra = {k: v for k, v in body.items() if k not in known and k != "stream"}
        if "messages" not in body:
            raise InvalidRequestError("a request body needs 'messages'")
        return cls(
            body.get("model", "auto"),
            body["messages"],
            temperature=body.get("temperature"),
            max_tokens=body.get("max_tokens"),
            top_p=body.get("top_p"),
            stop=body.get("stop"),
            tools=body.get("tools"),
            tool_choice=body.get("tool_choice"),
            response_format=body.get("response_format"),
            extra=extra or None,
        )

    def to_dict(self) -> dict[str, Any]:
        """OpenAI-style body: a stable, JSON-serialisable form (checkpoint keys use it)."""
        d: dict[str, Any] = {"model": self.model, "messages": [m.to_dict() for m in self.messages]}
        for name in ("temperature", "max_tokens", "top_p", "tool_choice", "response_format"):
            v = getattr(self, name)
            if v is not None:
                d[name] = v
        if self.stop is not None:
            d["stop"] = list(self.stop)
        if self.tools:
            d["tools"] = [t.to_dict() for t in self.tools]
        if self.extra:
            d.update(self.extra)
        return d

    @property
    def has_images(self) -> bool:
        """Whether any message has an image part."""
        return any(p.is_image for m in self.messages if not isinstance(m.content, str) for p in m.parts())
