"""Custom OpenAI-compatible providers ask for stream usage by default; a builder switch turns it off."""

from __future__ import annotations

from ailib import ChatCompletionRequest, CustomProviderBuilder, Message
from ailib.providers.openai import WIRE_FORMAT

REQ = ChatCompletionRequest("m", [Message.user("hi")])


def _builder() -> CustomProviderBuilder:
    return CustomProviderBuilder("litellm").with_base_url("http://127.0.0.1:4000/v1")


def test_a_custom_provider_asks_for_stream_usage_by_default() -> None:
    """A custom provider's streamed body carries stream_options.include_usage (so stream.usage is filled)."""
    body = WIRE_FORMAT.encode(REQ, "m", stream=True, spec=_builder().build_provider())
    assert body["stream_options"] == {"include_usage": True}


def test_with_stream_usage_false_leaves_stream_options_out() -> None:
    """with_stream_usage(False) sends no stream_options, for servers that reject the field."""
    body = WIRE_FORMAT.encode(REQ, "m", stream=True, spec=_builder().with_stream_usage(False).build_provider())
    assert "stream_options" not in body and body["stream"] is True


def test_a_plain_request_never_carries_stream_options() -> None:
    """A non-streamed request has no stream_options whatever the switch says."""
    assert "stream_options" not in WIRE_FORMAT.encode(REQ, "m", stream=False, spec=_builder().build_provider())
