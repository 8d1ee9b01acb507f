"""Audio and file/PDF parts: the exact block each format sends, refusals before sending for what a
format cannot take, and the OpenAI-style dict form (checkpoints, ``messages`` as dicts)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import attrs
import pytest

from ailib import ChatCompletionRequest, Message
from ailib.errors import InvalidRequestError
from ailib.providers._formats import get_wire_format
from ailib.providers._registry import PROVIDERS, Provider, ProviderSpec
from ailib.types import Content, Role

PROVIDER_OF = {"openai": Provider.OPENAI, "anthropic": Provider.ANTHROPIC, "gemini": Provider.GEMINI, "cohere": Provider.COHERE}
PDF = base64.b64encode(b"%PDF-1.4\n%mock\n").decode()
WAV = base64.b64encode(b"RIFF$\x00\x00\x00WAVEfmt ").decode()
NOTE = "Meeting notes: ship on Friday."


def spec_for(fmt: str) -> ProviderSpec:
    return attrs.evolve(PROVIDERS[PROVIDER_OF[fmt]], images=True)


def encode(fmt: str, *messages: Message, provider: Any = None) -> dict[str, Any]:
    spec = PROVIDERS[provider] if provider is not None else spec_for(fmt)
    wire = get_wire_format(fmt)
    request = ChatCompletionRequest("m", list(messages))
    wire.check_supported(request, spec, stream=False)
    return wire.encode(request, "m", stream=False, spec=spec)


def refused(fmt: str, *messages: Message, provider: Any = None) -> InvalidRequestError:
    """The error raised before sending: by check_supported and by encode alone (batch uploads)."""
    spec = PROVIDERS[provider] if provider is not None else spec_for(fmt)
    wire = get_wire_format(fmt)
    request = ChatCompletionRequest("m", list(messages))
    with pytest.raises(InvalidRequestError) as checked:
        wire.check_supported(request, spec, stream=False)
    with pytest.raises(InvalidRequestError) as encoded:
        wire.encode(request, "m", stream=False, spec=spec)
    assert str(checked.value) == str(encoded.value)
    return checked.value


def user_parts(fmt: str, body: dict[str, Any]) -> Any:
    if fmt == "gemini":
        return body["contents"][0]["parts"]
    return body["messages"][0]["content"]


# -- the constructors ------------------------------------------------------------------------------


def test_audio_formats_are_normalised_to_gemini_mime_types() -> None:
    """A format name or MIME type (including the x-wav/mpeg aliases files carry) becomes audio/<name>; OpenAI's format is the subtype."""
    assert [Content.audio_base64(WAV, f).media_type for f in ("wav", "WAV", "audio/x-wav", "mp3", "audio/mpeg", "flac")] == [
        "audio/wav",
        "audio/wav",
        "audio/wav",
        "audio/mp3",
        "audio/mp3",
        "audio/flac",
    ]
    assert Content.audio_base64(WAV, "audio/mpeg").audio_format == "mp3"


@pytest.mark.parametrize(
    "make",
    [
        lambda: Content.audio_base64("", "wav"),
        lambda: Content.audio_base64(WAV, ""),
        lambda: Content.audio_base64(WAV, "image/png"),
        lambda: Content.file_base64(PDF, "pdf"),
        lambda: Content.file_base64(PDF, "application/pdf", ""),
        lambda: Content.file_url(""),
        lambda: Content.file_id(""),
    ],
)
def test_bad_parts_are_refused_at_construction(make: Any) -> None:
    """Empty data, an audio format that is not audio, a media type without a slash, an empty name, URL or id raise InvalidRequestError."""
    with pytest.raises(InvalidRequestError):
        make()


def test_files_read_from_disk(tmp_path: Path) -> None:
    """Content.file reads the bytes as base64, guesses the type and keeps the name; audio_file guesses the audio type."""
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(b"%PDF-1.4\n%mock\n")
    wav = tmp_path / "hello.wav"
    wav.write_bytes(b"RIFF$\x00\x00\x00WAVEfmt ")
    assert Content.file(pdf) == Content.file_base64(PDF, "application/pdf", "report.pdf")
    assert Content.audio_file(wav) == Content.audio_base64(WAV, "wav")
    unknown = tmp_path / "data.unknownext"
    unknown.write_bytes(b"x")
    with pytest.raises(InvalidRequestError, match="media_type"):
        Content.file(unknown)
    assert Content.file(unknown, "text/plain").media_type == "text/plain"
    with pytest.raises(InvalidRequestError, match="cannot read"):
        Content.file(tmp_path / "missing.pdf")
    with pytest.raises(InvalidRequestError, match="does not look like audio"):
        Content.audio_file(pdf)


