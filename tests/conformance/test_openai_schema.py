"""OpenAI bodies against the published OpenAPI spec (openai/openai-openapi, extracted into
tests/fixtures/openai/openapi/; SOURCE.md names the commit): every request body ailib's OpenAI
encoder builds validates against ``CreateChatCompletionRequest``, and what MockProvider answers
in the OpenAI format against ``CreateChatCompletionResponse`` (bodies) and
``CreateChatCompletionStreamResponse`` (each streamed chunk)."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

import pytest
import requests

from ailib import AiClient, ChatCompletionRequest, Message, Provider
from ailib._message import Content, Role
from ailib.providers._registry import PROVIDERS
from ailib.providers.openai import WIRE_FORMAT
from ailib.testing import Fault, MockProvider
from ailib.testing._faults import Reply, ReplyCitation
from ailib.types import Tool, ToolCall

jsonschema = pytest.importorskip("jsonschema")

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_FILE = Path(__file__).resolve().parents[1] / "fixtures" / "openai" / "openapi" / "chat_completions.schema.json"
SCHEMA = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
KEY = "sk-schema-0123456789"
WEATHER = Tool.function(
    "get_weather",
    "The weather in a city",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": False},
    strict=True,
)
CALL = ToolCall("call_1", "get_weather", {"city": "Paris"})
JSON_SCHEMA_FORMAT = {
    "type": "json_schema",
    "json_schema": {
        "name": "city",
        "strict": True,
        "schema": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"], "additionalProperties": False},
    },
}


@dataclasses.dataclass
class CityRecord:
    """A dataclass as response_format (its schema through pydantic's TypeAdapter, made strict)."""

    name: str
    population: int
    region: Optional[str] = None


# An answer both response_format classes parse (pydantic ignores the fields a class does not have).
CITY_JSON = '{"name": "Paris", "population": 2102650, "aliases": ["Lutetia"], "record": {"name": "Paris", "population": 2102650}}'


def _city_model() -> Any:
    """A pydantic model as response_format (pydantic is optional for ailib, installed for the tests)."""
    import pydantic

    class City(pydantic.BaseModel):
        name: str
        aliases: list[str]
        record: CityRecord

    return City


def validator(name: str) -> Any:
    """A Draft 2020-12 validator for the component schema ``name`` (its $refs resolved in the extract)."""
    return jsonschema.Draft202012Validator({**SCHEMA, "$ref": f"#/$defs/{name}"})


REQUEST, RESPONSE, CHUNK = (
    validator(n) for n in ("CreateChatCompletionRequest", "CreateChatCompletionResponse", "CreateChatCompletionStreamResponse")
)


def errors(v: Any, body: Any) -> list[str]:
    """Every place ``body`` breaks the schema, as "path: message" (best-match first)."""
    found = sorted(v.iter_errors(body), key=lambda e: list(e.absolute_path))
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message[:300]}" for e in found]


