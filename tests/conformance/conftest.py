"""The official SDKs against MockProvider: each SDK must get from the mock what it gets from
the real service. One loopback server per format for the module, reset before each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ailib.testing import MockProvider, Reply

KEY = "sk-conformance-0123456789"
TEXT = "Hello from the conformance mock"
TOOL = ("call_weather_1", "get_weather", {"city": "Paris", "unit": "celsius"})
WEATHER_TOOL_SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}, "unit": {"type": "string"}}, "required": ["city"]}


def served(fmt: str) -> Iterator[MockProvider]:
    with MockProvider(fmt, api_key=KEY, reply=Reply(TEXT, prompt_tokens=11, completion_tokens=7)) as mock:
        yield mock


@pytest.fixture
def fresh(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
