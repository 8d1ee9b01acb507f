"""Testing your own code that calls ailib, with `responses` (no server, no network, no key).

    python examples/testing_with_responses.py     # runs the tests below with pytest
    pytest examples/testing_with_responses.py     # the same

Your code takes the client as an argument (or gets it from one place), so a test can hand it
a client whose base URL and key are pinned: then nothing in the environment (a real
OPENAI_API_KEY, an OPENAI_BASE_URL left over from `ailib mock-server`) can change where the
test's requests go. `responses` intercepts them as it does any `requests` call, streamed
answers included: give it the Server-Sent Events body the provider would send.
"""

from __future__ import annotations

import json

import responses
from responses import matchers, registries

from ailib import AiClient, AiClientBuilder, ChatCompletionRequest, ConnectionOptions, Message, Provider, RetryPolicy

# -- the code under test ------------------------------------------------------------------------


def summarise(client: AiClient, text: str) -> str:
    """One line summing up ``text``."""
    req = ChatCompletionRequest("gpt-4o-mini", [Message.system("Answer in one line."), Message.user(text)], temperature=0)
    return client.chat_completion(req).text.strip()


def stream_summary(client: AiClient, text: str) -> list[str]:
    """The pieces of the summary as they stream in."""
    req = ChatCompletionRequest("gpt-4o-mini", [Message.user(text)])
    with client.chat_completion_stream(req) as stream:
        return [chunk.delta_text for chunk in stream if chunk.delta_text]


# -- the tests -----------------------------------------------------------------------------------

URL = "https://api.openai.com/v1/chat/completions"


def test_client() -> AiClient:
    """A client whose base URL and key the environment cannot change, retrying without real waits."""
    options = ConnectionOptions(base_url="https://api.openai.com/v1", api_key="sk-test")
    retry = RetryPolicy(max_attempts=2, initial_delay=0.0, max_delay=0.0)
    return AiClientBuilder(Provider.OPENAI).with_options(options).with_retry(retry).build()


test_client.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


def completion(text: str) -> dict:
    """An OpenAI chat completion body answering ``text``."""
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17},
    }


def sse(*pieces: str) -> str:
    """The Server-Sent Events body of an OpenAI stream sending ``pieces``, then ``[DONE]``."""
    chunk = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "gpt-4o-mini"}
    events = [{**chunk, "choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}]} for p in pieces]
    events.append({**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    return "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"


@responses.activate
def test_summarise_sends_the_text_and_returns_the_answer() -> None:
    """summarise() posts the model, the system line and the text, and returns the answer's text."""
    sent = {"model": "gpt-4o-mini", "temperature": 0}
    responses.post(URL, json=completion("A short summary."), match=[matchers.json_params_matcher(sent, strict_match=False)])
    with test_client() as client:
        assert summarise(client, "A long text.") == "A short summary."
    body = json.loads(responses.calls[0].request.body)
    assert [m["role"] for m in body["messages"]] == ["system", "user"] and body["messages"][1]["content"] == "A long text."


@responses.activate
def test_stream_summary_yields_the_streamed_pieces() -> None:
    """A streamed answer mocked as its SSE body arrives piece by piece."""
    responses.post(URL, body=sse("A short", " summary."), content_type="text/event-stream")
    with test_client() as client:
        assert stream_summary(client, "A long text.") == ["A short", " summary."]


@responses.activate(registry=registries.OrderedRegistry)
def test_a_503_is_retried_once() -> None:
    """The responses are served in order: the 503 is retried and the second answer returned."""
    responses.post(URL, json={"error": {"message": "busy", "type": "server_error"}}, status=503)
    responses.post(URL, json=completion("Second time lucky."))
    with test_client() as client:
        assert summarise(client, "A long text.") == "Second time lucky."
    assert len(responses.calls) == 2


if __name__ == "__main__":
    import sys

    import pytest

    sys.exit(pytest.main([__file__, "-q", "-p", "no:cacheprovider"]))
