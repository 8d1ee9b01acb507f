"""CircuitBreaker: transitions, probes, stale permits, ratio mode, jitter, manual control."""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Callable

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ailib import errors
from ailib.clock import FakeClock
from ailib.errors import CircuitOpenError, ConfigurationError
from ailib.reliability.circuit import (
    CircuitBreaker,
    CircuitBreakerPolicy,
    CircuitState,
    Permit,
    is_breaker_failure,
)

CLOSED, OPEN, HALF_OPEN = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN


def make(
    clock: FakeClock | None = None,
    *,
    rng: Callable[[], float] = lambda: 0.0,
    transitions: list | None = None,
    **policy: object,
) -> tuple[CircuitBreaker, FakeClock]:
    """A breaker on a FakeClock with no jitter unless ``rng`` says otherwise."""
    clock = clock or FakeClock()
    fields = {"failure_threshold": 3, "recovery_timeout": 10.0, **policy}
    on_transition = None
    if transitions is not None:

        def on_transition(name: str, old: CircuitState, new: CircuitState) -> None:
            transitions.append((old, new))

    breaker = CircuitBreaker(
        CircuitBreakerPolicy(**fields),  # type: ignore[arg-type]
        name="ep",
        clock=clock,
        rng=rng,
        on_transition=on_transition,
    )
    return breaker, clock


def fail(breaker: CircuitBreaker, times: int = 1) -> None:
    for _ in range(times):
        breaker.record_failure(breaker.acquire())


def trip(breaker: CircuitBreaker) -> None:
    """Open a CLOSED breaker through consecutive failures."""
    fail(breaker, breaker.policy.failure_threshold)
    assert breaker.state is OPEN


def open_error(breaker: CircuitBreaker) -> CircuitOpenError:
    with pytest.raises(CircuitOpenError) as info:
        breaker.acquire()
    return info.value


# --- policy ---------------------------------------------------------------------------


def test_policy_defaults_match_the_contract() -> None:
    """CircuitBreakerPolicy() has the documented defaults."""
    p = CircuitBreakerPolicy()
    assert (p.failure_threshold, p.failure_ratio, p.window, p.min_calls) == (5, None, 30.0, 10)
    assert (p.recovery_timeout, p.half_open_max_calls, p.recovery_jitter) == (30.0, 1, 0.1)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"failure_threshold": 0},
        {"failure_threshold": 2.5},
        {"failure_threshold": True},
        {"failure_threshold": "5"},
        {"failure_ratio": 0.0},
        {"failure_ratio": 1.5},
        {"failure_ratio": math.nan},
        {"window": 0.0},
        {"window": math.inf},
        {"min_calls": 0},
        {"recovery_timeout": -1.0},
        {"half_open_max_calls": 0},
        {"recovery_jitter": -0.1},
    ],
)
def test_policy_rejects_bad_values_with_configuration_error(kwargs: dict) -> None:
    """Each invalid field value raises ConfigurationError (not TypeError/ValueError from attrs)."""
    with pytest.raises(ConfigurationError):
        CircuitBreakerPolicy(**kwargs)


def test_policy_accepts_boundary_values() -> None:
    """failure_ratio=1, recovery_timeout=0 and recovery_jitter=0 are valid."""
    p = CircuitBreakerPolicy(failure_ratio=1.0, recovery_timeout=0.0, recovery_jitter=0.0)
    assert p.failure_ratio == 1.0


def test_policy_evolve_makes_a_validated_variant() -> None:
    """attrs.evolve changes one field and still validates."""
    p = CircuitBreakerPolicy()
    assert attrs.evolve(p, failure_threshold=2).failure_threshold == 2
    with pytest.raises(ConfigurationError):
        attrs.evolve(p, failure_threshold=0)


def test_policy_is_frozen_and_keyword_only() -> None:
    """Policies are immutable and take keywords only."""
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        CircuitBreakerPolicy().failure_threshold = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        CircuitBreakerPolicy(5)  # type: ignore[misc]


def test_state_values() -> None:
    """CircuitState values are the lower-case names."""
    assert [s.value for s in CircuitState] == ["closed", "open", "half_open"]


# --- what counts ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        errors.TimeoutError("t"),
        errors.NetworkError("n"),
        errors.ProviderError("p", status_code=503),
        errors.ProtocolError("bad json"),
        errors.StreamInterruptedError("cut"),
        errors.StreamInterruptedError("cut", cause=errors.NetworkError("reset")),
    ],
)
def test_provider_side_errors_count_as_failures(error: errors.AiLibError) -> None:
    """Timeouts, network, 5xx, protocol errors and interrupted streams count against the breaker."""
    assert is_breaker_failure(error) is True


