"""Batch runs: many requests through one client, a bounded number at a time, crash-safe.

``run_batch`` (behind ``AiClient.chat_completion_batch``) sends every request through the
client's full policy stack on a dedicated ``ThreadPoolExecutor(concurrency)`` that is shut
down before it returns, and gives back one result per request, in input order: a
``ChatCompletionResponse`` or the ``AiLibError`` that request ended with.

Checkpoint file (JSON Lines, UTF-8, one object per finished request)::

    {"key": "<sha256 hex>#0", "index": 0, "response": {...ChatCompletionResponse.to_dict()...}}
    {"key": "<sha256 hex>#0", "index": 1, "error": {"type": "RateLimitExceeded", "message": "...", "status_code": 429}}

* ``key`` is the SHA-256 of the request's canonical JSON (``request.to_dict()`` with sorted
  keys and no spaces) plus ``#n``, the occurrence of that same request in the batch: a batch
  holding one request three times makes three calls (samples are often wanted) and keeps
  three records. Invalid requests are keyed ``invalid#<index>``.
* ``index`` is the request's position in this batch (informational; resuming matches keys).
* During a run the file is an append-only log: each result is written with one ``write()``
  as soon as its call finishes, so a crash (even SIGKILL) loses nothing that finished.
  ``fsync`` happens at the end of the run and on Ctrl-C; pass ``fsync=True`` to also fsync
  every line (durable against power loss, at a disk flush per request).
* A re-run with the same path skips every request that has a ``response`` record and
  returns it rebuilt with ``ChatCompletionResponse.from_dict`` (``attempts`` is empty).
  Requests with only ``error`` records are sent again; their new result is appended, and
  for a given key the last line wins, a response line is never superseded.
* A torn last line (the process died mid-write) is ignored and cut off before appending;
  a corrupt line elsewhere is skipped with a warning. Neither is fatal.
* When a run finishes without an exception, the file is compacted atomically (temporary
  file, fsync, ``os.replace``) to one line per request, in input order, followed by any
  records of requests that were not part of this batch (kept, never dropped).
* Nothing in the file comes from headers or options: no API key. Error messages are the
  errors' own (scrubbed of key-like tokens), with the client's keys masked again.

Pauses: an error raised before anything reached the provider because the client is
protecting it (``CircuitOpenError``, ``LocalRateLimitError``, or a chain that failed only
with those) does not fail the request. The worker waits (the error's ``retry_after``,
0.05 s to 5 s) and tries again, up to ``max_pause`` seconds per request, so an open circuit
pauses the batch instead of failing the rest of it in milliseconds.

Policies: a batch uses the client's retry, breaker, rate limit, routing and hedging
unchanged. The default retry budget (10% of recent calls) is sized for outages; a provider
that fails 10% of all calls can run it dry, and a few requests then end with their error
(sent again by the next run). For such a provider give the batch's client more attempts and
a larger budget or none, e.g. ``RetryPolicy(max_attempts=6, retry_budget=None)``. The
breaker can stay on: 429s never trip it, and when 5xx do, the batch pauses (above).

Ctrl-C: the batch stops submitting, waits up to ``interrupt_timeout`` seconds for the calls
in flight (their results are written; a second Ctrl-C stops the wait), leaves the
checkpoint valid and re-raises ``KeyboardInterrupt``; any other exception in the calling
thread (a progress callback's, a disk error) is handled the same way. Only calls still
running past that bound outlive ``run_batch``; their late results are not written.
One checkpoint file belongs to one running batch at a time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Callable, Optional, Union

import attrs

from .errors import (
    AiLibError,
    AllProvidersFailedError,
    CircuitOpenError,
    ConfigurationError,
    InvalidRequestError,
    LocalRateLimitError,
    scrub,
)
from .types import ChatCompletionRequest, ChatCompletionResponse

__all__ = ["run_batch", "BatchProgress", "request_key", "read_checkpoint"]

log = logging.getLogger("ailib")

_PAUSE_MIN = 0.05
_PAUSE_MAX = 5.0
_POLL = 0.25  # seconds between checks while waiting on futures (keeps Ctrl-C responsive)


@attrs.frozen
class BatchProgress:
    """One progress event: counts so far, ``elapsed`` seconds, ``rate`` results per second
    sent in this run. ``done`` includes ``failed`` and the ``skipped`` (from the checkpoint)."""

    done: int
    failed: int
    total: int
    elapsed: float
    rate: float
    skipped: int = 0


def request_key(request: ChatCompletionRequest) -> str:
    """The stable hash of a request: SHA-256 of its canonical JSON (``to_dict()``)."""
    canonical = json.dumps(request.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def read_checkpoint(path: Union[str, os.PathLike]) -> dict[str, dict]:
    """The last record per key of a checkpoint file (a response record is never superseded)."""
    lines, _, _ = _scan(os.fspath(path))
    return {key: json.loads(line) for key, line in lines.items()}


# -- the run ------------------------------------------------------------------------------------
def run_batch(
    client: Any,
    requests: Iterable[Any],
    *,
    concurrency: int = 8,
    progress: Any = False,
    return_exceptions: bool = True,
    checkpoint: Union[None, str, os.PathLike] = None,
    fsync: bool = False,
    interrupt_timeout: float = 30.0,
    max_pause: float = 300.0,
) -> list:
    """Run ``requests`` through ``client``, ``concurrency`` at a time; results in input order.

    ``requests``: ``ChatCompletionRequest`` objects or OpenAI-style dicts (an invalid one
    becomes an ``InvalidRequestError`` result). ``progress``: True for a tqdm bar (a counter
    line on stderr without tqdm), or a callable receiving ``BatchProgress`` events on the
    calling thread. ``return_exceptions=False`` raises the first error once the calls in
    flight have finished (an invalid request raises before anything is sent).
    ``checkpoint``: a JSONL path; see the module docstring for the format and resume rules.
    """
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ConfigurationError(f"concurrency must be an int >= 1, got {concurrency!r}")
    if not (progress is False or progress is None or progress is True or callable(progress)):
        raise ConfigurationError("progress must be True, False or a callable taking a BatchProgress")
    items = list(requests)
    total = len(items)
    results: list[Any] = [None] * total
    parsed: list[Optional[ChatCompletionRequest]] = [None] * total
    for i, item in enumerate(items):
        try:
            parsed[i] = _as_request(item)
        except InvalidRequestError as err:
            if not return_exceptions:
                raise
            results[i] = err
    del items

    ckpt: Optional[_Checkpoint] = None
    if checkpoint is not None:
        ckpt = _Checkpoint(os.fspath(checkpoint), parsed, fsync=fsync, secrets=_secrets_of(client))
        for i, response in ckpt.done.items():
            results[i] = response
        for i, req in enumerate(parsed):
            if req is None:
                ckpt.write(i, results[i])
    skipped = len(ckpt.done) if ckpt is not None else 0
    failed = sum(1 for r in results if isinstance(r, AiLibError))
    todo = [i for i in range(total) if results[i] is None]
    reporter = _Reporter(progress, total=total, done=skipped + failed, failed=failed, skipped=skipped)

    stop = threading.Event()

    def work(i: int) -> Any:
        req = parsed[i]
        assert req is not None
        result = _call(client, req, stop, max_pause)
        if ckpt is not None and not (stop.is_set() and _is_pause(result)):
            ckpt.write(i, result)
        return result

    pool = ThreadPoolExecutor(concurrency, thread_name_prefix="ailib-batch")
    in_flight: dict[Future, int] = {}
    first_error: Optional[AiLibError] = None
    next_todo = 0
    try:
        while True:
            while first_error is None and next_todo < len(todo) and len(in_flight) < 2 * concurrency:
                i = todo[next_todo]
                next_todo += 1
                in_flight[pool.submit(work, i)] = i
            if not in_flight:
                break
            finished, _ = wait(in_flight, timeout=_POLL, return_when=FIRST_COMPLETED)
            for fut in finished:
                i = in_flight.pop(fut)
                result = fut.result()  # a non-AiLibError (a bug, a disk error) propagates
                results[i] = result
                failed_now = isinstance(result, AiLibError)
                reporter.update(failed=failed_now)
                if failed_now and not return_exceptions and first_error is None:
                    first_error = result
                    stop.set()
                    for queued in [f for f in in_flight if f.cancel()]:
                        del in_flight[queued]
            reporter.tick()
        pool.shutdown(wait=True)
    except BaseException:
        stop.set()
        for fut in [f for f in in_flight if f.cancel()]:  # queued, not started: never sent
            del in_flight[fut]
        _drain(in_flight, interrupt_timeout)
        if ckpt is not None:
            ckpt.close(compact=False)
        pool.shutdown(wait=not in_flight, cancel_futures=True)  # joins at once unless calls overran the bound
        reporter.close()
        raise
    reporter.close()
    if ckpt is not None:
        ckpt.close(compact=first_error is None)
    if first_error is not None:
        raise first_error
    return results


def _as_request(item: Any) -> ChatCompletionRequest:
    if isinstance(item, ChatCompletionRequest):
        return item
    if isinstance(item, Mapping):
        try:
            return ChatCompletionRequest.from_dict(item)
        except InvalidRequestError:
            raise
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            raise InvalidRequestError(f"invalid request body: {exc}") from None
    raise InvalidRequestError(f"a batch item must be a ChatCompletionRequest or an OpenAI-style dict, got {type(item).__name__}")


def _is_pause(result: Any) -> bool:
    """True for errors raised before anything reached the provider, to protect it."""
    if isinstance(result, (CircuitOpenError, LocalRateLimitError)):
        return True
    if isinstance(result, AllProvidersFailedError):
        return bool(result.errors) and all(isinstance(e, (CircuitOpenError, LocalRateLimitError)) for e in result.errors)
    return False


def _pause_for(err: AiLibError) -> float:
    hints = [e.retry_after for e in (err.errors if isinstance(err, AllProvidersFailedError) else (err,))]
    known = [h for h in hints if h is not None]
    return min(max(min(known) if known else 0.0, _PAUSE_MIN), _PAUSE_MAX)


def _call(client: Any, req: ChatCompletionRequest, stop: threading.Event, max_pause: float) -> Any:
    """One request to its end: a response or an ``AiLibError`` (never raised)."""
    give_up: Optional[float] = None
    while True:
        try:
            return client.chat_completion(req)
        except AiLibError as err:
            if not _is_pause(err) or stop.is_set():
                return err
            now = time.monotonic()
            if give_up is None:
                give_up = now + max_pause
            pause = min(_pause_for(err), give_up - now)
            if pause <= 0 or stop.wait(pause):
                return err


def _drain(in_flight: dict[Future, int], timeout: float) -> None:
    """Wait up to ``timeout`` for the calls in flight; a second Ctrl-C ends the wait."""
    end = time.monotonic() + timeout
    try:
        while in_flight:
            left = end - time.monotonic()
            if left <= 0:
                break
            finished, _ = wait(in_flight, timeout=min(left, _POLL), return_when=FIRST_COMPLETED)
            for fut in finished:
                in_flight.pop(fut)
    except KeyboardInterrupt:
        pass


def _secrets_of(client: Any) -> list[str]:
    keys = []
    for ep in getattr(client, "_endpoints", ()):
        key = getattr(ep, "api_key", None)
        if isinstance(key, str) and len(key) >= 4:
            keys.append(key)
    return keys


# -- the checkpoint file ------------------------------------------------------------------------
def _scan(path: str) -> tuple[dict[str, str], set[str], int]:
    """Read ``path``: (last line per key, keys with a response line, length of the valid prefix).

    Lines are kept as text (parsed again when needed), which keeps a resumed 10,000-request
    file to a few MB. For one key the last line wins, but a response is never superseded.
    """
    lines: dict[str, str] = {}
    answered: set[str] = set()
    good = 0
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return lines, answered, 0
    with f:
        offset = 0
        for lineno, raw in enumerate(f, 1):
            end = offset + len(raw)
            if not raw.endswith(b"\n"):
                log.warning("checkpoint %s: ignoring a torn last line (%d bytes)", path, len(raw))
                break
            offset = good = end
            text = raw.decode("utf-8", errors="replace").strip()
            if not text:
                continue
            try:
                rec = json.loads(text)
                key = rec["key"]
                if not isinstance(key, str) or not ("response" in rec or "error" in rec):
                    raise ValueError("not a record")
            except (ValueError, KeyError, TypeError):
                log.warning("checkpoint %s: skipping corrupt line %d", path, lineno)
                continue
            if key in answered:
                continue
            if "response" in rec:
                answered.add(key)
            lines[key] = text
    return lines, answered, good


class _Checkpoint:
    """The append-only JSONL log of one batch, resumable, compacted at a clean end."""

    def __init__(self, path: str, parsed: list[Optional[ChatCompletionRequest]], *, fsync: bool, secrets: list[str]) -> None:
        self.path = path
        self._fsync = fsync
        self._secrets = secrets
        self._lock = threading.Lock()
        self.keys: list[str] = []
        seen: dict[str, int] = {}
        for i, req in enumerate(parsed):
            if req is None:
                self.keys.append(f"invalid#{i}")
                continue
            h = request_key(req)
            n = seen.get(h, 0)
            seen[h] = n + 1
            self.keys.append(f"{h}#{n}")
        lines, answered, good = _scan(path)
        index = {k: i for i, k in enumerate(self.keys)}
        self.done: dict[int, ChatCompletionResponse] = {}
        self._lines: list[Optional[str]] = [None] * len(self.keys)
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
        del lines, answered
        self._fd: Optional[int] = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        if os.fstat(self._fd).st_size > good:
            os.ftruncate(self._fd, good)  # drop a torn last line before appending after it

    def _mask(self, text: str) -> str:
        text = scrub(text)
        for key in self._secrets:
            text = text.replace(key, "***")
        return text

    def write(self, i: int, result: Any) -> None:
        rec: dict[str, Any] = {"key": self.keys[i], "index": i}
        if isinstance(result, ChatCompletionResponse):
            rec["response"] = result.to_dict()
        else:
            err: AiLibError = result
            rec["error"] = {"type": type(err).__name__, "message": self._mask(err.message), "status_code": err.status_code}
        line = json.dumps(rec, ensure_ascii=False, separators=(",", ":"))
        if any(key in line for key in self._secrets):
            line = self._mask(line)
        data = (line + "\n").encode("utf-8")
        with self._lock:
            if self._fd is None:
                return  # the batch was interrupted and has returned: a late result is not kept
            view = memoryview(data)
            while view:
                n = os.write(self._fd, view)
                view = view[n:]
            if self._fsync:
                os.fsync(self._fd)
            self._lines[i] = line

    def close(self, *, compact: bool) -> None:
        with self._lock:
            fd, self._fd = self._fd, None
            if fd is None:
                return
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            if compact and all(line is not None for line in self._lines):
                self._compact()

    def _compact(self) -> None:
        """One line per request in input order, then other batches' records; atomic."""
        directory = os.path.dirname(os.path.abspath(self.path))
        tmp = os.path.join(directory, f".{os.path.basename(self.path)}.{os.getpid()}.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            for line in self._lines:
                f.write(line)  # type: ignore[arg-type]
                f.write("\n")
            for line in self._foreign:
                f.write(line)
                f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)


