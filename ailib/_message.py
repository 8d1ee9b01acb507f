"""Chat messages and their parts: roles, content, tools and tool calls (frozen attrs classes)."""

from __future__ import annotations

import base64
import enum
import json
import mimetypes
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Optional, Union

import attrs

from ._value import value
from .errors import InvalidRequestError

__all__ = [
    "AUTO_MODELS",
    "Role",
    "Content",
    "ToolCall",
    "ToolCallDelta",
    "Tool",
    "ReasoningPart",
    "Citation",
    "ServerToolPart",
    "Message",
    "MessageContent",
]

AUTO_MODELS = frozenset({"auto", "default", ""})


class Role(str, enum.Enum):
    """Who a message is from: the system prompt, the user, the model, or a tool's result.

    ``DEVELOPER`` is OpenAI's newer name for system instructions: the OpenAI service (and Azure
    OpenAI) gets it as ``developer``; every other provider, OpenAI-compatible ones included,
    gets it as a system message.
    """

    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"
    DEVELOPER = "developer"

    @property
    def is_system(self) -> bool:
        """Whether the message holds instructions (``SYSTEM`` or ``DEVELOPER``)."""
        return self is Role.SYSTEM or self is Role.DEVELOPER

    def __str__(self) -> str:
        return self.value


def _to_role(value: Any) -> Role:
    if isinstance(value, Role):
        return value
    try:
        return Role(str(value).lower())
    except ValueError:
        raise InvalidRequestError(f"unknown role {value!r}; expected one of system, developer, user, assistant, tool") from None


