"""The Responses API translator on its own: request bodies for every kind of message and part,
and answers (bodies and stream events) in their edge cases. Shapes of the API with made-up values."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ailib import ChatCompletionRequest, Content, Message, Provider, ReasoningPart, Tool, ToolCall
from ailib._sse import SseEvent
from ailib.errors import ContentFilteredError, InvalidRequestError, ProtocolError, ProviderError, RateLimitExceeded
from ailib.providers._base import decode_body
from ailib.providers._wire_api import RESPONSES_ONLY_MODELS, responses_only
from ailib.providers.openai_responses import WIRE_FORMAT, AzureResponsesFormat

SPEC = Provider.OPENAI.spec
JSON = {"content-type": "application/json"}


def encode(*messages: Any, **kw: Any) -> dict[str, Any]:
    return WIRE_FORMAT.encode(ChatCompletionRequest("gpt-5-pro", list(messages), **kw), "gpt-5-pro", stream=False, spec=SPEC)


def decode(data: dict[str, Any]) -> Any:
    return decode_body(WIRE_FORMAT, 200, JSON, json.dumps(data).encode(), provider="openai", model="gpt-5-pro", now=0.0)


def test_user_parts_are_input_text_image_and_file_parts() -> None:
    """Text, an image URL (detail kept, else auto), inline file data, a file id and a file URL each become their input part."""
    body = encode(
        Message.user(
            [
                Content.text("Look:"),
                Content.image_url("https://example.com/a.png", detail="low"),
                Content.image_url("https://example.com/b.png"),
                Content.file_base64("JVBERi0=", filename="doc.pdf"),
                Content.file_id("file-1"),
                Content.file_url("https://example.com/c.pdf"),
            ]
        )
    )
    assert body["input"] == [
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": "Look:"},
                {"type": "input_image", "image_url": "https://example.com/a.png", "detail": "low"},
                {"type": "input_image", "image_url": "https://example.com/b.png", "detail": "auto"},
                {"type": "input_file", "filename": "doc.pdf", "file_data": "data:application/pdf;base64,JVBERi0="},
                {"type": "input_file", "file_id": "file-1"},
                {"type": "input_file", "file_url": "https://example.com/c.pdf"},
            ],
        }
    ]


def test_audio_is_refused_before_sending() -> None:
    """The Responses API takes no audio input: InvalidRequestError naming it."""
    with pytest.raises(InvalidRequestError, match="audio"):
        encode(Message.user([Content.audio_base64("UklGRg==", "wav")]))


def test_leading_system_messages_are_instructions_and_later_ones_stay_in_place() -> None:
    """System messages before the conversation join into instructions; a later system or developer message is an input message."""
    body = encode(
        Message.system("One."),
        Message.system("Two."),
        Message.user("hi"),
        Message.system("Later."),
        Message(role="developer", content="Dev."),
    )
    assert body["instructions"] == "One.\n\nTwo."
    assert body["input"] == [
        {"role": "user", "content": "hi"},
        {"role": "system", "content": "Later."},
        {"role": "developer", "content": "Dev."},
    ]


def test_a_hand_made_assistant_turn_is_text_then_function_calls() -> None:
    """An assistant message not from this format: its text as an assistant message, then one function_call per tool call."""
    calls = [ToolCall("call_1", "f", {"x": 1}), ToolCall("call_2", "g", "not json")]
    body = encode(Message.user("hi"), Message.assistant("Sure.", tool_calls=calls), Message.tool("call_1", "ok"))
    assert body["input"][1:] == [
        {"role": "assistant", "content": "Sure."},
        {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": '{"x": 1}'},
        {"type": "function_call", "call_id": "call_2", "name": "g", "arguments": "not json"},
        {"type": "function_call_output", "call_id": "call_1", "output": "ok"},
    ]


def test_other_formats_reasoning_is_dropped_and_a_hand_made_part_is_a_summary() -> None:
    """Anthropic's reasoning never goes to the Responses API; a hand-made openai_responses part goes as a reasoning item."""
    parts = [
        ReasoningPart("anthropic", "thinking", "t", signature="sig"),
        ReasoningPart("openai_responses", "reasoning", "summary", signature="enc"),
    ]
    body = encode(Message.user("hi"), Message.assistant("A.", reasoning_parts=parts))
    assert body["input"][1:] == [
        {"type": "reasoning", "summary": [{"type": "summary_text", "text": "summary"}], "encrypted_content": "enc"},
        {"role": "assistant", "content": "A."},
    ]


