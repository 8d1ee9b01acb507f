"""The OpenAI Responses API through the whole client, against MockProvider (which serves
``/v1/chat/completions`` and ``/v1/responses`` on one port): which API a model goes to
(``ConnectionOptions(wire_api=...)``), the request body, answers and streams, errors and
faults, fallback from a Responses-only model to a chat model, and a tool loop whose
reasoning goes back."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ailib import (
    AiClient,
    AiClientBuilder,
    ChatCompletionRequest,
    ConnectionOptions,
    FallbackChain,
    Message,
    Provider,
    Tool,
)
from ailib.errors import (
    ConfigurationError,
    ContextLengthExceededError,
    InvalidRequestError,
    ProviderError,
    QuotaExceededError,
    StreamInterruptedError,
)
from ailib.testing import Fault, MockProvider, Reply
from ailib.testing._mock_responses import encrypted_reasoning

KEY = "sk-test-responses-0123456789abcdef"
TOOL = ("call_weather_1", "get_weather", {"city": "Paris"})
WEATHER = Tool.function("get_weather", "Weather in a city", {"type": "object", "properties": {"city": {"type": "string"}}})
THINKING = "The user wants the weather; I will call get_weather."


@pytest.fixture
def mock() -> Iterator[MockProvider]:
    with MockProvider("openai", api_key=KEY, reply=Reply("Hello from the mock", prompt_tokens=12, completion_tokens=8)) as m:
        yield m


def openai_client(mock: MockProvider, **options: Any) -> AiClient:
    """Provider.OPENAI itself (so its defaults apply), pointed at the mock."""
    opts = ConnectionOptions(api_key=KEY, base_url=mock.base_url, **options)
    return AiClientBuilder(Provider.OPENAI).with_connection_options(opts).without_retry().build()


def paths(mock: MockProvider) -> list[str]:
    return [r.path.split("?", 1)[0] for r in mock.chat_requests]


def ask(model: str, **kw: Any) -> ChatCompletionRequest:
    return ChatCompletionRequest(model, [Message.system("Be brief."), Message.user("hi")], **kw)


# -- which API -----------------------------------------------------------------------------------
@pytest.mark.parametrize("model", ["gpt-5-pro", "o3-pro", "gpt-5.1-codex-max", "codex-mini-latest", "openai/gpt-5-pro"])
def test_by_default_a_responses_only_model_goes_to_the_responses_api(mock: MockProvider, model: str) -> None:
    """OpenAI's default (wire_api unset, "auto"): a model served only by /v1/responses is sent there by name."""
    with openai_client(mock) as ai:
        assert ai.chat_completion(ask(model)).text == "Hello from the mock"
    assert paths(mock) == ["/v1/responses"]


@pytest.mark.parametrize("model", ["gpt-4o-mini", "gpt-5", "o3", "auto"])
def test_by_default_every_other_model_goes_to_chat_completions(mock: MockProvider, model: str) -> None:
    """OpenAI's default keeps every model not in the table on /v1/chat/completions."""
    with openai_client(mock) as ai:
        ai.chat_completion(ask(model))
    assert paths(mock) == ["/v1/chat/completions"]


def test_wire_api_responses_sends_every_model_to_the_responses_api(mock: MockProvider) -> None:
    """wire_api="responses": gpt-4o-mini goes to /v1/responses too, streamed or not."""
    with openai_client(mock, wire_api="responses") as ai:
        ai.chat_completion(ask("gpt-4o-mini"))
        with ai.chat_completion_stream(ask("gpt-4o-mini")) as stream:
            assert stream.collect().text == "Hello from the mock"
    assert paths(mock) == ["/v1/responses", "/v1/responses"]


def test_wire_api_chat_keeps_even_a_responses_only_model_on_chat_completions(mock: MockProvider) -> None:
    """wire_api="chat": the user's choice wins over the table."""
    with openai_client(mock, wire_api="chat") as ai:
        ai.chat_completion(ask("gpt-5-pro"))
    assert paths(mock) == ["/v1/chat/completions"]


