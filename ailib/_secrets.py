"""The one place that remembers, masks and redacts credentials.

Servers and gateways echo what they were sent ("Incorrect API key provided: <key>", a
request id that repeats a header), and many keys have no recognisable shape. So every key
(and every secret-looking header value) a client sends is remembered here, and any text
that came from outside is passed through ``mask`` before it reaches an error, a log line,
a pickle or a file. ``mask`` also replaces anything *shaped* like a key (``sk-...``,
``AIza...``, ``Bearer ...``), remembered or not.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Mapping
from typing import Any, Optional
from urllib.parse import unquote, urlsplit

__all__ = [
    "MASK",
    "remember",
    "remember_headers",
    "remember_url",
    "mask",
    "mask_value",
    "mask_state",
    "mask_exception_chain",
    "clip",
    "is_secret_header",
    "redact_headers",
    "redact_url",
    "redacted_url_repr",
    "is_secret_name",
    "longest",
]

MASK = "***"
_MIN_SECRET = 8  # shorter values would mask ordinary words

# Tokens that look like credentials: sk-..., sk-ant-..., AIza..., long bearer tokens. Patterns
# are compiled on first use (by re's cache): most processes never mask anything.
_KEY_LIKE = r"(sk-[A-Za-z0-9_\-]{6,}|AIza[0-9A-Za-z_\-]{10,}|(?i:bearer)\s+[A-Za-z0-9._\-]{8,})"

# Header names that carry credentials: the well-known ones, and any name that looks like one
# (custom providers and extra_headers use X-Api-Token, X-Auth, ...), except known harmless ones.
_SECRET_HEADERS = frozenset({"authorization", "x-api-key", "api-key", "x-goog-api-key", "proxy-authorization"})
_SECRET_NAME = r"(?i:auth|key|token|secret|signature|password|cookie)"
_NOT_SECRET = frozenset({"idempotency-key"})
# Rate-limit headers name tokens but hold counts and times (``x-ratelimit-remaining-tokens``,
# ``anthropic-ratelimit-input-tokens-limit``): never credentials, and what a caller paces by.
_RATE_LIMIT_NAME = r"(?i:ratelimit|rate-limit)"

# Copy-on-write: readers take the current tuple without a lock; writers replace it under one.
_lock = threading.Lock()
_secrets: tuple[str, ...] = ()
_known: frozenset[str] = frozenset()
_longest = 0


def remember(value: Optional[str]) -> None:
    """Mask ``value`` (and, for ``Scheme credential``, the credential) everywhere from now on."""
    global _secrets, _known, _longest
    if not isinstance(value, str) or value in _known:
        return
    new = [c for c in (value, value.partition(" ")[2]) if len(c) >= _MIN_SECRET and c not in _known]
    if not new:
        return
    with _lock:
        fresh = [c for c in new if c not in _known]
        # Longest first, so a key that contains another remembered key is masked whole.
        _secrets = tuple(sorted(set(_secrets).union(fresh), key=len, reverse=True))
        _known = frozenset(_secrets)
        _longest = max(_longest, *(len(c) for c in fresh)) if fresh else _longest


def remember_headers(api_key: Optional[str], headers: Mapping[str, str]) -> None:
    """Remember ``api_key`` and the value of every secret-looking header in ``headers``."""
    remember(api_key)
    for name, value in headers.items():
        if is_secret_header(name):
            remember(value)


def remember_url(url: Optional[str]) -> None:
    """Remember the password of a ``scheme://user:password@host`` URL (a proxy's, say)."""
    if not isinstance(url, str) or "@" not in url:
        return
    try:
        password = urlsplit(url).password
    except ValueError:
        return
    if password:
        remember(password)
        remember(unquote(password))


def mask(text: str) -> str:
    """``text`` with every remembered secret, and anything shaped like a key, replaced by ``***``."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return re.sub(_KEY_LIKE, MASK, text)


def mask_value(value: Any) -> Any:
    """``value`` with ``mask`` applied to every string inside it (dicts, lists, tuples; keys too).

    Other objects are returned as they are. Used for decoded JSON bodies and header maps.
    """
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, bytes):
        return mask(value.decode("utf-8", "replace")).encode("utf-8")
    if isinstance(value, Mapping):
        return {mask_value(k): mask_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_value(v) for v in value]
    if isinstance(value, tuple) and type(value) is tuple:
        return tuple(mask_value(v) for v in value)
    return value


def mask_state(value: Any) -> Any:
    """``mask_value`` for an object's state: also redacts any mapping kept under a ``*headers`` name."""
    if isinstance(value, Mapping):
        return {
            k: (redact_headers(v) if isinstance(k, str) and k.endswith("headers") and isinstance(v, Mapping) else mask_state(v))
            for k, v in value.items()
        }
    return mask_value(value)


