"""The OpenAI Responses API (``/v1/responses``) as a wire format, for OpenAI and Azure OpenAI.

Request (``ChatCompletionRequest`` → body):

* System messages before the first other message → ``instructions`` (joined by a blank line);
  a system or developer message later on → an ``input`` message with its role.
* User messages → ``input`` messages (``input_text``, ``input_image``, ``input_file`` parts: inline
  data, ``file_id`` or ``file_url``); audio raises ``InvalidRequestError`` (the API takes none).
* An assistant message answered by this format → its output items in their order, with their ids
  (``response.output`` as openai-python sends it back): reasoning items (``encrypted_content``
  included), the text as its ``message`` item, ``function_call`` items, server-run tool items.
  Any other assistant message → its text, then one ``function_call`` item per tool call. A tool
  message → a ``function_call_output`` item.
* ``tools`` → ``{"type": "function", "name", "description", "parameters", "strict"}``; a named
  ``tool_choice`` → ``{"type": "function", "name"}``; ``max_tokens`` → ``max_output_tokens``;
  ``reasoning=`` → ``reasoning: {"effort"}``; ``response_format`` → ``text.format``.
* ``store``, ``previous_response_id``, ``include``, ``reasoning.summary``... go in ``extra`` (merged
  deeply, as in every format). With ``extra={"store": False}`` ailib also asks for
  ``include: ["reasoning.encrypted_content"]`` (unless ``extra`` names ``include``): without it a
  stateless tool loop cannot send a reasoning model's reasoning back.
* ``n > 1``, ``stop`` and ``cached_content`` raise ``InvalidRequestError`` before sending (the API
  has none of them).

Answer (body or stream → ``ChatCompletionResponse``):

* ``message`` items' ``output_text`` → the text (``url_citation``/``file_citation``... annotations →
  ``Citation`` with offsets into the whole text), ``refusal`` → a refusal; ``function_call`` items →
  tool calls (``call_id`` as the id); ``reasoning`` items → one ``ReasoningPart`` each (``text``: the
  summary texts joined by a blank line, ``signature``: ``encrypted_content``, ``data``: the item as
  JSON without it, ``index``: its output position); any other item (``web_search_call``,
  ``file_search_call``, ``code_interpreter_call``, ``mcp_call``...) → a ``ServerToolPart``, sent back
  in its place (as received) when the answer is replayed to this format.
* ``status: "incomplete"`` → ``finish_reason`` ``"length"`` (``max_output_tokens``) or
  ``"content_filter"``; ``"failed"`` → the classified error of its ``error``.
* Usage: ``input_tokens`` (cached ones in ``input_tokens_details.cached_tokens``) and
  ``output_tokens`` (reasoning in ``output_tokens_details.reasoning_tokens``).
* Streams: typed events (``response.output_text.delta``, ``response.refusal.delta``,
  ``response.function_call_arguments.delta``, ``response.reasoning_summary_text.delta``,
  ``response.output_text.annotation.added``, ``response.output_item.done``...) end at
  ``response.completed`` or ``response.incomplete``; ``response.failed`` and ``error`` events raise
  the classified error.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Optional
from urllib.parse import quote

from .._message import arguments_json
from ..errors import AiLibError, InvalidRequestError
from ..types import (
    ChatCompletionRequest,
    ChatCompletionResponse,
    Choice,
    Citation,
    Content,
    Message,
    ReasoningPart,
    Role,
    ServerToolPart,
    StreamChunk,
    ToolCall,
    ToolCallDelta,
    Usage,
    reasoning_effort,
)
from ._base import (
    StreamDecoder,
    WireFormat,
    assistant_message,
    classify_http_error,
    merge_extra,
    response,
    token_count,
    unsupported_part,
)
from ._registry import ProviderSpec
from .openai import decode_arguments, status_for

if TYPE_CHECKING:
    from .._sse import SseEvent

__all__ = ["ResponsesFormat", "AzureResponsesFormat", "WIRE_FORMAT", "FORMAT"]

FORMAT = "openai_responses"  # the ReasoningPart / Citation / ServerToolPart format name
_SYSTEM, _USER, _ASSISTANT, _TOOL = Role.SYSTEM, Role.USER, Role.ASSISTANT, Role.TOOL
_ENCRYPTED = "encrypted_content"
_ORDER = "output"  # the ReasoningPart kind holding the ids and order of an answer's output items
# A failed response's error codes that mean the request itself is wrong (the API reference's list:
# invalid_prompt, invalid_image, image_too_large, unsupported_image_media_type, empty_image_file,
# failed_to_download_image...); server_error, vector_store_timeout and unknown codes stay retryable.
_CALLER_CODES = ("invalid_", "image_", "unsupported_", "empty_", "failed_to_download_", "missing_")
_INCOMPLETE = {"max_output_tokens": "length", "content_filter": "content_filter"}


# -- request ---------------------------------------------------------------------------------------
def _part(p: Content, spec: ProviderSpec, model: str, role: Role) -> dict[str, Any]:
    kind = p.kind
    if kind == "text" or kind == "json":
        return {"type": "input_text", "text": p.as_text()}
    if role is not _USER:
        raise unsupported_part(spec.name, model, p, f"{role.value} messages", "images and files go in user messages")
    if kind == "image_url" or kind == "image_base64" or kind == "image_file":
        return {"type": "input_image", "image_url": p.data_url(), "detail": p.detail or "auto"}
    if kind == "file_base64":
        name = p.to_dict()["file"]["filename"]
        return {"type": "input_file", "filename": name, "file_data": p.data_url()}
    if kind == "file_id":
        ref: dict[str, Any] = {"type": "input_file", "file_id": p.value}
        if p.filename:
            ref["filename"] = p.filename
        return ref
    if kind == "file_url":
        return {"type": "input_file", "file_url": p.value}
    raise unsupported_part(spec.name, model, p, hint="the Responses API takes text, images and files")


def _content(m: Message, spec: ProviderSpec, model: str) -> Any:
    c = m.content
    if c is None or isinstance(c, str):
        return c or ""
    parts = m.parts()
    if all(p.is_text for p in parts) and m.role is not _USER:
        return m.text()
    return [_part(p, spec, model, m.role) for p in parts]


def _reasoning_item(p: ReasoningPart) -> dict[str, Any]:
    """A reasoning part as the item it came from (``data``), its ``encrypted_content`` put back."""
    if p.data:
        item: dict[str, Any] = json.loads(p.data)
    else:  # made by hand: the summary text as one part
        item = {"type": "reasoning", "summary": [{"type": "summary_text", "text": p.text}] if p.text else []}
    if p.signature is not None:
        item[_ENCRYPTED] = p.signature
    return item


def _call_item(t: ToolCall, item_id: Optional[str] = None, received: Optional[str] = None) -> dict[str, Any]:
    """A tool call as a ``function_call`` item: its arguments as received when they still decode
    to the call's (so a replay sends the model's own text), else encoded."""
    arguments = received if isinstance(received, str) and decode_arguments(received) == t.arguments else arguments_json(t.arguments)
    if item_id is None:
        return {"type": "function_call", "call_id": t.id, "name": t.name, "arguments": arguments}
    return {"id": item_id, "type": "function_call", "status": "completed", "arguments": arguments, "call_id": t.id, "name": t.name}


def _assistant_items(m: Message, spec: ProviderSpec, model: str) -> list[dict[str, Any]]:
    """An assistant message as output items. An answer of this format replays in its output's order,
    each item with the id it came with (the API pairs a reasoning item with the item after it by id),
    a server-run tool's item as received: ``response.output`` as openai-python sends it back.
    Anything else (a message made by hand, a tool call added) follows without ids."""
    parts = [p for p in m.reasoning_parts if p.format == FORMAT]
    reasoning = sorted((p for p in parts if p.kind == "reasoning"), key=lambda p: p.index or 0)
    order: list[dict[str, Any]] = next((json.loads(p.data) for p in parts if p.kind == _ORDER and p.data), [])
    calls = {t.id: t for t in m.tool_calls or ()}
    items: list[dict[str, Any]] = []
    text_sent = False
    by_index = {p.index: p for p in reasoning}
    server = {p.index: p for p in m.server_tool_parts if p.format == FORMAT and p.raw}
    for entry in order:
        kind = entry.get("type")
        if kind == "reasoning" and entry.get("index") in by_index:
            items.append(_reasoning_item(by_index.pop(entry["index"])))
        elif kind == "message" and m.content and not text_sent:
            text_sent = True
            items.append(_output_message(m, entry.get("id")))
        elif kind == "item" and entry.get("index") in server:
            items.append(dict(server.pop(entry["index"]).raw))
        elif kind == "function_call" and entry.get("call_id") in calls:
            items.append(_call_item(calls.pop(entry["call_id"]), entry.get("id"), entry.get("arguments")))
    items.extend(_reasoning_item(p) for p in by_index.values())  # all of them when there is no order
    if m.content and not text_sent:
        items.append({"role": "assistant", "content": _content(m, spec, model)})
    items.extend(_call_item(t) for t in calls.values())
    return items


def _output_message(m: Message, item_id: Optional[str]) -> dict[str, Any]:
    """The answer's text as the ``message`` output item it came as (its citations' annotations kept)."""
    annotations = [dict(c.raw) for c in m.citations if c.format == FORMAT and c.raw]
    part = {"type": "output_text", "annotations": annotations, "text": m.text()}
    return {"id": item_id, "type": "message", "status": "completed", "content": [part], "role": "assistant"}


def _input(messages: tuple[Message, ...], spec: ProviderSpec, model: str) -> tuple[list[str], list[dict[str, Any]]]:
    """(instructions, input items) for ``messages``."""
    instructions: list[str] = []
    items: list[dict[str, Any]] = []
    leading = True
    for m in messages:
        role = m.role
        if role is _SYSTEM and leading:
            instructions.append(m.text())
            continue
        leading = False
        if role is _TOOL:
            items.append({"type": "function_call_output", "call_id": m.tool_call_id or "", "output": m.text()})
            continue
        if role is _ASSISTANT:
            items.extend(_assistant_items(m, spec, model))
            continue
        items.append({"role": role.value, "content": _content(m, spec, model)})
    return instructions, items


def _tool(t: Any) -> dict[str, Any]:
    d: dict[str, Any] = {"type": "function", "name": t.name, "description": t.description, "parameters": t.parameters}
    if t.strict is not None:
        d["strict"] = t.strict
    return d


def _tool_choice(choice: Any) -> Any:
    if isinstance(choice, str) and choice not in ("auto", "none", "required"):
        return {"type": "function", "name": choice}
    if isinstance(choice, Mapping) and isinstance(choice.get("function"), Mapping):  # chat completions' form
        return {"type": "function", "name": choice["function"].get("name")}
    return choice


def _text_format(fmt: Any) -> dict[str, Any]:
    """``response_format`` (chat completions' shape) as ``text.format``."""
    if isinstance(fmt, type):
        from .._schema import wire_response_format

        fmt = wire_response_format(fmt)
    if fmt.get("type") == "json_schema" and isinstance(fmt.get("json_schema"), Mapping):
        return {"type": "json_schema", **fmt["json_schema"]}
    return dict(fmt)


class ResponsesFormat(WireFormat):
    """``POST {base_url}/responses``: the format OpenAI serves every current model on."""

    name = FORMAT

    def chat_url(self, base_url: str, model: str, stream: bool) -> str:
        return base_url + "/responses"

    def models_url(self, base_url: str) -> str:
        return base_url + "/models"

    def check_request_options(self, request: ChatCompletionRequest, spec: ProviderSpec, model: str) -> None:
        super().check_request_options(request, spec, model)
        if request.stop is not None:
            raise InvalidRequestError(
                f"{spec.name}'s Responses API has no stop sequences; nothing was sent", provider=spec.name, model=model
            )

    def encode(self, request: ChatCompletionRequest, model: str, *, stream: bool, spec: ProviderSpec) -> dict[str, Any]:
        self.check_request_options(request, spec, model)
        instructions, items = _input(request.messages, spec, model)
        body: dict[str, Any] = {"model": model, "input": items}
        if instructions:
            body["instructions"] = "\n\n".join(instructions)
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.max_tokens is not None:
            body["max_output_tokens"] = request.max_tokens
        if request.top_p is not None:
            body["top_p"] = request.top_p
        if request.tools:
            body["tools"] = [_tool(t) for t in request.tools]
        if request.tool_choice is not None:
            body["tool_choice"] = _tool_choice(request.tool_choice)
        if request.response_format is not None:
            body["text"] = {"format": _text_format(request.response_format)}
        if request.reasoning is not None:
            body["reasoning"] = {"effort": reasoning_effort(request.reasoning)}
        if stream:
            body["stream"] = True
        extra = request.extra
        if extra:
            merge_extra(body, extra)
            if extra.get("store") is False and "include" not in extra:
                body["include"] = ["reasoning.encrypted_content"]
        return body

    def decode(self, data: dict[str, Any], *, provider: str, model: str, headers: Mapping[str, str]) -> ChatCompletionResponse:
        if "output" not in data:
            if data.get("error"):  # a gateway's error with 200
                raise _error(data, provider, model, 502)
            raise KeyError("output")
        if data.get("status") == "failed":
            raise _error(data, provider, model, 500)
        answer = _Answer()
        for i, item in enumerate(data["output"] or ()):
            answer.add(i, item)
        finish = answer.finish(data)
        message = answer.message()
        choice = Choice(0, message, finish, answer.refusal) if answer.refusal is not None else Choice(0, message, finish)
        return response(str(data.get("id", "")), str(data.get("model") or model), provider, (choice,), _usage(data.get("usage")), data)

    def stream_decoder(self, *, provider: str, model: str) -> StreamDecoder:
        return ResponsesStreamDecoder(provider=provider, model=model)

    def decode_models(self, data: Any) -> list[str]:
        return [str(m["id"]) for m in data["data"]]


class AzureResponsesFormat(ResponsesFormat):
    """Azure OpenAI's Responses API: ``{resource}/openai/v1/responses`` (the v1 API, no
    ``api-version``) with the ``api-key`` header; the model names the deployment. A base URL
    of a deployment (``.../openai/deployments/NAME``) is cut back to its resource."""

    name = "azure_responses"

    def __init__(self, api_version: Optional[str] = None) -> None:
        self.api_version = api_version or os.environ.get("AZURE_OPENAI_RESPONSES_API_VERSION")

    def auth_headers(self, api_key: Optional[str]) -> dict[str, str]:
        return {"api-key": api_key} if api_key else {}

    def chat_url(self, base_url: str, model: str, stream: bool) -> str:
        root = base_url.split("/openai", 1)[0]
        if self.api_version:  # the preview API: /openai/responses?api-version=...
            return f"{root}/openai/responses?api-version={quote(self.api_version, safe='')}"
        return f"{root}/openai/v1/responses"

    def models_url(self, base_url: str) -> str:
        root = base_url.split("/openai", 1)[0]
        return f"{root}/openai/v1/models"


# -- answer ----------------------------------------------------------------------------------------
def _error(data: Mapping[str, Any], provider: str, model: str, default: int) -> AiLibError:
    """The classified error of a failed response (``{"error": {"code", "message"}}``) or an
    ``error`` event (the error's fields at the top, or under ``error``)."""
    err = data.get("error")
    if not isinstance(err, Mapping):
        err = {k: v for k, v in data.items() if k in ("code", "message", "param")}
    codes = tuple(str(err[k]) for k in ("code", "type") if err.get(k))
    message = str(err.get("message") or "") or f"the response failed ({', '.join(codes) or 'no reason given'})"
    status = status_for({"error": dict(err)}, codes, default)
    if codes and status == default and codes[0].startswith(_CALLER_CODES):  # the request's own fault: no retry helps
        status = 400
    if any("content_policy" in c for c in codes):  # image_content_policy_violation
        codes = (*codes, "content_filter")
    return classify_http_error(status, {}, message=message, codes=codes, provider=provider, model=model, body=dict(data))


def _usage(u: Any) -> Optional[Usage]:
    if not isinstance(u, Mapping) or not u:
        return None
    prompt = int(u.get("input_tokens") or 0)
    completion = int(u.get("output_tokens") or 0)
    inp = u.get("input_tokens_details")
    inp = inp if isinstance(inp, Mapping) else {}
    out = u.get("output_tokens_details")
    out = out if isinstance(out, Mapping) else {}
    total = int(u.get("total_tokens") or prompt + completion)
    return Usage(
        prompt,
        completion,
        total,
        token_count(inp.get("cached_tokens")),
        token_count(inp.get("cache_write_tokens")),
        token_count(out.get("reasoning_tokens")),
    )


def _reasoning_part(index: int, item: Mapping[str, Any]) -> ReasoningPart:
    summary = [s.get("text") or "" for s in item.get("summary") or () if isinstance(s, Mapping)]
    if not any(summary):  # no summary: the raw reasoning text, where a server sends it
        summary = [c.get("text") or "" for c in item.get("content") or () if isinstance(c, Mapping)]
    kept = {k: v for k, v in item.items() if k != _ENCRYPTED}
    encrypted = item.get(_ENCRYPTED)
    return ReasoningPart(
        FORMAT,
        "reasoning",
        "\n\n".join(t for t in summary if t),
        None if encrypted is None else str(encrypted),
        json.dumps(kept, separators=(",", ":"), ensure_ascii=False),
        index,
    )


def _citation(ann: Mapping[str, Any], offset: int) -> Citation:
    start, end = ann.get("start_index"), ann.get("end_index")
    if not isinstance(start, int) and isinstance(ann.get("index"), int):  # file_citation: one position
        start = end = ann["index"]
    url, title = ann.get("url"), ann.get("title") or ann.get("filename")
    return Citation(
        FORMAT,
        str(ann.get("type") or ""),
        None,
        None if url is None else str(url),
        None if title is None else str(title),
        start + offset if isinstance(start, int) else None,
        end + offset if isinstance(end, int) else None,
        raw=ann,
    )


class _Answer:
    """One response's output items gathered into one assistant message."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.length = 0
        self.refusal: Optional[str] = None
        self.calls: list[ToolCall] = []
        self.reasoning: list[ReasoningPart] = []
        self.citations: list[Citation] = []
        self.server: list[ServerToolPart] = []
        self.order = _Order()

    def add(self, index: int, item: Mapping[str, Any]) -> None:
        kind = item.get("type")
        self.order.add(index, item)
        if kind == "message":
            for part in item.get("content") or ():
                self.add_part(part)
        elif kind == "function_call":
            self.calls.append(ToolCall(_call_id(item), item["name"], decode_arguments(item.get("arguments"))))
        elif kind == "reasoning":
            self.reasoning.append(_reasoning_part(index, item))
        else:
            self.server.append(ServerToolPart(FORMAT, str(kind or ""), item.get("id"), item.get("name"), None, item, index, self.length))

    def add_part(self, part: Mapping[str, Any]) -> None:
        if part.get("type") == "refusal":
            self.refusal = (self.refusal or "") + str(part.get("refusal") or "")
            return
        text = part.get("text")
        if not isinstance(text, str):
            if text is None:
                return
            raise TypeError(f"output_text is {type(text).__name__}, expected a string")
        for ann in part.get("annotations") or ():
            if isinstance(ann, Mapping):
                self.citations.append(_citation(ann, self.length))
        self.texts.append(text)
        self.length += len(text)

    def finish(self, data: Mapping[str, Any]) -> str:
        if data.get("status") == "incomplete":
            details = data.get("incomplete_details")
            reason = details.get("reason") if isinstance(details, Mapping) else None
            return _INCOMPLETE.get(str(reason), str(reason or "length"))
        if self.refusal is not None:
            return "refusal"
        return "tool_calls" if self.calls else "stop"

    def message(self) -> Message:
        content = "".join(self.texts) if self.texts or not (self.calls or self.refusal is not None) else None
        parts = self.order.parts(self.reasoning)
        return assistant_message(content, tuple(self.calls) or None, parts, tuple(self.citations), tuple(self.server))


def _call_id(item: Mapping[str, Any]) -> str:
    return str(item.get("call_id") or item.get("id") or "")


class _Order:
    """The ids and order of an answer's output items, kept (as a ``ReasoningPart`` of kind
    ``"output"``) only when the answer has reasoning, whose items the API pairs by id."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def add(self, index: int, item: Mapping[str, Any]) -> None:
        kind = item.get("type")
        if kind == "reasoning":
            self.entries.append({"type": "reasoning", "index": index})
        elif kind == "message":
            self.entries.append({"type": "message", "id": item.get("id")})
        elif kind == "function_call":
            entry = {"type": "function_call", "id": item.get("id"), "call_id": _call_id(item), "arguments": item.get("arguments")}
            self.entries.append(entry)
        else:  # a server-run tool's item (web_search_call...): goes back as received, in its place
            self.entries.append({"type": "item", "index": index})

    def parts(self, reasoning: list[ReasoningPart]) -> tuple[ReasoningPart, ...]:
        if not reasoning:
            return ()
        order = ReasoningPart(FORMAT, _ORDER, "", None, json.dumps(self.entries, separators=(",", ":")), None)
        return (*reasoning, order)


