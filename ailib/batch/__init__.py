"""Batch runs: many requests through one client, crash-safe, live or through the providers' batch APIs.

``run_batch`` (behind ``AiClient.chat_completion_batch``) gives back one result per request,
in input order: a ``ChatCompletionResponse`` or the ``AiLibError`` that request ended with.
``mode="live"`` sends every request through the client's full policy stack on a dedicated
``ThreadPoolExecutor(concurrency)`` (``_live``); ``mode="provider"`` submits them to the
provider's own batch API at half price (``_provider``, wire formats in ``_wire``);
``mode="auto"`` picks per job. ``shard=(k, n)`` runs one deterministic share (``_shard``).
``iter_batch`` (behind ``AiClient.chat_completion_batch_iter``) yields ``(index, result)`` as
each finishes; ``executor=`` runs the live calls on any ``concurrent.futures.Executor``.

Checkpoint file (JSON Lines, UTF-8, one object per finished request)::

    {"key": "<sha256 hex>#0", "index": 0, "response": {...ChatCompletionResponse.to_dict()...}}
    {"key": "<sha256 hex>#0", "index": 1, "error": {"type": "RateLimitExceeded", "message": "...", "status_code": 429}}

* ``key`` is the SHA-256 of the request's canonical JSON (``request.to_dict()`` with sorted
  keys and no spaces) plus ``#n``, the occurrence of that same request in the batch (in the
  shard's share, with a shard): a batch holding one request three times makes three calls
  (samples are often wanted) and keeps three records. Invalid requests are keyed
  ``invalid#<index>``.
* ``custom_id`` and ``metadata``, when the item had them, follow ``index`` (kept, never sent).
* ``index`` is the request's position in the whole input (with a shard too: ``merge_outputs``
  orders by it; resuming matches keys).
* Provider batches add job lines, ``{"job": {"id", "provider", "endpoint", "indices",
  "state", "file_id", "batch_id", ...}}``, written and fsync-ed as soon as each id exists
  (uploaded file, created batch) and again at each state change; the last line per job id
  wins. A re-run finds an unfinished job and resumes polling that same remote batch instead
  of submitting its requests again, so no request is paid for twice.
* During a run the file is an append-only log: each result is written with one ``write()``
  as soon as its call finishes, so a crash (even SIGKILL) loses nothing that finished.
  ``fsync`` happens at the end of the run and on Ctrl-C; pass ``fsync=True`` to also fsync
  every line (durable against power loss, at a disk flush per request).
* A re-run with the same path skips every request that has a ``response`` record and
  returns it rebuilt with ``ChatCompletionResponse.from_dict`` (``attempts`` is empty).
  Requests with only ``error`` records are sent again; their new result is appended, and
  for a given key the last line wins, a response line is never superseded.
* A torn last line (the process died mid-write) is ignored and cut off before appending;
  a corrupt line elsewhere is skipped with a warning. Neither is fatal. But a file whose
  first line is not a record, or with a line over 64 MiB, is not a checkpoint: the run
  stops with a ``ConfigurationError`` naming the file before writing anything to it.
* The file is created readable by its owner only (mode 0600): it holds prompts and answers.
* When a run finishes without an exception, the file is compacted atomically (temporary
  file, fsync, ``os.replace``) to one line per request, in input order, followed by any
  records of requests that were not part of this batch (kept, never dropped).
* Nothing in the file comes from headers or options: no API key. Error messages are the
  errors' own (scrubbed of key-like tokens), with the client's keys masked again.

Pauses (live): an error raised before anything reached the provider because the client is
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

from ._checkpoint import read_checkpoint, request_key
from ._input import SourceLine, read_lines
from ._progress import BatchProgress
from ._run import AUTO_THRESHOLD, MODES, BatchContext, iter_batch, run_batch
from ._shard import merge_outputs, parse_shard, shard_from_env, shard_indices

__all__ = [
    "AUTO_THRESHOLD",
    "MODES",
    "BatchContext",
    "BatchProgress",
    "SourceLine",
    "iter_batch",
    "merge_outputs",
    "parse_shard",
    "read_checkpoint",
    "read_lines",
    "request_key",
    "run_batch",
    "shard_from_env",
    "shard_indices",
]
