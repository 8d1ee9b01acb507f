"""Anthropic reasoning: thinking and redacted_thinking blocks kept as reasoning parts on the
assistant message, streamed as ``delta_reasoning``, and sent back in their place, unchanged."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ailib import ChatCompletionRequest, Message, ReasoningPart, StreamChunk, ToolCall
from ailib._sse import SseEvent, SseParser
from ailib.providers._registry import PROVIDERS, Provider
from ailib.providers.anthropic import WIRE_FORMAT

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "anthropic"
SPEC = PROVIDERS[Provider.ANTHROPIC]


def body() -> dict[str, Any]:
    return json.loads((FIXTURES / "response_thinking_tool_use.json").read_text())


def stream(name: str) -> list[StreamChunk]:
    parser = SseParser()
    events = list(parser.feed((FIXTURES / name).read_bytes())) + list(parser.flush())
    decoder = WIRE_FORMAT.stream_decoder(provider="anthropic", model="m")
    chunks = [c for e in events for c in decoder.feed(e)]
    decoder.finish()
    return chunks


def replayed(message: Message) -> list[Any]:
    request = ChatCompletionRequest("claude-sonnet-4-5", [Message.user("Weather in Paris?"), message, Message.tool("toolu_1", "18C")])
    return WIRE_FORMAT.encode(request, "claude-sonnet-4-5", stream=False, spec=SPEC)["messages"][1]["content"]


def test_a_body_keeps_thinking_and_redacted_thinking_as_reasoning_parts() -> None:
    """thinking (text and signature) and redacted_thinking (data) become reasoning parts with their block index; .reasoning is the text."""
    data = body()
    resp = WIRE_FORMAT.decode(data, provider="anthropic", model="m", headers={})
    message = resp.choices[0].message
    thinking, redacted = data["content"][0], data["content"][1]
    assert message.reasoning_parts == (
        ReasoningPart("anthropic", "thinking", thinking["thinking"], thinking["signature"], index=0),
        ReasoningPart("anthropic", "redacted_thinking", data=redacted["data"], index=1),
    )
    assert resp.reasoning == thinking["thinking"] and resp.text == "Let me check."
    assert resp.tool_calls == (ToolCall("toolu_01A09q90qw90lq917835lq9", "get_weather", {"city": "Paris"}),)


def test_replaying_a_decoded_body_sends_its_blocks_byte_for_byte() -> None:
    """The assistant turn goes back as the content blocks received, in their order (JSON equal after key sorting)."""
    data = body()
    message = WIRE_FORMAT.decode(data, provider="anthropic", model="m", headers={}).choices[0].message
    assert json.dumps(replayed(message), sort_keys=True) == json.dumps(data["content"], sort_keys=True)


def test_a_recorded_thinking_stream_gives_reasoning_deltas_and_the_signed_part() -> None:
    """A real thinking stream: thinking_delta pieces arrive as delta_reasoning; the last chunk holds the part with its signature."""
    chunks = stream("stream_thinking.txt")
    events = [json.loads(line[6:]) for line in (FIXTURES / "stream_thinking.txt").read_text().splitlines() if line.startswith("data: ")]
    thoughts = [e["delta"]["thinking"] for e in events if e.get("delta", {}).get("type") == "thinking_delta"]
    signature = next(e["delta"]["signature"] for e in events if e.get("delta", {}).get("type") == "signature_delta")
    assert [c.delta_reasoning for c in chunks if c.delta_reasoning] == thoughts
    assert all(c.has_content for c in chunks if c.delta_reasoning)
    assert chunks[-1].reasoning_parts == (ReasoningPart("anthropic", "thinking", "".join(thoughts), signature, index=0),)
    assert "".join(c.delta_text for c in chunks).startswith("Hello! I'm Assistant")
    message = Message.assistant("".join(c.delta_text for c in chunks), reasoning_parts=chunks[-1].reasoning_parts)
    assert replayed(message) == [
        {"type": "thinking", "thinking": "".join(thoughts), "signature": signature},
        {"type": "text", "text": message.text()},
    ]


def test_a_streamed_redacted_thinking_block_is_kept() -> None:
    """redacted_thinking arrives whole in content_block_start; it is kept (no text) on the last chunk."""
    decoder = WIRE_FORMAT.stream_decoder(provider="anthropic", model="m")
    events = [
        {"type": "content_block_start", "index": 0, "content_block": {"type": "redacted_thinking", "data": "EmwKAhgB"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 3}},
        {"type": "message_stop"},
    ]
    chunks = [c for e in events for c in decoder.feed(SseEvent(e["type"], json.dumps(e)))]
    assert chunks[-1].reasoning_parts == (ReasoningPart("anthropic", "redacted_thinking", data="EmwKAhgB", index=0),)
    assert not any(c.delta_reasoning for c in chunks)


def test_another_formats_reasoning_is_dropped() -> None:
    """Reasoning parts from Gemini or an OpenAI-compatible service never go to Anthropic; the turn is sent without them."""
    message = Message(
        "assistant",
        None,
        tool_calls=[ToolCall("toolu_1", "get_weather", {"city": "Paris"})],
        reasoning_parts=[
            ReasoningPart("gemini", "signature", signature="c2ln", index=0),
            ReasoningPart("openai", "reasoning_content", "hm"),
        ],
    )
    assert replayed(message) == [{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}]


def test_reasoning_parts_survive_to_dict_and_from_dict() -> None:
    """A checkpointed assistant message keeps its reasoning parts (ailib's own key), so a resumed loop can replay them."""
    part = ReasoningPart("anthropic", "thinking", "hm", "sig", index=0)
    message = Message("assistant", "ok", reasoning_parts=(part,))
    assert Message.from_dict(message.to_dict()) == message and message.reasoning == "hm"
    assert "reasoning_parts" not in Message.assistant("ok").to_dict()
