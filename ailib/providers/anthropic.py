"""The Anthropic Messages wire format (``POST {base_url}/v1/messages``).

Translation rules (ailib → Anthropic):

* ``x-api-key`` and ``anthropic-version: 2023-06-01`` headers (a custom provider's own
  headers may override the version or add ``anthropic-beta``).
* System (and developer) messages, wherever they are, are lifted into the top-level ``system`` string
  (joined by a blank line).
* Tool results become user-role ``tool_result`` blocks; consecutive messages of one role
  are merged into one message (the API wants user/assistant alternation), with the
  ``tool_result`` blocks first in a merged user message, as the API requires.
* ``temperature``, ``top_p`` and ``stop_sequences`` are sent only when the request sets them
  (newer models reject a ``temperature`` they were not asked for with a 400).
* ``max_tokens`` is required by the API: without one, ``default_max_tokens(model)`` is
  sent (4096 for Claude 3 and unknown models, 8192 for Claude 3.5 and later).
* A part's ``cache_control`` (prompt caching) is sent on its block; a message or system prompt
  holding such a part goes as blocks (the system prompt as a list of text blocks), not a string.
* Images: inline base64 → ``{"type": "base64"}`` source, URL → ``{"type": "url"}`` source.
* Files (user messages and tool results) → ``document`` blocks, as the SDK's ``DocumentBlockParam``:
  an inline PDF → ``{"type": "base64", "media_type": "application/pdf"}`` source, an inline
  ``text/plain`` file → ``{"type": "text", "media_type": "text/plain"}`` source (the text decoded),
  ``Content.file_url`` → ``{"type": "url"}`` source (a PDF), ``Content.file_id`` → ``{"type": "file",
  "file_id"}`` source (the Files API, beta: send ``anthropic-beta: files-api-2025-04-14`` with
  ``ConnectionOptions(extra_headers=...)``); an image file goes as an ``image`` block. Other file
  types, files in system or assistant messages, and audio (Anthropic takes none) raise
  ``InvalidRequestError`` before anything is sent.
* Reasoning: an assistant message's Anthropic reasoning parts (``thinking`` with its
  ``signature``, ``redacted_thinking`` with its ``data``) go back as the blocks they came as, in
  their place among the text and ``tool_use`` blocks, so a thinking-enabled tool loop sends the
  turn the official SDK sends; another format's reasoning parts are dropped (never sent).
* Citations and server tools: an assistant message's Anthropic citations and server-tool parts
  (``server_tool_use``, ``web_search_tool_result``, ``mcp_tool_use``...) go back as received: the
  text split into text blocks at the cited spans, each cited block with its ``citations`` as they
  came, the server-tool blocks unchanged in their place (as the official SDK replays
  ``message.content``); another format's citations are dropped.
* ``ChatCompletionRequest(reasoning=...)`` → ``thinking: {"type": "enabled", "budget_tokens": N}``:
  a budget as given, an effort as 1024 (low), 4096 (medium) or 16384 (high) tokens. The API
  wants ``max_tokens`` above the budget: without a ``max_tokens`` the default is sent on top
  of the budget; a ``max_tokens`` at or below it raises ``InvalidRequestError`` before sending.
* Structured output, as anthropic-sdk-python sends it (``output_config``, no beta header):
  ``response_format`` ``json_schema`` → ``output_config: {"format": {"type": "json_schema",
  "schema": ...}}`` with its ``schema`` as given (the SDK sends a schema dict unchanged); a
  pydantic model class or dataclass → its JSON schema rewritten as the SDK's ``transform_schema``
  does for ``messages.parse(output_format=Model)``. ``json_object`` (JSON without a schema) has no
  Anthropic form (the API wants a schema, its objects closed) and raises ``InvalidRequestError``:
  give a schema or a class.
* ``Tool.function(..., strict=...)`` → the tool's ``strict`` (when set).
* ``temperature`` above 1, ``n`` above 1 and ``cached_content`` (Gemini's) cannot be served and
  raise ``InvalidRequestError`` before anything is sent.
* Usage: ``cache_creation.ephemeral_1h_input_tokens`` (cache writes with a 1-hour lifetime) is
  ``Usage.cache_write_1h_tokens`` and ``output_tokens_details.thinking_tokens`` (the reasoning
  part of ``output_tokens``) is ``Usage.reasoning_tokens``, read from the body and from a
  stream's ``message_start`` and ``message_delta`` (a later count replaces an earlier one only
  when given).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any, Optional

from .._schema import anthropic_json_schema, json_schema_of, output_type
from .._sse import SseEvent
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
    Tool,
    ToolCall,
    ToolCallDelta,
    Usage,
    reasoning_budget,
)
from ._base import (
    StreamDecoder,
    WireFormat,
    assistant_message,
    classify_http_error,
    media_parts,
    merge_extra,
    remember_headers,
    response,
    token_count,
    unsupported_part,
)
from ._registry import ProviderSpec
from .openai import decode_arguments

__all__ = ["ANTHROPIC_VERSION", "WIRE_FORMAT", "AnthropicFormat", "AnthropicStreamDecoder", "default_max_tokens"]

ANTHROPIC_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
# Claude 3 (Haiku/Sonnet/Opus) and older cap output at 4096 tokens; later models take more.
_SMALL_OUTPUT_PREFIXES = ("claude-3-haiku", "claude-3-sonnet", "claude-3-opus", "claude-2", "claude-instant")
_LARGE_OUTPUT_DEFAULT = 8192
_SYSTEM, _DEVELOPER = Role.SYSTEM, Role.DEVELOPER  # both go to the top-level system prompt

_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "refusal",
}

# Error ``type`` → the HTTP status Anthropic documents for it (used for stream error events).
_ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


def default_max_tokens(model: str) -> int:
    """The ``max_tokens`` sent when the caller gives none (the API requires one)."""
    name = model.rsplit("/", 1)[-1].lower()
    if name.startswith("claude-") and not name.startswith(_SMALL_OUTPUT_PREFIXES):
        return _LARGE_OUTPUT_DEFAULT
    return DEFAULT_MAX_TOKENS


def _unsupported(provider: str, model: str, feature: str) -> InvalidRequestError:
    return InvalidRequestError(f"{provider} does not support {feature}; nothing was sent", provider=provider, model=model)


def _file_block(p: Content, provider: str, model: str) -> dict[str, Any]:
    """A file part as a ``document`` block (an image file as an ``image`` block)."""
    media = p.media_type or ""
    kind = "image" if media.startswith("image/") else "document"
    if p.kind == "file_id":
        return {"type": kind, "source": {"type": "file", "file_id": p.value}}
    if p.kind == "file_url":
        if kind == "image" or media in ("", "application/pdf"):
            return {"type": kind, "source": {"type": "url", "url": p.value}}
        raise unsupported_part(provider, model, p, hint="a URL source takes a PDF or an image; send other files inline")
    if kind == "image":
        return {"type": "image", "source": {"type": "base64", "media_type": media, "data": p.value}}
    if media == "application/pdf":
        return {"type": "document", "source": {"type": "base64", "media_type": media, "data": p.value}}
    if media == "text/plain":
        try:
            text = base64.b64decode(p.value, validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            raise unsupported_part(provider, model, p, hint="its data is not base64 of UTF-8 text") from None
        return {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": text}}
    raise unsupported_part(provider, model, p, hint="documents are PDF or plain text")


def _check_parts(m: Message, provider: str, model: str) -> None:
    """Audio never; files only in user messages and tool results."""
    for p in media_parts(m):
        if p.kind == "audio_base64":
            raise unsupported_part(provider, model, p, hint="Anthropic takes no audio input")
        if p.kind in ("file_base64", "file_url", "file_id"):
            if m.role is not Role.USER and m.role is not Role.TOOL:
                raise unsupported_part(provider, model, p, f"{m.role.value} messages", "files go in user messages or tool results")
            _file_block(p, provider, model)


def _blocks(parts: tuple[Content, ...], provider: str = "anthropic", model: str = "") -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for p in parts:
        if p.kind == "image_base64":
            block: dict[str, Any] = {"type": "image", "source": {"type": "base64", "media_type": p.media_type, "data": p.value}}
        elif p.kind == "image_url":
            block = {"type": "image", "source": {"type": "url", "url": p.value}}
        elif p.kind in ("file_base64", "file_url", "file_id"):
            block = _file_block(p, provider, model)
        elif p.kind == "audio_base64":
            raise unsupported_part(provider, model, p, hint="Anthropic takes no audio input")
        else:
            text = p.as_text()
            if not text:  # the API rejects empty text blocks
                continue
            block = {"type": "text", "text": text}
        if p.cache_control is not None:
            block["cache_control"] = dict(p.cache_control)
        out.append(block)
    return out


def _text_block(text: str) -> list[dict[str, Any]]:
    """``_blocks`` of a message whose content is one string (no part to build)."""
    return [{"type": "text", "text": text}] if text else []


def _cached(m: Message) -> bool:
    """Whether a part of ``m`` carries a prompt-caching mark (its content must then go as blocks)."""
    return not isinstance(m.content, str) and any(p.cache_control is not None for p in m.parts())


def _tool_result(m: Message, provider: str, model: str) -> dict[str, Any]:
    if not m.tool_call_id:
        raise InvalidRequestError("a tool message needs the tool_call_id of the call it answers", provider=provider, model=model)
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": m.tool_call_id}
    parts = m.parts()
    if any(not p.is_text or p.cache_control is not None for p in parts):
        block["content"] = _blocks(parts, provider, model)
    else:
        block["content"] = m.text() if m.content is not None else ""
    return block


def _tool_use(t: ToolCall, provider: str, model: str) -> dict[str, Any]:
    args = t.arguments
    if isinstance(args, str):
        args = decode_arguments(args)
    if not isinstance(args, Mapping):
        raise InvalidRequestError(
            f"tool call {t.id!r} has arguments that are not a JSON object; {provider} needs an object", provider=provider, model=model
        )
    return {"type": "tool_use", "id": t.id, "name": t.name, "input": dict(args)}


def _messages(request: ChatCompletionRequest, provider: str, model: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(system text blocks, alternating messages)."""
    system: list[dict[str, Any]] = []
    turns: list[tuple[str, list[dict[str, Any]]]] = []
    for m in request.messages:
        sender = m.role
        if not isinstance(m.content, str) and m.content is not None:
            _check_parts(m, provider, model)
        if sender is _SYSTEM or sender is _DEVELOPER:
            if _cached(m):  # each part its own block, to carry its mark
                system.extend(b for b in _blocks(m.parts()) if b["type"] == "text")
                continue
            text = m.text() if m.content is not None else ""
            if text:
                system.append({"type": "text", "text": text})
            continue
        if m.role is Role.TOOL:
            role, blocks = "user", [_tool_result(m, provider, model)]
        elif m.role is Role.USER:
            role, blocks = "user", _text_block(m.content) if isinstance(m.content, str) else _blocks(m.parts(), provider, model)
        else:
            role = "assistant"
            if _replays_blocks(m):
                blocks = _cited_blocks(m.content if isinstance(m.content, str) else "", m.citations, m.server_tool_parts)
            else:
                blocks = _text_block(m.content) if isinstance(m.content, str) else _blocks(m.parts(), provider, model)
            blocks += [_tool_use(t, provider, model) for t in m.tool_calls or ()]
            if m.reasoning_parts:
                blocks = _with_reasoning(blocks, m.reasoning_parts)
        if not blocks:
            continue
        if turns and turns[-1][0] == role:
            turns[-1][1].extend(blocks)
        else:
            turns.append((role, blocks))
    messages = []
    for role, blocks in turns:
        if role == "user":  # tool results must lead a user message
            blocks.sort(key=lambda b: b["type"] != "tool_result")
        one_text = len(blocks) == 1 and blocks[0]["type"] == "text" and "cache_control" not in blocks[0]
        content: Any = blocks[0]["text"] if one_text else blocks
        messages.append({"role": role, "content": content})
    return system, messages


