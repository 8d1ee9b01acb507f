"""``run_batch``: parse, take the shard's share, resume from the checkpoint, run live or by provider batch."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Optional, Union

from .._response import with_parsed
from .._schema import output_type
from .._value import value
from ..errors import AiLibError, ConfigurationError, InvalidRequestError
from ..types import ChatCompletionRequest, ChatCompletionResponse
from ._checkpoint import Checkpoint, request_keys
from ._live import run_live
from ._progress import Reporter
from ._shard import parse_shard, shard_indices

__all__ = ["BatchContext", "run_batch", "MODES", "AUTO_THRESHOLD"]

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


def run_batch(
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
) -> list[Any]:
    """Run ``requests`` through ``client``; results in input order (of the shard's share).

    ``requests``: ``ChatCompletionRequest`` objects or OpenAI-style dicts (an invalid one
    becomes an ``InvalidRequestError`` result). ``progress``: True for a tqdm bar (a plain
    line on stderr without tqdm), or a callable receiving ``BatchProgress`` events on the
    calling thread. ``return_exceptions=False`` raises the first error once the calls in
    flight have finished (an invalid request raises before anything is sent).
    ``checkpoint``: a JSONL path; see ``ailib.batch`` for the format and resume rules.
    ``mode``: ``"live"`` (calls), ``"provider"`` (the provider's batch API, half price, within
    24 h) or ``"auto"`` (provider batch when the provider has one and at least
    ``auto_threshold`` requests go to it, live otherwise; retryable failures of the provider
    batch are retried live). ``shard=(k, n)`` (or ``"k/n"``, ``0 <= k < n``) runs only the
    requests whose input index ``i`` has ``i % n == k``. ``cancel_remote``: on Ctrl-C, cancel
    the provider batches this run submitted (else they keep running and a re-run collects them).
    """
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ConfigurationError(f"concurrency must be an int >= 1, got {concurrency!r}")
    if not (progress is False or progress is None or progress is True or callable(progress)):
        raise ConfigurationError("progress must be True, False or a callable taking a BatchProgress")
    if mode not in MODES:
        raise ConfigurationError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
    part = parse_shard(shard)
    items = list(requests)
    total = len(items)
    share = shard_indices(total, part)
    results: dict[int, Any] = dict.fromkeys(share)
    parsed: list[Optional[ChatCompletionRequest]] = [None] * total
    for i, item in enumerate(items):
        try:
            parsed[i] = as_request(item)
        except InvalidRequestError as err:
            if i not in results:
                continue
            if not return_exceptions:
                raise
            results[i] = err
    del items
    ctx = _context_of(client)

    ckpt: Optional[Checkpoint] = None
    if checkpoint is not None:
        ckpt = Checkpoint(os.fspath(checkpoint), request_keys(parsed), share, fsync=fsync, secrets=ctx.secrets)
        for i, response in ckpt.done.items():
            results[i] = response
        for i in share:
            if parsed[i] is None:
                ckpt.write(i, results[i])
    skipped = len(ckpt.done) if ckpt is not None else 0
    failed = sum(1 for r in results.values() if isinstance(r, AiLibError))
    todo = [i for i in share if results[i] is None]
    reporter = Reporter(progress, total=len(share), done=skipped + failed, failed=failed, skipped=skipped)

    first_error: Optional[AiLibError] = None
    live = todo
    if mode != "live" and (todo or (ckpt is not None and ckpt.jobs)):
        from ._provider import run_provider

        live = run_provider(
            ctx,
            parsed,
            todo,
            results,
            ckpt=ckpt,
            reporter=reporter,
            auto=mode == "auto",
            auto_threshold=auto_threshold,
            cancel_remote=cancel_remote,
            poll_interval=poll_interval,
        )
        if not return_exceptions:
            first_error = next((r for i, r in results.items() if isinstance(r, AiLibError) and i not in live), None)
    if live and first_error is None:
        arr: list[Any] = [None] * total
        for i in share:
            arr[i] = results[i]
        first_error = run_live(
            client,
            parsed,
            live,
            arr,
            ckpt=ckpt,
            reporter=reporter,
            concurrency=concurrency,
            return_exceptions=return_exceptions,
            interrupt_timeout=interrupt_timeout,
            max_pause=max_pause,
        )
        for i in live:
            results[i] = arr[i]
    reporter.close()
    if ckpt is not None:
        ckpt.close(compact=first_error is None)
    if first_error is not None:
        raise first_error
    _parse_answers(parsed, share, results, return_exceptions)
    return [results[i] for i in share]


def _parse_answers(
    requests: Sequence[Optional[ChatCompletionRequest]], share: Iterable[int], results: Any, return_exceptions: bool
) -> None:
    """Set ``parsed`` on the answers that came without it (read back from a checkpoint, or from a
    provider batch) to requests with a class as ``response_format``; one that does not parse
    becomes its ``StructuredOutputError`` (raised when ``return_exceptions`` is False)."""
    for i in share:
        resp, req = results[i], requests[i]
        cls = output_type(req.response_format) if req is not None else None
        if cls is None or not isinstance(resp, ChatCompletionResponse) or resp.parsed is not None:
            continue
        try:
            results[i] = with_parsed(resp, cls)
        except AiLibError as err:
            if not return_exceptions:
                raise
            results[i] = err


def as_request(item: Any) -> ChatCompletionRequest:
    """A ``ChatCompletionRequest`` from itself or an OpenAI-style dict; else ``InvalidRequestError``."""
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
