"""The decode hot path builds the same values as the plain constructors, and errors keep their request id."""

from __future__ import annotations

import json

import pytest
from requests.structures import CaseInsensitiveDict
from urllib3 import HTTPHeaderDict

from ailib import ChatCompletionResponse, Choice, Message, ProtocolError, Role, ToolCall, Usage
from ailib.providers import _base
from ailib.providers._base import assistant_message, decode_body, response
from ailib.providers._formats import get_wire_format

CALLS = (ToolCall("c1", "lookup", {"q": "x"}), ToolCall("c2", "other", {}))


@pytest.mark.parametrize("content, calls", [("hello", None), (None, CALLS), ("", CALLS), ("é🚀\u2028", None)])
def test_assistant_message_equals_the_plain_constructor(content, calls):
    """assistant_message() builds a Message equal to Message(Role.ASSISTANT, ...): fields, eq, repr (and hash without tool calls)."""
    fast = assistant_message(content, calls)
    plain = Message(Role.ASSISTANT, content, tool_calls=calls)
    assert fast == plain and repr(fast) == repr(plain)
    assert calls is not None or hash(fast) == hash(plain)  # tool-call arguments are dicts: unhashable either way
    assert (fast.role, fast.content, fast.name, fast.tool_calls, fast.tool_call_id) == (Role.ASSISTANT, content, None, calls, None)


def test_assistant_message_falls_back_when_message_changes_shape(monkeypatch):
    """With the shape check off (as when Message's fields change), assistant_message() uses the real constructor."""
    monkeypatch.setattr(_base, "_FAST_MESSAGE", False)
    assert assistant_message("hi", CALLS) == Message(Role.ASSISTANT, "hi", tool_calls=CALLS)


def test_response_equals_the_keyword_constructor():
    """response() builds the same ChatCompletionResponse as the keyword constructor (raw kept, no attempts)."""
    choices = (Choice(0, Message.assistant("hi"), "stop"),)
    raw = {"id": "r"}
    fast = response("r", "m", "p", choices, Usage(1, 2, 3), raw)
    plain = ChatCompletionResponse(id="r", model="m", provider="p", choices=choices, usage=Usage(1, 2, 3), raw=raw)
    assert fast == plain and fast.raw is raw and fast.attempts == () and fast.cost is None


@pytest.mark.parametrize("headers_type", [CaseInsensitiveDict, HTTPHeaderDict])
def test_decode_body_errors_still_carry_the_request_id(headers_type):
    """A malformed 200 body raises ProtocolError with the request id read from the headers (read only on this path)."""
    headers = headers_type({"Content-Type": "application/json", "X-Request-Id": "req-42"})
    with pytest.raises(ProtocolError) as info:
        decode_body(get_wire_format("openai"), 200, headers, b'{"choices": [', provider="p", model="m", now=0.0)
    assert info.value.request_id == "req-42" and info.value.status_code == 200


def test_openai_decode_of_a_body_with_tool_calls_and_text():
    """The OpenAI decode fast path keeps text, tool calls (arguments decoded), finish reason and usage."""
    body = {
        "id": "x",
        "model": "gpt",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "ok",
                    "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": '{"q": "x"}'}}],
                },
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
    }
    resp = decode_body(
        get_wire_format("openai"), 200, {"content-type": "application/json"}, json.dumps(body).encode(), provider="p", model="m", now=0.0
    )
    assert resp.choices == (Choice(0, Message(Role.ASSISTANT, "ok", tool_calls=(ToolCall("c1", "lookup", {"q": "x"}),)), "tool_calls"),)
    assert (resp.id, resp.model, resp.provider, resp.usage, resp.raw) == ("x", "gpt", "p", Usage(3, 4, 7), body)


def test_the_fast_message_path_is_in_use():
    """With today's Message, assistant_message() takes its fast path (a Message field change must revisit it)."""
    assert _base._FAST_MESSAGE and _base._POSITIONAL_RESPONSE
