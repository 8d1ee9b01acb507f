"""The batch checkpoint: an append-only JSONL log of results and provider-batch jobs, resumable.

See ``ailib.batch`` for the file format and the resume rules.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Optional, Union

from .._files import open_private
from .._secrets import mask
from ..errors import AiLibError, ConfigurationError
from ..types import ChatCompletionRequest, ChatCompletionResponse
from ._input import read_line

__all__ = ["Checkpoint", "request_key", "request_keys", "read_checkpoint", "scan"]

log = logging.getLogger("ailib")


def request_key(request: ChatCompletionRequest) -> str:
    """The stable hash of a request: SHA-256 of its canonical JSON (``to_dict()``)."""
    canonical = json.dumps(request.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def request_keys(share: Sequence[int], parsed: Mapping[int, ChatCompletionRequest]) -> dict[int, str]:
    """Each request's checkpoint key (by input index): its hash plus ``#n``, its occurrence
    in the share (the whole input without a shard); ``invalid#<index>`` for an invalid one."""
    keys: dict[int, str] = {}
    seen: dict[str, int] = {}
    for i in share:
        req = parsed.get(i)
        if req is None:
            keys[i] = f"invalid#{i}"
            continue
        h = request_key(req)
        n = seen.get(h, 0)
        seen[h] = n + 1
        keys[i] = f"{h}#{n}"
    return keys


def read_checkpoint(path: Union[str, os.PathLike[str]]) -> dict[str, dict[str, Any]]:
    """The last record per key of a checkpoint file (a response record is never superseded)."""
    lines, _, _, _ = scan(os.fspath(path))
    return {key: json.loads(line) for key, line in lines.items()}


def scan(path: str) -> tuple[dict[str, str], set[str], dict[str, dict[str, Any]], int]:
    """Read ``path``: (last result line per key, keys with a response line, last record per
    provider job id, length of the valid prefix).

    Result lines are kept as text (parsed again when needed), which keeps a resumed
    10,000-request file to a few MB. For one key the last line wins, but a response is never
    superseded. A line longer than ``MAX_LINE``, or a file whose first line is not a record,
    is a ``ConfigurationError`` naming the file (not an output of ``ailib batch``: it is
    never read whole, nor overwritten).
    """
    lines: dict[str, str] = {}
    answered: set[str] = set()
    jobs: dict[str, dict[str, Any]] = {}
    good = 0
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return lines, answered, jobs, 0
    with f:
        offset = 0
        lineno = 0
        seen_record = False
        while True:
            lineno += 1
            raw = read_line(f, path, lineno)
            if not raw:
                break
            end = offset + len(raw)
            if not raw.endswith(b"\n"):
                if not seen_record and not raw.lstrip().startswith((b'{"key"', b'{"job"')):
                    raise ConfigurationError(
                        f"{path} line {lineno} is not a record of ailib batch: not a batch output (choose another output file)"
                    )
                log.warning("checkpoint %s: ignoring a torn last line (%d bytes)", path, len(raw))
                break
            offset = good = end
            text = raw.decode("utf-8", errors="replace").strip()
            if not text:
                continue
            try:
                rec = json.loads(text)
                if isinstance(rec.get("job"), dict) and isinstance(rec["job"].get("id"), str):
                    jobs[rec["job"]["id"]] = rec["job"]
                    continue
                key = rec["key"]
                if not isinstance(key, str) or not ("response" in rec or "error" in rec):
                    raise ValueError("not a record")
            except (ValueError, KeyError, TypeError, AttributeError):
                if not seen_record:
                    raise ConfigurationError(
                        f"{path} line {lineno} is not a record of ailib batch: not a batch output (choose another output file)"
                    ) from None
                log.warning("checkpoint %s: skipping corrupt line %d", path, lineno)
                continue
            finally:
                seen_record = True
            if key in answered:
                continue
            if "response" in rec:
                answered.add(key)
            lines[key] = text
    return lines, answered, jobs, good


