"""Messages, requests and responses: construction, validation, conversions."""

from __future__ import annotations

import base64

import attrs
import pytest

from ailib import (
    AiLibError,
    ChatCompletionRequest,
    ChatCompletionResponse,
    Choice,
    Content,
    InvalidRequestError,
    Message,
    Role,
    Tool,
    ToolCall,
    Usage,
)


def test_request_accepts_openai_style_dicts():
    """A message given as an OpenAI-style dict becomes a Message with a Role."""
    req = ChatCompletionRequest("gpt-4o", [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}])
    assert req.messages == (Message.system("be brief"), Message.user("hi"))
    assert req.messages[0].role is Role.SYSTEM


def test_dict_content_parts_become_content_objects():
    """OpenAI content parts (text + image_url) become Content parts."""
    m = Message.from_dict(
        {"role": "user", "content": [{"type": "text", "text": "look"}, {"type": "image_url", "image_url": {"url": "https://x/cat.png"}}]}
    )
    assert m.content == (Content.text("look"), Content.image_url("https://x/cat.png"))


def test_dict_tool_calls_decode_arguments():
    """An assistant dict's tool call arguments (a JSON string) are decoded."""
    m = Message.from_dict(
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}],
        }
    )
    assert m.tool_calls == (ToolCall("c1", "f", {"a": 1}),)


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        (dict(messages=[]), "at least one message"),
        (dict(messages=[{"role": "wizard", "content": "x"}]), "unknown role"),
        (dict(messages=[Message.user("x")], max_tokens=-1), "max_tokens"),
        (dict(messages=[Message.user("x")], max_tokens=0), "max_tokens"),
        (dict(messages=[Message.user("x")], extra={"k": object()}), "not JSON-serialisable"),
        (dict(messages=[Message.user("x")], temperature=3), "temperature"),
        (dict(messages="hello"), "messages must be a list"),
        (dict(messages=[{"content": "no role"}]), "no 'role'"),
        (dict(messages=[Message.user("x")], stop=[1]), "stop"),
    ],
)
def test_invalid_requests_fail_at_construction(kwargs, fragment):
    """Invalid input raises InvalidRequestError (a ValueError) naming the problem."""
    with pytest.raises(InvalidRequestError, match=fragment) as info:
        ChatCompletionRequest("m", **kwargs)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    "messages, fragment",
    [
        ({"role": "user", "content": "hi"}, "got one dict: wrap it in a list"),
        (Message.user("hi"), "got one Message: wrap it in a list"),
        (42, "got a int"),
        ([Message.user("a"), "hi"], r"messages\[1\] must be a Message or an OpenAI-style dict, got a str"),
    ],
)
def test_messages_of_the_wrong_shape_say_what_was_passed_and_what_is_expected(messages, fragment):
    """A dict (or Message) instead of a list of them, or a bad item, names what was given and the expected list of messages."""
    with pytest.raises(InvalidRequestError, match=fragment) as info:
        ChatCompletionRequest("m", messages)
    assert "a list of Message objects or OpenAI-style dicts" in str(info.value) or "messages[1]" in str(info.value)


def test_model_none_means_auto():
    """A missing model means the serving provider's default."""
    assert ChatCompletionRequest(None, [Message.user("x")]).model == "auto"


def test_request_round_trips_through_dict():
    """to_dict/from_dict preserve every field, extra included."""
    req = ChatCompletionRequest(
        "m",
        [Message.user("x")],
        temperature=0.5,
        max_tokens=10,
        top_p=0.9,
        stop=["\n"],
        tools=[Tool.function("f", "does f", {"type": "object", "properties": {"a": {"type": "integer"}}})],
        extra={"seed": 7},
    )
    assert ChatCompletionRequest.from_dict(req.to_dict()) == req


def test_image_file_is_inlined_as_base64(tmp_path):
    """Content.image_file reads the file and keeps its media type."""
    p = tmp_path / "dot.png"
    p.write_bytes(b"\x89PNG fake")
    c = Content.image_file(p)
    assert c.kind == "image_base64" and c.media_type == "image/png"
    assert base64.b64decode(c.value) == b"\x89PNG fake"


def test_image_file_missing_is_a_clear_error(tmp_path):
    """A missing image file raises InvalidRequestError, not OSError."""
    with pytest.raises(InvalidRequestError, match="cannot read"):
        Content.image_file(tmp_path / "nope.png")


def test_data_url_becomes_inline_image():
    """A data: URL is treated as inline base64 with its media type."""
    c = Content.image_url("data:image/jpeg;base64,AAAA")
    assert (c.kind, c.media_type, c.value) == ("image_base64", "image/jpeg", "AAAA")


def test_has_images_detects_image_parts():
    """has_images is true only when a message carries an image part."""
    assert not ChatCompletionRequest("m", [Message.user("x")]).has_images
    assert ChatCompletionRequest("m", [Message.user([Content.text("x"), Content.image_url("https://i")])]).has_images


def _response(message: Message) -> ChatCompletionResponse:
    return ChatCompletionResponse("id", "m", "p", (Choice(0, message, "stop"),), Usage(1, 2, 3))


def test_first_text_returns_text():
    """first_text gives the first choice's text."""
    assert _response(Message.assistant("hello")).first_text() == "hello"


def test_first_text_raises_when_only_tool_calls():
    """first_text raises AiLibError (not KeyError) when the answer is only tool calls."""
    resp = _response(Message.assistant(None, [ToolCall("c", "f", {})]))
    with pytest.raises(AiLibError, match="only tool calls"):
        resp.first_text()
    assert resp.text == ""
    assert resp.tool_calls == (ToolCall("c", "f", {}),)


def test_response_round_trips_through_dict():
    """A response survives to_dict/from_dict (the checkpoint format)."""
    resp = _response(Message.assistant("hi", [ToolCall("c", "f", {"x": [1]})]))
    again = ChatCompletionResponse.from_dict(resp.to_dict())
    assert attrs.evolve(again, raw=None) == attrs.evolve(resp, raw=None)


def test_frozen():
    """Requests are immutable values."""
    req = ChatCompletionRequest("m", [Message.user("x")])
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        req.model = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    "build",
    [
        lambda: Message.user(None),
        lambda: Message.system(None),
        lambda: Message.tool("call_1", None),
        lambda: Message("user", None),
        lambda: ChatCompletionRequest("m", [{"role": "user", "content": None}]),
        lambda: ChatCompletionRequest("m", [{"role": "user"}]),
    ],
)
def test_none_content_is_rejected_at_construction(build):
    """A system, user or tool message with None content raises InvalidRequestError instead of sending "content": null."""
    with pytest.raises(InvalidRequestError, match="needs content"):
        build()


def test_assistant_message_in_a_request_needs_content_or_tool_calls():
    """An assistant message may lack content only when it calls tools; otherwise the request is invalid."""
    call = ToolCall("c1", "f", {"a": 1})
    ChatCompletionRequest("m", [Message.user("hi"), Message.assistant(None, tool_calls=[call]), Message.tool("c1", "ok")])
    with pytest.raises(InvalidRequestError, match="neither content nor tool calls"):
        ChatCompletionRequest("m", [Message.user("hi"), Message.assistant()])