@value
class Content:
    """One part of a message: text, an image (URL or inline base64), a JSON object, audio, or a
    file (a PDF or other document: inline, by URL, or by a provider's file id).

    Build with the named constructors: ``Content.text("hi")``, ``Content.image_url(url)``,
    ``Content.image_file(path)``, ``Content.json(obj)``, ``Content.audio_base64(data, "wav")``,
    ``Content.audio_file(path)``, ``Content.file(path)``, ``Content.file_base64(data, media_type,
    filename)``, ``Content.file_url(url)``, ``Content.file_id(id)``. A format that cannot take a
    part raises ``InvalidRequestError`` naming it before anything is sent (see each format's
    module). An image's ``detail`` (``"auto"``,
    ``"low"``, ``"high"``) is sent to the formats that take it (OpenAI, Cohere); Anthropic and
    Gemini have no such setting and ignore it. ``cache_control`` (e.g. ``{"type": "ephemeral"}``)
    marks the end of a cacheable prefix for Anthropic's prompt caching and is sent on the part's
    Anthropic block; the other formats cache without marks and ignore it.
    """

    # "text" | "image_url" | "image_base64" | "json" | "audio_base64" | "file_base64" | "file_url" | "file_id"
    kind: str
    value: Any = attrs.field(hash=False)  # a JSON object may be a dict
    media_type: Optional[str] = None
    # Checked by the named constructors, not by validators: ``parts()`` builds a part for every
    # string message on every encode, and validators would run there too.
    detail: Optional[str] = attrs.field(default=None, kw_only=True)
    cache_control: Optional[Mapping[str, Any]] = attrs.field(default=None, kw_only=True, hash=False)
    filename: Optional[str] = attrs.field(default=None, kw_only=True)  # a file part's name (OpenAI ``file.filename``)

    @classmethod
    def text(cls, text: str, *, cache_control: Optional[Mapping[str, Any]] = None) -> Content:
        """A text part; ``InvalidRequestError`` if ``text`` is not a str. ``cache_control``: Anthropic's
        prompt-caching mark for the prompt up to and including this part (``{"type": "ephemeral"}``)."""
        if not isinstance(text, str):
            raise InvalidRequestError(f"Content.text needs a str, got {type(text).__name__}")
        if cache_control is None:
            return cls("text", text)
        return cls("text", text, cache_control=_checked_cache_control(cache_control))

    @classmethod
    def image_url(cls, url: str, detail: Optional[str] = None, *, cache_control: Optional[Mapping[str, Any]] = None) -> Content:
        """An image part by URL; a ``data:`` URL becomes a base64 image. ``detail``: OpenAI's
        (and Cohere's) ``"auto"``/``"low"``/``"high"``, sent only when given; ``cache_control`` as for ``text``."""
        _check_detail(detail)
        cache_control = _checked_cache_control(cache_control)
        if url.startswith("data:"):
            header, _, data = url.partition(",")
            media = header[5:].split(";")[0] or "image/png"
            return cls("image_base64", data, media, detail=detail, cache_control=cache_control)
        return cls("image_url", url, detail=detail, cache_control=cache_control)

    @classmethod
    def image_base64(
        cls, data: str, media_type: str = "image/png", *, detail: Optional[str] = None, cache_control: Optional[Mapping[str, Any]] = None
    ) -> Content:
        """An image part from base64 ``data`` of type ``media_type`` (``detail``, ``cache_control`` as for ``image_url``)."""
        _check_detail(detail)
        return cls("image_base64", data, media_type, detail=detail, cache_control=_checked_cache_control(cache_control))

    @classmethod
    def image_file(
        cls, path: Union[str, Path], *, detail: Optional[str] = None, cache_control: Optional[Mapping[str, Any]] = None
    ) -> Content:
        """An image part read from the file at ``path`` (sent as base64; ``detail``, ``cache_control`` as for ``image_url``);
        ``InvalidRequestError`` if it cannot be read."""
        _check_detail(detail)
        cache_control = _checked_cache_control(cache_control)
        p = Path(path)
        try:
            raw = p.read_bytes()
        except OSError as exc:
            raise InvalidRequestError(f"cannot read image file {str(p)!r}: {exc.strerror}") from exc
        media = mimetypes.guess_type(p.name)[0] or "application/octet-stream"
        if not media.startswith("image/"):
            raise InvalidRequestError(f"{p.name!r} does not look like an image ({media})")
        return cls("image_base64", base64.b64encode(raw).decode("ascii"), media, detail=detail, cache_control=cache_control)

    @classmethod
    def json(cls, obj: Any, *, cache_control: Optional[Mapping[str, Any]] = None) -> Content:
        """A JSON part holding ``obj``; ``InvalidRequestError`` if it is not JSON-serialisable (``cache_control`` as for ``text``)."""
        _check_json(obj, "Content.json")
        return cls("json", obj, cache_control=_checked_cache_control(cache_control))

    @classmethod
    def audio_base64(cls, data: str, format: str, *, cache_control: Optional[Mapping[str, Any]] = None) -> Content:
        """An audio part from base64 ``data``; ``format`` is ``"wav"``, ``"mp3"``, ``"flac"``... or a MIME type
        (``"audio/wav"``). OpenAI takes wav and mp3 (``input_audio``), Gemini any audio type (``inlineData``);
        Anthropic and Cohere take no audio. ``cache_control`` as for ``text``."""
        if not isinstance(data, str) or not data:
            raise InvalidRequestError("Content.audio_base64 needs the base64 data as a non-empty str")
        return cls("audio_base64", data, _audio_media_type(format), cache_control=_checked_cache_control(cache_control))

    @classmethod
    def audio_file(cls, path: Union[str, Path], *, cache_control: Optional[Mapping[str, Any]] = None) -> Content:
        """An audio part read from the file at ``path`` (sent as base64, its type from the file name);
        ``InvalidRequestError`` if it cannot be read or is not audio."""
        cache_control = _checked_cache_control(cache_control)
        p = Path(path)
        raw = _read(p, "audio")
        media = mimetypes.guess_type(p.name)[0] or "application/octet-stream"
        if not media.startswith("audio/"):
            raise InvalidRequestError(f"{p.name!r} does not look like audio ({media})")
        return cls("audio_base64", base64.b64encode(raw).decode("ascii"), _audio_media_type(media), cache_control=cache_control)

    @classmethod
    def file_base64(
        cls,
        data: str,
        media_type: str = "application/pdf",
        filename: Optional[str] = None,
        *,
        cache_control: Optional[Mapping[str, Any]] = None,
    ) -> Content:
        """A file part (a PDF, a plain-text document...) from base64 ``data`` of type ``media_type``, named
        ``filename`` where the format takes a name (OpenAI). ``cache_control`` as for ``text``."""
        if not isinstance(data, str) or not data:
            raise InvalidRequestError("Content.file_base64 needs the base64 data as a non-empty str")
        return cls(
            "file_base64", data, _media_type(media_type), filename=_name(filename), cache_control=_checked_cache_control(cache_control)
        )

    @classmethod
    def file(
        cls, path: Union[str, Path], media_type: Optional[str] = None, *, cache_control: Optional[Mapping[str, Any]] = None
    ) -> Content:
        """A file part read from ``path`` (sent inline as base64, named after the file); its type is
        ``media_type`` or guessed from the name. ``InvalidRequestError`` if it cannot be read or its type
        cannot be told."""
        cache_control = _checked_cache_control(cache_control)
        p = Path(path)
        raw = _read(p, "file")
        media = media_type or mimetypes.guess_type(p.name)[0]
        if not media:
            raise InvalidRequestError(f"cannot tell the type of {p.name!r}; pass media_type (e.g. 'application/pdf')")
        return cls("file_base64", base64.b64encode(raw).decode("ascii"), _media_type(media), filename=p.name, cache_control=cache_control)

    @classmethod
    def file_url(cls, url: str, media_type: Optional[str] = None, *, cache_control: Optional[Mapping[str, Any]] = None) -> Content:
        """A file part by URL (a ``data:`` URL becomes an inline file). Anthropic reads a PDF by URL;
        Gemini takes a Files API URI or another URL it can fetch (``fileData``); OpenAI chat
        completions take none. ``cache_control`` as for ``text``."""
        if not isinstance(url, str) or not url:
            raise InvalidRequestError("Content.file_url needs a non-empty URL")
        cache_control = _checked_cache_control(cache_control)
        if url.startswith("data:"):
            header, _, data = url.partition(",")
            media = header[5:].split(";")[0] or media_type or "application/pdf"
            return cls("file_base64", data, _media_type(media), cache_control=cache_control)
        return cls("file_url", url, None if media_type is None else _media_type(media_type), cache_control=cache_control)

    @classmethod
    def file_id(
        cls,
        file_id: str,
        media_type: Optional[str] = None,
        filename: Optional[str] = None,
        *,
        cache_control: Optional[Mapping[str, Any]] = None,
    ) -> Content:
        """A file uploaded to the provider beforehand, by its id: OpenAI ``file-...`` (``file.file_id``),
        Anthropic ``file_...`` (Files API, beta: send the ``anthropic-beta: files-api-2025-04-14`` header),
        Gemini the file's URI (``fileData.fileUri``; give its ``media_type``). ``cache_control`` as for ``text``."""
        if not isinstance(file_id, str) or not file_id:
            raise InvalidRequestError("Content.file_id needs a non-empty file id")
        media = None if media_type is None else _media_type(media_type)
        return cls("file_id", file_id, media, filename=_name(filename), cache_control=_checked_cache_control(cache_control))

    @property
    def is_image(self) -> bool:
        """Whether this part is an image (by URL or base64)."""
        return self.kind in ("image_url", "image_base64")

    @property
    def is_text(self) -> bool:
        """Whether this part is text (plain or a JSON object): what ``Message.text()`` joins."""
        return self.kind == "text" or self.kind == "json"

    @property
    def label(self) -> str:
        """What the part is, in words, for error messages (``"audio (audio/wav)"``, ``"a file URL"``)."""
        name = _LABELS.get(self.kind, self.kind)
        return (
            f"{name} ({self.media_type})"
            if self.media_type and self.kind in ("audio_base64", "file_base64", "file_url", "file_id")
            else name
        )

    @property
    def audio_format(self) -> str:
        """An audio part's format as OpenAI names it (``"wav"``, ``"mp3"``): its media subtype."""
        return (self.media_type or "").split("/", 1)[-1]

    def as_text(self) -> str:
        """The part as plain text (JSON is serialised); other parts raise."""
        if self.kind == "text":
            return str(self.value)
        if self.kind == "json":
            return json.dumps(self.value, ensure_ascii=False)
        raise InvalidRequestError(f"{self.label} has no text form")

    def to_dict(self) -> dict[str, Any]:
        """The part as an OpenAI content part: ``text``, ``image_url`` (with its ``detail`` when set),
        ``input_audio`` or ``file`` (``file_data`` as a ``data:`` URL with its ``filename``, default
        ``"document"`` and the type's extension, or ``file_id``). A file URL, which OpenAI chat completions
        do not take, is ``{"type": "file", "file": {"file_url": ...}}``, ailib's own form."""
        kind = self.kind
        if kind == "text" or kind == "json":
            return {"type": "text", "text": self.as_text()}
        if kind == "audio_base64":
            return {"type": "input_audio", "input_audio": {"data": self.value, "format": self.audio_format}}
        if kind == "file_base64":
            name = self.filename or "document" + (mimetypes.guess_extension(self.media_type or "") or "")
            return {"type": "file", "file": {"filename": name, "file_data": self.data_url()}}
        if kind == "file_id":
            ref: dict[str, Any] = {"file_id": self.value}
            if self.filename:
                ref["filename"] = self.filename
            return {"type": "file", "file": ref}
        if kind == "file_url":
            return {"type": "file", "file": {"file_url": self.value}}
        image: dict[str, Any] = {"url": self.data_url()}
        if self.detail is not None:
            image["detail"] = self.detail
        return {"type": "image_url", "image_url": image}

    def data_url(self) -> str:
        """The image or file as a URL: its own URL, or a ``data:`` URL of its base64 bytes."""
        if self.kind == "image_url" or self.kind == "file_url":
            return str(self.value)
        return f"data:{self.media_type};base64,{self.value}"


