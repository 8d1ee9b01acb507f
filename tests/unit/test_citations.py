"""Citations and server-tool blocks decoded from each format's bodies and streams.

Recorded: vercel/ai's live Anthropic web-search body and stream and MCP body, and its Cohere
citations body (tests/fixtures/{anthropic,cohere}/replay/, each with a .source). The other shapes, where no
recording was found, are made up in the shape of each provider's documentation and SDK types
(each test says so).
"""

from __future__ import annotations

import json
from typing import Any

from ailib import ChatCompletionRequest, Citation, Message, ServerToolPart
from ailib._sse import SseEvent
from ailib.providers._registry import PROVIDERS, Provider
from ailib.providers.anthropic import WIRE_FORMAT as ANTHROPIC
from ailib.providers.cohere import WIRE_FORMAT as COHERE
from ailib.providers.gemini import WIRE_FORMAT as GEMINI
from ailib.providers.openai import WIRE_FORMAT as OPENAI

from ._recorded import FIXTURES, feed


def _body(fmt: str, name: str) -> Any:
    return json.loads((FIXTURES / fmt / name).read_text(encoding="utf-8"))


def _decode(wire: Any, data: Any) -> Any:
    return wire.decode(data, provider="p", model="m", headers={})


def _stream(wire: Any, events: list[Any]) -> list[Any]:
    decoder = wire.stream_decoder(provider="p", model="m")
    return [c for e in events for c in decoder.feed(SseEvent(None, json.dumps(e)) if not isinstance(e, SseEvent) else e)]


# -- Anthropic, recorded ----------------------------------------------------------------------------


def test_anthropic_recorded_body_citations_point_at_their_text_blocks() -> None:
    """vercel/ai's live web-search body: each text block's citations come with the block's span in the
    answer text, its url, title and cited_text; the text is the blocks joined, as before."""
    data = _body("anthropic", "replay/web_search.json")
    r = _decode(ANTHROPIC, data)
    blocks = data["content"]
    assert r.text == "".join(b["text"] for b in blocks if b["type"] == "text")
    assert [(c.index, c.kind) for c in r.citations] == [
        (6, "web_search_result_location"),
        (8, "web_search_result_location"),
        (10, "web_search_result_location"),
    ]
    for c in r.citations:
        assert r.text[c.start : c.end] == blocks[c.index]["text"]
        assert c.raw == blocks[c.index]["citations"][0]
    first = r.citations[0]
    assert (first.start, first.end) == (237, 431)
    assert first.url == "https://acecomments.mu.nu/?post=411647"
    assert first.title == "Daily Tech News 26 September 2024"
    assert first.cited_text.startswith("Daily Tech News 26 September 2024 \u00b7 Top Story Caroline Ellison")


def test_anthropic_recorded_body_keeps_server_tool_blocks_in_place() -> None:
    """The two web searches and their results are server-tool parts: type, id, name, input, raw block, block index and text offset."""
    data = _body("anthropic", "replay/web_search.json")
    parts = _decode(ANTHROPIC, data).server_tool_parts
    assert [(p.type, p.index, p.offset) for p in parts] == [
        ("server_tool_use", 0, 0),
        ("web_search_tool_result", 1, 0),
        ("server_tool_use", 3, 74),
        ("web_search_tool_result", 4, 74),
    ]
    assert parts[0].name == "web_search" and parts[0].input == {"query": "tech news today September 26 2024"}
    assert parts[1].id == parts[0].id == "srvtoolu_01Qxbje4duKBes3Nj42MkZug"
    assert parts[1].content == data["content"][1]["content"] and parts[1].raw == data["content"][1]
    assert parts[2].input == {"query": '"September 26 2024" tech news breaking'}


def test_anthropic_recorded_mcp_blocks_are_server_tool_parts() -> None:
    """vercel/ai's live MCP body: mcp_tool_use (name, input) and mcp_tool_result (content) are kept; the text is unchanged."""
    data = _body("anthropic", "replay/mcp.json")
    r = _decode(ANTHROPIC, data)
    use, result = r.server_tool_parts
    assert (use.type, use.name, use.input, use.raw["server_name"]) == ("mcp_tool_use", "echo", {"message": "hello world"}, "echo")
    assert (result.type, result.id, result.content) == ("mcp_tool_result", use.id, [{"type": "text", "text": "Tool echo: hello world"}])
    assert r.text == data["content"][2]["text"] and r.tool_calls == ()


