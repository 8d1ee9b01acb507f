"""Server side of the OpenAI Responses API (``POST /v1/responses``), JSON and typed SSE events.

The bodies and events have the shape of the live API's (openai-python's recorded ``/responses``
body in tests/lib/responses/test_responses.py, vercel/ai's recorded streams); every id and
value is made up. A reply's ``reasoning`` is a ``reasoning`` item (its summary, and an
``encrypted_content`` when the request asks for ``include: ["reasoning.encrypted_content"]``
or sets ``store: false``), streamed as ``response.reasoning_summary_text.delta`` events.
"""

from __future__ import annotations

import base64
import json
from typing import Any, Optional

from ._faults import Reply
from ._mock_base import MockFormat, Refusal, chunks_of, mock_id, sse, token_pieces
from ._mock_openai import OpenAIMock

_CREATED = 1700000000
_ROLES = ("user", "assistant", "system", "developer")
_ITEM_TYPES = ("message", "function_call", "function_call_output", "reasoning", "item_reference")
# Chat-completions parameters the Responses API does not take (sent by mistake, they are refused).
_CHAT_ONLY = ("messages", "max_tokens", "max_completion_tokens", "stream_options", "n", "stop", "response_format", "reasoning_effort")


def _refuse(message: str, param: Optional[str], code: Optional[str]) -> Refusal:
    return 400, {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}


def _arguments(args: Any) -> str:
    return json.dumps(args, separators=(",", ":"), ensure_ascii=False)


def encrypted_reasoning(reasoning: str) -> str:
    """The ``encrypted_content`` the mock gives ``reasoning`` (base64 of the text: opaque-looking, made up)."""
    return "gAAAAA" + base64.urlsafe_b64encode(reasoning.encode()).decode("ascii")


