"""Structured output and strict tools: exact request bodies in all four formats (pure encoding, no
network), the typed parse into a pydantic model or a dataclass, and pydantic staying optional."""

from __future__ import annotations

import dataclasses
import enum
import json
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Literal, Optional

import pydantic
import pytest

from ailib import ChatCompletionRequest, ChatCompletionResponse, Choice, Message, StructuredOutputError, Tool
from ailib._response import with_parsed
from ailib._schema import anthropic_json_schema, strict_json_schema
from ailib.errors import AiLibError, Attempt, InvalidRequestError

from .test_wire_requests import encode

ROOT = Path(__file__).resolve().parents[2]


class City(pydantic.BaseModel):
    name: str
    population: int


# What pydantic's model_json_schema() gives for City (the schema every format starts from).
CITY_SCHEMA = {
    "properties": {"name": {"title": "Name", "type": "string"}, "population": {"title": "Population", "type": "integer"}},
    "required": ["name", "population"],
    "title": "City",
    "type": "object",
}
CITY_STRICT = {**CITY_SCHEMA, "additionalProperties": False}


class Unit(enum.Enum):
    C = "celsius"
    F = "fahrenheit"


@dataclasses.dataclass
class Reading:
    city: str
    degrees: float
    unit: Unit
    source: Literal["station", "satellite"]
    note: Optional[str] = None


def ask(response_format: Any = None, **kw: Any) -> ChatCompletionRequest:
    return ChatCompletionRequest("m", [Message.user("a city")], response_format=response_format, **kw)


def answered(text: str, finish_reason: str = "stop", refusal: Optional[str] = None) -> ChatCompletionResponse:
    attempt = Attempt("openai", "m", 0.0, 0.1, "ok")
    choice = Choice(0, Message.assistant(text or None), finish_reason, refusal)
    return ChatCompletionResponse("r1", "m", "openai", (choice,), attempts=(attempt,))


# -- request bodies ------------------------------------------------------------------------------


def test_a_pydantic_model_is_sent_to_openai_as_parse_sends_it() -> None:
    """OpenAI gets json_schema with the strict schema, the class name and strict true (openai-python's .parse body)."""
    assert encode("openai", ask(City))["response_format"] == {
        "type": "json_schema",
        "json_schema": {"schema": CITY_STRICT, "name": "City", "strict": True},
    }


def test_a_pydantic_model_is_sent_to_anthropic_as_output_config_format() -> None:
    """Anthropic gets output_config.format with the schema rewritten as the SDK's transform_schema does, and no beta field."""
    body = encode("anthropic", ask(City))
    assert body["output_config"] == {
        "format": {
            "type": "json_schema",
            "schema": {
                "type": "object",
                "title": "City",
                "properties": {"name": {"type": "string", "title": "Name"}, "population": {"type": "integer", "title": "Population"}},
                "additionalProperties": False,
                "required": ["name", "population"],
            },
        }
    }
    assert "output_format" not in body and "betas" not in body


def test_a_pydantic_model_is_sent_to_gemini_as_response_json_schema() -> None:
    """Gemini gets responseMimeType application/json and the model's JSON schema as responseJsonSchema."""
    assert encode("gemini", ask(City))["generationConfig"] == {"responseMimeType": "application/json", "responseJsonSchema": CITY_SCHEMA}


def test_a_pydantic_model_is_sent_to_cohere_as_a_json_object_with_its_schema() -> None:
    """Cohere gets {"type": "json_object", "json_schema": <strict schema>}."""
    assert encode("cohere", ask(City))["response_format"] == {"type": "json_object", "json_schema": CITY_STRICT}


def test_a_json_schema_dict_goes_to_anthropic_unchanged_in_output_config() -> None:
    """An OpenAI-style json_schema dict reaches Anthropic as output_config.format with its schema as given (as the SDK sends a dict)."""
    schema = {"type": "object", "properties": {"a": {"type": "string", "minLength": 2}}, "required": ["a"], "additionalProperties": False}
    fmt = {"type": "json_schema", "json_schema": {"name": "r", "schema": schema, "strict": True}}
    assert encode("anthropic", ask(fmt))["output_config"] == {"format": {"type": "json_schema", "schema": schema}}


