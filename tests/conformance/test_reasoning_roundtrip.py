"""Reasoning that makes the round trip: a thinking-enabled tool loop sends, for the assistant turn,
exactly what the official SDK sends for the same turn (byte-equal JSON after key sorting).

The SDK and ailib each talk to MockProvider, get the same scripted answer (thinking with its
signature, then a tool call), and send it back with the tool's result; the mock records both
second requests and the assistant turns are compared.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest

from ailib import AiClient, AiClientBuilder, ChatCompletionRequest, Message, Tool
from ailib.testing import Fault, MockProvider
from ailib.testing._faults import mock_signature

from .conftest import KEY, TOOL, WEATHER_TOOL_SCHEMA

anthropic = pytest.importorskip("anthropic")

THINKING = "The user wants the weather in Paris. I should call get_weather."
MODEL = "claude-sonnet-4-5"


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False)


@pytest.fixture
def mock() -> Iterator[MockProvider]:
    with MockProvider("anthropic", api_key=KEY) as m:
        yield m


@pytest.fixture
def ai(mock: MockProvider) -> Iterator[AiClient]:
    c = AiClientBuilder(mock.provider(api_key=KEY)).build()
    yield c
    c.close()


def _sdk_turn(mock: MockProvider, stream: bool) -> list[Any]:
    """What the official SDK sends back as the assistant turn of the tool loop."""
    sdk = anthropic.Anthropic(api_key=KEY, base_url=mock.url, max_retries=0, timeout=10)
    tools = [{"name": TOOL[1], "description": "Weather", "input_schema": WEATHER_TOOL_SCHEMA}]
    messages: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
    thinking = {"type": "enabled", "budget_tokens": 1024}
    try:
        if stream:
            with sdk.messages.stream(model=MODEL, max_tokens=2048, messages=messages, tools=tools, thinking=thinking) as s:
                first = s.get_final_message()
        else:
            first = sdk.messages.create(model=MODEL, max_tokens=2048, messages=messages, tools=tools, thinking=thinking)
        block = next(b for b in first.content if b.type == "tool_use")
        messages += [
            {"role": "assistant", "content": first.content},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": block.id, "content": "18C"}]},
        ]
        sdk.messages.create(model=MODEL, max_tokens=2048, messages=messages, tools=tools, thinking=thinking)
    finally:
        sdk.close()
    return list(mock.chat_requests[-1].json["messages"][1]["content"])


def _ailib_turn(mock: MockProvider, ai: AiClient, stream: bool) -> tuple[list[Any], Message]:
    tool = Tool.function(TOOL[1], "Weather", WEATHER_TOOL_SCHEMA)
    thinking = {"thinking": {"type": "enabled", "budget_tokens": 1024}}
    messages = [Message.user("Weather in Paris?")]
    first = ChatCompletionRequest(MODEL, messages, max_tokens=2048, tools=[tool], extra=thinking)
    if stream:
        with ai.chat_completion_stream(first) as s:
            answer = s.collect().choices[0].message
    else:
        answer = ai.chat_completion(first).choices[0].message
    call = answer.tool_calls[0] if answer.tool_calls else None
    assert call is not None
    ai.chat_completion(
        ChatCompletionRequest(MODEL, [*messages, answer, Message.tool(call.id, "18C")], max_tokens=2048, tools=[tool], extra=thinking)
    )
    return list(mock.chat_requests[-1].json["messages"][1]["content"]), answer


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
def test_thinking_tool_loop_sends_the_turn_the_sdk_sends(mock: MockProvider, ai: AiClient, stream: bool) -> None:
    """Thinking (with its signature) then tool_use goes back as [thinking, tool_use], byte-equal to the SDK's turn."""
    mock.enqueue(Fault.ok("", tool_calls=(TOOL,), reasoning=THINKING), Fault.ok("18C in Paris."))
    sdk_turn = _sdk_turn(mock, stream)
    mock.enqueue(Fault.ok("", tool_calls=(TOOL,), reasoning=THINKING), Fault.ok("18C in Paris."))
    ours, answer = _ailib_turn(mock, ai, stream)
    assert [b["type"] for b in sdk_turn] == ["thinking", "tool_use"]
    assert sdk_turn[0]["signature"]
    assert _canonical(ours) == _canonical(sdk_turn)
    assert answer.reasoning == THINKING


