"""Shared fixtures (loopback mock providers, clients over them, a fake clock) and two rules
of the whole suite:

- **No test takes more than 15 s** (setup, call and teardown together; ``AILIB_TEST_MAX_SECONDS``
  sets another limit): a test over it fails, naming its phases' times.
- **Tests marked ``alone`` run while no other test runs.** ``scripts/test`` runs the suite on
  several processes (pytest-xdist); a test that loads the machine on purpose (hundreds of
  threads, several interpreters) or measures scheduling precisely takes a lock that the other
  processes' tests share, so it never overlaps one of them. The lock is a file: the processes
  of one run share the one the first of them made, and runs given the same
  ``AILIB_TEST_LOCK`` (``.ci/run``'s interpreters) share it across runs too.
"""

from __future__ import annotations

import logging
import os
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from ailib import AiClientBuilder, ChatCompletionRequest, Message, RetryPolicy
from ailib.testing import FakeClock, MockProvider

# A shell that starts the suite in the background without job control (`bash script &`,
# some CI runners) ignores SIGINT, and Python then installs no KeyboardInterrupt handler,
# here or in any process a test starts: the Ctrl-C tests (batch, CLI, mock server) could not
# send one. Restore Python's own handler; children then start with the default disposition.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

FAST_RETRY = RetryPolicy(initial_delay=0.01, max_delay=0.05)
SECRET = "sk-test-SECRET-0123456789abcdef"


@pytest.fixture
def mock() -> Iterator[MockProvider]:
    with MockProvider() as m:
        yield m


@pytest.fixture
def client(mock: MockProvider):
    """A client over ``mock`` with fast retries (real sleeps, but short)."""
    c = AiClientBuilder(mock.provider(api_key=SECRET)).with_retry(FAST_RETRY).build()
    yield c
    c.close()


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def req() -> ChatCompletionRequest:
    return ChatCompletionRequest("auto", [Message.user("hi")])


@pytest.fixture
def ailib_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger="ailib")
    return caplog


# -- the time limit per test -------------------------------------------------------------------
MAX_TEST_SECONDS = float(os.environ.get("AILIB_TEST_MAX_SECONDS", "15"))
_PHASES = pytest.StashKey[dict]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """A test whose setup, call and teardown took more than ``MAX_TEST_SECONDS`` together fails
    (in its call phase, or in its teardown when that is what crossed the limit)."""
    outcome = yield
    report = outcome.get_result()
    phases = item.stash.setdefault(_PHASES, {})
    spent_before = sum(phases.values())
    phases[report.when] = report.duration
    if report.when == "setup" or not report.passed or spent_before + report.duration <= MAX_TEST_SECONDS:
        return
    if report.when == "teardown" and spent_before > MAX_TEST_SECONDS:
        return  # already failed in its call phase
    times = ", ".join(f"{when} {seconds:.1f} s" for when, seconds in phases.items())
    report.outcome = "failed"
    report.longrepr = (
        f"took {sum(phases.values()):.1f} s ({times}): over the {MAX_TEST_SECONDS:g} s limit per test (AILIB_TEST_MAX_SECONDS)"
    )


# -- tests that run alone -----------------------------------------------------------------------
_MADE_LOCK = pytest.StashKey[str]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "alone: runs while no other test runs (it loads the machine or measures scheduling)")
    if not os.environ.get("AILIB_TEST_LOCK") and not hasattr(config, "workerinput"):
        # the first process of the run (not an xdist worker) makes the lock file; its workers
        # inherit the variable
        fd, path = tempfile.mkstemp(prefix="ailib-tests-", suffix=".lock")
        os.close(fd)
        os.environ["AILIB_TEST_LOCK"] = path
        config.stash[_MADE_LOCK] = path


def pytest_unconfigure(config: pytest.Config) -> None:
    while _turns:  # every process (workers too) closes its lock files
        _turns.pop().close()
    path = config.stash.get(_MADE_LOCK, None)
    if path is not None:
        del os.environ["AILIB_TEST_LOCK"]
        for name in (path, path + ".gate"):
            try:
                os.unlink(name)
            except FileNotFoundError:
                pass


class _Turns:
    """A readers-writer lock between processes, on two files: every test holds ``main`` shared,
    a test marked ``alone`` holds it exclusively. ``gate`` makes a waiting ``alone`` test go
    first: while it waits for the running tests to end, no other test starts."""

    def __init__(self, path: str) -> None:
        self.main = open(path, "ab")  # both held open for the whole run
        self.gate = open(path + ".gate", "ab")

    def close(self) -> None:
        self.main.close()
        self.gate.close()

    @contextmanager
    def turn(self, alone: bool) -> Iterator[None]:
        import fcntl

        fcntl.flock(self.gate, fcntl.LOCK_EX)
        try:
            fcntl.flock(self.main, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        finally:
            fcntl.flock(self.gate, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(self.main, fcntl.LOCK_UN)


_turns: list[_Turns] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """Every test holds its turn from setup to teardown (the wait for it is no part of its time)."""
    path = os.environ.get("AILIB_TEST_LOCK")
    if not path or os.name != "posix":
        yield
        return
    if not _turns:
        _turns.append(_Turns(path))
    with _turns[0].turn(item.get_closest_marker("alone") is not None):
        yield
