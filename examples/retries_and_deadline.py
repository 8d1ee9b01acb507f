"""Retries, Retry-After and a call deadline, shown against scripted faults (always offline)."""

from __future__ import annotations

from ailib import AiClientBuilder, ChatCompletionRequest, DeadlineExceededError, Message, ProviderError, RetryPolicy
from ailib.testing import Fault, MockProvider

req = ChatCompletionRequest("auto", [Message.user("hello")])
with MockProvider() as mock:
    client = AiClientBuilder(mock.provider()).with_retry(RetryPolicy(initial_delay=0.1)).with_deadline(2.0).build()
    mock.enqueue(Fault.http_status(429, retry_after="0.5"), Fault.http_status(503))
    resp = client.chat_completion(req)
    print("after a 429 (Retry-After 0.5 s) and a 503:", resp.text)
    for a in resp.attempts:
        print("  ", a)
    mock.enqueue(Fault.stall(), Fault.stall(), Fault.stall())
    try:
        client.chat_completion(req)
    except DeadlineExceededError as err:
        print(f"a stalled server: {type(err).__name__} after {len(err.attempts)} attempt(s)")
    client.close()
# retry only the statuses you list: here a 409 is retried and a 500 is not
with MockProvider() as mock:
    only_409 = AiClientBuilder(mock.provider()).with_retry(RetryPolicy(initial_delay=0.1, retry_on_status={409})).build()
    mock.enqueue(Fault.http_status(409))
    print("retry_on_status={409}, after a 409:", only_409.chat_completion(req).text)
    mock.enqueue(Fault.http_status(500))
    try:
        only_409.chat_completion(req)
    except ProviderError as err:
        print(f"retry_on_status={{409}}, a 500: {type(err).__name__} after {len(err.attempts)} attempt(s)")
    only_409.close()