REQUESTS = {
    "text": (ChatCompletionRequest("m", [Message.user("hi")]), {}),
    "system and sampling": (
        ChatCompletionRequest("m", [Message.system("Be brief."), Message.user("hi")], temperature=0.2, top_p=0.9, max_tokens=50),
        {},
    ),
    "developer": (ChatCompletionRequest("m", [Message(Role.DEVELOPER, "Be brief."), Message.user("hi")]), {}),
    "reasoning model max_completion_tokens": (ChatCompletionRequest("m", [Message.user("hi")], max_tokens=100), {"model": "o3-mini"}),
    "named user": (ChatCompletionRequest("m", [Message.user("hi", name="ada")]), {}),
    "images with detail": (
        ChatCompletionRequest(
            "m",
            [
                Message.user(
                    [
                        Content.text("What is in these?"),
                        Content.image_url("https://example.com/a.png", detail="high"),
                        Content.image_base64("iVBORw0KGgo=", "image/png", detail="low"),
                        Content.image_url("https://example.com/b.png"),
                        Content.json({"k": 1}),
                    ]
                )
            ],
        ),
        {},
    ),
    "audio and file parts": (
        ChatCompletionRequest(
            "m",
            [
                Message.user(
                    [
                        Content.text("Transcribe this and summarise the PDFs."),
                        Content.audio_base64("UklGRiQAAABXQVZFZm10IA==", "wav"),
                        Content.audio_base64("SUQzBAAAAAAAI1RTU0U=", "audio/mpeg"),
                        Content.file_base64("JVBERi0xLjQK", "application/pdf", "report.pdf"),
                        Content.file_base64("JVBERi0xLjQK"),
                        Content.file_id("file-6F2ksmvXxt4VdoqmHRw6kL"),
                    ]
                )
            ],
        ),
        {},
    ),
    "tools strict and tool choice": (
        ChatCompletionRequest("m", [Message.user("weather?")], tools=[WEATHER, Tool.function("noop")], tool_choice="required"),
        {},
    ),
    "named tool choice": (ChatCompletionRequest("m", [Message.user("weather?")], tools=[WEATHER], tool_choice="get_weather"), {}),
    "tool results": (
        ChatCompletionRequest(
            "m",
            [
                Message.user("weather?"),
                Message.assistant(None, [CALL, ToolCall("call_2", "get_weather", "{not json")]),
                Message.tool("call_1", "sunny"),
                Message.tool("call_2", [Content.json({"error": "bad arguments"})]),
                Message.assistant("It is sunny."),
            ],
            tools=[WEATHER],
        ),
        {},
    ),
    "n": (ChatCompletionRequest("m", [Message.user("hi")], n=2), {}),
    "stop": (ChatCompletionRequest("m", [Message.user("count")], stop=["4", "\n\n"]), {}),
    "single stop": (ChatCompletionRequest("m", [Message.user("count")], stop="4"), {}),
    "response_format json_schema": (ChatCompletionRequest("m", [Message.user("a city")], response_format=JSON_SCHEMA_FORMAT), {}),
    "response_format pydantic model": (ChatCompletionRequest("m", [Message.user("a city")], response_format=_city_model()), {}),
    "response_format dataclass": (ChatCompletionRequest("m", [Message.user("a city")], response_format=CityRecord), {}),
    "response_format json_object": (ChatCompletionRequest("m", [Message.user("json")], response_format={"type": "json_object"}), {}),
    "stream with stream_options": (ChatCompletionRequest("m", [Message.user("hi")]), {"stream": True}),
    "extra": (
        ChatCompletionRequest(
            "m",
            [Message.user("hi")],
            extra={
                "seed": 7,
                "n": 2,
                "logprobs": True,
                "top_logprobs": 3,
                "user": "u-1",
                "reasoning_effort": "low",
                "parallel_tool_calls": False,
            },
        ),
        {},
    ),
    "extra merged into stream_options": (
        ChatCompletionRequest("m", [Message.user("hi")], extra={"stream_options": {"include_obfuscation": False}}),
        {"stream": True},
    ),
}


@pytest.mark.parametrize("case", list(REQUESTS))
def test_encoded_request_validates(case: str) -> None:
    """The body the OpenAI encoder builds for a representative request validates against CreateChatCompletionRequest."""
    request, options = REQUESTS[case]
    model = options.get("model", "gpt-4o-mini")
    body = WIRE_FORMAT.encode(request, model, stream=options.get("stream", False), spec=PROVIDERS[Provider.OPENAI])
    assert errors(REQUEST, json.loads(json.dumps(body))) == []


@pytest.fixture(scope="module")
def mock() -> Iterator[MockProvider]:
    with MockProvider("openai", api_key=KEY) as m:
        yield m


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
@pytest.mark.parametrize("case", list(REQUESTS))
def test_bodies_sent_over_http_validate(mock: MockProvider, case: str, stream: bool) -> None:
    """What the client sends MockProvider(openai) on the wire, streamed or not, validates against CreateChatCompletionRequest."""
    request, _ = REQUESTS[case]
    mock.reset()
    if isinstance(request.response_format, type):  # a class: the answer is parsed, so it must be JSON that fits
        mock.enqueue(Fault("ok", reply=Reply(CITY_JSON)))
    with AiClient(mock.provider(api_key=KEY)) as client:
        if stream:
            with client.chat_completion_stream(request) as s:
                list(s)
        else:
            client.chat_completion(request)
    [sent] = mock.chat_requests
    assert errors(REQUEST, sent.json) == []


