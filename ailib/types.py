"""Messages, requests, responses, stream chunks and attempt records (frozen attrs classes).

The request is defined here; messages live in ``_message``, responses in ``_response`` and
attempt records beside the errors that carry them (``errors``); every name is importable from
here. Within the bottom layer the imports run one way: ``types`` → ``_response`` →
``_message`` → ``errors`` → ``_secrets``, ``_value``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Optional, Union

import attrs

from ._message import AUTO_MODELS as AUTO_MODELS  # re-exported (routing reads it from here)
from ._message import Citation, Content, Message, ReasoningPart, Role, ServerToolPart, Tool, ToolCall, ToolCallDelta, _check_json
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
    "Citation",
    "ServerToolPart",
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


REASONING_EFFORTS = ("low", "medium", "high")
# The thinking budget an effort stands for where a format takes only a budget (Anthropic, Cohere).
REASONING_BUDGETS = {"low": 1024, "medium": 4096, "high": 16384}


def _check_reasoning(_inst: Any, _attr: Any, value: Any) -> None:
    if value is None or value in REASONING_EFFORTS:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidRequestError(f"reasoning must be 'low', 'medium', 'high' or a positive token budget (int), got {value!r}")


def reasoning_budget(reasoning: Any) -> int:
    """A request's ``reasoning`` as a thinking-token budget: an int as given, an effort by ``REASONING_BUDGETS``."""
    return reasoning if isinstance(reasoning, int) else REASONING_BUDGETS[reasoning]


def reasoning_effort(reasoning: Any) -> str:
    """A request's ``reasoning`` as an effort: an effort as given; a budget up to 1024 tokens is
    ``"low"``, up to 4096 ``"medium"``, more ``"high"`` (the ``REASONING_BUDGETS`` steps)."""
    if isinstance(reasoning, str):
        return reasoning
    return "low" if reasoning <= REASONING_BUDGETS["low"] else "medium" if reasoning <= REASONING_BUDGETS["medium"] else "high"


def _check_response_format(_inst: Any, _attr: Any, value: Any) -> None:
    if value is None or isinstance(value, Mapping):
        return
    from ._schema import check_response_format  # structured output by a class: loaded on first use

    check_response_format(value)


