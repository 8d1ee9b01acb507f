"""Responses, choices, stream chunks and usage (value classes); ``Attempt`` is in ``errors``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Optional

import attrs

from ._headers import request_id as _request_id
from ._message import Citation, Message, ReasoningPart, ServerToolPart, ToolCall, ToolCallDelta
from ._secrets import is_secret_header
from ._value import value
from .errors import AiLibError, Attempt, ContentFilteredError, StructuredOutputError

__all__ = ["Usage", "Attempt", "Choice", "ChatCompletionResponse", "StreamChunk", "ResponseHeaders", "with_parsed", "parse_answer"]

# Response headers never kept on a response: credentials (a gateway may echo one) and cookies.
_DROPPED_HEADERS = frozenset({"set-cookie", "set-cookie2"})


class ResponseHeaders(Mapping[str, str]):
    """The HTTP headers a provider answered with: read-only, names matched case-insensitively
    (kept lowercase), credentials and cookies left out. Built lazily: a call that never looks
    pays nothing but this wrapper."""

    __slots__ = ("_source", "_items")

    def __init__(self, source: Optional[Mapping[str, str]] = None) -> None:
        self._source = source
        self._items: Optional[dict[str, str]] = None

    def _all(self) -> dict[str, str]:
        items = self._items
        if items is None:
            items = {}
            for name, val in (self._source or {}).items():
                lower = name.lower()
                if lower not in _DROPPED_HEADERS and not is_secret_header(lower):
                    items[lower] = val if lower not in items else f"{items[lower]}, {val}"
            self._items = items
            self._source = None
        return items

    def __getitem__(self, name: str) -> str:
        return self._all()[name.lower()] if isinstance(name, str) else self._all()[name]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._all()

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ResponseHeaders):
            return self._all() == other._all()
        if isinstance(other, Mapping):
            return self._all() == {str(k).lower(): v for k, v in other.items()}
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # a mapping: unhashable, as dict

    def __repr__(self) -> str:
        return f"ResponseHeaders({self._all()!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (ResponseHeaders, (dict(self._all()),))


_NO_HEADERS = ResponseHeaders({})


def _headers(source: Optional[Mapping[str, str]]) -> ResponseHeaders:
    return source if isinstance(source, ResponseHeaders) else ResponseHeaders(source) if source else _NO_HEADERS


def _headers_repr(headers: Mapping[str, str]) -> str:
    """Headers in a response's repr: their count only (they are many, and rarely the point)."""
    return f"<{len(headers)} headers>"


def _summary(raw: Any) -> str:
    """A provider's raw answer in a repr: its type only (it may be large)."""
    return "None" if raw is None else f"<{type(raw).__name__}>"


@value
class Usage:
    """Tokens a call used, as the provider counted them.

    ``prompt_tokens`` is every input token the model read, cached or not (for Anthropic:
    ``input_tokens`` + cache reads + cache writes); ``completion_tokens`` every output token,
    reasoning included. ``cached_tokens`` (read from a prompt cache) and ``cache_write_tokens``
    (written to it) are parts of ``prompt_tokens``; ``cache_write_1h_tokens`` is the part of
    ``cache_write_tokens`` written with a 1-hour lifetime (Anthropic's ``cache_creation.
    ephemeral_1h_input_tokens``, billed at 2 x input where 5-minute writes cost 1.25 x);
    ``reasoning_tokens`` is part of
    ``completion_tokens``. A detail is None when the provider did not report it. Cohere's
    counts are its ``billed_units`` (what is charged) when it reports them.
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: Optional[int] = None
    cache_write_tokens: Optional[int] = None
    reasoning_tokens: Optional[int] = None
    cache_write_1h_tokens: Optional[int] = None


@value
class Choice:
    """One of a response's answers: its ``index``, the assistant ``message`` and why it ended."""

    index: int
    message: Message
    finish_reason: Optional[str] = None
    # The model's refusal (``finish_reason == "refusal"``): its text as the provider gave it
    # (OpenAI ``message.refusal``; Anthropic's explanation, or ``""`` when it gave none).
    refusal: Optional[str] = None
    # What the provider said about the refusal beyond its text (Anthropic ``stop_details``).
    refusal_details: Optional[Mapping[str, Any]] = attrs.field(default=None, hash=False)
    # Token log probabilities as the provider sent them (OpenAI ``choices[].logprobs``:
    # ``{"content": [...], "refusal": [...]}``), when asked for; None otherwise.
    logprobs: Optional[Mapping[str, Any]] = attrs.field(default=None, hash=False)


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
    # The HTTP headers of the answer (``x-ratelimit-*``, ``x-request-id``...): read-only,
    # case-insensitive, never credentials or cookies. Empty for a response not read off the wire.
    headers: Mapping[str, str] = attrs.field(default=_NO_HEADERS, converter=_headers, repr=_headers_repr, eq=False, hash=False)
    # The first choice's answer as an instance of the class given as ``response_format`` (a
    # pydantic model or a dataclass); None without such a class, on a refusal, or with no text.
    parsed: Any = attrs.field(default=None, eq=False, hash=False)

    @property
    def request_id(self) -> Optional[str]:
        """The provider's id for the HTTP request (``x-request-id``, ``request-id``...), or None."""
        return _request_id(self.headers)

    @property
    def reasoning(self) -> Optional[str]:
        """The first choice's reasoning text (thinking, thoughts, ``reasoning_content``) joined, or None
        when the model showed none. Its parts, signatures included, are ``choices[0].message.reasoning_parts``."""
        return self.choices[0].message.reasoning if self.choices else None

    @property
    def refusal(self) -> Optional[str]:
        """The first choice's refusal text when the model refused (``finish_reason == "refusal"``), else None."""
        return self.choices[0].refusal if self.choices else None

    @property
    def citations(self) -> tuple[Citation, ...]:
        """The sources the first choice's answer cites (empty when it cites none)."""
        return self.choices[0].message.citations if self.choices else ()

    @property
    def server_tool_parts(self) -> tuple[ServerToolPart, ...]:
        """The tools the provider ran itself for the first choice (web search...), in order (empty when none)."""
        return self.choices[0].message.server_tool_parts if self.choices else ()

    def first_text(self) -> str:
        """The first choice's text; raises ``AiLibError`` when it has none
        (``ContentFilteredError`` when the model refused)."""
        if not self.choices:
            raise AiLibError("the response has no choices", provider=self.provider, model=self.model)
        first = self.choices[0]
        if first.refusal is not None or first.finish_reason == "refusal":
            said = f": {first.refusal}" if first.refusal else ""
            raise ContentFilteredError(f"the model refused to answer{said}", provider=self.provider, model=self.model)
        msg = first.message
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
            "choices": [_choice_dict(c) for c in self.choices],
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
                Choice(
                    c.get("index", i),
                    Message.from_dict(c["message"]),
                    c.get("finish_reason"),
                    c.get("refusal"),
                    c.get("refusal_details"),
                    c.get("logprobs"),
                )
                for i, c in enumerate(d.get("choices", []))
            ),
            usage=Usage(**usage) if usage else None,
            cost=d.get("cost"),
        )


