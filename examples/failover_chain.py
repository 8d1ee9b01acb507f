"""Ordered failover across wire formats: OpenAI-format -> Anthropic-format -> Gemini-format, offline."""

from __future__ import annotations

from ailib import AiClientBuilder, ChatCompletionRequest, Message
from ailib.testing import Fault, MockProvider

with (
    MockProvider(name="primary") as primary,
    MockProvider("anthropic", name="claude") as claude,
    MockProvider("gemini", name="gemini") as gemini,
):
    client = AiClientBuilder(primary.provider()).with_failover_chain([claude.provider(), gemini.provider()]).without_retry().build()
    primary.enqueue(Fault.http_status(500))
    claude.enqueue(Fault.http_status(529, error_type="overloaded_error"))
    resp = client.chat_completion(ChatCompletionRequest("auto", [Message.user("hello")]))
    print("answered by", resp.provider)
    for a in resp.attempts:
        print("  ", a)
    client.close()