def test_json_mode_without_a_schema_is_refused_by_anthropic_before_sending() -> None:
    """json_object has no Anthropic form: InvalidRequestError naming the way out, before anything is sent."""
    with pytest.raises(InvalidRequestError, match="json_object.*give a json_schema response_format or a pydantic model"):
        encode("anthropic", ask({"type": "json_object"}))


def test_a_text_response_format_sends_no_output_config() -> None:
    """response_format text is Anthropic's default: nothing is added to the body."""
    assert "output_config" not in encode("anthropic", ask({"type": "text"}))


def test_a_dataclass_with_pydantic_installed_is_sent_through_type_adapter() -> None:
    """A dataclass's schema is pydantic.TypeAdapter's, made strict for OpenAI (Enum as a $ref, Optional as anyOf, all required)."""
    schema = encode("openai", ask(Reading))["response_format"]["json_schema"]["schema"]
    assert schema == strict_json_schema(pydantic.TypeAdapter(Reading).json_schema())
    assert schema["required"] == ["city", "degrees", "unit", "source", "note"] and schema["additionalProperties"] is False
    assert schema["$defs"]["Unit"] == {"enum": ["celsius", "fahrenheit"], "title": "Unit", "type": "string"}


def test_to_dict_writes_a_class_as_the_json_schema_it_stands_for() -> None:
    """A request with a class as response_format has a JSON-serialisable to_dict (checkpoints and cache keys use it)."""
    d = ask(City).to_dict()
    assert d["response_format"] == {"type": "json_schema", "json_schema": {"schema": CITY_STRICT, "name": "City", "strict": True}}
    json.dumps(d)


@pytest.mark.parametrize("bad", ["json", 3, str, object])
def test_a_response_format_that_is_no_dict_and_no_model_class_is_refused_at_construction(bad: Any) -> None:
    """A string, a number or a class that is neither a pydantic model nor a dataclass raises InvalidRequestError at once."""
    with pytest.raises(InvalidRequestError, match="pydantic BaseModel subclass or a dataclass"):
        ask(bad)


def test_a_request_with_a_class_pickles() -> None:
    """A request holding a module-level class as response_format survives a pickle round trip (batches, processes)."""
    req = ask(City)
    assert pickle.loads(pickle.dumps(req)) == req


# -- strict tools ----------------------------------------------------------------------------------

PARAMS = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": False}


def test_a_strict_tool_is_sent_to_anthropic_with_strict_true() -> None:
    """Tool.function(strict=True) becomes the Anthropic tool's strict: true; a tool without strict sends none."""
    tools = [Tool.function("weather", "Weather", PARAMS, strict=True), Tool.function("noop", "Nothing")]
    assert encode("anthropic", ask(tools=tools))["tools"] == [
        {"name": "weather", "description": "Weather", "input_schema": PARAMS, "strict": True},
        {"name": "noop", "description": "Nothing", "input_schema": {"type": "object", "properties": {}}},
    ]


def test_a_strict_tool_sets_cohere_strict_tools_for_the_request() -> None:
    """One strict tool sends Cohere's request-level strict_tools: true; the tools themselves carry no flag."""
    body = encode("cohere", ask(tools=[Tool.function("weather", "Weather", PARAMS, strict=True), Tool.function("noop")]))
    assert body["strict_tools"] is True
    assert all("strict" not in t["function"] for t in body["tools"])


@pytest.mark.parametrize("strict", [None, False])
def test_cohere_gets_no_strict_tools_without_a_strict_tool(strict: Optional[bool]) -> None:
    """Tools with strict None or False send no strict_tools to Cohere."""
    assert "strict_tools" not in encode("cohere", ask(tools=[Tool.function("weather", "Weather", PARAMS, strict=strict)]))


# -- the typed parse -------------------------------------------------------------------------------


def test_the_answer_is_parsed_into_the_model() -> None:
    """with_parsed sets .parsed to an instance of the model built from the first choice's JSON text."""
    resp = with_parsed(answered('{"name": "Paris", "population": 2102650}'), City)
    assert resp.parsed == City(name="Paris", population=2102650)