@pytest.mark.parametrize(
    "error",
    [
        errors.DeadlineExceededError("budget"),
        errors.RateLimitExceeded("429"),
        errors.QuotaExceededError("429 quota"),
        errors.InvalidRequestError("400"),
        errors.ContextLengthExceededError("too long"),
        errors.AuthenticationError("401"),
        errors.ModelNotFoundError("404"),
        errors.CircuitOpenError("open"),
        errors.LocalRateLimitError("local"),
        errors.ConfigurationError("cfg"),
        errors.StreamInterruptedError("cut", cause=errors.DeadlineExceededError("budget")),
        ValueError("not ours"),
    ],
)
def test_caller_side_errors_do_not_count(error: BaseException) -> None:
    """4xx (429 included), the caller's deadline and local fast-fails never trip the breaker."""
    assert is_breaker_failure(error) is False


# --- CLOSED ---------------------------------------------------------------------------


def test_closed_acquire_returns_a_shared_permit() -> None:
    """In CLOSED every caller gets the same non-probe permit (no allocation on the hot path)."""
    breaker, _ = make()
    a, b = breaker.acquire(), breaker.acquire()
    assert a is b
    assert isinstance(a, Permit) and not a.is_probe


def test_opens_after_exactly_threshold_consecutive_failures() -> None:
    """threshold-1 failures keep it CLOSED; the threshold-th opens it."""
    breaker, _ = make(failure_threshold=3)
    fail(breaker, 2)
    assert breaker.state is CLOSED
    fail(breaker)
    assert breaker.state is OPEN


def test_a_success_resets_the_consecutive_count() -> None:
    """Failures separated by a success are not consecutive."""
    breaker, _ = make(failure_threshold=3)
    fail(breaker, 2)
    breaker.record_success(breaker.acquire())
    fail(breaker, 2)
    assert breaker.state is CLOSED


def test_release_in_closed_changes_nothing() -> None:
    """Releasing a CLOSED permit neither counts as a success nor as a failure."""
    breaker, _ = make(failure_threshold=2)
    fail(breaker)
    breaker.release(breaker.acquire())
    fail(breaker)
    assert breaker.state is OPEN


# --- OPEN -----------------------------------------------------------------------------


def test_open_rejects_with_time_until_the_next_probe() -> None:
    """In OPEN acquire raises CircuitOpenError naming the circuit, retry_after = time left."""
    breaker, clock = make(recovery_timeout=10.0)
    trip(breaker)
    clock.advance(4.0)
    err = open_error(breaker)
    assert err.retry_after == pytest.approx(6.0)
    assert "circuit for ep is open" in str(err)


def test_open_becomes_half_open_after_recovery_timeout() -> None:
    """Exactly at the recovery time the state reads HALF_OPEN and a probe is admitted."""
    breaker, clock = make(recovery_timeout=10.0)
    trip(breaker)
    clock.advance(9.999)
    assert breaker.state is OPEN
    clock.advance(0.001)
    assert breaker.state is HALF_OPEN
    assert breaker.acquire().is_probe


def test_reading_state_does_not_transition() -> None:
    """``state`` reads HALF_OPEN-eligible as HALF_OPEN but fires no callback; acquire does."""
    transitions: list = []
    breaker, clock = make(transitions=transitions)
    trip(breaker)
    clock.advance(10.0)
    assert breaker.state is HALF_OPEN
    assert transitions == [(CLOSED, OPEN)]
    breaker.acquire()
    assert transitions == [(CLOSED, OPEN), (OPEN, HALF_OPEN)]


# --- HALF_OPEN ------------------------------------------------------------------------


def test_half_open_admits_exactly_max_calls_probes() -> None:
    """With half_open_max_calls=2, two probes are admitted and the third caller is rejected."""
    breaker, clock = make(half_open_max_calls=2)
    trip(breaker)
    clock.advance(10.0)
    probes = [breaker.acquire(), breaker.acquire()]
    assert all(p.is_probe for p in probes)
    assert probes[0].probe_id != probes[1].probe_id
    open_error(breaker)


