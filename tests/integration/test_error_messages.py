"""Error messages a user can act on: connection failures name the URL (never a secret)."""

from __future__ import annotations

import socket
import warnings

import pytest

from ailib import AiClientBuilder, ConnectionOptions, CustomProviderBuilder, NetworkError
from ailib.transport._socket import shown_url

KEY = "sk-msgtest-0123456789abcdef"


def _free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _fail(base_url: str, **options: object) -> NetworkError:
    """The error of one call, without retries, to ``base_url``."""
    provider = CustomProviderBuilder("local").with_base_url(base_url).with_api_key(KEY).build_provider()
    client = AiClientBuilder(provider).with_connection_options(ConnectionOptions(**options)).without_retry().build()
    with client, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # plain http:// to a non-loopback proxy target warns
        with pytest.raises(NetworkError) as info:
            client.chat("hi")
    return info.value


def test_a_refused_connection_names_the_url_without_query_secrets():
    """A refused connect says 'could not connect to http://127.0.0.1:PORT/v1/chat/completions', with no key and no query value."""
    port = _free_port()
    err = _fail(f"http://127.0.0.1:{port}/v1?token=hushhush-42")
    text = f"{err} {err!r}"
    assert f"could not connect to http://127.0.0.1:{port}/v1/chat/completions: " in str(err), text
    assert "refused" in str(err).lower(), text
    assert "hushhush" not in text and KEY not in text and "token" not in text
    assert err.request_sent is False and err.is_retryable()


def test_a_proxy_failure_names_the_target_and_the_proxy_not_a_connection_object():
    """A proxy that refuses names the target URL and the proxy's scheme://host:port, not _TrackedHTTPConnection or its password."""
    port = _free_port()
    err = _fail("https://api.example.test/v1", proxy=f"http://alice:pr0xy-pa55word@127.0.0.1:{port}")
    text = f"{err} {err!r}"
    assert f"could not connect to https://api.example.test:443/v1/chat/completions through the proxy http://127.0.0.1:{port}: " in text, (
        text
    )
    assert "Connection(" not in text and "pr0xy-pa55word" not in text and "alice" not in text and KEY not in text


@pytest.mark.parametrize(
    "url, shown",
    [
        ("https://api.openai.com/v1/chat/completions", "https://api.openai.com:443/v1/chat/completions"),
        ("http://user:secret-pw@10.0.0.5:8080/v1/x?key=abc&sig=def#frag", "http://10.0.0.5:8080/v1/x"),
        ("http://[::1]:9000/v1", "http://[::1]:9000/v1"),
    ],
)
def test_shown_url_keeps_scheme_host_port_path_only(url, shown):
    """shown_url gives scheme://host:port/path: the default port filled in, no user, password, query or fragment."""
    assert shown_url(url) == shown


def test_an_unreachable_redis_cache_warns_once_and_never_fails_a_call(caplog):
    """with_cache("redis://...") to a port where nothing listens: every call is answered, and one warning is logged, not one per call."""
    from ailib import ChatCompletionRequest, Message
    from ailib.testing import MockProvider

    req = ChatCompletionRequest("auto", [Message.user("hi")], temperature=0)
    with MockProvider() as mock, caplog.at_level("WARNING", logger="ailib"):
        builder = AiClientBuilder(mock.provider()).with_cache(f"redis://127.0.0.1:{_free_port()}/0")
        with builder.build() as client:
            answers = [client.chat_completion(req).text for _ in range(5)]
    warnings_logged = [r for r in caplog.records if "response cache" in r.getMessage()]
    assert answers == [answers[0]] * 5 and answers[0] and mock.request_count == 5
    assert len(warnings_logged) == 1, [r.getMessage() for r in warnings_logged]
    assert "skipping the cache for 1s" in warnings_logged[0].getMessage()
