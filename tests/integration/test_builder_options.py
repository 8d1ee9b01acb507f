"""`with_options` means one thing on the builder and the client; `with_connection_options` is the builder's connection defaults."""

from __future__ import annotations

import time

import pytest

from ailib import (
    AiClientBuilder,
    ChatCompletionRequest,
    ConfigurationError,
    ConnectionOptions,
    HedgePolicy,
    Message,
    ProviderError,
    RetryPolicy,
    TimeoutError,
)
from ailib.testing import Fault, MockProvider

REQ = ChatCompletionRequest("auto", [Message.user("hi")])
FAST = RetryPolicy(initial_delay=0.01, max_delay=0.01, retry_budget=None)


@pytest.fixture
def mock():
    with MockProvider() as m:
        yield m


def test_builder_with_options_keywords_act_as_the_client_views_do(mock):
    """builder.with_options(max_retries=1) gives the built client the attempts client.with_options(max_retries=1) gives a view."""
    builder = AiClientBuilder(mock.provider()).with_retry(FAST).with_options(max_retries=1)
    with builder.build() as built, AiClientBuilder(mock.provider()).with_retry(FAST).build() as plain:
        mock.enqueue(*[Fault.http_status(503)] * 4)
        with pytest.raises(ProviderError) as from_builder:
            built.chat_completion(REQ)
        with pytest.raises(ProviderError) as from_view:
            plain.with_options(max_retries=1).chat_completion(REQ)
    assert len(from_builder.value.attempts) == len(from_view.value.attempts) == 2


def test_builder_with_options_timeout_overrides_every_connection_option(mock):
    """with_options(timeout=...) wins over the timeouts of with_connection_options and with_provider_options, whatever the order."""
    provider = mock.provider()
    builder = (
        AiClientBuilder(provider)
        .with_options(timeout=0.3)
        .with_connection_options(ConnectionOptions(timeout=30))
        .with_provider_options(provider, ConnectionOptions(timeout=30))
        .without_retry()
    )
    with builder.build() as client:
        mock.enqueue(Fault.delay(5.0))
        start = time.monotonic()
        with pytest.raises(TimeoutError):
            client.chat_completion(REQ)
    assert time.monotonic() - start < 3.0


def test_builder_with_options_hedging_none_turns_a_hedge_policy_off(mock):
    """with_options(hedging=None) on the builder builds a client that sends no hedge, as the client view does."""
    builder = AiClientBuilder(mock.provider()).with_hedging(HedgePolicy(delay=0, max_extra_load=1.0)).with_options(hedging=None)
    with builder.build() as client:
        resp = client.chat_completion(REQ)
    assert mock.request_count == 1 and [a.outcome for a in resp.attempts] == ["ok"]


def test_builder_with_options_still_takes_a_connection_options(mock):
    """with_options(ConnectionOptions(...)) (or options=...) is with_connection_options: the API.md form keeps working, keywords may follow."""
    for builder in (
        AiClientBuilder(mock.provider()).with_options(ConnectionOptions(max_retries=0), deadline=5),
        AiClientBuilder(mock.provider()).with_options(options=ConnectionOptions(max_retries=0)),
    ):
        with builder.build() as client:
            mock.enqueue(Fault.http_status(503))
            with pytest.raises(ProviderError) as info:
                client.chat_completion(REQ)
        assert len(info.value.attempts) == 1


@pytest.mark.parametrize(
    "args, kwargs, fragment",
    [
        ((), {}, "takes a ConnectionOptions or keywords"),
        ((), {"tiemout": 1}, "not tiemout"),
        ((), {"timeout": "5"}, "seconds > 0"),
        ((), {"hedging": HedgePolicy()}, "hedging=None"),
        (({"timeout": 5},), {}, "takes a ConnectionOptions, not dict"),
    ],
)
def test_builder_with_options_rejects_what_the_client_rejects(args, kwargs, fragment):
    """Unknown keywords, bad values, nothing at all, or a dict in place of ConnectionOptions raise ConfigurationError at once."""
    with pytest.raises(ConfigurationError, match=fragment):
        AiClientBuilder("openai").with_options(*args, **kwargs)