def test_rejection_while_probing_reports_time_to_earliest_probe_expiry() -> None:
    """Callers rejected during probing get retry_after = time until the oldest probe expires."""
    breaker, clock = make()
    trip(breaker)
    clock.advance(10.0)
    breaker.acquire(probe_timeout=5.0)
    clock.advance(2.0)
    assert open_error(breaker).retry_after == pytest.approx(3.0)


def test_probe_success_closes_and_resets_counts() -> None:
    """A probe success closes the circuit with a fresh consecutive-failure count."""
    transitions: list = []
    breaker, clock = make(failure_threshold=3, transitions=transitions)
    trip(breaker)
    clock.advance(10.0)
    breaker.record_success(breaker.acquire())
    assert breaker.state is CLOSED
    assert transitions == [(CLOSED, OPEN), (OPEN, HALF_OPEN), (HALF_OPEN, CLOSED)]
    fail(breaker, 2)
    assert breaker.state is CLOSED


def test_probe_failure_reopens_with_a_fresh_recovery_window() -> None:
    """A probe failure re-opens; the next probe is a full recovery_timeout after that failure."""
    transitions: list = []
    breaker, clock = make(recovery_timeout=10.0, transitions=transitions)
    trip(breaker)
    clock.advance(10.0)
    probe = breaker.acquire()
    clock.advance(3.0)
    breaker.record_failure(probe)
    assert breaker.state is OPEN
    assert transitions[-1] == (HALF_OPEN, OPEN)
    assert open_error(breaker).retry_after == pytest.approx(10.0)


def test_releasing_a_probe_frees_its_slot_without_deciding() -> None:
    """release() of a probe keeps HALF_OPEN and lets another probe through."""
    breaker, clock = make()
    trip(breaker)
    clock.advance(10.0)
    probe = breaker.acquire()
    open_error(breaker)
    breaker.release(probe)
    assert breaker.state is HALF_OPEN
    assert breaker.acquire().is_probe


def test_twenty_threads_at_once_get_exactly_n_probes() -> None:
    """20 real threads racing in HALF_OPEN: exactly half_open_max_calls get probes, the rest CircuitOpenError."""
    breaker, clock = make(half_open_max_calls=3)
    trip(breaker)
    clock.advance(10.0)
    barrier = threading.Barrier(20)
    permits: list[Permit] = []
    rejected: list[CircuitOpenError] = []
    lock = threading.Lock()

    def worker() -> None:
        barrier.wait()
        try:
            permit = breaker.acquire()
        except CircuitOpenError as exc:
            with lock:
                rejected.append(exc)
        else:
            with lock:
                permits.append(permit)

    threads = [threading.Thread(target=worker) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(permits) == 3
    assert len(rejected) == 17
    assert len({p.probe_id for p in permits}) == 3


def test_hung_probe_expires_after_probe_timeout() -> None:
    """A probe never reported frees its slot after probe_timeout; a new probe is admitted."""
    breaker, clock = make()
    trip(breaker)
    clock.advance(10.0)
    breaker.acquire(probe_timeout=2.0)
    clock.advance(1.999)
    open_error(breaker)
    clock.advance(0.001)
    assert breaker.acquire().is_probe


def test_hung_probe_default_timeout_is_recovery_timeout() -> None:
    """Without probe_timeout a hung probe expires after recovery_timeout."""
    breaker, clock = make(recovery_timeout=10.0)
    trip(breaker)
    clock.advance(10.0)
    breaker.acquire()
    clock.advance(9.9)
    open_error(breaker)
    clock.advance(0.1)
    assert breaker.acquire().is_probe


def test_zero_recovery_timeout_probe_can_still_close() -> None:
    """With recovery_timeout=0 a probe gets a 1 s default timeout, so its success closes the circuit."""
    breaker, clock = make(recovery_timeout=0.0)
    fail(breaker, 3)
    assert breaker.state is HALF_OPEN
    probe = breaker.acquire()
    clock.advance(0.5)
    breaker.record_success(probe)
    assert breaker.state is CLOSED


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan])
def test_probe_timeout_must_be_positive(bad: float) -> None:
    """A non-positive probe_timeout is refused in every state."""
    breaker, clock = make()
    with pytest.raises(ValueError):
        breaker.acquire(probe_timeout=bad)
    trip(breaker)
    clock.advance(10.0)
    with pytest.raises(ValueError):
        breaker.acquire(probe_timeout=bad)
    assert breaker.acquire(probe_timeout=1.0).is_probe


# --- stale reports --------------------------------------------------------------------


