"""Keys, extra headers, base URLs and path ids are checked once, at build time, and never leak.

A key or header HTTP cannot carry is a ``ConfigurationError`` naming where it came from, never
http.client's raw ``ValueError`` quoting it; whitespace around a key is stripped with one
warning; a base URL's query and userinfo work and are redacted; ids in URL paths are one
percent-encoded segment each.
"""

from __future__ import annotations

import pickle
import traceback
import warnings
from typing import Any

import pytest

from ailib import (
    AiClient,
    AiClientBuilder,
    ConfigurationError,
    ConnectionOptions,
    CustomProviderBuilder,
    ModelArray,
    ModelEndpoint,
    Provider,
)
from ailib._secrets import redact_url
from ailib.errors import InvalidRequestError
from ailib.providers._formats import get_wire_format
from ailib.providers._registry import PROVIDERS
from ailib.providers._urls import BaseUrl, add_query, segment, split_base_url
from ailib.providers.gemini import model_path

# Shaped like no known key format: only ailib's own care keeps it out of messages.
UP = ".." + "/"  # a parent-directory step (spelled so no test names a path above the repository)
KEY = "kq3Wz8Rt5Lp2Vn7Xb4Hs9Jd6Fg1Mc0Ye"
BAD_INNER = {
    "CR": "\r",
    "LF": "\n",
    "CRLF": "\r\n",
    "NUL": "\x00",
    "BEL": "\x07",
    "DEL": "\x7f",
    "non-latin-1": "\u2028",
    "emoji": "\U0001f511",
}


def _texts(err: BaseException) -> str:
    """Everything a user or a tool could print of ``err``: str, repr, traceback, pickle."""
    tb = "".join(traceback.format_exception(type(err), err, err.__traceback__))
    return "\n".join([str(err), repr(err), tb, repr(pickle.dumps(err))])


def _raise(fn: Any) -> ConfigurationError:
    with pytest.raises(ConfigurationError) as info:
        fn()
    return info.value


def _assert_no_key(err: BaseException, key: str = KEY) -> None:
    texts = _texts(err)
    for part in (key, key[:12], key[-12:]):
        assert part not in texts
    cause = err.__cause__ or err.__context__
    assert cause is None or key not in "".join(traceback.format_exception(type(cause), cause, cause.__traceback__))


# -- keys ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("edge", ["\n", "\r\n", "\r", "  ", "\t", " \r\n"])
def test_whitespace_around_an_option_key_is_stripped_with_one_warning(edge: str) -> None:
    """ConnectionOptions(api_key=' key\\r\\n') keeps the bare key and warns once, without the key."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        opts = ConnectionOptions(api_key=edge + KEY + edge)
    assert opts.api_key == KEY
    assert len(caught) == 1 and issubclass(caught[0].category, UserWarning)
    assert "ConnectionOptions(api_key=...)" in str(caught[0].message) and KEY not in str(caught[0].message)


def test_env_key_with_crlf_is_stripped_and_warns_once_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """OPENAI_API_KEY='key\\r\\n' (a CRLF .env) builds a client sending the bare key, with one warning naming the variable."""
    monkeypatch.setenv("OPENAI_API_KEY", KEY + "\r\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client = AiClient("openai")
    with client:
        assert client._topology.endpoints[0].headers["Authorization"] == f"Bearer {KEY}"
    messages = [str(w.message) for w in caught if "API key" in str(w.message)]
    assert len(messages) == 1 and "OPENAI_API_KEY" in messages[0] and KEY not in messages[0]


@pytest.mark.parametrize("name", sorted(BAD_INNER))
def test_illegal_character_in_an_option_key_is_a_configuration_error_without_the_key(name: str) -> None:
    """A key with an inner CR/LF/NUL/control/non-Latin-1 character raises ConfigurationError naming the option, never showing the key."""
    err = _raise(lambda: ConnectionOptions(api_key=KEY[:10] + BAD_INNER[name] + KEY[10:]))
    assert "ConnectionOptions(api_key=...)" in str(err) and "position 11" in str(err)
    _assert_no_key(err)


@pytest.mark.parametrize(
    ("provider", "variable"),
    [
        ("openai", "OPENAI_API_KEY"),
        ("anthropic", "ANTHROPIC_API_KEY"),
        ("gemini", "GEMINI_API_KEY"),
        ("cohere", "COHERE_API_KEY"),
        ("azure_openai", "AZURE_OPENAI_API_KEY"),
        ("groq", "GROQ_API_KEY"),
    ],
)
def test_illegal_env_key_names_its_variable_for_every_auth_header(monkeypatch: pytest.MonkeyPatch, provider: str, variable: str) -> None:
    """A key variable with an inner line break fails the build (Bearer, x-api-key, x-goog-api-key, api-key) naming the variable only."""
    monkeypatch.setenv(variable, KEY[:5] + "\n" + KEY[5:])
    monkeypatch.setenv("AZURE_OPENAI_BASE_URL", "https://res.openai.azure.com")
    err = _raise(lambda: AiClient(provider))
    assert variable in str(err) and err.provider == provider
    _assert_no_key(err)


def test_illegal_custom_provider_key_fails_at_with_api_key() -> None:
    """CustomProviderBuilder.with_api_key rejects a key with a CR at once, naming the builder call."""
    err = _raise(lambda: CustomProviderBuilder("gw").with_api_key(KEY + "\rX"))
    assert "CustomProviderBuilder('gw').with_api_key(...)" in str(err)
    _assert_no_key(err)


def test_illegal_key_from_with_api_key_env_names_that_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """A custom provider's key variable holding a control character fails the build naming the variable."""
    monkeypatch.setenv("GW_TOKEN", KEY + "\x1b")
    spec = CustomProviderBuilder("gw").with_base_url("https://gw.example/v1").with_api_key_env("GW_TOKEN").build_provider()
    err = _raise(lambda: AiClient(spec))
    assert "GW_TOKEN" in str(err)
    _assert_no_key(err)