# -- progress -----------------------------------------------------------------------------------
class _Reporter:
    """Progress on the calling thread: a callable's events, a tqdm bar, or a stderr counter."""

    def __init__(self, progress: Any, *, total: int, done: int, failed: int, skipped: int) -> None:
        self.total, self.done, self.failed, self.skipped = total, done, failed, skipped
        self._start = time.monotonic()
        self._sent = 0
        self._callback: Optional[Callable[[BatchProgress], Any]] = None
        self._bar: Any = None
        self._plain = False
        self._last_print = 0.0
        self._tty = bool(getattr(sys.stderr, "isatty", lambda: False)())
        if callable(progress) and progress is not True:
            self._callback = progress
        elif progress is True:
            try:
                from tqdm import tqdm
            except ImportError:
                self._plain = True
            else:
                self._bar = tqdm(total=total, initial=done, unit="req", desc="ailib batch", dynamic_ncols=True)
                self._bar.set_postfix(failed=failed, refresh=False)
        self._emit(force=True)

    def event(self) -> BatchProgress:
        elapsed = time.monotonic() - self._start
        rate = self._sent / elapsed if elapsed > 0 else 0.0
        return BatchProgress(self.done, self.failed, self.total, elapsed, rate, self.skipped)

    def update(self, *, failed: bool) -> None:
        self.done += 1
        self._sent += 1
        if failed:
            self.failed += 1
        if self._bar is not None:
            if failed:
                self._bar.set_postfix(failed=self.failed, refresh=False)
            self._bar.update(1)
        self._emit(force=False)

    def tick(self) -> None:
        if self._plain:
            self._emit(force=False)

    def _emit(self, *, force: bool) -> None:
        if self._callback is not None:
            if force or self._sent:
                self._callback(self.event())
        elif self._plain:
            now = time.monotonic()
            if force or now - self._last_print >= (0.2 if self._tty else 5.0):
                self._last_print = now
                self._print(final=False)

    def _print(self, *, final: bool) -> None:
        e = self.event()
        line = f"ailib batch: {e.done}/{e.total} done, {e.failed} failed, {e.rate:.1f} req/s"
        end = "\n" if final or not self._tty else ""
        sys.stderr.write(("\r" + line if self._tty else line) + end)
        sys.stderr.flush()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self._plain:
            self._plain = False
            self._print(final=True)
