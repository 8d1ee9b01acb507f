"""Embedding a corpus: many texts through one client, in requests the provider takes, crash-safe.

``embed_batch`` (behind ``AiClient.embedding_batch`` and ``ailib batch`` on a file of
``{"input": ...}`` lines) cuts the texts not yet done into requests within the providers'
per-request limits (and ``batch_size``), sends them through the client's whole policy stack
(retries, limits in requests and tokens, breaker, fallback) on ``concurrency`` threads, and
gives back one ``EmbeddingResponse`` with every vector in input order.

Checkpoint file (JSON Lines, UTF-8, one object per answered request)::

    {"start": 0, "end": 100, "key": "<sha256 hex>", "model": "text-embedding-3-small",
     "provider": "openai", "prompt_tokens": 812, "dimensions": 1536, "vectors": "<base64>"}

* ``start``/``end``: the input indices ``[start, end)`` the request held; ``vectors``: their
  vectors as little-endian float32, one after another, base64 (exact, about a third of the
  size of JSON floats).
* ``key``: SHA-256 of the call's settings (model, dimensions, input type, extra) and the
  texts ``[start, end)``. A re-run counts a record only when its key matches the same texts
  with the same settings: input that changed is embedded again, never mixed up.
* Each record is written with one ``write()`` as soon as its request is answered, so a crash
  (even SIGKILL) loses only requests in flight; a torn last line is cut off, a corrupt line
  skipped with a warning. A re-run sends only the texts no record covers, so a request that
  was answered and written is never paid for twice.
* A run that ends with every text done rewrites the file atomically in input order.
* A request that fails after its retries and fallbacks fails only its own texts: the others
  are still sent and written, and the call then raises that error (a re-run sends only the
  failed texts). Pauses for the client's own protection (open circuit, local rate limit)
  wait and try again, as in chat batches.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Callable, Optional, Union

from .._embedding import EmbeddingRequest, EmbeddingResponse, Vectors
from .._response import Usage
from ..errors import AiLibError, ConfigurationError
from ..providers._embed import Limits
from ._live import _is_pause, _pause_for
from ._progress import Reporter

__all__ = ["embed_batch", "read_embeddings", "EmbeddingCheckpoint"]

log = logging.getLogger("ailib")

Record = dict[str, Any]


def _settings(request: EmbeddingRequest) -> str:
    return json.dumps(
        {"model": request.model, "dimensions": request.dimensions, "input_type": request.input_type, "extra": request.extra},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=repr,
    )


def part_key(settings: str, texts: Sequence[str]) -> str:
    """The key of one request's record: a hash of the call's settings and its texts."""
    h = hashlib.sha256(settings.encode("utf-8"))
    for text in texts:
        data = text.encode("utf-8")
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


def _scan(path: str, jobs: Optional[dict[str, Record]] = None) -> tuple[list[Record], int]:
    """The records of ``path`` and the length of its valid prefix (a torn last line is not);
    provider batch job lines go to ``jobs`` (the last line per id wins)."""
    records: list[Record] = []
    good = 0
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return records, 0
    with f:
        offset = 0
        for lineno, raw in enumerate(f, 1):
            if not raw.endswith(b"\n"):
                log.warning("checkpoint %s: ignoring a torn last line (%d bytes)", path, len(raw))
                break
            offset = good = offset + len(raw)
            text = raw.strip()
            if not text:
                continue
            try:
                rec = json.loads(text)
                if isinstance(rec.get("job"), dict) and isinstance(rec["job"].get("id"), str):
                    if jobs is not None:
                        jobs[rec["job"]["id"]] = rec["job"]
                    continue
                if not (isinstance(rec.get("start"), int) and isinstance(rec.get("end"), int) and isinstance(rec.get("vectors"), str)):
                    raise ValueError("not a record")
            except (ValueError, TypeError, AttributeError):
                log.warning("checkpoint %s: skipping corrupt line %d", path, lineno)
                continue
            records.append(rec)
    return records, good


def _response_of(rec: Record) -> EmbeddingResponse:
    raw = base64.b64decode(rec["vectors"])
    count = rec["end"] - rec["start"]
    if count <= 0 or len(raw) % (4 * count):
        raise ValueError("vectors do not fit the record's range")
    size = len(raw) // count
    rows = [raw[i * size : (i + 1) * size] for i in range(count)]
    tokens = int(rec.get("prompt_tokens") or 0)
    return EmbeddingResponse(Vectors(rows), str(rec.get("model", "")), str(rec.get("provider", "")), Usage(tokens, 0, tokens))


class EmbeddingCheckpoint:
    """The append-only JSONL log of one corpus embedding, resumable, compacted at a clean end."""

    def __init__(self, path: str, settings: str, texts: Sequence[str], *, fsync: bool = False) -> None:
        self.path = path
        self._settings = settings
        self._fsync = fsync
        self._lock = threading.Lock()
        self.jobs: dict[str, Record] = {}
        records, good = _scan(path, self.jobs)
        self.done: dict[int, tuple[int, EmbeddingResponse, str]] = {}  # start -> (end, response, line)
        covered = bytearray(len(texts))
        for rec in records:
            start, end = rec["start"], rec["end"]
            if not 0 <= start < end <= len(texts) or any(covered[start:end]):
                continue
            if rec.get("key") != part_key(settings, texts[start:end]):
                continue
            try:
                resp = _response_of(rec)
            except (ValueError, TypeError, AiLibError):
                log.warning("checkpoint %s: cannot read the vectors of texts %d-%d; embedding them again", path, start, end - 1)
                continue
            covered[start:end] = b"\x01" * (end - start)
            self.done[start] = (end, resp, json.dumps(rec, ensure_ascii=False, separators=(",", ":")))
        self.covered = covered
        self._fd: Optional[int] = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        if os.fstat(self._fd).st_size > good:
            os.ftruncate(self._fd, good)

    def pending_job(self) -> Optional[Record]:
        """The provider batch job of these settings not yet collected, if any."""
        for job in self.jobs.values():
            if job.get("state") != "collected" and job.get("settings") == self._settings:
                return dict(job)
        return None

    def write_job(self, job: Record) -> None:
        """Append the state of a provider batch job (its ids as soon as they exist); durable at once."""
        job = {**job, "settings": self._settings}
        self._append(json.dumps({"job": job}, ensure_ascii=False, separators=(",", ":")), sync=True)
        self.jobs[job["id"]] = job

    def _append(self, line: str, *, sync: bool = False) -> bool:
        data = (line + "\n").encode("utf-8")
        with self._lock:
            if self._fd is None:
                return False
            view = memoryview(data)
            while view:
                n = os.write(self._fd, view)
                view = view[n:]
            if self._fsync or sync:
                os.fsync(self._fd)
            return True

    def write(self, start: int, end: int, texts: Sequence[str], resp: EmbeddingResponse) -> None:
        """Append the answer for texts ``[start, end)``."""
        rec = {
            "start": start,
            "end": end,
            "key": part_key(self._settings, texts),
            "model": resp.model,
            "provider": resp.provider,
            "prompt_tokens": resp.usage.prompt_tokens,
            "dimensions": resp.dimensions,
            "vectors": base64.b64encode(resp.vectors.tobytes()).decode("ascii"),
        }
        line = json.dumps(rec, ensure_ascii=False, separators=(",", ":"))
        if self._append(line):
            with self._lock:
                self.done[start] = (end, resp, line)

    def close(self, *, compact: bool) -> None:
        with self._lock:
            fd, self._fd = self._fd, None
            if fd is None:
                return
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            if compact:
                directory = os.path.dirname(os.path.abspath(self.path))
                tmp = os.path.join(directory, f".{os.path.basename(self.path)}.{os.getpid()}.tmp")
                with open(tmp, "w", encoding="utf-8") as f:
                    for start in sorted(self.done):
                        f.write(self.done[start][2])
                        f.write("\n")
                    for job in self.jobs.values():  # an unfinished provider batch stays findable
                        if job.get("state") != "collected":
                            f.write(json.dumps({"job": job}, ensure_ascii=False, separators=(",", ":")) + "\n")
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, self.path)


def read_embeddings(*paths: Union[str, os.PathLike[str]]) -> Vectors:
    """Every vector of finished embedding checkpoints (``ailib batch`` outputs; the files of
    all the shards of one input, in any order), in input order."""
    records: list[Record] = []
    for path in paths:
        records.extend(_scan(os.fspath(path))[0])
    rows: list[Any] = []
    for rec in sorted(records, key=lambda r: r["start"]):
        if rec["start"] != len(rows):
            raise ConfigurationError(f"the checkpoints do not hold every text once and in order (a gap or overlap at {rec['start']})")
        rows.extend(_response_of(rec).vectors.raw_rows())
    return Vectors(rows)


def _ranges(covered: bytearray, texts: Sequence[str], limits: Limits) -> list[tuple[int, int]]:
    """Requests over the texts no record covers: each run of them cut within ``limits``."""
    from ..call.embed import split

    out: list[tuple[int, int]] = []
    i, n = 0, len(texts)
    while i < n:
        if covered[i]:
            i += 1
            continue
        j = i
        while j < n and not covered[j]:
            j += 1
        out.extend((i + a, i + b) for a, b in split(texts[i:j], limits))
        i = j
    return out


def embed_batch(
    client: Any,
    texts: Sequence[str],
    *,
    model: str = "auto",
    dimensions: Optional[int] = None,
    input_type: Optional[str] = None,
    extra: Optional[Mapping[str, Any]] = None,
    checkpoint: Union[None, str, os.PathLike[str]] = None,
    concurrency: int = 4,
    batch_size: Optional[int] = None,
    progress: Any = False,
    fsync: bool = False,
    max_pause: float = 300.0,
    on_part: Optional[Callable[[int, int], Any]] = None,
    shard: Union[None, str, Sequence[int]] = None,
    mode: str = "live",
    poll_interval: float = 5.0,
) -> EmbeddingResponse:
    """Embed ``texts`` (see the module docstring); the vectors in input order.

    ``batch_size``: at most that many texts a request (default: the provider's limit).
    ``shard=(k, n)`` (or ``"k/n"``): only the k-th of n contiguous blocks of the texts, its
    vectors returned; each shard keeps its own checkpoint (absolute indices), and
    ``read_embeddings(*paths)`` joins the shards' files in input order. ``mode="provider"``:
    through OpenAI's batch API (``/v1/embeddings`` lines, half price, within 24 h; polled every
    ``poll_interval`` seconds, backing off to 60), resumable like the live mode.
    ``progress``: as for chat batches (True, or a callable taking ``BatchProgress``; counts texts).
    ``on_part(start, end)``: called on the calling thread after each request's record is written.
    """
    from ..call.embed import limits_of
    from ._shard import parse_shard

    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ConfigurationError(f"concurrency must be an int >= 1, got {concurrency!r}")
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1):
        raise ConfigurationError(f"batch_size must be an int >= 1, got {batch_size!r}")
    texts = list(texts)
    template = EmbeddingRequest(model, texts or ["-"], dimensions=dimensions, input_type=input_type, extra=extra)  # validates
    settings = _settings(template)
    ckpt = EmbeddingCheckpoint(os.fspath(checkpoint), settings, texts, fsync=fsync) if checkpoint is not None else None
    covered = ckpt.covered if ckpt is not None else bytearray(len(texts))
    part = parse_shard(shard)
    lo, hi = (0, len(texts)) if part is None else (part[0] * len(texts) // part[1], (part[0] + 1) * len(texts) // part[1])
    share = hi - lo
    covered = bytearray(covered)  # texts outside the share count as covered: never sent by this run
    covered[:lo] = b"\x01" * lo
    covered[hi:] = b"\x01" * (len(texts) - hi)
    limits = limits_of(client._pipeline)
    if batch_size is not None:
        limits = Limits(min(limits.inputs, batch_size), limits.tokens)
    todo = _ranges(covered, texts, limits)
    answered: dict[int, tuple[int, EmbeddingResponse]] = {}
    if ckpt is not None:
        answered.update({s: (e, r) for s, (e, r, _) in ckpt.done.items() if lo <= s < hi})
    already = sum(e - s for s, (e, _) in answered.items())
    reporter = Reporter(progress, total=share, done=already, failed=0, skipped=already)
    errors: list[AiLibError] = []
    stop = threading.Event()

    def work(start: int, end: int) -> Any:
        request = EmbeddingRequest(model, texts[start:end], dimensions=dimensions, input_type=input_type, extra=extra)
        give_up: Optional[float] = None
        while True:
            try:
                resp = client.embedding(request)
            except AiLibError as err:
                if not _is_pause(err) or stop.is_set():
                    return err
                now = time.monotonic()
                give_up = give_up if give_up is not None else now + max_pause
                pause = min(_pause_for(err), give_up - now)
                if pause <= 0 or stop.wait(pause):
                    return err
                continue
            if ckpt is not None:
                ckpt.write(start, end, texts[start:end], resp)
            return resp

    if mode not in ("live", "provider"):
        raise ConfigurationError(f"mode must be 'live' or 'provider', got {mode!r}")
    if mode == "provider":
        return _via_provider(client, texts, todo, template, ckpt, answered, reporter, poll_interval, share)

    pool = ThreadPoolExecutor(concurrency, thread_name_prefix="ailib-embed")
    in_flight: dict[Future[Any], tuple[int, int]] = {}
    nxt = 0
    try:
        while True:
            while nxt < len(todo) and len(in_flight) < concurrency:
                start, end = todo[nxt]
                nxt += 1
                in_flight[pool.submit(work, start, end)] = (start, end)
            if not in_flight:
                break
            finished, _ = wait(in_flight, timeout=0.25, return_when=FIRST_COMPLETED)
            for fut in sorted(finished, key=lambda f: in_flight[f][0]):
                start, end = in_flight.pop(fut)
                result = fut.result()
                if isinstance(result, AiLibError):
                    errors.append(result)
                    reporter.update(failed=True, n=end - start)
                else:
                    answered[start] = (end, result)
                    reporter.update(failed=False, cost=result.cost, n=end - start)
                    if on_part is not None:
                        on_part(start, end)
            reporter.tick()
        pool.shutdown(wait=True)
    except BaseException:
        stop.set()
        pool.shutdown(wait=False, cancel_futures=True)
        if ckpt is not None:
            ckpt.close(compact=False)
        reporter.close()
        raise
    return _finish(ckpt, reporter, answered, errors, share)


def _via_provider(
    client: Any,
    texts: list[str],
    todo: list[tuple[int, int]],
    template: EmbeddingRequest,
    ckpt: Optional[EmbeddingCheckpoint],
    answered: dict[int, tuple[int, EmbeddingResponse]],
    reporter: Reporter,
    poll_interval: float,
    share: int,
) -> EmbeddingResponse:
    from ..call.embed_rules import embedding_model
    from ..routing.endpoint import Target
    from ._embed_provider import run_provider_embeddings

    errors: list[AiLibError] = []

    def on_result(start: int, end: int, result: Any) -> None:
        if isinstance(result, AiLibError):
            errors.append(result)
            reporter.update(failed=True, n=end - start)
            return
        if ckpt is not None:
            ckpt.write(start, end, texts[start:end], result)
        answered[start] = (end, result)
        reporter.update(failed=False, cost=result.cost, n=end - start)

    ep = client._pipeline.router.endpoints()[0]
    model = embedding_model(Target(ep, ep.resolve_model(template.model)), template)
    try:
        run_provider_embeddings(client, texts, todo, template, model, ckpt, poll_interval=poll_interval, on_result=on_result)
    except BaseException:
        if ckpt is not None:
            ckpt.close(compact=False)
        reporter.close()
        raise
    return _finish(ckpt, reporter, answered, errors, share)


def embedding_items(path: str) -> Optional[list[Any]]:
    """The lines of a batch file when it is a corpus to embed (its first line an ``{"input": ...}``
    object without ``messages``), else None (a file of chat requests, or one that does not parse:
    the chat batch reports it)."""
    try:
        with open(path, "rb") as f:
            first = next((line for line in f if line.strip()), b"")
            head = json.loads(first) if first else None
            if not (isinstance(head, dict) and "input" in head and "messages" not in head and "body" not in head):
                return None
            f.seek(0)
            return [json.loads(line) for line in f if line.strip()]
    except (OSError, ValueError):
        return None


def run_embed_command(args: Any, items: Sequence[Any], client: Any, progress: bool) -> int:
    """``ailib batch`` over a file of texts: each line ``{"input": "text"}`` (or a list of texts;
    the first line may set ``model``, ``dimensions``, ``input_type``); the output is the
    checkpoint above. The exit status."""
    import sys

    if not all(isinstance(line, dict) and "input" in line for line in items):
        print('ailib batch: error: every line of an embedding batch must be an object with "input"', file=sys.stderr)
        return 2
    first = items[0]
    texts: list[str] = []
    for line in items:
        value = line["input"]
        texts.extend([value] if isinstance(value, str) else list(value))
    for key in ("model", "dimensions", "input_type"):
        if any(line.get(key, first.get(key)) != first.get(key) for line in items):
            print(f"ailib batch: error: every line of an embedding batch must have the same {key}", file=sys.stderr)
            return 2
    model = args.model or first.get("model") or "auto"
    try:
        resp = embed_batch(
            client,
            texts,
            model=model,
            dimensions=first.get("dimensions"),
            input_type=first.get("input_type"),
            checkpoint=args.output,
            concurrency=args.concurrency,
            progress=progress,
            shard=args.shard,
            mode="provider" if args.mode == "provider" else "live",
            poll_interval=args.poll_interval or 5.0,
        )
    except KeyboardInterrupt:
        print(f"\nailib batch: interrupted; finished results are in {args.output}; run the same command to resume", file=sys.stderr)
        return 130
    except AiLibError as err:
        print(f"ailib batch: {type(err).__name__}: {err}; the other texts are in {args.output}; re-run to retry", file=sys.stderr)
        return 1
    print(
        f"ailib batch: {len(texts)} texts embedded ({resp.dimensions} dimensions, {resp.usage.prompt_tokens} tokens this run) "
        f"-> {args.output}",
        file=sys.stderr,
    )
    return 0


def _finish(ckpt: Any, reporter: Any, answered: dict[int, Any], errors: list[Any], share: int) -> EmbeddingResponse:
    """The end of a run: close the progress and the checkpoint (compacted when every text of the
    share is answered), raise the first error, else the vectors of the share in input order."""
    from ..call.embed import join  # the call layer sits above batches: loaded when a run ends

    reporter.close()
    complete = not errors and sum(e - s for s, (e, _) in answered.items()) == share
    if ckpt is not None:
        ckpt.close(compact=complete)
    if errors:
        raise errors[0]
    if not share:
        return EmbeddingResponse(Vectors(), "", "")
    return join([answered[s][1] for s in sorted(answered)])