def _recorded_stream_blocks() -> dict[int, list[Any]]:
    """Per content block of the recorded stream: [type, text, citations], read straight from the recording."""
    blocks: dict[int, list[Any]] = {}
    for line in (FIXTURES / "anthropic" / "replay" / "stream_web_search.txt").read_text(encoding="utf-8").splitlines():
        if not line.startswith("data: "):
            continue
        event = json.loads(line[6:])
        if event["type"] == "content_block_start":
            blocks[event["index"]] = [event["content_block"]["type"], "", []]
        elif event["type"] == "content_block_delta" and event["delta"]["type"] == "text_delta":
            blocks[event["index"]][1] += event["delta"]["text"]
        elif event["type"] == "content_block_delta" and event["delta"]["type"] == "citations_delta":
            blocks[event["index"]][2].append(event["delta"]["citation"])
    return blocks


def test_anthropic_recorded_stream_gives_each_blocks_citations_when_it_ends() -> None:
    """The live stream's 14 citations_delta events come out as citations on the chunk ending their block,
    with the block's span in the streamed text; the text is exactly the text deltas."""
    chunks, _ = feed(ANTHROPIC, "anthropic", "replay/stream_web_search")
    blocks = _recorded_stream_blocks()
    text = "".join(c.delta_text for c in chunks)
    assert text == "".join(b[1] for b in blocks.values() if b[0] == "text")
    cites = [c for chunk in chunks for c in chunk.citations]
    assert len(cites) == 14
    assert [c.raw for c in cites] == [raw for b in blocks.values() for raw in b[2]]
    for c in cites:
        assert text[c.start : c.end] == blocks[c.index][1]
    assert (cites[0].start, cites[0].end, cites[0].index) == (116, 375, 3)
    assert cites[0].url == "https://www.apple.com/newsroom/2025/09/the-all-new-apple-ginza-opens-this-friday-september-26-in-tokyo/"
    cited_chunks = [c for c in chunks if c.citations]
    assert all(not c.delta_text for c in cited_chunks)  # citations never change the text


def test_anthropic_recorded_stream_assembles_server_tool_blocks() -> None:
    """The streamed server_tool_use's input_json_delta pieces make its input; no tool call reaches the caller."""
    chunks, _ = feed(ANTHROPIC, "anthropic", "replay/stream_web_search")
    parts = [p for c in chunks for p in c.server_tool_parts]
    assert [(p.type, p.index, p.offset) for p in parts] == [("server_tool_use", 0, 0), ("web_search_tool_result", 1, 0)]
    assert parts[0].input == {"query": "tech news today September 26 2025"} == parts[0].raw["input"]
    assert parts[1].id == parts[0].id == "srvtoolu_01Bj5uzzLcYG5hfueSLcDH8k"
    assert all(not c.tool_call_deltas and not c.tool_calls for c in chunks)


# -- Anthropic, document citations (shape of anthropic-sdk-python's Citation* types, made-up values) -------


def test_anthropic_document_citation_kinds() -> None:
    """char_location, page_location, content_block_location and search_result_location name their document or source."""
    cites = [
        {
            "type": "char_location",
            "cited_text": "The grass is green.",
            "document_index": 0,
            "document_title": "Facts",
            "start_char_index": 0,
            "end_char_index": 20,
        },
        {
            "type": "page_location",
            "cited_text": "Page two.",
            "document_index": 1,
            "document_title": "Report",
            "start_page_number": 2,
            "end_page_number": 3,
        },
        {
            "type": "content_block_location",
            "cited_text": "Block.",
            "document_index": 2,
            "document_title": None,
            "start_block_index": 0,
            "end_block_index": 1,
        },
        {
            "type": "search_result_location",
            "cited_text": "Result.",
            "source": "https://docs.example/a",
            "title": "A",
            "search_result_index": 4,
            "start_block_index": 0,
            "end_block_index": 1,
        },
    ]
    data = {
        "id": "msg_1",
        "model": "claude",
        "stop_reason": "end_turn",
        "content": [{"type": "text", "text": "Intro. "}, {"type": "text", "text": "Cited.", "citations": cites}],
    }
    r = _decode(ANTHROPIC, data)
    assert r.text == "Intro. Cited."
    got = [(c.kind, c.start, c.end, c.document_index, c.document_title, c.title, c.url, c.cited_text) for c in r.citations]
    assert got == [
        ("char_location", 7, 13, 0, "Facts", "Facts", None, "The grass is green."),
        ("page_location", 7, 13, 1, "Report", "Report", None, "Page two."),
        ("content_block_location", 7, 13, 2, None, None, None, "Block."),
        ("search_result_location", 7, 13, 4, None, "A", "https://docs.example/a", "Result."),
    ]