REPLIES = {
    "text": Reply("Hello there, how are you today?", prompt_tokens=12, completion_tokens=8),
    "tool call": Reply("", (("call_1", "get_weather", {"city": "Paris"}),)),
    "parallel tool calls": Reply("", (("call_1", "get_weather", {"city": "Paris"}), ("call_2", "get_weather", {"city": "Rome"}))),
    "text and tool call": Reply("Let me check.", (("call_1", "get_weather", {"city": "Paris"}),)),
    "length": Reply("Cut sh", finish_reason="length"),
    "cached and reasoning usage": Reply("ok", prompt_tokens=2000, completion_tokens=300, cached_tokens=1536, reasoning_tokens=256),
    "refusal": Reply("", refusal="I'm sorry, but I can't help with that."),
    "empty text": Reply(""),
    "citations": Reply(
        "Paris is the capital of France.", citations=(ReplyCitation(0, 31, "https://en.wikipedia.org/wiki/Paris", "Paris"),)
    ),
}


def _post(mock: MockProvider, reply: Reply, body: dict[str, Any]) -> requests.Response:
    mock.reset()
    mock.enqueue(Fault("ok", reply=reply))
    resp = requests.post(f"{mock.base_url}/chat/completions", json=body, headers={"Authorization": f"Bearer {KEY}"}, timeout=10)
    assert resp.status_code == 200, resp.text
    return resp


@pytest.mark.parametrize("n", [1, 2])
@pytest.mark.parametrize("case", list(REPLIES))
def test_mock_response_validates(mock: MockProvider, case: str, n: int) -> None:
    """MockProvider's non-streamed OpenAI body validates against CreateChatCompletionResponse."""
    data = _post(mock, REPLIES[case], {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "n": n}).json()
    assert len(data["choices"]) == n
    assert errors(RESPONSE, data) == []


@pytest.mark.parametrize("usage", [True, False], ids=["include_usage", "no_usage"])
@pytest.mark.parametrize("n", [1, 2])
@pytest.mark.parametrize("case", list(REPLIES))
def test_mock_stream_chunks_validate(mock: MockProvider, case: str, n: int, usage: bool) -> None:
    """Each chunk MockProvider streams in the OpenAI format validates against CreateChatCompletionStreamResponse."""
    body: dict[str, Any] = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "stream": True, "n": n}
    if usage:
        body["stream_options"] = {"include_usage": True}
    text = _post(mock, REPLIES[case], body).text
    datas = [line[len("data: ") :] for line in text.splitlines() if line.startswith("data: ")]
    assert datas[-1] == "[DONE]"
    chunks = [json.loads(d) for d in datas[:-1]]
    assert chunks and all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert usage == any(c.get("usage") for c in chunks)
    assert {i: errors(CHUNK, c) for i, c in enumerate(chunks) if errors(CHUNK, c)} == {}


@pytest.mark.parametrize(
    "schema, body, where",
    [
        (REQUEST, {"model": "m", "messages": []}, "messages"),
        (REQUEST, {"model": "m", "messages": [{"role": "user", "content": "x"}], "stop": ["a", "b", "c", "d", "e"]}, "stop"),
        (REQUEST, {"model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": 3}, "temperature"),
        (
            RESPONSE,
            {
                "id": "x",
                "object": "chat.completion",
                "created": 1,
                "model": "m",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
            },
            "choices/0",
        ),
        (
            CHUNK,
            {"id": "x", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [{"index": 0, "delta": {}}]},
            "choices/0",
        ),
    ],
    ids=["empty messages", "five stops", "temperature 3", "no refusal or logprobs", "chunk without finish_reason"],
)
def test_schema_rejects_known_bad_bodies(schema: Any, body: Any, where: str) -> None:
    """The extract is not vacuous: bodies the real API refuses or never sends fail it where expected."""
    assert any(e.startswith(where + ":") for e in errors(schema, body)), errors(schema, body)


