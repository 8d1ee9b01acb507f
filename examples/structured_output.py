"""Structured output: a dataclass as response_format, the answer parsed into it (no pydantic needed).
Offline unless OPENAI_API_KEY is set."""

from __future__ import annotations

import dataclasses

from _common import provider_or_mock

from ailib import AiClient, ChatCompletionRequest, Message, StructuredOutputError


@dataclasses.dataclass
class City:
    name: str
    country: str
    population: int


ANSWER = '{"name": "Paris", "country": "France", "population": 2102650}'  # what the offline mock answers

with provider_or_mock(reply=ANSWER) as provider, AiClient(provider) as client:
    request = ChatCompletionRequest("auto", [Message.user("The largest city of France, as JSON.")], response_format=City)
    try:
        resp = client.chat_completion(request)  # the schema is sent in the provider's own form
    except StructuredOutputError as err:  # the answer was not JSON, or not a City
        print("no City in the answer:", err, repr(err.raw_text))
    else:
        city = resp.parsed
        print(f"{city.name}, {city.country}: {city.population:,} people")