_LABELS = {
    "text": "text",
    "json": "a JSON part",
    "image_url": "an image URL",
    "image_base64": "an inline image",
    "audio_base64": "audio",
    "file_base64": "an inline file",
    "file_url": "a file URL",
    "file_id": "an uploaded file id",
}
# Audio types as Gemini names them (its documented list: audio/wav, audio/mp3, audio/aiff,
# audio/aac, audio/ogg, audio/flac), from the names files and other APIs use.
_AUDIO_ALIASES = {
    "x-wav": "wav",
    "wave": "wav",
    "vnd.wave": "wav",
    "mpeg": "mp3",
    "mpeg3": "mp3",
    "x-mpeg-3": "mp3",
    "x-aiff": "aiff",
    "x-flac": "flac",
    "x-aac": "aac",
}


def _audio_media_type(format: Any) -> str:
    if not isinstance(format, str) or not format.strip():
        raise InvalidRequestError(f"an audio format must be a name such as 'wav' or 'mp3' (or 'audio/wav'), got {format!r}")
    sub = format.strip().lower()
    if "/" in sub:
        top, sub = sub.split("/", 1)
        if top != "audio":
            raise InvalidRequestError(f"{format!r} is not an audio type")
    return "audio/" + _AUDIO_ALIASES.get(sub, sub)


