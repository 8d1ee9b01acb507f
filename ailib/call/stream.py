"""``ChatStream``: the caller's side of a streamed call, past its commit point."""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Mapping
from typing import Any, Callable, Optional

from .._headers import request_id
from .._response import ResponseHeaders, parse_answer
from .._trace_api import NOOP_CALL, CallTrace
from ..errors import AiLibError, StreamInterruptedError
from ..types import (
    Attempt,
    ChatCompletionResponse,
    Choice,
    Citation,
    Message,
    ReasoningPart,
    Role,
    ServerToolPart,
    StreamChunk,
    ToolCall,
    Usage,
)
from .branch import AttemptLog
from .spec import Primed

__all__ = ["ChatStream"]

# How long the end of a stream's body may take to follow its terminal event (a server
# normally sends both at once) before the connection is closed instead of pooled.
_BODY_END_WAIT = 0.05
_UNPARSED: Any = object()  # ChatStream.parsed not worked out yet


def _merge_logprobs(acc: Optional[dict[str, Any]], piece: Mapping[str, Any]) -> dict[str, Any]:
    """A stream's logprobs so far with one chunk's added: each list (``content``, ``refusal``) extended."""
    acc = {} if acc is None else acc
    for key, val in piece.items():
        if isinstance(val, list):
            acc.setdefault(key, []).extend(val)
        elif key not in acc:
            acc[key] = val
    return acc


class _ChoiceParts:
    """What a stream delivered for one further choice (``n > 1``), for ``collect()``."""

    __slots__ = ("parts", "refusal", "tool_calls", "finish_reason", "logprobs", "reasoning_parts", "citations", "server_tool_parts")

    def __init__(self) -> None:
        self.reasoning_parts: tuple[ReasoningPart, ...] = ()
        self.citations: list[Citation] = []
        self.server_tool_parts: list[ServerToolPart] = []
        self.logprobs: Optional[dict[str, Any]] = None
        self.parts: list[str] = []
        self.refusal: Optional[list[str]] = None
        self.tool_calls: tuple[ToolCall, ...] = ()
        self.finish_reason: Optional[str] = None

    def take(self, chunk: StreamChunk) -> None:
        if chunk.delta_text:
            self.parts.append(chunk.delta_text)
        if chunk.refusal is not None:
            self.refusal = (self.refusal or []) + [chunk.refusal]
        if chunk.logprobs:
            self.logprobs = _merge_logprobs(self.logprobs, chunk.logprobs)
        if chunk.tool_calls:
            self.tool_calls = chunk.tool_calls
        if chunk.reasoning_parts:
            self.reasoning_parts = chunk.reasoning_parts
        if chunk.citations:
            self.citations.extend(chunk.citations)
        if chunk.server_tool_parts:
            self.server_tool_parts.extend(chunk.server_tool_parts)
        if chunk.finish_reason is not None:
            self.finish_reason = chunk.finish_reason

    def choice(self, index: int) -> Choice:
        message = Message(
            Role.ASSISTANT,
            "".join(self.parts) or None,
            tool_calls=self.tool_calls or None,
            reasoning_parts=self.reasoning_parts,
            citations=tuple(self.citations),
            server_tool_parts=tuple(self.server_tool_parts),
        )
        refusal = "".join(self.refusal) if self.refusal is not None else ("" if self.finish_reason == "refusal" else None)
        return Choice(index, message, self.finish_reason, refusal, None, self.logprobs)


