"""Refusals decoded as their own outcome (OpenAI ``refusal``, Anthropic ``stop_reason: "refusal"``), from recorded-shape fixtures."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import pytest

from ailib import ChatCompletionResponse, Choice, Message, Role
from ailib.errors import AiLibError, ContentFilteredError
from ailib.providers import anthropic, openai
from ailib.types import StreamChunk

from ._recorded import feed

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def load(fmt: str, name: str) -> Any:
    return json.loads((FIXTURES / fmt / f"{name}.json").read_text())


def test_openai_refusal_body_is_a_refusal_not_an_empty_stop() -> None:
    """openai-python's recorded refusal body: finish_reason "refusal", the refusal text kept, no text."""
    resp = openai.WIRE_FORMAT.decode(load("openai", "response_refusal"), provider="openai", model="m", headers={})
    assert resp.finish_reason == "refusal"
    assert resp.refusal == "I'm very sorry, but I can't assist with that."
    assert resp.text == "" and resp.choices[0].message.content is None


def test_openai_answer_with_null_refusal_is_unchanged() -> None:
    """A normal answer carrying ``"refusal": null`` keeps its own finish reason and has no refusal."""
    resp = openai.WIRE_FORMAT.decode(load("openai", "response_text"), provider="openai", model="m", headers={})
    assert resp.finish_reason == "stop" and resp.refusal is None and resp.text


def test_openai_refusal_stream_keeps_every_piece_and_ends_as_refusal() -> None:
    """Streamed ``delta.refusal`` pieces come as chunks with ``refusal`` (content for the commit point); the end says refusal."""
    chunks, decoder = feed(openai.WIRE_FORMAT, "openai", "stream_refusal")
    pieces = [c.refusal for c in chunks if c.refusal]
    assert "".join(pieces) == "I'm very sorry, but I can't assist with that."
    assert all(c.has_content for c in chunks if c.refusal)
    assert chunks[-1].finish_reason == "refusal" and not any(c.delta_text for c in chunks)
    assert decoder.response_id == "chatcmpl-ABfw0Y7vEzpHIJ6sbAAy1xvS3iPEr"


def test_anthropic_refusal_keeps_stop_details() -> None:
    """Anthropic ``stop_reason: "refusal"``: finish_reason refusal, the explanation as the refusal, stop_details kept whole."""
    resp = anthropic.WIRE_FORMAT.decode(load("anthropic", "response_refusal_details"), provider="anthropic", model="m", headers={})
    assert resp.finish_reason == "refusal"
    assert resp.refusal == "The request could enable cyber harm."
    assert resp.choices[0].refusal_details == {
        "type": "refusal",
        "category": "cyber",
        "explanation": "The request could enable cyber harm.",
    }
    assert resp.text == "I can't help with that."


def test_anthropic_refusal_stream_ends_with_the_refusal_and_its_details() -> None:
    """A streamed Anthropic refusal: the last chunk says refusal with the explanation; the decoder keeps stop_details and the id."""
    chunks, decoder = feed(anthropic.WIRE_FORMAT, "anthropic", "stream_refusal")
    last = chunks[-1]
    assert (last.finish_reason, last.refusal) == ("refusal", "The request could enable cyber harm.")
    assert decoder.refusal_details["category"] == "cyber"
    assert decoder.response_id == "msg_01StreamRefusal"


def _refused(refusal: str = "No.") -> ChatCompletionResponse:
    return ChatCompletionResponse("r", "m", "openai", (Choice(0, Message(Role.ASSISTANT, None), "refusal", refusal),))


def test_first_text_on_a_refusal_raises_content_filtered_naming_the_refusal() -> None:
    """``first_text()`` on a refusal raises ContentFilteredError saying the model refused, with its text; ``.text`` stays ""."""
    resp = _refused("I can't help with that.")
    with pytest.raises(ContentFilteredError, match="refused.*I can't help with that"):
        resp.first_text()
    assert resp.text == ""
    assert isinstance(ContentFilteredError("x"), AiLibError)


def test_refusal_survives_to_dict_and_pickle() -> None:
    """A refusal and its details survive the checkpoint form and pickling."""
    resp = ChatCompletionResponse(
        "r", "m", "anthropic", (Choice(0, Message(Role.ASSISTANT, None), "refusal", "", {"type": "refusal", "category": None}),)
    )
    back = ChatCompletionResponse.from_dict(resp.to_dict())
    assert back == resp and back.choices[0].refusal_details == {"type": "refusal", "category": None}
    assert pickle.loads(pickle.dumps(resp)) == resp


def test_refusal_chunk_is_content_and_an_empty_one_is_not() -> None:
    """A chunk with refusal text is past the commit point; an empty refusal string is not content."""
    assert StreamChunk(refusal="I'm").has_content
    assert not StreamChunk(refusal="").has_content