def test_text_that_is_not_json_raises_structured_output_error_with_the_text_and_attempts() -> None:
    """Invalid JSON raises StructuredOutputError (an AiLibError and ValueError) carrying the raw text and the call's attempts."""
    with pytest.raises(StructuredOutputError) as info:
        with_parsed(answered('{"name": "Paris", "popul'), City)
    err = info.value
    assert isinstance(err, AiLibError) and isinstance(err, ValueError) and not isinstance(err, pydantic.ValidationError)
    assert err.raw_text == '{"name": "Paris", "popul' and len(err.attempts) == 1
    assert "does not parse as City" in str(err) and not err.is_retryable()


def test_json_that_does_not_fit_the_model_raises_structured_output_error_naming_the_field() -> None:
    """JSON of the wrong shape raises StructuredOutputError naming the field, never pydantic's ValidationError."""
    with pytest.raises(StructuredOutputError, match="population") as info:
        with_parsed(answered('{"name": "Paris", "population": "many"}'), City)
    assert info.value.__cause__ is None  # pydantic's error is summarised, not chained


def test_a_cut_off_answer_says_so() -> None:
    """A truncated answer (finish_reason length) that does not parse says it was cut off."""
    with pytest.raises(StructuredOutputError, match="cut off"):
        with_parsed(answered('{"name": "Par', finish_reason="length"), City)


def test_a_refusal_leaves_parsed_none() -> None:
    """A refused answer is not parsed: .parsed stays None and no error is raised."""
    resp = with_parsed(answered("", finish_reason="refusal", refusal="I can't help with that."), City)
    assert resp.parsed is None and resp.refusal == "I can't help with that."


def test_a_dataclass_answer_is_parsed_with_its_enum_and_literal() -> None:
    """A dataclass is built from the JSON, its Enum field as the member and its Optional default kept."""
    resp = with_parsed(answered('{"city": "Oslo", "degrees": 3, "unit": "celsius", "source": "station", "note": null}'), Reading)
    assert resp.parsed == Reading("Oslo", 3.0, Unit.C, "station", None)


# -- the schema transforms match the SDKs' --------------------------------------------------------


class Step(pydantic.BaseModel):
    explanation: str = pydantic.Field(description="why")
    output: str


class Solution(pydantic.BaseModel):
    steps: list[Step]
    final_answer: str
    confidence: Optional[float] = None
    tags: list[str] = pydantic.Field(default_factory=list, min_length=2)
    kind: Literal["proof", "estimate"] = "proof"


@pytest.mark.parametrize("model", [City, Step, Solution])
def test_strict_schema_equals_openai_python_to_strict_json_schema(model: type) -> None:
    """strict_json_schema gives what openai-python's to_strict_json_schema gives for the same model."""
    from openai.lib._pydantic import to_strict_json_schema

    assert strict_json_schema(model.model_json_schema()) == to_strict_json_schema(model)


# transform_schema's output from the anthropic-sdk-python release ailib follows (named in the
# file): Python 3.9 gets an older SDK (1.x, the last for 3.9), whose transform differs.
TRANSFORMED = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "anthropic" / "transform_schema.json").read_text())


@pytest.mark.parametrize("model", [City, Step, Solution, Reading])
def test_anthropic_schema_equals_anthropic_sdk_transform_schema(model: type) -> None:
    """anthropic_json_schema gives what anthropic-sdk-python's transform_schema gives (key order included): the
    installed SDK's when it is the release ailib follows or newer, else that release's recorded output."""
    import anthropic
    from anthropic.lib._parse._transform import transform_schema

    source = pydantic.TypeAdapter(model).json_schema()
    ours = anthropic_json_schema(source)
    followed = tuple(int(p) for p in TRANSFORMED["anthropic"].split(".")[:2])
    installed = tuple(int(p) for p in anthropic.__version__.split(".")[:2])
    theirs = transform_schema(source) if installed >= followed else TRANSFORMED["schemas"][model.__name__]
    assert json.dumps(ours) == json.dumps(theirs)


# -- pydantic stays optional -----------------------------------------------------------------------


