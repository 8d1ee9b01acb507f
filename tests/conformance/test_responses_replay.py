"""Recorded OpenAI Responses API traffic (openai-python's recorded body, vercel/ai's recorded
streams and bodies) served byte for byte on a loopback socket and read by ailib, checked field
for field against the test's own reading of the recording: text, citations, reasoning items
(summaries, encrypted content, ids), function calls, server-run tool items, usage with cached and
reasoning tokens, ids, models and errors."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from ailib import AiClientBuilder, ChatCompletionRequest, ChatCompletionResponse, ConnectionOptions, Message, Provider
from ailib.errors import QuotaExceededError

from ._replay import Recording, ReplayServer, load, sse_payloads

FMT = "openai_responses"
KEY = "sk-replay-0123456789abcdef"


def _ask(server: ReplayServer, rec: Recording, model: str = "gpt-5-mini") -> ChatCompletionResponse:
    options = ConnectionOptions(api_key=KEY, base_url=server.url + "/v1", wire_api="responses")
    request = ChatCompletionRequest(model, [Message.user("hi")])
    with AiClientBuilder(Provider.OPENAI).with_connection_options(options).without_retry().build() as ai:
        if rec.stream:
            with ai.chat_completion_stream(request) as stream:
                chunks = list(stream)
                resp = stream.collect()
            deltas = "".join(c.delta_text for c in chunks)
            assert deltas == resp.text  # the deltas are the text, once each
            return resp
        return ai.chat_completion(request)


def _streams(rec: Recording) -> list[Recording]:
    """A recording of several streams (one tool loop's turns) cut at each ``response.created``."""
    marker = b"event: response.created\n"
    pieces = rec.body.split(marker)
    return [rec._replace(body=marker + p) for p in pieces if p]


def _final(rec: Recording) -> Mapping[str, Any]:
    """The complete response the recording ends with: the body, or the terminal event's ``response``."""
    if not rec.stream:
        data: Mapping[str, Any] = json.loads(rec.body)
        return data
    last = [p for p in sse_payloads(rec) if p["type"] in ("response.completed", "response.incomplete")][-1]
    response: Mapping[str, Any] = last["response"]
    return response


def _expected_text(final: Mapping[str, Any]) -> str:
    return "".join(p["text"] for o in final["output"] if o["type"] == "message" for p in o["content"] if p["type"] == "output_text")


def _check(resp: ChatCompletionResponse, rec: Recording) -> None:
    """Every field ailib reads, equal to the recording's own."""
    final = _final(rec)
    output = final["output"]
    assert resp.id == final["id"] and resp.model == final["model"] and resp.provider == "openai"
    assert resp.text == _expected_text(final)
    usage, u = final["usage"], resp.usage
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens) == (usage["input_tokens"], usage["output_tokens"], usage["total_tokens"])
    assert u.cached_tokens == usage["input_tokens_details"]["cached_tokens"]
    assert u.reasoning_tokens == usage["output_tokens_details"]["reasoning_tokens"]
    calls = [o for o in output if o["type"] == "function_call"]
    assert [(t.id, t.name, t.arguments) for t in resp.tool_calls] == [(c["call_id"], c["name"], json.loads(c["arguments"])) for c in calls]
    assert resp.finish_reason == ("tool_calls" if calls else "stop")
    message = resp.choices[0].message
    items = [(i, o) for i, o in enumerate(output) if o["type"] == "reasoning"]
    parts = [p for p in message.reasoning_parts if p.kind == "reasoning"]
    assert [(p.format, p.index) for p in parts] == [(FMT, i) for i, _ in items]
    for part, (_, item) in zip(parts, items):
        assert part.signature == item.get("encrypted_content")
        assert part.text == "\n\n".join(s["text"] for s in item["summary"])
        kept = json.loads(part.data or "{}")
        assert kept == {k: v for k, v in item.items() if k != "encrypted_content"}
    annotations = [a for o in output if o["type"] == "message" for p in o["content"] for a in p.get("annotations") or ()]
    got = [(c.kind, c.url, c.title, c.start, c.end) for c in resp.citations]
    assert got == [(a["type"], a.get("url"), a.get("title"), a.get("start_index"), a.get("end_index")) for a in annotations]
    tools = [(i, o) for i, o in enumerate(output) if o["type"] not in ("message", "reasoning", "function_call")]
    assert [(p.type, p.id, p.index) for p in message.server_tool_parts] == [(o["type"], o["id"], i) for i, o in tools]


BODIES = [
    "openai_python_output_text.json",
    "openai-reasoning-encrypted-content.1.json",
    "openai-web-search-tool.1.json",
    "parallel-tool-call-wrapper.1.json",
]


@pytest.mark.parametrize("name", BODIES)
def test_a_recorded_body_is_read_field_for_field(name: str) -> None:
    """A recorded /responses body: text, usage details, reasoning items, function calls, citations and tool items as recorded."""
    rec = load(FMT, name)
    with ReplayServer(rec) as server:
        resp = _ask(server, rec)
    _check(resp, rec)
    assert server.requests[0][1] == "/v1/responses"


