"""Structured output and strict tools against the official SDKs: for the same request, ailib sends
the body each SDK builds (byte-equal JSON after key sorting, the whole body; only an SDK's explicit
``"stream": false`` is left out), and parses the answer
as the SDK does.

Each SDK and ailib talk to the same MockProvider (answering with JSON text); the mock records both
requests and they are compared.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pydantic
import pytest

from ailib import AiClientBuilder, ChatCompletionRequest, Message, Tool
from ailib.testing import MockProvider, Reply

from .conftest import KEY

ANSWER = '{"name": "Paris", "population": 2102650}'
PROMPT = "The largest city of France, as JSON"
PARAMS = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": False}


class City(pydantic.BaseModel):
    name: str
    population: int


@pydantic.dataclasses.dataclass
class Place:
    name: str
    population: int


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False)


def _sdk(body: dict[str, Any]) -> dict[str, Any]:
    """An SDK's body without ``"stream": false``, which openai-python's parse and cohere-python add and
    ailib leaves out (the API's default); nothing else is taken away."""
    return {k: v for k, v in body.items() if not (k == "stream" and v is False)}


def _mock(fmt: str) -> Iterator[MockProvider]:
    with MockProvider(fmt, api_key=KEY, reply=Reply(text=ANSWER)) as m:
        yield m


def _ailib_body(mock: MockProvider, request: ChatCompletionRequest) -> tuple[dict[str, Any], Any]:
    with AiClientBuilder(mock.provider(api_key=KEY)).build() as ai:
        resp = ai.chat_completion(request)
    return mock.chat_requests[-1].json, resp.parsed


# -- OpenAI ----------------------------------------------------------------------------------------


@pytest.fixture
def openai_mock() -> Iterator[MockProvider]:
    yield from _mock("openai")


@pytest.mark.parametrize("model", [City, Place])
def test_openai_parse_body_equals_ailibs(openai_mock: MockProvider, model: type) -> None:
    """openai-python's chat.completions.parse(response_format=Model) and ailib send the same body, and parse the same instance."""
    openai = pytest.importorskip("openai")
    sdk = openai.OpenAI(api_key=KEY, base_url=openai_mock.base_url, max_retries=0, timeout=10)
    try:
        theirs = sdk.chat.completions.parse(model="gpt-4o", messages=[{"role": "user", "content": PROMPT}], response_format=model)
    finally:
        sdk.close()
    sdk_body = _sdk(openai_mock.chat_requests[-1].json)
    ours, parsed = _ailib_body(openai_mock, ChatCompletionRequest("gpt-4o", [Message.user(PROMPT)], response_format=model))
    assert _canonical(ours) == _canonical(sdk_body)
    assert parsed == theirs.choices[0].message.parsed == model(name="Paris", population=2102650)


# -- Anthropic -------------------------------------------------------------------------------------


@pytest.fixture
def anthropic_mock() -> Iterator[MockProvider]:
    yield from _mock("anthropic")


@pytest.mark.parametrize("model", [City, Place])
def test_anthropic_parse_body_equals_ailibs(anthropic_mock: MockProvider, model: type) -> None:
    """anthropic-sdk-python's messages.parse(output_format=Model) and ailib send the same body (output_config.format, no beta header)."""
    anthropic = pytest.importorskip("anthropic")
    sdk = anthropic.Anthropic(api_key=KEY, base_url=anthropic_mock.url, max_retries=0, timeout=10)
    try:
        theirs = sdk.messages.parse(
            model="claude-sonnet-4-5", max_tokens=1024, messages=[{"role": "user", "content": PROMPT}], output_format=model
        )
    finally:
        sdk.close()
    sdk_request = anthropic_mock.chat_requests[-1]
    request = ChatCompletionRequest("claude-sonnet-4-5", [Message.user(PROMPT)], max_tokens=1024, response_format=model)
    ours, parsed = _ailib_body(anthropic_mock, request)
    assert _canonical(ours) == _canonical(sdk_request.json)
    assert "anthropic-beta" not in sdk_request.headers and "anthropic-beta" not in anthropic_mock.chat_requests[-1].headers
    assert parsed == theirs.parsed_output == model(name="Paris", population=2102650)


def test_anthropic_json_schema_dict_and_strict_tool_bodies_equal_the_sdks(anthropic_mock: MockProvider) -> None:
    """A json_schema dict and a strict tool reach Anthropic as the SDK's output_config={"format": ...} and tool strict send them."""
    anthropic = pytest.importorskip("anthropic")
    schema = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"], "additionalProperties": False}
    sdk = anthropic.Anthropic(api_key=KEY, base_url=anthropic_mock.url, max_retries=0, timeout=10)
    try:
        sdk.messages.create(
            model="claude-sonnet-4-5",
            max_tokens=1024,
            messages=[{"role": "user", "content": PROMPT}],
            tools=[{"name": "weather", "description": "Weather", "input_schema": PARAMS, "strict": True}],
            output_config={"format": {"type": "json_schema", "schema": schema}},
        )
    finally:
        sdk.close()
    sdk_body = anthropic_mock.chat_requests[-1].json
    request = ChatCompletionRequest(
        "claude-sonnet-4-5",
        [Message.user(PROMPT)],
        max_tokens=1024,
        tools=[Tool.function("weather", "Weather", PARAMS, strict=True)],
        response_format={"type": "json_schema", "json_schema": {"name": "city", "schema": schema, "strict": True}},
    )
    ours, _ = _ailib_body(anthropic_mock, request)
    assert _canonical(ours) == _canonical(sdk_body)


# -- Gemini ----------------------------------------------------------------------------------------


@pytest.fixture
def gemini_mock() -> Iterator[MockProvider]:
    yield from _mock("gemini")


def test_gemini_response_json_schema_body_equals_ailibs(gemini_mock: MockProvider) -> None:
    """google-genai with response_mime_type application/json and response_json_schema=Model.model_json_schema() (as Google's docs
    show) sends the body ailib sends for response_format=Model."""
    genai = pytest.importorskip("google.genai")
    from google.genai import types

    options = types.HttpOptions(base_url=gemini_mock.url, timeout=10_000, retry_options=types.HttpRetryOptions(attempts=1))
    sdk = genai.Client(api_key=KEY, http_options=options)
    config = types.GenerateContentConfig(response_mime_type="application/json", response_json_schema=City.model_json_schema())
    theirs = sdk.models.generate_content(model="gemini-2.5-flash", contents=PROMPT, config=config)
    sdk_body = gemini_mock.chat_requests[-1].json
    ours, parsed = _ailib_body(gemini_mock, ChatCompletionRequest("gemini-2.5-flash", [Message.user(PROMPT)], response_format=City))
    assert _canonical(ours) == _canonical(sdk_body)
    assert parsed == City.model_validate(theirs.parsed) == City(name="Paris", population=2102650)


# -- Cohere ----------------------------------------------------------------------------------------


@pytest.fixture
def cohere_mock() -> Iterator[MockProvider]:
    yield from _mock("cohere")


def test_cohere_json_schema_and_strict_tools_body_equals_ailibs(cohere_mock: MockProvider) -> None:
    """cohere-python's chat with response_format json_object + the strict schema (openai-python's derivation) and strict_tools
    sends the body ailib sends for response_format=Model and a strict tool."""
    cohere = pytest.importorskip("cohere")
    from openai.lib._pydantic import to_strict_json_schema

    sdk = cohere.ClientV2(api_key=KEY, base_url=cohere_mock.url, timeout=10)
    sdk.chat(
        model="command-a-03-2025",
        messages=[{"role": "user", "content": PROMPT}],
        tools=[{"type": "function", "function": {"name": "weather", "description": "Weather", "parameters": PARAMS}}],
        strict_tools=True,
        response_format={"type": "json_object", "json_schema": to_strict_json_schema(City)},
    )
    sdk_body = _sdk(cohere_mock.chat_requests[-1].json)
    request = ChatCompletionRequest(
        "command-a-03-2025", [Message.user(PROMPT)], tools=[Tool.function("weather", "Weather", PARAMS, strict=True)], response_format=City
    )
    ours, parsed = _ailib_body(cohere_mock, request)
    assert _canonical(ours) == _canonical(sdk_body)
    assert parsed == City(name="Paris", population=2102650)
