"""``iter_batch``/``run_batch``: read the input as a stream keeping the shard's share, resume from
the checkpoint, run live or by provider batch."""

from __future__ import annotations

import os
from collections.abc import Generator, Iterable, Sequence
from concurrent.futures import Executor
from contextlib import closing
from typing import Any, Optional, Union

from .._response import with_parsed
from .._schema import output_type
from .._value import value
from ..errors import AiLibError, ConfigurationError, InvalidRequestError
from ..types import ChatCompletionRequest, ChatCompletionResponse
from ._checkpoint import Checkpoint, request_keys
from ._input import as_item
from ._live import iter_live
from ._progress import Reporter
from ._shard import parse_shard

__all__ = ["BatchContext", "run_batch", "iter_batch", "MODES", "AUTO_THRESHOLD"]

MODES = ("live", "provider", "auto")
AUTO_THRESHOLD = 100  # mode="auto": a provider batch from this many requests (of one provider) up


@value
class BatchContext:
    """What a batch run needs from a client (``AiClient.batch_context()``): its endpoints in
    plan order, its transport (the one door to the network) and its price table."""

    endpoints: tuple[Any, ...]
    transport: Any
    prices: Any = None

    @property
    def secrets(self) -> list[str]:
        """The API keys of the client, masked out of everything the checkpoint stores."""
        out = []
        for ep in self.endpoints:
            key = getattr(ep, "api_key", None)
            if isinstance(key, str) and len(key) >= 4:
                out.append(key)
        return out


def _context_of(client: Any) -> BatchContext:
    get = getattr(client, "batch_context", None)
    if get is None:
        raise ConfigurationError(f"{type(client).__name__} cannot run batches (it has no batch_context())")
    ctx: BatchContext = get()
    return ctx


def run_batch(client: Any, requests: Iterable[Any], **options: Any) -> list[Any]:
    """Run ``requests`` through ``client``; results in input order (of the shard's share).

    Takes the keywords of ``iter_batch``. ``return_exceptions=False`` raises the first
    error once the calls in flight have finished (an invalid request raises before
    anything is sent).
    """
    results: dict[int, Any] = {}
    gen = iter_batch(client, requests, **options)
    with closing(gen):
        for i, result in gen:
            results[i] = result
    return [results[i] for i in sorted(results)]