class ChatStream:
    """An iterator of ``StreamChunk`` and a context manager; leaving early closes the connection.

    Failures after the first content chunk raise ``StreamInterruptedError`` with the text
    delivered so far; a stream never ends short silently. After the end: ``text``,
    ``reasoning``, ``reasoning_parts``, ``refusal``, ``citations``, ``server_tool_parts``, ``tool_calls``,
    ``usage``, ``finish_reason``, ``attempts`` (all of the first choice; ``collect()`` gives every
    choice), and ``parsed`` (the answer as an instance of the class given as ``response_format``).
    From the start: ``headers``, ``request_id``;
    ``id`` once the provider has named its answer.
    """

    def __init__(self, primed: Primed, log: AttemptLog, on_finish: Optional[Callable[[ChatStream], None]] = None) -> None:
        self._resp = primed.resp
        self._events = primed.events
        self._decoder = primed.decoder
        self._pending: deque[StreamChunk] = deque(primed.chunks)
        self._log = log  # the call's attempt records (this stream's own from here on)
        self._on_finish = on_finish  # the client's usage ledger
        self.cost: Optional[float] = None
        self._charged = getattr(primed, "charged", None)  # what a spend budget charged at the commit point (corrected at the end)
        self.tags: Optional[Mapping[str, str]] = None  # the call's request tags (its usage counters carry them)
        self.provider = primed.target.endpoint.provider
        self.model = primed.target.model
        self._parts: list[str] = []
        self._reasoning: list[str] = []  # the first choice's reasoning text pieces
        self.reasoning_parts: tuple[ReasoningPart, ...] = ()  # whole, from the last chunk
        self._citations: list[Citation] = []  # the first choice's, in arrival order
        self._server_tools: list[ServerToolPart] = []
        self._refusal: Optional[list[str]] = None  # the first choice's refusal pieces, once it refuses
        self._others: dict[int, _ChoiceParts] = {}  # choices with index >= 1 (``n > 1``)
        self._logprobs: Optional[dict[str, Any]] = None  # the first choice's, when the provider sends them
        self.headers: ResponseHeaders = ResponseHeaders(getattr(self._resp, "headers", None) or {})
        self.tool_calls: tuple[ToolCall, ...] = ()
        self.usage: Optional[Usage] = None
        self.finish_reason: Optional[str] = None
        self.finished = False
        self._closed = False
        self.trace: CallTrace = NOOP_CALL  # the call's span: ends when the stream ends, fails or is closed
        self.parse_as: Optional[type] = None  # the request's response_format class, when it gave one
        self._parsed: Any = _UNPARSED

    @property
    def attempts(self) -> tuple[Attempt, ...]:
        """Every attempt so far, in order (the stream's own included)."""
        return tuple(self._log.attempts)

    @property
    def text(self) -> str:
        """The text delivered so far."""
        return "".join(self._parts)

    @property
    def reasoning(self) -> Optional[str]:
        """The model's reasoning text delivered so far (``delta_reasoning`` joined), or None when it showed none."""
        return "".join(self._reasoning) if self._reasoning else None

    @property
    def citations(self) -> tuple[Citation, ...]:
        """The citations delivered so far (every chunk's ``citations``, in order)."""
        return tuple(self._citations)

    @property
    def server_tool_parts(self) -> tuple[ServerToolPart, ...]:
        """The server-tool blocks delivered so far (web search and its results...), in order."""
        return tuple(self._server_tools)

    @property
    def refusal(self) -> Optional[str]:
        """The model's refusal text so far (``finish_reason == "refusal"``), or None when it has not refused."""
        return None if self._refusal is None else "".join(self._refusal)

    @property
    def refusal_details(self) -> Optional[Mapping[str, Any]]:
        """What the provider said about a refusal beyond its text (Anthropic ``stop_details``), or None."""
        details: Optional[Mapping[str, Any]] = getattr(self._decoder, "refusal_details", None)
        return details

    @property
    def parsed(self) -> Any:
        """Once the stream has ended: the answer as an instance of the class given as
        ``response_format`` (None without one, on a refusal, or with no text); None before the end.
        Raises ``StructuredOutputError`` when the answer does not parse."""
        if self.parse_as is None or not self.finished or self.refusal is not None or self.finish_reason == "refusal" or not self._parts:
            return None
        if self._parsed is _UNPARSED:
            self._parsed = parse_answer(
                self.parse_as, self.text, provider=self.provider, model=self.model, attempts=self.attempts, finish_reason=self.finish_reason
            )
        return self._parsed

    @property
    def id(self) -> str:
        """The provider's id for the answer (``""`` until an event has named it)."""
        return getattr(self._decoder, "response_id", None) or ""  # a cache replay's stand-in has none

    @property
    def request_id(self) -> Optional[str]:
        """The provider's id for the HTTP request (``x-request-id``, ``request-id``...), or None."""
        return request_id(self.headers)

    def _reported_model(self) -> str:
        """The model the provider said answered (a dated version of an alias, say), else ``model``
        (the one the call asked for)."""
        reported = getattr(self._decoder, "model", None)  # a cache replay's stand-in has none
        return reported if isinstance(reported, str) and reported else self.model

    def __iter__(self) -> ChatStream:
        return self

    def __next__(self) -> StreamChunk:
        if self._pending:
            return self._deliver(self._pending.popleft())
        if self._closed:
            raise StopIteration
        decoder = self._decoder
        while not decoder.complete:
            try:
                event = next(self._events)
            except StopIteration:
                self._end()
                raise
            except AiLibError as err:
                raise self._interrupted(err) from err
            try:
                chunks = decoder.feed(event)
            except AiLibError as err:
                raise self._interrupted(err) from err
            if chunks:
                self._pending.extend(chunks[1:])
                return self._deliver(chunks[0])
        self._take_body_end()  # the terminal event is in: what follows is not awaited
        self._end()
        raise StopIteration

    def _take_body_end(self) -> None:
        """After the terminal event, take the body's end if it is already on its way (the
        connection then goes back to the pool); a server that keeps the body open is not
        waited for beyond ``_BODY_END_WAIT`` (its connection is discarded)."""
        finish = getattr(self._resp, "finish", None)  # optional in a transport's StreamingResponse
        if finish is not None:
            finish(_BODY_END_WAIT)

    def _end(self) -> None:
        """The stream ended: properly (its terminal event was seen) or as an interruption."""
        try:
            self._decoder.finish()
        except AiLibError as err:
            raise self._interrupted(err) from err
        self.finished = True
        self.close()
        if self._on_finish is not None:
            self._on_finish(self)

    def _deliver(self, chunk: StreamChunk) -> StreamChunk:
        if chunk.choice_index:
            self._others.setdefault(chunk.choice_index, _ChoiceParts()).take(chunk)
            return chunk
        if chunk.refusal is not None:
            if self._refusal is None:
                self._refusal = []
            self._refusal.append(chunk.refusal)
        if chunk.logprobs:
            self._logprobs = _merge_logprobs(self._logprobs, chunk.logprobs)
        if chunk.delta_text:
            self._parts.append(chunk.delta_text)
        if chunk.delta_reasoning:
            self._reasoning.append(chunk.delta_reasoning)
        if chunk.tool_calls:
            self.tool_calls = chunk.tool_calls
        if chunk.reasoning_parts:
            self.reasoning_parts = chunk.reasoning_parts
        if chunk.citations:
            self._citations.extend(chunk.citations)
        if chunk.server_tool_parts:
            self._server_tools.extend(chunk.server_tool_parts)
        if chunk.usage is not None:
            self.usage = chunk.usage
        if chunk.finish_reason is not None:
            self.finish_reason = chunk.finish_reason
            if chunk.finish_reason == "refusal" and self._refusal is None:
                self._refusal = []
        return chunk

    def _interrupted(self, cause: AiLibError) -> StreamInterruptedError:
        self.trace.fail(cause, error_type="StreamInterruptedError")
        self.close()
        attempts = self._log.attempts
        if attempts and attempts[-1].outcome == "ok":
            a = attempts[-1]
            attempts[-1] = Attempt(a.provider, a.model, a.started_at, a.elapsed, "error", cause, a.hedge, a.endpoint)
        partial = self.text
        return StreamInterruptedError(
            f"stream interrupted after {len(partial)} characters: {type(cause).__name__}: {cause.message}",
            partial_text=partial,
            cause=cause,
            provider=self.provider,
            model=self.model,
            attempts=attempts,
        )

    def collect(self) -> ChatCompletionResponse:
        """Read the rest of the stream and return it as one response."""
        for _ in self:
            pass
        return self._collected()

    def _collected(self) -> ChatCompletionResponse:
        """What the stream has delivered so far as one response (``collect()`` without reading on)."""
        message = Message(
            Role.ASSISTANT,
            self.text or None,
            tool_calls=self.tool_calls or None,
            reasoning_parts=self._collected_reasoning(),
            citations=self.citations,
            server_tool_parts=self.server_tool_parts,
        )
        refusal = self.refusal if self.refusal is not None or self.finish_reason != "refusal" else ""
        choices = [Choice(0, message, self.finish_reason, refusal, self.refusal_details, self._logprobs)]
        for index, parts in sorted(self._others.items()):
            choices.append(parts.choice(index))
        # The model the provider named in its events (``gpt-4o-2024-08-06`` for ``gpt-4o``), as a
        # non-streamed response has it; the requested one when no event named any.
        return ChatCompletionResponse(
            self.id,
            self._reported_model(),
            self.provider,
            tuple(choices),
            self.usage,
            self.attempts,
            cost=self.cost,
            headers=self.headers,
            parsed=self.parsed,
        )

    def _collected_reasoning(self) -> tuple[ReasoningPart, ...]:
        """The reasoning parts for ``collect()``'s message: the decoder's whole parts, or (a format
        that has none) the streamed reasoning text as one part that no format sends back."""
        if self.reasoning_parts or not self._reasoning:
            return self.reasoning_parts
        return (ReasoningPart("stream", "text", "".join(self._reasoning)),)

    def close(self) -> None:
        """Stop reading; an unfinished stream's connection is closed, not reused."""
        if not self._closed:
            self._closed = True
            self._resp.close()
            self.trace.finish_stream(self)

    def __enter__(self) -> ChatStream:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # never raise from a finalizer
            self.close()
