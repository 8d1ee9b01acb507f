"""Embedding values, vectors, splitting, dimension checks, and recorded answers read field for field."""

from __future__ import annotations

import array
import base64
import json
import pickle
import struct
from pathlib import Path

import pytest

from ailib import (
    AiClientBuilder,
    ConfigurationError,
    ConnectionOptions,
    EmbeddingRequest,
    EmbeddingResponse,
    InvalidRequestError,
    ProtocolError,
    Provider,
    Usage,
    Vectors,
)
from ailib.call.embed import join, split
from ailib.providers._embed import Limits, check_same_dimensions, known_dimensions
from ailib.testing import MockResponse, MockTransport

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _b64(values: list[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"input": []}, "at least one text"),
        ({"input": ["ok", ""]}, "input\\[1\\] is empty"),
        ({"input": ["ok", 3]}, "input\\[1\\] must be a str"),
        ({"input": b"bytes"}, "str or a list of str"),
        ({"input": "x", "dimensions": 0}, "dimensions must be a positive int"),
        ({"input": "x", "dimensions": True}, "dimensions must be a positive int"),
        ({"input": "x", "input_type": "query"}, "input_type must be one of"),
        ({"input": "x", "extra": {"f": object()}}, "JSON-serialisable"),
    ],
)
def test_invalid_embedding_requests_are_refused_at_construction(kwargs, match) -> None:
    """Empty or non-text input, bad dimensions, unknown input types and non-JSON extra raise InvalidRequestError."""
    texts = kwargs.pop("input")
    with pytest.raises(InvalidRequestError, match=match):
        EmbeddingRequest("m", texts, **kwargs)


def test_vectors_decode_base64_rows_when_read() -> None:
    """Base64 float32 rows read as lists of floats, as one buffer of shape (rows, dims) and as NumPy."""
    rows = [[0.5, -1.0, 2.25], [1.5, 0.0, -0.125]]
    vectors = Vectors.from_base64([_b64(r) for r in rows])
    assert len(vectors) == 2 and vectors.dimensions == 3
    assert vectors[1] == rows[1] and list(vectors) == rows and vectors == rows
    view = vectors.buffer()
    assert view.shape == (2, 3) and view.tolist() == rows
    import numpy as np  # in the dev extra: NumPy stays optional for users, never for this test

    assert np.array_equal(vectors.numpy(), np.array(rows, dtype="float32"))


def test_vectors_of_different_kinds_compare_and_pickle_by_value() -> None:
    """The same floats held as base64, float32 bytes or lists are equal, hash alike and survive pickling."""
    row = [0.25, -3.5]
    kinds = [Vectors.from_base64([_b64(row)]), Vectors([array.array("f", row).tobytes()]), Vectors([row])]
    for v in kinds:
        assert v == kinds[0] and hash(v) == hash(kinds[0])
        assert pickle.loads(pickle.dumps(v)) == v
    assert repr(kinds[0]) == "Vectors(1 x 2)"
    assert Vectors([[1.0, 2.0]]) != Vectors([[1.0, 2.5]])


def test_joining_parts_keeps_their_order_and_adds_usage() -> None:
    """join() puts the parts' vectors one after another and sums their tokens and costs."""
    a = EmbeddingResponse(Vectors([[1.0], [2.0]]), "m", "p", Usage(3, 0, 3), cost=0.5)
    b = EmbeddingResponse(Vectors.from_base64([_b64([3.0])]), "m", "p", Usage(2, 0, 2), cost=0.25)
    joined = join([a, b])
    assert joined.vectors == [[1.0], [2.0], [3.0]]
    assert joined.usage == Usage(5, 0, 5) and joined.cost == 0.75


def test_joining_parts_of_different_sizes_is_a_protocol_error() -> None:
    """Parts whose vectors differ in length cannot make one response."""
    with pytest.raises(ProtocolError, match="different sizes"):
        join([EmbeddingResponse(Vectors([[1.0]]), "m", "p"), EmbeddingResponse(Vectors([[1.0, 2.0]]), "m", "p")])