def _replays_blocks(m: Message) -> bool:
    """Whether an assistant message holds Anthropic citations or server-tool blocks to send back
    (its text then goes as the text blocks it came as)."""
    if not (m.citations or m.server_tool_parts) or not (m.content is None or isinstance(m.content, str)):
        return False
    return any(c.format == "anthropic" for c in m.citations) or any(p.format == "anthropic" for p in m.server_tool_parts)


def _cited_blocks(text: str, citations: tuple[Citation, ...], servers: tuple[ServerToolPart, ...]) -> list[dict[str, Any]]:
    """The answer's text and server-tool blocks in the order they came: the text cut at each cited
    span and each server-tool block's offset, a cited span with its citations as received."""
    size = len(text)
    cited: dict[tuple[int, int], list[Any]] = {}
    for c in citations:
        if c.format == "anthropic" and c.start is not None and c.end is not None and 0 <= c.start < c.end <= size:
            cited.setdefault((c.start, c.end), []).append(dict(c.raw))
    tools = sorted((p for p in servers if p.format == "anthropic"), key=lambda p: (p.offset, p.index or 0))
    cuts = sorted({0, size, *(a for span in cited for a in span), *(min(max(p.offset, 0), size) for p in tools)})
    out: list[dict[str, Any]] = []
    pending = iter(tools)
    tool = next(pending, None)
    for start, end in zip(cuts, cuts[1:]):
        while tool is not None and tool.offset <= start:
            out.append(dict(tool.raw))
            tool = next(pending, None)
        block: dict[str, Any] = {"type": "text", "text": text[start:end]}
        if (start, end) in cited:
            block["citations"] = cited[(start, end)]
        out.append(block)
    while tool is not None:
        out.append(dict(tool.raw))
        tool = next(pending, None)
    return out