def _media_type(media_type: Any) -> str:
    if not isinstance(media_type, str) or "/" not in media_type:
        raise InvalidRequestError(f"a media type must look like 'application/pdf', got {media_type!r}")
    return media_type.strip().lower()


def _name(filename: Any) -> Optional[str]:
    if filename is not None and (not isinstance(filename, str) or not filename):
        raise InvalidRequestError(f"a filename must be a non-empty str, got {filename!r}")
    return filename


def _read(p: Path, what: str) -> bytes:
    try:
        return p.read_bytes()
    except OSError as exc:
        raise InvalidRequestError(f"cannot read {what} file {str(p)!r}: {exc.strerror}") from exc


def _check_detail(detail: Any) -> None:
    if detail is not None and (not isinstance(detail, str) or not detail):
        raise InvalidRequestError(f"an image detail must be a non-empty string such as 'low' or 'high', got {detail!r}")


def _checked_cache_control(mark: Any) -> Optional[Mapping[str, Any]]:
    if mark is None:
        return None
    if not isinstance(mark, Mapping):
        raise InvalidRequestError(f"cache_control must be a dict such as {{'type': 'ephemeral'}}, got {type(mark).__name__}")
    _check_json(mark, "cache_control")
    return mark


def _check_json(obj: Any, what: str) -> None:
    try:
        json.dumps(obj)
    except (TypeError, ValueError) as exc:
        raise InvalidRequestError(f"{what} is not JSON-serialisable: {exc}") from None


@value
class ToolCall:
    """A call the model asked for; ``arguments`` is the decoded JSON object."""

    id: str
    name: str
    arguments: Any = attrs.field(factory=dict, hash=False)

    def to_dict(self) -> dict[str, Any]:
        """``{"id", "name", "arguments"}``, the arguments as the decoded JSON object."""
        return {"id": self.id, "name": self.name, "arguments": self.arguments}


def arguments_json(arguments: Any) -> str:
    """Tool-call arguments as the JSON text a format sends: a str (arguments kept as the raw text
    the model sent, because it was not valid JSON) goes back as it came; anything else is encoded."""
    return arguments if isinstance(arguments, str) else json.dumps(arguments)


