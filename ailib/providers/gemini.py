"""The Gemini ``generateContent`` wire format (Google AI ``v1beta`` REST API).

``POST {base_url}/v1beta/models/{model}:generateContent``, streamed as
``:streamGenerateContent?alt=sse`` (each SSE event is a whole ``GenerateContentResponse``).

Translation rules (ailib → Gemini):

* The key goes in the ``x-goog-api-key`` header, never in the URL.
* Roles: user → ``user``, assistant → ``model``; system (and developer) messages → ``systemInstruction``;
  tool results → ``functionResponse`` parts in a ``user`` turn. Consecutive turns of one
  role are merged (parallel tool results travel in one turn, as Gemini expects).
* Gemini has no tool-call ids. A ``functionCall`` without an ``id`` gets a stable synthetic
  one (``call_`` + a hash of the response id, the call's position, name and arguments), so
  the same response always gives the same ids, streamed or not. A tool result is sent back
  as a ``functionResponse`` named after the call it answers, found by its id among the
  preceding assistant tool calls. The result text is sent as ``response``: a JSON object
  as is, anything else wrapped as ``{"output": ...}``.
* Tool parameter schemas are sent as ``parameters`` without the JSON-Schema keys Gemini's
  schema type rejects (``$schema``, ``additionalProperties``); a tool without parameters
  sends none.
* Only inline images (base64) are accepted; an image URL raises ``InvalidRequestError``
  (Gemini reads remote files only through its Files API).
* Audio and files: inline (``Content.audio_base64``/``audio_file``, ``Content.file``/``file_base64``)
  → ``{"inlineData": {"mimeType", "data"}}``; ``Content.file_url`` and ``Content.file_id`` (a
  Files API URI) → ``{"fileData": {"mimeType", "fileUri"}}`` (``mimeType`` when known). Audio or a
  file in a system or tool message raises ``InvalidRequestError`` before anything is sent.
* ``response_format`` ``json_object`` → ``responseMimeType: application/json``;
  ``json_schema`` → also ``responseJsonSchema`` (its ``schema`` as given); a pydantic model class
  or dataclass → its JSON schema (``model_json_schema()``, as Google's documentation passes
  ``response_json_schema=Model.model_json_schema()`` to google-genai) as ``responseJsonSchema``.
* A tool's ``strict`` is not sent: Gemini has no such flag (function calling follows the
  declared schema; ``functionCallingConfig`` mode ``ANY`` forces a call).
* Reasoning: ``thought: true`` parts are the model's reasoning (``.reasoning``, ``delta_reasoning``),
  kept with any ``thoughtSignature`` as reasoning parts of the assistant message, as is every
  ``thoughtSignature`` on a ``functionCall`` or text part. Replaying the message to Gemini puts the
  thought parts back in their place and each signature back on its part (Gemini 3 rejects a tool
  loop without them); another format's reasoning parts are dropped. A streamed answer is kept as
  one thought part, one text part and its calls, in that order. A signature is kept as received
  (``ReasoningPart.signature``) and sent back in the form google-genai sends it: the same bytes in
  URL-safe base64 with padding (see ``_wire_signature``).
* ``ChatCompletionRequest(reasoning=...)`` → ``generationConfig.thinkingConfig``: an effort as
  ``thinkingLevel`` (Gemini 3), a token budget as ``thinkingBudget`` (Gemini 2.5); the rest of
  ``generationConfig`` is kept, and ``extra`` may add ``includeThoughts``.
* ``ChatCompletionRequest(cached_content="cachedContents/...")`` → top-level ``cachedContent``
  (``usageMetadata.cachedContentTokenCount`` is ``Usage.cached_tokens``). Gemini rejects a
  system instruction, tools or a tool config beside it (they belong in the cached content), so
  such a request raises ``InvalidRequestError`` before sending. ``extra={"cachedContent": ...}``
  sends the field as given, unchecked.
* ``ChatCompletionRequest(n=...)`` → ``generationConfig.candidateCount``; every candidate is a
  choice, by its ``index``, in bodies and streams (chunks carry their ``choice_index``; each
  candidate ends with its own chunk, candidate 0's last, with the usage).
* A blocked prompt (``promptFeedback.blockReason``) or an answer stopped by a safety
  finish reason with no content raises ``ContentFilteredError``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any, Optional

import attrs

from .._schema import json_schema_of, output_type
from .._sse import SseEvent
from ..errors import AiLibError, ContentFilteredError, InvalidRequestError, ProtocolError
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
)
from ._base import (
    StreamDecoder,
    WireFormat,
    assistant_message,
    classify_http_error,
    error_object,
    media_parts,
    merge_extra,
    response,
    token_count,
    unsupported_part,
)
from ._grounding import grounding, part_starts
from ._registry import ProviderSpec
from ._urls import segment

__all__ = ["WIRE_FORMAT", "GeminiFormat", "GeminiStreamDecoder", "synthetic_call_id", "model_path"]

API_VERSION = "v1beta"

_FILTER_REASONS = frozenset({"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"})
_FINISH = {"STOP": "stop", "MAX_TOKENS": "length", **{r: "content_filter" for r in _FILTER_REASONS}}
_SCHEMA_DROP = frozenset({"$schema", "additionalProperties"})
_SYSTEM, _DEVELOPER = Role.SYSTEM, Role.DEVELOPER


_COLLECTIONS = ("models/", "tunedModels/")


def model_path(model: str, provider: Optional[str] = None) -> str:
    """The resource path of ``model``: ``models/{id}``, the id one percent-encoded segment.

    A name already in a collection (``models/gemini-2.0-flash``, ``tunedModels/my-tune``)
    keeps its collection; anything else (``gemini-2.0-flash``, ``../../v1/files``) is the id.
    """
    for collection in _COLLECTIONS:
        if model.startswith(collection):
            return collection + segment(model[len(collection) :], "a Gemini model id", provider=provider, model=model)
    return "models/" + segment(model, "a Gemini model name", provider=provider, model=model)


def _unsupported(provider: str, model: str, feature: str) -> InvalidRequestError:
    return InvalidRequestError(f"{provider} does not support {feature}; nothing was sent", provider=provider, model=model)


def synthetic_call_id(response_id: str, ordinal: int, name: str, args: Any) -> str:
    """A stable id for a ``functionCall`` that came without one."""
    key = f"{response_id}|{ordinal}|{name}|{json.dumps(args, sort_keys=True, default=str)}"
    return "call_" + hashlib.sha256(key.encode()).hexdigest()[:24]


def _schema(node: Any) -> Any:
    """A JSON schema node without the keys Gemini's ``Schema`` type does not know."""
    if not isinstance(node, Mapping):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _SCHEMA_DROP:
            continue
        if key == "properties" and isinstance(value, Mapping):
            out[key] = {name: _schema(sub) for name, sub in value.items()}
        elif key == "items":
            out[key] = _schema(value)
        elif key in ("anyOf", "oneOf", "allOf") and isinstance(value, list):
            out[key] = [_schema(sub) for sub in value]
        else:
            out[key] = value
    return out