def parse_answer(
    cls: type, text: str, *, provider: str, model: str, attempts: tuple[Attempt, ...] = (), finish_reason: Optional[str] = None
) -> Any:
    """``text`` as an instance of ``cls``; ``StructuredOutputError`` (with the text and the
    attempts) when it is not JSON or does not fit the class."""
    from ._schema import ParseFailure, parse_json  # loaded by the first typed answer

    try:
        return parse_json(cls, text)
    except ParseFailure as exc:
        cut = " (the answer was cut off: finish_reason 'length')" if finish_reason == "length" else ""
        raise StructuredOutputError(
            f"the answer does not parse as {cls.__qualname__}{cut}: {exc}", raw_text=text, provider=provider, model=model, attempts=attempts
        ) from None


def with_parsed(resp: ChatCompletionResponse, cls: type) -> ChatCompletionResponse:
    """``resp`` with ``parsed`` set from its first choice's text (left None on a refusal or
    when there is no text, e.g. only tool calls). Raises ``StructuredOutputError``."""
    first = resp.choices[0] if resp.choices else None
    if first is None or first.refusal is not None or first.finish_reason == "refusal" or first.message.content is None:
        return resp
    text = first.message.text()
    if not text:
        return resp
    parsed = parse_answer(cls, text, provider=resp.provider, model=resp.model, attempts=resp.attempts, finish_reason=first.finish_reason)
    return attrs.evolve(resp, parsed=parsed)


def _choice_dict(c: Choice) -> dict[str, Any]:
    d: dict[str, Any] = {"index": c.index, "message": c.message.to_dict(), "finish_reason": c.finish_reason}
    if c.refusal is not None:
        d["refusal"] = c.refusal
    if c.refusal_details is not None:
        d["refusal_details"] = dict(c.refusal_details)
    if c.logprobs is not None:
        d["logprobs"] = dict(c.logprobs)
    return d


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
    # A piece of the model's refusal text (OpenAI ``delta.refusal``; on the last chunk,
    # Anthropic's explanation). Refusal text is content: it is the streaming commit point.
    refusal: Optional[str] = None
    choice_index: int = 0  # which choice the chunk belongs to (``n > 1``)
    # This chunk's token log probabilities as sent (OpenAI ``choices[].logprobs``), when asked for.
    logprobs: Optional[Mapping[str, Any]] = attrs.field(default=None, hash=False)
    # The decoded event the chunk came from, as received (None for a chunk made at the end).
    raw: Any = attrs.field(default=None, repr=_summary, eq=False, hash=False)
    # A piece of the model's readable reasoning (Anthropic ``thinking_delta``, Gemini thought
    # parts, OpenAI-compatible ``delta.reasoning_content``); it is content the caller sees.
    delta_reasoning: str = ""
    # On the last chunk: the reasoning parts whole, signatures included (as ``tool_calls``), for
    # the assistant message that replays the answer.
    reasoning_parts: tuple[ReasoningPart, ...] = ()
    # Citations that arrived with this chunk (each once; ``ChatStream.citations`` has them all):
    # Anthropic ``citations_delta`` (given when its text block ends, with its offsets), OpenAI
    # ``delta.annotations``, Gemini grounding, Cohere ``citation-start``.
    citations: tuple[Citation, ...] = ()
    # Server-tool blocks completed with this chunk (each once; ``ChatStream.server_tool_parts`` has them all).
    server_tool_parts: tuple[ServerToolPart, ...] = ()

    @property
    def has_content(self) -> bool:
        """True when the chunk carries something the caller sees (the streaming commit point)."""
        return bool(
            self.delta_text or self.tool_call_deltas or self.tool_calls or self.refusal or self.delta_reasoning or self.server_tool_parts
        )