def test_expired_probe_late_success_is_ignored() -> None:
    """A probe reporting success after it expired does not close the circuit."""
    breaker, clock = make()
    trip(breaker)
    clock.advance(10.0)
    hung = breaker.acquire(probe_timeout=1.0)
    clock.advance(1.0)
    breaker.record_success(hung)
    assert breaker.state is HALF_OPEN


def test_expired_probe_late_failure_does_not_disturb_the_new_probe() -> None:
    """After a replacement probe is issued, the expired one's failure neither re-opens nor frees a slot."""
    breaker, clock = make()
    trip(breaker)
    clock.advance(10.0)
    hung = breaker.acquire(probe_timeout=1.0)
    clock.advance(1.0)
    fresh = breaker.acquire(probe_timeout=5.0)
    breaker.record_failure(hung)
    assert breaker.state is HALF_OPEN
    open_error(breaker)  # the slot is still held by ``fresh``
    breaker.record_success(fresh)
    assert breaker.state is CLOSED


def test_closed_permit_reported_while_open_is_ignored() -> None:
    """A call started before the circuit opened cannot close it by succeeding."""
    breaker, _ = make()
    in_flight = breaker.acquire()
    trip(breaker)
    breaker.record_success(in_flight)
    assert breaker.state is OPEN


def test_closed_permit_reported_while_half_open_is_ignored() -> None:
    """Only probes decide HALF_OPEN: an old CLOSED permit's success or failure changes nothing."""
    breaker, clock = make()
    in_flight = breaker.acquire()
    trip(breaker)
    clock.advance(10.0)
    probe = breaker.acquire()
    breaker.record_success(in_flight)
    breaker.record_failure(in_flight)
    assert breaker.state is HALF_OPEN
    open_error(breaker)
    breaker.record_success(probe)
    assert breaker.state is CLOSED


def test_permit_from_before_reclose_does_not_count() -> None:
    """A failure from a permit of an earlier CLOSED period does not count after re-closing."""
    breaker, clock = make(failure_threshold=1)
    old = breaker.acquire()
    fail(breaker)
    clock.advance(10.0)
    breaker.record_success(breaker.acquire())
    assert breaker.state is CLOSED
    breaker.record_failure(old)
    assert breaker.state is CLOSED
    fail(breaker)
    assert breaker.state is OPEN


def test_stale_success_does_not_reset_the_new_count() -> None:
    """A success from a permit of an earlier CLOSED period does not reset the current failure streak."""
    breaker, clock = make(failure_threshold=2)
    old = breaker.acquire()
    trip(breaker)
    clock.advance(10.0)
    breaker.record_success(breaker.acquire())
    fail(breaker)
    breaker.record_success(old)
    fail(breaker)
    assert breaker.state is OPEN


def test_probe_reported_twice_counts_once() -> None:
    """A probe's second report (failure after success) is ignored."""
    breaker, clock = make()
    trip(breaker)
    clock.advance(10.0)
    probe = breaker.acquire()
    breaker.record_success(probe)
    breaker.record_failure(probe)
    assert breaker.state is CLOSED


def test_probe_from_an_earlier_half_open_round_is_ignored() -> None:
    """A probe issued before the last re-open cannot close the next half-open round."""
    breaker, clock = make(half_open_max_calls=2)
    trip(breaker)
    clock.advance(10.0)
    first, second = breaker.acquire(), breaker.acquire()
    breaker.record_failure(first)
    clock.advance(10.0)
    current = breaker.acquire()
    breaker.record_success(second)
    assert breaker.state is HALF_OPEN
    breaker.release(second)  # nor does releasing it free a slot of the new round
    breaker.acquire()
    open_error(breaker)
    breaker.record_success(current)
    assert breaker.state is CLOSED


# --- ratio mode -----------------------------------------------------------------------


def test_ratio_opens_when_ratio_reached_with_min_calls() -> None:
    """With failure_ratio=0.5 and min_calls=10, the 5th failure in 10 calls opens."""
    breaker, _ = make(failure_threshold=100, failure_ratio=0.5, min_calls=10)
    for _ in range(5):
        breaker.record_success(breaker.acquire())
    for _ in range(4):
        fail(breaker)
        assert breaker.state is CLOSED
    fail(breaker)
    assert breaker.state is OPEN


def test_ratio_needs_min_calls() -> None:
    """All-failing calls below min_calls do not open in ratio mode (threshold aside)."""
    breaker, _ = make(failure_threshold=100, failure_ratio=0.5, min_calls=10)
    fail(breaker, 9)
    assert breaker.state is CLOSED
    fail(breaker)
    assert breaker.state is OPEN


