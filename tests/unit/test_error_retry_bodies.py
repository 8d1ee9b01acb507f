"""Retry decisions read from real error bodies: Gemini RetryInfo, too-large 429s, out-of-credit bodies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ailib import errors as E
from ailib._sse import SseEvent
from ailib.providers._base import classify_http_error, error_from_response
from ailib.providers._formats import get_wire_format
from ailib.providers.gemini import WIRE_FORMAT as GEMINI
from ailib.providers.gemini import GeminiStreamDecoder

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def load(fmt: str) -> Any:
    return json.loads((FIXTURES / fmt / "errors_retry.json").read_text())


def classify(fmt: str, case: str, headers: Any = None) -> E.AiLibError:
    rec = load(fmt)[case]
    body = json.dumps(rec["body"]).encode()
    return error_from_response(get_wire_format(fmt), rec["status"], headers or rec["headers"], body, provider=fmt, model="m", now=0.0)


@pytest.mark.parametrize("case", ["retry_info", "retry_info_paid_tier"])
def test_gemini_retry_info_is_the_retry_after(case: str) -> None:
    """A Gemini 429's RetryInfo.retryDelay (a protobuf Duration) becomes the error's retry_after."""
    err = classify("gemini", case)
    assert type(err) is E.RateLimitExceeded and err.is_retryable()
    assert err.retry_after == pytest.approx(load("gemini")[case]["retry_after"])


def test_a_retry_after_header_wins_over_the_body() -> None:
    """When a gateway adds Retry-After to a Gemini 429, the header is used, as for every format."""
    err = classify("gemini", "retry_info", headers={"retry-after": "3"})
    assert err.retry_after == 3.0


@pytest.mark.parametrize(
    "delay, seconds",
    [("34.4s", 34.4), ("58s", 58.0), ("0.300s", 0.3), (".5s", 0.5), ({"seconds": "2", "nanos": 500000000}, 2.5)],
)
def test_retry_delay_reads_protobuf_durations(delay: Any, seconds: float) -> None:
    """Both JSON forms of a Duration are read: "34.4s" and {seconds, nanos}."""
    body = {"error": {"code": 429, "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}]}}
    assert GEMINI.retry_delay(body) == pytest.approx(seconds)


@pytest.mark.parametrize("delay", ["-1s", "34.4", "soon", None, 12, [], "1e3s"])
def test_a_malformed_retry_delay_is_ignored(delay: Any) -> None:
    """A retryDelay that is not a non-negative Duration gives no wait (backoff applies), never an error."""
    body = {"error": {"code": 429, "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}]}}
    assert GEMINI.retry_delay(body) is None


@pytest.mark.parametrize("body", [{}, {"error": "x"}, {"error": {"details": "x"}}, {"error": {"details": [1, None]}}, [], "x"])
def test_bodies_without_retry_info_give_no_delay(body: Any) -> None:
    """Error bodies of any other shape have no retry delay."""
    assert GEMINI.retry_delay(body) is None


def test_gemini_error_inside_a_stream_keeps_its_retry_delay() -> None:
    """An error object arriving as a stream event is classified with its RetryInfo delay too."""
    decoder = GeminiStreamDecoder(provider="gemini", model="m")
    with pytest.raises(E.RateLimitExceeded) as info:
        decoder.feed(SseEvent(data=json.dumps(load("gemini")["retry_info"]["body"])))
    assert info.value.retry_after == pytest.approx(34.4)


def test_openai_request_larger_than_the_limit_is_not_retryable() -> None:
    """OpenAI's 429 "Request too large ... Limit 30000, Requested 250011" is a QuotaExceededError: no wait fixes it."""
    err = classify("openai", "request_too_large")
    assert type(err) is E.QuotaExceededError and not err.is_retryable()
    assert isinstance(err, E.RateLimitExceeded)  # a fallback step on_rate_limit still advances
    assert err.status_code == 429 and err.request_id == "req_too_large_1" and "Request too large" in err.message


def test_openai_tokens_per_minute_429_that_fits_stays_retryable() -> None:
    """A TPM 429 whose request fits the limit ("Used 29937, Requested 385") stays a retryable RateLimitExceeded."""
    err = classify("openai", "rate_limit_tokens")
    assert type(err) is E.RateLimitExceeded and err.is_retryable()


@pytest.mark.parametrize(
    "message, cls",
    [
        ("Request too large for m on tokens per min (TPM): Limit 30000, Requested 30001.", E.QuotaExceededError),
        ("Request too large for m on tokens per min (TPM): Limit 1,000,000, Requested 999,999.", E.RateLimitExceeded),
        ("Rate limit reached for m on tokens per min (TPM): Limit 10000, Used 0, Requested 12000.", E.QuotaExceededError),
        ("Rate limit reached for m on requests per min (RPM): Limit 500, Used 500, Requested 1.", E.RateLimitExceeded),
        ("Request too large for m.", E.QuotaExceededError),
        ("slow down", E.RateLimitExceeded),
    ],
)
def test_requested_is_compared_with_the_limit(message: str, cls: type) -> None:
    """The numbers decide when present: a request above the limit is not retryable, one within it is."""
    assert type(classify_http_error(429, {}, message=message, codes=("rate_limit_exceeded",))) is cls


def test_deepseek_402_insufficient_balance_is_quota_exceeded() -> None:
    """DeepSeek's 402 "Insufficient Balance" (codes say invalid_request_error) is a QuotaExceededError."""
    err = classify("openai", "deepseek_insufficient_balance")
    assert type(err) is E.QuotaExceededError and not err.is_retryable() and err.status_code == 402


@pytest.mark.parametrize("case", ["credit_balance_too_low", "billing_error"])
def test_anthropic_out_of_credit_is_quota_exceeded(case: str) -> None:
    """Anthropic's 400 "credit balance is too low" and 402 billing_error are QuotaExceededError."""
    err = classify("anthropic", case)
    assert type(err) is E.QuotaExceededError and not err.is_retryable()


def test_anthropic_credit_text_is_matched_narrowly() -> None:
    """The credit text counts only on a 400 invalid_request_error; other 400s stay InvalidRequestError."""
    text = "Your credit balance is too low to access the Anthropic API."
    assert type(classify_http_error(400, {}, message=text, codes=("invalid_request_error",))) is E.QuotaExceededError
    assert type(classify_http_error(400, {}, message="messages: field required", codes=("invalid_request_error",))) is E.InvalidRequestError
    assert type(classify_http_error(500, {}, message=text, codes=("api_error",))) is E.ProviderError


def test_insufficient_quota_is_quota_exceeded_whatever_the_4xx() -> None:
    """OpenAI's insufficient_quota code means out of credit with a 429 and with any other 4xx."""
    for status in (429, 403, 400):
        assert type(classify_http_error(status, {}, message="pay", codes=("insufficient_quota",))) is E.QuotaExceededError
