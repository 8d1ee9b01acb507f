"""The hot path (straight onto the urllib3 pool) keeps what requests users rely on: proxies and TLS checks."""

from __future__ import annotations

import pytest

from ailib.errors import NetworkError

from ._server import RawServer
from ._support import client_for, request


def test_a_proxy_from_the_options_carries_every_call():
    """``ConnectionOptions(proxy=...)``: calls to an http:// base URL go to the proxy with the absolute URL; plain http still warns once."""
    with RawServer("length") as proxy:
        proxy_url = f"http://127.0.0.1:{proxy.port}"
        with client_for("http://api.example.invalid/v1", proxy=proxy_url, retry=False) as client:
            with pytest.warns(UserWarning, match="plain http"):
                assert client.chat_completion(request("via proxy")).text == "echo:via proxy"
            assert client.chat_completion(request("via proxy")).text == "echo:via proxy"
        assert proxy.request_lines == ["POST http://api.example.invalid/v1/chat/completions HTTP/1.1"] * 2


def test_tls_verification_stays_on():
    """A server whose certificate is not signed by a trusted CA is refused (not retried), and verify=<CA bundle> accepts it."""
    import tempfile

    from ._server import tls_context

    ctx, ca = tls_context(tempfile.mkdtemp())
    with RawServer("tls", ssl_context=ctx) as server:
        with client_for(server.base_url) as client:  # the system CAs only
            try:
                client.chat_completion(request())
                raise AssertionError("an untrusted certificate was accepted")
            except NetworkError as err:
                assert "TLS" in str(err) and not err.is_retryable()
        with client_for(server.base_url, ca=ca) as client:
            assert client.chat_completion(request("ok")).text == "echo:ok"
        assert server.request_count == 1