def test_ratio_below_threshold_stays_closed() -> None:
    """A failure ratio under failure_ratio never opens, however many calls."""
    breaker, _ = make(failure_threshold=100, failure_ratio=0.5, min_calls=10)
    for _ in range(50):
        breaker.record_success(breaker.acquire())
        breaker.record_success(breaker.acquire())
        fail(breaker)
    assert breaker.state is CLOSED


def test_ratio_forgets_calls_older_than_window() -> None:
    """Failures older than ``window`` seconds do not count toward the ratio."""
    breaker, clock = make(failure_threshold=100, failure_ratio=0.5, min_calls=10, window=30.0)
    fail(breaker, 9)
    clock.advance(30.0)
    fail(breaker)
    assert breaker.state is CLOSED
    fail(breaker, 8)
    assert breaker.state is CLOSED
    fail(breaker)
    assert breaker.state is OPEN


def test_consecutive_threshold_still_applies_in_ratio_mode() -> None:
    """failure_threshold consecutive failures open even before min_calls."""
    breaker, _ = make(failure_threshold=3, failure_ratio=0.9, min_calls=100)
    fail(breaker, 3)
    assert breaker.state is OPEN


def test_ratio_counts_reset_when_circuit_closes() -> None:
    """After a probe closes the circuit, earlier failures no longer weigh in the ratio."""
    breaker, clock = make(failure_threshold=100, failure_ratio=0.5, min_calls=4)
    fail(breaker, 4)
    clock.advance(10.0)
    breaker.record_success(breaker.acquire())
    for _ in range(2):
        breaker.record_success(breaker.acquire())
    fail(breaker)
    assert breaker.state is CLOSED


# --- jitter ---------------------------------------------------------------------------


def test_jitter_zero_draw_gives_exact_recovery_timeout() -> None:
    """rng() = 0 gives an open period of exactly recovery_timeout."""
    breaker, _ = make(recovery_timeout=10.0, recovery_jitter=0.1, rng=lambda: 0.0)
    trip(breaker)
    assert open_error(breaker).retry_after == pytest.approx(10.0)


def test_jitter_adds_its_fraction_of_recovery_timeout() -> None:
    """rng() = 0.5 with recovery_jitter=0.1 opens for 1.05 * recovery_timeout."""
    breaker, _ = make(recovery_timeout=10.0, recovery_jitter=0.1, rng=lambda: 0.5)
    trip(breaker)
    assert open_error(breaker).retry_after == pytest.approx(10.5)


def test_jitter_stays_within_bounds_with_a_real_rng() -> None:
    """With random.random the open period always lies in [rt, rt * (1 + jitter))."""
    rng = random.Random(7).random
    seen = []
    for _ in range(200):
        breaker, _ = make(recovery_timeout=10.0, recovery_jitter=0.2, rng=rng)
        trip(breaker)
        seen.append(open_error(breaker).retry_after)
    assert all(10.0 <= s < 12.0 for s in seen)
    assert max(seen) - min(seen) > 1.0  # it does spread


def test_each_reopen_draws_fresh_jitter() -> None:
    """A probe failure re-opens with a newly drawn jitter."""
    draws = iter([0.0, 1.0 - 1e-9])
    breaker, clock = make(recovery_timeout=10.0, recovery_jitter=0.5, rng=lambda: next(draws))
    trip(breaker)
    clock.advance(10.0)
    breaker.record_failure(breaker.acquire())
    assert open_error(breaker).retry_after == pytest.approx(15.0)


# --- manual control and callbacks -----------------------------------------------------


def test_isolate_holds_open_until_reset() -> None:
    """isolate() forces OPEN with no recovery; reset() closes it."""
    transitions: list = []
    breaker, clock = make(transitions=transitions)
    breaker.isolate()
    assert breaker.isolated
    clock.advance(1000.0)
    assert breaker.state is OPEN
    assert open_error(breaker).retry_after is None
    breaker.reset()
    assert breaker.state is CLOSED and not breaker.isolated
    assert not breaker.acquire().is_probe
    assert transitions == [(CLOSED, OPEN), (OPEN, CLOSED)]


