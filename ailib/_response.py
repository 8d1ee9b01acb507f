"""Responses, choices, stream chunks and usage (value classes); ``Attempt`` is in ``errors``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional

import attrs

from ._message import Message, ToolCall, ToolCallDelta
from ._value import value
from .errors import AiLibError, Attempt

__all__ = ["Usage", "Attempt", "Choice", "ChatCompletionResponse", "StreamChunk"]


def _summary(raw: Any) -> str:
    """A provider's raw answer in a repr: its type only (it may be large)."""
    return "None" if raw is None else f"<{type(raw).__name__}>"


@value
class Usage:
    """Tokens a call used, as the provider counted them.

    ``prompt_tokens`` is every input token the model read, cached or not (for Anthropic:
    ``input_tokens`` + cache reads + cache writes); ``completion_tokens`` every output token,
    reasoning included. ``cached_tokens`` (read from a prompt cache) and ``cache_write_tokens``
    (written to it) are parts of ``prompt_tokens``; ``reasoning_tokens`` is part of
    ``completion_tokens``. A detail is None when the provider did not report it. Cohere's
    counts are its ``billed_units`` (what is charged) when it reports them.
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: Optional[int] = None
    cache_write_tokens: Optional[int] = None
    reasoning_tokens: Optional[int] = None


@value
class Choice:
    """One of a response's answers: its ``index``, the assistant ``message`` and why it ended."""

    index: int
    message: Message
    finish_reason: Optional[str] = None


@value
class ChatCompletionResponse:
    """A provider-neutral answer, with every attempt it took."""

    id: str
    model: str
    provider: str
    choices: tuple[Choice, ...]
    usage: Optional[Usage] = None
    attempts: tuple[Attempt, ...] = ()
    raw: Any = attrs.field(default=None, repr=_summary, eq=False)
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
        """The first choice's text, or ``""`` when it has none (e.g. only tool calls)."""
        if not self.choices or self.choices[0].message.content is None:
            return ""
        return self.choices[0].message.text()

    @property
    def tool_calls(self) -> tuple[ToolCall, ...]:
        """The first choice's tool calls (empty when there are none)."""
        if not self.choices:
            return ()
        return self.choices[0].message.tool_calls or ()

    @property
    def finish_reason(self) -> Optional[str]:
        """Why the first choice ended (``"stop"``, ``"length"``, ``"tool_calls"``...), or None."""
        return self.choices[0].finish_reason if self.choices else None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable form (checkpoints, CLI output); no attempts' errors, no raw."""
        return {
            "id": self.id,
            "model": self.model,
            "provider": self.provider,
            "choices": [{"index": c.index, "message": c.message.to_dict(), "finish_reason": c.finish_reason} for c in self.choices],
            "usage": attrs.asdict(self.usage) if self.usage else None,
            "cost": self.cost,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ChatCompletionResponse:
        """The response ``to_dict`` wrote (as a batch checkpoint stores it)."""
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


@value
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
