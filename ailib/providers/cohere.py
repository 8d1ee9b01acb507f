"""The Cohere v2 chat wire format (``POST {base_url}/v2/chat``, ``Authorization: Bearer``).

Translation rules (ailib → Cohere):

* Messages keep their roles (system, user, assistant, tool); assistant tool calls are sent
  as ``tool_calls`` with JSON-string arguments, tool results as ``tool`` messages with
  ``tool_call_id``. A response's ``tool_plan`` (the model's "chain-of-thought style reflection
  and plan" before its calls, streamed as ``tool-plan-delta``) is reasoning, not answer text: it
  is kept as ``ReasoningPart("cohere", "tool_plan", text)`` and goes back as ``tool_plan``. An
  assistant message built by hand with text beside its tool calls sends that text as
  ``tool_plan``.
* ``top_p`` → ``p``, ``stop`` → ``stop_sequences``; ``tool_choice`` ``required``/``none`` →
  ``REQUIRED``/``NONE`` (``auto`` is the default and sends nothing); forcing one named tool
  is not offered by Cohere and raises ``InvalidRequestError`` before sending.
* ``response_format`` ``json_object`` → ``{"type": "json_object"}``; ``json_schema`` →
  ``{"type": "json_object", "json_schema": ...}`` (its ``schema`` as given); a pydantic model
  class or dataclass → its strict schema (as OpenAI gets it) as ``json_schema``.
* A tool's ``strict=True`` → ``strict_tools: true`` on the request: Cohere's flag covers every
  tool of the request, so one strict tool makes them all strict (``strict=False`` on every tool,
  or None, sends nothing).
* Images (vision models, when the provider allows them) → ``image_url`` content items;
  the built-in ``cohere`` provider declares no image support, so they fail before sending.
* Audio and file parts raise ``InvalidRequestError`` before anything is sent: a v2 chat message
  holds only text and ``image_url`` items (the SDK's ``Content``). Text for retrieval goes in
  Cohere's own ``documents`` field: ``extra={"documents": ["...", {"id": ..., "data": {...}}]}``.
* ``ChatCompletionRequest(reasoning=...)`` → ``thinking: {"type": "enabled", "token_budget": N}``
  (Command A Reasoning): a budget as given, an effort as 1024/4096/16384 tokens. The answer's
  ``thinking`` content items (streamed as ``content-start``/``content-delta`` with
  ``content.thinking``) are kept as ``ReasoningPart("cohere", "thinking", text, index=i)`` and
  sent back in their place as ``{"type": "thinking", "thinking": ...}`` content items when the
  assistant message is replayed to Cohere (the v2 API's assistant content takes them).
* An answer's ``citations`` (``start``/``end`` into its text, ``sources``; streamed as
  ``citation-start`` events) are kept as ``Citation("cohere", ...)`` and go back as the
  assistant message's ``citations``, as received (the v2 API's assistant message takes them).
* ``n`` above 1 and ``cached_content`` (Gemini's) raise ``InvalidRequestError`` before sending.
* ``finish_reason`` ``ERROR`` (the generation failed on Cohere's side) raises a retryable
  ``ProviderError``.
* Stream events carry their type in the JSON ``type`` field and often also as the SSE
  ``event:`` name; either is read. ``message-end`` is the terminal event.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .._message import ReasoningPart, arguments_json
from .._schema import wire_response_format
from .._sse import SseEvent
from ..errors import AiLibError, InvalidRequestError, ProviderError
from ..types import (
    ChatCompletionRequest,
    ChatCompletionResponse,
    Choice,
    Citation,
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
    ours = [p for p in m.reasoning_parts if p.format == "cohere"]
    plan = "".join(p.text for p in ours if p.kind == "tool_plan")
    if m.tool_calls and text and not plan:  # text beside tool calls is Cohere's "tool plan"
        plan, text = text, ""
    if plan:
        d["tool_plan"] = plan
    thinking = [{"type": "thinking", "thinking": p.text} for p in ours if p.kind == "thinking"]
    if thinking:  # the answer's thinking items go back first, as received, then its text
        d["content"] = thinking + ([{"type": "text", "text": text}] if text else [])
    elif text:
        d["content"] = text
    if m.tool_calls:
        d["tool_calls"] = [
            {
                "id": t.id,
                "type": "function",
                "function": {"name": t.name, "arguments": arguments_json(t.arguments)},
            }
            for t in m.tool_calls
        ]
    cited = [dict(c.raw) for c in m.citations if c.format == "cohere"]
    if cited:  # as the SDK sends an answer's message back: with its citations, as received
        d["citations"] = cited
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
    fmt = wire_response_format(fmt)  # a class as its strict json_schema form
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
    template Cohere adds, 507 tokens where 12 were billed in one answer), else ``tokens``.
    ``cached_tokens`` counts against ``tokens`` (1,344 cached of 1,394 processed, with 8 billed, in
    one recorded answer), so it is reported only when the counts are ``tokens``: beside billed
    units it would claim more cached input than was billed."""
    if not u:
        return None
    billed = u.get("billed_units") or {}
    is_billed = "input_tokens" in billed or "output_tokens" in billed
    counts = billed if is_billed else u.get("tokens") or {}
    if not counts:
        return None
    prompt = int(counts.get("input_tokens") or 0)
    completion = int(counts.get("output_tokens") or 0)
    cached = None if is_billed or u.get("cached_tokens") is None else int(u["cached_tokens"])
    return Usage(prompt, completion, prompt + completion, cached_tokens=cached)


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
        if request.tools and any(t.strict for t in request.tools):
            body["strict_tools"] = True  # one flag for every tool of the request
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
        reasoning: tuple[ReasoningPart, ...] = ()
        if isinstance(content, str):
            text = content
        else:
            text = "".join(c.get("text", "") for c in content if c.get("type", "text") == "text")
            reasoning = tuple(
                ReasoningPart("cohere", "thinking", str(c.get("thinking") or ""), index=i)
                for i, c in enumerate(content)
                if c.get("type") == "thinking"
            )
        if msg.get("tool_plan"):
            reasoning += (ReasoningPart("cohere", "tool_plan", str(msg["tool_plan"])),)
        calls = _calls(msg.get("tool_calls"))
        finish = _finish(data.get("finish_reason"), bool(calls), data.get("error"), provider, model)
        answer = assistant_message(text or None, calls or None, reasoning, _citations(msg.get("citations")))
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


