"""A first call, with the attempt records. Offline unless OPENAI_API_KEY is set."""

from __future__ import annotations

from _common import provider_or_mock

from ailib import AiClient, ChatCompletionRequest, Message

with provider_or_mock(reply="A circuit breaker stops calls to a failing service.") as provider, AiClient(provider) as client:
    resp = client.chat_completion(ChatCompletionRequest("auto", [Message.user("What is a circuit breaker? One sentence.")]))
    print(resp.text)
    print(resp.usage)
    for attempt in resp.attempts:
        print(attempt)