def test_a_data_url_file_is_an_inline_file() -> None:
    """Content.file_url with a data: URL is the inline file it holds."""
    assert Content.file_url(f"data:application/pdf;base64,{PDF}") == Content.file_base64(PDF, "application/pdf")


def test_message_text_leaves_out_audio_and_files() -> None:
    """Message.text() joins only the text parts; as_text() on a file names what it is."""
    m = Message.user([Content.text("a"), Content.file_base64(PDF), Content.audio_base64(WAV, "wav"), Content.text("b")])
    assert m.text() == "ab"
    with pytest.raises(InvalidRequestError, match=r"an inline file \(application/pdf\) has no text form"):
        Content.file_base64(PDF).as_text()


@pytest.mark.parametrize(
    "part",
    [
        Content.audio_base64(WAV, "mp3"),
        Content.file_base64(PDF, "application/pdf", "a.pdf"),
        Content.file_base64(PDF),
        Content.file_id("file-abc"),
        Content.file_id("file-abc", filename="a.pdf"),
        Content.file_url("https://example.com/a.pdf"),
    ],
)
def test_dict_form_round_trips(part: Content) -> None:
    """A message with audio or a file survives to_dict/from_dict (checkpoints, batch files, messages given as dicts)."""
    m = Message.user([Content.text("see"), part])
    back = Message.from_dict(m.to_dict())
    expected = part if part.kind != "file_base64" or part.filename else attrs.evolve(part, filename="document.pdf")
    assert back.parts() == (Content.text("see"), expected)


def test_openai_style_dicts_are_accepted() -> None:
    """OpenAI's input_audio and file parts, given as dicts, become audio and file parts."""
    m = Message.from_dict(
        {
            "role": "user",
            "content": [
                {"type": "input_audio", "input_audio": {"data": WAV, "format": "wav"}},
                {"type": "file", "file": {"file_data": f"data:application/pdf;base64,{PDF}", "filename": "r.pdf"}},
                {"type": "file", "file": {"file_id": "file-abc"}},
            ],
        }
    )
    assert m.parts() == (
        Content.audio_base64(WAV, "wav"),
        Content.file_base64(PDF, "application/pdf", "r.pdf"),
        Content.file_id("file-abc"),
    )


# -- OpenAI ------------------------------------------------------------------------------------------


def test_openai_parts() -> None:
    """input_audio with its format; file with file_data as a data: URL and a filename (default document.pdf); file_id."""
    body = encode(
        "openai",
        Message.user(
            [
                Content.audio_base64(WAV, "wav"),
                Content.file_base64(PDF, "application/pdf", "report.pdf"),
                Content.file_base64(PDF),
                Content.file_id("file-abc"),
            ]
        ),
    )
    assert user_parts("openai", body) == [
        {"type": "input_audio", "input_audio": {"data": WAV, "format": "wav"}},
        {"type": "file", "file": {"filename": "report.pdf", "file_data": f"data:application/pdf;base64,{PDF}"}},
        {"type": "file", "file": {"filename": "document.pdf", "file_data": f"data:application/pdf;base64,{PDF}"}},
        {"type": "file", "file": {"file_id": "file-abc"}},
    ]


def test_openai_refuses_file_urls_and_other_audio_formats() -> None:
    """A file URL, and audio OpenAI does not take (flac), are refused before sending, naming the part."""
    err = refused("openai", Message.user([Content.file_url("https://example.com/a.pdf")]))
    assert "openai does not support a file URL" in str(err) and err.provider == "openai"
    err = refused("openai", Message.user([Content.audio_base64(WAV, "flac")]))
    assert "audio (audio/flac)" in str(err) and "wav and mp3" in str(err)


def test_openai_compatible_services_get_any_audio_format() -> None:
    """An OpenAI-compatible service gets the audio format as given (each sets its own list)."""
    body = encode("openai", Message.user([Content.audio_base64(WAV, "flac")]), provider=Provider.QWEN)
    assert user_parts("openai", body) == [{"type": "input_audio", "input_audio": {"data": WAV, "format": "flac"}}]


@pytest.mark.parametrize("fmt", ["openai", "anthropic", "gemini"])
@pytest.mark.parametrize("role", [Role.SYSTEM, Role.TOOL])
def test_files_outside_user_messages_are_refused(fmt: str, role: Role) -> None:
    """Audio in a system or tool message is refused (never silently dropped), naming the role."""
    message = Message(role, [Content.text("x"), Content.audio_base64(WAV, "wav")], tool_call_id="c1" if role is Role.TOOL else None)
    calls = [Message.user("hi"), Message.assistant(None, [{"id": "c1", "function": {"name": "f", "arguments": "{}"}}])]
    err = refused(fmt, *(calls if role is Role.TOOL else []), message)
    assert f"{fmt} does not support audio (audio/wav)" in str(err)


