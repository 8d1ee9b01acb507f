"""The official SDKs' embedding calls against MockProvider: openai's ``embeddings.create``
(float and base64), google-genai's ``embed_content`` and cohere's ``embed`` read its answers
as they read the real services'."""

from __future__ import annotations

import pytest

from ailib.testing import Fault, MockProvider
from ailib.testing._mock_embed import mock_embedding, mock_tokens

from .conftest import KEY

TEXTS = ["the cat sat", "on the mat", "déjà vu ✓"]


def test_openai_sdk_embeddings_create_reads_floats_and_base64() -> None:
    """embeddings.create gets one vector per input, in order, equal to the mock's vector whether
    it asked for floats or for base64 (the SDK's default, decoded by the SDK itself)."""
    openai = pytest.importorskip("openai")
    with MockProvider("openai", api_key=KEY) as mock:
        sdk = openai.OpenAI(api_key=KEY, base_url=mock.url + "/v1", max_retries=0, timeout=10)
        floats = sdk.embeddings.create(model="text-embedding-3-small", input=TEXTS, encoding_format="float", dimensions=12)
        default = sdk.embeddings.create(model="text-embedding-3-small", input=TEXTS, dimensions=12)
    for resp in (floats, default):
        assert [d.index for d in resp.data] == [0, 1, 2]
        assert [d.embedding for d in resp.data] == [mock_embedding(t, 12) for t in TEXTS]
        assert resp.usage.prompt_tokens == resp.usage.total_tokens == sum(map(mock_tokens, TEXTS))
        assert resp.model == "text-embedding-3-small"
    assert mock.requests[1].json["encoding_format"] == "base64"


def test_openai_sdk_embeddings_create_sees_a_scripted_fault() -> None:
    """A scripted 429 reaches the SDK as its RateLimitError: faults apply to the embeddings route."""
    openai = pytest.importorskip("openai")
    with MockProvider("openai", api_key=KEY, script=[Fault.rate_limited(2.0)]) as mock:
        sdk = openai.OpenAI(api_key=KEY, base_url=mock.url + "/v1", max_retries=0, timeout=10)
        with pytest.raises(openai.RateLimitError):
            sdk.embeddings.create(model="text-embedding-3-small", input=TEXTS)


def test_google_genai_embed_content_reads_the_vectors() -> None:
    """google-genai's embed_content (batchEmbedContents) gets one embedding per text with the
    asked output dimensionality; the task type reaches the server as taskType."""
    genai = pytest.importorskip("google.genai")
    from google.genai import types

    with MockProvider("gemini", api_key=KEY) as mock:
        options = types.HttpOptions(base_url=mock.url, timeout=10_000, retry_options=types.HttpRetryOptions(attempts=1))
        sdk = genai.Client(api_key=KEY, http_options=options)
        resp = sdk.models.embed_content(
            model="gemini-embedding-001",
            contents=TEXTS,
            config=types.EmbedContentConfig(output_dimensionality=16, task_type="RETRIEVAL_DOCUMENT"),
        )
    assert [e.values for e in resp.embeddings] == [mock_embedding(t, 16) for t in TEXTS]
    sent = mock.requests[0]
    assert sent.route.endswith("/models/gemini-embedding-001:batchEmbedContents")
    assert {r["taskType"] for r in sent.json["requests"]} == {"RETRIEVAL_DOCUMENT"}


def test_cohere_sdk_embed_reads_float_vectors() -> None:
    """cohere's ClientV2.embed gets embeddings.float in order and the billed input tokens."""
    cohere = pytest.importorskip("cohere")
    with MockProvider("cohere", api_key=KEY) as mock:
        sdk = cohere.ClientV2(api_key=KEY, base_url=mock.url, timeout=10)
        resp = sdk.embed(model="embed-v4.0", texts=TEXTS, input_type="search_query", embedding_types=["float"], output_dimension=256)
    assert resp.embeddings.float_ == [mock_embedding(t, 256) for t in TEXTS]
    assert resp.meta.billed_units.input_tokens == sum(map(mock_tokens, TEXTS))
    assert mock.requests[0].json["input_type"] == "search_query"