def _declaration(name: str, description: str, parameters: Mapping[str, Any]) -> dict[str, Any]:
    decl: dict[str, Any] = {"name": name, "description": description}
    if parameters.get("type", "object") != "object" or parameters.get("properties"):
        decl["parameters"] = _schema(parameters)
    return decl


def _parts(parts: tuple[Content, ...], provider: str, model: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for p in parts:
        if p.kind == "image_base64" or p.kind == "audio_base64" or p.kind == "file_base64":
            out.append({"inlineData": {"mimeType": p.media_type, "data": p.value}})
        elif p.kind == "image_url":
            raise _unsupported(provider, model, "image URLs (send the image inline: Content.image_file or a data: URL)")
        elif p.kind == "file_url" or p.kind == "file_id":
            ref = {"mimeType": p.media_type, "fileUri": p.value} if p.media_type else {"fileUri": p.value}
            out.append({"fileData": ref})
        else:
            text = p.as_text()
            if text:
                out.append({"text": text})
    return out


_TEXT_ONLY_THERE = ("audio_base64", "file_base64", "file_url", "file_id")  # refused in system and tool messages


def _text_part(text: str) -> list[dict[str, Any]]:
    """``_parts`` of a message whose content is one string (no part to build)."""
    return [{"text": text}] if text else []


def _call_args(t: ToolCall, provider: str, model: str) -> dict[str, Any]:
    args = t.arguments
    if isinstance(args, str):
        try:
            args = json.loads(args) if args.strip() else {}
        except ValueError:
            pass
    if not isinstance(args, Mapping):
        raise InvalidRequestError(
            f"tool call {t.id!r} has arguments that are not a JSON object; {provider} needs an object", provider=provider, model=model
        )
    return dict(args)


def _function_response(m: Message) -> dict[str, Any]:
    parts = m.parts()
    if len(parts) == 1 and parts[0].kind == "json":
        value = parts[0].value
    else:
        text = m.text() if m.content is not None else ""
        try:
            value = json.loads(text)
        except ValueError:
            value = text
    return dict(value) if isinstance(value, Mapping) else {"output": value}


def _contents(request: ChatCompletionRequest, provider: str, model: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(system parts, contents)."""
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    names: dict[str, str] = {}  # tool call id -> function name, from the assistant turns so far
    for m in request.messages:
        sender = m.role
        if sender is not Role.USER and sender is not Role.ASSISTANT and not isinstance(m.content, str):
            for p in media_parts(m):
                if p.kind in _TEXT_ONLY_THERE:
                    raise unsupported_part(provider, model, p, f"{sender.value} messages", "audio and files go in user messages")
        if sender is _SYSTEM or sender is _DEVELOPER:  # both go to systemInstruction
            system.extend(_parts(m.parts(), provider, model))
            continue
        if m.role is Role.TOOL:
            name = names.get(m.tool_call_id or "") or m.name
            if not name:
                raise InvalidRequestError(
                    f"tool result {m.tool_call_id!r} answers no earlier assistant tool call; "
                    f"{provider} matches results to calls by function name",
                    provider=provider,
                    model=model,
                )
            role, parts = "user", [{"functionResponse": {"name": name, "response": _function_response(m)}}]
        elif m.role is Role.USER:
            role, parts = "user", _text_part(m.content) if isinstance(m.content, str) else _parts(m.parts(), provider, model)
        else:
            role, parts = "model", _text_part(m.content) if isinstance(m.content, str) else _parts(m.parts(), provider, model)
            for t in m.tool_calls or ():
                names[t.id] = t.name
                parts.append({"functionCall": {"name": t.name, "args": _call_args(t, provider, model)}})
            if m.reasoning_parts:
                parts = _with_reasoning(parts, m.reasoning_parts)
        if not parts:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["parts"].extend(parts)
        else:
            turns.append({"role": role, "parts": parts})
    return system, turns


def _check_cached_content(request: ChatCompletionRequest, provider: str, model: str) -> None:
    """Gemini refuses a request that names a cached content and also sets a system instruction,
    tools or a tool config (they belong in the cached content): refused here, before sending."""
    if request.cached_content is None:
        return
    found = [
        what
        for what, present in (
            ("a system instruction", any(m.role.is_system for m in request.messages)),
            ("tools", bool(request.tools)),
            ("tool_choice", request.tool_choice is not None),
        )
        if present
    ]
    if found:
        raise InvalidRequestError(
            f"{provider} does not take {' or '.join(found)} with cached_content: put them in the cached content "
            "when you create it, and leave them out of the request; nothing was sent",
            provider=provider,
            model=model,
        )


def _tool_config(choice: Any, provider: str, model: str) -> dict[str, Any]:
    name = None
    if isinstance(choice, str):
        modes = {"auto": "AUTO", "required": "ANY", "any": "ANY", "none": "NONE"}
        if choice in modes:
            return {"functionCallingConfig": {"mode": modes[choice]}}
        name = choice
    elif isinstance(choice, Mapping) and choice.get("type") == "function":
        name = (choice.get("function") or {}).get("name")
    if not name:
        raise InvalidRequestError(f"unsupported tool_choice {choice!r}", provider=provider, model=model)
    return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [name]}}


def _response_format(fmt: Any, provider: str, model: str) -> dict[str, Any]:
    cls = output_type(fmt)
    if cls is not None:
        return {"responseMimeType": "application/json", "responseJsonSchema": json_schema_of(cls)}
    kind = fmt.get("type") if isinstance(fmt, Mapping) else None
    if kind == "text":
        return {}
    if kind == "json_object":
        return {"responseMimeType": "application/json"}
    if kind == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema")
        if isinstance(schema, Mapping):
            return {"responseMimeType": "application/json", "responseJsonSchema": dict(schema)}
    raise _unsupported(provider, model, f"response_format {fmt!r}")


def _usage(u: Mapping[str, Any] | None) -> Usage | None:
    """``usageMetadata``: ``promptTokenCount`` includes ``cachedContentTokenCount``, and
    ``candidatesTokenCount`` leaves out ``thoughtsTokenCount``, which completion tokens add (as
    Gemini bills thoughts as output); prompt tokens add ``toolUsePromptTokenCount`` (the results
    of Gemini's own tools, input too), so that prompt + completion is ``totalTokenCount``."""
    if not u:
        return None
    prompt = int(u.get("promptTokenCount") or 0) + int(u.get("toolUsePromptTokenCount") or 0)
    thoughts = token_count(u.get("thoughtsTokenCount"))
    completion = int(u.get("candidatesTokenCount") or 0) + (thoughts or 0)
    total = int(u.get("totalTokenCount") or prompt + completion)
    return Usage(prompt, completion, total, token_count(u.get("cachedContentTokenCount")), None, thoughts)


def _finish(reason: str | None, has_calls: bool) -> str:
    if reason is None or reason == "STOP":
        return "tool_calls" if has_calls else "stop"
    return _FINISH.get(reason, reason.lower())


def _blocked(data: Mapping[str, Any], provider: str, model: str, reason: str) -> ContentFilteredError:
    return ContentFilteredError(f"{provider} blocked the {reason}", provider=provider, model=model, body=data)


def _error(data: Any, provider: str, model: str) -> AiLibError:
    message, codes = WIRE_FORMAT.error_details(data)
    err = data.get("error") if isinstance(data, Mapping) else None
    status = err.get("code") if isinstance(err, Mapping) else None
    status = status if isinstance(status, int) and 400 <= status < 600 else 500
    wait = WIRE_FORMAT.retry_delay(data)
    return classify_http_error(
        status, {}, message=message or "error in response", codes=codes, provider=provider, model=model, body=data, retry_after=wait
    )


_RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
_DURATION = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)s\s*")


def _duration(value: Any) -> Optional[float]:
    """Seconds in a protobuf ``Duration``: its JSON form (``"34.4s"``, ``"58s"``) or ``{seconds, nanos}``."""
    if isinstance(value, str):
        found = _DURATION.fullmatch(value)
        return float(found.group(1)) if found else None
    if isinstance(value, Mapping):
        try:
            seconds = float(value.get("seconds") or 0) + float(value.get("nanos") or 0) / 1e9
        except (TypeError, ValueError):
            return None
        return seconds if seconds >= 0 and seconds != float("inf") else None
    return None


def _calls(parts: list[Any], response_id: str, start: int) -> list[ToolCall]:
    out: list[ToolCall] = []
    for p in parts:
        fc = p.get("functionCall")
        if fc is None:
            continue
        args = fc.get("args") or {}
        name = str(fc["name"])
        call_id = fc.get("id") or synthetic_call_id(response_id, start + len(out), name, args)
        out.append(ToolCall(str(call_id), name, args))
    return out


_TO_STANDARD = str.maketrans("-_", "+/")


def _wire_signature(signature: str) -> str:
    """A ``thoughtSignature`` as google-genai sends it back: the same bytes, URL-safe base64 with padding.

    The field is proto ``bytes``. Gemini sends it in standard base64; google-genai decodes it to
    ``bytes`` and re-encodes it with ``base64.urlsafe_b64encode`` when it builds a request
    (``_common.encode_unserializable_types``), and the proto3 JSON mapping accepts standard or
    URL-safe base64, padded or not, for ``bytes``. Sending the SDK's form makes a replayed turn
    byte-equal to the official SDK's. A signature that is not base64 (a gateway's own) goes as received.
    """
    try:
        raw = base64.b64decode(signature.translate(_TO_STANDARD) + "=" * (-len(signature) % 4), validate=True)
    except (binascii.Error, ValueError):
        return signature
    return base64.urlsafe_b64encode(raw).decode("ascii")


def _with_reasoning(parts: list[dict[str, Any]], reasoning: tuple[ReasoningPart, ...]) -> list[dict[str, Any]]:
    """A model turn's ``parts`` with its Gemini thought parts put back where they were received and
    each ``thoughtSignature`` back on its part (another format's reasoning is dropped)."""
    ours = [p for p in reasoning if p.format == "gemini"]
    if not ours:
        return parts
    out = list(parts)
    for p in sorted((p for p in ours if p.kind == "thought"), key=lambda p: p.index or 0):
        thought: dict[str, Any] = {"text": p.text, "thought": True}
        if p.signature is not None:
            thought["thoughtSignature"] = _wire_signature(p.signature)
        out.insert(min(p.index or 0, len(out)), thought)
    for p in ours:
        if p.kind != "signature" or p.signature is None or not out:
            continue
        at = p.index if p.index is not None and p.index < len(out) else len(out) - 1  # parts merged since: the last one
        out[at] = {**out[at], "thoughtSignature": _wire_signature(p.signature)}
    return out


def _reasoning(parts: list[Any]) -> tuple[ReasoningPart, ...]:
    """A candidate's thought parts and the ``thoughtSignature`` of its other parts, by part index."""
    out: list[ReasoningPart] = []
    for i, p in enumerate(parts):
        sig = p.get("thoughtSignature")
        sig = None if sig is None else str(sig)
        if p.get("thought"):
            out.append(ReasoningPart("gemini", "thought", str(p.get("text") or ""), sig, index=i))
        elif sig is not None:
            out.append(ReasoningPart("gemini", "signature", signature=sig, index=i))
    return tuple(out)


def _thoughts(parts: list[Any]) -> str:
    return "".join(p["text"] for p in parts if isinstance(p.get("text"), str) and p.get("thought"))


def _text(parts: list[Any]) -> str:
    return "".join(p["text"] for p in parts if isinstance(p.get("text"), str) and not p.get("thought"))


# -- function-call arguments streamed in pieces (Vertex AI ``streamFunctionCallArguments``) ----------
# With ``toolConfig.functionCallingConfig.streamFunctionCallArguments`` on, Vertex AI sends one call
# over many chunks: ``{"name": "getWeather", "willContinue": true}``, then pieces
# ``{"partialArgs": [{"jsonPath": "$.location", "stringValue": "Bos", "willContinue": true}],
# "willContinue": true}`` (a later piece of the same path continues its string), then a closing
# ``{}`` (no ``willContinue``). Only the first piece names the function. Shapes: the FunctionCall
# and PartialArg messages of google/cloud/aiplatform/v1/tool.proto (googleapis/googleapis).
_PATH_STEP = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]|\['([^']*)'\]|\[\"([^\"]*)\"\]")


