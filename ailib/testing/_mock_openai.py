"""Server side of the OpenAI chat-completions format."""

from __future__ import annotations

import json
from typing import Any, Optional

from ._faults import Reply
from ._mock_base import MockFormat, chunks_of, sse

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_exceeded",
}


class OpenAIMock(MockFormat):
    name = "openai"
    base_path = "/v1"

    def matches(self, method: str, path: str) -> bool:
        return method == "POST" and path.split("?", 1)[0].endswith("/chat/completions")

    def is_models(self, method: str, path: str) -> bool:
        return method == "GET" and path.split("?", 1)[0].endswith("/models")

    def _finish(self, reply: Reply) -> str:
        return reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")

    def _usage(self, reply: Reply) -> dict[str, int]:
        return {
            "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": reply.completion_tokens,
            "total_tokens": reply.prompt_tokens + reply.completion_tokens,
        }

    def success(self, reply: Reply, model: str) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": reply.text if not reply.tool_calls or reply.text else None}
        if reply.tool_calls:
            message["tool_calls"] = [
                {"id": cid, "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
                for cid, name, args in reply.tool_calls
            ]
        return {
            "id": "chatcmpl-mock",
            "object": "chat.completion",
            "created": 1700000000,
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": self._finish(reply)}],
            "usage": self._usage(reply),
        }

    def _chunk(self, model: str, delta: dict[str, Any], finish: Optional[str] = None) -> dict[str, Any]:
        return {
            "id": "chatcmpl-mock",
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    def stream_events(self, reply: Reply, model: str) -> tuple[list[bytes], list[bytes], list[bytes]]:
        opening = [sse(self._chunk(model, {"role": "assistant", "content": ""}))]
        content = [sse(self._chunk(model, {"content": piece})) for piece in chunks_of(reply.text)]
        for i, (cid, name, args) in enumerate(reply.tool_calls):
            raw = json.dumps(args)
            half = len(raw) // 2
            content.append(sse(self._chunk(model, {"tool_calls": [{"index": i, "id": cid, "type": "function", "function": {"name": name, "arguments": raw[:half]}}]})))
            content.append(sse(self._chunk(model, {"tool_calls": [{"index": i, "function": {"arguments": raw[half:]}}]})))
        closing = [
            sse(self._chunk(model, {}, self._finish(reply))),
            sse({"id": "chatcmpl-mock", "object": "chat.completion.chunk", "model": model, "choices": [], "usage": self._usage(reply)}),
            b"data: [DONE]\n\n",
        ]
        return opening, content, closing

    def error_body(self, status: int, error_type: Optional[str], message: str) -> dict[str, Any]:
        etype = error_type or _ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
        return {"error": {"message": message, "type": etype, "param": None, "code": error_type}}

    def error_event(self, error_type: str, message: str) -> bytes:
        return sse({"error": {"message": message, "type": error_type, "code": error_type}})

    def models(self) -> dict[str, Any]:
        return {"object": "list", "data": [{"id": "mock-model", "object": "model"}, {"id": "mock-model-large", "object": "model"}]}
