"""Provider batch runs: submit to the provider's batch API, poll, collect by ``custom_id``; crash-safe.

A *job* is one remote batch: requests of one endpoint and one model, split to stay under
the provider's limits (requests per batch, bytes per batch). Its record in the checkpoint
(``{"job": {...}}``) is written before anything is sent and again as soon as each remote
id exists, so a re-run after a crash or Ctrl-C resumes polling the same remote batch
instead of submitting again, and a request is never paid for twice. ``custom_id`` is
``i<position in the job>``; the job keeps each position's checkpoint key.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, Callable, Optional

import attrs

from ..errors import AiLibError, ConfigurationError, ProviderError
from ..types import Attempt, ChatCompletionRequest, ChatCompletionResponse
from ._checkpoint import Checkpoint
from ._http import Http
from ._progress import Reporter
from ._wire import BatchWire, failed_job_error, wire_for

__all__ = ["run_provider", "BATCH_DISCOUNT", "has_batch_api"]

log = logging.getLogger("ailib")

BATCH_DISCOUNT = 0.5  # every provider's batch API bills half the live price
_BATCH_PROVIDERS = {"openai", "anthropic", "gemini"}
_POLL_FIRST = 5.0
_POLL_MAX = 60.0
_DONE_STATES = ("collected", "cancelled")


def has_batch_api(ep: Any) -> bool:
    """True when the endpoint's provider has a batch API ailib speaks (custom providers: by wire format)."""
    return wire_for(ep) is not None and (ep.spec.name in _BATCH_PROVIDERS or ep.spec.env_prefix is None)


class _Jobs:
    """The jobs of one run and how each result finds its request."""

    def __init__(self, ckpt: Optional[Checkpoint], keys: Mapping[int, str], share: Iterable[int], endpoint: str) -> None:
        self.ckpt = ckpt
        self.key_index = {keys[i]: i for i in share}
        self.jobs: dict[str, dict[str, Any]] = {}
        if ckpt is not None:
            self.jobs = {
                jid: dict(j)
                for jid, j in ckpt.jobs.items()
                if j.get("state") not in _DONE_STATES and j.get("endpoint") == endpoint and isinstance(j.get("keys"), list)
            }

    def save(self, job: dict[str, Any]) -> None:
        self.jobs[job["id"]] = job
        if self.ckpt is not None:
            self.ckpt.write_job(job)