def _is_streamed(fc: Mapping[str, Any]) -> bool:
    return "partialArgs" in fc or bool(fc.get("willContinue"))


def _json_path(path: str) -> list[Any]:
    """The steps of an RFC 9535 JSON path in the form Vertex sends (``$.recipe.steps[0]``,
    ``$['a b']``): names (str) and indexes (int). A bare name is a top-level argument."""
    if not path.startswith("$"):
        return [path]
    steps: list[Any] = []
    at = 1
    while at < len(path):
        found = _PATH_STEP.match(path, at)
        if found is None:
            raise ValueError(f"unsupported jsonPath {path!r} in partialArgs")
        name, index, quoted, dquoted = found.groups()
        steps.append(int(index) if index is not None else next(v for v in (name, quoted, dquoted) if v is not None))
        at = found.end()
    if not steps or not isinstance(steps[0], str):
        raise ValueError(f"jsonPath {path!r} does not name an argument")
    return steps


def _slot(node: Any, step: Any, child: Any) -> Any:
    """``node[step]``, made ``child`` (an empty dict or list) when it holds no container yet."""
    if isinstance(step, int):
        if not isinstance(node, list):
            raise ValueError("an index step into something that is not an array")
        node.extend([None] * (step + 1 - len(node)))
    elif not isinstance(node, dict):
        raise ValueError("a name step into something that is not an object")
    if not isinstance(node[step] if isinstance(step, int) else node.get(step), (dict, list)):
        node[step] = child
    return node[step]