def _citation(raw: Mapping[str, Any], start: int, end: int, index: int) -> Citation:
    """One of a text block's citations; ``start``/``end`` are the block's span in the answer text."""
    kind = str(raw.get("type") or "")
    url = raw.get("url")
    if url is None and kind == "search_result_location":
        url = raw.get("source")
    doc = raw.get("document_index", raw.get("search_result_index"))
    doc_title = raw.get("document_title")
    title = raw.get("title", doc_title)
    return Citation(
        "anthropic",
        kind,
        _opt_str(raw.get("cited_text")),
        _opt_str(url),
        _opt_str(title),
        start,
        end,
        doc if isinstance(doc, int) and not isinstance(doc, bool) else None,
        _opt_str(doc_title),
        index,
        raw,
    )


def _opt_str(value: Any) -> Optional[str]:
    return None if value is None else str(value)


def _server_part(block: Mapping[str, Any], index: int, offset: int) -> ServerToolPart:
    """A block Anthropic's own tools made (a use or its result), kept whole."""
    ident = block.get("id", block.get("tool_use_id"))
    name = block.get("name")
    return ServerToolPart(
        "anthropic", str(block.get("type") or ""), _opt_str(ident), _opt_str(name), block.get("input"), block, index, offset
    )


_ANSWER_BLOCKS = frozenset({"text", "tool_use", "thinking", "redacted_thinking"})