@value
class ToolCallDelta:
    """A fragment of a streamed tool call: ``arguments_delta`` is raw JSON text."""

    index: int
    id: Optional[str] = None
    name: Optional[str] = None
    arguments_delta: str = ""


@value
class Tool:
    """A function the model may call. Build with ``Tool.function(...)``.

    ``strict`` (structured outputs for tool arguments) is sent only when set: OpenAI
    ``function.strict``, Anthropic the tool's ``strict``, Cohere the request's ``strict_tools:
    true`` when any tool is strict (Cohere's flag covers every tool); Gemini has no such flag.
    """

    name: str
    description: str = ""
    parameters: Mapping[str, Any] = attrs.field(factory=lambda: {"type": "object", "properties": {}}, hash=False)
    strict: Optional[bool] = attrs.field(default=None, kw_only=True)

    @classmethod
    def function(
        cls,
        name: str,
        description: str = "",
        parameters_json_schema: Optional[Mapping[str, Any]] = None,
        *,
        strict: Optional[bool] = None,
    ) -> Tool:
        """A function tool the model may call: ``name``, what it does, and its parameters as a JSON Schema (default: no
        parameters); ``strict=True`` asks the model to follow the schema exactly (OpenAI, Anthropic, Cohere). ``InvalidRequestError`` for an empty
        name, a schema that is not JSON, or a ``strict`` that is not a bool.
        """
        if not name or not isinstance(name, str):
            raise InvalidRequestError("a tool needs a non-empty name")
        params = parameters_json_schema if parameters_json_schema is not None else {"type": "object", "properties": {}}
        _check_json(params, f"tool {name!r} parameters")
        if strict is not None and not isinstance(strict, bool):
            raise InvalidRequestError(f"tool {name!r}: strict must be True, False or None, got {strict!r}")
        return cls(name, description, params, strict=strict)

    def to_dict(self) -> dict[str, Any]:
        """The OpenAI function tool: ``{"type": "function", "function": {...}}``, ``strict`` only when set."""
        fn: dict[str, Any] = {"name": self.name, "description": self.description, "parameters": self.parameters}
        if self.strict is not None:
            fn["strict"] = self.strict
        return {"type": "function", "function": fn}


@value
class ReasoningPart:
    """One piece of a model's reasoning, kept on the assistant ``Message`` so that replaying the
    message sends it back unchanged (a thinking-enabled tool loop needs it).

    Opaque by design: ``format`` names the wire format that produced it (``"anthropic"``,
    ``"gemini"``, ``"openai"``, ``"cohere"``, ``"openai_responses"``) and only that format sends it back; another format drops it,
    since no provider accepts another's signatures. ``kind`` is the provider's own name for it:
    ``"thinking"`` (Anthropic: ``text`` and its ``signature``), ``"redacted_thinking"``
    (Anthropic: encrypted ``data``), ``"thought"`` (Gemini ``thought: true`` part: ``text``, maybe a
    ``signature``), ``"signature"`` (Gemini: the ``thoughtSignature`` carried by the answer part at
    ``index``), ``"reasoning_content"`` / ``"reasoning"`` (OpenAI-compatible reasoning text),
    ``"thinking"`` (Cohere: a ``thinking`` content item's ``text``), ``"tool_plan"`` (Cohere: the plan
    the model states before its tool calls), ``"reasoning"`` (OpenAI Responses API, format
    ``"openai_responses"``: a ``reasoning`` item's summary as ``text``, its ``encrypted_content`` as
    ``signature``, the item itself as JSON without it as ``data``), ``"output"`` (the same format: the
    ids and order of the answer's output items, so a replay pairs each reasoning item with the item
    after it, as the API requires).
    ``index`` is the part's position among the message's blocks (or parts) as received, so it
    goes back in its place.
    """

    format: str
    kind: str
    text: str = ""
    signature: Optional[str] = None
    data: Optional[str] = None
    index: Optional[int] = None


def _to_reasoning_parts(value: Any) -> tuple[ReasoningPart, ...]:
    if not value:
        return ()
    out = []
    for part in value:
        if isinstance(part, ReasoningPart):
            out.append(part)
        elif isinstance(part, Mapping):
            try:
                out.append(ReasoningPart(**part))
            except TypeError as exc:
                raise InvalidRequestError(f"bad reasoning part {dict(part)!r}: {exc}") from None
        else:
            raise InvalidRequestError(f"a reasoning part must be a ReasoningPart, not {type(part).__name__}")
    return tuple(out)


