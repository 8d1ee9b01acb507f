"""Cohere reasoning: an answer's ``thinking`` content is its reasoning, kept as reasoning parts and sent
back to Cohere as ``thinking`` content items (live Command A Reasoning recordings by vercel/ai)."""

from __future__ import annotations

import json
from pathlib import Path

from ailib import ChatCompletionRequest, Message, ReasoningPart, ToolCall
from ailib._sse import SseEvent
from ailib.providers._registry import PROVIDERS, Provider
from ailib.providers.cohere import WIRE_FORMAT

REPLAY = Path(__file__).resolve().parents[1] / "fixtures" / "cohere" / "replay"
SPEC = PROVIDERS[Provider.COHERE]


def _assistant_sent(message: Message) -> dict[str, object]:
    request = ChatCompletionRequest("command-a-reasoning-08-2025", [Message.user("2 + 2?"), message, Message.user("and 3 + 3?")])
    return WIRE_FORMAT.encode(request, "command-a-reasoning-08-2025", stream=False, spec=SPEC)["messages"][1]


def test_a_recorded_answer_keeps_its_thinking_as_reasoning() -> None:
    """The body's thinking item is the answer's reasoning (not its text), one cohere reasoning part."""
    data = json.loads((REPLAY / "reasoning.json").read_text())
    thinking = data["message"]["content"][0]["thinking"]
    resp = WIRE_FORMAT.decode(data, provider="cohere", model="m", headers={})
    assert (resp.text, resp.reasoning) == ("2 + 2 = 4", thinking)
    assert resp.choices[0].message.reasoning_parts == (ReasoningPart("cohere", "thinking", thinking, index=0),)


def test_a_recorded_stream_gives_its_thinking_as_delta_reasoning() -> None:
    """Each thinking content-delta is one chunk's delta_reasoning; the last chunk holds the whole part."""
    lines = [json.loads(line) for line in (REPLAY / "reasoning.chunks.txt").read_text().splitlines() if line.strip()]
    decoder = WIRE_FORMAT.stream_decoder(provider="cohere", model="m")
    chunks = [c for d in lines for c in decoder.feed(SseEvent(event=d["type"], data=json.dumps(d)))]
    decoder.finish()
    pieces = [
        d["delta"]["message"]["content"]["thinking"]
        for d in lines
        if d["type"] == "content-delta" and "thinking" in d["delta"]["message"]["content"]
    ]
    assert [c.delta_reasoning for c in chunks if c.delta_reasoning] == [p for p in pieces if p]
    assert chunks[-1].reasoning_parts == (ReasoningPart("cohere", "thinking", "".join(pieces), index=0),)
    assert "".join(c.delta_text for c in chunks) == "The answer to 2 + 2 is 4."


def test_thinking_goes_back_to_cohere_before_the_text() -> None:
    """A replayed answer sends its thinking as a thinking content item, then its text."""
    message = Message("assistant", "2 + 2 = 4", reasoning_parts=[ReasoningPart("cohere", "thinking", "Add them.", index=0)])
    assert _assistant_sent(message) == {
        "role": "assistant",
        "content": [{"type": "thinking", "thinking": "Add them."}, {"type": "text", "text": "2 + 2 = 4"}],
    }


def test_thinking_beside_tool_calls_goes_back_with_the_tool_plan() -> None:
    """With tool calls, the text stays the tool plan and the thinking is the content."""
    message = Message(
        "assistant",
        "I will add.",
        tool_calls=[ToolCall("c1", "add", {"a": 2})],
        reasoning_parts=[ReasoningPart("cohere", "thinking", "Use the tool.", index=0)],
    )
    sent = _assistant_sent(message)
    assert sent["content"] == [{"type": "thinking", "thinking": "Use the tool."}] and sent["tool_plan"] == "I will add."


def test_another_formats_reasoning_never_goes_to_cohere() -> None:
    """An Anthropic thinking block is dropped when the conversation moves to Cohere: plain text content."""
    message = Message("assistant", "4", reasoning_parts=[ReasoningPart("anthropic", "thinking", "hm", "c2ln", index=0)])
    assert _assistant_sent(message) == {"role": "assistant", "content": "4"}
