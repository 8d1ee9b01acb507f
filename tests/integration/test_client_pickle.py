"""Issue 26: an AiClient pickles as its configuration, never a key; keys are read again where it is unpickled."""

from __future__ import annotations

import pickle

import pytest

from ailib import AiClient, AiClientBuilder, ChatCompletionRequest, ConnectionOptions, CustomProviderBuilder, Message
from ailib.testing import MockProvider

REQ = ChatCompletionRequest("auto", [Message.user("hi")])


def _provider(mock: MockProvider, **kw):
    return CustomProviderBuilder("mock").with_base_url(mock.base_url).with_default_chat_model("mock-model")


def test_a_pickled_client_holds_no_key_and_reads_it_again_when_unpickled(monkeypatch):
    """The pickle of a client whose key comes from the environment does not contain the key; unpickled, it sends the key the environment holds then."""
    monkeypatch.setenv("AILIB_PICKLE_KEY", "sk-first-0123456789abcdef")
    with MockProvider() as mock:
        client = AiClientBuilder(_provider(mock).with_api_key_env("AILIB_PICKLE_KEY").build_provider()).build()
        data = pickle.dumps(client)
        client.close()
        assert b"sk-first-0123456789abcdef" not in data
        monkeypatch.setenv("AILIB_PICKLE_KEY", "sk-rotated-0123456789abcdef")
        again = pickle.loads(data)
        assert again.chat_completion(REQ).first_text() == "Hello from MockProvider"
        assert mock.chat_requests[-1].headers["authorization"] == "Bearer sk-rotated-0123456789abcdef"
        again.close()


def test_a_built_in_provider_client_pickles_without_its_key(monkeypatch):
    """AiClient("openai") with OPENAI_API_KEY set pickles without the key."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-openai-0123456789abcdef")
    with AiClient("openai") as client:
        assert b"sk-env-openai" not in pickle.dumps(client)


@pytest.mark.parametrize(
    ("build", "named"),
    [
        (
            lambda m: AiClient(_provider(m).build_provider(), options=ConnectionOptions(api_key="sk-literal-0123456789")),
            "ConnectionOptions(api_key=...)",
        ),
        (lambda m: AiClientBuilder(_provider(m).with_api_key("sk-literal-0123456789").build_provider()).build(), "with_api_key(...)"),
        (
            lambda m: AiClient(
                _provider(m).build_provider(), options=ConnectionOptions(extra_headers={"X-Api-Key": "sk-literal-0123456789"})
            ),
            "credential header",
        ),
    ],
    ids=["options-api-key", "with-api-key", "credential-header"],
)
def test_a_client_with_a_literal_credential_refuses_to_pickle(build, named):
    """A literal key (options, with_api_key, a credential header) raises PicklingError naming where it is and the fix, never showing it."""
    with MockProvider() as mock:
        client = build(mock)
        with pytest.raises(pickle.PicklingError) as info:
            pickle.dumps(client)
        client.close()
    message = str(info.value)
    assert named in message and "with_api_key_env" in message and "_API_KEY" in message
    assert "sk-literal" not in message


def test_unpickling_twice_in_one_process_gives_one_client(monkeypatch):
    """The tasks of one worker process share one rebuilt client (one pool, one state) per original client."""
    monkeypatch.setenv("AILIB_PICKLE_KEY", "sk-0123456789abcdef")
    with MockProvider() as mock:
        client = AiClientBuilder(_provider(mock).with_api_key_env("AILIB_PICKLE_KEY").build_provider()).build()
        first, second = pickle.loads(pickle.dumps(client)), pickle.loads(pickle.dumps(client))
        other = AiClientBuilder(_provider(mock).with_api_key_env("AILIB_PICKLE_KEY").build_provider()).build()
        assert first is second and first is not client
        assert pickle.loads(pickle.dumps(other)) is not first
        for c in (client, first, other):
            c.close()