_DOC_ID = re.compile(r"doc:(\d+)")


def _citations(value: Any) -> tuple[Citation, ...]:
    """Cohere's ``citations`` (a list; a ``citation-start`` event carries one object): ``start``/``end``
    into the answer text, the first source's document (``url``, ``title``) named, the rest in ``raw``."""
    items = [value] if isinstance(value, Mapping) else value if isinstance(value, list) else []
    out = []
    for c in items:
        if not isinstance(c, Mapping):
            continue
        sources = [s for s in c.get("sources") or () if isinstance(s, Mapping)]
        first = sources[0] if sources else {}
        found_doc = first.get("document")
        doc: Mapping[str, Any] = found_doc if isinstance(found_doc, Mapping) else {}
        source_id = str(first.get("id") or doc.get("id") or "")
        found = _DOC_ID.fullmatch(source_id)
        start, end = c.get("start"), c.get("end")
        title = doc.get("title")
        out.append(
            Citation(
                "cohere",
                str(c.get("type") or "TEXT_CONTENT"),
                None,
                None if doc.get("url") is None else str(doc["url"]),
                None if title is None else str(title),
                start if isinstance(start, int) else None,
                end if isinstance(end, int) else None,
                int(found.group(1)) if found else None,
                None if title is None else str(title),
                raw=c,
            )
        )
    return tuple(out)


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
        self._thinking: dict[int, list[str]] = {}  # content index -> thinking fragments
        self._plan: list[str] = []  # tool-plan-delta fragments

    quiet_events = frozenset({"content-end", "tool-call-end", "citation-end", "debug"})

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
            thought = content.get("thinking")
            if content.get("type") == "thinking" or thought is not None:
                pieces = self._thinking.setdefault(int(data.get("index") or 0), [])
                if not thought:
                    return []
                pieces.append(thought)
                return [StreamChunk(provider=self.provider, model=self.model, raw=data, delta_reasoning=thought)]
            text = content.get("text") or ""
            return self._chunk(text) if text else []
        if kind == "tool-plan-delta":
            piece = ((data.get("delta") or {}).get("message") or {}).get("tool_plan") or ""
            if not piece:
                return []
            self._plan.append(piece)
            return [StreamChunk(provider=self.provider, model=self.model, raw=data, delta_reasoning=piece)]
        if kind == "citation-start":
            cites = _citations(((data.get("delta") or {}).get("message") or {}).get("citations"))
            return [StreamChunk(provider=self.provider, model=self.model, raw=data, citations=cites)] if cites else []
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
            reasoning = tuple(ReasoningPart("cohere", "thinking", "".join(pieces), index=i) for i, pieces in sorted(self._thinking.items()))
            if self._plan:
                reasoning += (ReasoningPart("cohere", "tool_plan", "".join(self._plan)),)
            self.done = True
            return [
                StreamChunk(
                    finish_reason=finish,
                    usage=_usage(delta.get("usage")),
                    provider=self.provider,
                    model=self.model,
                    tool_calls=calls,
                    reasoning_parts=reasoning,
                )
            ]
        if kind == "error":
            raise _stream_error(data, self.provider, self.model)
        return []  # message-start, content-end, tool-call-end, citations, debug ...


WIRE_FORMAT = CohereFormat()
