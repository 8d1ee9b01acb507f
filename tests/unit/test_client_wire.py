"""What the client puts on the wire and how it reads answers, with `responses` (no sockets)."""

from __future__ import annotations

import json

import pytest
import responses
from responses.registries import OrderedRegistry

from ailib import (
    AiClient,
    AiClientBuilder,
    AuthenticationError,
    ChatCompletionRequest,
    Content,
    ContextLengthExceededError,
    CustomProviderBuilder,
    Message,
    ProtocolError,
    ProviderError,
    RetryPolicy,
    Tool,
    ToolCall,
)
from ailib.testing import FakeClock

BASE = "https://gw.example.test/v1"
URL = BASE + "/chat/completions"
KEY = "sk-wire-0123456789abcdef"
OK = {
    "id": "chatcmpl-1",
    "model": "gpt-4o",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi there"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
}


def make_client(**retry) -> AiClient:
    provider = CustomProviderBuilder("gw").with_base_url(BASE).with_api_key(KEY).build_provider()
    policy = RetryPolicy(**{"initial_delay": 0.5, **retry})
    return AiClientBuilder(provider).with_retry(policy).with_clock(FakeClock()).build()


@responses.activate
def test_request_url_headers_and_body():
    """A request goes to {base}/chat/completions with bearer auth and the OpenAI body."""
    responses.post(URL, json=OK)
    req = ChatCompletionRequest(
        "gpt-4o",
        [Message.system("be brief"), Message.user([Content.text("what is this?"), Content.image_url("https://img.test/cat.png")])],
        temperature=0.2,
        max_tokens=50,
        stop="\n\n",
        tools=[Tool.function("lookup", "look up", {"type": "object", "properties": {"q": {"type": "string"}}})],
        tool_choice="lookup",
        extra={"seed": 1},
    )
    resp = make_client().chat_completion(req)
    sent = responses.calls[0].request
    assert sent.headers["Authorization"] == f"Bearer {KEY}"
    assert sent.headers["Content-Type"] == "application/json"
    assert json.loads(sent.body) == {
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "be brief"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is this?"},
                    {"type": "image_url", "image_url": {"url": "https://img.test/cat.png"}},
                ],
            },
        ],
        "temperature": 0.2,
        "max_tokens": 50,
        "stop": ["\n\n"],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "lookup",
                    "description": "look up",
                    "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
                },
            }
        ],
        "tool_choice": {"type": "function", "function": {"name": "lookup"}},
        "seed": 1,
    }
    assert resp.text == "hi there" and resp.usage.total_tokens == 5 and resp.provider == "gw" and resp.id == "chatcmpl-1"


@responses.activate
def test_tool_call_round_trip_body():
    """An assistant tool call and its tool result are sent in the OpenAI shape."""
    responses.post(URL, json=OK)
    req = ChatCompletionRequest(
        "gpt-4o",
        [
            Message.user("weather?"),
            Message.assistant(None, [ToolCall("c1", "weather", {"city": "Paris"})]),
            Message.tool("c1", '{"t": 21}'),
        ],
    )
    make_client().chat_completion(req)
    messages = json.loads(responses.calls[0].request.body)["messages"]
    assert messages[1] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Paris"}'}}],
    }
    assert messages[2] == {"role": "tool", "content": '{"t": 21}', "tool_call_id": "c1"}


@responses.activate
def test_tool_calls_in_response_are_decoded():
    """Tool-call arguments in a response are decoded JSON objects."""
    body = {
        "id": "x",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [{"id": "c9", "type": "function", "function": {"name": "f", "arguments": '{"n": [1, 2]}'}}],
                },
                "finish_reason": "tool_calls",
            }
        ],
    }
    responses.post(URL, json=body)
    resp = make_client().chat_completion(ChatCompletionRequest("m", [Message.user("x")]))
    assert resp.tool_calls == (ToolCall("c9", "f", {"n": [1, 2]}),) and resp.finish_reason == "tool_calls"