class _StreamedCall:
    """One function call whose arguments arrive as ``partialArgs`` pieces."""

    __slots__ = ("id", "name", "args", "open_path")

    def __init__(self, fc: Mapping[str, Any]) -> None:
        self.id = fc.get("id")
        self.name = fc.get("name")
        self.args: dict[str, Any] = dict(fc.get("args") or {})
        self.open_path: Optional[str] = None  # the path whose string the next piece continues

    def same_call(self, fc: Mapping[str, Any]) -> bool:
        """A piece that names another function (or id) starts a new call instead."""
        name, call_id = fc.get("name"), fc.get("id")
        return not ((name and self.name and name != self.name) or (call_id and self.id and call_id != self.id))

    def add(self, fc: Mapping[str, Any]) -> None:
        self.id = self.id or fc.get("id")
        self.name = self.name or fc.get("name")
        if fc.get("args"):
            self.args.update(fc["args"])
        for piece in fc.get("partialArgs") or ():
            self._apply(piece)

    def _apply(self, piece: Mapping[str, Any]) -> None:
        path = str(piece["jsonPath"])
        steps = _json_path(path)
        if "stringValue" in piece:
            value: Any = str(piece["stringValue"])
            if self.open_path == path:
                held = self._get(steps)
                value = (held if isinstance(held, str) else "") + value
        elif "numberValue" in piece:
            value = piece["numberValue"]
        elif "boolValue" in piece:
            value = bool(piece["boolValue"])
        elif "nullValue" in piece:
            value = None
        else:  # no value in this piece
            self.open_path = path if piece.get("willContinue") else None
            return
        node: Any = self.args
        for step, following in zip(steps, steps[1:]):
            node = _slot(node, step, [] if isinstance(following, int) else {})
        _slot(node, steps[-1], None)  # makes room (an index past the end, a name not yet there)
        node[steps[-1]] = value
        self.open_path = path if piece.get("willContinue") else None

    def _get(self, steps: list[Any]) -> Any:
        node: Any = self.args
        for step in steps:
            if isinstance(step, int):
                node = node[step] if isinstance(node, list) and step < len(node) else None
            else:
                node = node.get(step) if isinstance(node, dict) else None
        return node


