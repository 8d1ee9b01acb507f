"""The error tree: classes, retryability, classification from HTTP, Retry-After, secrecy."""

from __future__ import annotations

import builtins
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

import ailib
from ailib import errors as E
from ailib._headers import parse_retry_after, parse_should_retry
from ailib.providers._base import classify_http_error, error_from_response
from ailib.providers.openai import WIRE_FORMAT as OPENAI

NOW = 1_700_000_000.0


def test_tree_shape():
    """Every error is an AiLibError; the documented extra bases hold."""
    assert issubclass(E.ConfigurationError, ValueError)
    assert issubclass(E.InvalidRequestError, ValueError)
    assert issubclass(E.ContextLengthExceededError, E.InvalidRequestError)
    assert issubclass(E.ContentFilteredError, E.InvalidRequestError)
    assert issubclass(E.TimeoutError, builtins.TimeoutError)
    assert issubclass(E.DeadlineExceededError, E.TimeoutError)
    for name in E.__all__:
        assert issubclass(getattr(E, name), E.AiLibError)


@pytest.mark.parametrize(
    "cls, retryable",
    [
        (E.RateLimitExceeded, True),
        (E.QuotaExceededError, False),
        (E.TimeoutError, True),
        (E.DeadlineExceededError, False),
        (E.NetworkError, True),
        (E.ProviderError, True),
        (E.InvalidRequestError, False),
        (E.ContextLengthExceededError, False),
        (E.ContentFilteredError, False),
        (E.AuthenticationError, False),
        (E.ModelNotFoundError, False),
        (E.ProtocolError, False),
        (E.StreamInterruptedError, False),
        (E.CircuitOpenError, False),
        (E.ClientClosedError, False),
    ],
)
def test_retryability_is_decided_by_class(cls, retryable):
    """is_retryable() follows the class, as the contract lists."""
    assert cls("x").is_retryable() is retryable


def test_ailib_timeout_is_also_the_builtin_timeout_error():
    """ailib.TimeoutError is caught by `except TimeoutError`/`except OSError`, keeps OSError's fields sane, and pickles whole."""
    err = E.TimeoutError("no first byte within 5s", phase="first_byte", provider="openai")
    for builtin in (builtins.TimeoutError, OSError):
        with pytest.raises(builtin):
            raise err
    assert err.errno is None and err.strerror == "no first byte within 5s" and err.args == ("no first byte within 5s",)
    assert str(err) == "no first byte within 5s [openai]"
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is E.TimeoutError and isinstance(copy, builtins.TimeoutError)
    assert (copy.phase, copy.provider, copy.errno, copy.strerror, str(copy)) == ("first_byte", "openai", None, err.strerror, str(err))
    deadline = pickle.loads(pickle.dumps(E.DeadlineExceededError("out of time")))
    assert isinstance(deadline, builtins.TimeoutError) and deadline.strerror == "out of time" and not deadline.is_retryable()


def test_client_closed_error_is_its_own_exported_class():
    """ClientClosedError is exported at top level, is not a NetworkError, and is not retryable."""
    assert ailib.ClientClosedError is E.ClientClosedError and "ClientClosedError" in ailib.__all__
    assert not issubclass(E.ClientClosedError, E.NetworkError) and not E.ClientClosedError("closed").is_retryable()
    assert "ClientClosedError" in E.__doc__


def test_should_retry_false_vetoes_a_retryable_class():
    """x-should-retry: false turns a retryable error into a final one."""
    err = classify_http_error(503, {"x-should-retry": "false"}, message="busy")
    assert isinstance(err, E.ProviderError) and not err.is_retryable()


def test_should_retry_true_does_not_make_a_client_error_retryable():
    """x-should-retry: true cannot make a 400 retryable."""
    err = classify_http_error(400, {"x-should-retry": "true"}, message="bad")
    assert not err.is_retryable()


@pytest.mark.parametrize(
    "status, codes, message, cls",
    [
        (400, (), "bad", E.InvalidRequestError),
        (422, (), "bad", E.InvalidRequestError),
        (400, ("context_length_exceeded",), "too long", E.ContextLengthExceededError),
        (400, (), "This model's maximum context length is 8192 tokens", E.ContextLengthExceededError),
        (400, ("content_filter",), "filtered", E.ContentFilteredError),
        (400, ("content_policy_violation",), "no", E.ContentFilteredError),
        (401, (), "who", E.AuthenticationError),
        (403, (), "no", E.AuthenticationError),
        (404, (), "gone", E.ModelNotFoundError),
        (408, (), "slow", E.TimeoutError),
        (429, (), "slow down", E.RateLimitExceeded),
        (429, ("insufficient_quota",), "pay up", E.QuotaExceededError),
        (500, (), "oops", E.ProviderError),
        (502, (), "oops", E.ProviderError),
        (503, (), "oops", E.ProviderError),
        (504, (), "oops", E.ProviderError),
        (529, ("overloaded_error",), "overloaded", E.ProviderError),
        (307, (), "", E.ProtocolError),
    ],
)
def test_classification(status, codes, message, cls):
    """Status plus provider codes map onto the documented class (exactly)."""
    err = classify_http_error(status, {}, message=message, codes=codes)
    assert type(err) is cls
    assert err.status_code == status


