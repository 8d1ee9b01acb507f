"""Spend caps (``AiClientBuilder.with_budget``): checked before sending, counted with the true cost."""

from __future__ import annotations

import pickle
import threading

import pytest

from ailib import (
    AiClientBuilder,
    AiLibError,
    BudgetExceededError,
    ChatCompletionRequest,
    ConfigurationError,
    FallbackChain,
    Message,
    Usage,
)
from ailib.call.usage import Price
from ailib.state import MemoryStateStore
from ailib.testing import Fault, MockProvider, Reply

from ..conftest import FAST_RETRY

PRICES = {"mock-model": (100.0, 200.0), "cheap-model": (1.0, 2.0)}  # USD per million tokens
ONE_CALL = (10 * 100.0 + 5 * 200.0) / 1e6  # the mock's default usage: 10 prompt, 5 completion tokens


def _req(text: str = "hi", **kw: object) -> ChatCompletionRequest:
    return ChatCompletionRequest("auto", [Message.user(text)], max_tokens=5, **kw)  # type: ignore[arg-type]


def _client(mock: MockProvider, usd: float, **kw: object):
    b = AiClientBuilder(mock.provider()).with_retry(FAST_RETRY).with_prices(PRICES).with_budget(usd, **kw)  # type: ignore[arg-type]
    return b.build()


def test_a_budget_of_a_cent_stops_a_batch_before_the_call_that_would_exceed_it(mock):
    """Done-when of issue 26: a $0.01 budget answers calls until the next one's estimate does not
    fit, refuses the rest without sending them, and the spend recorded is the sum of the costs."""
    client = _client(mock, 0.01)
    results = client.chat_completion_batch([_req(f"q{i}") for i in range(10)], concurrency=1)
    answered = [r for r in results if not isinstance(r, AiLibError)]
    refused = [r for r in results if isinstance(r, BudgetExceededError)]
    assert len(answered) + len(refused) == 10 and answered and refused
    assert len(mock.requests) == len(answered)  # nothing refused was sent
    assert client.spent_usd() == pytest.approx(sum(r.cost for r in answered), abs=1e-15)
    assert client.spent_usd() <= 0.01
    first = refused[0]
    assert first.spent_usd + first.estimate_usd > first.limit_usd == 0.01
    assert first.spent_usd == pytest.approx(client.spent_usd(), abs=1e-15)


def test_the_true_cost_counts_cached_and_reasoning_tokens(mock_usage):
    """The spend adds each answer's cost as priced from its reported usage: cached reads at the
    cached price, reasoning as output, so it equals response.cost, not a plain in/out product."""
    client = _client(mock_usage, 1.0)
    resp = client.chat_completion(_req())
    usage = Usage(1000, 300, 1300, cached_tokens=800, reasoning_tokens=200)
    assert resp.usage.cached_tokens == 800 and resp.usage.reasoning_tokens == 200
    expected = Price(100.0, 200.0).usage_cost(usage)
    assert resp.cost == pytest.approx(expected) and client.spent_usd() == pytest.approx(expected)
    assert expected < Price(100.0, 200.0).cost(1000, 300)  # the cached reads made it cheaper


@pytest.fixture
def mock_usage():
    reply = Reply("hello", prompt_tokens=1000, completion_tokens=300, cached_tokens=800, reasoning_tokens=200)
    with MockProvider(reply=reply) as m:
        yield m


def test_the_error_is_not_retried_carries_a_skipped_attempt_and_pickles(mock):
    """An over-budget call raises BudgetExceededError at once: not retryable, no request sent,
    its attempts hold one 'skipped' record, and it survives a pickle round trip."""
    client = _client(mock, 0.0)
    with pytest.raises(BudgetExceededError) as info:
        client.chat_completion(_req())
    err = info.value
    assert not err.is_retryable() and mock.requests == []
    assert [a.outcome for a in err.attempts] == ["skipped"] and err.attempts[0].error is not None
    again = pickle.loads(pickle.dumps(err))
    assert isinstance(again, BudgetExceededError) and again.limit_usd == 0.0


def test_plain_failover_does_not_move_on_after_the_budget_refuses():
    """A failover chain stops at BudgetExceededError: the second provider receives nothing."""
    with MockProvider() as a, MockProvider() as b:
        client = AiClientBuilder(a.provider("a")).with_failover_chain([b.provider("b")]).with_prices(PRICES).with_budget(0.0).build()
        with pytest.raises(BudgetExceededError):
            client.chat_completion(_req())
        assert a.requests == [] and b.requests == []


