"""What ailib logs on the "ailib" logger."""

from __future__ import annotations

import logging

import pytest

from ailib import AiClientBuilder, ChatCompletionRequest, CircuitBreakerPolicy, FallbackChain, Message, RetryPolicy
from ailib.errors import AllProvidersFailedError, CircuitOpenError, ProviderError
from ailib.testing import Fault, MockProvider

REQ = ChatCompletionRequest("auto", [Message.user("hi")])


def info_lines(caplog) -> list:
    return [r.getMessage() for r in caplog.records if r.name == "ailib" and r.levelno == logging.INFO]


def test_one_info_line_per_failed_attempt(mock, caplog):
    """Two failed attempts then success: exactly two INFO lines, each naming the error."""
    caplog.set_level(logging.INFO, logger="ailib")
    mock.enqueue(Fault.http_status(503), Fault.http_status(502))
    with AiClientBuilder(mock.provider()).with_retry(RetryPolicy(initial_delay=0.01)).build() as client:
        client.chat_completion(REQ)
    lines = info_lines(caplog)
    assert len(lines) == 2 and all("ProviderError" in line for line in lines)


def test_fallback_and_circuit_changes_are_logged(caplog):
    """A fallback step and a circuit opening each log one INFO line."""
    caplog.set_level(logging.INFO, logger="ailib")
    with MockProvider() as mock:
        builder = AiClientBuilder(mock.provider()).without_retry().fallback(FallbackChain().always("backup-model"))
        with builder.with_circuit_breaker(CircuitBreakerPolicy(failure_threshold=1)).build() as client:
            mock.enqueue(Fault.http_status(500))
            # the 500 opens the one breaker of the endpoint; the fallback step then meets it open
            with pytest.raises(AllProvidersFailedError) as info:
                client.chat_completion(REQ)
    assert [type(e) for e in info.value.errors] == [ProviderError, CircuitOpenError]
    lines = info_lines(caplog)
    assert any(line.startswith("fallback step always") for line in lines)
    assert any("circuit for mock: closed -> open" in line for line in lines)


def test_debug_logs_request_details_redacted(mock, caplog):
    """DEBUG shows the request line with credentials replaced by ***."""
    caplog.set_level(logging.DEBUG, logger="ailib")
    with AiClientBuilder(mock.provider(api_key="sk-log-test-0123456789")).build() as client:
        client.chat_completion(REQ)
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert any("POST" in line and "'Authorization': '***'" in line for line in debug)
    assert "sk-log-test-0123456789" not in caplog.text
