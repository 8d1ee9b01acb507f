"""Citations end to end through MockProvider, in all four formats: responses and streams carry
the cited spans (offsets into the answer text, which citations never change), and the
assistant message of the answer keeps them for the replay."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ailib import AiClient, AiClientBuilder, ChatCompletionRequest, Message
from ailib.testing import Fault, MockProvider, ReplyCitation

KEY = "sk-test-citations-0123456789abcdef"
# Non-ASCII, so a format that counts bytes (Gemini) must be turned into characters.
TEXT = "Zürich liegt am Zürichsee. Es hat 420 000 Einwohner. Mehr weiß ich nicht."
CITES = (
    ReplyCitation(0, 26, "https://de.wikipedia.org/wiki/Z%C3%BCrich", "Zürich – Wikipedia", "Zürich ist die größte Stadt der Schweiz."),
    ReplyCitation(27, 52, "https://www.stadt-zuerich.ch/", "Stadt Zürich", "Bevölkerung: 420 217"),
)
# Each format's own name for the kind of a web citation.
KINDS = {
    "anthropic": "web_search_result_location",
    "openai": "url_citation",
    "gemini": "grounding",
    "cohere": "TEXT_CONTENT",
    "openai_responses": "url_citation",
}


@pytest.fixture(params=("anthropic", "gemini", "openai", "cohere", "openai_responses"))
def server(request: pytest.FixtureRequest) -> Iterator[MockProvider]:
    with MockProvider(request.param, api_key=KEY) as m:
        yield m


@pytest.fixture
def ai(server: MockProvider) -> Iterator[AiClient]:
    c = AiClientBuilder(server.provider(api_key=KEY)).build()
    yield c
    c.close()


def ask() -> ChatCompletionRequest:
    return ChatCompletionRequest("auto", [Message.user("Wie viele Einwohner hat Zürich?")])


def _spans(citations: tuple) -> list[tuple]:
    return [(c.kind, TEXT[c.start : c.end], c.url, c.title) for c in citations]


EXPECTED = [(TEXT[:26], CITES[0].url, CITES[0].title), (TEXT[27:52], CITES[1].url, CITES[1].title)]


def test_a_response_carries_its_citations(server: MockProvider, ai: AiClient) -> None:
    """.citations are the cited spans of .text with their sources, in the format's own kind; the text is unchanged."""
    server.enqueue(Fault.ok(TEXT, citations=CITES, web_search="Zürich Einwohner"))
    resp = ai.chat_completion(ask())
    kind = KINDS[server.format.name]
    assert resp.text == TEXT
    assert _spans(resp.citations) == [(kind, *e) for e in EXPECTED]
    assert resp.citations == resp.choices[0].message.citations
    if server.format.name == "anthropic":
        assert [c.cited_text for c in resp.citations] == [c.cited_text for c in CITES]


def test_a_stream_delivers_citations_and_collects_them(server: MockProvider, ai: AiClient) -> None:
    """Chunks carry each citation once; ChatStream.citations and collect() have them all, equal to the non-streamed answer's."""
    server.enqueue(
        Fault.ok(TEXT, citations=CITES, web_search="Zürich Einwohner"), Fault.ok(TEXT, citations=CITES, web_search="Zürich Einwohner")
    )
    whole = ai.chat_completion(ask())
    with ai.chat_completion_stream(ask()) as stream:
        delivered = [c for chunk in stream for c in chunk.citations]
        assert stream.text == TEXT
        assert stream.citations == tuple(delivered) == whole.citations
        resp = stream.collect()
    assert resp.citations == whole.citations and resp.text == TEXT
    assert resp.server_tool_parts == whole.server_tool_parts == stream.server_tool_parts


def test_server_tools_show_the_search(server: MockProvider, ai: AiClient) -> None:
    """A web search the model ran is a server-tool part where the format reports one (Anthropic's blocks, Gemini's grounding queries)."""
    server.enqueue(Fault.ok(TEXT, citations=CITES, web_search="Zürich Einwohner"))
    parts = ai.chat_completion(ask()).server_tool_parts
    name = server.format.name
    if name == "anthropic":
        assert [(p.type, p.name) for p in parts] == [("server_tool_use", "web_search"), ("web_search_tool_result", None)]
        assert parts[0].input == {"query": "Zürich Einwohner"}
        assert [r["url"] for r in parts[1].content] == [c.url for c in CITES]
    elif name == "gemini":
        assert [(p.type, p.name, p.input) for p in parts] == [("grounding_metadata", "google_search", {"queries": ["Zürich Einwohner"]})]
    else:
        assert parts == ()


def test_an_answer_without_citations_has_none(server: MockProvider, ai: AiClient) -> None:
    """No citations: empty tuples on the response, the stream and the message."""
    server.enqueue(Fault.ok("Plain."), Fault.ok("Plain."))
    resp = ai.chat_completion(ask())
    assert resp.citations == () and resp.server_tool_parts == ()
    with ai.chat_completion_stream(ask()) as stream:
        assert all(not c.citations for c in stream)
        assert stream.citations == () and stream.collect().choices[0].message.citations == ()
