"""The OpenAI chat-completions wire format (OpenAI and every OpenAI-compatible service).

* A ``Role.DEVELOPER`` message goes to OpenAI and Azure OpenAI as ``developer``, to every
  OpenAI-compatible service as ``system`` (the role they all take, and the same meaning).
* ``Tool.function(..., strict=True)`` → ``function.strict``; an image's ``detail`` →
  ``image_url.detail``.
* ``response_format`` as given; a pydantic model class or dataclass as the body openai-python's
  ``.parse(response_format=Model)`` sends (``json_schema`` with its strict schema, its class
  name and ``strict: true``).
* ``extra`` is merged deeply into the body (objects key by key, other values replace), as
  in every format.
* Audio and file parts (user messages only): ``Content.audio_base64``/``audio_file`` →
  ``{"type": "input_audio", "input_audio": {"data", "format"}}`` (OpenAI and Azure OpenAI take
  ``wav`` and ``mp3``; another format raises ``InvalidRequestError``); an inline file →
  ``{"type": "file", "file": {"filename", "file_data": "data:<type>;base64,..."}}`` (the filename
  defaults to ``document`` and the type's extension); ``Content.file_id`` →
  ``{"type": "file", "file": {"file_id"}}``. A file URL (chat completions take none), or audio or
  a file in a system, developer, tool or assistant message, raises ``InvalidRequestError``
  before anything is sent.
* ``ChatCompletionRequest(n=...)`` → ``n``; every choice is decoded (streamed chunks carry their
  ``choice_index``). ``cached_content`` (Gemini's) raises ``InvalidRequestError`` before sending.
* More than 4 ``stop`` sequences for OpenAI or Azure OpenAI raise ``InvalidRequestError``
  before anything is sent (the API's documented limit); OpenAI-compatible services get the
  list as given, since each sets its own limit.
* Reasoning: an OpenAI-compatible service's ``message.reasoning_content`` (DeepSeek, vLLM, Qwen...)
  or ``message.reasoning`` (OpenRouter, Groq, Ollama...), streamed as ``delta.reasoning_content`` /
  ``delta.reasoning``, is the answer's ``.reasoning`` (``delta_reasoning`` on chunks) and is kept as
  a reasoning part of the assistant message, but never sent back: DeepSeek documents that a
  request holding ``reasoning_content`` is rejected, and no other service reads it on input.
  (OpenAI itself shows no reasoning text in chat completions.)
* ``ChatCompletionRequest(reasoning=...)`` → ``reasoning_effort`` (the effort as given; a token
  budget as the effort it falls in: up to 1024 ``"low"``, up to 4096 ``"medium"``, else ``"high"``),
  for every service of the format (DeepSeek, OpenRouter, Groq... take the same field).
* Citations: ``message.annotations`` / ``delta.annotations`` (``url_citation`` with its span),
  and a search answer's top-level ``search_results`` (else ``citations`` URLs; Perplexity, which
  repeats them on every chunk: given once) as spanless citations in source order. None go back.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Optional
from urllib.parse import quote

from .._message import arguments_json
from ..errors import AiLibError, InvalidRequestError, ProtocolError
from ..types import (
    ChatCompletionRequest,
    ChatCompletionResponse,
    Choice,
    Citation,
    Message,
    ReasoningPart,
    Role,
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
    clip,
    mask_secrets,
    media_parts,
    merge_extra,
    response,
    token_count,
    unsupported_part,
)
from ._registry import ProviderSpec
from ._urls import segment

__all__ = ["OpenAIFormat", "AzureOpenAIFormat", "WIRE_FORMAT"]

# Providers known to accept stream_options.include_usage (usage on the last stream chunk).
_STREAM_USAGE = frozenset({"openai", "azure_openai", "openrouter", "deepseek", "together", "fireworks", "groq", "xai"})
# OpenAI reasoning models take max_completion_tokens and reject max_tokens.
_REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5")
# The most stop sequences a provider accepts ("Up to 4 sequences", OpenAI's API reference; Azure
# OpenAI the same). OpenAI-compatible services set their own limits (DeepSeek takes 16), so they
# get the list as given and answer for themselves.
_MAX_STOP = {"openai": 4, "azure_openai": 4}
# Providers that take the ``developer`` role; the rest get such a message as ``system``.
_DEVELOPER_ROLE = frozenset({"openai", "azure_openai"})
_DEVELOPER, _SYSTEM, _TOOL = Role.DEVELOPER, Role.SYSTEM, Role.TOOL


def _check_stop(request: ChatCompletionRequest, spec: ProviderSpec) -> None:
    limit = _MAX_STOP.get(spec.name)
    if limit is not None and request.stop is not None and len(request.stop) > limit:
        raise InvalidRequestError(
            f"{spec.name} accepts at most {limit} stop sequences, got {len(request.stop)}; nothing was sent",
            provider=spec.name,
            model=request.model,
        )


# Audio formats OpenAI's input_audio takes (its API reference: "wav" and "mp3"); OpenAI-compatible
# services get the format as given.
_AUDIO_FORMATS = {"openai": ("wav", "mp3"), "azure_openai": ("wav", "mp3")}
_NEW_MEDIA = ("audio_base64", "file_base64", "file_url", "file_id")


def _check_parts(request: ChatCompletionRequest, spec: ProviderSpec, model: str) -> None:
    """Audio and files go only in user messages, never as a URL; OpenAI takes wav and mp3 audio."""
    formats = _AUDIO_FORMATS.get(spec.name)
    for m in request.messages:
        if isinstance(m.content, str) or m.content is None:
            continue
        for p in media_parts(m):
            if p.kind not in _NEW_MEDIA:
                continue
            if m.role is not Role.USER:
                raise unsupported_part(spec.name, model, p, f"{m.role.value} messages", "audio and files go in user messages")
            if p.kind == "file_url":
                raise unsupported_part(spec.name, model, p, hint="send the file inline (Content.file) or by id (Content.file_id)")
            if p.kind == "audio_base64" and formats is not None and p.audio_format not in formats:
                raise unsupported_part(spec.name, model, p, hint=f"input_audio takes {' and '.join(formats)}")


def _message(m: Message, developer: bool) -> dict[str, Any]:
    c = m.content
    role = m.role
    d: dict[str, Any] = {"role": "system" if role is _DEVELOPER and not developer else role.value}
    if c is None or isinstance(c, str):
        d["content"] = c
    elif role is _TOOL or role is _SYSTEM or role is _DEVELOPER:
        d["content"] = m.text()
    else:
        d["content"] = [p.to_dict() for p in m.parts()]
    if m.name:
        d["name"] = m.name
    if m.tool_calls:
        d["tool_calls"] = [
            {"id": t.id, "type": "function", "function": {"name": t.name, "arguments": arguments_json(t.arguments)}} for t in m.tool_calls
        ]
    if m.tool_call_id is not None:
        d["tool_call_id"] = m.tool_call_id
    return d


def _tool_choice(choice: Any) -> Any:
    if isinstance(choice, str) and choice not in ("auto", "none", "required"):
        return {"type": "function", "function": {"name": choice}}
    return choice


def decode_arguments(raw: Any) -> Any:
    """Tool-call arguments as sent (a JSON string) → the decoded object.

    A model can emit arguments that are not valid JSON; the answer is kept, not lost:
    such arguments come back as the raw string (and are sent back as they came). ``null``
    (Cohere sends it for a call without arguments) is ``{}``, which every format can send.
    """
    if not isinstance(raw, str):
        return raw if raw is not None else {}
    if not raw.strip():
        return {}
    try:
        args = json.loads(raw)
    except (ValueError, RecursionError):
        return raw
    return {} if args is None else args


_CODE_STATUS = (
    ("insufficient_quota", 429),
    ("rate_limit", 429),
    ("context_length", 400),
    ("invalid_request", 400),
    ("invalid_api_key", 401),
    ("authentication", 401),
    ("permission", 403),
    ("not_found", 404),
)

if TYPE_CHECKING:
    from .._sse import SseEvent


def status_for(data: Any, codes: tuple[str, ...], default: int) -> int:
    """The HTTP status an error object stands for when it arrives without one (inside a
    200 stream or body): its own numeric code/status if it has one, else its code/type."""
    err = data.get("error", data) if isinstance(data, dict) else {}
    if isinstance(err, dict):
        for key in ("status", "code"):
            value = err.get(key)
            if isinstance(value, int) and 400 <= value <= 599:
                return value
    joined = " ".join(codes).lower()
    for fragment, status in _CODE_STATUS:
        if fragment in joined:
            return status
    return default


def _usage(u: Optional[Mapping[str, Any]]) -> Optional[Usage]:
    """``usage``: prompt tokens include the cached ones and completion tokens the reasoning ones,
    as OpenAI counts them (``prompt_tokens_details.cached_tokens``, ``completion_tokens_details.
    reasoning_tokens``); DeepSeek's ``prompt_cache_hit_tokens`` is read as cached tokens too.

    xAI leaves the reasoning tokens out of ``completion_tokens`` and adds them to ``total_tokens``
    (307 + 26 + 255 = 588 in a live grok-3-mini answer): when the total says so, they are added
    to the completion tokens, so they count (and are priced) as the output they are."""
    if not u:
        return None
    prompt = int(u.get("prompt_tokens") or 0)
    completion = int(u.get("completion_tokens") or 0)
    prompt_details = u.get("prompt_tokens_details")
    prompt_details = prompt_details if isinstance(prompt_details, dict) else {}
    completion_details = u.get("completion_tokens_details")
    completion_details = completion_details if isinstance(completion_details, dict) else {}
    cached = token_count(prompt_details.get("cached_tokens"))
    if cached is None:
        cached = token_count(u.get("prompt_cache_hit_tokens"))
    reasoning = token_count(completion_details.get("reasoning_tokens"))
    total = int(u.get("total_tokens") or prompt + completion)
    if reasoning and total == prompt + completion + reasoning:  # reasoning counted outside completion_tokens
        completion += reasoning
    return Usage(prompt, completion, total, cached, token_count(prompt_details.get("cache_write_tokens")), reasoning)


class OpenAIFormat(WireFormat):
    name = "openai"
    takes_n = True

    def chat_url(self, base_url: str, model: str, stream: bool) -> str:
        return base_url + "/chat/completions"

    def models_url(self, base_url: str) -> str:
        return base_url + "/models"

    def check_supported(self, request: ChatCompletionRequest, spec: ProviderSpec, *, stream: bool) -> None:
        super().check_supported(request, spec, stream=stream)
        _check_stop(request, spec)
        _check_parts(request, spec, request.model)

    def encode(self, request: ChatCompletionRequest, model: str, *, stream: bool, spec: ProviderSpec) -> dict[str, Any]:
        developer = spec.name in _DEVELOPER_ROLE
        _check_parts(request, spec, model)  # also here: batch uploads encode without check_supported
        self.check_request_options(request, spec, model)
        body: dict[str, Any] = {"model": model, "messages": [_message(m, developer) for m in request.messages]}
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.max_tokens is not None:
            key = "max_completion_tokens" if model.startswith(_REASONING_PREFIXES) else "max_tokens"
            body[key] = request.max_tokens
        if request.top_p is not None:
            body["top_p"] = request.top_p
        if request.n is not None:
            body["n"] = request.n
        if request.stop is not None:
            _check_stop(request, spec)  # also here: batch uploads encode without check_supported
            body["stop"] = list(request.stop)
        if request.tools:
            body["tools"] = [t.to_dict() for t in request.tools]
        if request.tool_choice is not None:
            body["tool_choice"] = _tool_choice(request.tool_choice)
        if request.response_format is not None:
            fmt = request.response_format
            if isinstance(fmt, type):  # a model class or dataclass: its strict schema
                from .._schema import wire_response_format

                fmt = wire_response_format(fmt)
            body["response_format"] = fmt
        if request.reasoning is not None:
            body["reasoning_effort"] = reasoning_effort(request.reasoning)
        if stream:
            body["stream"] = True
            if (spec.name in _STREAM_USAGE) if spec.stream_usage is None else spec.stream_usage:
                body["stream_options"] = {"include_usage": True}
        if request.extra:
            merge_extra(body, request.extra)  # deeply: objects merged key by key, other values replace
        return body

    def decode(self, data: dict[str, Any], *, provider: str, model: str, headers: Mapping[str, str]) -> ChatCompletionResponse:
        raw_choices = data.get("choices")
        if raw_choices is None and "error" in data and "choices" not in data:  # some gateways answer errors with 200
            message, codes = self.error_details(data)
            raise classify_http_error(
                status_for(data, codes, 502), headers, message=message, codes=codes, provider=provider, model=model, body=data
            )
        if raw_choices is None and "choices" not in data:
            raise KeyError("choices")
        if not raw_choices:
            raise ProtocolError("response has no choices", provider=provider, model=model)
        sources = _sources(data) if ("citations" in data or "search_results" in data) else ()
        choices = []
        for i, c in enumerate(raw_choices):
            msg = c["message"]
            calls = msg.get("tool_calls")
            tool_calls = None
            if calls:
                tool_calls = tuple(
                    ToolCall(str(t.get("id", "")), t["function"]["name"], decode_arguments(t["function"].get("arguments"))) for t in calls
                )
            content = msg.get("content")
            if content is not None and content.__class__ is not str and not isinstance(content, str):
                raise ProtocolError(f"message content is {type(content).__name__}, expected a string", provider=provider, model=model)
            refusal = msg.get("refusal")
            logprobs = c.get("logprobs")
            answer = _answer(content, tool_calls, msg, sources)
            if refusal is not None:  # the model refused: its own outcome, never an empty "stop"
                choices.append(Choice(c.get("index", i), answer, "refusal", str(refusal), None, logprobs))
                continue
            if logprobs is not None:
                choices.append(Choice(c.get("index", i), answer, c.get("finish_reason"), None, None, logprobs))
                continue
            choices.append(Choice(c.get("index", i), answer, c.get("finish_reason")))
        return response(str(data.get("id", "")), str(data.get("model") or model), provider, tuple(choices), _usage(data.get("usage")), data)

    def stream_decoder(self, *, provider: str, model: str) -> StreamDecoder:
        return OpenAIStreamDecoder(provider=provider, model=model)

    def decode_models(self, data: Any) -> list[str]:
        return [str(m["id"]) for m in data["data"]]


_REASONING_KEYS = ("reasoning_content", "reasoning")


def _reasoning(msg: Mapping[str, Any]) -> tuple[str, str]:
    """``(key, text)`` of a message's or delta's reasoning text (``reasoning_content`` or ``reasoning``), or ``("", "")``."""
    for key in _REASONING_KEYS:
        text = msg.get(key)
        if isinstance(text, str) and text:
            return key, text
    return "", ""


def _answer(
    content: Optional[str], tool_calls: Optional[tuple[ToolCall, ...]], msg: Mapping[str, Any], sources: tuple[Citation, ...] = ()
) -> Message:
    key, text = _reasoning(msg) if ("reasoning_content" in msg or "reasoning" in msg) else ("", "")
    annotations = msg.get("annotations")
    cites = (_citations(annotations) if annotations else ()) + sources
    return assistant_message(content, tool_calls, (ReasoningPart("openai", key, text),) if text else (), cites)


def _sources(data: Mapping[str, Any]) -> tuple[Citation, ...]:
    """A search answer's top-level sources (Perplexity's ``search_results``, with titles, else its
    ``citations`` URLs), one citation each: ``document_index`` is the source's position (the
    answer's ``[n]`` markers count from 1); no span, since the format gives none."""
    results = data.get("search_results")
    if isinstance(results, list) and results:
        return tuple(
            Citation("openai", "search_result", None, _text_or_none(r.get("url")), _text_or_none(r.get("title")), document_index=i, raw=r)
            for i, r in enumerate(results)
            if isinstance(r, Mapping)
        )
    urls = data.get("citations")
    if not isinstance(urls, list):
        return ()
    return tuple(Citation("openai", "url", url=u, document_index=i, raw={"url": u}) for i, u in enumerate(urls) if isinstance(u, str))


