"""429 answers as each real service sends them: the body and the rate-limit headers.

Sources (bodies copied in shape and wording; organization ids, request ids and counts are
made-up values where noted):

- OpenAI: the body of a requests-per-minute 429 quoted whole by openai-python's
  ``RateLimitError`` in feder-cr/invisible_playwright_mcp issue #249 (type ``requests``,
  code ``rate_limit_exceeded``); the tokens-per-minute wording from BuilderIO/micro-agent
  issue #86 (``Limit 30000, Used 29937, Requested 385. Please try again in 644ms.``). The
  ``x-ratelimit-*`` header names and their duration format (``120ms``, ``20s``, ``6m0s``) as
  open-webui issue #3743 dumps them and OpenAI's rate-limit guide documents them.
- Anthropic: the body of a 429 quoted whole in anthropics/claude-code issue #71279
  (``rate_limit_error``, ``This request would exceed your account's rate limit. Please try
  again later.``, ``request_id``); the token-limit wording from stackblitz/bolt.new issue
  #8589 (the organization id made up); the headers of a recorded 429 in anthropics/anthropic-sdk-typescript issue #357
  (``anthropic-ratelimit-requests-limit/-remaining/-reset`` as RFC 3339, ``-tokens-*``,
  ``request-id``, ``x-should-retry: true``) plus ``retry-after``, which the API has sent on
  every 429 since (anthropic-sdk-typescript PR #358).
- Gemini: vercel/ai ``packages/google/src/__fixtures__/google-429-retry-info.json`` (commit
  ed857f50f112e23930b0c2dd8d532cc8bebbc911; ``QuotaFailure`` and ``RetryInfo``), verbatim
  but for the ``retryDelay``; the token-quota shape from the paid-tier 429 in
  ``tests/fixtures/gemini/errors_retry.json``. Gemini sends no rate-limit headers.
- Cohere: the trial-key 429 body of ``tests/fixtures/cohere/errors.json`` (``{"id",
  "message"}``; the id is a made-up value). Cohere sends no retry delay.
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable

__all__ = ["RATE_LIMITS", "openai_duration"]

# (seconds to wait, model, "requests" | "tokens", request id) -> (body, headers)
RateLimit = Callable[[float, str, str, str], tuple[dict[str, Any], dict[str, str]]]

_ORG = "org-mockmockmockmockmockmock"  # made-up organization id


def openai_duration(seconds: float) -> str:
    """A wait as OpenAI writes it in messages and ``x-ratelimit-reset-*``: ``644ms``, ``20s``, ``1m26.4s``."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    minutes, rest = divmod(round(seconds, 3), 60)
    rest_text = f"{rest:.3f}".rstrip("0").rstrip(".") + "s"
    return f"{int(minutes)}m{rest_text}" if minutes else rest_text


def _retry_after(seconds: float) -> str:
    """``retry-after`` as the services send it: whole seconds, rounded up."""
    return str(max(1, math.ceil(seconds)))


def _openai(seconds: float, model: str, limit: str, request_id: str) -> tuple[dict[str, Any], dict[str, str]]:
    wait = openai_duration(seconds)
    if limit == "tokens":
        message = (
            f"Rate limit reached for {model} in organization {_ORG} on tokens per min (TPM): Limit 30000, Used 29937, "
            f"Requested 385. Please try again in {wait}. Visit https://platform.openai.com/account/rate-limits to learn more."
        )
        counts = {"limit-requests": "500", "remaining-requests": "499", "reset-requests": "120ms"}
        counts.update({"limit-tokens": "30000", "remaining-tokens": "63", "reset-tokens": wait})
    else:
        message = (
            f"Rate limit reached for {model} in organization {_ORG} on requests per min (RPM): Limit 3, Used 3, Requested 1. "
            f"Please try again in {wait}. Visit https://platform.openai.com/account/rate-limits to learn more. You can increase "
            "your rate limit by adding a payment method to your account at https://platform.openai.com/account/billing."
        )
        counts = {"limit-requests": "3", "remaining-requests": "0", "reset-requests": wait}
        counts.update({"limit-tokens": "150000", "remaining-tokens": "149984", "reset-tokens": "6ms"})
    headers = {f"x-ratelimit-{k}": v for k, v in counts.items()}
    headers["retry-after"] = _retry_after(seconds)
    body = {"error": {"message": message, "type": limit, "param": None, "code": "rate_limit_exceeded"}}
    return body, headers