@responses.activate(registry=OrderedRegistry)
def test_retry_sequence_500_500_200():
    """500, 500, 200 succeeds on the third call; the backoff sleeps go to the clock."""
    responses.post(URL, json={"error": {"message": "boom"}}, status=500)
    responses.post(URL, json={"error": {"message": "boom"}}, status=500)
    responses.post(URL, json=OK)
    resp = make_client().chat_completion(ChatCompletionRequest("m", [Message.user("x")]))
    assert len(responses.calls) == 3
    assert [a.outcome for a in resp.attempts] == ["error", "error", "ok"]
    assert all(isinstance(a.error, ProviderError) for a in resp.attempts[:2])


@pytest.mark.parametrize("status", [400, 401])
@responses.activate
def test_client_errors_are_tried_once(status):
    """400 and 401 are never retried."""
    responses.post(URL, json={"error": {"message": "no"}}, status=status)
    with pytest.raises(Exception) as info:
        make_client().chat_completion(ChatCompletionRequest("m", [Message.user("x")]))
    assert len(responses.calls) == 1
    assert len(info.value.attempts) == 1


@responses.activate
def test_context_length_error_from_openai_code():
    """OpenAI's context_length_exceeded code gives ContextLengthExceededError."""
    responses.post(
        URL, json={"error": {"message": "too long", "type": "invalid_request_error", "code": "context_length_exceeded"}}, status=400
    )
    with pytest.raises(ContextLengthExceededError):
        make_client().chat_completion(ChatCompletionRequest("m", [Message.user("x")]))


@responses.activate
def test_auth_error_never_shows_the_key():
    """A 401's error text and repr contain no API key."""
    responses.post(URL, json={"error": {"message": f"Incorrect API key provided: {KEY}"}}, status=401)
    with pytest.raises(AuthenticationError) as info:
        make_client().chat_completion(ChatCompletionRequest("m", [Message.user("x")]))
    assert KEY not in str(info.value) and KEY not in repr(info.value) and KEY not in repr(info.value.attempts)


@pytest.mark.parametrize(
    "body, content_type, fragment",
    [
        (b'{"choices": [', "application/json", "malformed JSON"),
        (b"<html>oops</html>", "text/html", "content type"),
        (b"<html>oops</html>", None, "got no content type"),
        (b'{"choices": [', None, "got no content type"),
        (b"", "application/json", "empty"),
        (b'{"choices": []}', "application/json", "no choices"),
        (b'{"id": "x"}', "application/json", "response shape"),
        (b"[1, 2]", "application/json", "JSON object"),
        (b'{"choices": [{"message": {"content": 5}}]}', "application/json", "content"),
    ],
)
@responses.activate
def test_bad_bodies_are_protocol_errors(body, content_type, fragment):
    """Malformed or unexpected 200 bodies raise ProtocolError, never KeyError/JSONDecodeError."""
    responses.post(URL, body=body, content_type=content_type)
    with pytest.raises(ProtocolError, match=fragment):
        make_client().chat_completion(ChatCompletionRequest("m", [Message.user("x")]))
    assert len(responses.calls) == 1  # a protocol error is not retried


@responses.activate
def test_a_json_body_without_content_type_is_parsed():
    """A 200 whose body is valid JSON but carries no Content-Type (requests-mock's json=) is decoded as openai-python does."""
    responses.post(URL, body=json.dumps(OK), content_type=None)
    resp = make_client().chat_completion(ChatCompletionRequest("m", [Message.user("x")]))
    assert "content-type" not in {k.lower() for k in responses.calls[0].response.headers}
    assert resp.text == "hi there" and resp.usage.total_tokens == 5


@responses.activate
def test_reasoning_models_get_max_completion_tokens():
    """o-series models take max_completion_tokens instead of max_tokens."""
    responses.post(URL, json=OK)
    make_client().chat_completion(ChatCompletionRequest("o3-mini", [Message.user("x")], max_tokens=9))
    body = json.loads(responses.calls[0].request.body)
    assert body["max_completion_tokens"] == 9 and "max_tokens" not in body


@responses.activate
def test_list_models():
    """list_models reads the /models listing."""
    responses.get(BASE + "/models", json={"data": [{"id": "a"}, {"id": "b"}]})
    assert make_client().list_models() == ["a", "b"]
