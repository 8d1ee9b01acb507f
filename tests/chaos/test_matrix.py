"""The fault matrix (``matrix.py``) through the full client stack, for every wire format and mode."""

from __future__ import annotations

import gc
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any, Optional

import pytest

from ailib import AiClientBuilder
from ailib.errors import AiLibError, StreamInterruptedError
from ailib.testing import MockProvider
from tests._timing import SLACK

from ._support import BASE_PATH, KEY, REQ, provider_at, refused_port
from .matrix import CASES, FAST_RETRY, FORMATS, REPLY, Case, Ctx, Outcome, Result

PARAMS = [
    pytest.param(case, fmt, stream, id=f"{case.id}-{fmt}-{'stream' if stream else 'plain'}")
    for case in CASES
    for stream in (False, True)
    if case.outcome(stream) is not None
    for fmt in FORMATS
]


@contextmanager
def run_case(case: Case, fmt: str, stream: bool) -> Iterator[Result]:
    """Run one row once: servers up, script queued, one call through a fresh client; the
    servers and the client stay up while the caller inspects the result."""
    with ExitStack() as stack:
        mock: Optional[MockProvider] = None
        if case.refused:
            port = stack.enter_context(refused_port())
            provider = provider_at(f"http://127.0.0.1:{port}{BASE_PATH[fmt]}", fmt)
        else:
            mock = stack.enter_context(MockProvider(fmt, api_key=KEY))
            provider = mock.provider(api_key=KEY)
        other = stack.enter_context(MockProvider(fmt)) if case.needs_other else None
        faults = case.script(Ctx(fmt, stream, other))
        if mock is not None:
            mock.enqueue(*faults)
        client = (
            AiClientBuilder(provider).with_retry(FAST_RETRY).with_options(case.connection_options()).with_deadline(case.deadline).build()
        )
        stack.callback(client.close)
        if case.memory:
            gc.collect()
            tracemalloc.start()
        try:
            value, received, elapsed = _call(client, stream)
            peak = tracemalloc.get_traced_memory()[1] if case.memory else None
        finally:
            if case.memory:
                tracemalloc.stop()
        yield Result(value, "".join(received), elapsed, mock, other, peak)


def _call(client: Any, stream: bool) -> tuple[Any, list[str], float]:
    received: list[str] = []
    start = time.monotonic()
    try:
        if stream:
            value = client.chat_completion_stream(REQ)
            with value:
                for chunk in value:
                    received.append(chunk.delta_text)
        else:
            value = client.chat_completion(REQ)
            received.append(value.text)
    except AiLibError as err:
        value = err
    return value, received, time.monotonic() - start


def assert_outcome(out: Outcome, r: Result, stream: bool) -> None:
    value, attempts = r.value, r.attempts
    if out.error is None:
        assert not isinstance(value, BaseException), f"expected a response, got {value!r} with {attempts}"
        if out.text is not None:
            assert r.text == out.text
        assert [a.outcome for a in attempts] == ["error"] * (out.attempts - 1) + ["ok"], attempts
        if stream:
            assert value.finished and value.finish_reason == "stop"
    else:
        assert type(value) is out.error, f"expected {out.error.__name__}, got {value!r} with {attempts}"
        assert [a.outcome for a in attempts] == ["error"] * out.attempts, attempts
        assert all(isinstance(a.error, AiLibError) for a in attempts), attempts
        if isinstance(value, StreamInterruptedError):
            assert type(value.cause) is out.cause, repr(value.cause)
            assert r.text and value.partial_text == r.text and REPLY.startswith(r.text) and r.text != REPLY, (r.text, value.partial_text)
        else:
            assert r.text == "", "nothing may reach the caller before an error that is not a stream interruption"
    assert len(attempts) == out.attempts, attempts
    served = r.mock.request_count if r.mock is not None else 0
    assert served == out.wire_attempts, f"the server saw {served} requests"
    # The table's bound, its margin over the minimum scaled by the shared slack (a loaded machine).
    assert out.min_seconds <= r.elapsed <= out.min_seconds + (out.max_seconds - out.min_seconds) * SLACK, f"took {r.elapsed:.3f} s"
    if out.check is not None:
        out.check(r)


@pytest.mark.parametrize("case, fmt, stream", PARAMS)
def test_fault_outcome(case: Case, fmt: str, stream: bool) -> None:
    """One matrix cell: this fault, this wire format and mode end in exactly the row's outcome."""
    outcome = case.outcome(stream)
    assert outcome is not None
    with run_case(case, fmt, stream) as result:
        assert_outcome(outcome, result, stream)
