"""A custom OpenAI-compatible gateway injected into the strategy builder, offline.

``with_strategy(custom_provider)`` adds the gateway after the builder's provider; a
routing strategy object (``select(endpoints, request)``) may order them instead.
"""

from __future__ import annotations

from ailib import AiClientBuilder, ChatCompletionRequest, CustomProviderBuilder, Message
from ailib.testing import Fault, MockProvider


class PreferGateway:
    """A routing strategy: the gateway first, then the rest in declared order."""

    def select(self, endpoints, request):
        return sorted(endpoints, key=lambda ep: ep.name != "my-gateway")


with MockProvider(name="primary") as primary, MockProvider(name="gateway") as gateway:
    custom = (
        CustomProviderBuilder("my-gateway")
        .with_base_url(gateway.base_url)
        .with_api_key("gateway-demo-key")
        .with_default_chat_model("gpt-4-turbo")
        .build_provider()
    )
    req = ChatCompletionRequest("auto", [Message.user("hi")])
    client = AiClientBuilder(primary.provider()).with_strategy(custom).without_retry().build()
    primary.enqueue(Fault.http_status(503))
    print("primary down -> answered by", client.chat_completion(req).provider)
    client.close()
    ordered = AiClientBuilder(primary.provider()).with_strategy(custom).with_strategy(PreferGateway()).build()
    print("with a custom strategy -> answered by", ordered.chat_completion(req).provider)
    ordered.close()