_RAW_CAUSE: Any = BaseException.__dict__["__cause__"]
_RAW_CONTEXT: Any = BaseException.__dict__["__context__"]


def mask_exception_chain(exc: Optional[BaseException]) -> Optional[BaseException]:
    """Mask, in place, ``exc`` and every exception chained to it or held by it; returns ``exc``.

    Exceptions from lower layers (requests, urllib3, json) carry the text they were given: a
    URL, a document, a server's words. Their ``args``, string attributes and ``OSError``
    fields are masked, so formatting them afterwards cannot show a remembered key. Classes
    with ``_masks_itself`` (ailib's own errors) are walked but not rewritten.
    """
    seen: set[int] = set()
    todo = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        todo.append(_RAW_CAUSE.__get__(e))
        todo.append(_RAW_CONTEXT.__get__(e))
        if getattr(type(e), "_masks_itself", False):
            continue
        todo.extend(_mask_in_place(e))
    return exc


def _mask_in_place(e: BaseException) -> list[BaseException]:
    """Mask ``e``'s own texts; the exceptions it holds (to be masked next)."""
    held: list[BaseException] = []
    args = e.args
    held += [a for a in args if isinstance(a, BaseException)]
    with contextlib.suppress(Exception):  # an exception type with odd args: leave them
        masked = tuple(mask_value(a) for a in args)
        if masked != args:
            e.args = masked
    fields = list(getattr(e, "__dict__", {}).items())
    if isinstance(e, OSError):
        fields += [(name, getattr(e, name, None)) for name in ("strerror", "filename", "filename2")]
    for name, value in fields:
        if isinstance(value, BaseException):
            held.append(value)
        elif isinstance(value, (str, bytes, list, tuple, dict)):
            with contextlib.suppress(Exception):  # a read-only or odd attribute: leave it
                masked_value = mask_value(value)
                if masked_value != value:
                    setattr(e, name, masked_value)
    return held


def clip(text: str, n: int) -> str:
    """The first ``n`` characters of ``text``, masked first, so a secret cut at the edge cannot show half of itself."""
    return mask(text[: n + _longest])[:n]


def longest() -> int:
    """The length of the longest remembered secret (0 when none)."""
    return _longest


def is_secret_header(name: str) -> bool:
    """True when a header named ``name`` carries a credential."""
    lower = name.lower()
    if lower in _SECRET_HEADERS:
        return True
    if lower in _NOT_SECRET or re.search(_RATE_LIMIT_NAME, lower) is not None:
        return False
    return re.search(_SECRET_NAME, lower) is not None


def is_secret_name(name: str) -> bool:
    """True when a header or query parameter named ``name`` looks like it carries a credential."""
    return re.search(_SECRET_NAME, name) is not None or name.lower() in ("sig", "code", "pass", "pwd")


def redact_url(url: Any) -> str:
    """``url`` safe to show: ``user:password@`` becomes ``***@`` and every query value
    (and a fragment) ``***``, whatever its name; the rest is masked as text is.

    Query values are all hidden, not only those with secret-looking names: gateways carry
    keys in parameters of every name (``?code=``, ``?sv=...&sig=``, ``?k=``).
    """
    text = url if isinstance(url, str) else repr(url)
    head, hash_, fragment = text.partition("#")
    head, question, query = head.partition("?")
    scheme, sep, rest = head.partition("://")
    if sep:
        netloc, slash, path = rest.partition("/")
        if "@" in netloc:
            netloc = MASK + "@" + netloc.rpartition("@")[2]
        head = f"{scheme}{sep}{netloc}{slash}{path}"
    if question:
        parts = (p.partition("=") for p in query.split("&"))
        head += "?" + "&".join(f"{name}={MASK}" if eq else (MASK if name else "") for name, eq, _ in parts)
    if hash_:
        head += "#" + MASK
    return mask(head)


def redacted_url_repr(url: Any) -> str:
    """``repr`` of ``redact_url(url)`` (``None`` as is): an attrs field's ``repr=`` for URLs."""
    return "None" if url is None else repr(redact_url(url))


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers safe to log: credentials replaced by ``***``, other values masked."""
    return {k: (MASK if is_secret_header(k) else mask(v) if isinstance(v, str) else v) for k, v in headers.items()}


def redacted_headers_repr(headers: Optional[Mapping[str, str]]) -> str:
    """``repr`` of ``redact_headers(headers)`` (``None`` as is): an attrs field's ``repr=`` for headers."""
    return "None" if headers is None else repr(redact_headers(headers))


def redacted_query_repr(query: str) -> str:
    """``repr`` of a raw URL query with every value masked (a key may ride in one): an attrs field's ``repr=``."""
    return repr(redact_url(f"?{query}")[1:] if query else "")


def secret_repr(secret: Any) -> str:
    """``'***'`` for a set secret (a key), ``None`` as is: an attrs field's ``repr=`` for keys."""
    return "None" if secret is None else repr(MASK)
