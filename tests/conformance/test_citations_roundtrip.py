"""Citations and server-tool blocks that make the round trip: an Anthropic web-search answer,
replayed as the assistant turn of the next request, is sent exactly as the official SDK sends
``message.content`` (byte-equal JSON after key sorting).

The SDK and ailib each talk to MockProvider and get the same answer, either scripted (a web
search, then text cut into cited blocks) or a real recording served byte for byte (vercel/ai's
live web-search body and stream, tests/fixtures/anthropic/replay/*.source); the mock records
both follow-up requests and their assistant turns are compared.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ailib import AiClient, AiClientBuilder, ChatCompletionRequest, Message
from ailib.testing import Fault, MockProvider, ReplyCitation

from .conftest import KEY

anthropic = pytest.importorskip("anthropic")

MODEL = "claude-sonnet-4-5"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "anthropic" / "replay"  # vercel/ai's live recordings
SEARCH_TOOL = {"type": "web_search_20250305", "name": "web_search", "max_uses": 2}
TEXT = "Here is what I found. Paris is the capital of France. It has 2.1 million inhabitants. Sources vary."
CITES = (
    ReplyCitation(22, 53, "https://en.wikipedia.org/wiki/Paris", "Paris - Wikipedia", "Paris is the capital and largest city of France."),
    ReplyCitation(54, 85, "https://www.insee.fr/paris", "INSEE - Paris", "Paris had 2,102,650 inhabitants."),
    ReplyCitation(54, 85, "https://en.wikipedia.org/wiki/Paris", "Paris - Wikipedia", "a population of 2.1 million"),
)


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False)


@pytest.fixture
def mock() -> Iterator[MockProvider]:
    with MockProvider("anthropic", api_key=KEY) as m:
        yield m


@pytest.fixture
def ai(mock: MockProvider) -> Iterator[AiClient]:
    c = AiClientBuilder(mock.provider(api_key=KEY)).without_retry().build()
    yield c
    c.close()


def _sdk_turn(mock: MockProvider, stream: bool) -> list[Any]:
    """What the official SDK sends back as the assistant turn (``message.content`` as received)."""
    sdk = anthropic.Anthropic(api_key=KEY, base_url=mock.url, max_retries=0, timeout=10)
    messages: list[Any] = [{"role": "user", "content": "What is the population of Paris?"}]
    try:
        if stream:
            with sdk.messages.stream(model=MODEL, max_tokens=1024, messages=messages, tools=[SEARCH_TOOL]) as s:
                first = s.get_final_message()
        else:
            first = sdk.messages.create(model=MODEL, max_tokens=1024, messages=messages, tools=[SEARCH_TOOL])
        messages += [{"role": "assistant", "content": first.content}, {"role": "user", "content": "Thanks. And Lyon?"}]
        sdk.messages.create(model=MODEL, max_tokens=1024, messages=messages, tools=[SEARCH_TOOL])
    finally:
        sdk.close()
    return list(mock.chat_requests[-1].json["messages"][1]["content"])


def _ailib_turn(mock: MockProvider, ai: AiClient, stream: bool) -> tuple[list[Any], Message]:
    messages = [Message.user("What is the population of Paris?")]
    first = ChatCompletionRequest(MODEL, messages, max_tokens=1024, extra={"tools": [SEARCH_TOOL]})
    if stream:
        with ai.chat_completion_stream(first) as s:
            answer = s.collect().choices[0].message
    else:
        answer = ai.chat_completion(first).choices[0].message
    follow = [*messages, answer, Message.user("Thanks. And Lyon?")]
    ai.chat_completion(ChatCompletionRequest(MODEL, follow, max_tokens=1024, extra={"tools": [SEARCH_TOOL]}))
    return list(mock.chat_requests[-1].json["messages"][1]["content"]), answer


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
def test_web_search_turn_goes_back_as_the_sdk_sends_it(mock: MockProvider, ai: AiClient, stream: bool) -> None:
    """A scripted web search with cited text goes back as [server_tool_use, web_search_tool_result, text, cited text...], byte-equal to the SDK's turn."""
    script = (Fault.ok(TEXT, citations=CITES, web_search="Paris population"), Fault.ok("Lyon has 520,000."))
    mock.enqueue(*script)
    sdk_turn = _sdk_turn(mock, stream)
    mock.enqueue(*script)
    ours, answer = _ailib_turn(mock, ai, stream)
    assert [b["type"] for b in sdk_turn] == ["server_tool_use", "web_search_tool_result", "text", "text", "text", "text", "text"]
    assert [len(b.get("citations") or ()) for b in sdk_turn] == [0, 0, 0, 1, 0, 2, 0]
    assert _canonical(ours) == _canonical(sdk_turn)
    assert answer.text() == TEXT