def _reasoning_block(p: ReasoningPart) -> dict[str, Any]:
    if p.kind == "redacted_thinking":
        return {"type": "redacted_thinking", "data": p.data or ""}
    block: dict[str, Any] = {"type": "thinking", "thinking": p.text}
    if p.signature is not None:
        block["signature"] = p.signature
    return block


def _with_reasoning(blocks: list[dict[str, Any]], parts: tuple[ReasoningPart, ...]) -> list[dict[str, Any]]:
    """``blocks`` with the message's Anthropic reasoning blocks put back where they were received
    (another format's parts are dropped: Anthropic cannot read them)."""
    ours = [p for p in parts if p.format == "anthropic" and p.kind in ("thinking", "redacted_thinking")]
    if not ours:
        return blocks
    out = [_reasoning_block(p) for p in ours if p.index is None] + blocks
    for p in sorted((p for p in ours if p.index is not None), key=lambda p: p.index or 0):
        out.insert(min(p.index or 0, len(out)), _reasoning_block(p))  # in received order: each lands in its place
    return out


def _reasoning_part(block: Mapping[str, Any], index: int) -> Optional[ReasoningPart]:
    """A thinking or redacted_thinking block as a reasoning part (None for other blocks)."""
    kind = block.get("type")
    if kind == "thinking":
        sig = block.get("signature")
        return ReasoningPart("anthropic", "thinking", str(block.get("thinking") or ""), None if sig is None else str(sig), index=index)
    if kind == "redacted_thinking":
        return ReasoningPart("anthropic", "redacted_thinking", data=str(block.get("data") or ""), index=index)
    return None


def _tool_choice(choice: Any, provider: str, model: str) -> dict[str, Any]:
    if isinstance(choice, str):
        if choice == "auto":
            return {"type": "auto"}
        if choice in ("required", "any"):
            return {"type": "any"}
        if choice == "none":
            return {"type": "none"}
        return {"type": "tool", "name": choice}
    if isinstance(choice, Mapping):
        if choice.get("type") == "function":  # OpenAI shape
            name = (choice.get("function") or {}).get("name")
            if name:
                return {"type": "tool", "name": name}
        elif choice.get("type") in ("auto", "any", "tool", "none"):  # already Anthropic's shape
            return dict(choice)
    raise InvalidRequestError(f"unsupported tool_choice {choice!r}", provider=provider, model=model)


def _usage(u: Mapping[str, Any] | None) -> Usage | None:
    if not u:
        return None
    prompt = _input_tokens(u)
    completion = int(u.get("output_tokens") or 0)
    read, write, write_1h = _cache_tokens(u)
    return Usage(prompt, completion, prompt + completion, read, write, _thinking_tokens(u), write_1h)


def _thinking_tokens(u: Mapping[str, Any]) -> int | None:
    """``output_tokens_details.thinking_tokens`` (the reasoning part of ``output_tokens``), None when not reported."""
    details = u.get("output_tokens_details")
    return token_count(details.get("thinking_tokens")) if isinstance(details, Mapping) else None


