"""Views: a JSON answer, and an answer streamed to the browser as it is generated."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from ailib import (
    AiLibError,
    ChatCompletionRequest,
    CircuitOpenError,
    LocalRateLimitError,
    Message,
    RateLimitExceeded,
    StreamInterruptedError,
)

from .ailib_client import get_client


def _request(message: str) -> ChatCompletionRequest:
    return ChatCompletionRequest(settings.AILIB.get("MODEL", "auto"), [Message.user(message)])


def _error(err: AiLibError) -> JsonResponse:
    busy = isinstance(err, (CircuitOpenError, LocalRateLimitError, RateLimitExceeded))
    return JsonResponse({"error": type(err).__name__, "detail": str(err)}, status=503 if busy else 502)


@csrf_exempt
@require_POST
def chat(request: HttpRequest) -> HttpResponse:
    """POST {"message": "..."} → {"reply", "provider", "model", "attempts"}."""
    try:
        body: Any = json.loads(request.body or b"null")
    except ValueError:
        body = None
    message = body.get("message") if isinstance(body, dict) else None
    if not isinstance(message, str) or not message.strip():
        return JsonResponse({"error": 'send a JSON body {"message": "..."}'}, status=400)
    try:
        resp = get_client().chat_completion(_request(message))
    except AiLibError as err:
        return _error(err)
    return JsonResponse({"reply": resp.text, "provider": resp.provider, "model": resp.model, "attempts": len(resp.attempts)})


@require_GET
def stream(request: HttpRequest) -> HttpResponse:
    """GET /stream?q=... → the answer as plain text, sent piece by piece as it arrives.

    A failure before the first piece (after the client's retries) is an ordinary JSON
    error response; one after it can only end the text with a marker. When the browser
    goes away, Django closes the response, which closes the provider's connection.
    """
    message = request.GET.get("q", "").strip()
    if not message:
        return JsonResponse({"error": "add ?q=your+question"}, status=400)
    try:
        answer = get_client().chat_completion_stream(_request(message))
    except AiLibError as err:
        return _error(err)

    def pieces() -> Iterator[str]:
        with answer:  # closed when the stream ends, fails, or the response is closed early
            try:
                for chunk in answer:
                    if chunk.delta_text:
                        yield chunk.delta_text
            except StreamInterruptedError as err:
                yield f"\n[answer interrupted: {type(err.cause).__name__}]\n"

    response = StreamingHttpResponse(pieces(), content_type="text/plain; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass pieces through at once
    return response


@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"ok": True})
