"""Audio/file parts, n > 1 and Gemini cachedContent across a real loopback server (MockProvider):
what reaches the server, every choice back in bodies and streams, and refusals that send nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ailib import AiClient, ChatCompletionRequest, Message
from ailib.errors import InvalidRequestError
from ailib.testing import MockProvider
from ailib.types import Content

KEY = "sk-parts-0123456789"
PDF = "JVBERi0xLjQKJW1vY2sK"


@pytest.fixture
def gemini() -> Iterator[MockProvider]:
    with MockProvider("gemini", api_key=KEY) as m:
        yield m


def test_gemini_n_gives_every_candidate_in_a_body(gemini: MockProvider) -> None:
    """n=2 reaches Gemini as candidateCount 2, and the answer has both candidates as choices 0 and 1."""
    with AiClient(gemini.provider(api_key=KEY)) as client:
        resp = client.chat_completion(ChatCompletionRequest("gemini-2.5-flash", [Message.user("hi")], n=2))
    assert gemini.chat_requests[0].json["generationConfig"] == {"candidateCount": 2}
    assert [(c.index, c.message.content) for c in resp.choices] == [(0, resp.text), (1, resp.text)] and resp.text


def test_gemini_n_gives_every_candidate_in_a_stream(gemini: MockProvider) -> None:
    """A streamed n=2 answer: chunks of both candidates by choice_index, and collect() gives both choices with their text."""
    with AiClient(gemini.provider(api_key=KEY)) as client:
        with client.chat_completion_stream(ChatCompletionRequest("gemini-2.5-flash", [Message.user("hi")], n=2)) as stream:
            chunks = list(stream)
            resp = stream.collect()
    by_choice = {i: "".join(c.delta_text for c in chunks if c.choice_index == i) for i in (0, 1)}
    assert by_choice[0] == by_choice[1] == stream.text and stream.text
    assert [(c.index, c.message.content, c.finish_reason) for c in resp.choices] == [(0, stream.text, "stop"), (1, stream.text, "stop")]
    assert resp.usage is not None


def test_gemini_cached_content_reaches_the_server(gemini: MockProvider) -> None:
    """cached_content is sent as the top-level cachedContent."""
    with AiClient(gemini.provider(api_key=KEY)) as client:
        client.chat_completion(ChatCompletionRequest("gemini-2.5-flash", [Message.user("hi")], cached_content="cachedContents/abc"))
    assert gemini.chat_requests[0].json["cachedContent"] == "cachedContents/abc"


def test_openai_n_keyword_gives_every_choice() -> None:
    """n=3 for OpenAI is the body's n, and all three choices come back."""
    with MockProvider("openai", api_key=KEY) as mock, AiClient(mock.provider(api_key=KEY)) as client:
        resp = client.chat_completion(ChatCompletionRequest("gpt-4o-mini", [Message.user("hi")], n=3))
        assert mock.chat_requests[0].json["n"] == 3
    assert [c.index for c in resp.choices] == [0, 1, 2]


@pytest.mark.parametrize(
    "fmt, request_",
    [
        ("anthropic", ChatCompletionRequest("claude-sonnet-4-5", [Message.user([Content.audio_base64("UklGRg==", "wav")])])),
        ("anthropic", ChatCompletionRequest("claude-sonnet-4-5", [Message.user("hi")], n=2)),
        ("cohere", ChatCompletionRequest("command-a", [Message.user([Content.file_base64(PDF)])])),
        ("openai", ChatCompletionRequest("gpt-4o", [Message.user([Content.file_url("https://x/a.pdf")])])),
        ("openai", ChatCompletionRequest("gpt-4o", [Message.user("hi")], cached_content="cachedContents/abc")),
    ],
    ids=["anthropic-audio", "anthropic-n", "cohere-file", "openai-file-url", "openai-cached-content"],
)
def test_refused_requests_send_nothing(fmt: str, request_: ChatCompletionRequest) -> None:
    """What a format cannot take raises InvalidRequestError and no request reaches the server, streamed or not."""
    with MockProvider(fmt, api_key=KEY) as mock, AiClient(mock.provider(api_key=KEY)) as client:
        with pytest.raises(InvalidRequestError, match="nothing was sent"):
            client.chat_completion(request_)
        with pytest.raises(InvalidRequestError, match="nothing was sent"):
            with client.chat_completion_stream(request_) as s:
                list(s)
        assert mock.chat_requests == []


def test_pdf_and_audio_reach_gemini_inline(gemini: MockProvider) -> None:
    """An inline PDF and audio reach the server as inlineData parts, beside the text."""
    parts = [Content.text("Summarise."), Content.file_base64(PDF), Content.audio_base64("UklGRg==", "mp3")]
    with AiClient(gemini.provider(api_key=KEY)) as client:
        client.chat_completion(ChatCompletionRequest("gemini-2.5-flash", [Message.user(parts)]))
    assert gemini.chat_requests[0].json["contents"][0]["parts"] == [
        {"text": "Summarise."},
        {"inlineData": {"mimeType": "application/pdf", "data": PDF}},
        {"inlineData": {"mimeType": "audio/mp3", "data": "UklGRg=="}},
    ]
