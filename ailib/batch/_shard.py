"""Shards: a deterministic share of a batch's input per process, and merging their outputs.

Shard ``k`` of ``n`` (``0 <= k < n``) owns the requests whose input index ``i`` has
``i % n == k``: every shard sees the same input file, needs no coordination, and the
shares interleave, so shards finish at about the same time even when the input is sorted
by size. Each shard keeps its own checkpoint, whose records carry the input index;
``merge_outputs`` joins them into what one process would have written.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Optional, Union

from .._files import open_private
from ..errors import ConfigurationError
from ._checkpoint import scan

__all__ = ["parse_shard", "shard_indices", "merge_outputs"]


def parse_shard(shard: Union[None, str, Sequence[int]]) -> Optional[tuple[int, int]]:
    """``None``, ``"k/n"`` or ``(k, n)`` → ``(k, n)`` (validated) or None for the whole input."""
    if shard is None:
        return None
    if isinstance(shard, str):
        k_text, sep, n_text = shard.partition("/")
        try:
            if not sep:
                raise ValueError
            k, n = int(k_text), int(n_text)
        except ValueError:
            raise ConfigurationError(f"shard must look like K/N (e.g. 0/4), got {shard!r}") from None
    else:
        try:
            k, n = shard
        except (TypeError, ValueError):
            raise ConfigurationError(f"shard must be (k, n), got {shard!r}") from None
    if any(isinstance(v, bool) or not isinstance(v, int) for v in (k, n)) or n < 1 or not 0 <= k < n:
        raise ConfigurationError(f"shard (k, n) needs integers with 0 <= k < n, got {shard!r}")
    return k, n


def shard_indices(total: int, shard: Optional[tuple[int, int]]) -> list[int]:
    """The input indices a shard owns, in input order (all of them without a shard)."""
    if shard is None:
        return list(range(total))
    k, n = shard
    return list(range(k, total, n))


def merge_outputs(paths: Sequence[Union[str, os.PathLike[str]]], out: Union[str, os.PathLike[str]]) -> int:
    """Join shard checkpoints into one file in input order; returns the number of requests.

    Each request's last record is kept as written (a response is never superseded), so the
    result is byte for byte what a single process would have left. Raises
    ``ConfigurationError`` when two files hold different results for one request, or when
    an input index between 0 and the largest one is missing (a shard not finished or not given).
    """
    by_index: dict[int, str] = {}
    for path in paths:
        lines, _, _, _ = scan(os.fspath(path))
        for line in lines.values():
            i = json.loads(line)["index"]
            if not isinstance(i, int):
                raise ConfigurationError(f"{os.fspath(path)}: a record has no input index")
            if i in by_index and by_index[i] != line:
                raise ConfigurationError(f"request {i} has different results in two shard files")
            by_index[i] = line
    missing = [i for i in range(len(by_index)) if i not in by_index]
    if missing or (by_index and max(by_index) != len(by_index) - 1):
        first = missing[0] if missing else len(by_index)
        raise ConfigurationError(f"the shard outputs lack request {first}: is every shard finished and given?")
    target = os.fspath(out)
    tmp = os.path.join(os.path.dirname(os.path.abspath(target)), f".{os.path.basename(target)}.{os.getpid()}.tmp")
    with os.fdopen(open_private(tmp, os.O_WRONLY | os.O_TRUNC), "w", encoding="utf-8") as f:
        for i in range(len(by_index)):
            f.write(by_index[i])
            f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, target)
    return len(by_index)