def reasoning_text(parts: Sequence[ReasoningPart]) -> Optional[str]:
    """The readable text of reasoning ``parts`` joined, or None when none has text."""
    texts = [p.text for p in parts if p.text]
    return "".join(texts) if texts else None


@value
class Citation:
    """A source the model cited for a span of its answer, as the provider gave it.

    ``format`` names the wire format it came from; ``kind`` is the provider's own name for it:
    Anthropic ``char_location``, ``page_location``, ``content_block_location``,
    ``web_search_result_location``, ``search_result_location``; OpenAI ``url_citation``; Gemini
    ``grounding`` (one per source of a ``groundingSupports`` entry) and ``citation_source``
    (``citationMetadata``); Cohere ``TEXT_CONTENT``, ``THINKING_CONTENT``... ``start``/``end`` are
    character offsets into the answer text (``text[start:end]`` is the cited span; for Anthropic,
    the text block the citation is attached to), None when the format gives none.
    ``cited_text`` is the source's text the citation quotes (Anthropic), ``url``/``title`` the
    source's address and title, ``document_index``/``document_title`` the source document (of
    the request's documents, or of the grounding sources) when given. ``raw`` is the provider's
    own object, so nothing is lost; an Anthropic citation goes back as it came when its
    assistant message is replayed (``index``: its text block's position among the blocks).
    """

    format: str
    kind: str
    cited_text: Optional[str] = None
    url: Optional[str] = None
    title: Optional[str] = None
    start: Optional[int] = None
    end: Optional[int] = None
    document_index: Optional[int] = None
    document_title: Optional[str] = None
    index: Optional[int] = None
    raw: Mapping[str, Any] = attrs.field(factory=dict, hash=False)


@value
class ServerToolPart:
    """A tool the provider ran itself, kept on the assistant ``Message`` in its place: Anthropic
    ``server_tool_use`` / ``mcp_tool_use`` (``name``, ``input``) and their results
    (``web_search_tool_result``, ``web_fetch_tool_result``, ``code_execution_tool_result``,
    ``mcp_tool_result``...: ``id`` is the use they answer, ``content`` what the tool returned);
    Gemini's search grounding (``type`` ``"grounding_metadata"``, ``name`` ``"google_search"``,
    ``input`` ``{"queries": webSearchQueries}``).

    ``type`` is the provider's block type and ``raw`` the block as received. Like reasoning parts,
    an Anthropic part is sent back exactly as it came when its message is replayed to the
    Anthropic format (``index``: its position among the message's blocks; ``offset``: how many
    characters of the answer text came before it) and dropped for every other format.
    """

    format: str
    type: str
    id: Optional[str] = None
    name: Optional[str] = None
    input: Any = attrs.field(default=None, hash=False)
    raw: Mapping[str, Any] = attrs.field(factory=dict, hash=False)
    index: Optional[int] = None
    offset: int = 0

    @property
    def content(self) -> Any:
        """What the tool returned (a result block's ``content``), or None for a use block."""
        return self.raw.get("content") if isinstance(self.raw, Mapping) else None


def _to_parts(value: Any, cls: Any, what: str) -> tuple[Any, ...]:
    if not value:
        return ()
    out = []
    for part in value:
        if isinstance(part, cls):
            out.append(part)
        elif isinstance(part, Mapping):
            try:
                out.append(cls(**part))
            except TypeError as exc:
                raise InvalidRequestError(f"bad {what} {dict(part)!r}: {exc}") from None
        else:
            raise InvalidRequestError(f"a {what} must be a {cls.__name__}, not {type(part).__name__}")
    return tuple(out)


def _to_citations(value: Any) -> tuple[Citation, ...]:
    return _to_parts(value, Citation, "citation")


def _to_server_tool_parts(value: Any) -> tuple[ServerToolPart, ...]:
    return _to_parts(value, ServerToolPart, "server tool part")


MessageContent = Union[str, Content, tuple[Content, ...], None]


def _to_content(value: Any) -> MessageContent:
    if value is None or isinstance(value, (str, Content)):
        return value
    if isinstance(value, Mapping):
        return _content_part_from_dict(value)
    if isinstance(value, (list, tuple)):
        parts = tuple(_to_content_part(v) for v in value)
        return parts
    raise InvalidRequestError(f"message content must be str, Content or a list of them, not {type(value).__name__}")


