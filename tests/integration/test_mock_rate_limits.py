"""MockProvider's ``Fault.rate_limited``: each service's real 429 body and headers, and ailib
reading the wait from them (headers, Gemini's RetryInfo) as it does from the real services."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from ailib import AiClientBuilder, ChatCompletionRequest, Message
from ailib.errors import QuotaExceededError, RateLimitExceeded
from ailib.testing import Fault, MockProvider

REQ = ChatCompletionRequest("mock-model", [Message.user("hi")])
PATH = {
    "openai": "/chat/completions",
    "anthropic": "/v1/messages",
    "gemini": "/v1beta/models/mock-model:generateContent",
    "cohere": "/v2/chat",
}
BODY = {
    "openai": {"model": "mock-model", "messages": [{"role": "user", "content": "hi"}]},
    "anthropic": {"model": "mock-model", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]},
    "gemini": {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
    "cohere": {"model": "mock-model", "messages": [{"role": "user", "content": "hi"}]},
}


def _post(mock: MockProvider, fmt: str) -> tuple[int, dict[str, str], Any]:
    """The mock's raw answer to one chat request (status, lower-cased headers, JSON body)."""
    data = json.dumps(BODY[fmt]).encode()
    req = urllib.request.Request(mock.base_url + PATH[fmt], data=data, headers={"content-type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, {k.lower(): v for k, v in err.headers.items()}, json.loads(err.read())


def test_openai_429_body_and_headers_are_the_services():
    """OpenAI: type "requests", code "rate_limit_exceeded", the RPM message with the wait, x-ratelimit-* and retry-after."""
    with MockProvider("openai") as mock:
        mock.enqueue(Fault.rate_limited(20))
        status, headers, body = _post(mock, "openai")
    assert status == 429
    err = body["error"]
    assert (err["type"], err["param"], err["code"]) == ("requests", None, "rate_limit_exceeded")
    assert err["message"].startswith("Rate limit reached for mock-model in organization org-")
    assert "on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 20s. Visit" in err["message"]
    assert headers["x-ratelimit-limit-requests"] == "3" and headers["x-ratelimit-remaining-requests"] == "0"
    assert headers["x-ratelimit-reset-requests"] == "20s" and headers["retry-after"] == "20"
    assert {"x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens", "x-request-id"} <= set(headers)


def test_openai_token_limit_429_names_tokens_and_a_millisecond_wait():
    """OpenAI's TPM 429: type "tokens", "Please try again in 644ms", x-ratelimit-reset-tokens 644ms, retry-after rounded up."""
    with MockProvider("openai") as mock:
        mock.enqueue(Fault.rate_limited(0.644, limit="tokens"))
        status, headers, body = _post(mock, "openai")
    assert status == 429 and body["error"]["type"] == "tokens"
    assert "on tokens per min (TPM): Limit 30000, Used 29937, Requested 385. Please try again in 644ms." in body["error"]["message"]
    assert headers["x-ratelimit-reset-tokens"] == "644ms" and headers["retry-after"] == "1"


def test_anthropic_429_body_and_headers_are_the_services():
    """Anthropic: {"type": "error", "error": {"type": "rate_limit_error", ...}, "request_id"} matching request-id, retry-after,
    anthropic-ratelimit-* (resets as RFC 3339) and x-should-retry."""
    with MockProvider("anthropic") as mock:
        mock.enqueue(Fault.rate_limited(20))
        status, headers, body = _post(mock, "anthropic")
    assert status == 429
    assert body["type"] == "error" and body["error"]["type"] == "rate_limit_error"
    assert body["error"]["message"] == "This request would exceed your account's rate limit. Please try again later."
    assert body["request_id"] == headers["request-id"] and body["request_id"].startswith("req_")
    assert headers["retry-after"] == "20" and headers["x-should-retry"] == "true"
    assert headers["anthropic-ratelimit-requests-remaining"] == "0"
    assert headers["anthropic-ratelimit-requests-reset"].endswith("Z") and "T" in headers["anthropic-ratelimit-requests-reset"]
    for kind in ("requests", "tokens", "input-tokens"):
        assert {f"anthropic-ratelimit-{kind}-{x}" for x in ("limit", "remaining", "reset")} <= set(headers)


def test_gemini_429_has_quota_failure_and_retry_info():
    """Gemini: RESOURCE_EXHAUSTED with google.rpc.QuotaFailure and google.rpc.RetryInfo retryDelay "34.4s"."""
    with MockProvider("gemini") as mock:
        mock.enqueue(Fault.rate_limited(34.4))
        status, _, body = _post(mock, "gemini")
    assert status == 429
    err = body["error"]
    assert (err["code"], err["status"]) == (429, "RESOURCE_EXHAUSTED")
    types = [d["@type"] for d in err["details"]]
    assert types == ["type.googleapis.com/google.rpc.QuotaFailure", "type.googleapis.com/google.rpc.RetryInfo"]
    assert err["details"][0]["violations"] == [{"quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}]
    assert err["details"][1]["retryDelay"] == "34.4s"


def test_cohere_429_is_its_trial_key_body():
    """Cohere: {"id", "message"} with the trial-key message."""
    with MockProvider("cohere") as mock:
        mock.enqueue(Fault.rate_limited(20))
        status, _, body = _post(mock, "cohere")
    assert status == 429 and set(body) == {"id", "message"}
    assert body["message"].startswith("You are using a Trial key, which is limited to 20 API calls / minute.")


@pytest.mark.parametrize(("fmt", "wait"), [("openai", 20.0), ("anthropic", 20.0), ("gemini", 20.0), ("cohere", None)])
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_ailib_reads_the_wait_from_each_services_429(fmt, wait, stream):
    """ailib raises RateLimitExceeded (retryable, not a quota error) with retry_after from retry-after or RetryInfo;
    Cohere gives no wait."""
    with MockProvider(fmt, name="mock") as mock:
        mock.enqueue(Fault.rate_limited(20))
        with AiClientBuilder(mock.provider()).without_retry().build() as client, pytest.raises(RateLimitExceeded) as info:
            client.chat_completion_stream(REQ).collect() if stream else client.chat_completion(REQ)
    err = info.value
    assert not isinstance(err, QuotaExceededError) and err.is_retryable()
    assert err.status_code == 429 and err.retry_after == wait


def test_ailib_reads_a_fractional_retry_info_delay():
    """A Gemini RetryInfo of 34.4 s reaches RateLimitExceeded.retry_after as 34.4."""
    with MockProvider("gemini", name="mock") as mock:
        mock.enqueue(Fault.rate_limited(34.4))
        with AiClientBuilder(mock.provider()).without_retry().build() as client, pytest.raises(RateLimitExceeded) as info:
            client.chat_completion(REQ)
    assert info.value.retry_after == pytest.approx(34.4)


def test_ailib_reads_the_request_id_of_an_anthropic_429():
    """The Anthropic 429's request-id header is the error's request_id."""
    with MockProvider("anthropic", name="mock") as mock:
        mock.enqueue(Fault.rate_limited(20))
        with AiClientBuilder(mock.provider()).without_retry().build() as client, pytest.raises(RateLimitExceeded) as info:
            client.chat_completion(REQ)
    assert info.value.request_id is not None and info.value.request_id.startswith("req_mock")


def test_a_retried_429_waits_the_asked_time_and_then_succeeds():
    """A Gemini rate_limited(0.3) then an answer: ailib waits the RetryInfo delay before its retry, and the call succeeds."""
    with MockProvider("gemini", name="mock") as mock:
        mock.enqueue(Fault.rate_limited(0.3))
        with AiClientBuilder(mock.provider()).build() as client:
            resp = client.chat_completion(REQ)
    assert [a.outcome for a in resp.attempts] == ["error", "ok"]
    assert resp.attempts[1].started_at - resp.attempts[0].started_at >= 0.3