def _input_tokens(u: Mapping[str, Any]) -> int:
    """Every prompt token processed: uncached input plus cache writes and cache reads (Anthropic's
    ``input_tokens`` counts only the uncached part)."""
    return int(u.get("input_tokens") or 0) + int(u.get("cache_creation_input_tokens") or 0) + int(u.get("cache_read_input_tokens") or 0)


def _cache_tokens(u: Mapping[str, Any]) -> tuple[int | None, int | None, int | None]:
    """``(cached_tokens, cache_write_tokens, cache_write_1h_tokens)``: cache reads, cache writes and the
    writes with a 1-hour lifetime (``cache_creation.ephemeral_1h_input_tokens``), None when not reported."""
    creation = u.get("cache_creation")
    write_1h = token_count(creation.get("ephemeral_1h_input_tokens")) if isinstance(creation, Mapping) else None
    return token_count(u.get("cache_read_input_tokens")), token_count(u.get("cache_creation_input_tokens")), write_1h


def _refusal_text(details: Any) -> str:
    """A refusal's text: the explanation in Anthropic's ``stop_details``, or ``""`` when it gave none."""
    explanation = details.get("explanation") if isinstance(details, dict) else None
    return str(explanation) if explanation else ""


def _finish(stop_reason: str | None, has_calls: bool) -> str:
    if stop_reason is None:
        return "tool_calls" if has_calls else "stop"
    return _FINISH.get(stop_reason, stop_reason)


class AnthropicFormat(WireFormat):
    name = "anthropic"

    def auth_headers(self, api_key: str | None) -> dict[str, str]:
        return {"x-api-key": api_key} if api_key else {}

    def static_headers(self, spec: ProviderSpec, api_key: str | None, extra: Mapping[str, str] | None) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json", "anthropic-version": ANTHROPIC_VERSION}
        headers.update(self.auth_headers(api_key))
        headers.update(spec.headers)
        if extra:
            headers.update(extra)
        remember_headers(api_key, headers)
        return headers

    def chat_url(self, base_url: str, model: str, stream: bool) -> str:
        return base_url + "/v1/messages"

    def models_url(self, base_url: str) -> str:
        return base_url + "/v1/models?limit=1000"

    def check_supported(self, request: ChatCompletionRequest, spec: ProviderSpec, *, stream: bool) -> None:
        super().check_supported(request, spec, stream=stream)
        if request.temperature is not None and request.temperature > 1:
            raise _unsupported(spec.name, request.model, f"temperature above 1 (got {request.temperature})")
        if request.response_format is not None:
            _output_format(request.response_format, spec.name, request.model)
        for m in request.messages:
            if not isinstance(m.content, str) and m.content is not None:
                _check_parts(m, spec.name, request.model)
            if m.role is Role.TOOL and not m.tool_call_id:
                raise InvalidRequestError(
                    "a tool message needs the tool_call_id of the call it answers", provider=spec.name, model=request.model
                )
            for t in m.tool_calls or ():
                _tool_use(t, spec.name, request.model)
        if request.tool_choice is not None:
            _tool_choice(request.tool_choice, spec.name, request.model)
        if request.reasoning is not None and request.max_tokens is not None and request.max_tokens <= reasoning_budget(request.reasoning):
            raise InvalidRequestError(
                f"max_tokens ({request.max_tokens}) must be above the thinking budget ({reasoning_budget(request.reasoning)}) "
                f"for {spec.name}; raise max_tokens or lower reasoning",
                provider=spec.name,
                model=request.model,
            )

    def encode(self, request: ChatCompletionRequest, model: str, *, stream: bool, spec: ProviderSpec) -> dict[str, Any]:
        self.check_request_options(request, spec, model)  # also here: batch uploads encode without check_supported
        system, messages = _messages(request, spec.name, model)
        budget = reasoning_budget(request.reasoning) if request.reasoning is not None else 0
        body: dict[str, Any] = {
            "model": model,
            "max_tokens": request.max_tokens if request.max_tokens is not None else default_max_tokens(model) + budget,
        }
        if system:
            if any("cache_control" in b for b in system):  # marks need the block form
                body["system"] = system
            else:
                body["system"] = "\n\n".join(b["text"] for b in system)
        body["messages"] = messages
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.top_p is not None:
            body["top_p"] = request.top_p
        if request.stop is not None:
            body["stop_sequences"] = list(request.stop)
        if request.tools:
            body["tools"] = [_tool(t) for t in request.tools]
        if request.tool_choice is not None:
            body["tool_choice"] = _tool_choice(request.tool_choice, spec.name, model)
        if budget:
            body["thinking"] = {"type": "enabled", "budget_tokens": budget}
        if request.response_format is not None:
            fmt = _output_format(request.response_format, spec.name, model)
            if fmt is not None:
                body["output_config"] = {"format": fmt}
        if stream:
            body["stream"] = True
        if request.extra:
            merge_extra(body, request.extra)  # deeply: objects merged key by key, other values replace
        return body

    def decode(self, data: dict[str, Any], *, provider: str, model: str, headers: Mapping[str, str]) -> ChatCompletionResponse:
        if data.get("type") == "error":  # a gateway answering an error with 200
            raise _error_event(data, provider, model)
        texts: list[str] = []
        calls: list[ToolCall] = []
        reasoning: list[ReasoningPart] = []
        citations: list[Citation] = []
        servers: list[ServerToolPart] = []
        size = 0  # characters of answer text so far
        for index, block in enumerate(data["content"]):
            kind = block.get("type")
            if kind == "text":
                text = block["text"]
                texts.append(text)
                for raw in block.get("citations") or ():
                    citations.append(_citation(raw, size, size + len(text), index))
                size += len(text)
            elif kind not in _ANSWER_BLOCKS:
                servers.append(_server_part(block, index, size))
            elif kind == "tool_use":
                calls.append(ToolCall(str(block["id"]), str(block["name"]), block.get("input") or {}))
            elif kind == "thinking" or kind == "redacted_thinking":
                part = _reasoning_part(block, index)
                if part is not None:
                    reasoning.append(part)
        message = assistant_message(
            "".join(texts) if texts else None, tuple(calls) or None, tuple(reasoning), tuple(citations), tuple(servers)
        )
        if data.get("stop_reason") == "refusal":  # its own outcome, with what Anthropic said of it
            details = data.get("stop_details")
            choices = (Choice(0, message, "refusal", _refusal_text(details), details if isinstance(details, dict) else None),)
            return response(str(data.get("id", "")), str(data.get("model") or model), provider, choices, _usage(data.get("usage")), data)
        choices = (Choice(0, message, _finish(data.get("stop_reason"), bool(calls))),)
        return response(str(data.get("id", "")), str(data.get("model") or model), provider, choices, _usage(data.get("usage")), data)

    error_code_keys = ("type", "code")

    def stream_decoder(self, *, provider: str, model: str) -> StreamDecoder:
        return AnthropicStreamDecoder(provider=provider, model=model)

    def decode_models(self, data: Any) -> list[str]:
        return [str(m["id"]) for m in data["data"]]