def test_a_fallback_chain_moves_on_only_at_a_step_that_asks_for_it(mock):
    """With the cap too small for mock-model, an always() step does not take the refusal, but an
    on_condition step matching BudgetExceededError goes on to the cheaper model, which fits."""
    usd = ONE_CALL / 2
    over = FallbackChain().primary("mock-model").always("cheap-model")
    client = AiClientBuilder(mock.provider()).with_prices(PRICES).fallback(over).with_budget(usd).build()
    with pytest.raises(BudgetExceededError):
        client.chat_completion(_req())
    assert mock.requests == []
    asked = FallbackChain().primary("mock-model").on_condition(lambda e: isinstance(e, BudgetExceededError)).fallback("cheap-model")
    client = AiClientBuilder(mock.provider()).with_prices(PRICES).fallback(asked).with_budget(usd).build()
    resp = client.chat_completion(_req())
    assert [r.json["model"] for r in mock.requests] == ["cheap-model"]
    assert [a.outcome for a in resp.attempts] == ["skipped", "ok"]


def test_on_error_naming_the_budget_error_moves_on_but_plain_on_error_does_not(mock):
    """on_error("cheap-model") (provider failures) does not take a budget refusal;
    on_error(BudgetExceededError, "cheap-model") does, and the cheaper model answers."""
    usd = ONE_CALL / 2
    plain = FallbackChain().primary("mock-model").on_error("cheap-model")
    client = AiClientBuilder(mock.provider()).with_prices(PRICES).fallback(plain).with_budget(usd).build()
    with pytest.raises(BudgetExceededError):
        client.chat_completion(_req())
    assert mock.requests == []
    named = FallbackChain().primary("mock-model").on_error(BudgetExceededError, "cheap-model")
    client = AiClientBuilder(mock.provider()).with_prices(PRICES).fallback(named).with_budget(usd).build()
    assert client.chat_completion(_req()).text
    assert [r.json["model"] for r in mock.requests] == ["cheap-model"]


@pytest.mark.parametrize("errors", [ValueError, (), "BudgetExceededError", (BudgetExceededError, int)])
def test_on_error_refuses_what_is_not_an_error_class(errors):
    """on_error(errors, model) takes an AiLibError class or a tuple of them."""
    with pytest.raises(ConfigurationError):
        FallbackChain().primary("m").on_error(errors, "n")


def test_a_budget_needs_prices_and_refuses_a_model_without_one(mock):
    """with_budget without any price table is a ConfigurationError at build(); a call to a model
    the table does not price is refused before sending (ConfigurationError)."""
    with pytest.raises(ConfigurationError, match="needs prices"):
        AiClientBuilder(mock.provider()).with_budget(1.0).build()
    client = _client(mock, 1.0)
    with pytest.raises(ConfigurationError, match="no price for mock/unpriced"):
        client.chat_completion(ChatCompletionRequest("unpriced", [Message.user("hi")]))
    assert mock.requests == []


@pytest.mark.parametrize("usd", [-1, float("inf"), float("nan"), "1", True])
def test_with_budget_refuses_a_bad_amount(usd):
    """The cap must be a finite number of USD >= 0."""
    with pytest.raises(ConfigurationError):
        AiClientBuilder("openai").with_budget(usd)


def test_a_failed_attempt_releases_its_hold(mock):
    """An attempt that fails costs nothing: after a 500 and a retry, only the answer is spent,
    and a cap that fits exactly one estimate is not used up by the failed attempt's hold."""
    client = _client(mock, 1.0)
    mock.enqueue(Fault.http_status(500))
    resp = client.chat_completion(_req())
    assert [a.outcome for a in resp.attempts] == ["error", "ok"]
    assert client.spent_usd() == pytest.approx(ONE_CALL)
    assert client.budget().ledger.held() == 0.0


