"""Shards: a deterministic share of a batch's input per process, and merging their outputs.

Shard ``k`` of ``n`` (``0 <= k < n``) owns the requests whose input index ``i`` has
``i % n == k``: every shard sees the same input file, needs no coordination, and the
shares interleave, so shards finish at about the same time even when the input is sorted
by size. Each shard keeps its own checkpoint, whose records carry the input index;
``merge_outputs`` joins them into what one process would have written.
"""

from __future__ import annotations

import json
import logging
import os
from array import array
from collections.abc import Iterator, Mapping, Sequence
from typing import Optional, Union

from .._files import open_private
from ..errors import ConfigurationError
from ._input import MAX_LINE, read_line

__all__ = ["parse_shard", "shard_indices", "merge_outputs", "shard_from_env"]

log = logging.getLogger("ailib")


def parse_shard(shard: Union[None, str, Sequence[int]]) -> Optional[tuple[int, int]]:
    """``None``, ``"k/n"``, ``(k, n)`` or ``"auto"``/``"auto/n"`` (``shard_from_env``) →
    ``(k, n)`` (validated) or None for the whole input."""
    if shard is None:
        return None
    if isinstance(shard, str) and shard.startswith("auto"):
        return shard_from_env(shard)
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


def shard_from_env(text: str, environ: Optional[Mapping[str, str]] = None) -> tuple[int, int]:
    """``auto`` or ``auto/N``: this process's shard from the job engine's environment.

    The index K is ``JOB_COMPLETION_INDEX`` (a Kubernetes Indexed Job) or
    ``SLURM_ARRAY_TASK_ID`` minus ``SLURM_ARRAY_TASK_MIN`` (a Slurm array, step 1). The count
    N is the one after ``auto/``, else ``AILIB_SHARD_COUNT``, else ``SLURM_ARRAY_TASK_COUNT``
    (Kubernetes does not tell a pod its Job's ``completions``: give it as ``auto/N`` or
    ``AILIB_SHARD_COUNT``). ``ConfigurationError`` naming the variables when they are absent
    or do not fit.
    """
    env = os.environ if environ is None else environ
    head, sep, count_text = text.partition("/")
    if head != "auto":
        raise ConfigurationError(f"shard must be K/N, auto or auto/N, got {text!r}")

    def number(name: str, value: str) -> int:
        try:
            return int(value.strip())
        except ValueError:
            raise ConfigurationError(f"{name} must be a whole number, got {value!r}") from None

    if "JOB_COMPLETION_INDEX" in env:
        k = number("JOB_COMPLETION_INDEX", env["JOB_COMPLETION_INDEX"])
    elif "SLURM_ARRAY_TASK_ID" in env:
        step = number("SLURM_ARRAY_TASK_STEP", env.get("SLURM_ARRAY_TASK_STEP", "1"))
        if step != 1:
            raise ConfigurationError(f"--shard auto needs a Slurm array with step 1 (e.g. --array=0-9), got SLURM_ARRAY_TASK_STEP={step}")
        k = number("SLURM_ARRAY_TASK_ID", env["SLURM_ARRAY_TASK_ID"]) - number("SLURM_ARRAY_TASK_MIN", env.get("SLURM_ARRAY_TASK_MIN", "0"))
    else:
        raise ConfigurationError("--shard auto: neither JOB_COMPLETION_INDEX (Kubernetes) nor SLURM_ARRAY_TASK_ID (Slurm) is set")
    if sep:
        n = number("the count in --shard auto/N", count_text)
    elif "AILIB_SHARD_COUNT" in env:
        n = number("AILIB_SHARD_COUNT", env["AILIB_SHARD_COUNT"])
    elif "SLURM_ARRAY_TASK_COUNT" in env:
        n = number("SLURM_ARRAY_TASK_COUNT", env["SLURM_ARRAY_TASK_COUNT"])
    else:
        raise ConfigurationError("--shard auto: give the number of shards as --shard auto/N or AILIB_SHARD_COUNT")
    if n < 1 or not 0 <= k < n:
        raise ConfigurationError(f"--shard auto: shard index {k} does not fit {n} shards (0 <= K < N)")
    return k, n