def test_a_recorded_stream_with_web_search_and_citations_is_read_field_for_field() -> None:
    """A recorded stream with web_search_call items, reasoning items and annotation events: citations with offsets into
    the text, each tool item once, cached and reasoning tokens, as its response.completed holds them."""
    rec = load(FMT, "openai-web-search-tool.1.chunks.txt")
    with ReplayServer(rec) as server:
        resp = _ask(server, rec)
    _check(resp, rec)
    assert len(resp.citations) == 12 and len(resp.server_tool_parts) == 6


def test_openai_pythons_recorded_body_is_its_output_text() -> None:
    """openai-python's recorded body: the text its `output_text` test expects, and the usage it recorded."""
    rec = load(FMT, "openai_python_output_text.json")
    with ReplayServer(rec) as server:
        resp = _ask(server, rec, "gpt-4o-mini")
    assert resp.text.startswith("I can't provide real-time updates") and resp.text.endswith(
        "so it's good to be prepared for variable weather!"
    )
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens, resp.usage.cached_tokens, resp.usage.reasoning_tokens) == (14, 50, 0, 0)
    assert resp.model == "gpt-4o-mini-2024-07-18" and resp.request_id == "req_replay0000000000000000000005"


def _loop() -> list[Recording]:
    return _streams(load(FMT, "openai-reasoning-encrypted-content.1.chunks.txt"))


@pytest.mark.parametrize("turn", range(4))
def test_each_recorded_turn_of_a_streamed_tool_loop_is_read_field_for_field(turn: int) -> None:
    """gpt-5.1-codex-max's recorded tool loop, turn by turn: reasoning with encrypted content, argument deltas, the final text."""
    rec = _loop()[turn]
    with ReplayServer(rec) as server:
        resp = _ask(server, rec)
    _check(resp, rec)


def test_the_recorded_reasoning_summary_streams_as_reasoning_deltas() -> None:
    """The first turn's reasoning_summary_text deltas are the stream's delta_reasoning, joined into its .reasoning."""
    rec = _loop()[0]
    summary = [p["delta"] for p in sse_payloads(rec) if p["type"] == "response.reasoning_summary_text.delta"]
    with ReplayServer(rec) as server:
        options = ConnectionOptions(api_key=KEY, base_url=server.url + "/v1", wire_api="responses")
        with AiClientBuilder(Provider.OPENAI).with_connection_options(options).without_retry().build() as ai:
            with ai.chat_completion_stream(ChatCompletionRequest("gpt-5.1-codex-max", [Message.user("hi")])) as stream:
                pieces = [c.delta_reasoning for c in stream if c.delta_reasoning]
                reasoning = stream.reasoning
    assert pieces == summary and reasoning == "".join(summary)


def test_the_recorded_first_turn_goes_back_as_recorded() -> None:
    """Replaying the first turn's answer sends its reasoning item (id, summary, encrypted_content) and function_call item
    as the recording's response.output holds them."""
    rec = _loop()[0]
    final = _final(rec)
    with ReplayServer(rec) as server:
        resp = _ask(server, rec)
    answer = resp.choices[0].message
    from ailib.providers.openai_responses import WIRE_FORMAT

    spec = Provider.OPENAI.spec
    request = ChatCompletionRequest("gpt-5.1-codex-max", [Message.user("hi"), answer, Message.tool(resp.tool_calls[0].id, "19")])
    body = WIRE_FORMAT.encode(request, "gpt-5.1-codex-max", stream=False, spec=spec)
    assert body["input"][1:3] == list(final["output"])
    assert body["input"][3] == {"type": "function_call_output", "call_id": final["output"][1]["call_id"], "output": "19"}


@pytest.mark.parametrize("name", ["openai-web-search-tool.1.chunks.txt", "openai-web-search-tool.1.json"])
def test_a_recorded_web_search_answer_goes_back_as_recorded(name: str) -> None:
    """Replaying an answer with reasoning, web_search_call items and a cited message sends its output items as recorded
    (the message's text part without its logprobs, which the API does not read on input)."""
    rec = load(FMT, name)
    final = _final(rec)
    with ReplayServer(rec) as server:
        resp = _ask(server, rec)
    from ailib.providers.openai_responses import WIRE_FORMAT

    request = ChatCompletionRequest("gpt-5", [Message.user("hi"), resp.choices[0].message, Message.user("and?")])
    sent = WIRE_FORMAT.encode(request, "gpt-5", stream=False, spec=Provider.OPENAI.spec)["input"][1:-1]
    expected = json.loads(json.dumps(final["output"]))
    for item in expected:
        for part in item.get("content") or ():
            part.pop("logprobs", None)
    assert sent == expected


def test_a_recorded_error_event_is_classified() -> None:
    """vercel/ai's recorded failing stream: the error event (insufficient_quota) is QuotaExceededError with its message."""
    rec = load(FMT, "openai-error.1.chunks.txt")
    error = next(p for p in sse_payloads(rec) if p["type"] == "error")["error"]
    with ReplayServer(rec) as server:
        with pytest.raises(QuotaExceededError) as caught:
            _ask(server, rec)
    assert str(caught.value).startswith(error["message"][:40]) and caught.value.status_code == 429


@pytest.fixture(autouse=True)
def _no_env_keys(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    yield