def test_threads_never_spend_past_the_cap():
    """Eight threads racing for a cap of a few calls to a slow mock: holds make the check atomic,
    so spent + held never passes the cap while calls are in flight (seen from before_attempt,
    once each call's hold is taken), and only admitted calls are sent."""
    seen: list[float] = []
    with MockProvider(latency=0.02) as mock:
        holder: list = []

        def before(request, provider, model) -> None:
            ledger = holder[0].budget().ledger
            seen.append(ledger.spent() + ledger.held())

        b = AiClientBuilder(mock.provider()).with_prices(PRICES).with_budget(0.02).with_hooks(before_attempt=before)
        client = b.build()
        holder.append(client)
        ok, refused = [], []
        lock = threading.Lock()

        def work() -> None:
            for i in range(6):
                try:
                    r = client.chat_completion(_req(f"x{i}"))
                except BudgetExceededError as e:
                    with lock:
                        refused.append(e)
                else:
                    with lock:
                        ok.append(r)

        threads = [threading.Thread(target=work) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert ok and refused and len(ok) + len(refused) == 48
        assert len(mock.requests) == len(ok) == len(seen)
        assert max(seen) <= 0.02 + 1e-12
        assert client.spent_usd() == pytest.approx(sum(r.cost for r in ok)) and client.spent_usd() <= 0.02


def test_clients_of_one_store_share_the_spend(mock):
    """Two clients whose budgets use the same MemoryStateStore draw on one spend; each keeps its
    own cap; a client without store= spends alone."""
    store = MemoryStateStore()
    a, b = _client(mock, 1.0, store=store), _client(mock, 1.0, store=store)
    alone = _client(mock, 1.0)
    a.chat_completion(_req())
    b.chat_completion(_req())
    assert a.spent_usd() == b.spent_usd() == pytest.approx(2 * ONE_CALL)
    assert alone.spent_usd() == 0.0
    tight = _client(mock, 2 * ONE_CALL, store=store)
    with pytest.raises(BudgetExceededError):
        tight.chat_completion(_req())


def test_views_and_fallback_chain_clients_spend_from_the_same_budget(mock):
    """with_options views and fallback_chain() clients share their parent's cap: none escapes it."""
    client = _client(mock, 1.0)
    client.with_options(timeout=5).chat_completion(_req())
    (single,) = client.fallback_chain()
    single.chat_completion(_req())
    assert client.spent_usd() == pytest.approx(2 * ONE_CALL) and single.budget() is client.budget()
    client.budget().reset()
    assert client.spent_usd() == 0.0 and client.budget().remaining_usd() == 1.0


def test_a_stream_is_charged_its_estimate_then_its_true_cost():
    """A stream holds its estimate from the commit point; when it ends with usage, the spend is
    corrected to its true cost (the same as stream.cost)."""
    with MockProvider() as mock:
        client = _client(mock, 1.0)
        with client.chat_completion_stream(_req(extra={"stream_options": {"include_usage": True}})) as stream:
            first = next(iter(stream))
            assert first is not None
            during = client.spent_usd()
            for _ in stream:
                pass
        assert stream.usage is not None and stream.cost == pytest.approx(ONE_CALL)
        assert during > ONE_CALL  # the estimate, larger than the true cost here
        assert client.spent_usd() == pytest.approx(ONE_CALL)


def test_spent_usd_without_a_budget_sums_priced_answers(mock):
    """Without a budget, spent_usd() is the sum of this client's priced answers (0.0 unpriced)."""
    client = AiClientBuilder(mock.provider()).with_prices(PRICES).build()
    client.chat_completion(_req())
    client.chat_completion(_req())
    assert client.budget() is None and client.spent_usd() == pytest.approx(2 * ONE_CALL)
    assert AiClientBuilder(mock.provider()).build().spent_usd() == 0.0


def test_a_hedge_that_does_not_fit_is_skipped_and_the_primary_answers():
    """With room for one call's estimate, a hedge fired while the primary holds it is refused
    (a skipped hedge attempt, nothing sent) and the primary's answer is the call's."""
    from ailib import HedgePolicy

    with MockProvider(latency=0.2) as mock:
        client = AiClientBuilder(mock.provider()).with_prices(PRICES).with_budget(0.004).with_hedging(HedgePolicy(delay=0.05)).build()
        resp = client.chat_completion(_req())
        client.close()
    assert [(a.outcome, a.hedge) for a in resp.attempts] == [("ok", False), ("skipped", True)]
    assert isinstance(resp.attempts[1].error, BudgetExceededError)
    assert len(mock.requests) == 1 and client.spent_usd() == pytest.approx(ONE_CALL)


def test_a_pickled_client_without_a_store_has_the_same_cap_and_its_own_spend(mock):
    """Pickled (for a worker process), a client whose budget has no store keeps its cap and
    starts its own spend at 0; lambda hooks, which cannot be pickled, stay behind with a warning."""
    client = AiClientBuilder(mock.provider()).with_prices(PRICES).with_budget(0.5).with_hooks(after_call=lambda *a: None).build()
    client.chat_completion(_req())
    with pytest.warns(RuntimeWarning, match="without its hooks"):
        copy = pickle.loads(pickle.dumps(client))
    assert copy.budget().limit_usd == 0.5 and copy.spent_usd() == 0.0
    assert copy.budget() is not client.budget() and client.spent_usd() == pytest.approx(ONE_CALL)
