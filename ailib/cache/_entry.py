"""What a cache entry holds: a finished answer (JSON bytes), and its replay as a stream."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Optional

from .._value import value
from ..types import ChatCompletionResponse, StreamChunk

__all__ = ["CachedAnswer", "encode_response", "encode_stream"]

_VERSION = 1


@value
class CachedAnswer:
    """A decoded entry: the response, and (a streamed answer) the pieces its first choice
    arrived in: text, reasoning text and refusal text."""

    response: ChatCompletionResponse
    pieces: Optional[tuple[str, ...]] = None
    reasoning_pieces: Optional[tuple[str, ...]] = None
    refusal_pieces: Optional[tuple[str, ...]] = None

    def chunks(self) -> list[StreamChunk]:
        """The answer replayed as stream chunks, as the original stream gave it: its reasoning
        pieces, its text pieces, its refusal pieces (one chunk for each whole text of an answer
        that was not streamed), one chunk per further choice (``n > 1``), then a last chunk with
        the finish reason, usage, tool calls, reasoning parts (signatures included), logprobs,
        citations and server-tool parts."""
        resp = self.response
        first = resp.choices[0] if resp.choices else None
        reasoning = self.reasoning_pieces
        if reasoning is None:
            reasoning = (resp.reasoning,) if resp.reasoning else ()
        pieces = self.pieces if self.pieces is not None else ((resp.text,) if resp.text else ())
        p, m = resp.provider, resp.model
        out = [StreamChunk(delta_reasoning=r, provider=p, model=m) for r in reasoning if r]
        out.extend(StreamChunk(delta_text=t, provider=p, model=m) for t in pieces if t)
        refusals = [StreamChunk(refusal=r, provider=p, model=m) for r in self.refusal_pieces or () if r]
        out.extend(refusals)
        for c in resp.choices[1:]:
            msg = c.message
            out.append(
                StreamChunk(
                    delta_text=msg.text() if msg.content is not None else "",
                    finish_reason=c.finish_reason,
                    provider=p,
                    model=m,
                    tool_calls=msg.tool_calls or (),
                    refusal=c.refusal,
                    choice_index=c.index,
                    logprobs=c.logprobs,
                    reasoning_parts=msg.reasoning_parts,
                    citations=msg.citations,
                    server_tool_parts=msg.server_tool_parts,
                )
            )
        out.append(
            StreamChunk(
                finish_reason=resp.finish_reason,
                usage=resp.usage,
                provider=p,
                model=m,
                tool_calls=resp.tool_calls,
                refusal=None if refusals else resp.refusal,
                logprobs=first.logprobs if first is not None else None,
                reasoning_parts=first.message.reasoning_parts if first is not None else (),
                citations=first.message.citations if first is not None else (),
                server_tool_parts=first.message.server_tool_parts if first is not None else (),
            )
        )
        return out


def encode_response(response: ChatCompletionResponse) -> bytes:
    """A finished non-streamed answer as entry bytes (no attempts, no raw body, no cost)."""
    d = response.to_dict()
    d.pop("cost", None)
    return json.dumps({"v": _VERSION, "response": d}, separators=(",", ":"), ensure_ascii=False).encode()


def encode_stream(
    response: ChatCompletionResponse,
    pieces: Sequence[str],
    reasoning_pieces: Sequence[str] = (),
    refusal_pieces: Sequence[str] = (),
) -> bytes:
    """A stream that ended normally as entry bytes: its collected ``response`` (every choice,
    reasoning parts, refusal, logprobs, usage details), and the pieces its first choice's text,
    reasoning and refusal arrived in."""
    d = response.to_dict()
    d.pop("cost", None)
    entry = {"v": _VERSION, "response": d, "pieces": list(pieces)}
    if reasoning_pieces:
        entry["reasoning_pieces"] = list(reasoning_pieces)
    if refusal_pieces:
        entry["refusal_pieces"] = list(refusal_pieces)
    return json.dumps(entry, separators=(",", ":"), ensure_ascii=False).encode()


def _strings(value: Any) -> Optional[tuple[str, ...]]:
    return tuple(str(v) for v in value) if isinstance(value, list) else None


def decode(value: bytes) -> Optional[CachedAnswer]:
    """An entry's answer, or None when it is unreadable or from another format version."""
    try:
        d: Any = json.loads(value)
        if not isinstance(d, dict) or d.get("v") != _VERSION:
            return None
        return CachedAnswer(
            ChatCompletionResponse.from_dict(d["response"]),
            _strings(d.get("pieces")),
            _strings(d.get("reasoning_pieces")),
            _strings(d.get("refusal_pieces")),
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
