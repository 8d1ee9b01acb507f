"""Cohere's thinking content items (Command A Reasoning), replayed from vercel/ai's live recordings:
kept as reasoning parts in their place, streamed as delta_reasoning, and sent back to Cohere only."""

from __future__ import annotations

import json

from ailib import ChatCompletionRequest, Message, ReasoningPart, Role, ToolCall
from ailib._sse import SseEvent
from ailib.providers import anthropic, cohere
from ailib.providers._registry import PROVIDERS, Provider
from ailib.types import StreamChunk
from tests.unit._recorded import FIXTURES

SPEC = PROVIDERS[Provider.COHERE]
REPLAY = FIXTURES / "cohere" / "replay"  # vercel/ai's live recordings (see the .source files)
RECORDED = json.loads((REPLAY / "reasoning.json").read_text())


def recorded_events(name: str) -> list[dict]:
    """The events of a recorded stream (one JSON object per line)."""
    return [json.loads(line) for line in (REPLAY / f"{name}.chunks.txt").read_text().splitlines() if line.strip()]


def feed(name: str) -> list[StreamChunk]:
    """Every chunk the Cohere stream decoder makes of a recorded stream, each event named by its type as Cohere sends it."""
    decoder = cohere.WIRE_FORMAT.stream_decoder(provider="cohere", model="m")
    chunks = [c for e in recorded_events(name) for c in decoder.feed(SseEvent(e["type"], json.dumps(e)))]
    decoder.finish()
    return chunks


def recorded_thinking() -> str:
    return next(c["thinking"] for c in RECORDED["message"]["content"] if c["type"] == "thinking")


def test_a_thinking_item_is_the_answers_reasoning_and_not_its_text() -> None:
    """The recorded body's thinking item becomes .reasoning and a cohere reasoning part at its index; the text is only the text item."""
    resp = cohere.WIRE_FORMAT.decode(RECORDED, provider="cohere", model="command-a-reasoning-08-2025", headers={})
    assert resp.text == "2 + 2 = 4"
    assert resp.reasoning == recorded_thinking()
    assert resp.choices[0].message.reasoning_parts == (ReasoningPart("cohere", "thinking", recorded_thinking(), index=0),)


def test_streamed_thinking_is_delta_reasoning_and_the_last_chunk_holds_the_part() -> None:
    """Every recorded thinking delta reaches the caller as delta_reasoning, in order, never as text; message-end carries the whole part."""
    chunks = feed("reasoning")
    events = recorded_events("reasoning")
    thinking = "".join(e["delta"]["message"]["content"].get("thinking", "") for e in events if e["type"] == "content-delta")
    text = "".join(e["delta"]["message"]["content"].get("text", "") for e in events if e["type"] == "content-delta")
    assert len(thinking) > 100 and text
    assert "".join(c.delta_reasoning for c in chunks) == thinking
    assert "".join(c.delta_text for c in chunks) == text
    assert chunks[-1].reasoning_parts == (ReasoningPart("cohere", "thinking", thinking, index=0),)


def _sent(message: Message) -> dict:
    request = ChatCompletionRequest("command-a-reasoning-08-2025", [Message(Role.USER, "2+2?"), message])
    return cohere.WIRE_FORMAT.encode(request, request.model, stream=False, spec=SPEC)["messages"][1]


def test_a_replayed_answer_sends_its_thinking_back_before_its_text() -> None:
    """A decoded answer replayed to Cohere sends the recorded thinking item, then the text item, as the v2 API's assistant content."""
    answer = cohere.WIRE_FORMAT.decode(RECORDED, provider="cohere", model="m", headers={}).choices[0].message
    assert _sent(answer) == {
        "role": "assistant",
        "content": [{"type": "thinking", "thinking": recorded_thinking()}, {"type": "text", "text": "2 + 2 = 4"}],
    }


