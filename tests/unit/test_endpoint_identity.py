"""An endpoint's identity (what cache keys and Redis keys are scoped to) and its one-way credential digest."""

from __future__ import annotations

import hashlib
import hmac
import json

from ailib import ConnectionOptions, CustomProviderBuilder
from ailib.routing.endpoint import build_endpoint

KEY = "sk-identity-0123456789abcdef"


def endpoint(base_url: str = "https://gw-a.example/v1", key: str = KEY, **opts):
    spec = CustomProviderBuilder("gw").with_base_url(base_url).with_api_key(key).build_provider()
    return build_endpoint(spec, ConnectionOptions(**opts) if opts else None)


def test_the_credential_digest_is_an_hmac_that_never_contains_the_key():
    """The digest is HMAC-SHA-256 under ailib's fixed label (reproducible in any process) and holds no part of the key."""
    ep = endpoint()
    digest = ep.credential_digest()
    secrets = sorted((k.lower(), v) for k, v in ep.headers.items() if k.lower() == "authorization")
    material = json.dumps([KEY, secrets, ""], separators=(",", ":")).encode()
    assert digest == hmac.new(b"ailib endpoint credential v1", material, hashlib.sha256).hexdigest()
    assert KEY not in digest and KEY[3:11] not in digest and KEY not in ep.identity()


def test_identities_differ_by_base_url_key_query_and_routing_header_only():
    """Another base URL, key, base-URL query or routing header changes the identity; the endpoint's name and timeouts do not."""
    base = endpoint()
    assert endpoint().identity() == base.identity()
    assert build_endpoint(base.spec, None, name="other-name").identity() == base.identity()
    assert endpoint(timeout=3.0).identity() == base.identity()
    others = [
        endpoint("https://gw-b.example/v1"),
        endpoint(key="sk-identity-other-0123456789"),
        endpoint("https://gw-a.example/v1?tenant=2"),
        endpoint(extra_headers={"X-Route": "eu"}),
    ]
    assert len({base.identity(), *(o.identity() for o in others)}) == 5