def test_an_openai_compatible_provider_stays_on_chat_completions_unless_told(mock: MockProvider) -> None:
    """A custom OpenAI-format provider has no Responses API by default; wire_api="auto" turns the table on."""
    with AiClient(mock.provider(api_key=KEY)) as ai:
        ai.chat_completion(ask("gpt-5-pro"))
    options = ConnectionOptions(wire_api="auto")
    with AiClientBuilder(mock.provider(api_key=KEY)).with_connection_options(options).build() as ai:
        ai.chat_completion(ask("gpt-5-pro"))
    assert paths(mock) == ["/v1/chat/completions", "/v1/responses"]


def test_a_pickled_client_keeps_its_wire_api(mock: MockProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """A client unpickled in another process keeps wire_api="responses" (and the auto table): both requests go to /v1/responses."""
    import pickle

    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    options = ConnectionOptions(base_url=mock.base_url, wire_api="responses")
    with AiClientBuilder(Provider.OPENAI).with_connection_options(options).build() as ai:
        clone = pickle.loads(pickle.dumps(ai))
    with clone:
        clone.chat_completion(ask("gpt-4o-mini"))
        with clone.chat_completion_stream(ask("gpt-4o-mini")) as s:
            s.collect()
    assert paths(mock) == ["/v1/responses", "/v1/responses"]


def test_a_wire_api_is_checked_when_the_client_is_built() -> None:
    """An unknown wire_api, or "responses" for a format without one, is a ConfigurationError before any call."""
    with pytest.raises(ConfigurationError, match="wire_api"):
        ConnectionOptions(wire_api="completions")
    options = ConnectionOptions(api_key=KEY, wire_api="responses")
    with pytest.raises(ConfigurationError, match="Responses API"):
        AiClientBuilder(Provider.ANTHROPIC).with_connection_options(options).build()


def test_a_responses_format_custom_provider_speaks_only_the_responses_api() -> None:
    """CustomProviderBuilder.with_wire_format("openai_responses"): every request to {base_url}/responses."""
    with MockProvider("openai_responses", api_key=KEY) as mock:
        provider = mock.provider(api_key=KEY)
        assert provider.wire_format == "openai_responses"
        with AiClient(provider) as ai:
            assert ai.chat_completion(ask("gpt-4o-mini")).text == "Hello from MockProvider"
        assert paths(mock) == ["/v1/responses"]


def test_azure_openai_sends_a_responses_only_deployment_to_its_v1_responses_url(mock: MockProvider) -> None:
    """Azure OpenAI: a deployment named after a Responses-only model goes to {resource}/openai/v1/responses with api-key."""
    options = ConnectionOptions(api_key=KEY, base_url=mock.url)
    with AiClientBuilder(Provider.AZURE_OPENAI).with_connection_options(options).without_retry().build() as ai:
        ai.chat_completion(ask("gpt-5-pro"))
        ai.chat_completion(ask("gpt-4o"))
    sent = mock.chat_requests
    assert [r.path for r in sent] == ["/openai/v1/responses", "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"]
    assert sent[0].headers.get("api-key") == KEY and sent[0].json["model"] == "gpt-5-pro"


# -- the request body ----------------------------------------------------------------------------
def test_the_request_body_is_the_responses_shape(mock: MockProvider) -> None:
    """System → instructions; max_tokens → max_output_tokens; reasoning → reasoning.effort; tools and a named tool_choice flat;
    a json_schema response_format → text.format; temperature and top_p as given."""
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"], "additionalProperties": False}
    request = ask(
        "gpt-5-pro",
        max_tokens=300,
        reasoning="high",
        tools=[WEATHER],
        tool_choice="get_weather",
        temperature=0.5,
        top_p=0.9,
        response_format={"type": "json_schema", "json_schema": {"name": "A", "schema": schema, "strict": True}},
    )
    with openai_client(mock) as ai:
        ai.chat_completion(request)
    body = mock.chat_requests[0].json
    assert body == {
        "model": "gpt-5-pro",
        "instructions": "Be brief.",
        "input": [{"role": "user", "content": "hi"}],
        "max_output_tokens": 300,
        "reasoning": {"effort": "high"},
        "tools": [{"type": "function", "name": "get_weather", "description": "Weather in a city", "parameters": WEATHER.parameters}],
        "tool_choice": {"type": "function", "name": "get_weather"},
        "temperature": 0.5,
        "top_p": 0.9,
        "text": {"format": {"type": "json_schema", "name": "A", "schema": schema, "strict": True}},
    }


def test_store_false_asks_for_the_encrypted_reasoning(mock: MockProvider) -> None:
    """extra={"store": False} sends store false and include reasoning.encrypted_content; previous_response_id goes as given."""
    with openai_client(mock) as ai:
        ai.chat_completion(ask("gpt-5-pro", extra={"store": False}))
        ai.chat_completion(ask("gpt-5-pro", extra={"previous_response_id": "resp_1", "store": True}))
    first, second = (r.json for r in mock.chat_requests)
    assert (first["store"], first["include"]) == (False, ["reasoning.encrypted_content"])
    assert second["previous_response_id"] == "resp_1" and "include" not in second


def test_options_the_responses_api_lacks_are_refused_before_sending(mock: MockProvider) -> None:
    """stop and n > 1 raise InvalidRequestError with nothing sent."""
    with openai_client(mock) as ai:
        with pytest.raises(InvalidRequestError, match="stop"):
            ai.chat_completion(ask("gpt-5-pro", stop=["\n"]))
        with pytest.raises(InvalidRequestError, match="n > 1"):
            ai.chat_completion(ask("gpt-5-pro", n=2))
    assert mock.chat_requests == []


# -- answers -------------------------------------------------------------------------------------
@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
def test_usage_counts_cached_and_reasoning_tokens(mock: MockProvider, stream: bool) -> None:
    """input/output tokens with their cached and reasoning details become Usage, streamed or not."""
    reply = Reply("Done.", prompt_tokens=100, completion_tokens=40, cached_tokens=64, reasoning_tokens=30, reasoning=THINKING)
    mock.enqueue(Fault("ok", reply=reply))
    with openai_client(mock) as ai:
        if stream:
            with ai.chat_completion_stream(ask("gpt-5-pro")) as s:
                resp = s.collect()
        else:
            resp = ai.chat_completion(ask("gpt-5-pro"))
    u = resp.usage
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens, u.cached_tokens, u.reasoning_tokens) == (100, 40, 140, 64, 30)
    assert resp.reasoning == THINKING and resp.text == "Done."


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
def test_an_incomplete_answer_ends_with_length(mock: MockProvider, stream: bool) -> None:
    """status incomplete (max_output_tokens) is finish_reason "length", the partial text kept."""
    mock.enqueue(Fault("ok", reply=Reply("Partial", finish_reason="length")))
    with openai_client(mock) as ai:
        if stream:
            with ai.chat_completion_stream(ask("gpt-5-pro")) as s:
                resp = s.collect()
        else:
            resp = ai.chat_completion(ask("gpt-5-pro"))
    assert (resp.text, resp.finish_reason) == ("Partial", "length")


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
def test_a_refusal_is_a_refusal(mock: MockProvider, stream: bool) -> None:
    """A refusal content part: finish_reason "refusal" and the text on .refusal."""
    mock.enqueue(Fault.refused("I can't help with that."))
    with openai_client(mock) as ai:
        if stream:
            with ai.chat_completion_stream(ask("gpt-5-pro")) as s:
                resp = s.collect()
        else:
            resp = ai.chat_completion(ask("gpt-5-pro"))
    assert (resp.finish_reason, resp.refusal) == ("refusal", "I can't help with that.")


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
def test_url_citations_become_citations(mock: MockProvider, stream: bool) -> None:
    """output_text annotations (url_citation) are Citations with offsets into the text."""
    text = "Paris is the capital of France."
    mock.enqueue(Fault.ok(text, citations=[(0, 5, "https://example.com/paris", "Paris")]))
    with openai_client(mock) as ai:
        if stream:
            with ai.chat_completion_stream(ask("gpt-5-pro")) as s:
                resp = s.collect()
        else:
            resp = ai.chat_completion(ask("gpt-5-pro"))
    (cite,) = resp.citations
    assert (cite.format, cite.kind, cite.url, cite.title, text[cite.start : cite.end]) == (
        "openai_responses",
        "url_citation",
        "https://example.com/paris",
        "Paris",
        "Paris",
    )