class GeminiFormat(WireFormat):
    name = "gemini"
    takes_cached_content = True
    takes_n = True

    def auth_headers(self, api_key: str | None) -> dict[str, str]:
        return {"x-goog-api-key": api_key} if api_key else {}

    def chat_url(self, base_url: str, model: str, stream: bool) -> str:
        method = "streamGenerateContent?alt=sse" if stream else "generateContent"
        return f"{base_url}/{API_VERSION}/{model_path(model)}:{method}"

    def models_url(self, base_url: str) -> str:
        return f"{base_url}/{API_VERSION}/models?pageSize=1000"

    def check_supported(self, request: ChatCompletionRequest, spec: ProviderSpec, *, stream: bool) -> None:
        super().check_supported(request, spec, stream=stream)
        _check_cached_content(request, spec.name, request.model)
        _contents(request, spec.name, request.model)  # image URLs; tool results must answer an earlier call
        if request.tool_choice is not None:
            _tool_config(request.tool_choice, spec.name, request.model)
        if request.response_format is not None:
            _response_format(request.response_format, spec.name, request.model)

    def encode(self, request: ChatCompletionRequest, model: str, *, stream: bool, spec: ProviderSpec) -> dict[str, Any]:
        _check_cached_content(request, spec.name, model)
        system, contents = _contents(request, spec.name, model)
        body: dict[str, Any] = {"contents": contents}
        if system:
            body["systemInstruction"] = {"parts": system}
        config: dict[str, Any] = {}
        if request.temperature is not None:
            config["temperature"] = request.temperature
        if request.max_tokens is not None:
            config["maxOutputTokens"] = request.max_tokens
        if request.top_p is not None:
            config["topP"] = request.top_p
        if request.stop is not None:
            config["stopSequences"] = list(request.stop)
        if request.response_format is not None:
            config.update(_response_format(request.response_format, spec.name, model))
        if request.reasoning is not None:
            key = "thinkingLevel" if isinstance(request.reasoning, str) else "thinkingBudget"
            config["thinkingConfig"] = {key: request.reasoning}
        if request.n is not None:
            config["candidateCount"] = request.n
        if config:
            body["generationConfig"] = config
        if request.cached_content is not None:
            body["cachedContent"] = request.cached_content
        if request.tools:
            body["tools"] = [{"functionDeclarations": [_declaration(t.name, t.description, t.parameters) for t in request.tools]}]
        if request.tool_choice is not None:
            body["toolConfig"] = _tool_config(request.tool_choice, spec.name, model)
        if request.extra:
            merge_extra(body, request.extra)  # deeply: objects merged key by key, other values replace
        return body

    def decode(self, data: dict[str, Any], *, provider: str, model: str, headers: Mapping[str, str]) -> ChatCompletionResponse:
        if "error" in data and "candidates" not in data:
            raise _error(data, provider, model)
        candidates = data.get("candidates") or []
        if not candidates:
            reason = (data.get("promptFeedback") or {}).get("blockReason")
            if reason:
                raise _blocked(data, provider, model, f"prompt ({reason})")
            raise ProtocolError("response has no candidates", provider=provider, model=model)
        response_id = str(data.get("responseId", ""))
        choices = []
        for i, cand in enumerate(candidates):
            index = int(cand.get("index", i) or 0)
            parts = (cand.get("content") or {}).get("parts") or []
            text = _text(parts)
            calls = _calls(parts, response_id if index == 0 else f"{response_id}#{index}", 0)
            reason = cand.get("finishReason")
            if reason in _FILTER_REASONS and not text and not calls and len(candidates) == 1:
                raise _blocked(data, provider, model, f"answer ({reason})")
            cites, servers = grounding(cand, text, part_starts(parts)) if _grounded(cand) else ((), ())
            message = assistant_message(text or None, tuple(calls) or None, _reasoning(parts), cites, servers)
            choices.append(Choice(index, message, _finish(reason, bool(calls))))
        if len(choices) > 1:
            choices.sort(key=lambda c: c.index)  # by candidate index: choices[0] is candidate 0
        return response(
            response_id, str(data.get("modelVersion") or model), provider, tuple(choices), _usage(data.get("usageMetadata")), data
        )

    def stream_decoder(self, *, provider: str, model: str) -> StreamDecoder:
        return GeminiStreamDecoder(provider=provider, model=model)

    def error_details(self, data: Any) -> tuple[str, tuple[str, ...]]:
        top = error_object(data)
        err = top.get("error", top)
        if isinstance(err, str):
            return err, ()
        if not isinstance(err, Mapping):
            return str(top.get("message") or ""), ()
        message = str(err.get("message") or "")
        codes = [str(err["status"])] if err.get("status") else []
        for detail in err.get("details") or ():
            if isinstance(detail, Mapping) and detail.get("reason"):
                codes.append(str(detail["reason"]))
        return message, tuple(codes)

    def retry_delay(self, data: Any) -> Optional[float]:
        """``retryDelay`` of the ``google.rpc.RetryInfo`` entry in ``error.details`` (a 429's
        "retry in 34.4s"), Gemini's only statement of the wait: it sends no Retry-After."""
        err = error_object(data).get("error")
        details = err.get("details") if isinstance(err, Mapping) else None
        for detail in details if isinstance(details, list) else ():
            if isinstance(detail, Mapping) and detail.get("@type") == _RETRY_INFO:
                return _duration(detail.get("retryDelay"))
        return None

    def decode_models(self, data: Any) -> list[str]:
        return [str(m["name"]).removeprefix("models/") for m in data["models"]]


