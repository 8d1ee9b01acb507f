"""Provider batch mode against the mock's batch APIs: life cycle, matching, errors, splitting, cost, resume, auto."""

from __future__ import annotations

import json

import pytest

from ailib import AiClientBuilder, ChatCompletionRequest, ConfigurationError, InvalidRequestError, Message, ProviderError, RetryPolicy
from ailib import TimeoutError as AiTimeoutError
from ailib.batch import BatchProgress, _wire, read_checkpoint, run_batch
from ailib.testing import Fault, MockProvider
from ailib.testing._batch_api import batch_api

FORMATS = ["openai", "anthropic", "gemini"]
POLL = 0.02


def reqs(n: int) -> list[ChatCompletionRequest]:
    return [ChatCompletionRequest("auto", [Message.user(f"q{i}")]) for i in range(n)]


def client_for(mock: MockProvider, **kw):
    b = AiClientBuilder(mock.provider()).with_retry(RetryPolicy(max_attempts=3, initial_delay=0.001, max_delay=0.01, retry_budget=None))
    if kw.get("prices"):
        b = b.with_prices(kw["prices"])
    return b.build()


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_result_goes_to_its_request_and_failures_are_classified(fmt, tmp_path):
    """30 requests in one provider batch: shuffled results land by custom_id; the 500s become ProviderError(500); one batch."""
    with MockProvider(fmt) as mock:
        api = batch_api(mock).configure(duration=0.2, fail_fraction=0.2)
        with client_for(mock) as client:
            results = run_batch(client, reqs(30), mode="provider", checkpoint=tmp_path / "out.jsonl", poll_interval=POLL)
        assert api.created == 1 and mock.request_count == 0
    failed = [r for r in results if isinstance(r, Exception)]
    assert 0 < len(failed) < 30
    assert all(isinstance(e, ProviderError) and e.status_code == 500 for e in failed)
    for i, r in enumerate(results):
        if not isinstance(r, Exception):
            assert r.text == f"re: q{i}"
            assert len(r.attempts) == 1 and r.attempts[0].outcome == "ok"
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["index"] for r in records] == list(range(30))


def test_cost_reflects_the_batch_discount():
    """With prices configured, a provider-batch answer costs half of what the same live call costs."""
    prices = {"mock-model": (1.0, 2.0)}
    with MockProvider("openai") as mock:
        batch_api(mock).configure(duration=0.05)
        with client_for(mock, prices=prices) as client:
            live = client.chat_completion(reqs(1)[0])
            batched = run_batch(client, reqs(3), mode="provider", poll_interval=POLL)
    assert live.cost is not None and live.cost > 0
    assert all(r.cost == pytest.approx(live.cost / 2) for r in batched)


def test_jobs_over_the_providers_limit_are_split(monkeypatch):
    """With a 10-request limit per batch, 25 requests go out as 3 batches and every answer comes back."""
    monkeypatch.setattr(_wire.OpenAIBatch, "max_requests", 10)
    with MockProvider("openai") as mock:
        api = batch_api(mock).configure(duration=0.05)
        with client_for(mock) as client:
            results = run_batch(client, reqs(25), mode="provider", poll_interval=POLL)
        sizes = sorted(len(b["entries"]) for b in api.batches.values())
    assert sizes == [5, 10, 10]
    assert [r.text for r in results] == [f"re: q{i}" for i in range(25)]


def test_an_expired_batch_ends_its_requests_with_retryable_timeouts():
    """A batch that expires before its requests ran gives each a retryable TimeoutError."""
    with MockProvider("openai") as mock:
        batch_api(mock).configure(duration=0.1, expire=True)
        with client_for(mock) as client:
            results = run_batch(client, reqs(5), mode="provider", poll_interval=POLL)
    assert all(isinstance(r, AiTimeoutError) and r.is_retryable() for r in results)


class _InterruptWhenRunning:
    def __init__(self) -> None:
        self.fired = False

    def __call__(self, event: BatchProgress) -> None:
        if "running" in event.status and not self.fired:
            self.fired = True
            raise KeyboardInterrupt


@pytest.mark.parametrize("fmt", FORMATS)
def test_ctrl_c_then_rerun_resumes_the_same_remote_batch(fmt, tmp_path):
    """Ctrl-C while a batch runs, then the same call again: polling resumes on that batch; nothing is submitted twice."""
    ckpt = tmp_path / "out.jsonl"
    with MockProvider(fmt) as mock:
        api = batch_api(mock).configure(duration=0.3)
        with client_for(mock) as client:
            with pytest.raises(KeyboardInterrupt):
                run_batch(client, reqs(20), mode="provider", checkpoint=ckpt, progress=_InterruptWhenRunning(), poll_interval=POLL)
            jobs = [json.loads(line)["job"] for line in ckpt.read_text().splitlines() if '"job"' in line]
            assert jobs and jobs[-1]["batch_id"]
            results = run_batch(client, reqs(20), mode="provider", checkpoint=ckpt, poll_interval=POLL)
        assert api.created == 1 and api.uploads == (1 if fmt == "openai" else 0)
    assert [r.text for r in results] == [f"re: q{i}" for i in range(20)]
    assert len(read_checkpoint(ckpt)) == 20


