"""Type-checked by ``scripts/check`` (mypy --strict --warn-unused-ignores), never run: the public
signatures are precise enough for a type checker to catch a user's mistake. Each ``type: ignore``
marks a call mypy must reject; one it stops rejecting makes the ignore unused, which fails."""

from __future__ import annotations

from ailib import AiClient, AiClientBuilder, ConnectionOptions, RetryPolicy


def with_options_keywords(client: AiClient, builder: AiClientBuilder) -> None:
    client.with_options(timeout=5.0, max_retries=2, retry=RetryPolicy(), deadline=None, hedging=None)
    builder.with_options(ConnectionOptions(timeout=60)).with_options(deadline=30.0)
    client.with_options(timout=5.0)  # type: ignore[call-arg]
    client.with_options(max_retries="3")  # type: ignore[arg-type]
    builder.with_options(retry=3)  # type: ignore[arg-type]


def chat_return_types(client: AiClient) -> None:
    import dataclasses

    @dataclasses.dataclass
    class City:
        name: str

    text: str = client.chat("hi")
    city: City = client.chat("hi", response_format=City)  # the instance, typed as the class given
    json_text: str = client.chat("hi", response_format={"type": "json_object"})
    wrong: int = client.chat("hi", response_format=City)  # type: ignore[assignment]
    print(text, city.name, json_text, wrong)
