"""Vertex AI function-call arguments streamed in pieces (partialArgs, willContinue) decode to whole calls."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ailib._sse import SseEvent, SseParser
from ailib.errors import ProtocolError
from ailib.providers.gemini import GeminiStreamDecoder, synthetic_call_id
from ailib.types import StreamChunk

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "gemini"


def run(events: list[Any]) -> list[StreamChunk]:
    decoder = GeminiStreamDecoder(provider="vertex", model="m")
    chunks = [c for e in events for c in decoder.feed(e if isinstance(e, SseEvent) else SseEvent(data=json.dumps(e)))]
    decoder.finish()
    return chunks


def recorded(name: str) -> list[Any]:
    parser = SseParser()
    return list(parser.feed((FIXTURES / f"{name}.txt").read_bytes()) + parser.flush())


def chunk(*calls: dict[str, Any], finish: bool = False) -> dict[str, Any]:
    cand: dict[str, Any] = {"content": {"role": "model", "parts": [{"functionCall": c} for c in calls]}}
    if finish:
        cand["finishReason"] = "STOP"
    return {"candidates": [cand], "responseId": "r1"}


def test_recorded_vertex_stream_gives_two_whole_calls() -> None:
    """The recorded Vertex stream (two getWeather calls, arguments in pieces) gives both calls whole, no KeyError."""
    chunks = run(recorded("stream_partial_args"))
    last = chunks[-1]
    assert last.finish_reason == "tool_calls"
    assert [(c.name, c.arguments) for c in last.tool_calls] == [
        ("getWeather", {"location": "Boston"}),
        ("getWeather", {"location": "San Francisco"}),
    ]
    ids = [c.id for c in last.tool_calls]
    assert ids == [
        synthetic_call_id("dqHOab6xGLzWodAPkPuViA4", 0, "getWeather", {"location": "Boston"}),
        synthetic_call_id("dqHOab6xGLzWodAPkPuViA4", 1, "getWeather", {"location": "San Francisco"}),
    ]
    assert len(ids) == len(set(ids))


def test_each_streamed_call_is_one_complete_delta() -> None:
    """A streamed call reaches the caller as one delta, with its index, id, name and whole JSON arguments."""
    chunks = run(recorded("stream_partial_args"))
    deltas = [d for c in chunks for d in c.tool_call_deltas]
    assert [(d.index, d.name, json.loads(d.arguments_delta)) for d in deltas] == [
        (0, "getWeather", {"location": "Boston"}),
        (1, "getWeather", {"location": "San Francisco"}),
    ]


def test_recorded_nested_paths_build_objects_and_arrays() -> None:
    """Paths like $.recipe.ingredients[1].name build the nested arguments object."""
    (call,) = run(recorded("stream_partial_args_nested"))[-1].tool_calls
    assert call.name == "cookRecipe"
    assert call.arguments == {
        "recipe": {
            "ingredients": [{"amount": "16 oz", "name": "Lasagna noodles"}, {"amount": "1 lb", "name": "Ground beef"}],
            "steps": ["Top with remaining mozzarella cheese.", "Cover with foil and bake for 25 minutes."],
        }
    }


def test_string_pieces_of_one_path_are_joined_and_typed_values_kept() -> None:
    """String pieces continue while willContinue says so; numbers, booleans and nulls are set as they come."""
    events = [
        chunk({"name": "controlLight", "id": "call-1", "willContinue": True}),
        chunk({"partialArgs": [{"jsonPath": "$.brightness", "numberValue": 50}], "willContinue": True}),
        chunk({"partialArgs": [{"jsonPath": "$.color", "stringValue": "wa", "willContinue": True}], "willContinue": True}),
        chunk(
            {
                "partialArgs": [{"jsonPath": "$.color", "stringValue": "rm"}, {"jsonPath": "$['on']", "boolValue": True}],
                "willContinue": True,
            }
        ),
        chunk(
            {"partialArgs": [{"jsonPath": "$.note", "nullValue": "NULL_VALUE"}, {"jsonPath": "$.color", "stringValue": "x"}]}, finish=True
        ),
    ]
    (call,) = run(events)[-1].tool_calls
    assert call.id == "call-1" and call.name == "controlLight"
    assert call.arguments == {"brightness": 50, "color": "x", "on": True, "note": None}  # a closed path is replaced, not continued


def test_pieces_that_repeat_the_name_and_id_stay_one_call() -> None:
    """Pieces that repeat the call's name and id continue it; a piece naming another function starts a new call."""
    events = [
        chunk(
            {"id": "a", "name": "f", "partialArgs": [{"jsonPath": "$.x", "stringValue": "1", "willContinue": True}], "willContinue": True}
        ),
        chunk({"id": "a", "name": "f", "partialArgs": [{"jsonPath": "$.x", "stringValue": "2"}], "willContinue": True}),
        chunk({"id": "b", "name": "g", "args": {"y": 1}, "willContinue": True}),
        chunk({}, finish=True),
    ]
    calls = run(events)[-1].tool_calls
    assert [(c.id, c.name, c.arguments) for c in calls] == [("a", "f", {"x": "12"}), ("b", "g", {"y": 1})]


def test_a_call_still_open_at_the_finish_is_completed() -> None:
    """A call whose closing piece never came is completed by the chunk with the finishReason."""
    events = [
        chunk({"name": "f", "willContinue": True}),
        chunk({"partialArgs": [{"jsonPath": "$.q", "stringValue": "hi"}], "willContinue": True}),
        {"candidates": [{"content": {"role": "model", "parts": [{"text": ""}]}, "finishReason": "STOP"}]},
    ]
    (call,) = run(events)[-1].tool_calls
    assert (call.name, call.arguments) == ("f", {"q": "hi"})


def test_whole_calls_still_decode_beside_an_empty_function_call() -> None:
    """Ordinary whole functionCall parts are unchanged; a stray empty functionCall is dropped, not a KeyError."""
    events = [chunk({"name": "f", "args": {"a": 1}}, {}), chunk(finish=True)]
    (call,) = run(events)[-1].tool_calls
    assert (call.name, call.arguments) == ("f", {"a": 1})


@pytest.mark.parametrize(
    "pieces",
    [
        [{"partialArgs": [{"jsonPath": "$.q", "stringValue": "x"}]}],  # never named
        [{"name": "f", "partialArgs": [{"jsonPath": "$[0]", "stringValue": "x"}]}],  # not an argument name
        [{"name": "f", "partialArgs": [{"jsonPath": "$..q", "stringValue": "x"}]}],  # unsupported path
        [{"name": "f", "partialArgs": [{"stringValue": "x"}]}],  # no path
    ],
)
def test_malformed_streamed_calls_are_protocol_errors(pieces: list[dict[str, Any]]) -> None:
    """A streamed call that cannot be assembled is a clear ProtocolError."""
    decoder = GeminiStreamDecoder(provider="vertex", model="m")
    with pytest.raises(ProtocolError):
        for p in pieces:
            decoder.feed(SseEvent(data=json.dumps(chunk(p, finish=True))))
