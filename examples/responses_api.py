"""A Responses-only model in a fallback chain, and a tool loop whose reasoning goes back, offline.

gpt-5-pro is served only by OpenAI's Responses API (``/v1/responses``); with the default
``ConnectionOptions(wire_api="auto")`` ailib sends it there by name and every other model to
chat completions, so one chain can fall back from one API to the other. Here a MockProvider
stands in for api.openai.com (it serves both APIs on one port).
"""

from __future__ import annotations

from ailib import AiClientBuilder, ChatCompletionRequest, ConnectionOptions, FallbackChain, Message, Provider, Tool
from ailib.testing import Fault, MockProvider

WEATHER = Tool.function("get_weather", "Weather in a city", {"type": "object", "properties": {"city": {"type": "string"}}})

with MockProvider() as api:
    options = ConnectionOptions(api_key="sk-offline-example", base_url=api.base_url)  # unset wire_api: "auto"
    chain = FallbackChain().primary("gpt-5-pro").on_error("gpt-4o-mini")
    with AiClientBuilder(Provider.OPENAI).with_connection_options(options).without_retry().fallback(chain).build() as client:
        api.enqueue(Fault.http_status(503, message="gpt-5-pro is overloaded"))
        resp = client.chat_completion(ChatCompletionRequest("auto", [Message.user("hello")]))
        for attempt in resp.attempts:
            print(f"attempt: {attempt.model:<12} {attempt.outcome:<6} {type(attempt.error).__name__ if attempt.error else ''}")
        print("paths:", [r.path for r in api.chat_requests])
        print("answer:", resp.text)

    # a tool loop on the Responses API: the reasoning item (encrypted, as store=False asks) goes back
    api.clear_requests()
    api.enqueue(
        Fault.ok("", tool_calls=(("call_1", "get_weather", {"city": "Paris"}),), reasoning="I should look the weather up."),
        Fault.ok("It is 18C in Paris."),
    )
    with AiClientBuilder(Provider.OPENAI).with_connection_options(options).build() as client:
        history = [Message.user("Weather in Paris?")]
        extra = {"store": False}
        first = client.chat_completion(ChatCompletionRequest("gpt-5-pro", history, tools=[WEATHER], reasoning="high", extra=extra))
        answer = first.choices[0].message
        print("reasoning:", first.reasoning, "| tool call:", answer.tool_calls[0].name, answer.tool_calls[0].arguments)
        history += [answer, Message.tool(answer.tool_calls[0].id, "18C")]
        final = client.chat_completion(ChatCompletionRequest("gpt-5-pro", history, tools=[WEATHER], reasoning="high", extra=extra))
        sent = [item.get("type", "message") for item in api.chat_requests[-1].json["input"]]
        print("second turn sent:", sent)
        print("answer:", final.text)