def _run(code: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_import_ailib_does_not_import_pydantic() -> None:
    """A fresh interpreter that imports ailib (and builds a request with a JSON-schema dict) has not imported pydantic."""
    out = _run(
        """
        import sys
        import ailib
        ailib.ChatCompletionRequest("m", [{"role": "user", "content": "x"}], response_format={"type": "json_object"})
        print("pydantic" in sys.modules)
        """
    )
    assert out.strip() == "False"


def test_structured_output_code_loads_only_when_a_class_is_given() -> None:
    """import ailib, a client and a request with a dict response_format leave ailib._schema unloaded (import time stays as it was)."""
    out = _run(
        """
        import sys
        import ailib
        ailib.AiClient("openai", options=ailib.ConnectionOptions(api_key="sk-test-0123456789"))
        ailib.ChatCompletionRequest("m", [{"role": "user", "content": "x"}], response_format={"type": "json_object"}).to_dict()
        print("ailib._schema" in sys.modules)
        """
    )
    assert out.strip() == "False"


def test_dataclasses_work_without_pydantic() -> None:
    """With pydantic unimportable, a dataclass gets ailib's own strict schema on the wire and its answer is parsed and checked."""
    out = _run(
        """
        import dataclasses, enum, json, sys
        sys.modules["pydantic"] = None  # import pydantic now raises ImportError
        from typing import List, Literal, Optional
        from ailib import ChatCompletionRequest, ChatCompletionResponse, Choice, Message, StructuredOutputError
        from ailib._response import with_parsed
        from ailib.providers._formats import get_wire_format
        from ailib.providers._registry import PROVIDERS, Provider

        class Unit(enum.Enum):
            C = "celsius"

        @dataclasses.dataclass
        class Point:
            x: int
            label: Literal["a", "b"]

        @dataclasses.dataclass
        class Shape:
            points: List[Point]
            unit: Unit
            name: Optional[str] = None

        req = ChatCompletionRequest("m", [Message.user("x")], response_format=Shape)
        body = get_wire_format("openai").encode(req, "m", stream=False, spec=PROVIDERS[Provider.OPENAI])
        print(json.dumps(body["response_format"], sort_keys=True))
        def answer(text):
            return ChatCompletionResponse("r", "m", "openai", (Choice(0, Message.assistant(text), "stop"),))
        print(repr(with_parsed(answer('{"points": [{"x": 1, "label": "a"}], "unit": "celsius", "name": null}'), Shape).parsed))
        for bad in ('{"points": [{"x": 1.5, "label": "a"}], "unit": "celsius", "name": null}', '{"points": [], "unit": "kelvin"}', "[1"):
            try:
                with_parsed(answer(bad), Shape)
            except StructuredOutputError as e:
                print("error:", e.message)
        print("pydantic" in sys.modules and sys.modules["pydantic"] is not None)
        """
    )
    lines = out.splitlines()
    point = {
        "title": "Point",
        "type": "object",
        "properties": {"x": {"type": "integer"}, "label": {"enum": ["a", "b"]}},
        "required": ["x", "label"],
        "additionalProperties": False,
    }
    shape = {
        "title": "Shape",
        "type": "object",
        "properties": {
            "points": {"type": "array", "items": point},
            "unit": {"enum": ["celsius"]},
            "name": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        },
        "required": ["points", "unit", "name"],
        "additionalProperties": False,
    }
    assert json.loads(lines[0]) == {"type": "json_schema", "json_schema": {"schema": shape, "name": "Shape", "strict": True}}
    assert lines[1] == "Shape(points=[Point(x=1, label='a')], unit=<Unit.C: 'celsius'>, name=None)"
    assert lines[2] == "error: the answer does not parse as Shape: $.points[0].x: expected int, got float"
    assert lines[3] == "error: the answer does not parse as Shape: $.unit: 'kelvin' is not one of ['celsius']"
    assert lines[4].startswith("error: the answer does not parse as Shape: the answer is not JSON")
    assert lines[5] == "False"


def test_without_pydantic_an_unsupported_dataclass_field_is_refused_at_construction() -> None:
    """Without pydantic, a dataclass field of a type the small converter does not know raises InvalidRequestError naming it."""
    out = _run(
        """
        import dataclasses, datetime, sys
        sys.modules["pydantic"] = None
        from ailib import ChatCompletionRequest, InvalidRequestError
        @dataclasses.dataclass
        class Event:
            at: datetime.datetime
        try:
            ChatCompletionRequest("m", [{"role": "user", "content": "x"}], response_format=Event)
        except InvalidRequestError as e:
            print(e.message)
        """
    )
    assert "Event.at: without pydantic" in out and "install pydantic" in out
