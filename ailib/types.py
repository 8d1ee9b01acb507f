"""Messages, requests, responses, stream chunks and attempt records (frozen attrs classes)."""

from __future__ import annotations

import base64
import enum
import json
import math
import mimetypes
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Optional, Union

import attrs

from .errors import AiLibError, InvalidRequestError

__all__ = [
    "Role",
    "Content",
    "Message",
    "Tool",
    "ToolCall",
    "ToolCallDelta",
    "ChatCompletionRequest",
    "ChatCompletionResponse",
    "Choice",
    "Usage",
    "StreamChunk",
    "Attempt",
]

AUTO_MODELS = frozenset({"auto", "default", ""})


class Role(str, enum.Enum):
    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"

    def __str__(self) -> str:
        return self.value


def _to_role(value: Any) -> Role:
    if isinstance(value, Role):
        return value
    try:
        return Role(str(value).lower())
    except ValueError:
        if value == "developer":  # OpenAI's newer name for system
            return Role.SYSTEM
        raise InvalidRequestError(f"unknown role {value!r}; expected one of system, user, assistant, tool") from None


@attrs.frozen(slots=True)
class Content:
    """One part of a message: text, an image (URL or inline base64) or a JSON object.

    Build with the named constructors: ``Content.text("hi")``, ``Content.image_url(url)``,
    ``Content.image_file(path)``, ``Content.json(obj)``.
    """

    kind: str  # "text" | "image_url" | "image_base64" | "json"
    value: Any
    media_type: Optional[str] = None

    @classmethod
    def text(cls, text: str) -> Content:
        if not isinstance(text, str):
            raise InvalidRequestError(f"Content.text needs a str, got {type(text).__name__}")
        return cls("text", text)

    @classmethod
    def image_url(cls, url: str) -> Content:
        if url.startswith("data:"):
            header, _, data = url.partition(",")
            media = header[5:].split(";")[0] or "image/png"
            return cls("image_base64", data, media)
        return cls("image_url", url)

    @classmethod
    def image_base64(cls, data: str, media_type: str = "image/png") -> Content:
        return cls("image_base64", data, media_type)

    @classmethod
    def image_file(cls, path: Union[str, Path]) -> Content:
        p = Path(path)
        try:
            raw = p.read_bytes()
        except OSError as exc:
            raise InvalidRequestError(f"cannot read image file {str(p)!r}: {exc.strerror}") from exc
        media = mimetypes.guess_type(p.name)[0] or "application/octet-stream"
        if not media.startswith("image/"):
            raise InvalidRequestError(f"{p.name!r} does not look like an image ({media})")
        return cls("image_base64", base64.b64encode(raw).decode("ascii"), media)

    @classmethod
    def json(cls, obj: Any) -> Content:
        _check_json(obj, "Content.json")
        return cls("json", obj)

    @property
    def is_image(self) -> bool:
        return self.kind in ("image_url", "image_base64")

    def as_text(self) -> str:
        """The part as plain text (JSON is serialised); images raise."""
        if self.kind == "text":
            return str(self.value)
        if self.kind == "json":
            return json.dumps(self.value, ensure_ascii=False)
        raise InvalidRequestError("an image part has no text form")

    def data_url(self) -> str:
        if self.kind == "image_url":
            return str(self.value)
        return f"data:{self.media_type};base64,{self.value}"


def _check_json(obj: Any, what: str) -> None:
    try:
        json.dumps(obj)
    except (TypeError, ValueError) as exc:
        raise InvalidRequestError(f"{what} is not JSON-serialisable: {exc}") from None


@attrs.frozen(slots=True)
class ToolCall:
    """A call the model asked for; ``arguments`` is the decoded JSON object."""

    id: str
    name: str
    arguments: Any = attrs.field(factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "arguments": self.arguments}


@attrs.frozen(slots=True)
class ToolCallDelta:
    """A fragment of a streamed tool call: ``arguments_delta`` is raw JSON text."""

    index: int
    id: Optional[str] = None
    name: Optional[str] = None
    arguments_delta: str = ""


