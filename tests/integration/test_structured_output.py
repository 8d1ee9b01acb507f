"""Structured output end to end: MockProvider in each of the four formats answers with JSON text,
and the response (streamed or not) carries it parsed into the class given as response_format."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Optional

import pydantic
import pytest

from ailib import AiClient, AiClientBuilder, ChatCompletionRequest, Message, RetryPolicy, StructuredOutputError
from ailib.errors import ContentFilteredError
from ailib.testing import Fault, MockProvider, Reply

KEY = "sk-test-structured-0123456789abcdef"
ANSWER = '{"name": "Paris", "population": 2102650}'


class City(pydantic.BaseModel):
    name: str
    population: int


@dataclasses.dataclass
class Place:
    name: str
    population: int
    region: Optional[str] = None


@pytest.fixture(params=("openai", "anthropic", "gemini", "cohere", "openai_responses"))
def server(request: pytest.FixtureRequest) -> Iterator[MockProvider]:
    with MockProvider(request.param, api_key=KEY, reply=Reply(text=ANSWER)) as m:
        yield m


@pytest.fixture
def ai(server: MockProvider) -> Iterator[AiClient]:
    c = AiClientBuilder(server.provider(api_key=KEY)).with_retry(RetryPolicy(initial_delay=0.01, max_delay=0.05)).build()
    yield c
    c.close()


def ask(fmt: object) -> ChatCompletionRequest:
    return ChatCompletionRequest("auto", [Message.user("The largest city of France, as JSON")], response_format=fmt)


def _schema_sent(server: MockProvider) -> object:
    """Where each format carries the schema in the body the mock received."""
    body = server.chat_requests[-1].json
    name = server.format.name
    if name == "openai":
        return body["response_format"]["json_schema"]["schema"]
    if name == "anthropic":
        return body["output_config"]["format"]["schema"]
    if name == "gemini":
        return body["generationConfig"]["responseJsonSchema"]
    if name == "openai_responses":
        return body["text"]["format"]["schema"]
    return body["response_format"]["json_schema"]


def test_the_answer_comes_back_parsed_into_the_model(server: MockProvider, ai: AiClient) -> None:
    """A pydantic model as response_format: the schema goes out in the format's place and .parsed is the model instance."""
    resp = ai.chat_completion(ask(City))
    assert resp.parsed == City(name="Paris", population=2102650)
    assert resp.text == ANSWER
    assert _schema_sent(server)["properties"].keys() == {"name", "population"}  # type: ignore[index]


def test_a_dataclass_answer_comes_back_parsed(server: MockProvider, ai: AiClient) -> None:
    """A dataclass as response_format gives a dataclass instance on .parsed, its default kept."""
    assert ai.chat_completion(ask(Place)).parsed == Place("Paris", 2102650)


def test_a_finished_stream_has_parsed_and_collects_it(server: MockProvider, ai: AiClient) -> None:
    """A streamed answer is parsed once the stream has ended: None before, the instance after, and on collect()."""
    with ai.chat_completion_stream(ask(City)) as stream:
        first = next(stream)
        assert first.delta_text and stream.parsed is None
        resp = stream.collect()
    assert stream.parsed == City(name="Paris", population=2102650)
    assert resp.parsed == stream.parsed


def test_chat_with_a_model_returns_the_instance(server: MockProvider, ai: AiClient) -> None:
    """AiClient.chat(text, response_format=Model) returns the parsed instance instead of the text."""
    assert ai.chat("The largest city of France", response_format=City) == City(name="Paris", population=2102650)


def test_an_answer_that_does_not_fit_raises_structured_output_error(server: MockProvider, ai: AiClient) -> None:
    """JSON missing a field raises StructuredOutputError carrying the raw text and the one attempt made."""
    server.reply = Reply(text='{"name": "Paris"}')
    with pytest.raises(StructuredOutputError) as info:
        ai.chat_completion(ask(City))
    assert info.value.raw_text == '{"name": "Paris"}'
    assert [a.outcome for a in info.value.attempts] == ["ok"]
    assert info.value.provider == server.name


def test_a_streamed_answer_that_is_not_json_raises_on_parsed(server: MockProvider, ai: AiClient) -> None:
    """A finished stream whose text is not JSON raises StructuredOutputError when .parsed is read (the chunks were delivered)."""
    server.reply = Reply(text="Paris, about two million")
    with ai.chat_completion_stream(ask(City)) as stream:
        assert "".join(c.delta_text for c in stream) == "Paris, about two million"
    with pytest.raises(StructuredOutputError, match="does not parse as City: .*Invalid JSON"):
        stream.parsed  # noqa: B018


@pytest.mark.parametrize("fmt", ["openai", "anthropic"])
def test_a_refusal_leaves_parsed_none_and_chat_raises(fmt: str) -> None:
    """A refused structured request has .parsed None (no parse error), and chat(..., response_format=Model) raises ContentFilteredError."""
    with MockProvider(fmt, api_key=KEY) as server, AiClientBuilder(server.provider(api_key=KEY)).build() as ai:
        server.enqueue(Fault.refused("I can't help with that."), Fault.refused("I can't help with that."))
        resp = ai.chat_completion(ask(City))
        assert (resp.finish_reason, resp.parsed) == ("refusal", None)
        with pytest.raises(ContentFilteredError):
            ai.chat("anything", response_format=City)


def test_a_batch_rerun_from_its_checkpoint_still_has_parsed(tmp_path: Path) -> None:
    """Answers a re-run reads back from the batch checkpoint (nothing sent again) carry .parsed, built from the stored text."""
    path = tmp_path / "run.jsonl"
    with MockProvider("openai", api_key=KEY, reply=Reply(text=ANSWER)) as server:
        with AiClientBuilder(server.provider(api_key=KEY)).build() as ai:
            first = ai.chat_completion_batch([ask(City), ask(Place)], checkpoint=path)
            again = ai.chat_completion_batch([ask(City), ask(Place)], checkpoint=path)
        assert server.request_count == 2
    assert [r.parsed for r in first] == [r.parsed for r in again] == [City(name="Paris", population=2102650), Place("Paris", 2102650)]
