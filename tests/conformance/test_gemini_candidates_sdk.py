"""Gemini ``n`` and ``cachedContent`` against google-genai: ailib's request fields are the ones the SDK
sends for ``candidate_count`` and ``cached_content``, and the SDK reads MockProvider's several
candidates as it reads Gemini's."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ailib import AiClient, ChatCompletionRequest, Message
from ailib.testing import MockProvider

from .conftest import KEY, TEXT, served

genai = pytest.importorskip("google.genai")
from google.genai import types  # noqa: E402

MODEL = "gemini-2.5-flash"
CACHE = "cachedContents/7f2c1a9e0b"


@pytest.fixture
def mock() -> Iterator[MockProvider]:
    yield from served("gemini")


def _sdk(mock: MockProvider) -> Any:
    options = types.HttpOptions(base_url=mock.url, timeout=10_000, retry_options=types.HttpRetryOptions(attempts=1))
    return genai.Client(api_key=KEY, http_options=options)


def test_candidate_count_and_cached_content_match_the_sdk(mock: MockProvider) -> None:
    """n and cached_content go out as google-genai sends candidate_count (generationConfig.candidateCount) and cached_content (top-level cachedContent)."""
    config = types.GenerateContentConfig(candidate_count=2, cached_content=CACHE, max_output_tokens=64)
    sdk = _sdk(mock)  # held: a collected client closes its connection pool
    sdk.models.generate_content(model=MODEL, contents="hi", config=config)
    theirs = mock.chat_requests[-1].json
    with AiClient(mock.provider(api_key=KEY)) as client:
        client.chat_completion(ChatCompletionRequest(MODEL, [Message.user("hi")], n=2, cached_content=CACHE, max_tokens=64))
    ours = mock.chat_requests[-1].json
    assert ours == theirs


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
def test_sdk_reads_every_candidate_from_the_mock(mock: MockProvider, stream: bool) -> None:
    """google-genai, asking for 2 candidates, gets both from MockProvider (each with the reply text, in index order)."""
    config = types.GenerateContentConfig(candidate_count=2)
    sdk = _sdk(mock)
    if stream:
        texts: dict[int, str] = {}
        for chunk in sdk.models.generate_content_stream(model=MODEL, contents="hi", config=config):
            for cand in chunk.candidates or ():
                texts[cand.index] = texts.get(cand.index, "") + "".join(p.text or "" for p in cand.content.parts or ())
        assert texts == {0: TEXT, 1: TEXT}
    else:
        response = sdk.models.generate_content(model=MODEL, contents="hi", config=config)
        assert [(c.index, c.content.parts[0].text) for c in response.candidates] == [(0, TEXT), (1, TEXT)]