def _to_content_part(value: Any) -> Content:
    if isinstance(value, Content):
        return value
    if isinstance(value, str):
        return Content.text(value)
    if isinstance(value, Mapping):
        return _content_part_from_dict(value)
    raise InvalidRequestError(f"unsupported content part {type(value).__name__}")


def _content_part_from_dict(d: Mapping[str, Any]) -> Content:
    kind = d.get("type")
    if kind == "text":
        return Content.text(d.get("text", ""), cache_control=d.get("cache_control"))
    if kind == "image_url":
        image = d.get("image_url")
        url = image.get("url") if isinstance(image, Mapping) else image
        if not isinstance(url, str):
            raise InvalidRequestError("image_url part without a url")
        detail = image.get("detail") if isinstance(image, Mapping) else None
        return Content.image_url(url, detail, cache_control=d.get("cache_control"))
    if kind == "input_audio":
        audio = d.get("input_audio")
        if not isinstance(audio, Mapping):
            raise InvalidRequestError("input_audio part without input_audio data")
        return Content.audio_base64(audio.get("data", ""), audio.get("format", ""), cache_control=d.get("cache_control"))
    if kind == "file":
        return _file_part_from_dict(d.get("file"), d.get("cache_control"))
    raise InvalidRequestError(f"unsupported content part type {kind!r}")


def _file_part_from_dict(f: Any, cache_control: Any) -> Content:
    """OpenAI's ``file`` part (``file_data`` as a ``data:`` URL or bare base64 of a PDF, or ``file_id``), or ailib's ``file_url``."""
    if not isinstance(f, Mapping):
        raise InvalidRequestError("file part without a file object")
    if isinstance(f.get("file_data"), str):
        data = f["file_data"]
        if data.startswith("data:"):
            header, _, data = data.partition(",")
            return Content.file_base64(data, header[5:].split(";")[0] or "application/pdf", f.get("filename"), cache_control=cache_control)
        return Content.file_base64(data, "application/pdf", f.get("filename"), cache_control=cache_control)
    if isinstance(f.get("file_id"), str):
        return Content.file_id(f["file_id"], filename=f.get("filename"), cache_control=cache_control)
    if isinstance(f.get("file_url"), str):
        return Content.file_url(f["file_url"], cache_control=cache_control)
    raise InvalidRequestError("file part needs file_data, file_id or file_url")


def _to_tool_calls(value: Any) -> Optional[tuple[ToolCall, ...]]:
    if value is None:
        return None
    out = []
    for tc in value:
        if isinstance(tc, ToolCall):
            out.append(tc)
        elif isinstance(tc, Mapping):  # OpenAI shape
            fn = tc.get("function") or {}
            args = fn.get("arguments", tc.get("arguments", {}))
            if isinstance(args, str):
                try:
                    args = json.loads(args) if args.strip() else {}
                except ValueError:
                    pass  # not JSON: kept as the raw text, as a decoded answer keeps it, and sent back as it came
            out.append(ToolCall(str(tc.get("id", "")), str(fn.get("name", tc.get("name", ""))), args))
        else:
            raise InvalidRequestError(f"unsupported tool call {type(tc).__name__}")
    return tuple(out)


