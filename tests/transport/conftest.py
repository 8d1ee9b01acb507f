"""Fixtures of the transport tests: a TLS context for the raw server, made at test time."""

from __future__ import annotations

import pytest

from ._server import tls_context


@pytest.fixture(scope="session")
def tls(tmp_path_factory):
    """(server SSLContext with a certificate for 127.0.0.1, path of the CA bundle to verify it)."""
    return tls_context(str(tmp_path_factory.mktemp("tls")))
