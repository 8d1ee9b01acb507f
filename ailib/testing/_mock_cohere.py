"""Server side of the Cohere v2 chat format (``POST /v2/chat``, ``GET /v1/models``)."""

from __future__ import annotations

import json
from typing import Any, Optional

from ._faults import Reply
from ._mock_base import MockFormat, Refusal, chunks_of, int_below, sse, token_pieces

_FINISH_REASONS = {"stop": "COMPLETE", "length": "MAX_TOKENS", "tool_calls": "TOOL_CALL"}
_ROLES = ("user", "assistant", "system", "tool")
_TOOL_PLAN = "I will call the tools."


def _refuse(message: str) -> Refusal:
    return 400, {"id": "mock-error-1", "message": f"invalid request: {message}"}


class CohereMock(MockFormat):
    name = "cohere"
    base_path = ""

    def validate(self, path: str, body: Any) -> Optional[Refusal]:
        if not isinstance(body, dict):
            return _refuse("invalid JSON body")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return _refuse("messages cannot be empty")
        for m in messages:
            role = m.get("role") if isinstance(m, dict) else None
            if role not in _ROLES:
                return _refuse(f"message role must be one of {', '.join(_ROLES)}, got {role!r}")
        if int_below(body, "max_tokens", 1):
            return _refuse("max_tokens must be a positive integer")
        return None

    def matches(self, method: str, path: str) -> bool:
        return method == "POST" and path.split("?", 1)[0].endswith("/v2/chat")

    def is_models(self, method: str, path: str) -> bool:
        return method == "GET" and path.split("?", 1)[0].endswith("/v1/models")

    def _finish(self, reply: Reply) -> str:
        common = reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")
        return _FINISH_REASONS.get(common, common.upper())

    def _usage(self, reply: Reply) -> dict[str, Any]:
        counts = {"input_tokens": reply.prompt_tokens, "output_tokens": reply.completion_tokens}
        return {"billed_units": {k: float(v) for k, v in counts.items()}, "tokens": counts}

    def success(self, reply: Reply, model: str, body: Any = None) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": [{"type": "text", "text": reply.text}] if reply.text else []}
        if reply.reasoning is not None:  # Command A Reasoning: a thinking item before the text
            message["content"].insert(0, {"type": "thinking", "thinking": reply.reasoning})
        if reply.tool_calls:
            message["tool_plan"] = _TOOL_PLAN
            message["tool_calls"] = [
                {"id": cid, "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
                for cid, name, args in reply.tool_calls
            ]
        if reply.citations:
            message["citations"] = _citations(reply)
        return {"id": "mock-chat-1", "finish_reason": self._finish(reply), "message": message, "usage": self._usage(reply)}

    def stream_events(self, reply: Reply, model: str, body: Any = None) -> tuple[list[bytes], list[bytes], list[bytes]]:
        start = {
            "id": "mock-chat-1",
            "type": "message-start",
            "delta": {"message": {"role": "assistant", "content": [], "tool_plan": "", "tool_calls": [], "citations": []}},
        }
        opening = [sse(start, "message-start")]
        content: list[bytes] = []
        items = [("text", reply.text)]
        if reply.reasoning is not None:  # as Command A Reasoning streams: the thinking item first
            items.insert(0, ("thinking", reply.reasoning))
        for index, (kind, whole) in enumerate(items):
            pieces = chunks_of(whole)
            for i, piece in enumerate(pieces):
                frame = b""
                if i == 0:
                    opened = {"type": "content-start", "index": index, "delta": {"message": {"content": {"type": kind, kind: ""}}}}
                    frame += sse(opened, "content-start")
                frame += sse({"type": "content-delta", "index": index, "delta": {"message": {"content": {kind: piece}}}}, "content-delta")
                if i == len(pieces) - 1:
                    frame += sse({"type": "content-end", "index": index}, "content-end")
                content.append(frame)
        for i, cited in enumerate(_citations(reply)):  # each citation once the text it cites has been sent
            begin = {"type": "citation-start", "index": i, "delta": {"message": {"citations": cited}}}
            frame = sse(begin, "citation-start") + sse({"type": "citation-end", "index": i}, "citation-end")
            if content:
                content[-1] += frame
            else:
                content.append(frame)
        if reply.tool_calls:  # the plan the model states before its calls, as Cohere streams it
            content.extend(
                sse({"type": "tool-plan-delta", "delta": {"message": {"tool_plan": piece}}}, "tool-plan-delta")
                for piece in chunks_of(_TOOL_PLAN)
            )
        for i, (cid, name, args) in enumerate(reply.tool_calls):
            # As the API streams a call: its start with empty arguments, then the JSON (indented by 4,
            # as Cohere writes it) token by token, then its end.
            call = {"id": cid, "type": "function", "function": {"name": name, "arguments": ""}}
            content.append(sse({"type": "tool-call-start", "index": i, "delta": {"message": {"tool_calls": call}}}, "tool-call-start"))
            for piece in token_pieces(json.dumps(args, indent=4, ensure_ascii=False)):
                delta = {"message": {"tool_calls": {"function": {"arguments": piece}}}}
                content.append(sse({"type": "tool-call-delta", "index": i, "delta": delta}, "tool-call-delta"))
            content[-1] += sse({"type": "tool-call-end", "index": i}, "tool-call-end")
        end = {"type": "message-end", "delta": {"finish_reason": self._finish(reply), "usage": self._usage(reply)}}
        return opening, content, [sse(end, "message-end")]

    def error_body(self, status: int, error_type: Optional[str], message: str) -> dict[str, Any]:
        return {"id": "mock-error-1", "message": message}

    def error_event(self, error_type: str, message: str) -> Optional[bytes]:
        # Cohere documents no error event: a generation that fails mid-stream ends with a
        # message-end whose finish_reason is ERROR and whose delta carries the error text.
        return sse({"type": "message-end", "delta": {"finish_reason": "ERROR", "error": message}}, "message-end")

    def models(self) -> dict[str, Any]:
        return {
            "models": [
                {"name": "mock-model", "endpoints": ["chat"], "context_length": 128000},
                {"name": "mock-model-large", "endpoints": ["chat"], "context_length": 128000},
            ]
        }


def _citations(reply: Reply) -> list[dict[str, Any]]:
    """The reply's citations as Cohere v2 gives them: the cited span and its document sources."""
    docs: list[str] = []
    out = []
    for c in reply.citations:
        if c.url not in docs:
            docs.append(c.url)
        doc_id = f"doc:{docs.index(c.url)}"
        source = {"type": "document", "id": doc_id, "document": {"id": doc_id, "text": c.cited_text, "title": c.title, "url": c.url}}
        out.append({"start": c.start, "end": c.end, "text": reply.text[c.start : c.end], "sources": [source], "type": "TEXT_CONTENT"})
    return out