# The tests whose OpenAI-format bodies are recorded and validated: the OpenAI wire and client
# tests and the ones that send request fields, native formats, refusals, keys, usage, cache and
# batch uploads through the OpenAI encoder (about 12 s in all). Run over tests/unit and tests/integration
# whole (about 9,400 bodies), the only failures were the deliberate ones ALLOWED names.
RECORDED = {  # three groups, each run in its own process (a test of its own stays well under 15 s)
    "unit": (
        "tests/unit/test_wire_openai.py",
        "tests/unit/test_wire_requests.py",
        "tests/unit/test_wire_common.py",
        "tests/unit/test_client_wire.py",
        "tests/unit/test_custom_stream_usage.py",
        "tests/unit/test_batch.py",
    ),
    "calls": (
        "tests/integration/test_client_openai.py",
        "tests/integration/test_native_formats.py",
        "tests/integration/test_refusals_and_metadata.py",
        "tests/integration/test_request_fields.py",
    ),
    "keys, cache, batches": (
        "tests/integration/test_keys_and_urls.py",
        "tests/integration/test_usage_cost.py",
        "tests/integration/test_cache_calls.py",
        "tests/integration/test_provider_batch.py",
    ),
}
# per group: at least this many bodies, from at least these providers (about 70, 370 and 600 today)
EXPECTED = {
    "unit": (50, {"openai", "azure_openai", "deepseek", "groq"}),
    "calls": (300, {"mock"}),
    "keys, cache, batches": (450, {"openai", "azure_openai", "mock", "ollama"}),
}
_OPENAI_ITSELF = ("openai", "azure_openai")


def _allowed(record: dict[str, Any], errs: list[str]) -> bool:
    """OpenAI-compatible services get every stop sequence (each sets its own limit; see
    ailib/providers/openai.py): more than OpenAI's 4 breaks OpenAI's schema on purpose."""
    return record["provider"] not in _OPENAI_ITSELF and all(e.startswith("stop:") for e in errs)


@pytest.mark.alone  # a whole pytest run of its own: measured alone, it stays far from the 15 s limit
@pytest.mark.parametrize("group", sorted(RECORDED))
def test_every_body_the_openai_tests_build_validates(group: str, tmp_path: Path) -> None:
    """Every body the OpenAI encoder builds while a group of the OpenAI tests runs validates against CreateChatCompletionRequest."""
    # The child run takes no turn under this run's lock (AILIB_TEST_LOCK): its tests waiting for
    # turns this test holds would deadlock with a test marked alone waiting for this one to end.
    ours = ("AILIB_TEST_LOCK", "PYTEST_ADDOPTS", "PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID")
    env = {
        **{k: v for k, v in os.environ.items() if k not in ours},
        "AILIB_RECORD_OPENAI_BODIES": str(tmp_path),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:xdist",
        "-p",
        "tests.conformance._record_openai_bodies",
    ]
    run = subprocess.run([*command, *RECORDED[group]], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    records = [json.loads(line) for f in sorted(tmp_path.glob("bodies-*.jsonl")) for line in f.read_text(encoding="utf-8").splitlines()]
    least, providers = EXPECTED[group]
    assert len(records) >= least and {r["provider"] for r in records} >= providers
    failures = {}
    for r in records:
        errs = ["body cannot be encoded as JSON"] if r.get("unserialisable") else errors(REQUEST, r["body"])
        if errs and not _allowed(r, errs):
            failures.setdefault(r["test"], errs[:3])
    assert failures == {}


FIXTURES = SCHEMA_FILE.parents[1]
# Recorded from DeepSeek, which leaves out message.refusal: a compatible service, not OpenAI.
NOT_OPENAI = {"response_deepseek_cache.json"}


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.json") if p.name.startswith(("response_", "request_"))))
def test_recorded_openai_bodies_validate(name: str) -> None:
    """The OpenAI bodies recorded in tests/fixtures/openai validate too: the extract is not stricter than the real API."""
    data = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    found = errors(REQUEST if name.startswith("request_") else RESPONSE, data)
    if name in NOT_OPENAI:
        assert found == ["choices/0/message: 'refusal' is a required property"]
    else:
        assert found == []


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("stream_*.txt")))
def test_recorded_openai_chunks_validate(name: str) -> None:
    """Each chunk of the OpenAI streams recorded in tests/fixtures/openai validates against CreateChatCompletionStreamResponse."""
    lines = (FIXTURES / name).read_text(encoding="utf-8").splitlines()
    chunks = [json.loads(line[len("data: ") :]) for line in lines if line.startswith("data: ") and line != "data: [DONE]"]
    assert chunks and [errors(CHUNK, c) for c in chunks] == [[] for _ in chunks]