def test_isolate_during_half_open_invalidates_probes() -> None:
    """isolate() in HALF_OPEN re-opens; the outstanding probe's success cannot close it."""
    breaker, clock = make()
    trip(breaker)
    clock.advance(10.0)
    probe = breaker.acquire()
    breaker.isolate()
    breaker.record_success(probe)
    assert breaker.state is OPEN


def test_reset_from_open_closes_with_fresh_counts() -> None:
    """reset() from OPEN closes at once and the failure count starts over."""
    breaker, _ = make(failure_threshold=2)
    trip(breaker)
    breaker.reset()
    assert breaker.state is CLOSED
    fail(breaker)
    assert breaker.state is CLOSED


def test_reset_when_closed_clears_counts_without_callback() -> None:
    """reset() while CLOSED zeroes the count and fires no transition."""
    transitions: list = []
    breaker, _ = make(failure_threshold=2, transitions=transitions)
    fail(breaker)
    breaker.reset()
    fail(breaker)
    assert breaker.state is CLOSED
    assert transitions == []


def test_callback_gets_name_and_runs_outside_the_lock() -> None:
    """on_transition receives the breaker's name and may call back into the breaker."""
    calls: list = []
    holder: list[CircuitBreaker] = []

    def on_transition(name: str, old: CircuitState, new: CircuitState) -> None:
        calls.append((name, old, new, holder[0].state))  # would deadlock if the lock were held

    breaker = CircuitBreaker(CircuitBreakerPolicy(failure_threshold=1), name="groq", clock=FakeClock(), on_transition=on_transition)
    holder.append(breaker)
    done = threading.Event()

    def run() -> None:
        fail(breaker)
        done.set()

    threading.Thread(target=run, daemon=True).start()
    assert done.wait(5.0), "on_transition was called with the lock held"
    assert calls == [("groq", CLOSED, OPEN, OPEN)]


def test_raising_callback_on_acquire_releases_the_probe() -> None:
    """If on_transition raises during acquire, the probe taken is released, not leaked."""
    boom = [False]

    def on_transition(name: str, old: CircuitState, new: CircuitState) -> None:
        if boom[0]:
            raise RuntimeError("metrics down")

    clock = FakeClock()
    breaker = CircuitBreaker(CircuitBreakerPolicy(failure_threshold=1, recovery_timeout=10.0), clock=clock, on_transition=on_transition)
    fail(breaker)
    clock.advance(11.0)
    boom[0] = True
    with pytest.raises(RuntimeError):
        breaker.acquire()
    boom[0] = False
    assert breaker.acquire().is_probe


# --- property -------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    max_probes=st.integers(min_value=1, max_value=3),
    ops=st.lists(
        st.one_of(
            st.sampled_from(["acquire", "success", "failure", "release", "success-old", "failure-old"]),
            st.floats(min_value=0.0, max_value=8.0),
        ),
        max_size=60,
    ),
)
def test_never_more_live_probes_than_allowed(max_probes: int, ops: list) -> None:
    """Under any sequence of calls, reports and time, live probes never exceed half_open_max_calls."""
    breaker, clock = make(failure_threshold=2, recovery_timeout=5.0, half_open_max_calls=max_probes)
    held: list[Permit] = []
    for op in ops:
        if isinstance(op, float):
            clock.advance(op)
        elif op == "acquire":
            try:
                held.append(breaker.acquire(probe_timeout=3.0))
            except CircuitOpenError as exc:
                assert exc.retry_after is None or exc.retry_after >= 0
        elif held:
            permit = held.pop(0) if op.endswith("-old") else held.pop()
            {"success": breaker.record_success, "failure": breaker.record_failure, "release": breaker.release}[op.removesuffix("-old")](
                permit
            )
        now = clock.monotonic()
        live = [p for p in held if p.is_probe and p.expires_at > now]
        if breaker.state is HALF_OPEN:
            assert len(live) <= max_probes
        if breaker.state is CLOSED:
            assert not breaker.acquire().is_probe


def test_accepting_is_a_lock_free_view_of_open():
    """accepting() is False while open or isolated, True once a probe is due or after reset."""
    clock = FakeClock()
    breaker = CircuitBreaker(CircuitBreakerPolicy(failure_threshold=1, recovery_timeout=10, recovery_jitter=0.0), clock=clock)
    assert breaker.accepting()
    breaker.record_failure(breaker.acquire())
    assert not breaker.accepting()
    clock.advance(10)
    assert breaker.accepting()
    breaker.isolate()
    clock.advance(100)
    assert not breaker.accepting()
    breaker.reset()
    assert breaker.accepting()
