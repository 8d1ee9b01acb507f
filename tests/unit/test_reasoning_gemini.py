"""Gemini reasoning: thought parts and thoughtSignatures kept as reasoning parts and sent back,
each in its place (Gemini 3 rejects a tool loop whose function call lost its signature)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from ailib import ChatCompletionRequest, Message, ReasoningPart, StreamChunk, ToolCall
from ailib._sse import SseEvent, SseParser
from ailib.providers._registry import PROVIDERS, Provider
from ailib.providers.gemini import WIRE_FORMAT

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "gemini"
SPEC = PROVIDERS[Provider.GEMINI]
MODEL = "gemini-3-pro-preview"


def sdk_form(signature: str) -> str:
    """A signature as google-genai sends it back: its bytes in URL-safe base64 (``_common.encode_unserializable_types``)."""
    return base64.urlsafe_b64encode(base64.b64decode(signature)).decode("ascii")


def replayed(message: Message, result: str = "18C") -> list[Any]:
    messages = [Message.user("hi"), message]
    if message.tool_calls:
        messages.append(Message.tool(message.tool_calls[0].id, result))
    else:
        messages.append(Message.user("and?"))
    return WIRE_FORMAT.encode(ChatCompletionRequest(MODEL, messages), MODEL, stream=False, spec=SPEC)["contents"][1]["parts"]


def stream(events: list[SseEvent]) -> list[StreamChunk]:
    decoder = WIRE_FORMAT.stream_decoder(provider="gemini", model=MODEL)
    chunks = [c for e in events for c in decoder.feed(e)]
    decoder.finish()
    return chunks


def test_a_recorded_gemini3_call_goes_back_with_its_signature() -> None:
    """A real Gemini 3 function call: the thoughtSignature on its part is kept as received and sent back on
    that part as google-genai sends it (the same bytes, URL-safe base64)."""
    data = json.loads((FIXTURES / "response_tool_call_gemini3.json").read_text())
    message = WIRE_FORMAT.decode(data, provider="gemini", model=MODEL, headers={}).choices[0].message
    part = data["candidates"][0]["content"]["parts"][0]
    assert message.reasoning_parts == (ReasoningPart("gemini", "signature", signature=part["thoughtSignature"], index=0),)
    assert message.reasoning is None
    assert "+" in part["thoughtSignature"] or "/" in part["thoughtSignature"]  # the two alphabets differ here
    assert replayed(message) == [{**part, "thoughtSignature": sdk_form(part["thoughtSignature"])}]


def test_thought_parts_are_reasoning_and_go_back_in_place() -> None:
    """thought: true parts are .reasoning (not text) and return before the answer with their signatures."""
    parts = [
        {"text": "Let me think.", "thought": True},
        {"text": "Calling the tool."},
        {"functionCall": {"name": "weather", "args": {"city": "Paris"}}, "thoughtSignature": "c2lnLTE="},
        {"functionCall": {"name": "weather", "args": {"city": "Rome"}}},
    ]
    data = {"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}], "responseId": "r1"}
    resp = WIRE_FORMAT.decode(data, provider="gemini", model=MODEL, headers={})
    assert (resp.reasoning, resp.text) == ("Let me think.", "Calling the tool.")
    assert replayed(resp.choices[0].message) == parts


def test_a_recorded_stream_keeps_the_signature_of_its_text() -> None:
    """A real Gemini 3 stream signs its text on a last, empty text part: kept, and sent back on the text part
    (as google-genai sends it)."""
    parser = SseParser()
    raw = (FIXTURES / "stream_text_signature_gemini3.txt").read_bytes()
    chunks = stream(list(parser.feed(raw)) + list(parser.flush()))
    text = "".join(c.delta_text for c in chunks)
    signature = json.loads(raw.decode().split("data: ")[-1])["candidates"][0]["content"]["parts"][0]["thoughtSignature"]
    assert chunks[-1].reasoning_parts == (ReasoningPart("gemini", "signature", signature=signature, index=0),)
    message = Message("assistant", text, reasoning_parts=chunks[-1].reasoning_parts)
    assert replayed(message) == [{"text": text, "thoughtSignature": sdk_form(signature)}]


def test_streamed_thoughts_are_delta_reasoning() -> None:
    """Thought parts stream as delta_reasoning; the call's signature is kept by the call's position."""
    events = [
        {"candidates": [{"content": {"role": "model", "parts": [{"text": "Hmm, ", "thought": True}]}}], "responseId": "r1"},
        {"candidates": [{"content": {"role": "model", "parts": [{"text": "weather.", "thought": True}]}}]},
        {
            "candidates": [
                {
                    "content": {"role": "model", "parts": [{"functionCall": {"name": "weather", "args": {}}, "thoughtSignature": "c2ln"}]},
                    "finishReason": "STOP",
                }
            ],
            "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 2},
        },
    ]
    chunks = stream([SseEvent(data=json.dumps(e)) for e in events])
    assert [c.delta_reasoning for c in chunks if c.delta_reasoning] == ["Hmm, ", "weather."]
    assert chunks[-1].reasoning_parts == (
        ReasoningPart("gemini", "thought", "Hmm, weather.", index=0),
        ReasoningPart("gemini", "signature", signature="c2ln", index=1),
    )
    call = chunks[-1].tool_calls[0]
    message = Message("assistant", None, tool_calls=[call], reasoning_parts=chunks[-1].reasoning_parts)
    assert replayed(message) == [
        {"text": "Hmm, weather.", "thought": True},
        {"functionCall": {"name": "weather", "args": {}}, "thoughtSignature": "c2ln"},
    ]


def test_another_formats_reasoning_never_goes_to_gemini() -> None:
    """An Anthropic thinking block (and its signature) is dropped when the conversation moves to Gemini."""
    message = Message(
        "assistant",
        None,
        tool_calls=[ToolCall("call_1", "weather", {"city": "Paris"})],
        reasoning_parts=[ReasoningPart("anthropic", "thinking", "hm", "c2ln", index=0)],
    )
    assert replayed(message) == [{"functionCall": {"name": "weather", "args": {"city": "Paris"}}}]


def test_a_signature_that_is_not_base64_goes_back_as_received() -> None:
    """A signature Gemini did not encode (a gateway's own token) is sent back unchanged, not re-encoded."""
    message = Message(
        "assistant",
        None,
        tool_calls=[ToolCall("call_1", "weather", {})],
        reasoning_parts=[ReasoningPart("gemini", "signature", signature="gw:not base64!", index=0)],
    )
    assert replayed(message) == [{"functionCall": {"name": "weather", "args": {}}, "thoughtSignature": "gw:not base64!"}]