def test_anthropic_replay_cuts_text_into_its_blocks() -> None:
    """A decoded answer's message goes back to Anthropic as the blocks it came as: server-tool blocks and text blocks in order, cited ones with their citations."""
    data = _body("anthropic", "replay/web_search.json")
    message = _decode(ANTHROPIC, data).choices[0].message
    request = ChatCompletionRequest("claude", [Message.user("news?"), message, Message.user("more")])
    body = ANTHROPIC.encode(request, "claude", stream=False, spec=PROVIDERS[Provider.ANTHROPIC])
    assert body["messages"][1] == {"role": "assistant", "content": data["content"]}


# -- OpenAI (shape of the chat completions API reference, made-up values) -----------------------------


def test_openai_message_annotations_are_citations() -> None:
    """``message.annotations`` url_citation → citations with start/end, url and title; the content is unchanged."""
    ann = {
        "type": "url_citation",
        "url_citation": {"end_index": 31, "start_index": 0, "title": "Paris", "url": "https://en.wikipedia.org/wiki/Paris"},
    }
    data = {
        "id": "c1",
        "model": "gpt-4o-search-preview",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Paris is the capital of France.", "annotations": [ann]},
                "finish_reason": "stop",
            }
        ],
    }
    r = _decode(OPENAI, data)
    assert r.text == "Paris is the capital of France."
    assert r.citations == (Citation("openai", "url_citation", None, "https://en.wikipedia.org/wiki/Paris", "Paris", 0, 31, raw=ann),)


def test_openai_stream_delta_annotations_are_citations() -> None:
    """A delta carrying only ``annotations`` gives a chunk with the citations and no text."""
    ann = {"type": "url_citation", "url_citation": {"end_index": 5, "start_index": 0, "title": "T", "url": "https://u.example"}}
    events = [
        {"id": "c1", "choices": [{"index": 0, "delta": {"content": "Hello"}, "finish_reason": None}]},
        {"id": "c1", "choices": [{"index": 0, "delta": {"annotations": [ann]}, "finish_reason": None}]},
    ]
    chunks = _stream(OPENAI, events)
    assert [(c.delta_text, c.citations) for c in chunks] == [
        ("Hello", ()),
        ("", (Citation("openai", "url_citation", None, "https://u.example", "T", 0, 5, raw=ann),)),
    ]


# -- Gemini (shape of the GenerateContentResponse reference, made-up values) ---------------------------