def _tool(t: Tool) -> dict[str, Any]:
    tool: dict[str, Any] = {"name": t.name, "description": t.description, "input_schema": dict(t.parameters)}
    if t.strict is not None:
        tool["strict"] = t.strict
    return tool


def _output_format(fmt: Any, provider: str, model: str) -> Optional[dict[str, Any]]:
    """``output_config.format`` for a ``response_format`` (None for text); InvalidRequestError for one
    Anthropic cannot serve."""
    cls = output_type(fmt)
    if cls is not None:  # as messages.parse(output_format=cls) sends it
        return {"type": "json_schema", "schema": anthropic_json_schema(json_schema_of(cls))}
    kind = fmt.get("type") if isinstance(fmt, Mapping) else None
    if kind == "text":
        return None
    if kind == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema")
        if isinstance(schema, Mapping):
            return {"type": "json_schema", "schema": dict(schema)}
        raise _unsupported(provider, model, "response_format json_schema without a 'schema' object")
    if kind == "json_object":
        raise InvalidRequestError(
            f"{provider} does not support response_format json_object (JSON without a schema: the API wants one, its "
            "objects closed); give a json_schema response_format or a pydantic model class or dataclass. Nothing was sent",
            provider=provider,
            model=model,
        )
    raise _unsupported(provider, model, f"response_format {fmt!r}")


def _error_event(data: Any, provider: str, model: str) -> AiLibError:
    message, codes = WIRE_FORMAT.error_details(data)
    status = _ERROR_STATUS.get(codes[0], 500) if codes else 500
    return classify_http_error(
        status, {}, message=message or "error event in stream", codes=codes, provider=provider, model=model, body=data
    )


class _Block:
    __slots__ = ("id", "initial", "name", "ordinal", "parts")

    def __init__(self, ordinal: int, call_id: str, name: str, initial: Any) -> None:
        self.ordinal = ordinal
        self.id = call_id
        self.name = name
        self.parts: list[str] = []
        self.initial = initial


