"""ailib._secrets: the one module that remembers, masks and redacts credentials."""

from __future__ import annotations

import json
import pickle
import traceback

from ailib import ConnectionOptions, _secrets
from ailib.errors import AllProvidersFailedError, ProviderError, StreamInterruptedError

KEY = "qz7Rk2Lp9Wx4Tn1Vb8Hs5Jd3Fg6Mc0Ye"  # shaped like no known key format


def test_remembered_key_is_masked_anywhere_in_text():
    """A remembered key is replaced by *** wherever it appears, even with no key-like shape."""
    _secrets.remember(KEY)
    assert _secrets.mask(f"bad key {KEY}, again:{KEY}.") == "bad key ***, again:***."


def test_shaped_keys_are_masked_without_being_remembered():
    """Anything shaped like an sk-/AIza/Bearer key is masked even if never remembered."""
    text = _secrets.mask("a sk-proj-abcdefghij1234 b AIzaSyA1234567890abcdefgh c Bearer abcdefgh.ijkl")
    assert "abcdefghij1234" not in text and "AIzaSyA1234567890" not in text and "abcdefgh.ijkl" not in text


def test_scheme_credential_value_masks_the_credential_alone():
    """Remembering 'Token <cred>' also masks <cred> when a server echoes it without the scheme."""
    _secrets.remember("Token tk5Jd3Fg6Mc0YeQz7R")
    assert _secrets.mask("got tk5Jd3Fg6Mc0YeQz7R") == "got ***"


def test_short_values_are_not_remembered():
    """Values under 8 characters are not remembered (they would mask ordinary words)."""
    _secrets.remember("hello")
    assert _secrets.mask("hello world") == "hello world"


def test_secret_headers_by_name():
    """Credential headers are recognised by well-known and credential-looking names, not idempotency keys."""
    for name in ("Authorization", "x-api-key", "X-Goog-Api-Key", "X-Api-Token", "X-Auth", "Cookie", "proxy-authorization"):
        assert _secrets.is_secret_header(name), name
    for name in ("Idempotency-Key", "content-type", "x-request-id", "anthropic-version"):
        assert not _secrets.is_secret_header(name), name


def test_rate_limit_headers_naming_tokens_are_not_secret():
    """Rate-limit headers that name tokens (OpenAI, Anthropic) hold counts, not credentials: they are kept."""
    names = (
        "x-ratelimit-remaining-tokens",
        "x-ratelimit-limit-tokens",
        "anthropic-ratelimit-input-tokens-limit",
        "X-RateLimit-Reset-Tokens",
    )
    for name in names:
        assert not _secrets.is_secret_header(name), name
    assert _secrets.is_secret_header("x-amz-security-token")


def test_redact_headers_hides_credentials_and_masks_echoes():
    """redact_headers replaces credential headers by *** and masks a key echoed in any other header."""
    _secrets.remember(KEY)
    out = _secrets.redact_headers({"Authorization": "Bearer x", "x-request-id": f"req-{KEY}", "accept": "a"})
    assert out == {"Authorization": "***", "x-request-id": "req-***", "accept": "a"}


def test_remember_headers_remembers_credential_header_values():
    """remember_headers remembers the key and every credential-looking header's value."""
    _secrets.remember_headers("ak3Jd8Fg1Mc5YeQz", {"X-Custom-Token": "ht6Wx2Tn9Vb4Hs7J", "Accept": "application/json"})
    assert _secrets.mask("ak3Jd8Fg1Mc5YeQz ht6Wx2Tn9Vb4Hs7J application/json") == "*** *** application/json"


def test_connection_options_remember_their_credentials():
    """A key, a proxy password and a credential extra header given in ConnectionOptions are masked from then on."""
    ConnectionOptions(
        api_key="co1Kq8Zr3Lm5Nx7P", proxy="http://user:pw9Rt4Yu2Io6Pa@127.0.0.1:1", extra_headers={"X-Api-Token": "xt4Ab7Cd1Ef9Gh3J"}
    )
    assert _secrets.mask("co1Kq8Zr3Lm5Nx7P pw9Rt4Yu2Io6Pa xt4Ab7Cd1Ef9Gh3J") == "*** *** ***"


def test_mask_value_walks_json_structures():
    """mask_value masks every string of a decoded JSON body, keys included, and leaves other values alone."""
    _secrets.remember(KEY)
    body = {"error": {"message": f"bad {KEY}", "codes": [KEY, 3, None]}, KEY: True}
    assert _secrets.mask_value(body) == {"error": {"message": "bad ***", "codes": ["***", 3, None]}, "***": True}


def test_clip_never_shows_part_of_a_key():
    """clip() masks before cutting, so a key straddling the cut shows no prefix of itself."""
    _secrets.remember(KEY)
    text = "x" * 10 + KEY
    assert _secrets.clip(text, 20) == "x" * 10 + "***"


def test_error_masks_message_request_id_and_body():
    """An error masks a remembered key in its message, request id and body, and in str/repr."""
    _secrets.remember(KEY)
    err = ProviderError(f"echo {KEY}", request_id=KEY, body={"error": {"message": KEY}})
    assert KEY not in err.message and KEY not in err.request_id and KEY not in json.dumps(err.body)
    assert KEY not in str(err) and KEY not in repr(err)


def test_pickle_masks_a_key_set_on_an_error_after_construction():
    """pickle.dumps masks every field, even one set after the error was built (partial text, headers)."""
    _secrets.remember(KEY)
    err = StreamInterruptedError("cut", partial_text=f"said {KEY}")
    err.headers = {"authorization": "Bearer whatever", "x-request-id": KEY}
    data = pickle.dumps(AllProvidersFailedError("all failed", errors=[err]))
    assert KEY.encode() not in data and b"whatever" not in data
    again = pickle.loads(data)
    assert again.errors[0].partial_text == "said ***" and again.errors[0].headers["authorization"] == "***"


def test_traceback_masks_chained_foreign_exceptions():
    """A key inside a chained lower-level exception (cause and context) never reaches the formatted traceback."""
    _secrets.remember(KEY)
    try:
        try:
            try:
                json.loads('{"key": "' + KEY + '" oops')
            except ValueError:
                raise OSError(5, f"io {KEY}", f"/tmp/{KEY}") from None
        except OSError as exc:
            raise ProviderError("failed") from exc
    except ProviderError as e:
        err = e
    text = "".join(traceback.format_exception(type(err), err, err.__traceback__))
    assert "OSError" in text and KEY not in text
    assert isinstance(err.__cause__, OSError)  # the chain keeps its types
