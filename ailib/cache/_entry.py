"""What a cache entry holds: a finished answer (JSON bytes), and its replay as a stream."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Optional

from .._value import value
from ..types import ChatCompletionResponse, Choice, Message, Role, StreamChunk, ToolCall, Usage

__all__ = ["CachedAnswer", "encode_response", "encode_stream"]

_VERSION = 1


@value
class CachedAnswer:
    """A decoded entry: the response, and the text pieces it was streamed in (if it was)."""

    response: ChatCompletionResponse
    pieces: Optional[tuple[str, ...]] = None

    def chunks(self) -> list[StreamChunk]:
        """The answer replayed as stream chunks: one per original piece (or one for the
        whole text), then a last chunk with the finish reason, usage and tool calls."""
        resp = self.response
        pieces = self.pieces if self.pieces is not None else ((resp.text,) if resp.text else ())
        out = [StreamChunk(delta_text=p, provider=resp.provider, model=resp.model) for p in pieces if p]
        out.append(
            StreamChunk(
                finish_reason=resp.finish_reason,
                usage=resp.usage,
                provider=resp.provider,
                model=resp.model,
                tool_calls=resp.tool_calls,
                refusal=resp.refusal,
            )
        )
        return out


def encode_response(response: ChatCompletionResponse) -> bytes:
    """A finished non-streamed answer as entry bytes (no attempts, no raw body, no cost)."""
    d = response.to_dict()
    d.pop("cost", None)
    return json.dumps({"v": _VERSION, "response": d}, separators=(",", ":"), ensure_ascii=False).encode()


def encode_stream(
    *,
    provider: str,
    model: str,
    pieces: Sequence[str],
    tool_calls: Sequence[ToolCall],
    finish_reason: Optional[str],
    usage: Optional[Usage],
) -> bytes:
    """A stream that ended normally as entry bytes, keeping the pieces it arrived in."""
    text = "".join(pieces)
    message = Message(Role.ASSISTANT, text or None, tool_calls=tuple(tool_calls) or None)
    resp = ChatCompletionResponse("", model, provider, (Choice(0, message, finish_reason),), usage)
    d = resp.to_dict()
    d.pop("cost", None)
    return json.dumps({"v": _VERSION, "response": d, "pieces": list(pieces)}, separators=(",", ":"), ensure_ascii=False).encode()


def decode(value: bytes) -> Optional[CachedAnswer]:
    """An entry's answer, or None when it is unreadable or from another format version."""
    try:
        d: Any = json.loads(value)
        if not isinstance(d, dict) or d.get("v") != _VERSION:
            return None
        pieces = d.get("pieces")
        return CachedAnswer(ChatCompletionResponse.from_dict(d["response"]), tuple(pieces) if pieces is not None else None)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