def test_thinking_beside_tool_calls_goes_back_with_the_text_as_tool_plan() -> None:
    """With tool calls, the thinking item is the content and the text stays Cohere's tool_plan."""
    message = Message(
        Role.ASSISTANT,
        "I will look it up.",
        tool_calls=[ToolCall("c1", "lookup", {"q": "x"})],
        reasoning_parts=[ReasoningPart("cohere", "thinking", "Need the tool.", index=0)],
    )
    sent = _sent(message)
    assert sent["content"] == [{"type": "thinking", "thinking": "Need the tool."}]
    assert sent["tool_plan"] == "I will look it up." and [c["id"] for c in sent["tool_calls"]] == ["c1"]


def test_cohere_thinking_is_dropped_for_other_formats() -> None:
    """Replayed to Anthropic, a Cohere thinking part is left out: only the text goes."""
    message = Message(Role.ASSISTANT, "4", reasoning_parts=[ReasoningPart("cohere", "thinking", "secret plan", index=0)])
    request = ChatCompletionRequest("claude-x", [Message(Role.USER, "2+2?"), message], max_tokens=10)
    body = anthropic.WIRE_FORMAT.encode(request, request.model, stream=False, spec=PROVIDERS[Provider.ANTHROPIC])
    assert "secret plan" not in json.dumps(body)


def test_usage_is_the_billed_units_and_cached_tokens_only_beside_processed_counts() -> None:
    """The recorded usage bills 8 input tokens of 1,394 processed (1,344 cached): usage is the billed 8/578 with no cached
    count; the same usage without billed_units is the processed counts with their cached tokens."""
    usage = cohere.WIRE_FORMAT.decode(RECORDED, provider="cohere", model="m", headers={}).usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens) == (8, 578, None)
    unbilled = dict(RECORDED, usage={k: v for k, v in RECORDED["usage"].items() if k != "billed_units"})
    usage = cohere.WIRE_FORMAT.decode(unbilled, provider="cohere", model="m", headers={}).usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens) == (1394, 582, 1344)


TOOL_PLAN = json.loads((REPLAY / "tool_call.json").read_text())


def test_a_tool_plan_is_reasoning_and_goes_back_as_the_tool_plan() -> None:
    """The recorded tool_plan is the answer's reasoning (not its text); replayed to Cohere it is the tool_plan again, calls unchanged."""
    resp = cohere.WIRE_FORMAT.decode(TOOL_PLAN, provider="cohere", model="m", headers={})
    plan = TOOL_PLAN["message"]["tool_plan"]
    assert resp.text == "" and resp.reasoning == plan
    assert [c.name for c in resp.choices[0].message.tool_calls or ()] == ["weather", "cityAttractions"]
    sent = _sent(resp.choices[0].message)
    assert sent["tool_plan"] == plan and "content" not in sent
    recorded = [json.loads(c["function"]["arguments"]) for c in TOOL_PLAN["message"]["tool_calls"]]
    assert [json.loads(c["function"]["arguments"]) for c in sent["tool_calls"]] == recorded


def test_streamed_tool_plan_is_delta_reasoning_and_the_calls_are_whole() -> None:
    """Recorded tool-plan-delta events reach the caller as delta_reasoning; the last chunk holds the plan part and both
    calls with the arguments the fragments spell."""
    chunks = feed("tool_call")
    events = recorded_events("tool_call")
    plan = "".join(e["delta"]["message"]["tool_plan"] for e in events if e["type"] == "tool-plan-delta")
    args: dict[int, str] = {}
    for e in events:
        if e["type"] in ("tool-call-start", "tool-call-delta"):
            args[e["index"]] = args.get(e["index"], "") + e["delta"]["message"]["tool_calls"]["function"]["arguments"]
    assert plan and "".join(c.delta_reasoning for c in chunks) == plan and not "".join(c.delta_text for c in chunks)
    assert chunks[-1].reasoning_parts == (ReasoningPart("cohere", "tool_plan", plan),)
    assert [c.arguments for c in chunks[-1].tool_calls] == [json.loads(args[i]) for i in sorted(args)]
