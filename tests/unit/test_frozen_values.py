"""Value classes on the call path (SSE events, deadlines, requests, endpoint state, Config) keep attrs' behaviour."""

from __future__ import annotations

import copy
import pickle

import pytest
from attrs.exceptions import FrozenInstanceError

from ailib._sse import SseEvent
from ailib.state.memory import EndpointState
from ailib.transport import Deadlines, HttpRequest


def test_frozen_value_is_equal_and_hashed_by_its_fields():
    """Two SseEvents with the same fields are equal and hash alike; a different field makes them unequal."""
    assert SseEvent(data="x") == SseEvent("message", "x", None)
    assert hash(SseEvent(data="x")) == hash(SseEvent("message", "x"))
    assert SseEvent(data="x") != SseEvent(data="y")


def test_frozen_value_refuses_assignment():
    """Assigning or deleting a field of a Deadlines raises attrs' FrozenInstanceError."""
    d = Deadlines(1.0, 2.0, 3.0)
    with pytest.raises(FrozenInstanceError):
        d.idle = 4.0  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        del d.idle  # type: ignore[misc]


def test_frozen_value_survives_pickle_and_copy():
    """A Deadlines round-trips through pickle, copy and deepcopy unchanged."""
    d = Deadlines(1.0, 2.0, 3.0, attempt_end=9.0)
    assert pickle.loads(pickle.dumps(d)) == d
    assert copy.copy(d) == d
    assert copy.deepcopy(d) == d


def test_http_request_repr_hides_the_key_the_body_and_the_proxy():
    """HttpRequest's repr redacts the Authorization header and the proxy's credentials and shows the body's size only."""
    req = HttpRequest("POST", "http://127.0.0.1/v1", {"Authorization": "Bearer sk-secret-123456"}, b"{}", proxy="http://u:p@proxy")
    text = repr(req)
    assert "sk-secret-123456" not in text and "u:p@proxy" not in text
    assert "body=<2 bytes>" in text


def test_endpoint_state_is_mutable_and_unhashable():
    """EndpointState takes new parts after construction, compares by value and is not hashable."""
    state = EndpointState()
    state.hedge_budget = None
    assert state == EndpointState()
    with pytest.raises(TypeError):
        hash(state)


def test_config_defaults_are_fresh_and_evolve_copies_with_changes():
    """Each Config gets its own default chain and breaker policy; evolve changes only the named fields and leaves the original."""
    from ailib._assembly import UNSET, Config

    a, b = Config(provider="openai"), Config(provider="openai")
    assert a.chain == [] and a.chain is not b.chain and a.retry is UNSET and a.breaker is not None
    c = a.evolve(routing="round_robin")
    assert (c.routing, a.routing, c.provider, c.chain) == ("round_robin", None, "openai", a.chain)
