"""Cohere tool loop with reasoning on: the assistant turn ailib sends back is the one the official
``cohere`` SDK sends when its answer message is appended as it came (byte-equal JSON after key
sorting): the thinking item, the tool plan and the calls.

The SDK and ailib each talk to MockProvider, get the same scripted answer (thinking, a tool plan,
one tool call), and send it back with the tool's result; the mock records both second requests.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from ailib import AiClientBuilder, ChatCompletionRequest, Message, Tool
from ailib.testing import Fault, MockProvider

from .conftest import KEY, TOOL, WEATHER_TOOL_SCHEMA

cohere = pytest.importorskip("cohere")

THINKING = "The user wants the weather in Paris. I should call get_weather."
MODEL = "command-a-reasoning-08-2025"


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False)


@pytest.fixture
def mock() -> Iterator[MockProvider]:
    with MockProvider("cohere", api_key=KEY) as m:
        yield m


def _sdk_turn(mock: MockProvider) -> dict[str, Any]:
    """What the SDK sends back as the assistant turn: ``response.message`` appended as received."""
    co = cohere.ClientV2(api_key=KEY, base_url=mock.url, timeout=10)
    tools = [{"type": "function", "function": {"name": TOOL[1], "description": "Weather", "parameters": WEATHER_TOOL_SCHEMA}}]
    messages: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
    first = co.chat(model=MODEL, messages=messages, tools=tools, thinking={"type": "enabled", "token_budget": 1024})
    call = first.message.tool_calls[0]
    messages += [first.message, {"role": "tool", "tool_call_id": call.id, "content": "18C"}]
    co.chat(model=MODEL, messages=messages, tools=tools, thinking={"type": "enabled", "token_budget": 1024})
    return dict(mock.chat_requests[-1].json["messages"][1])


def _ailib_turn(mock: MockProvider, stream: bool) -> tuple[dict[str, Any], Message]:
    tool = Tool.function(TOOL[1], "Weather", WEATHER_TOOL_SCHEMA)
    messages = [Message.user("Weather in Paris?")]
    first = ChatCompletionRequest(MODEL, messages, tools=[tool], reasoning=1024)
    with AiClientBuilder(mock.provider(api_key=KEY)).build() as ai:
        if stream:
            with ai.chat_completion_stream(first) as s:
                answer = s.collect().choices[0].message
        else:
            answer = ai.chat_completion(first).choices[0].message
        call = answer.tool_calls[0] if answer.tool_calls else None
        assert call is not None
        ai.chat_completion(ChatCompletionRequest(MODEL, [*messages, answer, Message.tool(call.id, "18C")], tools=[tool], reasoning=1024))
    return dict(mock.chat_requests[-1].json["messages"][1]), answer


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
def test_reasoning_tool_loop_sends_the_turn_the_sdk_sends(mock: MockProvider, stream: bool) -> None:
    """Thinking, tool plan and tool call go back byte-equal to the turn the cohere SDK sends, streamed or not."""
    mock.enqueue(Fault.ok("", tool_calls=(TOOL,), reasoning=THINKING), Fault.ok("18C in Paris."))
    sdk_turn = _sdk_turn(mock)
    mock.enqueue(Fault.ok("", tool_calls=(TOOL,), reasoning=THINKING), Fault.ok("18C in Paris."))
    ours, answer = _ailib_turn(mock, stream)
    assert sdk_turn["content"] == [{"type": "thinking", "thinking": THINKING}] and sdk_turn["tool_plan"]
    assert _canonical(ours) == _canonical(sdk_turn)
    assert answer.reasoning == THINKING + sdk_turn["tool_plan"]
