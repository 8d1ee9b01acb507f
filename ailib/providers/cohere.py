"""The Cohere v2 chat wire format (``POST {base_url}/v2/chat``, ``Authorization: Bearer``).

Translation rules (ailib → Cohere):

* Messages keep their roles (system, user, assistant, tool); assistant tool calls are sent
  as ``tool_calls`` with JSON-string arguments (the assistant's text beside them as
  ``tool_plan``), tool results as ``tool`` messages with ``tool_call_id``. A response's
  ``tool_plan`` is not part of the answer text.
* ``top_p`` → ``p``, ``stop`` → ``stop_sequences``; ``tool_choice`` ``required``/``none`` →
  ``REQUIRED``/``NONE`` (``auto`` is the default and sends nothing); forcing one named tool
  is not offered by Cohere and raises ``InvalidRequestError`` before sending.
* ``response_format`` ``json_object`` → ``{"type": "json_object"}``; ``json_schema`` →
  ``{"type": "json_object", "json_schema": ...}``.
* Images (vision models, when the provider allows them) → ``image_url`` content items;
  the built-in ``cohere`` provider declares no image support, so they fail before sending.
* Audio and file parts raise ``InvalidRequestError`` before anything is sent: a v2 chat message
  holds only text and ``image_url`` items (the SDK's ``Content``). Text for retrieval goes in
  Cohere's own ``documents`` field: ``extra={"documents": ["...", {"id": ..., "data": {...}}]}``.
* ``ChatCompletionRequest(reasoning=...)`` → ``thinking: {"type": "enabled", "token_budget": N}``
  (Command A Reasoning): a budget as given, an effort as 1024/4096/16384 tokens. Cohere's
  thinking text in answers is not read yet.
* ``n`` above 1 and ``cached_content`` (Gemini's) raise ``InvalidRequestError`` before sending.
* ``finish_reason`` ``ERROR`` (the generation failed on Cohere's side) raises a retryable
  ``ProviderError``.
* Stream events carry their type in the JSON ``type`` field and often also as the SSE
  ``event:`` name; either is read. ``message-end`` is the terminal event.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._message import arguments_json
from .._sse import SseEvent
from ..errors import AiLibError, InvalidRequestError, ProviderError
from ..types import (
    ChatCompletionRequest,
    ChatCompletionResponse,
    Choice,
    Message,
    Role,
    StreamChunk,
    ToolCall,
    ToolCallDelta,
    Usage,
    reasoning_budget,
)
from ._base import StreamDecoder, WireFormat, assistant_message, classify_http_error, media_parts, merge_extra, response, unsupported_part
from ._registry import ProviderSpec
from .openai import decode_arguments

__all__ = ["WIRE_FORMAT", "CohereFormat", "CohereStreamDecoder"]

_SYSTEM, _DEVELOPER = Role.SYSTEM, Role.DEVELOPER
_FINISH = {
    "COMPLETE": "stop",
    "STOP_SEQUENCE": "stop",
    "MAX_TOKENS": "length",
    "TOOL_CALL": "tool_calls",
}


_NO_MEDIA = ("audio_base64", "file_base64", "file_url", "file_id")


def _check_parts(request: ChatCompletionRequest, provider: str, model: str) -> None:
    for m in request.messages:
        if isinstance(m.content, str) or m.content is None:
            continue
        for p in media_parts(m):
            if p.kind in _NO_MEDIA:
                raise unsupported_part(
                    provider,
                    model,
                    p,
                    hint="a Cohere chat message takes text and images; pass text documents as extra={'documents': [...]}",
                )


def _user_content(m: Message) -> Any:
    if isinstance(m.content, str):
        return m.content
    items: list[dict[str, Any]] = []
    for p in m.parts():
        items.append(p.to_dict())  # text, or image_url with its detail (Cohere takes OpenAI's shape)
    return items


def _message(m: Message) -> dict[str, Any]:
    sender = m.role
    if sender is _SYSTEM or sender is _DEVELOPER:  # both are Cohere's system role
        return {"role": "system", "content": m.text() if m.content is not None else ""}
    if m.role is Role.USER:
        return {"role": "user", "content": _user_content(m)}
    if m.role is Role.TOOL:
        return {"role": "tool", "tool_call_id": m.tool_call_id, "content": m.text() if m.content is not None else ""}
    d: dict[str, Any] = {"role": "assistant"}
    text = m.text() if m.content is not None else ""
    if text:  # text that accompanies tool calls is Cohere's "tool plan"
        d["tool_plan" if m.tool_calls else "content"] = text
    if m.tool_calls:
        d["tool_calls"] = [
            {
                "id": t.id,
                "type": "function",
                "function": {"name": t.name, "arguments": arguments_json(t.arguments)},
            }
            for t in m.tool_calls
        ]
    return d


def _tool_choice(choice: Any, provider: str, model: str) -> str | None:
    if choice == "auto":
        return None
    if choice in ("required", "any"):
        return "REQUIRED"
    if choice == "none":
        return "NONE"
    raise InvalidRequestError(
        f"{provider} does not support tool_choice {choice!r} (only auto, required, none); nothing was sent", provider=provider, model=model
    )


def _response_format(fmt: Any, provider: str, model: str) -> dict[str, Any] | None:
    kind = fmt.get("type") if isinstance(fmt, Mapping) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema")
        if isinstance(schema, Mapping):
            return {"type": "json_object", "json_schema": dict(schema)}
    raise InvalidRequestError(f"{provider} does not support response_format {fmt!r}; nothing was sent", provider=provider, model=model)


def _usage(u: Mapping[str, Any] | None) -> Usage | None:
    """``usage``: the ``billed_units`` (what Cohere charges; ``tokens`` also counts the prompt
    template Cohere adds, 507 tokens where 12 were billed in one answer), else ``tokens``."""
    if not u:
        return None
    billed = u.get("billed_units") or {}
    counts = billed if "input_tokens" in billed or "output_tokens" in billed else u.get("tokens") or {}
    if not counts:
        return None
    prompt = int(counts.get("input_tokens") or 0)
    completion = int(counts.get("output_tokens") or 0)
    return Usage(prompt, completion, prompt + completion)


def _finish(reason: str | None, has_calls: bool, error: Any, provider: str, model: str) -> str:
    if reason == "ERROR":
        raise ProviderError(f"{provider} reported a failed generation: {error or 'ERROR'}", provider=provider, model=model)
    if reason is None:
        return "tool_calls" if has_calls else "stop"
    return _FINISH.get(reason, reason.lower())


def _calls(raw: Any) -> tuple[ToolCall, ...]:
    return tuple(
        ToolCall(str(t.get("id", "")), str(t["function"]["name"]), decode_arguments(t["function"].get("arguments"))) for t in raw or ()
    )


class CohereFormat(WireFormat):
    name = "cohere"

    def chat_url(self, base_url: str, model: str, stream: bool) -> str:
        return base_url + "/v2/chat"

    def models_url(self, base_url: str) -> str:
        return base_url + "/v1/models?endpoint=chat&page_size=1000"

    def check_supported(self, request: ChatCompletionRequest, spec: ProviderSpec, *, stream: bool) -> None:
        super().check_supported(request, spec, stream=stream)
        _check_parts(request, spec.name, request.model)
        if request.tool_choice is not None:
            _tool_choice(request.tool_choice, spec.name, request.model)
        if request.response_format is not None:
            _response_format(request.response_format, spec.name, request.model)
        for m in request.messages:
            if m.role is Role.TOOL and not m.tool_call_id:
                raise InvalidRequestError(
                    "a tool message needs the tool_call_id of the call it answers", provider=spec.name, model=request.model
                )

    def encode(self, request: ChatCompletionRequest, model: str, *, stream: bool, spec: ProviderSpec) -> dict[str, Any]:
        _check_parts(request, spec.name, model)  # also here: batch uploads encode without check_supported
        self.check_request_options(request, spec, model)
        body: dict[str, Any] = {"model": model, "messages": [_message(m) for m in request.messages]}
        if request.tools:
            body["tools"] = [
                {"type": "function", "function": {"name": t.name, "description": t.description, "parameters": dict(t.parameters)}}
                for t in request.tools
            ]
        if request.tool_choice is not None:
            choice = _tool_choice(request.tool_choice, spec.name, model)
            if choice is not None:
                body["tool_choice"] = choice
        if request.max_tokens is not None:
            body["max_tokens"] = request.max_tokens
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.top_p is not None:
            body["p"] = request.top_p
        if request.stop is not None:
            body["stop_sequences"] = list(request.stop)
        if request.response_format is not None:
            fmt = _response_format(request.response_format, spec.name, model)
            if fmt is not None:
                body["response_format"] = fmt
        if request.reasoning is not None:  # Command A Reasoning's thinking budget
            body["thinking"] = {"type": "enabled", "token_budget": reasoning_budget(request.reasoning)}
        if stream:
            body["stream"] = True
        if request.extra:
            merge_extra(body, request.extra)  # deeply: objects merged key by key, other values replace
        return body

    def decode(self, data: dict[str, Any], *, provider: str, model: str, headers: Mapping[str, str]) -> ChatCompletionResponse:
        if "message" in data and not isinstance(data["message"], Mapping):  # an error body answered with 200
            message, codes = self.error_details(data)
            raise classify_http_error(502, headers, message=message, codes=codes, provider=provider, model=model, body=data)
        msg = data["message"]
        content = msg.get("content") or []
        if isinstance(content, str):
            text = content
        else:
            text = "".join(c.get("text", "") for c in content if c.get("type", "text") == "text")
        calls = _calls(msg.get("tool_calls"))
        finish = _finish(data.get("finish_reason"), bool(calls), data.get("error"), provider, model)
        answer = assistant_message(text or None, calls or None)
        return response(
            str(data.get("id", "")),
            str(data.get("model") or model),
            provider,
            (Choice(0, answer, finish),),
            _usage(data.get("usage")),
            data,
        )

    def stream_decoder(self, *, provider: str, model: str) -> StreamDecoder:
        return CohereStreamDecoder(provider=provider, model=model)

    def error_details(self, data: Any) -> tuple[str, tuple[str, ...]]:
        if not isinstance(data, Mapping):
            return "", ()
        err = data.get("error")
        if isinstance(err, Mapping):  # not Cohere's documented shape, but gateways use it
            codes = tuple(str(err[k]) for k in ("type", "code") if err.get(k))
            return str(err.get("message") or ""), codes
        return str(data.get("message") or err or ""), ()

    def decode_models(self, data: Any) -> list[str]:
        return [str(m["name"]) for m in data["models"]]


# Cohere documents no error event inside a stream; gateways and the mock send
# ``{"type": "error", "message": ..., "status": N}``. The status (default 500) classifies it.
def _stream_error(data: Mapping[str, Any], provider: str, model: str) -> AiLibError:
    message, codes = WIRE_FORMAT.error_details(data)
    status = data.get("status") or data.get("status_code")
    status = status if isinstance(status, int) and 400 <= status < 600 else 500
    return classify_http_error(
        status, {}, message=message or "error event in stream", codes=codes, provider=provider, model=model, body=data
    )


class CohereStreamDecoder(StreamDecoder):
    """message-start, content-*, tool-call-*, message-end (terminal); others are ignored."""

    terminal_name = "the message-end event"
    format_name = "cohere"

    def __init__(self, *, provider: str, model: str) -> None:
        super().__init__(provider=provider, model=model)
        self._tools: dict[int, list[Any]] = {}  # event index -> [ordinal, id, name, argument fragments]

    quiet_events = frozenset({"content-end", "tool-call-end", "tool-plan-delta", "citation-start", "citation-end", "debug"})

    def feed(self, event: SseEvent) -> list[StreamChunk]:
        data = self._event_object(event)
        if data is None:
            return []
        self.raw = data
        if self.response_id is None and data.get("id"):  # message-start names the answer
            self.response_id = str(data["id"])
        return self._dispatch(self._handle, data.get("type") or data.get("event_type") or event.event, data)

    def _handle(self, kind: str, data: dict[str, Any]) -> list[StreamChunk]:
        if kind in ("content-delta", "content-start"):
            content = data["delta"]["message"]["content"]
            text = content.get("text") or ""
            return self._chunk(text) if text else []
        if kind == "tool-call-start":
            tc = data["delta"]["message"]["tool_calls"]
            index = int(data.get("index", len(self._tools)))
            fn = tc.get("function") or {}
            args = fn.get("arguments") or ""
            slot: list[Any] = [len(self._tools), str(tc.get("id", "")), str(fn["name"]), [args]]
            self._tools[index] = slot
            return self._chunk(deltas=(ToolCallDelta(slot[0], slot[1], slot[2], args),))
        if kind == "tool-call-delta":
            slot = self._tools[int(data.get("index", len(self._tools) - 1))]
            args = ((data["delta"]["message"]["tool_calls"] or {}).get("function") or {}).get("arguments") or ""
            if not args:
                return []
            slot[3].append(args)
            return self._chunk(deltas=(ToolCallDelta(slot[0], None, None, args),))
        if kind == "message-end":
            delta = data.get("delta") or {}
            calls = tuple(
                ToolCall(cid, name, decode_arguments("".join(parts)))
                for _, cid, name, parts in sorted(self._tools.values(), key=lambda s: s[0])
            )
            finish = _finish(delta.get("finish_reason"), bool(calls), delta.get("error"), self.provider, self.model)
            self.done = True
            return [
                StreamChunk(
                    finish_reason=finish, usage=_usage(delta.get("usage")), provider=self.provider, model=self.model, tool_calls=calls
                )
            ]
        if kind == "error":
            raise _stream_error(data, self.provider, self.model)
        return []  # message-start, content-end, tool-plan-delta, tool-call-end, citations, debug ...


WIRE_FORMAT = CohereFormat()
