"""Shared fixtures: loopback mock providers, clients over them, a fake clock."""

from __future__ import annotations

import logging
import signal
from collections.abc import Iterator

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