# -- Anthropic -------------------------------------------------------------------------------------


def test_anthropic_documents() -> None:
    """PDFs as base64/url/file document sources, plain text as a text source, an image file as an image block, cache_control kept."""
    text_b64 = base64.b64encode(NOTE.encode()).decode()
    body = encode(
        "anthropic",
        Message.user(
            [
                Content.file_base64(PDF, "application/pdf", "report.pdf", cache_control={"type": "ephemeral"}),
                Content.file_base64(text_b64, "text/plain"),
                Content.file_url("https://example.com/a.pdf"),
                Content.file_id("file_011CNha8iCJcU1wXNR6q4V8w"),
                Content.file_id("file_img", "image/png"),
                Content.file_base64("iVBORw0KGgo=", "image/png"),
                Content.text("Summarise."),
            ]
        ),
    )
    assert user_parts("anthropic", body) == [
        {
            "type": "document",
            "source": {"type": "base64", "media_type": "application/pdf", "data": PDF},
            "cache_control": {"type": "ephemeral"},
        },
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": NOTE}},
        {"type": "document", "source": {"type": "url", "url": "https://example.com/a.pdf"}},
        {"type": "document", "source": {"type": "file", "file_id": "file_011CNha8iCJcU1wXNR6q4V8w"}},
        {"type": "image", "source": {"type": "file", "file_id": "file_img"}},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
        {"type": "text", "text": "Summarise."},
    ]


def test_anthropic_tool_results_carry_documents() -> None:
    """A tool result holding a PDF goes as blocks with the document in it."""
    call = {"id": "c1", "function": {"name": "fetch", "arguments": "{}"}}
    body = encode("anthropic", Message.user("get it"), Message.assistant(None, [call]), Message.tool("c1", [Content.file_base64(PDF)]))
    assert body["messages"][2]["content"] == [
        {
            "type": "tool_result",
            "tool_use_id": "c1",
            "content": [{"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": PDF}}],
        }
    ]


@pytest.mark.parametrize(
    "message, said",
    [
        (Message.user([Content.audio_base64(WAV, "wav")]), "anthropic does not support audio (audio/wav) (Anthropic takes no audio input)"),
        (Message.user([Content.file_base64(PDF, "application/msword")]), "documents are PDF or plain text"),
        (Message.user([Content.file_url("https://example.com/a.docx", "application/msword")]), "a URL source takes a PDF or an image"),
        (Message.user([Content.file_base64(base64.b64encode(b"\xff\xfe").decode(), "text/plain")]), "not base64 of UTF-8 text"),
        (Message.assistant([Content.file_base64(PDF)]), "in assistant messages"),
    ],
    ids=["audio", "word", "word-url", "bad-text", "assistant"],
)
def test_anthropic_refusals(message: Message, said: str) -> None:
    """Audio, document types Anthropic cannot read, and files outside user messages are refused before sending."""
    messages = [Message.user("hi"), message] if message.role is Role.ASSISTANT else [message]
    assert said in str(refused("anthropic", *messages))


# -- Gemini ----------------------------------------------------------------------------------------


def test_gemini_inline_and_file_data() -> None:
    """Inline audio and files → inlineData {mimeType, data}; file URLs and ids → fileData {mimeType, fileUri} (mimeType when known)."""
    uri = "https://generativelanguage.googleapis.com/v1beta/files/abc123"
    body = encode(
        "gemini",
        Message.user(
            [
                Content.audio_base64(WAV, "wav"),
                Content.file_base64(PDF),
                Content.file_id(uri, "application/pdf"),
                Content.file_url("https://www.youtube.com/watch?v=9hE5-98ZeCg"),
                Content.text("Describe."),
            ]
        ),
    )
    assert user_parts("gemini", body) == [
        {"inlineData": {"mimeType": "audio/wav", "data": WAV}},
        {"inlineData": {"mimeType": "application/pdf", "data": PDF}},
        {"fileData": {"mimeType": "application/pdf", "fileUri": uri}},
        {"fileData": {"fileUri": "https://www.youtube.com/watch?v=9hE5-98ZeCg"}},
        {"text": "Describe."},
    ]


# -- Cohere ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "part", [Content.audio_base64(WAV, "wav"), Content.file_base64(PDF), Content.file_url("https://x/a.pdf"), Content.file_id("f")]
)
def test_cohere_refuses_audio_and_files(part: Content) -> None:
    """Cohere's chat messages hold text and images only: audio and files are refused before sending, pointing at documents."""
    err = refused("cohere", Message.user([Content.text("hi"), part]))
    assert str(err).startswith(f"cohere does not support {part.label}") and "documents" in str(err)