def test_json_object_and_a_pydantic_class_become_text_format_as_openai_python_sends_them() -> None:
    """json_object as given; a pydantic class as openai-python's type_to_text_format_param makes it."""
    pydantic = pytest.importorskip("pydantic")
    parsing = pytest.importorskip("openai.lib._parsing._responses")

    class Answer(pydantic.BaseModel):
        city: str
        degrees: int

    assert encode(Message.user("hi"), response_format={"type": "json_object"})["text"] == {"format": {"type": "json_object"}}
    ours = encode(Message.user("hi"), response_format=Answer)["text"]["format"]
    assert ours == parsing.type_to_text_format_param(Answer)


def test_strict_tools_and_tool_choice_keywords() -> None:
    """A strict tool keeps strict; "required" and "none" go as given."""
    tool = Tool.function("f", "F", {"type": "object", "properties": {}}, strict=True)
    body = encode(Message.user("hi"), tools=[tool], tool_choice="required")
    assert body["tools"] == [
        {"type": "function", "name": "f", "description": "F", "parameters": {"type": "object", "properties": {}}, "strict": True}
    ]
    assert body["tool_choice"] == "required"


def test_stream_sets_stream_and_extra_merges_deeply() -> None:
    """stream=True adds stream; extra merges into reasoning next to the effort (reasoning.summary)."""
    request = ChatCompletionRequest("gpt-5-pro", [Message.user("hi")], reasoning=2000, extra={"reasoning": {"summary": "auto"}})
    body = WIRE_FORMAT.encode(request, "gpt-5-pro", stream=True, spec=SPEC)
    assert body["stream"] is True and body["reasoning"] == {"effort": "medium", "summary": "auto"}


def _body(output: list[Any], **kw: Any) -> dict[str, Any]:
    return {"id": "resp_1", "object": "response", "model": "gpt-5-pro", "status": "completed", "output": output, "usage": None, **kw}


def test_a_failed_body_raises_its_classified_error() -> None:
    """status failed with error rate_limit_exceeded is RateLimitExceeded; server_error a ProviderError."""
    with pytest.raises(RateLimitExceeded):
        decode(_body([], status="failed", error={"code": "rate_limit_exceeded", "message": "slow down"}))
    with pytest.raises(ProviderError, match="boom"):
        decode(_body([], status="failed", error={"code": "server_error", "message": "boom"}))


def test_a_failed_response_for_the_requests_own_fault_is_not_retried() -> None:
    """invalid_prompt and image errors are InvalidRequestError (no retry helps); an image policy violation is ContentFilteredError."""
    with pytest.raises(InvalidRequestError, match="bad prompt") as caught:
        decode(_body([], status="failed", error={"code": "invalid_prompt", "message": "bad prompt"}))
    assert not caught.value.is_retryable()
    with pytest.raises(InvalidRequestError):
        decode(_body([], status="failed", error={"code": "image_too_large", "message": "too large"}))
    with pytest.raises(ContentFilteredError):
        decode(_body([], status="failed", error={"code": "image_content_policy_violation", "message": "no"}))
    with pytest.raises(ProviderError) as unknown:
        decode(_body([], status="failed", error={"code": "vector_store_timeout", "message": "slow"}))
    assert unknown.value.is_retryable()