def _check_n(_inst: Any, _attr: Any, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidRequestError(f"n (the number of answers) must be a positive int, got {value!r}")


def _check_cached_content(_inst: Any, _attr: Any, value: Any) -> None:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise InvalidRequestError(f"cached_content must be the name of a Gemini cached content ('cachedContents/...'), got {value!r}")


# ailib's own metric labels (and Prometheus' reserved ones): a request tag may not take these names.
RESERVED_TAGS = frozenset({"provider", "model", "outcome", "kind", "endpoint", "step", "from", "hook", "le", "quantile"})
_MAX_TAGS = 32
_MAX_TAG_VALUE = 256


def _to_tags(value: Any) -> Optional[dict[str, str]]:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidRequestError(f"tags must be a mapping of str to str, got {type(value).__name__}")
    if len(value) > _MAX_TAGS:
        raise InvalidRequestError(f"a request takes at most {_MAX_TAGS} tags, got {len(value)}")
    out: dict[str, str] = {}
    for k, v in value.items():
        if not isinstance(k, str) or not k or len(k) > 64 or not (k[0].isascii() and (k[0].isalpha() or k[0] == "_")):
            raise InvalidRequestError(f"a tag name must be a str of letters, digits and _ (not starting with a digit), got {k!r}")
        if not all(c.isascii() and (c.isalnum() or c == "_") for c in k):
            raise InvalidRequestError(f"a tag name must be a str of letters, digits and _ (not starting with a digit), got {k!r}")
        if k in RESERVED_TAGS:
            raise InvalidRequestError(f"tag name {k!r} is one of ailib's own labels ({', '.join(sorted(RESERVED_TAGS))}); choose another")
        if not isinstance(v, str) or len(v) > _MAX_TAG_VALUE:
            raise InvalidRequestError(f"tag {k!r} must have a str value of at most {_MAX_TAG_VALUE} characters, got {v!r:.80}")
        out[k] = v
    return out or None


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
    is sent there). ``reasoning`` (``"low"``, ``"medium"``, ``"high"`` or a token budget) asks
    for thinking: OpenAI format ``reasoning_effort``, Anthropic ``thinking`` with a budget,
    Gemini ``thinkingConfig``, Cohere ``thinking`` (see each format). ``response_format`` is an
    OpenAI-style dict (``{"type": "json_schema", "json_schema": {"name", "schema", "strict"}}`` or
    ``{"type": "json_object"}``), or a pydantic model class or dataclass: its strict JSON schema is
    sent in each format's form and the response's ``parsed`` holds the answer as an instance.
    ``n`` asks for that many answers (``response.choices``; streamed chunks carry their
    ``choice_index``): OpenAI format ``n``, Gemini ``generationConfig.candidateCount``; Anthropic
    and Cohere give one answer and refuse ``n > 1`` before sending. ``cached_content`` names a
    Gemini cached content (``"cachedContents/..."``, made with Gemini's caches API) that holds the
    start of the prompt: sent as ``cachedContent`` to Gemini; every other format refuses it before
    sending, since the prompt would go without its cached part. ``tags`` (str to str; names of
    ASCII letters, digits and ``_``, not ailib's own labels) label the call's metrics, spans
    (``ailib.tag.<name>``) and log lines (``extra={"ailib_tags": ...}``); they are never sent
    and never part of a cache or checkpoint key. ``extra`` holds further body
    fields in the serving format's own names; it is merged deeply into the body each format
    builds (objects key by key, any other value replaces).
    """

    model: str = attrs.field(converter=_to_model)
    messages: tuple[Message, ...] = attrs.field(converter=_to_messages)
    temperature: Optional[float] = attrs.field(default=None, kw_only=True, validator=_check_optional_number("temperature", 0, 2))
    max_tokens: Optional[int] = attrs.field(default=None, kw_only=True, validator=_check_max_tokens)
    top_p: Optional[float] = attrs.field(default=None, kw_only=True, validator=_check_optional_number("top_p", 0, 1))
    stop: Optional[tuple[str, ...]] = attrs.field(default=None, kw_only=True, converter=_to_stop)
    tools: Optional[tuple[Tool, ...]] = attrs.field(default=None, kw_only=True, converter=_to_tools)
    tool_choice: Any = attrs.field(default=None, kw_only=True, hash=False)
    response_format: Any = attrs.field(default=None, kw_only=True, hash=False, validator=_check_response_format)
    extra: Optional[Mapping[str, Any]] = attrs.field(default=None, kw_only=True, validator=_check_extra, hash=False)
    reasoning: Union[str, int, None] = attrs.field(default=None, kw_only=True, validator=_check_reasoning)
    n: Optional[int] = attrs.field(default=None, kw_only=True, validator=_check_n)
    cached_content: Optional[str] = attrs.field(default=None, kw_only=True, validator=_check_cached_content)
    tags: Optional[Mapping[str, str]] = attrs.field(default=None, kw_only=True, converter=_to_tags, hash=False)

    @classmethod
    def from_dict(cls, body: Mapping[str, Any]) -> ChatCompletionRequest:
        """Build from an OpenAI-style request body (unknown keys go to ``extra``)."""
        if not isinstance(body, Mapping):
            raise InvalidRequestError("a request body must be a JSON object")
        known = {"model", "messages", "temperature", "max_tokens", "top_p", "stop", "tools", "tool_choice", "response_format", "n"}
        reasoning = body.get("reasoning_effort") if body.get("reasoning_effort") in REASONING_EFFORTS else None
        if reasoning is not None:
            known.add("reasoning_effort")
        elif "reasoning_budget" in body:  # ailib's own key, as to_dict writes a budget
            reasoning = body["reasoning_budget"]
            known.add("reasoning_budget")
        if "cached_content" in body:  # ailib's own key, as to_dict writes it
            known.add("cached_content")
        if "tags" in body:  # ailib's own key: labels, never sent
            known.add("tags")
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
            reasoning=reasoning,
            n=body.get("n"),
            cached_content=body.get("cached_content"),
            tags=body.get("tags"),
        )

    def to_dict(self) -> dict[str, Any]:
        """OpenAI-style body: a stable, JSON-serialisable form (checkpoint keys use it). ``tags``
        are left out: they label a call, they do not change its answer."""
        d: dict[str, Any] = {"model": self.model, "messages": [m.to_dict() for m in self.messages]}
        for name in ("temperature", "max_tokens", "top_p", "tool_choice", "n"):
            v = getattr(self, name)
            if v is not None:
                d[name] = v
        if isinstance(self.response_format, type):  # a class as the JSON schema it stands for
            from ._schema import wire_response_format

            d["response_format"] = wire_response_format(self.response_format)
        elif self.response_format is not None:
            d["response_format"] = self.response_format
        if self.stop is not None:
            d["stop"] = list(self.stop)
        if self.tools:
            d["tools"] = [t.to_dict() for t in self.tools]
        if self.reasoning is not None:
            d["reasoning_effort" if isinstance(self.reasoning, str) else "reasoning_budget"] = self.reasoning
        if self.cached_content is not None:  # ailib's own key (cache keys, checkpoints)
            d["cached_content"] = self.cached_content
        if self.extra:
            d.update(self.extra)
        return d

    @property
    def has_images(self) -> bool:
        """Whether any message has an image part."""
        return any(p.is_image for m in self.messages if not isinstance(m.content, str) for p in m.parts())
