"""Embedding requests and responses (value classes) and ``Vectors``, the vectors of a response.

A response's vectors stay as the provider sent them until read: base64 float32 strings
(OpenAI's ``encoding_format="base64"``) are kept as received and turned into floats per
vector on access (``base64`` then ``array.array('f')``, C loops) or all at once into one
float32 buffer (``Vectors.buffer()``, ``Vectors.numpy()``: one base64 decode of the joined
rows); JSON float lists are kept as lists. No per-float Python loop anywhere.
"""

from __future__ import annotations

import array
import base64
import json
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Optional, Union, overload

import attrs

from ._response import Usage
from ._value import value
from .errors import Attempt, InvalidRequestError

__all__ = ["EmbeddingRequest", "EmbeddingResponse", "Vectors", "INPUT_TYPES"]

# ailib's names for what a text is embedded for; each format maps them (Gemini ``taskType``,
# Cohere ``input_type``); formats without the notion (OpenAI, Ollama) send nothing.
INPUT_TYPES = ("search_query", "search_document", "classification", "clustering", "semantic_similarity")

_LITTLE = sys.byteorder == "little"


def _check_input(_inst: Any, _attr: Any, texts: tuple[str, ...]) -> None:
    if not texts:
        raise InvalidRequestError("input must hold at least one text")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise InvalidRequestError(f"input[{i}] must be a str, got {type(text).__name__}")
        if not text:
            raise InvalidRequestError(f"input[{i}] is empty; providers refuse empty texts")


def _as_texts(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (bytes, bytearray, Mapping)) or not isinstance(value, Iterable):
        raise InvalidRequestError(f"input must be a str or a list of str, got {type(value).__name__}")
    return tuple(value)


def _check_dimensions(_inst: Any, _attr: Any, value: Any) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
        raise InvalidRequestError(f"dimensions must be a positive int, got {value!r}")


def _check_input_type(_inst: Any, _attr: Any, value: Any) -> None:
    if value is not None and value not in INPUT_TYPES:
        raise InvalidRequestError(f"input_type must be one of {', '.join(INPUT_TYPES)} (or None), got {value!r}")


def _check_extra(_inst: Any, _attr: Any, value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, Mapping):
        raise InvalidRequestError("extra must be a dict of additional body fields")
    try:
        json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise InvalidRequestError(f"extra must be JSON-serialisable: {exc}") from None


def _check_model(_inst: Any, _attr: Any, value: Any) -> None:
    if not isinstance(value, str):
        raise InvalidRequestError(f"model must be a str, got {type(value).__name__}")


@value
class EmbeddingRequest:
    """Texts to embed with one model.

    ``model``: a provider's embedding model, ``"provider/model"``, or ``"auto"``/``"default"``/
    ``""`` for the serving provider's default embedding model. ``input``: one text or a list
    (order kept). ``dimensions``: the output size for models that can shorten their vectors
    (OpenAI ``dimensions``, Gemini ``outputDimensionality``, Cohere ``output_dimension``).
    ``input_type``: one of ``INPUT_TYPES`` (Gemini ``taskType``, Cohere ``input_type``).
    ``extra``: more body fields, merged into each request body as given.
    """

    model: str = attrs.field(validator=_check_model)
    input: tuple[str, ...] = attrs.field(converter=_as_texts, validator=_check_input)
    dimensions: Optional[int] = attrs.field(default=None, kw_only=True, validator=_check_dimensions)
    input_type: Optional[str] = attrs.field(default=None, kw_only=True, validator=_check_input_type)
    extra: Optional[Mapping[str, Any]] = attrs.field(default=None, kw_only=True, validator=_check_extra, hash=False)

    @property
    def max_tokens(self) -> int:
        """0: an embedding produces no output tokens (the token rate limiter reads this)."""
        return 0

    def to_dict(self) -> dict[str, Any]:
        """The request as plain JSON data (cache keys, batch files)."""
        out: dict[str, Any] = {"model": self.model, "input": list(self.input)}
        if self.dimensions is not None:
            out["dimensions"] = self.dimensions
        if self.input_type is not None:
            out["input_type"] = self.input_type
        if self.extra:
            out["extra"] = dict(self.extra)
        return out


Row = Union[str, bytes, Sequence[float]]  # base64 of float32, float32 bytes, or floats