GEMINI_MODEL = "gemini-3-pro-preview"


@pytest.fixture
def gemini_mock() -> Iterator[MockProvider]:
    with MockProvider("gemini", api_key=KEY) as m:
        yield m


def _genai_turn(mock: MockProvider) -> list[Any]:
    """What google-genai sends back as the model turn: ``response.candidates[0].content`` as received."""
    genai = pytest.importorskip("google.genai")
    from google.genai import types

    options = types.HttpOptions(base_url=mock.url, timeout=10_000, retry_options=types.HttpRetryOptions(attempts=1))
    client = genai.Client(api_key=KEY, http_options=options)
    declaration = types.FunctionDeclaration(name=TOOL[1], description="Weather", parameters_json_schema=WEATHER_TOOL_SCHEMA)
    config = types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=[declaration])], thinking_config=types.ThinkingConfig(include_thoughts=True)
    )
    contents: list[Any] = [types.Content(role="user", parts=[types.Part(text="Weather in Paris?")])]
    first = client.models.generate_content(model=GEMINI_MODEL, contents=contents, config=config)
    call = first.function_calls[0]
    contents += [
        first.candidates[0].content,
        types.Content(role="user", parts=[types.Part.from_function_response(name=call.name, response={"output": "18C"})]),
    ]
    client.models.generate_content(model=GEMINI_MODEL, contents=contents, config=config)
    return list(mock.chat_requests[-1].json["contents"][1]["parts"])


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
def test_gemini_thought_signatures_go_back_as_the_sdk_sends_them(gemini_mock: MockProvider, stream: bool) -> None:
    """Gemini 3 tool loop: the thought part and the functionCall's thoughtSignature go back as google-genai sends them."""
    gemini_mock.enqueue(Fault.ok("", tool_calls=(TOOL,), reasoning=THINKING), Fault.ok("18C in Paris."))
    sdk_turn = _genai_turn(gemini_mock)
    gemini_mock.enqueue(Fault.ok("", tool_calls=(TOOL,), reasoning=THINKING), Fault.ok("18C in Paris."))
    with AiClientBuilder(gemini_mock.provider(api_key=KEY)).build() as ai:
        tool = Tool.function(TOOL[1], "Weather", WEATHER_TOOL_SCHEMA)
        thinking = {"generationConfig": {"thinkingConfig": {"includeThoughts": True}}}
        messages = [Message.user("Weather in Paris?")]
        first = ChatCompletionRequest(GEMINI_MODEL, messages, tools=[tool], extra=thinking)
        if stream:
            with ai.chat_completion_stream(first) as s:
                answer = s.collect().choices[0].message
        else:
            answer = ai.chat_completion(first).choices[0].message
        call = answer.tool_calls[0] if answer.tool_calls else None
        assert call is not None and answer.reasoning == THINKING
        follow = [*messages, answer, Message.tool(call.id, "18C")]
        ai.chat_completion(ChatCompletionRequest(GEMINI_MODEL, follow, tools=[tool], extra=thinking))
    ours = list(gemini_mock.chat_requests[-1].json["contents"][1]["parts"])
    assert [sorted(p) for p in sdk_turn] == [["text", "thought"], ["functionCall", "thoughtSignature"]]
    # Byte-equal, no decoding step: ailib sends a signature as google-genai does (its bytes in
    # URL-safe base64), whatever alphabet Gemini (here the mock, standard base64) sent it in.
    assert _canonical(ours) == _canonical(sdk_turn)
    received = mock_signature(THINKING)
    assert set("+/") & set(received)  # the two alphabets differ for this signature
    assert answer.reasoning_parts[-1].signature == received  # kept on the message as received
    assert base64.urlsafe_b64decode(ours[1]["thoughtSignature"]) == base64.b64decode(received)  # the same bytes
