"""Batch input: JSONL lines read as a stream, and each item turned into a request.

A line is an OpenAI-style request body (``{"model", "messages", ...}``) or a line of
OpenAI's batch format (``{"custom_id", "method": "POST", "url": "/v1/chat/completions",
"body": {...}}``). Either may carry ``metadata`` (any JSON value) beside the request:
ailib keeps it, with ``custom_id``, on the item and in its result record, and never sends
it to the provider. Blank lines are skipped but counted, so an error names the line a
text editor shows; the request index counts the requests (non-blank lines) from 0.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from typing import IO, Any, Optional

from ..errors import ConfigurationError, InvalidRequestError
from ..types import ChatCompletionRequest

__all__ = ["MAX_LINE", "SourceLine", "as_item", "read_lines", "read_line"]

MAX_LINE = 64 * 1024 * 1024  # bytes in one line of an input or output file; longer is an error, never an OOM
_BATCH_FORMAT_KEYS = frozenset({"custom_id", "method", "url", "body"})
_CHAT_URLS = ("/v1/chat/completions", "/chat/completions")


class SourceLine:
    """One non-blank input line, parsed only when its request is run (a shard skips the rest)."""

    __slots__ = ("data", "path", "lineno", "model")

    def __init__(self, data: bytes, path: str, lineno: int, model: Optional[str] = None) -> None:
        self.data = data
        self.path = path
        self.lineno = lineno
        self.model = model  # ``--model``: replaces the line's model

    @property
    def where(self) -> str:
        """``FILE line N`` for messages."""
        return f"{self.path} line {self.lineno}"

    def body(self) -> Any:
        """The line's JSON value; ``InvalidRequestError`` naming the file and line if it is not JSON."""
        try:
            return json.loads(self.data)
        except json.JSONDecodeError as exc:
            raise InvalidRequestError(f"{self.where}: not JSON ({exc.msg} at column {exc.colno})") from None
        except ValueError as exc:  # not UTF-8
            raise InvalidRequestError(f"{self.where}: not JSON ({exc})") from None


def read_line(f: IO[bytes], path: str, lineno: int) -> bytes:
    """The next line of ``f`` (b"" at the end), at most ``MAX_LINE`` bytes; longer is a
    ``ConfigurationError`` naming the file and line (a huge or endless file never fills memory)."""
    raw = f.readline(MAX_LINE + 1)
    if len(raw) > MAX_LINE:
        raise ConfigurationError(f"{path} line {lineno} is longer than {MAX_LINE // (1024 * 1024)} MiB: not a batch file")
    return raw


def read_lines(path: str, *, model: Optional[str] = None, stdin: Optional[IO[bytes]] = None) -> Iterator[SourceLine]:
    """Every non-blank line of ``path`` (``"-"``: ``stdin``) as a ``SourceLine``, streamed."""
    name = "<stdin>" if path == "-" else path
    f: IO[bytes] = stdin if path == "-" and stdin is not None else open(path, "rb")
    try:
        lineno = 0
        while True:
            lineno += 1
            raw = read_line(f, name, lineno)
            if not raw:
                return
            if raw.strip():
                yield SourceLine(raw, name, lineno, model)
    finally:
        if f is not stdin:
            f.close()


def as_item(item: Any) -> tuple[ChatCompletionRequest, Optional[dict[str, Any]]]:
    """The request of a batch item and what to keep beside it (``custom_id``, ``metadata``).

    ``item``: a ``ChatCompletionRequest``, an OpenAI-style dict (``metadata`` and
    ``custom_id`` taken out of it), a line of OpenAI's batch format, or a ``SourceLine``.
    Raises ``InvalidRequestError`` (naming the file and line for a ``SourceLine``)."""
    if isinstance(item, ChatCompletionRequest):
        return item, None
    if isinstance(item, SourceLine):
        try:
            return _from_mapping(item.body(), item.model)
        except InvalidRequestError as err:
            if err.message.startswith(item.where):
                raise
            raise InvalidRequestError(f"{item.where}: {err.message}") from None
    if isinstance(item, Mapping):
        return _from_mapping(item, None)
    raise InvalidRequestError(f"a batch item must be a ChatCompletionRequest or an OpenAI-style dict, got {type(item).__name__}")


def _from_mapping(obj: Any, model: Optional[str]) -> tuple[ChatCompletionRequest, Optional[dict[str, Any]]]:
    if not isinstance(obj, Mapping):
        raise InvalidRequestError(f"a request must be a JSON object, got {type(obj).__name__}")
    kept: dict[str, Any] = {}
    if "custom_id" in obj:
        if not isinstance(obj["custom_id"], str):
            raise InvalidRequestError(f"custom_id must be a string, got {type(obj['custom_id']).__name__}")
        kept["custom_id"] = obj["custom_id"]
    if "metadata" in obj:
        kept["metadata"] = obj["metadata"]
    if "body" in obj and set(obj) <= _BATCH_FORMAT_KEYS | {"metadata"}:  # OpenAI's batch format
        method, url = obj.get("method", "POST"), obj.get("url", "/v1/chat/completions")
        if method != "POST" or not isinstance(url, str) or not url.split("?")[0].endswith(_CHAT_URLS):
            raise InvalidRequestError(f"only POST /v1/chat/completions batch lines can run here, got {method} {url}")
        body = obj["body"]
        if not isinstance(body, Mapping):
            raise InvalidRequestError("a batch line's body must be a JSON object")
    else:
        body = {k: v for k, v in obj.items() if k not in ("custom_id", "metadata")}
    if model:
        body = {**body, "model": model}
    try:
        request = ChatCompletionRequest.from_dict(body)
    except InvalidRequestError:
        raise
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise InvalidRequestError(f"invalid request body: {exc}") from None
    return request, kept or None


def same_file(a: os.stat_result, b: os.stat_result) -> bool:
    """True when two stats are of one file (device and inode)."""
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
