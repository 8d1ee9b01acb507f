"""Keys never leak; redirects never carry credentials; TLS and plain-http rules hold.

Loopback only: the non-loopback host of the plain-http check (192.0.2.10, TEST-NET-1,
reserved for documentation) is only ever named in a URL sent through a loopback proxy, so no
packet leaves 127.0.0.1.
"""

from __future__ import annotations

import json
import logging
import ssl
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ailib import (
    AiClient,
    AiClientBuilder,
    ChatCompletionRequest,
    ConnectionOptions,
    CustomProviderBuilder,
    Message,
    ModelArray,
    ModelEndpoint,
    Provider,
)
from ailib.errors import AiLibError, AuthenticationError, ConfigurationError, NetworkError, ProtocolError, ProviderError
from ailib.testing import Fault, MockProvider
from ailib.transport import HttpRequest

from ._support import REQ, provider_at
from .matrix import FAST_RETRY, FORMATS

# Deliberately shaped like no known key format (no sk-/AIza/Bearer prefix), as Cohere's and
# many gateways' keys are: only knowing the key itself can keep it out of messages.
KEY = "ck9Zq2Lr7Vx4Tn1Wb8Hs5Jd3Fg6Mp0Ya"
AUTH_HEADER = {"openai": "authorization", "anthropic": "x-api-key", "gemini": "x-goog-api-key", "cohere": "authorization"}
CHAT_PATH = {
    "openai": "/v1/chat/completions",
    "anthropic": "/v1/messages",
    "gemini": "/v1beta/models/mock-model:generateContent",
    "cohere": "/v2/chat",
}
# A throwaway self-signed certificate for 127.0.0.1/localhost (TEST ONLY, valid until 2126).
TEST_CERT = """-----BEGIN CERTIFICATE-----
MIIBsTCCAVegAwIBAgIUbZtF0LyBh0r+WdlWLPO4U16cQ3cwCgYIKoZIzj0EAwIw
HzEdMBsGA1UEAwwUYWlsaWItdGVzdC1sb2NhbGhvc3QwIBcNMjYxMTIyMDMyODQ1
WhgPMjEyNjEwMjkwMzI4NDVaMB8xHTAbBgNVBAMMFGFpbGliLXRlc3QtbG9jYWxo
b3N0MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEse23fH038K00Ze3BPtpm4JGq
ebBYIyQoKRXJknJTbwl0xoG/xDyxaY3S/Ejkug5EOn1xuMhUasPUIx9ZyBvUnKNv
MG0wHQYDVR0OBBYEFIzvnpNgk+JkPRc0L4m4Bdf2bzVQMB8GA1UdIwQYMBaAFIzv
npNgk+JkPRc0L4m4Bdf2bzVQMA8GA1UdEwEB/wQFMAMBAf8wGgYDVR0RBBMwEYcE
fwAAAYIJbG9jYWxob3N0MAoGCCqGSM49BAMCA0gAMEUCIQCCsSV2GOXouCzYXQgh
fiEBwOiXyU5Ge9O2hm5xgBLHmwIgNVl6Gae0pzOz6tDR2raSU20UHnllXuBgrmX7
/IgOSp0=
-----END CERTIFICATE-----
"""
TEST_CERT_KEY = """-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgO5g4lHoqRZi0iT9Y
seSDPNe3eJH6McGm5l4UqyAFH+yhRANCAASx7bd8fTfwrTRl7cE+2mbgkap5sFgj
JCgpFcmSclNvCXTGgb/EPLFpjdL8SOS6DkQ6fXG4yFRqw9QjH1nIG9Sc
-----END PRIVATE KEY-----
"""


def messages(caught: list[warnings.WarningMessage]) -> list[str]:
    """The warnings' texts, without ResourceWarnings (the garbage collector may report any object at any time)."""
    return [str(w.message) for w in caught if not issubclass(w.category, ResourceWarning)]