class ResponsesStreamDecoder(StreamDecoder):
    """The Responses API's typed SSE events → chunks; ends at ``response.completed`` /
    ``response.incomplete``."""

    terminal_name = "response.completed"
    format_name = "openai_responses"

    def __init__(self, *, provider: str, model: str) -> None:
        super().__init__(provider=provider, model=model)
        self._calls: dict[int, list[Any]] = {}  # output index -> [ordinal, call id, name, argument pieces, final args]
        self._reasoning: list[ReasoningPart] = []
        self._text_length = 0
        self._part_start: dict[tuple[int, int], int] = {}  # (output index, content index) -> its text's offset
        self._refused = False
        self._order = _Order()

    def feed(self, event: SseEvent) -> list[StreamChunk]:
        data = self._event_object(event)
        if data is None:
            return []
        self.raw = data
        return self._dispatch(self._handle, data, event.event)

    def _handle(self, data: dict[str, Any], name: Optional[str]) -> list[StreamChunk]:
        kind = data.get("type") or name or ""
        if kind == "response.output_text.delta":
            key = (int(data.get("output_index") or 0), int(data.get("content_index") or 0))
            self._part_start.setdefault(key, self._text_length)
            delta = str(data.get("delta") or "")
            self._text_length += len(delta)
            return self._chunk(delta) if delta else []
        if kind == "response.reasoning_summary_text.delta" or kind == "response.reasoning_text.delta":
            return self._chunk(reasoning=str(data.get("delta") or ""))
        if kind == "response.reasoning_summary_part.added" and int(data.get("summary_index") or 0) > 0:
            return self._chunk(reasoning="\n\n")
        if kind == "response.function_call_arguments.delta":
            slot = self._calls.get(int(data.get("output_index") or 0))
            if slot is None:
                return []
            piece = str(data.get("delta") or "")
            slot[3].append(piece)
            return self._chunk(deltas=(ToolCallDelta(slot[0], None, None, piece),))
        if kind == "response.function_call_arguments.done":
            slot = self._calls.get(int(data.get("output_index") or 0))
            if slot is not None and isinstance(data.get("arguments"), str):
                slot[4] = data["arguments"]
            return []
        if kind == "response.output_item.added":
            return self._item_added(int(data.get("output_index") or 0), data["item"])
        if kind == "response.output_item.done":
            return self._item_done(int(data.get("output_index") or 0), data["item"])
        if kind == "response.output_text.annotation.added":
            key = (int(data.get("output_index") or 0), int(data.get("content_index") or 0))
            ann = data.get("annotation")
            if not isinstance(ann, Mapping):
                return []
            cite = _citation(ann, self._part_start.get(key, self._text_length))
            return [StreamChunk(provider=self.provider, model=self.model, raw=data, citations=(cite,))]
        if kind == "response.refusal.delta":
            self._refused = True
            return [StreamChunk(provider=self.provider, model=self.model, raw=data, refusal=str(data.get("delta") or ""))]
        if kind in ("response.created", "response.in_progress"):
            self._started(data.get("response"))
            return []
        if kind == "response.completed" or kind == "response.incomplete":
            return self._end(data.get("response") or {})
        if kind == "response.failed":
            self.done = True
            body = data.get("response") or {}
            raise _error(body if isinstance(body, Mapping) and body.get("error") else data, self.provider, self.model, 500)
        if kind == "error":
            self.done = True
            raise _error(data, self.provider, self.model, 500)
        return []

    def _started(self, resp: Any) -> None:
        if isinstance(resp, Mapping):
            if resp.get("model"):
                self.model = str(resp["model"])
            if self.response_id is None and resp.get("id"):
                self.response_id = str(resp["id"])

    def _item_added(self, index: int, item: Mapping[str, Any]) -> list[StreamChunk]:
        if item.get("type") != "function_call":
            return []
        ordinal = len(self._calls)
        call_id, name = item.get("call_id"), item.get("name")
        self._calls[index] = [ordinal, call_id, name, [], None]
        initial = str(item.get("arguments") or "")
        if initial:
            self._calls[index][3].append(initial)
        return self._chunk(deltas=(ToolCallDelta(ordinal, call_id, name, initial),))

    def _item_done(self, index: int, item: Mapping[str, Any]) -> list[StreamChunk]:
        kind = item.get("type")
        self._order.add(index, item)
        if kind == "reasoning":
            self._reasoning.append(_reasoning_part(index, item))
            return []
        if kind == "function_call":
            slot = self._calls.get(index)
            if slot is not None:
                slot[1] = item.get("call_id") or slot[1]
                slot[2] = item.get("name") or slot[2]
                if isinstance(item.get("arguments"), str):
                    slot[4] = item["arguments"]
            return []
        if kind == "message":
            return []
        part = ServerToolPart(FORMAT, str(kind or ""), item.get("id"), item.get("name"), None, item, index, self._text_length)
        return [StreamChunk(provider=self.provider, model=self.model, raw=self.raw, server_tool_parts=(part,))]

    def _end(self, resp: Mapping[str, Any]) -> list[StreamChunk]:
        self.done = True
        self._started(resp)
        output = resp.get("output")
        if isinstance(output, list) and output:  # the complete items: what openai-python's final response holds
            self._order = _Order()
            self._reasoning = []
            for index, item in enumerate(output):
                self._order.add(index, item)
                if item.get("type") == "reasoning":
                    self._reasoning.append(_reasoning_part(index, item))
        calls = tuple(
            ToolCall(str(cid or ""), str(name or ""), decode_arguments(final if final is not None else "".join(parts)))
            for _, cid, name, parts, final in sorted(self._calls.values(), key=lambda s: s[0])
        )
        if resp.get("status") == "incomplete":
            details = resp.get("incomplete_details")
            reason = details.get("reason") if isinstance(details, Mapping) else None
            finish = _INCOMPLETE.get(str(reason), str(reason or "length"))
        elif self._refused:
            finish = "refusal"
        else:
            finish = "tool_calls" if calls else "stop"
        return [
            StreamChunk(
                finish_reason=finish,
                usage=_usage(resp.get("usage")),
                provider=self.provider,
                model=self.model,
                tool_calls=calls,
                raw=self.raw,
                reasoning_parts=self._order.parts(self._reasoning),
            )
        ]

    def _chunk(self, text: str = "", deltas: tuple[ToolCallDelta, ...] = (), reasoning: str = "") -> list[StreamChunk]:
        return [StreamChunk(text, deltas, provider=self.provider, model=self.model, raw=self.raw, delta_reasoning=reasoning)]


WIRE_FORMAT = ResponsesFormat()
