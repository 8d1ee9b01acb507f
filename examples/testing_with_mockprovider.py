"""Testing your own code that calls ailib, with `ailib.testing.MockProvider` (a real HTTP
server on 127.0.0.1 speaking the providers' wire formats, with scripted faults).

    python examples/testing_with_mockprovider.py     # runs the tests below with pytest
    pytest examples/testing_with_mockprovider.py     # the same

Use it where timing, sockets or streams matter (retries, timeouts, a stream cut halfway);
`responses` (examples/testing_with_responses.py) is enough for plain request/answer checks.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ailib import AiClient, AiClientBuilder, AiLibError, ChatCompletionRequest, Message, RetryPolicy, StreamInterruptedError
from ailib.testing import Fault, MockProvider

# -- the code under test ------------------------------------------------------------------------


def answer(client: AiClient, question: str) -> str:
    """The answer, or a polite apology when the provider cannot give one."""
    try:
        return client.chat(question)
    except AiLibError:  # every ailib failure is one; see the error tree in the README
        return "Sorry, try again later."


def stream_answer(client: AiClient, question: str) -> str:
    """The streamed answer; a stream cut short keeps what arrived and says so."""
    req = ChatCompletionRequest("auto", [Message.user(question)])
    try:
        with client.chat_completion_stream(req) as stream:
            return "".join(chunk.delta_text for chunk in stream)
    except StreamInterruptedError as err:
        return err.partial_text + " [cut short]"


# -- the tests -----------------------------------------------------------------------------------


@pytest.fixture
def mock() -> Iterator[MockProvider]:
    """A MockProvider for one test (`MockProvider("anthropic")`, "gemini", "cohere" speak the other formats)."""
    with MockProvider(reply="Forty-two.") as server:
        yield server


@pytest.fixture
def client(mock: MockProvider) -> Iterator[AiClient]:
    """A client of the mock that retries without waiting long."""
    retry = RetryPolicy(max_attempts=3, initial_delay=0.01, max_delay=0.02)
    with AiClientBuilder(mock.provider()).with_retry(retry).build() as c:
        yield c


def test_answer_returns_the_text_and_sends_the_question(mock: MockProvider, client: AiClient) -> None:
    """One request, carrying the question; the mock's reply comes back."""
    assert answer(client, "The answer?") == "Forty-two."
    assert mock.request_count == 1 and mock.chat_requests[0].json["messages"][-1]["content"] == "The answer?"


def test_a_429_and_a_reset_are_retried(mock: MockProvider, client: AiClient) -> None:
    """The client retries a rate limit and a dropped connection; the third request answers."""
    mock.enqueue(Fault.http_status(429, retry_after="0"), Fault.reset())
    assert answer(client, "The answer?") == "Forty-two." and mock.request_count == 3


def test_an_outage_gives_the_apology(mock: MockProvider, client: AiClient) -> None:
    """Three 503s in a row exhaust the retries: the user sees the apology."""
    mock.enqueue(*[Fault.http_status(503)] * 3)
    assert answer(client, "The answer?") == "Sorry, try again later."


def test_a_stream_cut_short_keeps_what_arrived(mock: MockProvider, client: AiClient) -> None:
    """The stream stops after its first chunk: the partial text is kept and marked."""
    mock.enqueue(Fault.cut_stream(after=1))
    assert stream_answer(client, "The answer?").endswith(" [cut short]")


if __name__ == "__main__":
    import sys

    sys.exit(pytest.main([__file__, "-q", "-p", "no:cacheprovider"]))
