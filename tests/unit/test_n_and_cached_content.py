"""``ChatCompletionRequest(n=..., cached_content=...)``: what each format sends or refuses, and
Gemini's candidates decoded by index in bodies and streams (fixtures: shape of Gemini's
multi-candidate answer, made-up values; see tests/fixtures/gemini/two_candidates.source)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ailib import ChatCompletionRequest, Message, Tool
from ailib._sse import SseParser
from ailib.errors import InvalidRequestError, NetworkError
from ailib.providers._formats import get_wire_format
from ailib.providers._registry import PROVIDERS, Provider
from ailib.types import Role, StreamChunk

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "gemini"
PROVIDER_OF = {"openai": Provider.OPENAI, "anthropic": Provider.ANTHROPIC, "gemini": Provider.GEMINI, "cohere": Provider.COHERE}
CACHE = "cachedContents/7f2c1a9e0b"


def request(**kw: Any) -> ChatCompletionRequest:
    return ChatCompletionRequest("m", [Message.user("Capital of France?")], **kw)


def encode(fmt: str, req: ChatCompletionRequest) -> dict[str, Any]:
    spec = PROVIDERS[PROVIDER_OF[fmt]]
    wire = get_wire_format(fmt)
    wire.check_supported(req, spec, stream=False)
    return wire.encode(req, "m", stream=False, spec=spec)


def refused(fmt: str, req: ChatCompletionRequest) -> str:
    """The message of the error raised before sending, by check_supported and by encode alone (batch uploads)."""
    spec = PROVIDERS[PROVIDER_OF[fmt]]
    wire = get_wire_format(fmt)
    with pytest.raises(InvalidRequestError) as checked:
        wire.check_supported(req, spec, stream=False)
    with pytest.raises(InvalidRequestError) as encoded:
        wire.encode(req, "m", stream=False, spec=spec)
    assert str(checked.value) == str(encoded.value) and checked.value.provider == spec.name
    return str(checked.value)


# -- the request ---------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "2"])
def test_n_must_be_a_positive_int(bad: Any) -> None:
    """n of 0, negative, a bool, a float or a string raises InvalidRequestError at construction."""
    with pytest.raises(InvalidRequestError, match="n \\(the number of answers\\)"):
        request(n=bad)


@pytest.mark.parametrize("bad", ["", "  ", 7])
def test_cached_content_must_be_a_name(bad: Any) -> None:
    """An empty or non-string cached_content raises InvalidRequestError at construction."""
    with pytest.raises(InvalidRequestError, match="cached_content"):
        request(cached_content=bad)


def test_dict_form_keeps_n_and_cached_content() -> None:
    """to_dict/from_dict keep n and cached_content (cache keys and checkpoints tell such requests apart)."""
    req = request(n=3, cached_content=CACHE)
    back = ChatCompletionRequest.from_dict(json.loads(json.dumps(req.to_dict())))
    assert (back.n, back.cached_content, back.extra) == (3, CACHE, None)
    assert req.to_dict() != request().to_dict()


def test_an_openai_body_n_is_the_keyword() -> None:
    """An OpenAI-style body's n becomes the request's n (not an extra field)."""
    req = ChatCompletionRequest.from_dict({"model": "m", "messages": [{"role": "user", "content": "hi"}], "n": 2})
    assert (req.n, req.extra) == (2, None)


# -- n per format --------------------------------------------------------------------------------


def test_n_goes_to_openai_as_n_and_to_gemini_as_candidate_count() -> None:
    """OpenAI gets "n"; Gemini gets generationConfig.candidateCount beside the rest of the config."""
    assert encode("openai", request(n=2))["n"] == 2
    assert encode("gemini", request(n=2, max_tokens=50))["generationConfig"] == {"maxOutputTokens": 50, "candidateCount": 2}
    assert "n" not in encode("openai", request()) and "generationConfig" not in encode("gemini", request())


@pytest.mark.parametrize("fmt", ["anthropic", "cohere"])
def test_n_above_one_is_refused_where_there_is_one_answer(fmt: str) -> None:
    """Anthropic and Cohere give one answer: n > 1 is refused before sending; n = 1 sends nothing more."""
    assert "does not support n > 1" in refused(fmt, request(n=2))
    assert encode(fmt, request(n=1)) == encode(fmt, request())


# -- cached_content per format -------------------------------------------------------------------


def test_cached_content_goes_to_gemini_top_level() -> None:
    """Gemini gets cachedContent at the top level of the body."""
    body = encode("gemini", request(cached_content=CACHE, max_tokens=20))
    assert body == {
        "contents": [{"role": "user", "parts": [{"text": "Capital of France?"}]}],
        "generationConfig": {"maxOutputTokens": 20},
        "cachedContent": CACHE,
    }


@pytest.mark.parametrize("fmt", ["openai", "anthropic", "cohere"])
def test_cached_content_is_refused_by_other_formats(fmt: str) -> None:
    """Every other format refuses cached_content before sending (the prompt would go without its cached part)."""
    assert f"{fmt} does not support cached_content" in refused(fmt, request(cached_content=CACHE))


@pytest.mark.parametrize(
    "kw, said",
    [
        ({"messages": [Message.system("Be brief."), Message.user("hi")]}, "a system instruction"),
        ({"messages": [Message(Role.DEVELOPER, "Be brief."), Message.user("hi")]}, "a system instruction"),
        ({"tools": [Tool.function("f")]}, "tools"),
        ({"tools": [Tool.function("f")], "tool_choice": "auto"}, "tools or tool_choice"),
    ],
)
def test_gemini_refuses_what_belongs_in_the_cache(kw: dict[str, Any], said: str) -> None:
    """A system instruction, tools or tool_choice beside cached_content are refused before sending (Gemini answers 400)."""
    messages = kw.pop("messages", [Message.user("hi")])
    message = refused("gemini", ChatCompletionRequest("m", messages, cached_content=CACHE, **kw))
    assert f"does not take {said} with cached_content" in message


# -- Gemini candidates ---------------------------------------------------------------------------


def test_body_candidates_are_choices_by_index() -> None:
    """Every candidate of a body is a choice with its index and text, in index order whatever the order received."""
    data = json.loads((FIXTURES / "response_two_candidates.json").read_text())
    resp = get_wire_format("gemini").decode(data, provider="gemini", model="m", headers={})
    assert [(c.index, c.message.content, c.finish_reason) for c in resp.choices] == [
        (0, "Paris is the capital of France.", "stop"),
        (1, "The capital of France is Paris.", "stop"),
    ]
    data["candidates"].reverse()
    again = get_wire_format("gemini").decode(data, provider="gemini", model="m", headers={})
    assert again.choices == resp.choices


def test_body_calls_of_later_candidates_get_their_own_ids() -> None:
    """The same call in two candidates gets two different synthetic ids (each candidate's own)."""
    data = json.loads((FIXTURES / "response_two_candidates.json").read_text())
    call = {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}
    for cand in data["candidates"]:
        cand["content"]["parts"] = [call]
    choices = get_wire_format("gemini").decode(data, provider="gemini", model="m", headers={}).choices
    ids = [c.message.tool_calls[0].id for c in choices]
    assert len(set(ids)) == 2 and all(c.finish_reason == "tool_calls" for c in choices)


def stream_chunks(text: str) -> tuple[list[StreamChunk], Any]:
    parser = SseParser()
    events = parser.feed(text.encode()) + parser.flush()
    decoder = get_wire_format("gemini").stream_decoder(provider="gemini", model="m")
    chunks = [c for e in events for c in decoder.feed(e)]
    decoder.finish()
    return chunks, decoder


def test_stream_candidates_keep_their_choice_index() -> None:
    """Each candidate's text comes on chunks with its choice_index; each ends with its own chunk, candidate 0's last with the usage."""
    chunks, decoder = stream_chunks((FIXTURES / "stream_two_candidates.txt").read_text())
    texts = {i: "".join(c.delta_text for c in chunks if c.choice_index == i) for i in (0, 1)}
    assert texts == {0: "Paris is the capital of France.", 1: "The capital of France is Paris."}
    ends = [(c.choice_index, c.finish_reason) for c in chunks if c.finish_reason]
    assert ends == [(1, "stop"), (0, "stop")]
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 25
    assert all(c.usage is None for c in chunks[:-1]) and decoder.complete


def test_stream_is_not_done_while_a_candidate_is_open() -> None:
    """Candidate 0 finishing while candidate 1 has not leaves the stream open; a body ending there is a cut-short stream."""
    lines = (FIXTURES / "stream_two_candidates.txt").read_text().split("\n\n")
    first = json.loads(lines[0][len("data: ") :])
    first["candidates"][0]["finishReason"] = "STOP"
    first["usageMetadata"] = {"promptTokenCount": 8, "candidatesTokenCount": 4, "totalTokenCount": 12}
    parser = SseParser()
    decoder = get_wire_format("gemini").stream_decoder(provider="gemini", model="m")
    chunks = decoder.feed(parser.feed(f"data: {json.dumps(first)}\n\n".encode())[0])
    assert not decoder.done and not decoder.complete and not [c for c in chunks if c.finish_reason]
    with pytest.raises(NetworkError, match="cut short"):
        decoder.finish()


def test_single_candidate_streams_are_unchanged() -> None:
    """A one-candidate stream (a recording) gives the same chunks as before: text, then one closing chunk with the usage."""
    chunks, decoder = stream_chunks((FIXTURES / "stream_text.txt").read_text())
    assert "".join(c.delta_text for c in chunks) == "It is sunny and 21 degrees in Paris."
    assert [c.choice_index for c in chunks] == [0] * len(chunks)
    assert [c.finish_reason for c in chunks if c.finish_reason] == ["stop"] and chunks[-1].usage is not None


def test_a_filtered_candidate_among_others_is_its_finish_reason() -> None:
    """With several candidates, one stopped by SAFETY is a content_filter choice, not an error for the whole answer."""
    data = json.loads((FIXTURES / "response_two_candidates.json").read_text())
    data["candidates"][1] = {"finishReason": "SAFETY", "index": 1}
    choices = get_wire_format("gemini").decode(data, provider="gemini", model="m", headers={}).choices
    assert [(c.index, c.finish_reason) for c in choices] == [(0, "stop"), (1, "content_filter")]
    assert choices[1].message.content is None
