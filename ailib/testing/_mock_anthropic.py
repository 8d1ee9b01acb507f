"""Server side of the Anthropic Messages format (``POST /v1/messages``, ``GET /v1/models``)."""

from __future__ import annotations

import json
from typing import Any, Optional

from ._faults import Reply, ReplyCitation, mock_signature
from ._mock_base import MockFormat, Refusal, chunks_of, cited_segments, int_below, mock_id, sse, token_pieces

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
_STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "content_filter": "refusal"}


def _refuse(message: str) -> Refusal:
    return 400, {"type": "error", "error": {"type": "invalid_request_error", "message": message}}


class AnthropicMock(MockFormat):
    name = "anthropic"
    base_path = ""
    request_id_header = "request-id"

    def matches(self, method: str, path: str) -> bool:
        return method == "POST" and path.split("?", 1)[0].endswith("/v1/messages")

    def validate(self, path: str, body: Any) -> Optional[Refusal]:
        if not isinstance(body, dict):
            return _refuse("There was an error parsing the body of your request.")
        for key in ("model", "max_tokens", "messages"):
            if key not in body:
                return _refuse(f"{key}: Field required")
        if int_below(body, "max_tokens", 1):
            return _refuse("max_tokens: Input should be greater than or equal to 1")
        messages = body["messages"]
        if not isinstance(messages, list) or not messages:
            return _refuse("messages: at least one message is required")
        for i, m in enumerate(messages):
            role = m.get("role") if isinstance(m, dict) else None
            if role == "system":
                return _refuse(
                    'messages: Unexpected role "system". The Messages API accepts a top-level `system` parameter, not "system" as an input message role.'
                )
            if role not in ("user", "assistant"):
                return _refuse(f"messages.{i}.role: Input should be 'user' or 'assistant'")
        return None

    def not_found(self, method: str, path: str) -> tuple[int, dict[str, Any]]:
        return 404, {"type": "error", "error": {"type": "not_found_error", "message": "Not Found"}}

    def other(self, method: str, path: str, body: Any) -> Optional[dict[str, Any]]:
        if method == "POST" and path.split("?", 1)[0].endswith("/v1/messages/count_tokens"):
            text = json.dumps(body.get("messages", []) if isinstance(body, dict) else [])
            return {"input_tokens": max(1, len(text) // 4)}
        return None

    def is_models(self, method: str, path: str) -> bool:
        return method == "GET" and path.split("?", 1)[0].endswith("/v1/models")

    def _stop_reason(self, reply: Reply) -> str:
        if reply.refusal is not None:
            return "refusal"
        common = reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")
        return _STOP_REASONS.get(common, common)

    def success(self, reply: Reply, model: str, body: Any = None) -> dict[str, Any]:
        content: list[dict[str, Any]] = []
        if reply.reasoning is not None:
            content.append({"type": "thinking", "thinking": reply.reasoning, "signature": mock_signature(reply.reasoning)})
        content.extend(_search_blocks(reply))
        if reply.citations:  # one text block per cited span, plain blocks between
            for piece, cites in cited_segments(reply):
                block: dict[str, Any] = {"type": "text", "text": piece}
                if cites:
                    block["citations"] = [_citation(c, reply) for c in cites]
                content.append(block)
        elif reply.text:
            content.append({"type": "text", "text": reply.text})
        for cid, name, args in reply.tool_calls:
            content.append({"type": "tool_use", "id": cid, "name": name, "input": args})
        return {
            "id": "msg_mock",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": self._stop_reason(reply),
            "stop_sequence": None,
            **_stop_details(reply),
            "usage": self._usage(reply, reply.completion_tokens),
        }

    def _usage(self, reply: Reply, output_tokens: int) -> dict[str, Any]:
        # Anthropic's input_tokens leaves out cache reads and writes, which it reports on their own,
        # the writes also by lifetime (cache_creation: 5-minute and 1-hour).
        write_1h = min(reply.cache_write_1h_tokens, reply.cache_write_tokens)
        return {
            "input_tokens": max(reply.prompt_tokens - reply.cached_tokens - reply.cache_write_tokens, 0),
            "cache_creation_input_tokens": reply.cache_write_tokens,
            "cache_read_input_tokens": reply.cached_tokens,
            "cache_creation": {"ephemeral_5m_input_tokens": reply.cache_write_tokens - write_1h, "ephemeral_1h_input_tokens": write_1h},
            "output_tokens": output_tokens,
        }

    def stream_events(self, reply: Reply, model: str, body: Any = None) -> tuple[list[bytes], list[bytes], list[bytes]]:
        start = {
            "type": "message_start",
            "message": {
                "id": "msg_mock",
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": self._usage(reply, 1),
            },
        }
        opening = [sse(start, "message_start"), sse({"type": "ping"}, "ping")]
        # Each content frame carries one visible delta (so Fault.cut_stream(after=N) counts
        # deltas); block starts and stops travel in the same frame as their first/last delta.
        content: list[bytes] = []
        index = 0
        if reply.reasoning is not None:  # as the API streams thinking: its text, then its signature
            thoughts = chunks_of(reply.reasoning) or [""]
            opened: dict[str, Any] = {"type": "thinking", "thinking": "", "signature": ""}
            for i, piece in enumerate(thoughts):
                frame = (
                    sse({"type": "content_block_start", "index": index, "content_block": opened}, "content_block_start") if i == 0 else b""
                )
                delta = {"type": "thinking_delta", "thinking": piece}
                content.append(frame + sse({"type": "content_block_delta", "index": index, "delta": delta}, "content_block_delta"))
            signature = {"type": "signature_delta", "signature": mock_signature(reply.reasoning)}
            content[-1] += sse({"type": "content_block_delta", "index": index, "delta": signature}, "content_block_delta") + sse(
                {"type": "content_block_stop", "index": index}, "content_block_stop"
            )
            index += 1
        for block in _search_blocks(reply):  # as the API streams a server tool: its input as JSON deltas, a result whole
            started = {**block, "input": {}} if block["type"] == "server_tool_use" else block
            frame = sse({"type": "content_block_start", "index": index, "content_block": started}, "content_block_start")
            if block["type"] == "server_tool_use":
                partial = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
                frame += sse({"type": "content_block_delta", "index": index, "delta": partial}, "content_block_delta")
            content.append(frame + sse({"type": "content_block_stop", "index": index}, "content_block_stop"))
            index += 1
        segments = cited_segments(reply) if reply.citations else ([(reply.text, ())] if reply.text else [])
        for text, cites in segments:
            text_block: dict[str, Any] = {"citations": [], "type": "text", "text": ""} if cites else {"type": "text", "text": ""}
            head = sse({"type": "content_block_start", "index": index, "content_block": text_block}, "content_block_start")
            for c in cites:  # a cited block's citations come first, then its text
                cited = {"type": "citations_delta", "citation": _citation(c, reply)}
                head += sse({"type": "content_block_delta", "index": index, "delta": cited}, "content_block_delta")
            pieces = chunks_of(text)
            for i, piece in enumerate(pieces):
                frame = head if i == 0 else b""
                frame += sse(
                    {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": piece}}, "content_block_delta"
                )
                if i == len(pieces) - 1:
                    frame += sse({"type": "content_block_stop", "index": index}, "content_block_stop")
                content.append(frame)
            index += 1
        for cid, name, args in reply.tool_calls:
            # As the API streams a tool_use block: its start with empty input, an empty input_json_delta,
            # then the JSON (with spaces after separators) token by token.
            block = {"type": "tool_use", "id": cid, "name": name, "input": {}}
            content.append(sse({"type": "content_block_start", "index": index, "content_block": block}, "content_block_start"))
            for piece in ["", *token_pieces(json.dumps(args, ensure_ascii=False))]:
                delta = {"type": "input_json_delta", "partial_json": piece}
                content.append(sse({"type": "content_block_delta", "index": index, "delta": delta}, "content_block_delta"))
            content[-1] += sse({"type": "content_block_stop", "index": index}, "content_block_stop")
            index += 1
        closing = [
            sse(
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": self._stop_reason(reply), "stop_sequence": None, **_stop_details(reply)},
                    "usage": {"output_tokens": reply.completion_tokens},
                },
                "message_delta",
            ),
            sse({"type": "message_stop"}, "message_stop"),
        ]
        return opening, content, closing

    def error_body(self, status: int, error_type: Optional[str], message: str) -> dict[str, Any]:
        etype = error_type or _ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
        return {"type": "error", "error": {"type": etype, "message": message}}

    def error_event(self, error_type: str, message: str) -> Optional[bytes]:
        # Anthropic documents an ``error`` event inside a 200 stream (e.g. overloaded_error).
        return sse({"type": "error", "error": {"type": error_type, "message": message}}, "error")

    def models(self) -> dict[str, Any]:
        return {
            "data": [
                {"type": "model", "id": "mock-model", "display_name": "Mock Model", "created_at": "2025-01-01T00:00:00Z"},
                {"type": "model", "id": "mock-model-large", "display_name": "Mock Model Large", "created_at": "2025-01-01T00:00:00Z"},
            ],
            "has_more": False,
            "first_id": "mock-model",
            "last_id": "mock-model-large",
        }


def _citation(c: ReplyCitation, reply: Reply) -> dict[str, Any]:
    """A cited span's citation as Anthropic gives it: a web search result's location when the
    reply searched the web, else a character range of the request's first document."""
    if reply.web_search is not None:
        return {
            "type": "web_search_result_location",
            "cited_text": c.cited_text,
            "url": c.url,
            "title": c.title,
            "encrypted_index": mock_id("Eo", c.url + c.cited_text),
        }
    return {
        "type": "char_location",
        "cited_text": c.cited_text,
        "document_index": 0,
        "document_title": c.title,
        "start_char_index": 0,
        "end_char_index": len(c.cited_text),
    }


def _search_blocks(reply: Reply) -> list[dict[str, Any]]:
    """A web search the reply made first: ``server_tool_use`` and its ``web_search_tool_result``
    (the cited sources as its results)."""
    if reply.web_search is None:
        return []
    use_id = mock_id("srvtoolu_", reply.web_search)
    results, seen = [], set()
    for c in reply.citations:
        if c.url not in seen:
            seen.add(c.url)
            results.append(
                {"type": "web_search_result", "title": c.title, "url": c.url, "encrypted_content": mock_id("Eu", c.url), "page_age": None}
            )
    return [
        {"type": "server_tool_use", "id": use_id, "name": "web_search", "input": {"query": reply.web_search}},
        {"type": "web_search_tool_result", "tool_use_id": use_id, "content": results},
    ]


def _stop_details(reply: Reply) -> dict[str, Any]:
    """A refusal's ``stop_details`` (the reply's refusal text as its explanation); nothing otherwise."""
    if reply.refusal is None:
        return {}
    return {"stop_details": {"type": "refusal", "category": None, "explanation": reply.refusal or None}}
