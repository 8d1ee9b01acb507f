"""The `openai` SDK's Responses API (`client.responses.create` / `.stream`) against MockProvider,
and the turn ailib sends back in a tool loop compared with the one openai-python sends when
the user passes `response.output` back as input."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from ailib import AiClientBuilder, ChatCompletionRequest, ConnectionOptions, Message, Provider, Tool
from ailib.testing import Fault, MockProvider, Reply

from .conftest import KEY, TEXT, TOOL, WEATHER_TOOL_SCHEMA, served

openai = pytest.importorskip("openai")

MODEL = "gpt-5-pro"
TOOLS = [{"type": "function", "name": TOOL[1], "description": "Weather", "parameters": WEATHER_TOOL_SCHEMA}]
THINKING = "The user asks for the weather in Paris; get_weather answers that."


@pytest.fixture(scope="module")
def module_mock() -> Iterator[MockProvider]:
    yield from served("openai")


@pytest.fixture
def mock(module_mock: MockProvider) -> MockProvider:
    module_mock.reset()
    return module_mock


@pytest.fixture
def sdk(mock: MockProvider) -> Iterator[Any]:
    client = openai.OpenAI(api_key=KEY, base_url=mock.base_url, max_retries=0, timeout=10)
    yield client
    client.close()


def test_create_returns_the_text_and_usage(sdk: Any) -> None:
    """responses.create: a completed Response whose output_text is the reply and whose usage adds up."""
    response = sdk.responses.create(model=MODEL, input="hi", instructions="Be brief.")
    assert (response.status, response.output_text, response.instructions) == ("completed", TEXT, "Be brief.")
    usage = response.usage
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (11, 7, 18)
    assert usage.input_tokens_details.cached_tokens == 0 and usage.output_tokens_details.reasoning_tokens == 0


def test_create_streamed_gives_typed_events_in_order(sdk: Any) -> None:
    """stream=True: created, in_progress, the item and part events with text deltas, then completed with the whole response."""
    events = list(sdk.responses.create(model=MODEL, input="hi", stream=True))
    kinds = [e.type for e in events]
    assert kinds[:4] == ["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added"]
    assert kinds[-4:] == ["response.output_text.done", "response.content_part.done", "response.output_item.done", "response.completed"]
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == TEXT
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert events[-1].response.output_text == TEXT and events[-1].response.usage.total_tokens == 18


def test_the_stream_helper_accumulates_the_final_response(sdk: Any) -> None:
    """responses.stream(): the SDK's own accumulator rebuilds the same text from the events."""
    with sdk.responses.stream(model=MODEL, input="hi") as stream:
        final = stream.get_final_response()
    assert final.output_text == TEXT


def test_reasoning_and_function_calls_parse(sdk: Any, mock: MockProvider) -> None:
    """A reasoning item (summary, encrypted_content when included) then a function_call item parse as the SDK's types."""
    mock.enqueue(Fault.ok("", tool_calls=(TOOL,), reasoning=THINKING))
    response = sdk.responses.create(model=MODEL, input="Weather?", tools=TOOLS, include=["reasoning.encrypted_content"])
    reasoning, call = response.output
    assert reasoning.type == "reasoning" and reasoning.summary[0].text == THINKING and reasoning.encrypted_content
    assert (call.type, call.call_id, call.name, json.loads(call.arguments)) == ("function_call", *TOOL)


def test_streamed_function_call_arguments_join(sdk: Any, mock: MockProvider) -> None:
    """function_call_arguments.delta events join into the arguments the .done event and the item carry."""
    mock.enqueue(Fault.ok("", tool_calls=(TOOL,)))
    events = list(sdk.responses.create(model=MODEL, input="Weather?", tools=TOOLS, stream=True))
    pieces = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
    done = next(e for e in events if e.type == "response.function_call_arguments.done")
    assert json.loads(pieces) == TOOL[2] and done.arguments == pieces
    assert events[-1].response.output[0].arguments == pieces


def test_an_error_status_is_the_sdks_error(sdk: Any, mock: MockProvider) -> None:
    """A scripted 500 reaches the SDK as InternalServerError; a chat-shaped body as BadRequestError."""
    mock.enqueue(Fault.http_status(500))
    with pytest.raises(openai.InternalServerError):
        sdk.responses.create(model=MODEL, input="hi")
    with pytest.raises(openai.BadRequestError, match="messages"):
        sdk.responses.create(model=MODEL, input="hi", extra_body={"messages": []})


