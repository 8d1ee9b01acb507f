"""Streaming with the commit point. Offline unless OPENAI_API_KEY is set."""

from __future__ import annotations

from _common import provider_or_mock

from ailib import AiClient, ChatCompletionRequest, Message, StreamInterruptedError

with provider_or_mock(reply="Streams deliver text as it is generated.") as provider, AiClient(provider) as client:
    req = ChatCompletionRequest("auto", [Message.user("Explain streaming in one sentence.")])
    try:
        with client.chat_completion_stream(req) as stream:
            for chunk in stream:
                print(chunk.delta_text, end="", flush=True)
        print(f"\n[finish_reason={stream.finish_reason}, usage={stream.usage}]")
    except StreamInterruptedError as err:
        print(f"\n[interrupted; kept {len(err.partial_text)} characters]")