def run_provider(
    ctx: Any,
    parsed: Mapping[int, ChatCompletionRequest],
    keys: Mapping[int, str],
    todo: list[int],
    results: dict[int, Any],
    *,
    ckpt: Optional[Checkpoint],
    reporter: Reporter,
    auto: bool,
    auto_threshold: int,
    cancel_remote: bool,
    poll_interval: Optional[float] = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[int]:
    """Run ``todo`` through provider batches (resuming the checkpoint's jobs); fill ``results``.

    Returns the indices still to run live: with ``auto``, everything when the job is too
    small or the provider has no batch API, plus the requests that failed in the provider
    batch with a retryable error.
    """
    ep = ctx.endpoints[0]
    wire = wire_for(ep) if has_batch_api(ep) else None
    state = _Jobs(ckpt, keys, list(results), ep.name)
    resumed = {key for job in state.jobs.values() for key in job["keys"]}
    fresh = [i for i in todo if keys[i] not in resumed]
    # A model the endpoint sends to the Responses API runs live: the batch files speak chat completions.
    responses = [i for i in fresh if _sent_as_responses(ep, ep.resolve_model(parsed[i].model))]
    if responses:
        fresh = [i for i in fresh if i not in set(responses)]
    if wire is None:
        if not auto:
            raise ConfigurationError(f"{ep.provider} has no batch API that ailib speaks (openai, anthropic and gemini formats do)")
        return todo
    if auto and len(fresh) < auto_threshold and not state.jobs:
        return todo
    if not fresh and not state.jobs:
        return responses
    http = Http(ctx.transport, ep, sleep=sleep)
    live: list[int] = []
    try:
        for job in [j for j in state.jobs.values() if not j.get("batch_id")]:  # a crash came before the batch existed
            entries = _entries(wire, ep, parsed, job, state.key_index)
            reporter.set_status(f"submitting {len(entries)} requests again")
            wire.submit(http, job, entries, state.save)
        for job, entries in _plan(wire, ep, parsed, fresh, keys):
            job["submitted_at"] = time.time()
            state.save(job)  # before anything is sent: a crash now leaves a job to submit again
            reporter.set_status(f"submitting {len(entries)} requests")
            wire.submit(http, job, entries, state.save)
        _poll_all(wire, http, state, reporter, poll_interval, sleep)
        for job in list(state.jobs.values()):
            live.extend(_collect(wire, http, job, state, results, ctx, reporter, auto=auto))
    except BaseException:
        if cancel_remote:
            _cancel_all(wire, http, state)
        if ckpt is not None:
            ckpt.close(compact=False)
        reporter.close()
        raise
    reporter.set_status("")
    return live + responses


def _sent_as_responses(ep: Any, model: str) -> bool:
    """Whether ``ep`` sends ``model`` to the OpenAI Responses API (``wire_api``)."""
    wire = ep.wire
    pick = getattr(wire, "pick", None)  # wire_api="auto": per model
    if pick is not None:
        return pick(model) is not wire.chat
    return wire.name in ("openai_responses", "azure_responses")


def _plan(
    wire: BatchWire, ep: Any, parsed: Mapping[int, ChatCompletionRequest], todo: list[int], keys: Mapping[int, str]
) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """New jobs for ``todo``: grouped by model, split under the provider's limits."""
    by_model: dict[str, list[int]] = {}
    for i in todo:
        req = parsed[i]
        assert req is not None
        by_model.setdefault(ep.resolve_model(req.model), []).append(i)
    out: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
    for model, indices in by_model.items():
        entries: list[dict[str, Any]] = []
        job_keys: list[str] = []
        size = 0
        for i in indices:
            entry = wire.entry(f"i{len(entries)}", parsed[i], ep, model)
            n = wire.size(entry)
            if entries and (len(entries) >= wire.max_requests or size + n > wire.max_bytes):
                out.append((_job(wire, ep, model, job_keys), entries))
                entries, job_keys, size = [], [], 0
                entry = wire.entry("i0", parsed[i], ep, model)
            entries.append(entry)
            job_keys.append(keys[i])
            size += n
        if entries:
            out.append((_job(wire, ep, model, job_keys), entries))
    return out


def _entries(
    wire: BatchWire, ep: Any, parsed: Mapping[int, ChatCompletionRequest], job: dict[str, Any], key_index: dict[str, int]
) -> list[dict[str, Any]]:
    """The entries of a job recorded but not yet submitted, rebuilt from this run's input."""
    entries = []
    for pos, key in enumerate(job["keys"]):
        i = key_index.get(key)
        if i is None:
            raise ConfigurationError(
                f"checkpoint job {job['id']} names a request that is not in this input; run it with the input it was started with"
            )
        entries.append(wire.entry(f"i{pos}", parsed[i], ep, job["model"]))
    return entries


def _job(wire: BatchWire, ep: Any, model: str, keys: list[str]) -> dict[str, Any]:
    return {
        "id": "ailib-" + uuid.uuid4().hex[:16],
        "provider": ep.provider,
        "endpoint": ep.name,
        "wire": wire.name,
        "model": model,
        "state": "new",
        "keys": keys,
    }


def _poll_all(
    wire: BatchWire, http: Http, state: _Jobs, reporter: Reporter, first: Optional[float], sleep: Callable[[float], None]
) -> None:
    """Poll every unfinished job with backoff until each is done (its results can be read)."""
    interval = _POLL_FIRST if first is None else first
    while True:
        waiting = 0
        for job in list(state.jobs.values()):
            if job.get("state") in ("done", "failed") or not job.get("batch_id"):
                continue
            status = wire.status(http, job)
            if status.done:
                job["state"] = "failed" if status.failed else "done"
                if status.failed:
                    job["error"] = status.failed
                state.save(job)
            else:
                waiting += 1
                if job.get("remote_state") != status.state:
                    job["remote_state"] = status.state
                    state.save(job)
        if not waiting:
            return
        reporter.set_status(f"{waiting} provider batch{'es' if waiting > 1 else ''} running")
        sleep(interval)
        interval = min(interval * 1.5, _POLL_MAX)


def _collect(
    wire: BatchWire, http: Http, job: dict[str, Any], state: _Jobs, results: dict[int, Any], ctx: Any, reporter: Reporter, *, auto: bool
) -> list[int]:
    """Write the results of one finished job (each request exactly once); the indices to retry live."""
    positions = {f"i{pos}": key for pos, key in enumerate(job["keys"])}
    seen: set[str] = set()
    retry: list[int] = []

    def finish(key: str, result: Any) -> None:
        i = state.key_index.get(key)
        if i is None or isinstance(results.get(i), ChatCompletionResponse):
            return  # not this run's request, or already answered: never twice
        started = float(job.get("submitted_at") or time.time())
        ok = isinstance(result, ChatCompletionResponse)
        attempt = Attempt(
            job["provider"],
            job["model"],
            started,
            max(0.0, time.time() - started),
            "ok" if ok else "error",
            None if ok else result,
            endpoint=job["endpoint"],
        )
        if ok:
            result = attrs.evolve(_discounted(result, ctx.prices), attempts=(attempt,))
        elif auto and result.is_retryable():
            retry.append(i)
            return
        else:
            result.attempts = (attempt,)
        results[i] = result
        if state.ckpt is not None:
            state.ckpt.write(i, result)
        failed = isinstance(result, AiLibError)
        reporter.update(failed=failed, cost=None if failed else result.cost)

    if job.get("state") == "failed" and auto:  # the provider refused the whole batch: run it live instead
        retry.extend(i for i in (state.key_index.get(k) for k in job["keys"]) if i is not None and results.get(i) is None)
    elif job.get("state") == "failed":
        err = failed_job_error(http, job, str(job.get("error") or "the batch failed"))
        for key in job["keys"]:
            finish(key, err)
    else:
        for custom_id, result in wire.results(http, job):
            key = positions.get(custom_id)
            if key is None or key in seen:
                continue
            seen.add(key)
            finish(key, result)
        for key in job["keys"]:
            if key not in seen:
                finish(
                    key,
                    ProviderError(
                        "the provider batch returned no result for this request", provider=http.endpoint.provider, model=job["model"]
                    ),
                )
    job["state"] = "collected"
    state.save(job)
    return retry


def _discounted(resp: ChatCompletionResponse, prices: Any) -> ChatCompletionResponse:
    """The response with ``cost`` at the batch price (half the live price), when prices are configured."""
    if prices is None:
        return resp
    cost = prices.cost(resp.provider, resp.model, resp.usage)
    return resp if cost is None else attrs.evolve(resp, cost=cost * BATCH_DISCOUNT)


def _cancel_all(wire: Optional[BatchWire], http: Http, state: _Jobs) -> None:
    """``cancel_remote``: cancel every remote batch still running (best effort; logged)."""
    if wire is None:
        return
    for job in list(state.jobs.values()):
        if job.get("batch_id") and job.get("state") not in ("done", "failed", *_DONE_STATES):
            try:
                wire.cancel(http, job)
            except (AiLibError, OSError) as exc:
                log.warning("could not cancel provider batch %s: %s", job["batch_id"], exc)
                continue
            job["state"] = "cancelled"
            try:
                state.save(job)
            except OSError:
                pass