class ResponsesMock(MockFormat):
    name = "openai_responses"
    base_path = "/v1"
    request_id_header = "x-request-id"

    def matches(self, method: str, path: str) -> bool:
        return method == "POST" and path.split("?", 1)[0].endswith("/responses")

    def is_models(self, method: str, path: str) -> bool:
        return method == "GET" and path.split("?", 1)[0].endswith("/models")

    def validate(self, path: str, body: Any) -> Optional[Refusal]:
        if not isinstance(body, dict):
            return _refuse("We could not parse the JSON body of your request.", None, None)
        for key in _CHAT_ONLY:
            if key in body:
                return _refuse(f"Unsupported parameter: '{key}'.", key, "unsupported_parameter")
        items = body.get("input")
        if items is None and not body.get("previous_response_id"):
            return _refuse("Missing required parameter: 'input'.", "input", "missing_required_parameter")
        if isinstance(items, list):
            return _check_items(items, bool(body.get("previous_response_id")))
        if items is not None and not isinstance(items, str):
            return _refuse("Invalid type for 'input': expected a string or an array of input items.", "input", "invalid_type")
        max_out = body.get("max_output_tokens")
        if max_out is not None and (not isinstance(max_out, int) or isinstance(max_out, bool) or max_out < 16):
            return _refuse(
                f"Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16, but got {max_out} instead.",
                "max_output_tokens",
                "integer_below_min_value",
            )
        return None

    # -- bodies -----------------------------------------------------------------------------------
    def _usage(self, reply: Reply) -> dict[str, Any]:
        return {
            "input_tokens": reply.prompt_tokens,
            "input_tokens_details": {"cached_tokens": reply.cached_tokens},
            "output_tokens": reply.completion_tokens,
            "output_tokens_details": {"reasoning_tokens": reply.reasoning_tokens},
            "total_tokens": reply.prompt_tokens + reply.completion_tokens,
        }

    def _items(self, reply: Reply, body: Any) -> list[dict[str, Any]]:
        """The output items, complete: reasoning, then the message, then the function calls."""
        items: list[dict[str, Any]] = []
        if reply.reasoning is not None:
            items.append(_reasoning_item(reply.reasoning, _wants_encrypted(body)))
        if reply.refusal is not None:
            part: dict[str, Any] = {"type": "refusal", "refusal": reply.refusal}
            items.append(_message_item(part))
        elif reply.text or not reply.tool_calls:
            items.append(_message_item(_text_part(reply, reply.text)))
        for cid, name, args in reply.tool_calls:
            items.append(_call_item(cid, name, _arguments(args), "completed"))
        return items

    def _response(self, reply: Reply, model: str, body: Any, status: str, output: list[dict[str, Any]], usage: bool) -> dict[str, Any]:
        b = body if isinstance(body, dict) else {}
        incomplete = status == "incomplete"
        asked = b.get("reasoning")
        reasoning: dict[str, Any] = asked if isinstance(asked, dict) else {}
        return {
            "id": "resp_mock",
            "object": "response",
            "created_at": _CREATED,
            "status": status,
            "background": False,
            "error": None,
            "incomplete_details": {"reason": _incomplete_reason(reply)} if incomplete else None,
            "instructions": b.get("instructions"),
            "max_output_tokens": b.get("max_output_tokens"),
            "max_tool_calls": None,
            "model": model,
            "output": output,
            "parallel_tool_calls": True,
            "previous_response_id": b.get("previous_response_id"),
            "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
            "service_tier": "default",
            "store": b.get("store", True),
            "temperature": b.get("temperature", 1.0),
            "text": b.get("text") or {"format": {"type": "text"}, "verbosity": "medium"},
            "tool_choice": b.get("tool_choice", "auto"),
            "tools": b.get("tools") or [],
            "top_p": b.get("top_p", 1.0),
            "truncation": "disabled",
            "usage": self._usage(reply) if usage else None,
            "user": None,
            "metadata": {},
        }

    def success(self, reply: Reply, model: str, body: Any = None) -> dict[str, Any]:
        return self._response(reply, model, body, _status(reply), self._items(reply, body), True)

    def stream_events(self, reply: Reply, model: str, body: Any = None) -> tuple[list[bytes], list[bytes], list[bytes]]:
        seq = _Sequence()
        start = self._response(reply, model, body, "in_progress", [], False)
        opening = [seq.event("response.created", response=start), seq.event("response.in_progress", response=start)]
        content: list[bytes] = []
        for index, item in enumerate(self._items(reply, body)):
            content.extend(_item_frames(seq, index, item))
        end = _status(reply)
        closing = [seq.event(f"response.{end}", response=self.success(reply, model, body))]
        return opening, content, closing

    def error_body(self, status: int, error_type: Optional[str], message: str) -> dict[str, Any]:
        return OpenAIMock().error_body(status, error_type, message)

    def not_found(self, method: str, path: str) -> tuple[int, dict[str, Any]]:
        return OpenAIMock().not_found(method, path)

    def error_event(self, error_type: str, message: str) -> Optional[bytes]:
        # As the live API fails a stream (vercel/ai's recorded openai-error stream): an ``error`` event holding the
        # error, then ``response.failed`` with the failed response.
        error = {"type": error_type, "code": error_type, "message": message, "param": None}
        failed = {
            "id": "resp_mock",
            "object": "response",
            "status": "failed",
            "error": {"code": error_type, "message": message},
            "output": [],
        }
        return sse({"type": "error", "sequence_number": 0, "error": error}, event="error") + sse(
            {"type": "response.failed", "sequence_number": 1, "response": failed}, event="response.failed"
        )

    def models(self) -> dict[str, Any]:
        return OpenAIMock().models()


def _check_items(items: list[Any], chained: bool) -> Optional[Refusal]:
    calls: set[str] = set()
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            return _refuse(f"Invalid type for 'input[{i}]': expected an object.", f"input[{i}]", "invalid_type")
        kind = item.get("type", "message")
        if kind not in _ITEM_TYPES:
            return _refuse(f"Invalid value: '{kind}'.", f"input[{i}].type", "invalid_value")
        if kind == "message" and item.get("role") not in _ROLES:
            return _refuse(f"Invalid value: '{item.get('role')}'.", f"input[{i}].role", "invalid_value")
        if kind == "function_call":
            calls.add(str(item.get("call_id")))
        if kind == "function_call_output" and not chained and str(item.get("call_id")) not in calls:
            return _refuse(f"No tool call found for function call output with call_id {item.get('call_id')}.", "input", None)
        if kind == "reasoning" and not (item.get("id") or item.get("encrypted_content")):
            return _refuse(f"Missing required parameter: 'input[{i}].id'.", f"input[{i}].id", "missing_required_parameter")
    return None


def _wants_encrypted(body: Any) -> bool:
    if not isinstance(body, dict):
        return False
    include = body.get("include") or ()
    return "reasoning.encrypted_content" in include or body.get("store") is False


def _status(reply: Reply) -> str:
    return "incomplete" if reply.finish_reason in ("length", "content_filter") else "completed"


def _incomplete_reason(reply: Reply) -> str:
    return "content_filter" if reply.finish_reason == "content_filter" else "max_output_tokens"