def test_split_respects_the_count_and_the_token_limits() -> None:
    """Parts hold at most `inputs` texts and (by the cautious estimate) `tokens` tokens; a text
    larger than the token limit goes alone."""
    assert split(["a"] * 5, Limits(2, None)) == [(0, 2), (2, 4), (4, 5)]
    texts = ["x" * 30, "x" * 30, "x" * 30, "x" * 300, "x"]  # 11, 11, 11, 101, 1 tokens
    assert split(texts, Limits(100, 25)) == [(0, 2), (2, 3), (3, 4), (4, 5)]


def test_known_dimensions_follow_the_table_and_the_dimensions_argument() -> None:
    """Models that shorten take `dimensions`; fixed-size models keep their size; unknown models take what was asked."""
    assert known_dimensions("text-embedding-3-small") == 1536
    assert known_dimensions("text-embedding-3-large", 256) == 256
    assert known_dimensions("text-embedding-ada-002", 256) == 1536
    assert known_dimensions("my-model") is None and known_dimensions("my-model", 64) == 64


def test_dimension_check_refuses_only_sizes_no_argument_can_match() -> None:
    """Two shortening models of different sizes may share a chain; a fixed size that differs may not."""
    check_same_dimensions(["openai/text-embedding-3-small", "gemini/gemini-embedding-001"])
    check_same_dimensions(["text-embedding-ada-002", "openai/text-embedding-3-small", "gpt-4o"])
    with pytest.raises(ConfigurationError, match="different sizes"):
        check_same_dimensions(["embed-english-v3.0", "openai/text-embedding-3-small"])


def _client_answering(body: bytes):
    transport = MockTransport(lambda req: MockResponse(body=body, headers={"content-type": "application/json"}))
    builder = AiClientBuilder(Provider.OPENAI).with_connection_options(ConnectionOptions(api_key="sk-test"))
    return builder.with_transport(transport).build(), transport


def test_recorded_openai_answer_is_read_field_for_field() -> None:
    """OpenAI's recorded /v1/embeddings answer (float vectors) gives its two vectors, model and usage."""
    body = (FIXTURES / "openai" / "embedding.json").read_bytes()
    data = json.loads(body)
    client, _ = _client_answering(body)
    with client:
        resp = client.embed(["sunny day at the beach", "rainy day in the city"])
    assert resp.vectors == [d["embedding"] for d in data["data"]]
    assert resp.model == data["model"] == "text-embedding-3-small"
    assert resp.usage == Usage(12, 0, 12)


def test_recorded_cohere_answer_is_read_field_for_field() -> None:
    """Cohere's recorded /v2/embed answer gives embeddings.float in order and billed input tokens as usage."""
    body = (FIXTURES / "cohere" / "embedding.json").read_bytes()
    data = json.loads(body)
    transport = MockTransport(lambda req: MockResponse(body=body, headers={"content-type": "application/json"}))
    builder = AiClientBuilder(Provider.COHERE).with_connection_options(ConnectionOptions(api_key="k")).with_transport(transport)
    with builder.build() as client:
        resp = client.embed(data["texts"], model="embed-v4.0")
    assert resp.vectors == data["embeddings"]["float"]
    assert resp.usage == Usage(10, 0, 10) and resp.provider == "cohere"


def test_an_answer_with_fewer_vectors_than_inputs_is_a_protocol_error() -> None:
    """Two inputs answered with one vector cannot be matched to their texts: ProtocolError."""
    body = json.dumps({"data": [{"index": 0, "embedding": [1.0]}], "model": "m", "usage": {"prompt_tokens": 1}}).encode()
    client, _ = _client_answering(body)
    with client, pytest.raises(ProtocolError, match="1 vectors for 2 inputs"):
        client.embed(["a", "b"], model="m")


def test_out_of_order_indices_are_put_back_in_order() -> None:
    """Items that arrive out of index order are matched to their inputs by index."""
    items = [{"index": 1, "embedding": _b64([2.0])}, {"index": 0, "embedding": _b64([1.0])}]
    body = json.dumps({"data": items, "model": "m", "usage": {"prompt_tokens": 2, "total_tokens": 2}}).encode()
    client, _ = _client_answering(body)
    with client:
        assert client.embed(["a", "b"], model="m").vectors == [[1.0], [2.0]]