class AnthropicStreamDecoder(StreamDecoder):
    """Named SSE events: message_start, content_block_*, message_delta, message_stop (terminal)."""

    terminal_name = "the message_stop event"
    format_name = "anthropic"

    def __init__(self, *, provider: str, model: str) -> None:
        super().__init__(provider=provider, model=model)
        self._stop_reason: str | None = None
        self.refusal_details: Optional[dict[str, Any]] = None  # Anthropic's stop_details, when it refused
        self._input_tokens: int | None = None  # uncached input, as Anthropic counts it
        self._output_tokens: int | None = None
        self._cache_read: int | None = None
        self._cache_write: int | None = None
        self._cache_write_1h: int | None = None
        self._thinking_tokens: int | None = None  # output_tokens_details.thinking_tokens
        self._tools: dict[int, _Block] = {}  # content block index -> tool_use block
        self._thinking: dict[int, list[Any]] = {}  # content block index -> [block start, text pieces, signature pieces]
        self._size = 0  # characters of answer text so far
        self._cited: dict[int, tuple[int, list[Any]]] = {}  # text block index -> (its start offset, its citations so far)
        self._servers: dict[int, tuple[dict[str, Any], list[str], int]] = {}  # server-tool block index -> (start, input pieces, offset)
        self._open: Optional[int] = None  # the text or server-tool block being streamed (blocks come one at a time)

    quiet_events = frozenset({"ping", "content_block_stop"})

    def feed(self, event: SseEvent) -> list[StreamChunk]:
        if event.event == "content_block_stop" and not self.done:  # ends the open block
            if not self._gives_at_end():
                self._cited.pop(self._open, None)  # type: ignore[arg-type]
                self._open = None
                return []  # nothing to give: its data is not decoded
            self.raw = self._json(event.data)  # the chunk's raw event
            return self._block_end()
        data = self._event_object(event)
        self.raw = data
        return [] if data is None else self._dispatch(self._handle, data.get("type") or event.event, data)

    def _handle(self, kind: str, data: dict[str, Any]) -> list[StreamChunk]:
        if kind == "content_block_delta":
            delta = data["delta"]
            dtype = delta.get("type")
            if dtype == "text_delta":
                self._size += len(delta["text"])
                return self._chunk(delta["text"]) if delta["text"] else []
            if dtype == "citations_delta":
                cited = self._cited.get(int(data["index"]))
                if cited is not None:  # given whole when the block ends, with its span
                    cited[1].append(delta["citation"])
                return []
            if dtype == "input_json_delta":
                index = int(data["index"])
                block = self._tools.get(index)
                partial = delta.get("partial_json") or ""
                if index in self._servers and partial:  # a server tool's input: not a call for the caller
                    self._servers[index][1].append(partial)
                if block is None or not partial:
                    return []
                block.parts.append(partial)
                return self._chunk(deltas=(ToolCallDelta(block.ordinal, None, None, partial),))
            if dtype == "thinking_delta":
                thinking = delta.get("thinking") or ""
                held = self._thinking.get(int(data["index"]))
                if held is not None:
                    held[1].append(thinking)
                if not thinking:
                    return []
                return [StreamChunk(provider=self.provider, model=self.model, raw=self.raw, delta_reasoning=thinking)]
            if dtype == "signature_delta":
                held = self._thinking.get(int(data["index"]))
                if held is not None:
                    held[2].append(delta.get("signature") or "")
                return []
            return []  # delta types added later
        if kind == "content_block_start":
            ended = self._block_end() if self._open is not None else []  # a block whose stop never came
            return ended + self._block_start(data)
        if kind == "content_block_stop":
            return self._block_end()
        if kind == "message_start":
            msg = data.get("message") or {}
            if msg.get("model"):
                self.model = str(msg["model"])
            if msg.get("id"):
                self.response_id = str(msg["id"])
            usage = msg.get("usage") or {}
            if usage:
                self._input_tokens = int(usage.get("input_tokens") or 0)
                self._output_tokens = int(usage.get("output_tokens") or 0)
                self._cache_read, self._cache_write, self._cache_write_1h = _cache_tokens(usage)
                self._thinking_tokens = _thinking_tokens(usage)
            return []
        if kind == "message_delta":
            delta = data.get("delta") or {}
            reason = delta.get("stop_reason")
            if reason:
                self._stop_reason = reason
            if isinstance(delta.get("stop_details"), dict):
                self.refusal_details = delta["stop_details"]
            usage = data.get("usage") or {}
            if "output_tokens" in usage:
                self._output_tokens = int(usage["output_tokens"] or 0)
            if usage.get("input_tokens") is not None:  # newer API versions repeat the cumulative input counts
                self._input_tokens = int(usage["input_tokens"] or 0)
            read, write, write_1h = _cache_tokens(usage)  # each count replaces the earlier one only when given
            self._cache_read = self._cache_read if read is None else read
            self._cache_write = self._cache_write if write is None else write
            self._cache_write_1h = self._cache_write_1h if write_1h is None else write_1h
            thinking = _thinking_tokens(usage)
            self._thinking_tokens = self._thinking_tokens if thinking is None else thinking
            return []
        if kind == "message_stop":
            self.done = True
            return [self._last_chunk()]
        if kind == "error":
            raise _error_event(data, self.provider, self.model)
        return []  # ping, content_block_stop, and event types added later

    def _block_start(self, data: dict[str, Any]) -> list[StreamChunk]:
        block = data["content_block"]
        if block.get("type") == "tool_use":
            index = int(data["index"])
            tb = _Block(len(self._tools), str(block["id"]), str(block["name"]), block.get("input"))
            self._tools[index] = tb
            return self._chunk(deltas=(ToolCallDelta(tb.ordinal, tb.id, tb.name, ""),))
        if block.get("type") == "text":
            index = int(data["index"])
            self._cited[index] = (self._size, list(block.get("citations") or ()))
            self._open = index
            if block.get("text"):
                self._size += len(block["text"])
                return self._chunk(block["text"])
            return []
        if block.get("type") not in _ANSWER_BLOCKS:  # a server tool's use or result: whole at its end
            self._servers[int(data["index"])] = (block, [], self._size)
            self._open = int(data["index"])
            return []
        if block.get("type") in ("thinking", "redacted_thinking"):
            start = block.get("thinking") or ""
            sig = block.get("signature")
            self._thinking[int(data["index"])] = [block, [start] if start else [], [sig] if sig else []]
            if start:
                return [StreamChunk(provider=self.provider, model=self.model, raw=self.raw, delta_reasoning=start)]
        return []

    def _gives_at_end(self) -> bool:
        """Whether the open block's end gives a chunk (citations, or a server-tool block)."""
        index = self._open
        return index is not None and (index in self._servers or bool(self._cited.get(index, (0, ()))[1]))

    def _block_end(self) -> list[StreamChunk]:
        """The open block ended: a text block's citations (now that its span is known) or a server-tool block, whole."""
        index, self._open = self._open, None
        if index is None:
            return []
        cited = self._cited.pop(index, None)
        if cited is not None and cited[1]:
            citations = tuple(_citation(raw, cited[0], self._size, index) for raw in cited[1])
            return [StreamChunk(provider=self.provider, model=self.model, raw=self.raw, citations=citations)]
        server = self._servers.pop(index, None)
        if server is None:
            return []
        start, pieces, offset = server
        block = dict(start)
        if pieces:  # the input as streamed replaces the start's empty one, as the SDK's message has it
            block["input"] = decode_arguments("".join(pieces))
        part = _server_part(block, index, offset)
        return [StreamChunk(provider=self.provider, model=self.model, raw=self.raw, server_tool_parts=(part,))]

    def _last_chunk(self) -> StreamChunk:
        calls = tuple(
            ToolCall(b.id, b.name, decode_arguments("".join(b.parts)) if b.parts else (b.initial or {}))
            for b in sorted(self._tools.values(), key=lambda b: b.ordinal)
        )
        usage = None
        if self._input_tokens is not None or self._output_tokens is not None:
            prompt = (self._input_tokens or 0) + (self._cache_read or 0) + (self._cache_write or 0)
            completion = self._output_tokens or 0
            usage = Usage(
                prompt, completion, prompt + completion, self._cache_read, self._cache_write, self._thinking_tokens, self._cache_write_1h
            )
        refused = self._stop_reason == "refusal"
        reasoning = []
        for index, (start, texts, sigs) in sorted(self._thinking.items()):
            if start.get("type") == "redacted_thinking":
                reasoning.append(ReasoningPart("anthropic", "redacted_thinking", data=str(start.get("data") or ""), index=index))
            else:  # a signature streamed only as signature_delta events, or (never seen) given at the start
                reasoning.append(ReasoningPart("anthropic", "thinking", "".join(texts), "".join(sigs) if sigs else None, index=index))
        return StreamChunk(
            finish_reason=_finish(self._stop_reason, bool(calls)),
            usage=usage,
            provider=self.provider,
            model=self.model,
            tool_calls=calls,
            refusal=_refusal_text(self.refusal_details) if refused else None,
            reasoning_parts=tuple(reasoning),
        )


WIRE_FORMAT = AnthropicFormat()