def _grounded_candidate(parts: list[Any], meta: Any) -> dict[str, Any]:
    return {"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "groundingMetadata": meta}]}


def test_gemini_grounding_supports_are_citations_in_characters() -> None:
    """Each groundingSupports source is a citation; the segment's UTF-8 byte offsets become character offsets
    into the answer text (a non-ASCII answer), and the search queries a server-tool part."""
    text = "Zürich liegt am Zürichsee. Es hat 420 000 Einwohner."
    second = text.index("Es")
    meta = {
        "webSearchQueries": ["Zürich Einwohner"],
        "groundingChunks": [
            {"web": {"uri": "https://de.wikipedia.org/wiki/Z", "title": "wikipedia.org"}},
            {"web": {"uri": "https://stadt-zuerich.ch", "title": "stadt-zuerich.ch"}},
        ],
        "groundingSupports": [
            {"segment": {"endIndex": len(text[:26].encode()), "text": text[:26]}, "groundingChunkIndices": [0]},
            {
                "segment": {"startIndex": len(text[:second].encode()), "endIndex": len(text.encode()), "text": text[second:]},
                "groundingChunkIndices": [0, 1],
                "confidenceScores": [0.9, 0.8],
            },
        ],
    }
    r = _decode(GEMINI, _grounded_candidate([{"text": text}], meta))
    assert r.text == text
    got = [(c.kind, c.start, c.end, c.url, c.title, c.document_index) for c in r.citations]
    assert got == [
        ("grounding", 0, 26, "https://de.wikipedia.org/wiki/Z", "wikipedia.org", 0),
        ("grounding", second, len(text), "https://de.wikipedia.org/wiki/Z", "wikipedia.org", 0),
        ("grounding", second, len(text), "https://stadt-zuerich.ch", "stadt-zuerich.ch", 1),
    ]
    assert r.text[r.citations[1].start : r.citations[1].end] == meta["groundingSupports"][1]["segment"]["text"]
    (search,) = r.server_tool_parts
    assert (search.format, search.type, search.name, search.input, search.raw) == (
        "gemini",
        "grounding_metadata",
        "google_search",
        {"queries": ["Zürich Einwohner"]},
        meta,
    )


def test_gemini_segment_part_index_counts_from_its_part() -> None:
    """A segment with ``partIndex`` counts from the start of that part (thought parts are not answer text)."""
    parts = [{"text": "thinking…", "thought": True}, {"text": "Première. "}, {"text": "Deuxième."}]
    meta = {
        "groundingChunks": [{"web": {"uri": "https://a.example", "title": "a"}}],
        "groundingSupports": [{"segment": {"partIndex": 2, "endIndex": len("Deuxième.".encode())}, "groundingChunkIndices": [0]}],
    }
    r = _decode(GEMINI, _grounded_candidate(parts, meta))
    (c,) = r.citations
    assert r.text[c.start : c.end] == "Deuxième."


def test_gemini_citation_metadata_sources_are_citations() -> None:
    """``citationMetadata.citationSources`` (recitation) are citations with their uri and span."""
    text = "Ça va. Quoted line here."
    src = {"startIndex": len("Ça va. ".encode()), "endIndex": len(text.encode()), "uri": "https://src.example", "license": "MIT"}
    data = {
        "candidates": [
            {
                "content": {"role": "model", "parts": [{"text": text}]},
                "finishReason": "STOP",
                "citationMetadata": {"citationSources": [src]},
            }
        ]
    }
    r = _decode(GEMINI, data)
    assert r.citations == (Citation("gemini", "citation_source", None, "https://src.example", None, 7, len(text), raw=src),)
    assert r.server_tool_parts == ()


def test_gemini_stream_grounding_counts_in_the_whole_streamed_text() -> None:
    """Grounding on the finishing chunk measures the text streamed so far; a repeat of the same metadata gives nothing twice."""
    meta = {
        "groundingChunks": [{"web": {"uri": "https://a.example", "title": "a"}}],
        "groundingSupports": [
            {"segment": {"startIndex": len("Grüß ".encode()), "endIndex": len("Grüß Gott.".encode())}, "groundingChunkIndices": [0]}
        ],
    }
    events = [
        {"candidates": [{"content": {"role": "model", "parts": [{"text": "Grüß "}]}}]},
        {"candidates": [{"content": {"role": "model", "parts": [{"text": "Gott."}]}, "groundingMetadata": meta}]},
        {
            "candidates": [{"content": {"role": "model", "parts": [{"text": ""}]}, "finishReason": "STOP", "groundingMetadata": meta}],
            "usageMetadata": {"promptTokenCount": 1},
        },
    ]
    chunks = _stream(GEMINI, events)
    cites = [c for chunk in chunks for c in chunk.citations]
    assert [(c.start, c.end, c.url) for c in cites] == [(5, 10, "https://a.example")]
    assert len([p for chunk in chunks for p in chunk.server_tool_parts]) == 1
    assert "".join(c.delta_text for c in chunks) == "Grüß Gott."


# -- Cohere ------------------------------------------------------------------------------------------


def test_cohere_recorded_citations() -> None:
    """vercel/ai's live Cohere v2 body: each citation's start/end cut its ``text`` out of the answer; the source document is named."""
    data = _body("cohere", "replay/citations.json")
    r = _decode(COHERE, data)
    assert r.text == data["message"]["content"][0]["text"]
    got = [(c.kind, c.start, c.end, r.text[c.start : c.end], c.title, c.document_title, c.document_index) for c in r.citations]
    assert got == [
        ("TEXT_CONTENT", 52, 71, "Automation of tasks", "benefits.txt", "benefits.txt", 0),
        ("TEXT_CONTENT", 75, 97, "Better decision-making", "benefits.txt", "benefits.txt", 0),
        ("TEXT_CONTENT", 101, 115, "Cost reduction", "benefits.txt", "benefits.txt", 0),
    ]
    assert [c.raw for c in r.citations] == data["message"]["citations"]


def test_cohere_stream_citation_start_events_are_citations() -> None:
    """A ``citation-start`` event (shape of cohere-python's CitationStartStreamedChatResponseV2, made-up values) gives a chunk with its citation."""
    cited = {
        "start": 0,
        "end": 5,
        "text": "Hello",
        "sources": [{"type": "document", "id": "doc:1", "document": {"id": "doc:1", "title": "T", "text": "Hello world"}}],
        "type": "TEXT_CONTENT",
    }
    events = [
        SseEvent("citation-start", json.dumps({"type": "citation-start", "index": 0, "delta": {"message": {"citations": cited}}})),
        SseEvent("citation-end", json.dumps({"type": "citation-end", "index": 0})),
    ]
    chunks = _stream(COHERE, events)
    assert [c.citations for c in chunks] == [(Citation("cohere", "TEXT_CONTENT", None, None, "T", 0, 5, 1, "T", raw=cited),)]


# -- the message ----------------------------------------------------------------------------------------


def test_message_dict_round_trip_keeps_citations_and_server_tool_parts() -> None:
    """``Message.to_dict``/``from_dict`` (checkpoints, cache entries) keep citations and server-tool parts."""
    message = _decode(ANTHROPIC, _body("anthropic", "replay/web_search.json")).choices[0].message
    again = Message.from_dict(json.loads(json.dumps(message.to_dict())))
    assert again == message
    assert isinstance(again.server_tool_parts[0], ServerToolPart) and isinstance(again.citations[0], Citation)


def test_anthropic_replay_puts_thinking_server_tools_and_cited_text_back_in_place() -> None:
    """Thinking, a web search, plain and cited text and a tool_use (shape of Anthropic's docs, made-up values) go back as received."""
    content = [
        {"type": "thinking", "thinking": "Search first.", "signature": "c2ln"},
        {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"query": "q"}},
        {
            "type": "web_search_tool_result",
            "tool_use_id": "srvtoolu_1",
            "content": [{"type": "web_search_result", "url": "https://a.example", "title": "A", "encrypted_content": "x"}],
        },
        {"type": "text", "text": "Found: "},
        {
            "type": "text",
            "text": "a fact",
            "citations": [
                {
                    "type": "web_search_result_location",
                    "cited_text": "A fact.",
                    "url": "https://a.example",
                    "title": "A",
                    "encrypted_index": "y",
                }
            ],
        },
        {"type": "text", "text": ". Checking."},
        {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"k": 1}},
    ]
    data = {"id": "msg_1", "model": "claude", "stop_reason": "tool_use", "content": content}
    message = _decode(ANTHROPIC, data).choices[0].message
    assert message.text() == "Found: a fact. Checking."
    request = ChatCompletionRequest("claude", [Message.user("q?"), message, Message.tool("toolu_1", "ok")])
    body = ANTHROPIC.encode(request, "claude", stream=False, spec=PROVIDERS[Provider.ANTHROPIC])
    assert body["messages"][1] == {"role": "assistant", "content": content}


def test_anthropic_stream_block_whose_stop_never_came_still_gives_its_citations() -> None:
    """A cited block followed by the next block's start, without its content_block_stop, still gives its citations (with its span)."""
    cite = {
        "type": "char_location",
        "cited_text": "c",
        "document_index": 0,
        "document_title": "D",
        "start_char_index": 0,
        "end_char_index": 1,
    }
    events = [
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": "", "citations": []}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "citations_delta", "citation": cite}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Cited"}},
        {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": " plain"}},
    ]
    chunks = _stream(ANTHROPIC, events)
    assert [(c.delta_text, [(x.start, x.end, x.index) for x in c.citations]) for c in chunks] == [
        ("Cited", []),
        ("", [(0, 5, 0)]),
        (" plain", []),
    ]