def _recorded(name: str, stream: bool) -> Fault:
    data = (FIXTURES / name).read_bytes()
    return Fault.garbage_stream(data) if stream else Fault.malformed(data)


@pytest.mark.parametrize(
    ("name", "stream", "types"),
    [
        (
            "web_search.json",
            False,
            ["server_tool_use", "web_search_tool_result", "text", "server_tool_use", "web_search_tool_result"] + ["text"] * 7,
        ),
        ("stream_web_search.txt", True, ["server_tool_use", "web_search_tool_result"] + ["text"] * 19),
        ("mcp.json", False, ["mcp_tool_use", "mcp_tool_result", "text"]),
    ],
    ids=["body", "stream", "mcp"],
)
def test_recorded_web_search_turn_goes_back_as_the_sdk_sends_it(
    mock: MockProvider, ai: AiClient, name: str, stream: bool, types: list[str]
) -> None:
    """A live recorded answer with server-tool blocks and citations, served byte for byte, goes back byte-equal to the SDK's turn."""
    mock.enqueue(_recorded(name, stream), Fault.ok("ok"))
    sdk_turn = _sdk_turn(mock, stream)
    mock.enqueue(_recorded(name, stream), Fault.ok("ok"))
    ours, _ = _ailib_turn(mock, ai, stream)
    assert [b["type"] for b in sdk_turn] == types
    assert _canonical(ours) == _canonical(sdk_turn)


def test_citations_are_dropped_for_another_format() -> None:
    """An Anthropic web-search answer replayed to the OpenAI format sends its text only: no citations, no server-tool blocks."""
    with MockProvider("anthropic", api_key=KEY) as source, MockProvider("openai", api_key=KEY) as target:
        source.enqueue(Fault.ok(TEXT, citations=CITES, web_search="Paris population"))
        with AiClientBuilder(source.provider(api_key=KEY)).build() as a:
            answer = a.chat_completion(ChatCompletionRequest(MODEL, [Message.user("Paris?")])).choices[0].message
        assert answer.citations and answer.server_tool_parts
        with AiClientBuilder(target.provider(api_key=KEY)).build() as o:
            o.chat_completion(ChatCompletionRequest("gpt-4o", [Message.user("Paris?"), answer, Message.user("Lyon?")]))
        assert target.chat_requests[-1].json["messages"][1] == {"role": "assistant", "content": TEXT}


def test_cohere_citations_go_back_as_the_sdk_sends_them() -> None:
    """A cited Cohere answer replayed sends its ``citations`` as the cohere SDK sends ``response.message``'s (byte-equal)."""
    cohere = pytest.importorskip("cohere")
    text = "Paris is the capital of France. It has 2.1 million inhabitants."
    cites = (ReplyCitation(0, 31, "https://en.wikipedia.org/wiki/Paris", "Paris"), ReplyCitation(32, 63, "https://insee.fr", "INSEE"))
    with MockProvider("cohere", api_key=KEY) as m:
        m.enqueue(Fault.ok(text, citations=cites), Fault.ok("ok"))
        co = cohere.ClientV2(api_key=KEY, base_url=m.url, timeout=10)
        messages: list[Any] = [{"role": "user", "content": "Paris?"}]
        first = co.chat(model="command-a-03-2025", messages=messages)
        co.chat(model="command-a-03-2025", messages=[*messages, first.message, {"role": "user", "content": "Lyon?"}])
        sdk_turn = m.chat_requests[-1].json["messages"][1]
        m.enqueue(Fault.ok(text, citations=cites), Fault.ok("ok"))
        with AiClientBuilder(m.provider(api_key=KEY)).build() as ai:
            answer = ai.chat_completion(ChatCompletionRequest("command-a-03-2025", [Message.user("Paris?")])).choices[0].message
            ai.chat_completion(ChatCompletionRequest("command-a-03-2025", [Message.user("Paris?"), answer, Message.user("Lyon?")]))
        ours = m.chat_requests[-1].json["messages"][1]
    assert len(sdk_turn["citations"]) == 2
    assert _canonical(ours["citations"]) == _canonical(sdk_turn["citations"])
    assert ours["content"] == text  # the text as a string; the SDK sends the same text as one text item
    assert sdk_turn["content"] == [{"type": "text", "text": text}]