def _grounded(candidate: Mapping[str, Any]) -> bool:
    return "groundingMetadata" in candidate or "citationMetadata" in candidate


class _Candidate:
    """What one candidate (``n > 1``: one of several, by ``index``) of a stream has sent so far."""

    __slots__ = (
        "index",
        "calls",
        "streamed",
        "emitted",
        "finish",
        "thoughts",
        "thought_sig",
        "text_sig",
        "has_text",
        "call_sigs",
        "call_prefix",
        "text",
        "grounded",
    )

    def __init__(self, index: int) -> None:
        self.index = index
        self.calls: list[ToolCall] = []
        self.streamed: Optional[_StreamedCall] = None  # a call whose arguments are still arriving
        self.emitted = False
        self.finish: Optional[str] = None  # set when the candidate's finishReason arrives
        self.thoughts: list[str] = []  # thought text pieces
        self.thought_sig: Optional[str] = None  # the last signature on a thought part
        self.text_sig: Optional[str] = None  # the last signature on a text part
        self.has_text = False
        self.call_sigs: dict[int, str] = {}  # call ordinal -> its thoughtSignature
        self.call_prefix = ""  # set from the response id: candidate i > 0 ids its calls as the body decoder does
        self.text: list[str] = []  # the answer text so far (grounding offsets count in it)
        self.grounded: set[str] = set()  # citations and grounding already given (a later chunk may repeat them)

    def reasoning_parts(self) -> tuple[ReasoningPart, ...]:
        """The streamed answer as one thought part, one text part and its calls: their reasoning parts."""
        out: list[ReasoningPart] = []
        at = 0
        if self.thoughts or self.thought_sig is not None:
            out.append(ReasoningPart("gemini", "thought", "".join(self.thoughts), self.thought_sig, index=0))
            at = 1
        if self.has_text or self.text_sig is not None:
            if self.text_sig is not None:
                out.append(ReasoningPart("gemini", "signature", signature=self.text_sig, index=at))
            at += 1
        for ordinal, sig in sorted(self.call_sigs.items()):
            out.append(ReasoningPart("gemini", "signature", signature=sig, index=at + ordinal))
        return tuple(out)

    def note_signatures(self, parts: list[Any], first_call: int) -> None:
        ordinal = first_call
        for p in parts:
            sig = p.get("thoughtSignature")
            if p.get("thought"):
                self.thought_sig = self.thought_sig if sig is None else str(sig)
            elif "functionCall" in p:
                if sig is not None:
                    self.call_sigs[ordinal] = str(sig)
                if (p.get("functionCall") or {}).get("name"):  # a streamed call's later pieces name nothing
                    ordinal += 1
            elif sig is not None:
                self.text_sig = str(sig)