def test_openai_error_body_is_read():
    """An OpenAI error body gives the message, code and request id."""
    body = b'{"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}}'
    err = error_from_response(OPENAI, 429, {"retry-after": "2", "x-request-id": "req_1"}, body, provider="openai", model="m", now=NOW)
    assert type(err) is E.RateLimitExceeded
    assert err.message == "Rate limit reached" and err.retry_after == 2.0 and err.request_id == "req_1"


def test_html_error_page_is_summarised():
    """A non-JSON error body is classified by status with a short, tag-free snippet."""
    err = error_from_response(OPENAI, 502, {}, b"<html><body><h1>502 Bad Gateway</h1></body></html>", provider="p", model="m", now=NOW)
    assert type(err) is E.ProviderError
    assert "502 Bad Gateway" in str(err) and "<h1>" not in str(err)


@pytest.mark.parametrize(
    "headers, expected",
    [
        ({"retry-after": "3"}, 3.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after": "Tue, 14 Nov 2023 22:13:40 GMT"}, 10.0),
        ({"retry-after": "Tue, 14 Nov 2023 22:13:00 GMT"}, 0.0),
        ({"retry-after": "soon"}, None),
        ({"retry-after": "-5"}, None),
        ({"retry-after": "nan"}, None),
        ({"retry-after-ms": "x", "retry-after": "2"}, 2.0),
        ({}, None),
    ],
)
def test_parse_retry_after(headers, expected):
    """Retry-After as seconds, HTTP-date or retry-after-ms; garbage is ignored."""
    got = parse_retry_after(headers, NOW + 10)
    if expected is None:
        assert got is None
    else:
        assert got == pytest.approx(expected)


@given(st.text(max_size=40))
def test_parse_retry_after_never_raises(value):
    """Any header text gives a non-negative number or None, never an exception."""
    got = parse_retry_after({"retry-after": value, "retry-after-ms": value}, NOW)
    assert got is None or got >= 0


def test_parse_should_retry():
    """x-should-retry is read case-insensitively; anything else is no verdict."""
    assert parse_should_retry({"x-should-retry": "False"}) is False
    assert parse_should_retry({"x-should-retry": "true"}) is True
    assert parse_should_retry({"x-should-retry": "maybe"}) is None


def test_keys_are_scrubbed_from_messages():
    """A key-like token in a provider message never reaches str() or repr()."""
    err = E.AuthenticationError("Incorrect API key provided: sk-proj-abcdefghijklmnop1234")
    assert "abcdefghijklmnop" not in str(err) and "abcdefghijklmnop" not in repr(err)
    err = E.AuthenticationError("bad key AIzaSyA1234567890abcdefgh")
    assert "AIzaSyA1234567890" not in str(err)


def test_str_names_provider_status_and_request():
    """str() says where it happened."""
    err = E.ProviderError("boom", provider="openai", model="gpt", status_code=503, request_id="r1", retry_after=2)
    assert str(err) == "boom [openai/gpt, HTTP 503, request_id=r1, retry_after=2s]"


def test_errors_pickle():
    """Errors survive pickling (multiprocessing users), fields included."""
    err = E.StreamInterruptedError("cut", partial_text="abc", provider="p", status_code=200)
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is E.StreamInterruptedError
    assert (again.partial_text, again.provider, again.status_code, str(again)) == ("abc", "p", 200, str(err))


def test_all_providers_failed_keeps_errors_in_order():
    """AllProvidersFailedError keeps .errors in order and .last_error."""
    a, b = E.ProviderError("a"), E.NetworkError("b")
    err = E.AllProvidersFailedError("all", errors=[a, b])
    assert err.errors == (a, b) and err.last_error is b


def test_top_level_reexports_errors():
    """Errors are importable from the top-level package too."""
    assert ailib.RateLimitExceeded is E.RateLimitExceeded


@pytest.mark.parametrize("fmt", ["openai", "anthropic", "gemini"])
@pytest.mark.parametrize(
    "body, expected",
    [
        ({"error": None, "message": "top-level"}, ("top-level", ())),
        ({"error": "plain text"}, ("plain text", ())),
        ([{"error": {"message": "wrapped"}}], ("wrapped", ())),
        ("not an object", ("", ())),
    ],
)
def test_error_details_handle_odd_shapes_in_every_format(fmt, body, expected):
    """Every format reads odd error bodies (null error, text error, list-wrapped, non-object) without raising."""
    from ailib.providers._formats import get_wire_format

    assert get_wire_format(fmt).error_details(body) == expected