def merge_outputs(paths: Sequence[Union[str, os.PathLike[str]]], out: Union[str, os.PathLike[str]]) -> int:
    """Join shard checkpoints into one file in input order; returns the number of requests.

    Each request's last record is kept as written (a response is never superseded), so the
    result is byte for byte what a single process would have left. Raises
    ``ConfigurationError`` when two files hold different results for one request, or when
    an input index between 0 and the largest one is missing (a shard not finished or not given).

    Streamed: a first pass notes where each request's line is (a few bytes per request, in
    arrays), a second copies the lines in input order; no record is held in memory.
    """
    names = [os.fspath(p) for p in paths]
    if len(names) > 32767:
        raise ConfigurationError("merge takes at most 32767 files")
    limit = sum(_count_lines(name) for name in names)  # no index can be this large in a complete set
    offsets = array("q", [-1]) * limit  # byte offset of each index's winning line
    files = array("h", [-1]) * limit
    answered = bytearray(limit)
    beyond = False
    for fno, name in enumerate(names):
        for offset, line, is_response, i in _records(name):
            if i >= limit:
                beyond = True
                continue
            if files[i] == fno:  # again in the same file: the last line wins, a response is never superseded
                if answered[i]:
                    continue
            elif files[i] >= 0:
                if _line_at(names[files[i]], offsets[i]) != line:
                    raise ConfigurationError(f"request {i} has different results in two shard files")
                continue
            offsets[i], files[i], answered[i] = offset, fno, is_response
    n = limit
    for i in range(limit):
        if files[i] < 0:
            n = i
            break
    if beyond or any(files[i] >= 0 for i in range(n, limit)):
        raise ConfigurationError(f"the shard outputs lack request {n}: is every shard finished and given?")
    target = os.fspath(out)
    tmp = os.path.join(os.path.dirname(os.path.abspath(target)), f".{os.path.basename(target)}.{os.getpid()}.tmp")
    handles = [open(name, "rb") for name in names]
    try:
        with os.fdopen(open_private(tmp, os.O_WRONLY | os.O_TRUNC), "wb") as f:
            for i in range(n):
                src = handles[files[i]]
                src.seek(offsets[i])
                f.write(src.readline(MAX_LINE + 1))
            f.flush()
            os.fsync(f.fileno())
    finally:
        for h in handles:
            h.close()
    os.replace(tmp, target)
    return n


def _count_lines(path: str) -> int:
    with open(path, "rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))


def _line_at(path: str, offset: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(offset)
        return f.readline(MAX_LINE + 1).rstrip(b"\n")


def _records(path: str) -> Iterator[tuple[int, bytes, bool, int]]:
    """(offset, line without its newline, is a response, input index) of each result record, streamed."""
    with open(path, "rb") as f:
        offset = 0
        lineno = 0
        seen = False
        while True:
            lineno += 1
            raw = read_line(f, path, lineno)
            if not raw or not raw.endswith(b"\n"):
                return  # the end, or a torn last line (ignored, as a resume ignores it)
            start, offset = offset, offset + len(raw)
            line = raw.rstrip(b"\n")
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                if "job" in rec:
                    continue
                key, i = rec["key"], rec.get("index")
                if not isinstance(key, str) or not ("response" in rec or "error" in rec):
                    raise ValueError
            except (ValueError, KeyError, TypeError, AttributeError):
                if seen:
                    log.warning("%s: skipping corrupt line %d", path, lineno)
                    continue
                raise ConfigurationError(f"{path} line {lineno} is not a record of ailib batch") from None
            seen = True
            if isinstance(i, bool) or not isinstance(i, int) or i < 0:
                raise ConfigurationError(f"{path} line {lineno}: a record has no input index")
            yield start, line, "response" in rec, i