def leaks(*objects: Any) -> list[str]:
    """The str()/repr() texts of ``objects`` that contain the key."""
    texts = []
    for obj in objects:
        texts += [str(obj), repr(obj)]
    return [t for t in texts if KEY in t]


def outcome(client: AiClient, stream: bool) -> Any:
    try:
        if stream:
            s = client.chat_completion_stream(REQ)
            with s:
                for _ in s:
                    pass
            return s
        return client.chat_completion(REQ)
    except AiLibError as err:
        return err


@pytest.fixture(params=FORMATS)
def fmt(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def server(fmt: str) -> Iterator[MockProvider]:
    with MockProvider(fmt, api_key=KEY) as m:
        yield m


@pytest.fixture
def client(server: MockProvider) -> Iterator[AiClient]:
    c = AiClientBuilder(server.provider(api_key=KEY)).with_retry(FAST_RETRY).build()
    yield c
    c.close()


# -- the key in errors, attempts, reprs --------------------------------------------------------
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_a_key_the_server_echoes_in_an_error_never_reaches_str_repr_or_attempts(
    server: MockProvider, client: AiClient, stream: bool
) -> None:
    """401/500 error bodies, an HTML page and a bad SSE event that echo the key: no error, attempt or message shows it."""
    echo = f"Incorrect API key provided: {KEY}. You can find your key at https://example.invalid/keys"
    cases = [
        ([Fault.http_status(401, message=echo)], AuthenticationError),
        ([Fault.http_status(500, message=echo)] * 3, ProviderError),
        ([Fault.malformed(f"<html><body>{'x' * 150}{KEY} denied</body></html>".encode(), content_type="text/html")], ProtocolError),
    ]
    if stream:
        cases.append(([Fault.garbage_stream(f"data: {'y' * 70}{KEY}\n\n".encode())], ProtocolError))
    for faults, expected in cases:
        server.enqueue(*faults)
        err = outcome(client, stream)
        assert type(err) is expected, err
        assert leaks(err, err.attempts, *(a.error for a in err.attempts), err.message) == []
    assert all(r.headers.get(AUTH_HEADER[server.wire_format], "").endswith(KEY) for r in server.chat_requests)  # the key was in play


def test_no_object_of_the_public_api_shows_the_key_in_its_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    """Options, provider specs, clients, requests, responses, streams, attempts and HTTP requests never show the key."""
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    with MockProvider("openai", api_key=KEY) as m:
        spec = m.provider(api_key=KEY)
        gateway = (
            CustomProviderBuilder("gw").with_base_url(m.base_url).with_api_key(KEY).with_headers({"X-Api-Token": KEY}).build_provider()
        )
        options = ConnectionOptions(api_key=KEY, extra_headers={"X-Extra-Key": KEY})
        client = AiClientBuilder(spec).with_options(options).with_failover_chain([gateway]).with_retry(FAST_RETRY).build()
        env_client = AiClient(Provider.OPENAI).with_failover([Provider.ANTHROPIC])
        resp = client.chat_completion(REQ)
        stream = client.chat_completion_stream(REQ)
        with stream:
            chunks = list(stream)
        http_req = HttpRequest("POST", m.base_url + "/chat/completions", {"Authorization": f"Bearer {KEY}", "x-api-key": KEY}, b"{}")
        objects = [spec, gateway, options, client, env_client, *client.fallback_chain(), *env_client.fallback_chain(), REQ, resp, resp.attempts,
                   stream, chunks, stream.attempts, http_req, Provider.OPENAI, Provider.OPENAI.spec]  # fmt: skip
        assert leaks(*objects) == []
        client.close()
        env_client.close()


def test_a_missing_key_error_names_the_variable_not_a_value(monkeypatch: pytest.MonkeyPatch) -> None:
    """ConfigurationError for a missing key names OPENAI_API_KEY and contains no other key material."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigurationError) as info:
        AiClient("openai")
    assert "OPENAI_API_KEY" in str(info.value) and leaks(info.value) == []


def test_debug_logs_never_contain_the_key(caplog: pytest.LogCaptureFixture) -> None:
    """With every logger at DEBUG, calls that succeed, retry, fail with an echoed key and stream log no key (nor a secret custom header)."""
    caplog.set_level(logging.DEBUG)
    header_secret = "hdr7Kq2Wm9Xv4Bn6Zr1Tc8Ld3Fs5Gp0Yh"
    with MockProvider("anthropic", api_key=KEY) as m:
        gateway = (
            CustomProviderBuilder("gw")
            .with_base_url(m.base_url)
            .with_wire_format("anthropic")
            .with_default_chat_model("mock-model")
            .with_api_key(KEY)
            .with_headers({"X-Api-Token": header_secret})
            .build_provider()
        )
        client = AiClientBuilder(gateway).with_retry(FAST_RETRY).build()
        m.enqueue(Fault.http_status(429), Fault.http_status(401, message=f"bad key {KEY}"), Fault.reset())
        for stream in (False, False, True, False):
            outcome(client, stream)
        client.close()
    messages = [r.getMessage() for r in caplog.records]
    assert any(r.name == "ailib" and r.levelno == logging.DEBUG for r in caplog.records), "no DEBUG line was logged"
    assert any("x-api-key" in msg for msg in messages), "the request headers were not logged"
    assert [msg for msg in messages if KEY in msg or header_secret in msg] == []
    assert KEY not in caplog.text and header_secret not in caplog.text


def test_a_batch_checkpoint_file_never_contains_the_key(tmp_path: Path) -> None:
    """chat_completion_batch(checkpoint=...) writes responses and an error that echoed the key, without the key."""
    path = tmp_path / "batch.jsonl"
    requests = [ChatCompletionRequest("auto", [Message.user(f"q{i}")]) for i in range(4)]

    def script(i: int, rec: Any) -> Any:
        body = json.dumps(rec.json)
        return Fault.http_status(401, message=f"Incorrect API key provided: {KEY}") if "q2" in body else None

    with MockProvider("openai", api_key=KEY, script=script) as m:
        with AiClientBuilder(m.provider(api_key=KEY)).with_retry(FAST_RETRY).build() as client:
            results = client.chat_completion_batch(requests, concurrency=2, checkpoint=str(path))
    assert [type(r).__name__ for r in results] == ["ChatCompletionResponse"] * 2 + ["AuthenticationError"] + ["ChatCompletionResponse"]
    text = path.read_text(encoding="utf-8")
    assert text.count("\n") == 4 and "AuthenticationError" in text
    assert KEY not in text


# -- redirects ------------------------------------------------------------------------------------
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_never_carries_credentials_to_another_host(fmt: str, status: int) -> None:
    """A 3xx pointing at another host (a second loopback server) is not followed: no request, no key reaches it."""
    with MockProvider(fmt, api_key=KEY) as first, MockProvider(fmt) as other:
        client = AiClientBuilder(first.provider(api_key=KEY)).with_retry(FAST_RETRY).build()
        for stream in (False, True):
            first.enqueue(Fault.redirect(f"http://localhost:{other.port}{CHAT_PATH[fmt]}", status))
            err = outcome(client, stream)
            assert type(err) is ProtocolError and err.status_code == status and len(err.attempts) == 1, err
        first.enqueue(Fault.redirect("/somewhere/else", status))  # same host, relative: not followed either
        assert type(outcome(client, False)) is ProtocolError
        client.close()
        assert first.request_count == 3 and all(r.headers[AUTH_HEADER[fmt]].endswith(KEY) for r in first.chat_requests)
        assert other.requests == []


# -- TLS verification ----------------------------------------------------------------------------
@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[MockProvider]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text(TEST_CERT)
    key.write_text(TEST_CERT_KEY)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    with MockProvider("openai", api_key=KEY, ssl_context=context) as m:
        yield m


def test_tls_is_verified_unless_verify_false_is_asked_for(tls_server: MockProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """A self-signed HTTPS server is refused by default, even with CURL_CA_BUNDLE/REQUESTS_CA_BUNDLE emptied, silently and without retries."""
    monkeypatch.setenv("CURL_CA_BUNDLE", "")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "")
    assert tls_server.base_url.startswith("https://127.0.0.1:")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for options in (ConnectionOptions(), ConnectionOptions(verify=True)):
            with AiClientBuilder(tls_server.provider(api_key=KEY)).with_options(options).with_retry(FAST_RETRY).build() as client:
                err = outcome(client, False)
                assert type(err) is NetworkError and "certificate verify failed" in str(err) and len(err.attempts) == 1, err
    assert tls_server.request_count == 0
    assert messages(caught) == []


def test_verify_false_works_and_warns_exactly_once(tls_server: MockProvider) -> None:
    """verify=False reaches the self-signed server and warns once for the host, not once per request."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with AiClientBuilder(tls_server.provider(api_key=KEY)).with_options(ConnectionOptions(verify=False)).build() as client:
            texts = [client.chat_completion(REQ).text for _ in range(3)]
            outcome(client, True)
    assert texts == ["Hello from MockProvider"] * 3 and tls_server.request_count == 4
    assert messages(caught) == ["ailib: TLS certificate verification is OFF for 127.0.0.1 (verify=False)"]


# -- base URLs and plain http -------------------------------------------------------------------
BAD_URLS = [
    "ftp://127.0.0.1/v1",
    "file:///etc/passwd",
    "ws://127.0.0.1:1/v1",
    "127.0.0.1:8080/v1",
    "javascript:alert(1)",
    "http://",
    "http:///v1",
    "https://:443/v1",
    "http://exa mple.com/v1",
]


@pytest.mark.parametrize("url", BAD_URLS)
def test_a_base_url_that_is_not_an_http_url_with_a_host_is_a_configuration_error(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Through every door (custom provider, options, <PREFIX>_BASE_URL, ModelEndpoint) a bad base URL fails at build time."""
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with pytest.raises(ConfigurationError):
        CustomProviderBuilder("x").with_base_url(url)
    with pytest.raises(ConfigurationError):
        AiClient("openai", options=ConnectionOptions(base_url=url))
    monkeypatch.setenv("OPENAI_BASE_URL", url)
    with pytest.raises(ConfigurationError):
        AiClient("openai")
    monkeypatch.delenv("OPENAI_BASE_URL")
    with pytest.raises(ConfigurationError):
        array = ModelArray("a")
        array.add_endpoint(ModelEndpoint("e", url=url))
        AiClient.with_model_array(array)


def test_plain_http_to_a_non_loopback_host_warns_once_and_no_packet_leaves_loopback() -> None:
    """http:// to 192.0.2.10 (sent through a loopback proxy, never to that address) warns exactly once for the host."""
    with MockProvider("openai", api_key=KEY) as proxy:
        provider = provider_at("http://192.0.2.10/v1", "openai", key=KEY)
        options = ConnectionOptions(proxy=proxy.url, connect_timeout=0.2, timeout=2.0)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with AiClientBuilder(provider).with_options(options).with_deadline(2.0).without_retry().build() as client:
                answers = [client.chat_completion(REQ).text for _ in range(3)]
        assert answers == ["Hello from MockProvider"] * 3
        assert [r.path for r in proxy.chat_requests] == ["http://192.0.2.10/v1/chat/completions"] * 3  # all went to the loopback proxy
    assert messages(caught) == ["ailib: sending API requests to 192.0.2.10 over plain http://"]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_plain_http_to_loopback_does_not_warn(host: str) -> None:
    """http:// to a loopback host (how local models and tests run) gives no warning."""
    with MockProvider("openai", api_key=KEY) as m:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with AiClientBuilder(provider_at(f"http://{host}:{m.port}/v1", "openai", key=KEY)).build() as client:
                assert client.chat_completion(REQ).text == "Hello from MockProvider"
    assert messages(caught) == []