def iter_batch(
    client: Any,
    requests: Iterable[Any],
    *,
    concurrency: int = 8,
    progress: Any = False,
    return_exceptions: bool = True,
    checkpoint: Union[None, str, os.PathLike[str]] = None,
    mode: str = "live",
    shard: Union[None, str, Sequence[int]] = None,
    fsync: bool = False,
    interrupt_timeout: float = 30.0,
    max_pause: float = 300.0,
    cancel_remote: bool = False,
    auto_threshold: int = AUTO_THRESHOLD,
    poll_interval: Optional[float] = None,
    executor: Optional[Executor] = None,
) -> Generator[tuple[int, Any], None, None]:
    """Run ``requests`` through ``client``, yielding ``(input index, result)`` as each finishes
    (those resumed from the checkpoint and the invalid ones first).

    ``requests``: ``ChatCompletionRequest`` objects, OpenAI-style dicts, OpenAI batch-format
    lines or ``SourceLine``s (an invalid one becomes an ``InvalidRequestError`` result); a
    dict's ``metadata`` and ``custom_id`` are kept in its checkpoint record, never sent. It is
    read once, as a stream: with a shard only the shard's items are parsed and kept.
    ``progress``: True for a tqdm bar (a plain line on stderr without tqdm), or a callable
    receiving ``BatchProgress`` events on the calling thread. ``return_exceptions=False``
    raises the first error once the calls in flight have finished (errors are then not
    yielded). ``checkpoint``: a JSONL path; see ``ailib.batch`` for the format and resume
    rules. ``mode``: ``"live"`` (calls), ``"provider"`` (the provider's batch API, half price,
    within 24 h) or ``"auto"`` (provider batch when the provider has one and at least
    ``auto_threshold`` requests go to it, live otherwise; retryable failures of the provider
    batch are retried live). ``shard=(k, n)`` (or ``"k/n"``, ``0 <= k < n``, or ``"auto"``
    from a job engine's environment) runs only the requests whose input index ``i`` has
    ``i % n == k``. ``executor``: a ``concurrent.futures.Executor`` the live calls run on
    (default: a thread pool of ``concurrency``). ``cancel_remote``: on Ctrl-C, cancel the
    provider batches this run submitted (else they keep running and a re-run collects them).
    Leaving the iteration early stops the batch as Ctrl-C does (the calls in flight are
    waited for, up to ``interrupt_timeout``, and written).
    """
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ConfigurationError(f"concurrency must be an int >= 1, got {concurrency!r}")
    if not (progress is False or progress is None or progress is True or callable(progress)):
        raise ConfigurationError("progress must be True, False or a callable taking a BatchProgress")
    if mode not in MODES:
        raise ConfigurationError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
    if executor is not None and not isinstance(executor, Executor):
        raise ConfigurationError(f"executor must be a concurrent.futures.Executor, got {type(executor).__name__}")
    part = parse_shard(shard)
    share: list[int] = []
    parsed: dict[int, ChatCompletionRequest] = {}
    invalid: dict[int, AiLibError] = {}
    kept: dict[int, dict[str, Any]] = {}
    for i, item in enumerate(requests):
        if part is not None and i % part[1] != part[0]:
            continue  # another shard's: never parsed nor kept
        share.append(i)
        try:
            parsed[i], extra = as_item(item)
        except InvalidRequestError as err:
            if not return_exceptions:
                raise
            invalid[i] = err
            continue
        if extra:
            kept[i] = extra
    ctx = _context_of(client)
    keys = request_keys(share, parsed)
    results: dict[int, Any] = dict.fromkeys(share)
    results.update(invalid)

    ckpt: Optional[Checkpoint] = None
    reporter: Optional[Reporter] = None
    try:
        if checkpoint is not None:
            ckpt = Checkpoint(os.fspath(checkpoint), keys, share, fsync=fsync, secrets=ctx.secrets, kept=kept)
            results.update(ckpt.done)
            for i, bad in invalid.items():
                ckpt.write(i, bad)
        skipped = len(ckpt.done) if ckpt is not None else 0
        failed = len(invalid)
        todo = [i for i in share if results[i] is None]
        reporter = Reporter(progress, total=len(share), done=skipped + failed, failed=failed, skipped=skipped)
        for i in share:
            if results[i] is not None:
                results[i] = _with_parsed(parsed.get(i), results[i], return_exceptions)
                yield i, results[i]

        first_error: Optional[AiLibError] = None
        live = todo
        if mode != "live" and (todo or (ckpt is not None and ckpt.jobs)):
            from ._provider import run_provider

            live = run_provider(
                ctx,
                parsed,
                keys,
                todo,
                results,
                ckpt=ckpt,
                reporter=reporter,
                auto=mode == "auto",
                auto_threshold=auto_threshold,
                cancel_remote=cancel_remote,
                poll_interval=poll_interval,
            )
            again = set(live)
            for i in todo:
                if i not in again and results[i] is not None:
                    results[i] = _with_parsed(parsed.get(i), results[i], True)
                    if isinstance(results[i], AiLibError) and not return_exceptions:
                        first_error = first_error or results[i]
                        continue
                    yield i, results[i]
        if live and first_error is None:
            first_error = yield from iter_live(
                client,
                parsed,
                live,
                ckpt=ckpt,
                reporter=reporter,
                concurrency=concurrency,
                return_exceptions=return_exceptions,
                interrupt_timeout=interrupt_timeout,
                max_pause=max_pause,
                executor=executor,
            )
        reporter.close()
        if ckpt is not None:
            ckpt.close(compact=first_error is None)
    except BaseException:
        if ckpt is not None:
            ckpt.close(compact=False)
        if reporter is not None:
            reporter.close()
        raise
    if first_error is not None:
        raise first_error


def _with_parsed(request: Optional[ChatCompletionRequest], result: Any, return_exceptions: bool) -> Any:
    """``result`` with ``parsed`` set when it came without it (read back from a checkpoint, or
    from a provider batch) and its request has a class as ``response_format``; one that does not
    parse becomes its ``StructuredOutputError`` (raised when ``return_exceptions`` is False)."""
    cls = output_type(request.response_format) if request is not None else None
    if cls is None or not isinstance(result, ChatCompletionResponse) or result.parsed is not None:
        return result
    try:
        return with_parsed(result, cls)
    except AiLibError as err:
        if not return_exceptions:
            raise
        return err


def as_request(item: Any) -> ChatCompletionRequest:
    """A ``ChatCompletionRequest`` from itself, an OpenAI-style dict or batch-format line; else ``InvalidRequestError``."""
    return as_item(item)[0]