class Checkpoint:
    """The append-only JSONL log of one batch (or one shard of it), resumable, compacted at a clean end.

    ``share``: the input indices this run owns (all of them, or one shard's); ``keys`` their
    keys (``request_keys``); ``kept``: what to carry into a request's records beside its
    result (``custom_id``, ``metadata``). Records carry the input index.
    """

    def __init__(
        self,
        path: str,
        keys: Mapping[int, str],
        share: Sequence[int],
        *,
        fsync: bool,
        secrets: Sequence[str],
        kept: Optional[Mapping[int, Mapping[str, Any]]] = None,
    ) -> None:
        self.path = path
        self.keys = keys
        self.share = share
        self._kept = kept or {}
        self._fsync = fsync
        self._secrets = list(secrets)
        self._lock = threading.Lock()
        lines, answered, jobs, good = scan(path)
        index = {keys[i]: i for i in share}
        self.done: dict[int, ChatCompletionResponse] = {}
        self._lines: dict[int, Optional[str]] = dict.fromkeys(share)
        for key in answered:
            i = index.get(key)
            if i is None:
                continue
            try:
                self.done[i] = ChatCompletionResponse.from_dict(json.loads(lines[key])["response"])
            except (AiLibError, ValueError, KeyError, TypeError, AttributeError):
                log.warning("checkpoint %s: cannot rebuild the response for request %d; sending it again", path, i)
                continue
            self._lines[i] = lines[key]
        self._foreign = [line for key, line in lines.items() if key not in index]
        self.jobs: dict[str, dict[str, Any]] = jobs
        del lines, answered, index
        self._fd: Optional[int] = open_private(path, os.O_WRONLY | os.O_APPEND)  # created 0600: it holds answers
        if os.fstat(self._fd).st_size > good:
            os.ftruncate(self._fd, good)  # drop a torn last line before appending after it

    def _mask(self, text: str) -> str:
        text = mask(text)
        for key in self._secrets:
            text = text.replace(key, "***")
        return text

    def write(self, i: int, result: Any) -> None:
        """Append the result of input ``i`` (a response or an ``AiLibError``)."""
        rec: dict[str, Any] = {"key": self.keys[i], "index": i, **self._kept.get(i, {})}
        if isinstance(result, ChatCompletionResponse):
            rec["response"] = result.to_dict()
        else:
            err: AiLibError = result
            rec["error"] = {"type": type(err).__name__, "message": self._mask(err.message), "status_code": err.status_code}
        line = json.dumps(rec, ensure_ascii=False, separators=(",", ":"))
        if any(key in line for key in self._secrets):
            line = self._mask(line)
        if self._append(line):
            self._lines[i] = line

    def write_job(self, job: dict[str, Any]) -> None:
        """Append the state of a provider batch job (its ids as soon as they exist); durable at once."""
        line = json.dumps({"job": job}, ensure_ascii=False, separators=(",", ":"))
        if self._append(line, sync=True):
            self.jobs[job["id"]] = dict(job)

    def _append(self, line: str, *, sync: bool = False) -> bool:
        data = (line + "\n").encode("utf-8")
        with self._lock:
            if self._fd is None:
                return False  # the batch was interrupted and has returned: a late result is not kept
            view = memoryview(data)
            while view:
                n = os.write(self._fd, view)
                view = view[n:]
            if self._fsync or sync:
                os.fsync(self._fd)
            return True

    def close(self, *, compact: bool) -> None:
        with self._lock:
            fd, self._fd = self._fd, None
            if fd is None:
                return
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            if compact and all(line is not None for line in self._lines.values()):
                self._compact()

    def _compact(self) -> None:
        """One line per request of the share in input order, then other records; atomic.

        Finished provider jobs are dropped (every request they carried has its result);
        unfinished ones are kept so a later run can still collect or cancel them.
        """
        directory = os.path.dirname(os.path.abspath(self.path))
        tmp = os.path.join(directory, f".{os.path.basename(self.path)}.{os.getpid()}.tmp")
        with os.fdopen(open_private(tmp, os.O_WRONLY | os.O_TRUNC), "w", encoding="utf-8") as f:
            for i in self.share:
                f.write(self._lines[i])  # type: ignore[arg-type]
                f.write("\n")
            for line in self._foreign:
                f.write(line)
                f.write("\n")
            for job in self.jobs.values():
                if job.get("state") not in ("collected", "cancelled"):
                    f.write(json.dumps({"job": job}, ensure_ascii=False, separators=(",", ":")))
                    f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