def test_streamed_tool_call_arguments_arrive_as_deltas_and_whole_at_the_end(mock: MockProvider) -> None:
    """function_call_arguments.delta pieces are tool-call deltas (id and name first); the last chunk has the call decoded."""
    mock.enqueue(Fault.ok("", tool_calls=(TOOL,)))
    with openai_client(mock) as ai:
        with ai.chat_completion_stream(ask("gpt-5-pro", tools=[WEATHER])) as s:
            chunks = list(s)
    deltas = [d for c in chunks for d in c.tool_call_deltas]
    assert (deltas[0].id, deltas[0].name) == TOOL[:2]
    assert "".join(d.arguments_delta for d in deltas) == '{"city":"Paris"}'
    last = chunks[-1]
    assert last.finish_reason == "tool_calls" and [(t.id, t.name, t.arguments) for t in last.tool_calls] == [TOOL]


# -- errors and faults ---------------------------------------------------------------------------
def test_a_5xx_on_the_responses_api_is_retried(mock: MockProvider) -> None:
    """A 500 from /v1/responses is a retryable provider error: the retry answers."""
    mock.enqueue(Fault.http_status(500))
    opts = ConnectionOptions(api_key=KEY, base_url=mock.base_url, retry_delay=0.0)
    with AiClientBuilder(Provider.OPENAI).with_connection_options(opts).build() as ai:
        resp = ai.chat_completion(ask("gpt-5-pro"))
    assert resp.text == "Hello from the mock" and [a.outcome for a in resp.attempts] == ["error", "ok"]
    assert paths(mock) == ["/v1/responses", "/v1/responses"]