def _reasoning_item(text: str, encrypted: bool) -> dict[str, Any]:
    item: dict[str, Any] = {"id": mock_id("rs_", text), "type": "reasoning", "summary": [{"type": "summary_text", "text": text}]}
    if encrypted:
        item["encrypted_content"] = encrypted_reasoning(text)
    return item


def _text_part(reply: Reply, text: str) -> dict[str, Any]:
    annotations = [
        {"type": "url_citation", "start_index": c.start, "end_index": c.end, "title": c.title, "url": c.url} for c in reply.citations
    ]
    return {"type": "output_text", "annotations": annotations, "logprobs": [], "text": text}


def _message_item(part: dict[str, Any]) -> dict[str, Any]:
    return {"id": mock_id("msg_", json.dumps(part)), "type": "message", "status": "completed", "content": [part], "role": "assistant"}


def _call_item(cid: str, name: str, arguments: str, status: str) -> dict[str, Any]:
    return {"id": mock_id("fc_", cid), "type": "function_call", "status": status, "arguments": arguments, "call_id": cid, "name": name}


class _Sequence:
    """Numbers a stream's events (``sequence_number``) and frames them as the API does (``event:`` + ``data:``)."""

    def __init__(self) -> None:
        self.n = 0

    def event(self, kind: str, **fields: Any) -> bytes:
        data = {"type": kind, "sequence_number": self.n, **fields}
        self.n += 1
        return sse(data, event=kind)


def _joined(frames: list[list[bytes]]) -> list[bytes]:
    """Frames grouped so an item's content is its pieces: the first piece carries the events that open the
    item, the last the ones that close it (a fault that counts content events counts pieces)."""
    head, pieces, tail = frames
    if not pieces:
        return [b"".join(head + tail)]
    out = list(pieces)
    out[0] = b"".join(head) + out[0]
    out[-1] = out[-1] + b"".join(tail)
    return out


def _item_frames(seq: _Sequence, index: int, item: dict[str, Any]) -> list[bytes]:
    kind = item["type"]
    at = {"output_index": index}
    if kind == "reasoning":
        text = item["summary"][0]["text"]
        added = {**item, "summary": []}
        head = [seq.event("response.output_item.added", item=added, **at)]
        ids = {"item_id": item["id"], **at, "summary_index": 0}
        head.append(seq.event("response.reasoning_summary_part.added", part={"type": "summary_text", "text": ""}, **ids))
        pieces = [seq.event("response.reasoning_summary_text.delta", delta=p, **ids) for p in chunks_of(text)]
        tail = [
            seq.event("response.reasoning_summary_text.done", text=text, **ids),
            seq.event("response.reasoning_summary_part.done", part={"type": "summary_text", "text": text}, **ids),
            seq.event("response.output_item.done", item=item, **at),
        ]
        return _joined([head, pieces, tail])
    if kind == "function_call":
        added = {**item, "status": "in_progress", "arguments": ""}
        head = [seq.event("response.output_item.added", item=added, **at)]
        ids = {"item_id": item["id"], **at}
        pieces = [seq.event("response.function_call_arguments.delta", delta=p, **ids) for p in token_pieces(item["arguments"])]
        tail = [
            seq.event("response.function_call_arguments.done", arguments=item["arguments"], **ids),
            seq.event("response.output_item.done", item=item, **at),
        ]
        return _joined([head, pieces, tail])
    part = item["content"][0]
    added = {**item, "status": "in_progress", "content": []}
    head = [seq.event("response.output_item.added", item=added, **at)]
    ids = {"item_id": item["id"], **at, "content_index": 0}
    if part["type"] == "refusal":
        head.append(seq.event("response.content_part.added", part={"type": "refusal", "refusal": ""}, **ids))
        pieces = [seq.event("response.refusal.delta", delta=p, **ids) for p in chunks_of(part["refusal"])]
        tail = [seq.event("response.refusal.done", refusal=part["refusal"], **ids)]
    else:
        head.append(seq.event("response.content_part.added", part={**part, "annotations": [], "text": ""}, **ids))
        pieces = [seq.event("response.output_text.delta", delta=p, logprobs=[], **ids) for p in chunks_of(part["text"])]
        tail = [
            seq.event("response.output_text.annotation.added", annotation=a, annotation_index=i, **ids)
            for i, a in enumerate(part["annotations"])
        ]
        tail.append(seq.event("response.output_text.done", text=part["text"], logprobs=[], **ids))
    tail.append(seq.event("response.content_part.done", part=part, **ids))
    tail.append(seq.event("response.output_item.done", item=item, **at))
    return _joined([head, pieces, tail])
