"""Basic failover two ways: AiClient.with_failover, and your own loop over fallback_chain(), offline."""

from __future__ import annotations

from ailib import AiClient, AiLibError, ChatCompletionRequest, Message
from ailib.testing import Fault, MockProvider

with MockProvider(name="openai") as a, MockProvider("anthropic", name="anthropic") as b, MockProvider(name="groq") as c:
    client = AiClient(a.provider()).with_failover([b.provider(), c.provider()])
    req = ChatCompletionRequest("auto", [Message.user("hello")])
    a.enqueue(*[Fault.http_status(503)] * 3)
    print("with_failover ->", client.chat_completion(req).provider)

    a.enqueue(*[Fault.http_status(503)] * 3)
    last_error = None
    for single in client.fallback_chain():  # a resilient_chat loop of your own
        try:
            print("own loop ->", single.chat_completion(req).first_text(), f"(from {single.provider})")
            break
        except AiLibError as error:
            last_error = error
            print(f"   {single.provider} failed: {type(error).__name__}")
    client.close()