@attrs.frozen(slots=True)
class Tool:
    """A function the model may call. Build with ``Tool.function(...)``."""

    name: str
    description: str = ""
    parameters: Mapping[str, Any] = attrs.field(factory=lambda: {"type": "object", "properties": {}})

    @classmethod
    def function(cls, name: str, description: str = "", parameters_json_schema: Optional[Mapping[str, Any]] = None) -> Tool:
        if not name or not isinstance(name, str):
            raise InvalidRequestError("a tool needs a non-empty name")
        params = parameters_json_schema if parameters_json_schema is not None else {"type": "object", "properties": {}}
        _check_json(params, f"tool {name!r} parameters")
        return cls(name, description, params)


MessageContent = Union[str, Content, tuple[Content, ...], None]


def _to_content(value: Any) -> MessageContent:
    if value is None or isinstance(value, (str, Content)):
        return value
    if isinstance(value, Mapping):
        return _content_part_from_dict(value)
    if isinstance(value, (list, tuple)):
        parts = tuple(_to_content_part(v) for v in value)
        return parts
    raise InvalidRequestError(f"message content must be str, Content or a list of them, not {type(value).__name__}")


def _to_content_part(value: Any) -> Content:
    if isinstance(value, Content):
        return value
    if isinstance(value, str):
        return Content.text(value)
    if isinstance(value, Mapping):
        return _content_part_from_dict(value)
    raise InvalidRequestError(f"unsupported content part {type(value).__name__}")


def _content_part_from_dict(d: Mapping[str, Any]) -> Content:
    kind = d.get("type")
    if kind == "text":
        return Content.text(d.get("text", ""))
    if kind == "image_url":
        url = d.get("image_url")
        url = url.get("url") if isinstance(url, Mapping) else url
        if not isinstance(url, str):
            raise InvalidRequestError("image_url part without a url")
        return Content.image_url(url)
    raise InvalidRequestError(f"unsupported content part type {kind!r}")


def _to_tool_calls(value: Any) -> Optional[tuple[ToolCall, ...]]:
    if value is None:
        return None
    out = []
    for tc in value:
        if isinstance(tc, ToolCall):
            out.append(tc)
        elif isinstance(tc, Mapping):  # OpenAI shape
            fn = tc.get("function") or {}
            args = fn.get("arguments", tc.get("arguments", {}))
            if isinstance(args, str):
                try:
                    args = json.loads(args) if args else {}
                except ValueError:
                    raise InvalidRequestError(f"tool call {tc.get('id')!r} has arguments that are not JSON") from None
            out.append(ToolCall(str(tc.get("id", "")), str(fn.get("name", tc.get("name", ""))), args))
        else:
            raise InvalidRequestError(f"unsupported tool call {type(tc).__name__}")
    return tuple(out)