def test_extract_resolves_refs_and_nullable() -> None:
    """extract.py moves $refs to $defs, keeps only what the roots reach, and turns nullable into null in type, enum or anyOf."""
    loader = importlib.util.spec_from_file_location("_openapi_extract", SCHEMA_FILE.with_name("extract.py"))
    assert loader is not None and loader.loader is not None
    extract = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(extract)
    ref = {"$ref": "#/components/schemas/Part"}
    spec = {
        "components": {
            "schemas": {
                "CreateChatCompletionRequest": {"type": "object", "properties": {"description": {"type": "string", "nullable": True}}},
                "CreateChatCompletionResponse": {"properties": {"p": {**ref, "nullable": True, "description": "x"}}},
                "CreateChatCompletionStreamResponse": {"type": "string", "enum": ["a"], "nullable": True, "x-oaiMeta": {}},
                "Part": {"type": "integer", "example": 1},
                "Unused": {"type": "string"},
            }
        }
    }
    out = extract.extract(spec)["$defs"]
    assert sorted(out) == ["CreateChatCompletionRequest", "CreateChatCompletionResponse", "CreateChatCompletionStreamResponse", "Part"]
    assert out["CreateChatCompletionRequest"]["properties"]["description"] == {"type": ["string", "null"]}
    assert out["CreateChatCompletionResponse"]["properties"]["p"] == {"anyOf": [{"$ref": "#/$defs/Part"}, {"type": "null"}]}
    assert out["CreateChatCompletionStreamResponse"] == {"type": ["string", "null"], "enum": ["a", None]}
    assert out["Part"] == {"type": "integer"}


LOGPROB_CASES = ("text", "refusal", "text and tool call", "tool call")


@pytest.mark.parametrize("top", [None, 0, 3], ids=["logprobs", "top0", "top3"])
@pytest.mark.parametrize("case", LOGPROB_CASES)
def test_mock_logprobs_response_validates(mock: MockProvider, case: str, top: Optional[int]) -> None:
    """Asked for logprobs, MockProvider's body has choices[].logprobs (an entry per token, top_logprobs of the size asked)
    and validates against CreateChatCompletionResponse."""
    body: dict[str, Any] = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "logprobs": True, "n": 2}
    if top is not None:
        body["top_logprobs"] = top
    data = _post(mock, REPLIES[case], body).json()
    assert errors(RESPONSE, data) == []
    for choice in data["choices"]:
        logprobs = choice["logprobs"]
        said = choice["message"]["refusal"] if case == "refusal" else choice["message"]["content"] or ""
        entries = logprobs["refusal"] if case == "refusal" else logprobs["content"]
        assert "".join(e["token"] for e in entries) == said
        assert all(bytes(e["bytes"]) == e["token"].encode() and len(e["top_logprobs"]) == (top or 0) for e in entries)


@pytest.mark.parametrize("top", [0, 2])
@pytest.mark.parametrize("case", LOGPROB_CASES)
def test_mock_logprobs_chunks_validate(mock: MockProvider, case: str, top: int) -> None:
    """Asked for logprobs, MockProvider streams one token a chunk with its entry; every chunk validates against
    CreateChatCompletionStreamResponse, and the entries' tokens join to what was said."""
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "stream": True, "logprobs": True, "top_logprobs": top}
    text = _post(mock, REPLIES[case], body).text
    chunks = [json.loads(line[len("data: ") :]) for line in text.splitlines() if line.startswith("data: ") and line != "data: [DONE]"]
    assert {i: errors(CHUNK, c) for i, c in enumerate(chunks) if errors(CHUNK, c)} == {}
    key = "refusal" if case == "refusal" else "content"
    said = "".join(c["choices"][0]["delta"].get(key) or "" for c in chunks)
    entries = [e for c in chunks if c["choices"][0]["logprobs"] for e in c["choices"][0]["logprobs"][key] or []]
    assert "".join(e["token"] for e in entries) == said and bool(said) == (case != "tool call")
    assert all(len(e["top_logprobs"]) == top for e in entries)
    assert chunks[0]["choices"][0]["logprobs"] == {"content": [], "refusal": None}


def test_no_logprobs_unless_asked(mock: MockProvider) -> None:
    """Without logprobs in the request, choices[].logprobs is null, as the API sends it."""
    data = _post(mock, REPLIES["text"], {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}).json()
    assert data["choices"][0]["logprobs"] is None
