"""Base URLs and path segments: how a wire format's path and query join a user's base URL.

A base URL is split once, when the endpoint is built (``split_base_url``):

* its query (``https://gw.example/v1?api_key=X``) is kept apart and merged into every
  request URL after the format's own path, with the format's own parameters (Azure's
  ``api-version``, Gemini's ``alt=sse``): ``/v1/chat/completions?api_key=X``. A parameter
  the base URL names replaces the format's default of the same name;
* ``user:password@`` becomes an ``Authorization: Basic`` header (as requests does), never
  part of a URL that is sent, logged or shown;
* a ``#fragment`` is refused: it is never sent, so a ``#`` there is almost always a
  character of a key or password that needed percent-encoding (``%23``).

Every id put into a URL path (a model, a deployment, a file or batch id) is one
percent-encoded segment (``segment``): ``/``, ``?``, ``#`` and ``%`` in it cannot change the
path or the query, and ``""``, ``.`` and ``..`` are refused before anything is sent.
"""

from __future__ import annotations

import base64
from typing import Optional
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import attrs

from .._secrets import is_secret_name, redact_url, redacted_query_repr, remember, secret_repr
from .._value import value
from ..errors import ConfigurationError, InvalidRequestError

__all__ = ["BaseUrl", "split_base_url", "add_query", "segment"]


@value
class BaseUrl:
    """A base URL split for sending: ``url`` (scheme, host, port, path; no trailing slash),
    its raw ``query`` (``""`` when none) and the ``Authorization`` value its userinfo gave."""

    url: str
    query: str = attrs.field(repr=redacted_query_repr)
    basic_auth: Optional[str] = attrs.field(repr=secret_repr)

    @property
    def has_credentials(self) -> bool:
        """True when the URL itself authenticates: userinfo, or a secret-looking query parameter."""
        return self.basic_auth is not None or any(is_secret_name(name) for name, _ in parse_qsl(self.query, keep_blank_values=True))


def split_base_url(url: str, name: str) -> BaseUrl:
    """Split a checked base URL (see ``check_base_url``); remembers every credential in it."""
    parts = urlsplit(url)
    if parts.fragment or "#" in url:
        raise ConfigurationError(
            f"base URL for {name} has a '#' ({redact_url(url)!r}); percent-encode it as %23 if it belongs to a key or password",
            provider=name,
        )
    host = parts.netloc.rpartition("@")[2]
    basic = None
    if "@" in parts.netloc:
        user, password = unquote(parts.username or ""), unquote(parts.password or "")
        remember(password)
        basic = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        remember(basic)
    for key, val in parse_qsl(parts.query, keep_blank_values=True):
        if is_secret_name(key):
            remember(val)
    return BaseUrl(f"{parts.scheme}://{host}{parts.path.rstrip('/')}", parts.query, basic)


def add_query(url: str, query: str) -> str:
    """``url`` with the raw ``query`` appended after its own; a name in ``query`` replaces
    the same name in ``url``'s query."""
    if not query:
        return url
    path, _, own = url.partition("?")
    if own:
        names = {k for k, _ in parse_qsl(query, keep_blank_values=True)}
        kept = [p for p in own.split("&") if p and unquote(p.partition("=")[0]) not in names]
        query = "&".join([*kept, query])
    return f"{path}?{query}"


def segment(value: str, what: str, *, provider: Optional[str] = None, model: Optional[str] = None) -> str:
    """``value`` percent-encoded as one URL path segment; ``InvalidRequestError`` for an
    empty value, ``.`` or ``..`` (which would name another path)."""
    if not isinstance(value, str) or value in ("", ".", ".."):
        raise InvalidRequestError(f"{what} {value!r} cannot be put in a URL path; nothing was sent", provider=provider, model=model)
    return quote(value, safe="")