@attrs.frozen(slots=True)
class Message:
    """One chat message. Build with ``Message.user(..)``, ``.system``, ``.assistant``, ``.tool``."""

    role: Role = attrs.field(converter=_to_role)
    content: MessageContent = attrs.field(default=None, converter=_to_content)
    name: Optional[str] = None
    tool_calls: Optional[tuple[ToolCall, ...]] = attrs.field(default=None, converter=_to_tool_calls)
    tool_call_id: Optional[str] = None

    def __attrs_post_init__(self) -> None:
        # Only an assistant message may lack content (one that only calls tools, or a decoded
        # answer); anything else would go out as "content": null. See ChatCompletionRequest.
        if self.content is None and self.role is not Role.ASSISTANT:
            raise InvalidRequestError(
                f"a {self.role.value} message needs content (a string, a Content or a list of them), got None"
            )

    @classmethod
    def system(cls, content: Any) -> Message:
        return cls(Role.SYSTEM, content)

    @classmethod
    def user(cls, content: Any, name: Optional[str] = None) -> Message:
        return cls(Role.USER, content, name)

    @classmethod
    def assistant(cls, content: Any = None, tool_calls: Optional[Sequence[ToolCall]] = None) -> Message:
        return cls(Role.ASSISTANT, content, tool_calls=tool_calls)

    @classmethod
    def tool(cls, tool_call_id: str, content: Any) -> Message:
        return cls(Role.TOOL, content, tool_call_id=tool_call_id)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Message:
        """Accept an OpenAI-style message dict."""
        if "role" not in d:
            raise InvalidRequestError("message dict has no 'role'")
        unknown = set(d) - {"role", "content", "name", "tool_calls", "tool_call_id"}
        if unknown:
            raise InvalidRequestError(f"message dict has unknown keys {sorted(unknown)}")
        return cls(d["role"], d.get("content"), d.get("name"), d.get("tool_calls"), d.get("tool_call_id"))

    def parts(self) -> tuple[Content, ...]:
        """The content as a tuple of parts (a string becomes one text part)."""
        c = self.content
        if c is None:
            return ()
        if isinstance(c, str):
            return (Content("text", c),)
        if isinstance(c, Content):
            return (c,)
        return c

    def text(self) -> str:
        """All text parts joined."""
        c = self.content
        if isinstance(c, str):
            return c
        return "".join(p.as_text() for p in self.parts() if not p.is_image)

    def to_dict(self) -> dict[str, Any]:
        """OpenAI-style dict (used for checkpoints and the CLI)."""
        d: dict[str, Any] = {"role": self.role.value}
        c = self.content
        if c is None or isinstance(c, str):
            d["content"] = c
        else:
            d["content"] = [
                {"type": "image_url", "image_url": {"url": p.data_url()}} if p.is_image else {"type": "text", "text": p.as_text()}
                for p in self.parts()
            ]
        if self.name:
            d["name"] = self.name
        if self.tool_calls:
            d["tool_calls"] = [
                {"id": t.id, "type": "function", "function": {"name": t.name, "arguments": json.dumps(t.arguments)}}
                for t in self.tool_calls
            ]
        if self.tool_call_id:
            d["tool_call_id"] = self.tool_call_id
        return d