def test_an_error_event_before_any_content_fails_the_attempt_and_is_classified(mock: MockProvider) -> None:
    """An `error` event first (insufficient_quota) is the classified error of a failed attempt, not a stream cut."""
    mock.enqueue(Fault.error_event(0, error_type="insufficient_quota", message="You exceeded your current quota"))
    with openai_client(mock) as ai:
        with pytest.raises(QuotaExceededError, match="quota"):
            with ai.chat_completion_stream(ask("gpt-5-pro")) as s:
                list(s)


def test_an_error_event_after_content_interrupts_the_stream(mock: MockProvider) -> None:
    """After the first text delta (the commit point) an error event ends the stream with StreamInterruptedError and the text so far."""
    mock.enqueue(Fault.error_event(3, error_type="server_error", message="The server had an error"))
    with openai_client(mock) as ai:
        with pytest.raises(StreamInterruptedError) as caught:
            with ai.chat_completion_stream(ask("gpt-5-pro")) as s:
                list(s)
    assert caught.value.partial_text and "Hello from the mock".startswith(caught.value.partial_text)


def test_a_stream_cut_before_content_is_retried(mock: MockProvider) -> None:
    """A stream cut before its first content (no response.completed) is a failed attempt, retried."""
    mock.enqueue(Fault.cut_stream(0))
    opts = ConnectionOptions(api_key=KEY, base_url=mock.base_url, retry_delay=0.0)
    with AiClientBuilder(Provider.OPENAI).with_connection_options(opts).build() as ai:
        with ai.chat_completion_stream(ask("gpt-5-pro")) as s:
            assert s.collect().text == "Hello from the mock"
    assert paths(mock) == ["/v1/responses", "/v1/responses"]


def test_a_stream_without_its_terminal_event_is_interrupted(mock: MockProvider) -> None:
    """Text deltas, then the body ends with no response.completed: StreamInterruptedError with the text so far."""
    mock.enqueue(Fault.cut_stream(2))
    with openai_client(mock) as ai:
        with pytest.raises(StreamInterruptedError, match="response.completed"):
            with ai.chat_completion_stream(ask("gpt-5-pro")) as s:
                list(s)