class GeminiStreamDecoder(StreamDecoder):
    """Each event is a whole response; the one carrying a ``finishReason`` is terminal.

    Gemini has no end-of-stream event. Its server sends the final token counts
    (``usageMetadata``) on the chunk carrying the ``finishReason`` and then ends the body,
    so that chunk completes the stream and nothing after it is awaited. A finishing chunk
    without ``usageMetadata`` still ends the stream properly, but reading goes on to the
    end of the body for a later chunk's counts (a gateway may send them separately).

    With ``candidateCount`` above 1 each candidate is decoded by its ``index``: its chunks carry
    ``choice_index``, and the stream ends when every candidate it has seen has finished, with one
    closing chunk per candidate, candidate 0's last (it carries the usage).
    """

    terminal_name = "a chunk with a finishReason"
    format_name = "gemini"

    def __init__(self, *, provider: str, model: str) -> None:
        super().__init__(provider=provider, model=model)
        self._usage: Usage | None = None
        self._response_id = ""
        self._counted = False  # the final usageMetadata arrived (with or after the last finishReason)
        self._candidates: dict[int, _Candidate] = {}

    @property
    def complete(self) -> bool:
        return self._counted

    def feed(self, event: SseEvent) -> list[StreamChunk]:
        if self.done:
            return self._late_usage(event)
        data = self._event_object(event, unwrap_list=True)
        return [] if data is None else self._dispatch(self._handle, data)

    def _late_usage(self, event: SseEvent) -> list[StreamChunk]:
        """A chunk after the finishing one: only its ``usageMetadata`` counts (a last chunk again)."""
        try:
            data = json.loads(event.data)
            if isinstance(data, list) and len(data) == 1:
                data = data[0]
            usage = _usage(data.get("usageMetadata")) if isinstance(data, dict) else None
        except (ValueError, TypeError, AttributeError, RecursionError):  # anything but counts is ignored here
            return []
        if usage is None:
            return []
        self._usage, self._counted = usage, True
        return [self._last_chunk(self._candidate(0))]

    def _candidate(self, index: int) -> _Candidate:
        cand = self._candidates.get(index)
        if cand is None:
            cand = self._candidates[index] = _Candidate(index)
        return cand

    def _last_chunk(self, cand: _Candidate) -> StreamChunk:
        return StreamChunk(
            finish_reason=cand.finish or "stop",
            usage=self._usage if cand.index == 0 else None,
            provider=self.provider,
            model=self.model,
            tool_calls=tuple(cand.calls),
            reasoning_parts=cand.reasoning_parts(),
            choice_index=cand.index,
        )

    def _handle(self, data: dict[str, Any]) -> list[StreamChunk]:
        if "error" in data and "candidates" not in data:
            raise _error(data, self.provider, self.model)
        if data.get("modelVersion"):
            self.model = str(data["modelVersion"])
        if data.get("responseId") and not self._response_id:
            self._response_id = self.response_id = str(data["responseId"])
        if data.get("usageMetadata"):
            self._usage = _usage(data["usageMetadata"])
        candidates = data.get("candidates") or ()
        if not candidates:
            reason = (data.get("promptFeedback") or {}).get("blockReason")
            if reason:
                raise _blocked(data, self.provider, self.model, f"prompt ({reason})")
            return []
        out: list[StreamChunk] = []
        for raw in candidates:
            cand = self._candidate(int(raw.get("index") or 0))
            if cand.finish is None:
                out.extend(self._take(cand, raw, data))
        if self._candidates.get(0) is not None and all(c.finish is not None for c in self._candidates.values()):
            self.done = True
            self._counted = bool(data.get("usageMetadata"))
            others = sorted(i for i in self._candidates if i)
            out.extend(self._last_chunk(self._candidates[i]) for i in (*others, 0))
        return out

    def _take(self, cand: _Candidate, raw: Mapping[str, Any], data: dict[str, Any]) -> list[StreamChunk]:
        """One candidate's part of a chunk: its content chunk, and its finish when it has one."""
        if cand.index and not cand.call_prefix:
            cand.call_prefix = f"{self._response_id}#{cand.index}"
        response_id = cand.call_prefix or self._response_id
        parts = (raw.get("content") or {}).get("parts") or []
        text = _text(parts)
        thoughts = _thoughts(parts)
        if thoughts:
            cand.thoughts.append(thoughts)
        cand.has_text = cand.has_text or bool(text)
        cand.note_signatures(parts, len(cand.calls))
        reason = raw.get("finishReason")
        parts, streamed = self._streamed_calls(cand, parts, ending=bool(reason))
        calls = streamed + _calls(parts, response_id, len(cand.calls) + len(streamed))
        deltas = tuple(ToolCallDelta(len(cand.calls) + i, c.id, c.name, json.dumps(c.arguments)) for i, c in enumerate(calls))
        cand.calls.extend(calls)
        if text:
            cand.text.append(text)
        cites, servers = self._grounding(cand, raw) if _grounded(raw) else ((), ())
        out = []
        if text or deltas or thoughts or cites or servers:
            cand.emitted = cand.emitted or bool(text or deltas or thoughts)
            chunk = StreamChunk(
                text,
                deltas,
                provider=self.provider,
                model=self.model,
                raw=data,
                delta_reasoning=thoughts,
                choice_index=cand.index,
                citations=cites,
                server_tool_parts=servers,
            )
            out.append(chunk)
        if reason:
            if reason in _FILTER_REASONS and not cand.emitted and len(self._candidates) == 1:
                raise _blocked(data, self.provider, self.model, f"answer ({reason})")
            cand.finish = _finish(reason, bool(cand.calls))
        return out

    def _grounding(self, cand: _Candidate, raw: Mapping[str, Any]) -> tuple[tuple[Citation, ...], tuple[ServerToolPart, ...]]:
        """The candidate's citations and grounding not given before, against its whole text so far."""
        text = "".join(cand.text)
        cand.text = [text]
        cites, servers = grounding(raw, text, {})
        fresh_cites = tuple(c for c in cites if _fresh(cand, c))
        fresh_servers = tuple(p for p in servers if _fresh(cand, p))
        return fresh_cites, fresh_servers

    def _streamed_calls(self, cand: _Candidate, parts: list[Any], *, ending: bool) -> tuple[list[Any], list[ToolCall]]:
        """(the other parts, the calls completed here) after feeding this chunk's streamed-argument
        pieces to the call they belong to. A call is complete at a piece without ``willContinue``
        (Vertex sends ``{}``), at a piece naming another function, or at the finishing chunk."""
        pieces = [fc for fc in (p.get("functionCall") for p in parts) if fc is not None]
        if cand.streamed is None and not any(not fc or _is_streamed(fc) for fc in pieces):
            return parts, []
        rest: list[Any] = []
        done: list[ToolCall] = []
        for p in parts:
            fc = p.get("functionCall")
            if fc is None:
                rest.append(p)
                continue
            if cand.streamed is not None and not cand.streamed.same_call(fc):
                done.append(self._complete(cand, len(done)))
            if cand.streamed is None:
                if not _is_streamed(fc):
                    if fc:  # an ordinary whole call; an empty one closes nothing and is dropped
                        rest.append(p)
                    continue
                cand.streamed = _StreamedCall(fc)
            cand.streamed.add(fc)
            if not fc.get("willContinue"):
                done.append(self._complete(cand, len(done)))
        if ending and cand.streamed is not None:
            done.append(self._complete(cand, len(done)))
        return rest, done

    def _complete(self, cand: _Candidate, offset: int) -> ToolCall:
        call, cand.streamed = cand.streamed, None
        assert call is not None
        if not call.name:
            raise ProtocolError("a streamed functionCall ended without naming its function", provider=self.provider, model=self.model)
        name = str(call.name)
        call_id = call.id or synthetic_call_id(cand.call_prefix or self._response_id, len(cand.calls) + offset, name, call.args)
        return ToolCall(str(call_id), name, call.args)


def _fresh(cand: _Candidate, item: Any) -> bool:
    """Whether ``item`` (a citation or grounding part) is new for this candidate (a later chunk may repeat it)."""
    key = json.dumps(attrs.asdict(item), sort_keys=True, default=str)
    if key in cand.grounded:
        return False
    cand.grounded.add(key)
    return True


WIRE_FORMAT = GeminiFormat()