class Vectors(Sequence[list[float]]):
    """The vectors of a response, in input order: ``vectors[i]`` is a ``list[float]``.

    Rows received as base64 float32 are decoded on access (C-level conversions per row);
    ``buffer()`` gives every row as one float32 ``memoryview`` (rows x dimensions, no
    per-float Python work), ``numpy()`` the same as a NumPy array (NumPy is optional).
    Compares equal to another ``Vectors`` or a list of lists with the same values.
    """

    __slots__ = ("_rows",)

    def __init__(self, rows: Iterable[Row] = ()) -> None:
        self._rows: tuple[Row, ...] = tuple(rows)

    @classmethod
    def from_base64(cls, strings: Iterable[str]) -> Vectors:
        """Rows from base64 strings of little-endian float32 (OpenAI's ``encoding_format="base64"``),
        kept as given until read."""
        return cls(strings)

    def __len__(self) -> int:
        return len(self._rows)

    @overload
    def __getitem__(self, i: int) -> list[float]: ...

    @overload
    def __getitem__(self, i: slice) -> Vectors: ...

    def __getitem__(self, i: Union[int, slice]) -> Union[list[float], Vectors]:
        if isinstance(i, slice):
            return Vectors(self._rows[i])
        return _floats(self._rows[i])

    def __iter__(self) -> Iterator[list[float]]:
        return (_floats(r) for r in self._rows)

    @property
    def dimensions(self) -> Optional[int]:
        """The length of the first vector (None when there is none)."""
        if not self._rows:
            return None
        row = self._rows[0]
        if isinstance(row, str):
            return _b64_size(row) // 4
        return len(row) // 4 if isinstance(row, bytes) else len(row)

    def raw_rows(self) -> tuple[Row, ...]:
        """The rows as held: base64 strings, float32 bytes or float sequences (for joining responses)."""
        return self._rows

    def tobytes(self) -> bytes:
        """Every vector as little-endian float32, one after another."""
        rows = self._rows
        if rows and all(isinstance(r, str) and len(r) % 4 == 0 and not r.endswith("=") for r in rows):
            return base64.b64decode("".join(rows))  # type: ignore[arg-type]  # one decode: no row is padded
        parts = []
        for row in rows:
            if isinstance(row, str):
                parts.append(base64.b64decode(row))
            elif isinstance(row, bytes):
                parts.append(row)
            else:
                arr = array.array("f", row)
                if not _LITTLE:
                    arr.byteswap()
                parts.append(arr.tobytes())
        return b"".join(parts)

    def buffer(self) -> memoryview[Any]:
        """Every vector as one float32 ``memoryview`` of shape (rows, dimensions)."""
        data = self.tobytes()
        dims = self.dimensions or 0
        view = memoryview(data).cast("f")
        if not _LITTLE:
            arr = array.array("f", data)
            arr.byteswap()
            view = memoryview(arr)
        return view.cast("B").cast("f", (len(self._rows), dims)) if dims else view

    def numpy(self) -> Any:
        """The vectors as a NumPy float32 array of shape (rows, dimensions) (needs NumPy)."""
        import numpy as np  # optional: only this method needs it

        return np.frombuffer(self.tobytes(), dtype="<f4").reshape(len(self._rows), self.dimensions or 0)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Vectors):
            return self._rows == other._rows or list(self) == list(other)
        if isinstance(other, (list, tuple)):
            return len(other) == len(self) and all(list(a) == list(b) for a, b in zip(self, other))
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.tobytes())

    def __repr__(self) -> str:
        return f"Vectors({len(self._rows)} x {self.dimensions or 0})"

    def __reduce__(self) -> Any:
        return (Vectors, (self._rows,))


def _b64_size(text: str) -> int:
    """The number of bytes a base64 string decodes to."""
    return len(text) // 4 * 3 - (len(text) - len(text.rstrip("=")))


def _floats(row: Row) -> list[float]:
    if isinstance(row, str):
        row = base64.b64decode(row)
    if isinstance(row, bytes):
        arr = array.array("f")
        arr.frombytes(row)
        if not _LITTLE:
            arr.byteswap()
        return arr.tolist()
    return list(row)


def _as_attempts(value: Iterable[Attempt]) -> tuple[Attempt, ...]:
    return tuple(value)


def _as_vectors(value: Any) -> Vectors:
    return value if isinstance(value, Vectors) else Vectors(value)


@value
class EmbeddingResponse:
    """The vectors of an embedding call, in input order, and how the call went.

    ``model`` and ``provider``: who answered (the model as the provider reported it).
    ``usage``: the input tokens (``prompt_tokens``; ``completion_tokens`` is 0), summed over
    the parts of a split call. ``attempts``: every wire attempt of every part, in order.
    ``cost``: USD from the client's price table, when it knows the model.
    """

    vectors: Vectors = attrs.field(converter=_as_vectors)
    model: str
    provider: str
    usage: Usage = attrs.field(factory=Usage)
    attempts: tuple[Attempt, ...] = attrs.field(default=(), converter=_as_attempts)
    cost: Optional[float] = None

    @property
    def dimensions(self) -> Optional[int]:
        """The length of each vector (None for an empty response)."""
        return self.vectors.dimensions
