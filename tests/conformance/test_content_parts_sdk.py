"""Audio and file parts: what ailib sends for a user turn holding audio, PDFs and uploaded files
is what each official SDK sends for the same content (the SDK's typed parts, sent to MockProvider
and compared with ailib's body after key sorting)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ailib import AiClient, AiClientBuilder, ChatCompletionRequest, ConnectionOptions, Message
from ailib.testing import MockProvider
from ailib.types import Content

from .conftest import KEY

PDF_BYTES = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"
WAV_BYTES = b"RIFF$\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00"
PDF = base64.b64encode(PDF_BYTES).decode()
WAV = base64.b64encode(WAV_BYTES).decode()
NOTE = "Meeting notes: ship on Friday."


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False)


@pytest.fixture
def mock(request: pytest.FixtureRequest) -> Iterator[MockProvider]:
    with MockProvider(request.param, api_key=KEY) as m:
        yield m


def _ailib_user_turn(mock: MockProvider, parts: list[Content], *, headers: Any = None, model: str = "m") -> Any:
    options = ConnectionOptions(api_key=KEY, extra_headers=headers) if headers else None
    builder = AiClientBuilder(mock.provider(api_key=KEY))
    if options is not None:
        builder = builder.with_connection_options(options)
    client: AiClient = builder.build()
    with client:
        client.chat_completion(ChatCompletionRequest(model, [Message.user(parts)], max_tokens=64))
    return mock.chat_requests[-1]


@pytest.mark.parametrize("mock", ["openai"], indirect=True)
def test_openai_audio_and_files_match_the_sdk(mock: MockProvider) -> None:
    """input_audio, an inline PDF (file_data data: URL with its filename) and a file id go out as openai-python sends its typed parts."""
    openai = pytest.importorskip("openai")
    content: list[Any] = [
        {"type": "text", "text": "Transcribe and summarise."},
        {"type": "input_audio", "input_audio": {"data": WAV, "format": "wav"}},
        {"type": "file", "file": {"filename": "report.pdf", "file_data": f"data:application/pdf;base64,{PDF}"}},
        {"type": "file", "file": {"file_id": "file-6F2ksmvXxt4VdoqmHRw6kL"}},
    ]
    sdk = openai.OpenAI(api_key=KEY, base_url=mock.base_url, max_retries=0, timeout=10)
    try:
        sdk.chat.completions.create(model="gpt-4o-audio-preview", messages=[{"role": "user", "content": content}])
    finally:
        sdk.close()
    theirs = mock.chat_requests[-1].json["messages"][0]["content"]
    parts = [
        Content.text("Transcribe and summarise."),
        Content.audio_base64(WAV, "wav"),
        Content.file_base64(PDF, "application/pdf", "report.pdf"),
        Content.file_id("file-6F2ksmvXxt4VdoqmHRw6kL"),
    ]
    ours = _ailib_user_turn(mock, parts).json["messages"][0]["content"]
    assert _canonical(ours) == _canonical(theirs)


@pytest.mark.parametrize("mock", ["anthropic"], indirect=True)
def test_anthropic_documents_match_the_sdk(mock: MockProvider, tmp_path: Path) -> None:
    """PDF (base64, URL, file id), plain-text documents and cache_control go out as anthropic's beta Files API call sends them, beta header included."""
    anthropic = pytest.importorskip("anthropic")
    content: list[Any] = [
        {
            "type": "document",
            "source": {"type": "base64", "media_type": "application/pdf", "data": PDF},
            "cache_control": {"type": "ephemeral"},
        },
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": NOTE}},
        {"type": "document", "source": {"type": "url", "url": "https://example.com/report.pdf"}},
        {"type": "document", "source": {"type": "file", "file_id": "file_011CNha8iCJcU1wXNR6q4V8w"}},
        {"type": "text", "text": "Summarise."},
    ]
    sdk = anthropic.Anthropic(api_key=KEY, base_url=mock.url, max_retries=0, timeout=10)
    try:
        sdk.beta.messages.create(
            model="claude-sonnet-4-5",
            max_tokens=64,
            messages=[{"role": "user", "content": content}],
            betas=["files-api-2025-04-14"],
        )
    finally:
        sdk.close()
    theirs = mock.chat_requests[-1]
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(PDF_BYTES)
    parts = [
        Content.file(pdf, cache_control={"type": "ephemeral"}),
        Content.file_base64(base64.b64encode(NOTE.encode()).decode(), "text/plain"),
        Content.file_url("https://example.com/report.pdf"),
        Content.file_id("file_011CNha8iCJcU1wXNR6q4V8w"),
        Content.text("Summarise."),
    ]
    ours = _ailib_user_turn(mock, parts, headers={"anthropic-beta": "files-api-2025-04-14"}, model="claude-sonnet-4-5")
    assert _canonical(ours.json["messages"]) == _canonical(theirs.json["messages"])
    assert ours.headers["anthropic-beta"] == theirs.headers["anthropic-beta"] == "files-api-2025-04-14"


@pytest.mark.parametrize("mock", ["gemini"], indirect=True)
def test_gemini_inline_data_and_file_data_match_the_sdk(mock: MockProvider) -> None:
    """Inline audio and PDF (inlineData) and an uploaded file's URI (fileData) go out as google-genai's Part.from_bytes / from_uri send them."""
    genai = pytest.importorskip("google.genai")
    from google.genai import types

    uri = "https://generativelanguage.googleapis.com/v1beta/files/abc123xyz"
    options = types.HttpOptions(base_url=mock.url, timeout=10_000, retry_options=types.HttpRetryOptions(attempts=1))
    client = genai.Client(api_key=KEY, http_options=options)
    contents = [
        types.Content(
            role="user",
            parts=[
                types.Part.from_bytes(data=WAV_BYTES, mime_type="audio/wav"),
                types.Part.from_bytes(data=PDF_BYTES, mime_type="application/pdf"),
                types.Part.from_uri(file_uri=uri, mime_type="application/pdf"),
                types.Part(text="Describe."),
            ],
        )
    ]
    client.models.generate_content(model="gemini-2.5-flash", contents=contents)
    theirs = mock.chat_requests[-1].json["contents"]
    parts = [Content.audio_base64(WAV, "wav"), Content.file_base64(PDF), Content.file_id(uri, "application/pdf"), Content.text("Describe.")]
    ours = _ailib_user_turn(mock, parts, model="gemini-2.5-flash").json["contents"]
    # google-genai holds inline data as bytes and sends it base64url-encoded; ailib sends the base64
    # it was given (standard alphabet). The same bytes, which Gemini accepts either way. And
    # google-genai 3.x names the fields inside inlineData/fileData in snake_case (``mime_type``,
    # ``file_uri``), ailib in lowerCamelCase as Gemini's REST reference does: protobuf's JSON
    # mapping reads both names of a field.
    assert "mimeType" in ours[0]["parts"][0]["inlineData"] and "fileUri" in ours[0]["parts"][2]["fileData"]
    assert _canonical(_decoded(ours)) == _canonical(_decoded(theirs))


def _camel(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k.split("_")[0] + "".join(w.title() for w in k.split("_")[1:]): _camel(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_camel(v) for v in obj]
    return obj


def _decoded(contents: list[Any]) -> list[Any]:
    out = []
    for turn in _camel(contents):
        parts = []
        for p in turn["parts"]:
            if "inlineData" in p:
                p = {"inlineData": {**p["inlineData"], "data": base64.urlsafe_b64decode(p["inlineData"]["data"]).hex()}}
            parts.append(p)
        out.append({**turn, "parts": parts})
    return out
