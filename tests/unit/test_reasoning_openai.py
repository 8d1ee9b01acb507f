"""OpenAI-compatible reasoning text (DeepSeek ``reasoning_content``, OpenRouter ``reasoning``):
shown on responses and chunks, kept on the message, never sent back."""

from __future__ import annotations

import json

from ailib import ChatCompletionRequest, Message, ReasoningPart
from ailib._sse import SseEvent
from ailib.providers._registry import PROVIDERS, Provider
from ailib.providers.openai import WIRE_FORMAT

SPEC = PROVIDERS[Provider.OPENAI]


def body(**message: object) -> dict[str, object]:
    msg = {"role": "assistant", "content": "9.11 < 9.9", **message}
    return {"id": "x", "model": "deepseek-reasoner", "choices": [{"index": 0, "message": msg, "finish_reason": "stop"}]}


def test_reasoning_content_and_reasoning_are_the_answers_reasoning() -> None:
    """DeepSeek's reasoning_content and OpenRouter's reasoning become .reasoning and a reasoning part named by its key."""
    for key in ("reasoning_content", "reasoning"):
        resp = WIRE_FORMAT.decode(body(**{key: "Compare decimals."}), provider="deepseek", model="m", headers={})
        assert resp.reasoning == "Compare decimals." and resp.text == "9.11 < 9.9"
        assert resp.choices[0].message.reasoning_parts == (ReasoningPart("openai", key, "Compare decimals."),)
    resp = WIRE_FORMAT.decode(body(reasoning_content=None), provider="deepseek", model="m", headers={})
    assert resp.reasoning is None and resp.choices[0].message.reasoning_parts == ()


def test_streamed_reasoning_content_is_delta_reasoning() -> None:
    """delta.reasoning_content pieces (content null, as deepseek-reasoner streams them) are delta_reasoning; the last chunk holds the part."""
    decoder = WIRE_FORMAT.stream_decoder(provider="deepseek", model="deepseek-reasoner")
    deltas = [
        {"role": "assistant", "content": None, "reasoning_content": ""},
        {"content": None, "reasoning_content": "Okay"},
        {"content": None, "reasoning_content": ", compare."},
        {"content": "9.11 < 9.9", "reasoning_content": None},
    ]
    chunks = []
    for d in deltas:
        event = {"id": "c1", "object": "chat.completion.chunk", "model": "deepseek-reasoner", "choices": [{"index": 0, "delta": d}]}
        chunks += decoder.feed(SseEvent(data=json.dumps(event)))
    chunks += decoder.feed(SseEvent(data="[DONE]"))
    assert [c.delta_reasoning for c in chunks if c.delta_reasoning] == ["Okay", ", compare."]
    assert chunks[-1].reasoning_parts == (ReasoningPart("openai", "reasoning_content", "Okay, compare."),)


def test_reasoning_content_is_never_sent_back() -> None:
    """DeepSeek rejects reasoning_content in input messages: a replayed answer goes without it."""
    message = Message("assistant", "9.11 < 9.9", reasoning_parts=[ReasoningPart("openai", "reasoning_content", "Compare.")])
    request = ChatCompletionRequest("deepseek-reasoner", [Message.user("Which is larger?"), message, Message.user("Why?")])
    sent = WIRE_FORMAT.encode(request, "deepseek-reasoner", stream=False, spec=SPEC)["messages"][1]
    assert sent == {"role": "assistant", "content": "9.11 < 9.9"}