def test_illegal_key_in_a_model_endpoint_fails_at_build() -> None:
    """A ModelEndpoint whose options hold a bad key cannot be built (the options refuse it)."""
    err = _raise(lambda: ModelEndpoint("e", "https://h.example/v1", options=ConnectionOptions(api_key="a\nb" + KEY)))
    _assert_no_key(err)


def test_a_non_string_key_is_refused_by_type_only() -> None:
    """A bytes key raises ConfigurationError naming its type, not its value."""
    err = _raise(lambda: ConnectionOptions(api_key=KEY.encode()))  # type: ignore[arg-type]
    assert "bytes" in str(err)
    _assert_no_key(err)


def test_whitespace_only_key_counts_as_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    """A key variable holding only '\\r\\n' is a missing key: the error names the variable to set."""
    monkeypatch.setenv("OPENAI_API_KEY", "\r\n")
    err = _raise(lambda: AiClient("openai"))
    assert "no API key" in str(err) and "OPENAI_API_KEY" in str(err)


# -- extra headers -------------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["a\r\nInjected: 1", "a\nb", "trailing\n", "nul\x00", "\u20ac"])
def test_extra_header_with_illegal_value_is_a_configuration_error_naming_it(value: str) -> None:
    """ConnectionOptions.extra_headers with CR/LF/NUL/non-Latin-1 in a value raises naming the header, without its value."""
    secret_value = value + KEY
    err = _raise(lambda: ConnectionOptions(extra_headers={"X-Gateway-Token": secret_value}))
    assert "X-Gateway-Token" in str(err)
    _assert_no_key(err)


def test_extra_header_with_illegal_name_is_a_configuration_error() -> None:
    """A header name with a colon, space or line break is refused."""
    for name in ("X-A: b", "X A", "X-A\r\n", ""):
        err = _raise(lambda name=name: ConnectionOptions(extra_headers={name: "v"}))
        assert "header name" in str(err)


def test_custom_provider_headers_are_checked_when_given() -> None:
    """CustomProviderBuilder.with_headers and with_idempotency_header refuse what HTTP cannot carry."""
    err = _raise(lambda: CustomProviderBuilder("gw").with_headers({"X-Api-Key": KEY + "\n"}))
    assert "X-Api-Key" in str(err) and "with_headers" in str(err)
    _assert_no_key(err)
    _raise(lambda: CustomProviderBuilder("gw").with_headers({"X-Count": 3}))  # type: ignore[dict-item]
    _raise(lambda: CustomProviderBuilder("gw").with_idempotency_header("Idem\r\nX: y"))