def test_a_chat_body_sent_to_the_responses_api_is_refused_as_the_api_does(mock: MockProvider) -> None:
    """The mock refuses chat-completions parameters on /v1/responses with 400, classified as InvalidRequestError."""
    with openai_client(mock, wire_api="responses") as ai:
        with pytest.raises(InvalidRequestError, match="Unsupported parameter: 'messages'"):
            ai.chat_completion(ask("gpt-5-pro", extra={"messages": []}))


def test_failed_and_context_errors_map_onto_the_error_tree(mock: MockProvider) -> None:
    """A 400 context_length_exceeded from /v1/responses is ContextLengthExceededError."""
    mock.enqueue(Fault.http_status(400, error_type="context_length_exceeded", message="Your input exceeds the context window"))
    with openai_client(mock) as ai:
        with pytest.raises(ContextLengthExceededError):
            ai.chat_completion(ask("gpt-5-pro"))


# -- fallback and the tool loop ------------------------------------------------------------------
@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
def test_a_fallback_chain_from_a_responses_only_model_to_a_chat_model_answers_on_a_5xx(mock: MockProvider, stream: bool) -> None:
    """gpt-5-pro (Responses API) fails with 503; the chain's next step, gpt-4o-mini, answers over chat completions."""
    mock.enqueue(Fault.http_status(503, message="overloaded"))
    opts = ConnectionOptions(api_key=KEY, base_url=mock.base_url)
    chain = FallbackChain().primary("gpt-5-pro").on_error("gpt-4o-mini")
    with AiClientBuilder(Provider.OPENAI).with_connection_options(opts).without_retry().fallback(chain).build() as ai:
        request = ChatCompletionRequest("auto", [Message.user("hi")])
        if stream:
            with ai.chat_completion_stream(request) as s:
                resp = s.collect()
        else:
            resp = ai.chat_completion(request)
    assert resp.text == "Hello from the mock"
    assert [(a.model, a.outcome) for a in resp.attempts] == [("gpt-5-pro", "error"), ("gpt-4o-mini", "ok")]
    assert isinstance(resp.attempts[0].error, ProviderError)
    assert paths(mock) == ["/v1/responses", "/v1/chat/completions"]
    assert [r.json["model"] for r in mock.chat_requests] == ["gpt-5-pro", "gpt-4o-mini"]


def test_a_fallback_chain_from_a_chat_model_back_to_a_responses_only_model(mock: MockProvider) -> None:
    """The other way: gpt-4o-mini fails on chat completions and gpt-5-pro answers over the Responses API."""
    mock.enqueue(Fault.http_status(500))
    opts = ConnectionOptions(api_key=KEY, base_url=mock.base_url)
    chain = FallbackChain().primary("gpt-4o-mini").on_error("gpt-5-pro")
    with AiClientBuilder(Provider.OPENAI).with_connection_options(opts).without_retry().fallback(chain).build() as ai:
        assert ai.chat_completion(ChatCompletionRequest("auto", [Message.user("hi")])).text == "Hello from the mock"
    assert paths(mock) == ["/v1/chat/completions", "/v1/responses"]


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
def test_a_tool_loop_sends_the_reasoning_back(mock: MockProvider, stream: bool) -> None:
    """Turn 1: reasoning (encrypted, store false) then a function call; turn 2 replays the answer: the reasoning item
    with its id and encrypted_content, then the function_call with its id, then the function_call_output; the mock
    (which refuses an output without its call) answers."""
    mock.enqueue(Fault.ok("", tool_calls=(TOOL,), reasoning=THINKING), Fault.ok("18C in Paris."))
    extra = {"store": False}
    messages = [Message.user("Weather in Paris?")]
    with openai_client(mock) as ai:
        first = ChatCompletionRequest("gpt-5-pro", messages, tools=[WEATHER], reasoning="high", extra=extra)
        if stream:
            with ai.chat_completion_stream(first) as s:
                answer = s.collect().choices[0].message
        else:
            answer = ai.chat_completion(first).choices[0].message
        call = answer.tool_calls[0]
        second = ChatCompletionRequest(
            "gpt-5-pro", [*messages, answer, Message.tool(call.id, "18C")], tools=[WEATHER], reasoning="high", extra=extra
        )
        assert ai.chat_completion(second).text == "18C in Paris."
    items = mock.chat_requests[-1].json["input"]
    assert [i.get("type", "message") for i in items] == ["message", "reasoning", "function_call", "function_call_output"]
    reasoning, fc, output = items[1:]
    assert reasoning["encrypted_content"] == encrypted_reasoning(THINKING)
    assert reasoning["id"].startswith("rs_") and reasoning["summary"] == [{"type": "summary_text", "text": THINKING}]
    assert (fc["call_id"], fc["name"], fc["id"][:3]) == (TOOL[0], TOOL[1], "fc_")
    assert output == {"type": "function_call_output", "call_id": TOOL[0], "output": "18C"}
    assert answer.reasoning == THINKING


