"""Per-call hooks (``AiClientBuilder.with_hooks``): called around each attempt and call, never breaking it."""

from __future__ import annotations

import logging
import threading

import pytest

from ailib import AiClientBuilder, BudgetExceededError, ChatCompletionRequest, ConfigurationError, HedgePolicy, Message, ProviderError
from ailib.call.stream import ChatStream
from ailib.metrics import InMemoryMetrics
from ailib.testing import Fault, MockProvider

from ..conftest import FAST_RETRY


def _req(**kw: object) -> ChatCompletionRequest:
    return ChatCompletionRequest("auto", [Message.user("hi")], **kw)  # type: ignore[arg-type]


def _recording(events: list) -> dict:
    return dict(
        before_attempt=lambda request, provider, model: events.append(("before", request.tags, provider, model)),
        after_attempt=lambda request, attempt: events.append(("after", attempt.outcome)),
        after_call=lambda request, response, error: events.append(("call", type(response).__name__, type(error).__name__)),
    )


def test_hooks_see_each_attempt_and_the_call_in_order(mock):
    """A call retried once: before/after for the failed attempt, before/after for the answer, then
    after_call with the response and no error, all with the request as sent (tags merged)."""
    events: list = []
    client = AiClientBuilder(mock.provider()).with_retry(FAST_RETRY).with_hooks(**_recording(events)).build()
    mock.enqueue(Fault.http_status(500))
    resp = client.with_options(tags={"job": "j"}).chat_completion(_req())
    assert resp.text
    assert events == [
        ("before", {"job": "j"}, "mock", "mock-model"),
        ("after", "error"),
        ("before", {"job": "j"}, "mock", "mock-model"),
        ("after", "ok"),
        ("call", "ChatCompletionResponse", "NoneType"),
    ]


def test_after_call_gets_the_error_of_a_failed_call(mock):
    """A call that fails calls after_call(request, None, error) with the error it raises."""
    got: list = []
    client = AiClientBuilder(mock.provider()).without_retry().with_hooks(after_call=lambda *a: got.append(a)).build()
    mock.enqueue(Fault.http_status(500))
    with pytest.raises(ProviderError) as info:
        client.chat_completion(_req())
    ((request, response, error),) = got
    assert response is None and error is info.value and request.messages[0].text() == "hi"


def test_a_refused_attempt_is_seen_as_skipped(mock):
    """An attempt the budget refuses is never sent: no before_attempt, an after_attempt with
    outcome 'skipped', and after_call with the BudgetExceededError."""
    events: list = []
    client = AiClientBuilder(mock.provider()).with_prices({"mock-model": (1, 1)}).with_budget(0).with_hooks(**_recording(events)).build()
    with pytest.raises(BudgetExceededError):
        client.chat_completion(_req())
    assert events == [("after", "skipped"), ("call", "NoneType", "BudgetExceededError")]


def test_a_stream_calls_after_call_at_its_commit_point(mock):
    """For a stream, after_call gets the ChatStream once it reached its first content."""
    events: list = []
    client = AiClientBuilder(mock.provider()).with_hooks(**_recording(events)).build()
    with client.chat_completion_stream(_req()) as stream:
        assert events[-1] == ("call", "ChatStream", "NoneType") and isinstance(stream, ChatStream)
        assert "".join(c.delta_text or "" for c in stream)


def test_a_raising_hook_never_breaks_the_call_and_is_logged_once(mock, ailib_logs):
    """Hooks that raise: every call still answers, the first failure of each hook is a WARNING
    with its traceback, later ones DEBUG, and each is counted as hook.error."""
    metrics = InMemoryMetrics()

    def boom(*args: object) -> None:
        raise RuntimeError("hook bug")

    client = AiClientBuilder(mock.provider()).with_metrics(metrics).with_hooks(boom, boom, boom).build()
    for _ in range(3):
        assert client.chat_completion(_req()).text
    warnings = [r for r in ailib_logs.records if r.levelno == logging.WARNING and "hook" in r.getMessage()]
    assert sorted(r.getMessage().split()[2] for r in warnings) == ["after_attempt", "after_call", "before_attempt"]
    assert all(r.exc_info and r.exc_info[0] is RuntimeError for r in warnings)
    assert metrics.counter("hook.error") == 9 and metrics.counter("hook.error", hook="after_call") == 3


def test_with_hooks_refuses_what_is_not_callable():
    """A hook must be a callable or None."""
    with pytest.raises(ConfigurationError):
        AiClientBuilder("openai").with_hooks(before_attempt="print")  # type: ignore[arg-type]


def test_a_hedges_attempt_hooks_run_on_another_thread():
    """A hedged call's second attempt runs (and calls its hooks) on a hedger thread; after_call
    runs on the caller's thread."""
    threads: list = []
    with MockProvider(latency=0.3) as slow:
        client = (
            AiClientBuilder(slow.provider())
            .with_hedging(HedgePolicy(delay=0.05))
            .with_hooks(
                before_attempt=lambda *a: threads.append(("before", threading.get_ident())),
                after_call=lambda *a: threads.append(("call", threading.get_ident())),
            )
            .build()
        )
        client.chat_completion(_req())
        client.close()
    me = threading.get_ident()
    befores = [t for kind, t in threads if kind == "before"]
    assert len(befores) == 2 and befores[0] == me and befores[1] != me
    assert threads[-1] == ("call", me)