def _to_messages(value: Any) -> tuple[Message, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise InvalidRequestError("messages must be a list of Message objects or OpenAI-style dicts")
    out = []
    for m in value:
        if isinstance(m, Message):
            out.append(m)
        elif isinstance(m, Mapping):
            out.append(Message.from_dict(m))
        else:
            raise InvalidRequestError(f"a message must be a Message or a dict, not {type(m).__name__}")
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
            out.append(Tool.function(fn.get("name", ""), fn.get("description", ""), fn.get("parameters")))
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


@attrs.frozen(slots=True)
class ChatCompletionRequest:
    """A provider-neutral chat request. Invalid input raises ``InvalidRequestError`` here."""

    model: str = attrs.field(converter=_to_model)
    messages: tuple[Message, ...] = attrs.field(converter=_to_messages)
    temperature: Optional[float] = attrs.field(default=None, kw_only=True, validator=_check_optional_number("temperature", 0, 2))
    max_tokens: Optional[int] = attrs.field(default=None, kw_only=True, validator=_check_max_tokens)
    top_p: Optional[float] = attrs.field(default=None, kw_only=True, validator=_check_optional_number("top_p", 0, 1))
    stop: Optional[tuple[str, ...]] = attrs.field(default=None, kw_only=True, converter=_to_stop)
    tools: Optional[tuple[Tool, ...]] = attrs.field(default=None, kw_only=True, converter=_to_tools)
    tool_choice: Any = attrs.field(default=None, kw_only=True)
    response_format: Any = attrs.field(default=None, kw_only=True)
    extra: Optional[Mapping[str, Any]] = attrs.field(default=None, kw_only=True, validator=_check_extra)

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
            d["tools"] = [
                {"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.parameters}}
                for t in self.tools
            ]
        if self.extra:
            d.update(self.extra)
        return d

    @property
    def has_images(self) -> bool:
        return any(p.is_image for m in self.messages if not isinstance(m.content, str) for p in m.parts())


@attrs.frozen(slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


@attrs.frozen(slots=True)
class Attempt:
    """One wire attempt (or a target skipped without one), in call order."""

    provider: str
    model: str
    started_at: float  # wall-clock seconds (time.time())
    elapsed: float  # seconds
    outcome: str  # "ok" | "error" | "cancelled" | "skipped"
    error: Optional[AiLibError] = None
    hedge: bool = False
    endpoint: str = ""
    wait_after: Optional[float] = None  # the backoff slept before the next attempt

    def __repr__(self) -> str:
        err = f", error={type(self.error).__name__}" if self.error is not None else ""
        hedge = ", hedge=True" if self.hedge else ""
        wait = f", wait_after={self.wait_after:.3f}" if self.wait_after is not None else ""
        return f"Attempt({self.provider}/{self.model}, {self.outcome}, {self.elapsed * 1000:.1f}ms{err}{hedge}{wait})"


@attrs.frozen(slots=True)
class Choice:
    index: int
    message: Message
    finish_reason: Optional[str] = None


@attrs.frozen(slots=True)
class ChatCompletionResponse:
    """A provider-neutral answer, with every attempt it took."""

    id: str
    model: str
    provider: str
    choices: tuple[Choice, ...]
    usage: Optional[Usage] = None
    attempts: tuple[Attempt, ...] = ()
    raw: Any = attrs.field(default=None, repr=False, eq=False)
    cost: Optional[float] = None

    def first_text(self) -> str:
        """The first choice's text; raises ``AiLibError`` when it has none."""
        if not self.choices:
            raise AiLibError("the response has no choices", provider=self.provider, model=self.model)
        msg = self.choices[0].message
        text = msg.text() if msg.content is not None else ""
        if not text:
            what = "only tool calls" if msg.tool_calls else "no text"
            raise AiLibError(f"the first choice has {what}", provider=self.provider, model=self.model)
        return text

    @property
    def text(self) -> str:
        if not self.choices or self.choices[0].message.content is None:
            return ""
        return self.choices[0].message.text()

    @property
    def tool_calls(self) -> tuple[ToolCall, ...]:
        if not self.choices:
            return ()
        return self.choices[0].message.tool_calls or ()

    @property
    def finish_reason(self) -> Optional[str]:
        return self.choices[0].finish_reason if self.choices else None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable form (checkpoints, CLI output); no attempts' errors, no raw."""
        return {
            "id": self.id,
            "model": self.model,
            "provider": self.provider,
            "choices": [
                {"index": c.index, "message": c.message.to_dict(), "finish_reason": c.finish_reason} for c in self.choices
            ],
            "usage": attrs.asdict(self.usage) if self.usage else None,
            "cost": self.cost,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ChatCompletionResponse:
        usage = d.get("usage")
        return cls(
            id=d.get("id", ""),
            model=d.get("model", ""),
            provider=d.get("provider", ""),
            choices=tuple(
                Choice(c.get("index", i), Message.from_dict(c["message"]), c.get("finish_reason"))
                for i, c in enumerate(d.get("choices", []))
            ),
            usage=Usage(**usage) if usage else None,
            cost=d.get("cost"),
        )


@attrs.frozen(slots=True)
class StreamChunk:
    """One piece of a streamed answer. ``usage`` and complete ``tool_calls`` come on the last chunk."""

    delta_text: str = ""
    tool_call_deltas: tuple[ToolCallDelta, ...] = ()
    finish_reason: Optional[str] = None
    usage: Optional[Usage] = None
    provider: str = ""
    model: str = ""
    tool_calls: tuple[ToolCall, ...] = ()

    @property
    def has_content(self) -> bool:
        """True when the chunk carries something the caller sees (the streaming commit point)."""
        return bool(self.delta_text or self.tool_call_deltas or self.tool_calls)