def test_an_error_event_is_the_sdks_api_error(sdk: Any, mock: MockProvider) -> None:
    """A scripted error event mid-stream raises the SDK's APIError with the event's message, after the text so far."""
    mock.enqueue(Fault.error_event(3, error_type="server_error", message="The server had an error"))
    seen: list[str] = []
    with pytest.raises(openai.APIError, match="The server had an error"):
        for event in sdk.responses.create(model=MODEL, input="hi", stream=True):
            seen.append(event.type)
    assert "response.output_text.delta" in seen


def test_an_incomplete_response_says_why(sdk: Any, mock: MockProvider) -> None:
    """A reply cut by max_output_tokens is status incomplete with incomplete_details.reason, streamed as response.incomplete."""
    mock.enqueue(Fault("ok", reply=Reply("Part", finish_reason="length")))
    response = sdk.responses.create(model=MODEL, input="hi", max_output_tokens=16)
    assert (response.status, response.incomplete_details.reason) == ("incomplete", "max_output_tokens")
    mock.enqueue(Fault("ok", reply=Reply("Part", finish_reason="length")))
    events = list(sdk.responses.create(model=MODEL, input="hi", max_output_tokens=16, stream=True))
    assert events[-1].type == "response.incomplete"


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False)


def _sdk_turn(mock: MockProvider, stream: bool) -> list[Any]:
    """What openai-python sends as the second turn's input when given ``response.output`` back."""
    sdk = openai.OpenAI(api_key=KEY, base_url=mock.base_url, max_retries=0, timeout=10)
    kw: dict[str, Any] = dict(model=MODEL, tools=TOOLS, reasoning={"effort": "high"}, store=False, include=["reasoning.encrypted_content"])
    items: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
    try:
        if stream:
            with sdk.responses.stream(input=items, **kw) as s:
                first = s.get_final_response()
        else:
            first = sdk.responses.create(input=items, **kw)
        call = next(o for o in first.output if o.type == "function_call")
        items = [*items, *first.output, {"type": "function_call_output", "call_id": call.call_id, "output": "18C"}]
        sdk.responses.create(input=items, **kw)
    finally:
        sdk.close()
    return list(mock.chat_requests[-1].json["input"])


def _ailib_turn(mock: MockProvider, stream: bool) -> list[Any]:
    tool = Tool.function(TOOL[1], "Weather", WEATHER_TOOL_SCHEMA)
    options = ConnectionOptions(api_key=KEY, base_url=mock.base_url)
    messages = [Message.user("Weather in Paris?")]
    extra = {"store": False}
    with AiClientBuilder(Provider.OPENAI).with_connection_options(options).without_retry().build() as ai:
        first = ChatCompletionRequest(MODEL, messages, tools=[tool], reasoning="high", extra=extra)
        if stream:
            with ai.chat_completion_stream(first) as s:
                answer = s.collect().choices[0].message
        else:
            answer = ai.chat_completion(first).choices[0].message
        call = answer.tool_calls[0]
        turn = [*messages, answer, Message.tool(call.id, "18C")]
        ai.chat_completion(ChatCompletionRequest(MODEL, turn, tools=[tool], reasoning="high", extra=extra))
    return list(mock.chat_requests[-1].json["input"])


@pytest.mark.parametrize("reply", ["call", "text+call"])
@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
def test_the_tool_loop_sends_back_what_openai_python_sends(mock: MockProvider, stream: bool, reply: str) -> None:
    """Reasoning (encrypted), maybe text, then a function call: ailib's second-turn input equals openai-python's
    (response.output passed back), item for item (JSON with sorted keys), but for the fields the API does not
    read on input (the message's logprobs)."""
    text = "Let me check." if reply == "text+call" else ""
    script = (Fault.ok(text, tool_calls=(TOOL,), reasoning=THINKING), Fault.ok("18C in Paris."))
    mock.enqueue(*script)
    theirs = _sdk_turn(mock, stream)
    mock.enqueue(*script)
    ours = _ailib_turn(mock, stream)
    for item in theirs:
        for part in item.get("content") or () if isinstance(item.get("content"), list) else ():
            part.pop("logprobs", None)
    assert [i.get("type", "message") for i in theirs][1:3] == ["reasoning", "message" if text else "function_call"]
    assert _canonical(ours) == _canonical(theirs)