@pytest.mark.parametrize("fmt", FORMATS)
def test_cancel_remote_cancels_the_batch_on_ctrl_c(fmt, tmp_path):
    """cancel_remote=True: Ctrl-C cancels the remote batch; the next run submits a new one and completes."""
    ckpt = tmp_path / "out.jsonl"
    with MockProvider(fmt) as mock:
        api = batch_api(mock).configure(duration=0.3)
        with client_for(mock) as client:
            with pytest.raises(KeyboardInterrupt):
                run_batch(
                    client,
                    reqs(10),
                    mode="provider",
                    checkpoint=ckpt,
                    progress=_InterruptWhenRunning(),
                    poll_interval=POLL,
                    cancel_remote=True,
                )
            (first,) = api.batches.values()
            assert first["cancelled"] is not None
            results = run_batch(client, reqs(10), mode="provider", checkpoint=ckpt, poll_interval=POLL)
        assert api.created == 2
    assert [r.text for r in results] == [f"re: q{i}" for i in range(10)]


def test_auto_retries_the_batch_500s_live_and_they_succeed():
    """mode=auto, 200 requests, 5% fail with 500 in the provider batch: exactly those go live and succeed."""
    with MockProvider("openai", script=lambda i, rec: Fault.ok("re: " + rec.json["messages"][-1]["content"])) as mock:
        api = batch_api(mock).configure(duration=0.1, fail_fraction=0.05)
        with client_for(mock) as client:
            results = run_batch(client, reqs(200), mode="auto", auto_threshold=100, poll_interval=POLL)
        (b,) = api.batches.values()
        failed_in_batch = sum(api.fails(b, e["custom_id"]) for e in b["entries"])
        live_calls = mock.request_count
    assert failed_in_batch > 0
    assert live_calls == failed_in_batch
    assert [r.text for r in results] == [f"re: q{i}" for i in range(200)]


def test_auto_runs_a_small_job_live():
    """mode=auto below the threshold: no batch is created, every request is a live call."""
    with MockProvider("openai") as mock:
        api = batch_api(mock)
        with client_for(mock) as client:
            results = run_batch(client, reqs(5), mode="auto", auto_threshold=100)
        assert api.created == 0 and mock.request_count == 5
    assert all(not isinstance(r, Exception) for r in results)


def test_provider_mode_without_a_batch_api_is_a_configuration_error():
    """A provider whose wire format has no batch API (cohere) refuses provider mode before sending."""
    with MockProvider("cohere") as mock:
        with client_for(mock) as client:
            with pytest.raises(ConfigurationError):
                run_batch(client, reqs(2), mode="provider")
        assert mock.request_count == 0


@pytest.mark.parametrize("fmt", ["openai", "gemini"])
def test_a_rejected_batch_fails_its_requests_in_provider_mode(fmt):
    """A batch the provider fails as a whole ends each of its requests with InvalidRequestError, none sent live."""
    with MockProvider(fmt) as mock:
        batch_api(mock).configure(duration=0.05, reject=True)
        with client_for(mock) as client:
            results = run_batch(client, reqs(4), mode="provider", poll_interval=POLL)
        assert mock.request_count == 0
    assert all(isinstance(r, InvalidRequestError) for r in results)


def test_auto_runs_a_rejected_batch_live():
    """mode=auto: when the provider fails the whole batch, its requests run live and succeed."""
    with MockProvider("openai", script=lambda i, rec: Fault.ok("re: " + rec.json["messages"][-1]["content"])) as mock:
        batch_api(mock).configure(duration=0.05, reject=True)
        with client_for(mock) as client:
            results = run_batch(client, reqs(120), mode="auto", poll_interval=POLL)
        assert mock.request_count == 120
    assert [r.text for r in results] == [f"re: q{i}" for i in range(120)]


def test_a_responses_only_model_runs_live_beside_a_provider_batch():
    """mode="provider" on OpenAI (wire_api "auto"): the requests to a model served only by the Responses API run
    live on /v1/responses (the batch files speak chat completions); the others go in one provider batch."""
    from ailib import ConnectionOptions, Provider

    with MockProvider("openai", api_key="sk-batch-0123456789") as mock:
        api = batch_api(mock).configure(duration=0.05)
        options = ConnectionOptions(api_key="sk-batch-0123456789", base_url=mock.base_url)
        requests = [ChatCompletionRequest("gpt-5-pro" if i % 3 == 0 else "gpt-4o-mini", [Message.user(f"q{i}")]) for i in range(6)]
        with AiClientBuilder(Provider.OPENAI).with_connection_options(options).build() as client:
            results = run_batch(client, requests, mode="provider", poll_interval=POLL)
        live_paths = [r.path.split("?", 1)[0] for r in mock.chat_requests]
    assert api.created == 1
    assert all(not isinstance(r, Exception) for r in results), results
    assert sorted(live_paths) == ["/v1/responses", "/v1/responses"]  # requests 0 and 3, live