def _text_or_none(value: Any) -> Optional[str]:
    return None if value is None else str(value)


def _citations(annotations: Any) -> tuple[Citation, ...]:
    """``message.annotations`` / ``delta.annotations`` as citations (``url_citation``: its
    ``start_index``/``end_index`` into the content, ``url``, ``title``); anything else is kept raw."""
    out = []
    for ann in annotations if isinstance(annotations, list) else ():
        if not isinstance(ann, Mapping):
            continue
        kind = str(ann.get("type") or "")
        inner = ann.get(kind)
        body: Mapping[str, Any] = inner if isinstance(inner, Mapping) else ann
        start, end = body.get("start_index"), body.get("end_index")
        url, title = body.get("url"), body.get("title")
        out.append(
            Citation(
                "openai",
                kind,
                None,
                None if url is None else str(url),
                None if title is None else str(title),
                start if isinstance(start, int) else None,
                end if isinstance(end, int) else None,
                raw=ann,
            )
        )
    return tuple(out)


class OpenAIStreamDecoder(StreamDecoder):
    terminal_name = "data: [DONE]"

    def __init__(self, *, provider: str, model: str) -> None:
        super().__init__(provider=provider, model=model)
        self._finish: dict[int, str] = {}  # choice index -> its finish reason
        self._refused: set[int] = set()  # choices that sent refusal text
        self._usage: Optional[Usage] = None
        self._calls: dict[int, dict[int, list[Any]]] = {}  # choice index -> call index -> [id, name, argument fragments]
        self._seen: set[int] = {0}  # choice indexes the stream spoke of (0 always ends the stream)
        self._reasoning: dict[int, tuple[str, list[str]]] = {}  # choice index -> (its reasoning key, text pieces)
        # A search answer's top-level sources (Perplexity repeats them on every chunk): taken
        # from the first chunk that has them, given once, on choice 0's next chunk.
        self._sourced = False
        self._sources: tuple[Citation, ...] = ()

    def feed(self, event: SseEvent) -> list[StreamChunk]:
        if self.done:
            return []
        if event.data == "[DONE]":
            self.done = True
            return self._last_chunks()
        data = self._json(event.data)
        try:
            if event.event == "error":
                message, codes = OpenAIFormat().error_details(data)
                raise classify_http_error(
                    status_for(data, codes, 500), {}, message=message, codes=codes, provider=self.provider, model=self.model, body=data
                )
            if not isinstance(data, dict):
                raise ProtocolError(
                    f"stream event is not a JSON object: {clip(event.data, 80)!r}", provider=self.provider, model=self.model
                )
            return self._handle(data)
        except AiLibError:
            raise
        except (KeyError, TypeError, AttributeError, IndexError, ValueError) as exc:
            raise ProtocolError(
                f"unexpected openai stream event shape: {type(exc).__name__}: {mask_secrets(str(exc))}",
                provider=self.provider,
                model=self.model,
            ) from None

    def _handle(self, data: dict[str, Any]) -> list[StreamChunk]:
        if "error" in data:
            message, codes = OpenAIFormat().error_details(data)
            raise classify_http_error(
                status_for(data, codes, 500), {}, message=message, codes=codes, provider=self.provider, model=self.model, body=data
            )
        if data.get("model"):
            self.model = data["model"]
        if self.response_id is None and data.get("id"):
            self.response_id = str(data["id"])
        if data.get("usage"):
            self._usage = _usage(data["usage"])
        if not self._sourced and ("citations" in data or "search_results" in data):
            self._sources = _sources(data)
            self._sourced = bool(self._sources)
        out: list[StreamChunk] = []
        for choice in data.get("choices") or ():
            index = int(choice.get("index") or 0)
            self._seen.add(index)
            delta = choice.get("delta") or {}
            text = delta.get("content") or ""
            refusal = delta.get("refusal") or None
            deltas = tuple(self._tool_delta(index, t) for t in delta.get("tool_calls") or ())
            key, thought = _reasoning(delta) if ("reasoning_content" in delta or "reasoning" in delta) else ("", "")
            if thought:
                self._reasoning.setdefault(index, (key, []))[1].append(thought)
            if choice.get("finish_reason"):
                self._finish[index] = choice["finish_reason"]
            if refusal is not None:
                self._refused.add(index)
            annotations = delta.get("annotations")
            cites = _citations(annotations) if annotations else ()
            if self._sources and index == 0:
                cites, self._sources = cites + self._sources, ()
            if text or deltas or refusal or thought or cites:
                logprobs = choice.get("logprobs")
                out.append(
                    StreamChunk(
                        text,
                        deltas,
                        provider=self.provider,
                        model=self.model,
                        refusal=refusal,
                        choice_index=index,
                        raw=data,
                        logprobs=logprobs,
                        delta_reasoning=thought,
                        citations=cites,
                    )
                )
        return out

    def _tool_delta(self, choice: int, t: Mapping[str, Any]) -> ToolCallDelta:
        index = int(t.get("index", 0))
        fn = t.get("function") or {}
        slot = self._calls.setdefault(choice, {}).setdefault(index, [None, None, []])
        if t.get("id"):
            slot[0] = t["id"]
        if fn.get("name"):
            slot[1] = fn["name"]
        args = fn.get("arguments") or ""
        slot[2].append(args)
        return ToolCallDelta(index, t.get("id"), fn.get("name"), args)

    def _last_chunks(self) -> list[StreamChunk]:
        """One closing chunk per choice (its finish reason and complete tool calls); choice 0's
        comes last and carries the usage, so a caller reading only choice 0 sees it all."""
        out = []
        for index in sorted(self._seen, key=lambda i: (i == 0, i)):
            calls = tuple(
                ToolCall(str(cid or ""), str(name or ""), decode_arguments("".join(parts)))
                for _, (cid, name, parts) in sorted(self._calls.get(index, {}).items())
            )
            if index in self._refused:
                finish = "refusal"
            else:
                finish = self._finish.get(index) or ("tool_calls" if calls else "stop")
            held = self._reasoning.get(index)
            reasoning = (ReasoningPart("openai", held[0], "".join(held[1])),) if held else ()
            out.append(
                StreamChunk(
                    finish_reason=finish,
                    usage=self._usage if index == 0 else None,
                    provider=self.provider,
                    model=self.model,
                    tool_calls=calls,
                    choice_index=index,
                    reasoning_parts=reasoning,
                    citations=self._sources if index == 0 else (),  # sources no content chunk took
                )
            )
        return out


class AzureOpenAIFormat(OpenAIFormat):
    """Azure OpenAI: deployment URLs, ``api-version`` query and the ``api-key`` header.

    The base URL is either a deployment URL (``.../openai/deployments/NAME``) or the
    resource URL, in which case the model names the deployment.
    """

    name = "azure"

    def __init__(self, api_version: Optional[str] = None) -> None:
        self.api_version = api_version or os.environ.get("AZURE_OPENAI_API_VERSION") or "2024-10-21"

    def auth_headers(self, api_key: Optional[str]) -> dict[str, str]:
        return {"api-key": api_key} if api_key else {}

    def chat_url(self, base_url: str, model: str, stream: bool) -> str:
        if "/deployments/" not in base_url:
            base_url = f"{base_url}/openai/deployments/{segment(model, 'an Azure deployment name', model=model)}"
        return f"{base_url}/chat/completions?api-version={quote(self.api_version, safe='')}"

    def models_url(self, base_url: str) -> str:
        root = base_url.split("/openai/", 1)[0]
        return f"{root}/openai/models?api-version={self.api_version}"


WIRE_FORMAT = OpenAIFormat()