def _rfc3339(seconds_from_now: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + seconds_from_now))


def _anthropic(seconds: float, model: str, limit: str, request_id: str) -> tuple[dict[str, Any], dict[str, str]]:
    if limit == "tokens":
        message = (
            "This request would exceed the rate limit for your organization (00000000-0000-4000-8000-000000000000) of 1,000,000 "
            "input tokens per minute. For details, refer to: https://docs.anthropic.com/en/api/rate-limits. You can see the "
            "response headers for current usage. Please reduce the prompt length or the maximum tokens requested, or try again "
            "later. You may also contact sales at https://www.anthropic.com/contact-sales to discuss your options for a rate "
            "limit increase."
        )
        requests_left, tokens_left = "49", "0"
    else:
        message = "This request would exceed your account's rate limit. Please try again later."
        requests_left, tokens_left = "0", "16000"
    reset = _rfc3339(seconds)
    headers = {
        "retry-after": _retry_after(seconds),
        "anthropic-ratelimit-requests-limit": "50",
        "anthropic-ratelimit-requests-remaining": requests_left,
        "anthropic-ratelimit-requests-reset": reset,
        "anthropic-ratelimit-tokens-limit": "25000" if limit != "tokens" else "1000000",
        "anthropic-ratelimit-tokens-remaining": tokens_left,
        "anthropic-ratelimit-tokens-reset": reset,
        "anthropic-ratelimit-input-tokens-limit": "1000000",
        "anthropic-ratelimit-input-tokens-remaining": tokens_left if limit == "tokens" else "1000000",
        "anthropic-ratelimit-input-tokens-reset": reset,
        "x-should-retry": "true",
    }
    body = {"type": "error", "error": {"type": "rate_limit_error", "message": message}, "request_id": request_id}
    return body, headers


def _gemini(seconds: float, model: str, limit: str, request_id: str) -> tuple[dict[str, Any], dict[str, str]]:
    delay = f"{seconds:.3f}".rstrip("0").rstrip(".") + "s"
    if limit == "tokens":
        message = (
            "You exceeded your current quota, please check your plan and billing details. For more information on this error, "
            "head to: https://ai.google.dev/gemini-api/docs/rate-limits. To monitor your current usage, head to: "
            "https://ai.dev/usage?tab=rate-limit. \n* Quota exceeded for metric: "
            "generativelanguage.googleapis.com/generate_content_paid_tier_input_token_count, limit: 4000000\n"
            f"Please retry in {delay}."
        )
        violation: dict[str, Any] = {
            "quotaMetric": "generativelanguage.googleapis.com/generate_content_paid_tier_input_token_count",
            "quotaId": "GenerateContentPaidTierInputTokensPerModelPerMinute",
            "quotaDimensions": {"location": "global", "model": model},
            "quotaValue": "4000000",
        }
        details: list[dict[str, Any]] = [
            {
                "@type": "type.googleapis.com/google.rpc.Help",
                "links": [
                    {"description": "Learn more about Gemini API quotas", "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}
                ],
            }
        ]
    else:
        message = "You exceeded your current quota, please check your plan."
        violation = {"quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}
        details = []
    details.append({"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [violation]})
    details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay})
    return {"error": {"code": 429, "message": message, "status": "RESOURCE_EXHAUSTED", "details": details}}, {}


def _cohere(seconds: float, model: str, limit: str, request_id: str) -> tuple[dict[str, Any], dict[str, str]]:
    message = (
        "You are using a Trial key, which is limited to 20 API calls / minute. You can continue to use the Trial key for free "
        "or upgrade to a Production key with higher rate limits at 'https://dashboard.cohere.com/api-keys'. Contact us on "
        "'https://discord.gg/XW44jPfYJu' or email us at support@cohere.com with any questions"
    )
    return {"id": "0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9", "message": message}, {}


RATE_LIMITS: dict[str, RateLimit] = {
    "openai": _openai,
    "openai_responses": _openai,
    "anthropic": _anthropic,
    "gemini": _gemini,
    "cohere": _cohere,
}