@value
class Message:
    """One chat message. Build with ``Message.user(..)``, ``.system``, ``.assistant``, ``.tool``."""

    role: Role = attrs.field(converter=_to_role)
    content: MessageContent = attrs.field(default=None, converter=_to_content)
    name: Optional[str] = None
    tool_calls: Optional[tuple[ToolCall, ...]] = attrs.field(default=None, converter=_to_tool_calls)
    tool_call_id: Optional[str] = None
    # The model's reasoning (thinking blocks, thought parts and signatures) as the provider sent
    # it; sent back only to the format that produced it. Empty for every message but a decoded answer.
    reasoning_parts: tuple[ReasoningPart, ...] = attrs.field(default=(), converter=_to_reasoning_parts, kw_only=True)
    # The sources the answer cites (offsets into its text), and the tools the provider ran
    # itself (web search, code execution...) in their place; both only on a decoded answer.
    citations: tuple[Citation, ...] = attrs.field(default=(), converter=_to_citations, kw_only=True)
    server_tool_parts: tuple[ServerToolPart, ...] = attrs.field(default=(), converter=_to_server_tool_parts, kw_only=True)

    def __attrs_post_init__(self) -> None:
        # Only an assistant message may lack content (one that only calls tools, or a decoded
        # answer); anything else would go out as "content": null. See ChatCompletionRequest.
        if self.content is None and self.role is not Role.ASSISTANT:
            raise InvalidRequestError(f"a {self.role.value} message needs content (a string, a Content or a list of them), got None")

    @classmethod
    def system(cls, content: Any) -> Message:
        """A system message: instructions for the model."""
        return cls(Role.SYSTEM, content)

    @classmethod
    def user(cls, content: Any, name: Optional[str] = None) -> Message:
        """A user message, optionally from the participant ``name``."""
        return cls(Role.USER, content, name)

    @classmethod
    def assistant(
        cls,
        content: Any = None,
        tool_calls: Optional[Sequence[ToolCall]] = None,
        *,
        reasoning_parts: Sequence[ReasoningPart] = (),
        citations: Sequence[Citation] = (),
        server_tool_parts: Sequence[ServerToolPart] = (),
    ) -> Message:
        """An assistant message: the model's earlier answer (text, ``tool_calls``, or both), to replay in a conversation;
        ``reasoning_parts``, ``citations`` and ``server_tool_parts`` (from the answer's message) go back to the
        format that produced them when it takes them (Anthropic), and are dropped for the others."""
        return cls(
            Role.ASSISTANT,
            content,
            tool_calls=tool_calls,
            reasoning_parts=reasoning_parts,
            citations=citations,
            server_tool_parts=server_tool_parts,
        )

    @classmethod
    def tool(cls, tool_call_id: str, content: Any) -> Message:
        """A tool message: the result ``content`` of the tool call ``tool_call_id`` (a ``ToolCall.id``), sent back to the model."""
        return cls(Role.TOOL, content, tool_call_id=tool_call_id)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Message:
        """Accept an OpenAI-style message dict."""
        if "role" not in d:
            raise InvalidRequestError("message dict has no 'role'")
        unknown = set(d) - {"role", "content", "name", "tool_calls", "tool_call_id", "reasoning_parts", "citations", "server_tool_parts"}
        if unknown:
            raise InvalidRequestError(f"message dict has unknown keys {sorted(unknown)}")
        return cls(
            d["role"],
            d.get("content"),
            d.get("name"),
            d.get("tool_calls"),
            d.get("tool_call_id"),
            reasoning_parts=d.get("reasoning_parts"),
            citations=d.get("citations"),
            server_tool_parts=d.get("server_tool_parts"),
        )

    @property
    def reasoning(self) -> Optional[str]:
        """The readable reasoning text of the message (thinking, thoughts) joined, or None."""
        return reasoning_text(self.reasoning_parts) if self.reasoning_parts else None

    def parts(self) -> tuple[Content, ...]:
        """The content as a tuple of parts (a string becomes one text part)."""
        c = self.content
        if c is None:
            return ()
        if isinstance(c, str):
            return (Content("text", c),)
        if isinstance(c, Content):
            return (c,)
        return c

    def text(self) -> str:
        """All text parts joined."""
        c = self.content
        if isinstance(c, str):
            return c
        return "".join(p.as_text() for p in self.parts() if p.is_text)

    def to_dict(self) -> dict[str, Any]:
        """OpenAI-style dict (used for checkpoints and the CLI)."""
        d: dict[str, Any] = {"role": self.role.value}
        c = self.content
        if c is None or isinstance(c, str):
            d["content"] = c
        else:
            d["content"] = [p.to_dict() for p in self.parts()]
        if self.name:
            d["name"] = self.name
        if self.tool_calls:
            d["tool_calls"] = [
                {"id": t.id, "type": "function", "function": {"name": t.name, "arguments": arguments_json(t.arguments)}}
                for t in self.tool_calls
            ]
        if self.tool_call_id:
            d["tool_call_id"] = self.tool_call_id
        if self.reasoning_parts:  # ailib's own key (checkpoints, cache entries); never sent as is
            d["reasoning_parts"] = [attrs.asdict(p) for p in self.reasoning_parts]
        if self.citations:  # ailib's own keys too
            d["citations"] = [attrs.asdict(c) for c in self.citations]
        if self.server_tool_parts:
            d["server_tool_parts"] = [attrs.asdict(p) for p in self.server_tool_parts]
        return d