def test_legal_headers_pass() -> None:
    """Tabs, spaces and Latin-1 letters are legal in header values and pass unchanged."""
    opts = ConnectionOptions(extra_headers={"X-Note": "a\tb c \u00e9", "OpenAI-Organization": "org-1"})
    assert opts.extra_headers == {"X-Note": "a\tb c \u00e9", "OpenAI-Organization": "org-1"}


# -- base URLs -----------------------------------------------------------------------------------
def test_redact_url_hides_userinfo_and_every_query_value() -> None:
    """redact_url keeps scheme, host, path and parameter names; hides the password and all query values."""
    shown = redact_url(f"https://bob:{KEY}@gw.example:8443/v1?api_key={KEY}&api-version=2024-10-21&flag#frag")
    assert shown == "https://***@gw.example:8443/v1?api_key=***&api-version=***&***#***"
    assert redact_url("https://api.openai.com/v1") == "https://api.openai.com/v1"


def test_split_base_url_keeps_the_query_apart_and_turns_userinfo_into_basic_auth() -> None:
    """A base URL splits into a clean URL, its raw query and a Basic header from user:password@."""
    base = split_base_url("https://us%40er:p%3Ass@gw.example/v1?api_key=X&v=1", "gw")
    assert base.url == "https://gw.example/v1" and base.query == "api_key=X&v=1"
    assert base.basic_auth == "Basic dXNAZXI6cDpzcw=="  # base64 of "us@er:p:ss"
    assert base.has_credentials
    assert not split_base_url("https://gw.example/v1?api-version=1", "gw").has_credentials


def test_a_fragment_in_a_base_url_is_refused_without_showing_it() -> None:
    """A '#' in a base URL (an unencoded key character) is a ConfigurationError showing the URL redacted."""
    err = _raise(lambda: split_base_url(f"https://gw.example/v1?key={KEY[:6]}#{KEY[6:]}", "gw"))
    assert "%23" in str(err)
    _assert_no_key(err, KEY[6:])


def test_add_query_appends_after_the_path_and_the_base_url_wins_a_name() -> None:
    """The base query follows the format's own parameters; a name the base URL gives replaces the format's."""
    assert add_query("https://h/v1/chat/completions", "api_key=X") == "https://h/v1/chat/completions?api_key=X"
    assert add_query("https://h/m:stream?alt=sse", "key=K") == "https://h/m:stream?alt=sse&key=K"
    assert add_query("https://h/c?api-version=2024-10-21", "api-version=2025-01-01&x=1") == "https://h/c?api-version=2025-01-01&x=1"
    assert add_query("https://h/c?a=1", "") == "https://h/c?a=1"


def test_reprs_and_errors_show_base_urls_redacted() -> None:
    """ConnectionOptions, ProviderSpec, ModelEndpoint and a client's endpoint show no password or query value."""
    url = f"https://bob:{KEY}@gw.example/v1?token={KEY}"
    spec = CustomProviderBuilder("gw").with_base_url(url).build_provider()
    me = ModelEndpoint("e", url)
    client = AiClientBuilder(spec).build()
    try:
        shown = [repr(ConnectionOptions(base_url=url)), repr(spec), repr(me), repr(client._topology.endpoints[0])]
    finally:
        client.close()
    for text in shown:
        assert KEY not in text and "gw.example" in text
    err = _raise(lambda: ConnectionOptions(base_url=f"ftp://bob:{KEY}@h/?k={KEY}"))
    _assert_no_key(err)


def test_model_endpoint_url_names_the_endpoint_by_host_without_userinfo() -> None:
    """An unnamed ModelEndpoint URL with user:password@ is named by host:port (its metrics/log label), not the userinfo."""
    array = ModelArray("a").add_endpoint(ModelEndpoint(url=f"https://bob:{KEY}@gw.example:8443/v1"))
    client = AiClientBuilder(Provider.OLLAMA).with_model_array(array).build()
    try:
        assert client._topology.endpoints[0].name == "gw.example:8443"
    finally:
        client.close()


