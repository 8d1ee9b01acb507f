"""Per-request overrides, offline: ``client.with_options(...)`` is a light view sharing the
parent's connection pool, breakers, limiters and budgets."""

from __future__ import annotations

from ailib import AiClientBuilder, ChatCompletionRequest, Message, ProviderError, TimeoutError
from ailib.testing import Fault, MockProvider

req = ChatCompletionRequest("auto", [Message.user("hello")])
with MockProvider(latency=0.05) as mock, AiClientBuilder(mock.provider()).build() as client:
    mock.enqueue(Fault.http_status(503))
    try:
        client.with_options(max_retries=0).chat_completion(req)  # no retry for this one call
    except ProviderError as exc:
        print("no retry:", type(exc).__name__, "after", len(exc.attempts), "attempt")
    try:
        client.with_options(timeout=0.01).chat_completion(req)  # a tighter timeout for this call
    except TimeoutError as exc:
        print("tight timeout:", type(exc).__name__)
    print("the parent, unchanged:", client.chat_completion(req).text)