def test_a_tool_loop_chained_by_previous_response_id_sends_only_the_new_items(mock: MockProvider) -> None:
    """With store (the default) the second turn names the first answer's id in previous_response_id and sends only the
    function_call_output (the mock accepts an output without its call only when chained)."""
    mock.enqueue(Fault.ok("", tool_calls=(TOOL,), reasoning=THINKING), Fault.ok("18C in Paris."))
    with openai_client(mock) as ai:
        first = ai.chat_completion(ChatCompletionRequest("gpt-5-pro", [Message.user("Weather in Paris?")], tools=[WEATHER]))
        second = ChatCompletionRequest(
            "gpt-5-pro", [Message.tool(first.tool_calls[0].id, "18C")], tools=[WEATHER], extra={"previous_response_id": first.id}
        )
        assert ai.chat_completion(second).text == "18C in Paris."
    body = mock.chat_requests[-1].json
    assert body["previous_response_id"] == first.id == "resp_mock"
    assert body["input"] == [{"type": "function_call_output", "call_id": TOOL[0], "output": "18C"}]


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
def test_a_cached_answer_keeps_what_its_replay_needs(mock: MockProvider, stream: bool) -> None:
    """From the response cache, a Responses answer still has its reasoning parts (encrypted content, item order): replayed,
    it sends the same second turn as the live answer did."""
    mock.enqueue(Fault.ok("", tool_calls=(TOOL,), reasoning=THINKING), Fault.ok("18C."), Fault.ok("18C."))
    opts = ConnectionOptions(api_key=KEY, base_url=mock.base_url)
    extra = {"store": False}
    first = ChatCompletionRequest("gpt-5-pro", [Message.user("Weather?")], tools=[WEATHER], extra=extra, temperature=0)
    with AiClientBuilder(Provider.OPENAI).with_connection_options(opts).with_cache("memory").without_retry().build() as ai:
        live = ai.chat_completion(first).choices[0].message
        if stream:
            with ai.chat_completion_stream(first) as s:
                cached = s.collect().choices[0].message
        else:
            cached = ai.chat_completion(first).choices[0].message
        turns = []
        for answer in (live, cached):
            ai.chat_completion(
                ChatCompletionRequest(
                    "gpt-5-pro", [Message.user("Weather?"), answer, Message.tool(TOOL[0], "18C")], tools=[WEATHER], extra=extra
                )
            )
            turns.append(mock.chat_requests[-1].json["input"])
    assert len(mock.chat_requests) == 3  # the second first-turn came from the cache
    assert turns[0] == turns[1] and turns[0][1]["type"] == "reasoning"


def test_reasoning_parts_go_back_only_to_the_responses_api(mock: MockProvider) -> None:
    """An answer from the Responses API replayed to chat completions drops its reasoning items (only text and calls go)."""
    mock.enqueue(Fault.ok("", tool_calls=(TOOL,), reasoning=THINKING))
    with openai_client(mock) as ai:
        answer = ai.chat_completion(ask("gpt-5-pro", tools=[WEATHER])).choices[0].message
        ai.chat_completion(ChatCompletionRequest("gpt-4o-mini", [Message.user("hi"), answer, Message.tool(TOOL[0], "18C")]))
    sent = mock.chat_requests[-1].json["messages"]
    assert sent[1] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": TOOL[0], "type": "function", "function": {"name": TOOL[1], "arguments": '{"city": "Paris"}'}}],
    }
