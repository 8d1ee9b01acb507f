"""A failed call leaves no error, attempt or frame in a reference cycle: reference counting
frees them (and everything the frames held) at once.

Cycles (an error recording itself among its attempts, frames holding the call that holds
the errors) are freed only by the garbage collector, whose full collections pause every
thread: with 200 threads timing out together, they put the p99 of a 1 s deadline at
+100 ms. ``gc.DEBUG_SAVEALL`` keeps whatever a collection finds, so it shows any cycle.
(tenacity's ``Retrying`` keeps a small cycle of its own, its state and callbacks: a few
dozen small objects per retried call, and no frame.)
"""

from __future__ import annotations

import gc
import time
import types
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from ailib import AiClientBuilder, Attempt, ChatCompletionRequest, Message, RetryPolicy
from ailib.errors import AiLibError
from ailib.testing import Fault, MockProvider

REQ = ChatCompletionRequest("mock-model", [Message.user("hi")])


@contextmanager
def _collected() -> Iterator[list]:
    """What the garbage collector would have to free (reference cycles) while the block runs."""
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    found: list = []
    try:
        yield found
        gc.collect()
        found.extend(gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


def _fail(client) -> None:
    with pytest.raises(AiLibError) as info:
        client.chat_completion(REQ)
    assert info.value.attempts  # the error still carries its attempts
    del info


def _retrying(provider):
    return AiClientBuilder(provider).with_retry(RetryPolicy(max_attempts=3, initial_delay=0.001, max_delay=0.002)).with_deadline(5.0)


@pytest.mark.parametrize("shape", ["retries exhausted", "deadline", "failover"])
def test_a_failed_call_leaves_no_cycle(shape):
    """A call failing with its retries exhausted (HTTP 500 x3), at its deadline (a stalled server), or on every
    target of a failover chain leaves no error, traceback, frame or attempt for the garbage collector."""
    with MockProvider() as a, MockProvider() as b:
        builder = _retrying(a.provider())
        if shape == "deadline":
            builder = builder.with_deadline(0.2)
        elif shape == "failover":
            builder = builder.with_failover_chain([b.provider()])

        def arm() -> None:
            if shape == "deadline":
                a.enqueue(Fault.stall(2.0))
            else:
                a.enqueue(*[Fault.http_status(500)] * 3)
                b.enqueue(*[Fault.http_status(500)] * 3)

        with builder.build() as client:
            arm()
            _fail(client)  # warm: lazy imports, pools
            with _collected() as garbage:
                for _ in range(3):
                    arm()
                    _fail(client)
    heavy = (BaseException, types.TracebackType, types.FrameType, Attempt)
    assert [type(o).__name__ for o in garbage if isinstance(o, heavy)] == []


@pytest.mark.parametrize("shape", ["hedge wins", "every branch fails"])
def test_a_hedged_call_leaves_no_cycle(shape):
    """A hedged call whose hedge beats a stalled primary (the loser cancelled), or whose every branch fails, leaves no error, frame, attempt or race for the garbage collector."""
    from ailib import HedgePolicy
    from ailib.call.race import Race

    with MockProvider() as a, MockProvider() as b:
        builder = _retrying(a.provider()).with_failover_chain([b.provider()]).with_hedging(HedgePolicy(delay=0.02))

        def call(client) -> None:
            if shape == "hedge wins":
                a.enqueue(Fault.delay(0.5))
                assert client.chat_completion(REQ).attempts[0].outcome == "cancelled"
            else:
                a.enqueue(*[Fault.http_status(500)] * 3)
                b.enqueue(*[Fault.http_status(500)] * 3)
                _fail(client)

        with builder.build() as client:
            call(client)  # warm: lazy imports, pools, the hedger's threads
            time.sleep(0.6)  # the warm-up's loser has ended
            with _collected() as garbage:
                for _ in range(3):
                    call(client)
                time.sleep(0.6)  # every loser has ended and dropped what it held
    heavy = (BaseException, types.TracebackType, types.FrameType, Attempt, Race)  # tenacity's own cycle may hold the rest
    assert [type(o).__name__ for o in garbage if isinstance(o, heavy)] == []