def test_a_body_without_output_is_a_protocol_error() -> None:
    """A 200 body with no output (and no error) is a ProtocolError naming the format."""
    with pytest.raises(ProtocolError, match="openai_responses"):
        decode({"id": "resp_1", "object": "response"})


def test_content_filter_incomplete_and_file_citations() -> None:
    """incomplete for content_filter is finish_reason content_filter; a file_citation's index is its position in the text."""
    part = {
        "type": "output_text",
        "text": "See the file.",
        "annotations": [{"type": "file_citation", "file_id": "f1", "filename": "a.pdf", "index": 13}],
    }
    message = {"type": "message", "id": "msg_1", "role": "assistant", "content": [part]}
    resp = decode(_body([message], status="incomplete", incomplete_details={"reason": "content_filter"}))
    (cite,) = resp.citations
    assert resp.finish_reason == "content_filter" and (cite.kind, cite.title, cite.start, cite.end) == ("file_citation", "a.pdf", 13, 13)


def test_two_text_parts_offset_the_second_parts_citations() -> None:
    """A citation in the second output_text part points into the whole text (its start shifted by the first part)."""
    first = {"type": "output_text", "text": "Hello. ", "annotations": []}
    second = {
        "type": "output_text",
        "text": "Paris.",
        "annotations": [{"type": "url_citation", "start_index": 0, "end_index": 5, "url": "u", "title": "t"}],
    }
    resp = decode(_body([{"type": "message", "id": "m", "role": "assistant", "content": [first, second]}]))
    (cite,) = resp.citations
    assert resp.text[cite.start : cite.end] == "Paris"


def _events(*payloads: dict[str, Any]) -> list[Any]:
    decoder = WIRE_FORMAT.stream_decoder(provider="openai", model="gpt-5-pro")
    out: list[Any] = []
    for p in payloads:
        out.extend(decoder.feed(SseEvent(p["type"], json.dumps(p))))
    return out


def test_a_response_failed_event_raises_the_responses_error() -> None:
    """response.failed carries the response with its error: a content-filter code is ContentFilteredError."""
    failed = {"type": "response.failed", "response": {"status": "failed", "error": {"code": "content_filter", "message": "blocked"}}}
    with pytest.raises(ContentFilteredError, match="blocked"):
        _events({"type": "response.created", "response": {"id": "resp_1", "model": "gpt-5-pro"}}, failed)


def test_events_after_the_terminal_one_are_ignored_and_unknown_events_skipped() -> None:
    """An unknown event type gives nothing; after response.completed nothing more is decoded."""
    chunks = _events(
        {"type": "response.mystery", "x": 1},
        {"type": "response.output_text.delta", "delta": "Hi", "output_index": 0, "content_index": 0},
        {"type": "response.completed", "response": {"status": "completed", "output": []}},
        {"type": "response.output_text.delta", "delta": "late", "output_index": 0, "content_index": 0},
    )
    assert [c.delta_text for c in chunks] == ["Hi", ""] and chunks[-1].finish_reason == "stop"


def test_azure_urls() -> None:
    """Azure: {resource}/openai/v1/responses from a resource or deployment URL; the preview API with an api_version."""
    assert (
        AzureResponsesFormat().chat_url("https://r.openai.azure.com/openai/deployments/d", "d", False)
        == "https://r.openai.azure.com/openai/v1/responses"
    )
    preview = AzureResponsesFormat("2025-04-01-preview").chat_url("https://r.openai.azure.com", "d", False)
    assert preview == "https://r.openai.azure.com/openai/responses?api-version=2025-04-01-preview"


def test_the_responses_only_table_is_extensible(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pattern appended to RESPONSES_ONLY_MODELS sends that model to the Responses API."""
    assert not responses_only("my-new-pro-model")
    monkeypatch.setattr("ailib.providers._wire_api.RESPONSES_ONLY_MODELS", [*RESPONSES_ONLY_MODELS, r"my-new-pro"])
    assert responses_only("my-new-pro-model") and responses_only("gpt-5-pro")