def test_userinfo_with_a_bearer_key_is_a_configuration_error_without_the_password() -> None:
    """user:password@ in an OpenAI base URL plus an API key (both want Authorization) is refused, showing neither."""
    opts = ConnectionOptions(api_key="sk-" + KEY, base_url=f"https://bob:{KEY}@gw.example/v1")
    err = _raise(lambda: AiClient("openai", options=opts))
    assert "user:password@" in str(err)
    _assert_no_key(err)


def test_query_credentials_stand_for_a_required_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Gemini base URL with ?key= needs no GEMINI_API_KEY; one with only ?api-version= still does."""
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    AiClient("gemini", options=ConnectionOptions(base_url=f"https://generativelanguage.googleapis.com?key={KEY}")).close()
    err = _raise(lambda: AiClient("gemini", options=ConnectionOptions(base_url="https://g.example?v=1")))
    assert "GEMINI_API_KEY" in str(err)


def test_missing_key_is_named_before_a_missing_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """Azure with neither key nor base URL still names AZURE_OPENAI_API_KEY first."""
    monkeypatch.delenv("AZURE_OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("AZURE_OPENAI_BASE_URL", raising=False)
    err = _raise(lambda: AiClient("azure_openai"))
    assert "AZURE_OPENAI_API_KEY" in str(err)


# -- path segments -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("model", "path"),
    [
        ("gemini-2.0-flash", "models/gemini-2.0-flash"),
        ("models/gemini-1.5-pro", "models/gemini-1.5-pro"),
        ("tunedModels/my-tune-7", "tunedModels/my-tune-7"),
        (UP * 3 + "v1/files", "models/..%2F..%2F..%2Fv1%2Ffiles"),
        ("models/../../x", "models/..%2F..%2Fx"),
        ("x?key=1#f", "models/x%3Fkey%3D1%23f"),
        ("a/b", "models/a%2Fb"),
    ],
)
def test_gemini_model_is_one_path_segment(model: str, path: str) -> None:
    """A Gemini model becomes models/{one segment}; models/ and tunedModels/ prefixes are kept."""
    assert model_path(model) == path
    url = get_wire_format("gemini").chat_url("https://g.example", model, False)
    assert url == f"https://g.example/v1beta/{path}:generateContent"


@pytest.mark.parametrize("model", ["..", ".", "models/..", "tunedModels/.", "models/"])
def test_gemini_dot_segments_and_empty_ids_are_invalid_requests(model: str) -> None:
    """'.', '..' and an empty id (alone or after a collection) raise InvalidRequestError."""
    with pytest.raises(InvalidRequestError):
        get_wire_format("gemini").chat_url("https://g.example", model, True)


@pytest.mark.parametrize(
    ("deployment", "encoded"), [("gpt-4o", "gpt-4o"), ("x#frag", "x%23frag"), ("x?key=k", "x%3Fkey%3Dk"), (UP * 2 + "x", "..%2F..%2Fx")]
)
def test_azure_deployment_is_one_segment_and_keeps_api_version(deployment: str, encoded: str) -> None:
    """An Azure deployment name is percent-encoded, so '#' or '?' in it cannot drop or replace api-version."""
    azure = get_wire_format("azure")
    url = azure.chat_url("https://res.openai.azure.com", deployment, False)
    assert url.startswith(f"https://res.openai.azure.com/openai/deployments/{encoded}/chat/completions?api-version=")


def test_segment_refuses_dot_segments() -> None:
    """segment() raises InvalidRequestError for '', '.' and '..' and encodes '/', '%' and spaces."""
    for bad in ("", ".", ".."):
        with pytest.raises(InvalidRequestError):
            segment(bad, "an id")
    assert segment("a/b%c d", "an id") == "a%2Fb%25c%20d"


def test_registry_default_urls_are_untouched() -> None:
    """Every built-in default base URL splits into itself (no query, no userinfo)."""
    for spec in PROVIDERS.values():
        if spec.base_url:
            assert split_base_url(spec.base_url, spec.name) == BaseUrl(spec.base_url, "", None)
