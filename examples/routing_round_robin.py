"""Round-robin load distribution across providers (the routing_mvp counters), offline.

Three MockProviders stand in for OpenAI, Groq and Mistral; calls rotate over them and a
failed one fails over to the others. The routing counters show what happened.
"""

from __future__ import annotations

from ailib import AiClientBuilder, ChatCompletionRequest, Message
from ailib.metrics import InMemoryMetrics
from ailib.testing import Fault, MockProvider

with MockProvider(name="openai-mock") as openai, MockProvider(name="groq-mock") as groq, MockProvider(name="mistral-mock") as mistral:
    metrics = InMemoryMetrics()
    client = (
        AiClientBuilder(openai.provider())
        .with_round_robin_chain([groq.provider(), mistral.provider()])
        .with_metrics(metrics)
        .without_retry()
        .build()
    )
    req = ChatCompletionRequest("auto", [Message.user("Explain quantum computing")])
    print("rotation:", [client.chat_completion(req).provider for _ in range(3)])
    groq.enqueue(Fault.http_status(503))  # groq's next turn fails
    for _ in range(3):
        resp = client.chat_completion(req)
        print("answered by", resp.provider, "after", [f"{a.provider}:{a.outcome}" for a in resp.attempts])
    print({name: metrics.counter(name) for name in ("routing_mvp.request", "routing_mvp.selected")})
    client.close()
