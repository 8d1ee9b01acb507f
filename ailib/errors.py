"""The ailib error tree. Every failure a caller sees is one of these.

::

    AiLibError                      .provider .model .status_code .request_id .retry_after .attempts
    ├── ConfigurationError          (also ValueError) missing key, bad option, conflicting builder calls
    ├── InvalidRequestError         (also ValueError) 400/422 and client-side validation
    │   ├── ContextLengthExceededError
    │   └── ContentFilteredError
    ├── AuthenticationError         401/403
    ├── ModelNotFoundError          404 / unknown model
    ├── RateLimitExceeded           429 (retryable; .retry_after from the response)
    │   └── QuotaExceededError      no wait fixes it: out of credit (402, insufficient_quota), or a request above the per-minute limit (not retryable)
    ├── TimeoutError                (also builtins.TimeoutError) connect/first-byte/idle/total (retryable)
    │   └── DeadlineExceededError   the call's overall deadline ran out (not retryable)
    ├── NetworkError                reset, refused, DNS (retryable)
    ├── ProviderError               5xx, overloaded, error event inside a 200 stream (retryable)
    ├── ProtocolError               malformed JSON/SSE, wrong content type, unexpected redirect
    ├── StructuredOutputError       (also ValueError) the answer does not parse into the requested response_format class; .raw_text
    ├── StreamInterruptedError      failed after content was delivered; .partial_text (not retried)
    ├── CircuitOpenError            fast fail; .retry_after until the next probe
    ├── LocalRateLimitError         client-side limiter could not admit within max_wait
    ├── BudgetExceededError         the client's spend cap would be exceeded; nothing sent (not retryable)
    ├── ClientClosedError           a call on a closed client (not retryable, no attempt made)
    └── AllProvidersFailedError     every target of a chain of two or more failed

``TimeoutError`` is also the built-in ``TimeoutError`` (so also an ``OSError``): code that
already catches ``TimeoutError`` or ``OSError`` around network calls keeps working, and
``from ailib import *`` cannot hide a built-in that is not caught. Like ``socket.timeout``,
it has ``errno`` None and its message as ``strerror``.

Whether an error is retried is decided by its class (``retryable``), except that a
server may veto a retry with ``x-should-retry: false`` (kept in ``should_retry``).
No error carries an API key: its message, request id, body and everything it pickles are
masked with ``ailib._secrets`` (every remembered key, and anything shaped like one), and so
are the exceptions chained to it (``__cause__``/``__context__``) when they are read.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any, ClassVar, Optional

import attrs

from ._secrets import mask, mask_exception_chain, mask_state
from ._value import value

__all__ = [
    "AiLibError",
    "ConfigurationError",
    "InvalidRequestError",
    "ContextLengthExceededError",
    "ContentFilteredError",
    "AuthenticationError",
    "ModelNotFoundError",
    "RateLimitExceeded",
    "QuotaExceededError",
    "TimeoutError",
    "DeadlineExceededError",
    "NetworkError",
    "ProviderError",
    "ProtocolError",
    "StructuredOutputError",
    "StreamInterruptedError",
    "CircuitOpenError",
    "LocalRateLimitError",
    "BudgetExceededError",
    "ClientClosedError",
    "AllProvidersFailedError",
]


class AiLibError(Exception):
    """Base of every ailib error; carries where it happened and every attempt so far."""

    retryable: ClassVar[bool] = False
    _masks_itself: ClassVar[bool] = True  # see ailib._secrets.mask_exception_chain
    _rate_limit_headers: Optional[dict[str, str]] = None  # the response's, for the rate limiter (providers/_base.py)

    def __init__(
        self,
        message: str = "",
        *,
        provider: Optional[str] = None,
        model: Optional[str] = None,
        status_code: Optional[int] = None,
        request_id: Optional[str] = None,
        retry_after: Optional[float] = None,
        attempts: Sequence[Attempt] = (),
        should_retry: Optional[bool] = None,
        body: Any = None,
    ) -> None:
        message = mask(message)
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.model = model
        self.status_code = status_code
        self.request_id = mask(request_id) if isinstance(request_id, str) else request_id
        self.retry_after = retry_after
        self.attempts: tuple[Attempt, ...] = tuple(attempts)
        self.should_retry = should_retry
        self.body = mask_state(body)

    def is_retryable(self) -> bool:
        """True when trying the same call again may succeed."""
        if self.should_retry is not None:
            return self.should_retry and self.retryable
        return self.retryable

    def __str__(self) -> str:
        where = []
        if self.provider:
            where.append(self.provider + (f"/{self.model}" if self.model else ""))
        if self.status_code is not None:
            where.append(f"HTTP {self.status_code}")
        if self.request_id:
            where.append(f"request_id={self.request_id}")
        if self.retry_after is not None:
            where.append(f"retry_after={self.retry_after:g}s")
        suffix = f" [{', '.join(where)}]" if where else ""
        return mask(f"{self.message}{suffix}")  # again: a key may be remembered after construction

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r}, attempts={len(self.attempts)})"

    def __reduce__(self) -> tuple[Any, ...]:  # picklable for multiprocessing users, masked
        return (_rebuild, (type(self), mask(self.message)), mask_state(self.__dict__))

    # Chained exceptions (``raise ... from exc``, or raised while handling one) are masked in
    # place when read, so traceback formatting, logging and error trackers never print a key
    # that a lower layer's exception (a URL, a JSON document, a server's text) carried.
    @property
    def __cause__(self) -> Optional[BaseException]:
        return mask_exception_chain(_CAUSE.__get__(self))

    @__cause__.setter
    def __cause__(self, value: Optional[BaseException]) -> None:
        _CAUSE.__set__(self, value)

    @property
    def __context__(self) -> Optional[BaseException]:
        return mask_exception_chain(_CONTEXT.__get__(self))

    @__context__.setter
    def __context__(self, value: Optional[BaseException]) -> None:
        _CONTEXT.__set__(self, value)


_CAUSE: Any = BaseException.__dict__["__cause__"]
_CONTEXT: Any = BaseException.__dict__["__context__"]


def _rebuild(cls: type[AiLibError], message: str) -> AiLibError:
    err = cls.__new__(cls)
    Exception.__init__(err, message)
    return err


class ConfigurationError(AiLibError, ValueError):
    """A missing key, a bad option or contradictory builder calls."""


class InvalidRequestError(AiLibError, ValueError):
    """The request is invalid: rejected by the provider (400/422) or before sending."""


class ContextLengthExceededError(InvalidRequestError):
    """The prompt plus max_tokens exceed the model's context window."""


class ContentFilteredError(InvalidRequestError):
    """The provider refused the prompt or the answer on safety grounds."""


class AuthenticationError(AiLibError):
    """The key is missing, wrong or lacks permission (401/403)."""


class ModelNotFoundError(AiLibError):
    """The model does not exist or the key has no access to it (404)."""


class RateLimitExceeded(AiLibError):
    """The provider said 429; ``retry_after`` is its requested wait, when given."""

    retryable = True


class QuotaExceededError(RateLimitExceeded):
    """A limit that waiting will not lift, so the call is not retried on this endpoint.

    The account is out of credit (HTTP 402: DeepSeek "Insufficient Balance", Anthropic
    ``billing_error``; OpenAI ``insufficient_quota``; Anthropic's 400 "credit balance is too
    low"), or the request alone is larger than the per-minute limit (OpenAI's 429 "Request too
    large ... Limit 30000, Requested 250011"). Still a ``RateLimitExceeded``, so a fallback
    step ``on_rate_limit`` moves to another provider or account.
    """

    retryable = False


class TimeoutError(AiLibError, builtins.TimeoutError):
    """An attempt took too long in one phase (``phase``: connect, send, first_byte, idle, total).

    Also a ``builtins.TimeoutError`` (and so an ``OSError``): ``errno`` is None and
    ``strerror`` the message, as for ``socket.timeout``; ``str()`` is ailib's.
    """

    retryable = True

    def __init__(self, message: str = "", *, phase: Optional[str] = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.phase = phase
        self.strerror = self.message  # OSError's slots; errno stays None (no OS error number)

    def __setstate__(self, state: Optional[dict[str, Any]]) -> None:
        """Unpickling: restore the attributes, and ``strerror`` (an OSError slot, not in them)."""
        self.__dict__.update(state or {})
        self.strerror = self.__dict__.get("message", "")


class DeadlineExceededError(TimeoutError):
    """The call's overall deadline ran out; carries every attempt made."""

    retryable = False


class NetworkError(AiLibError):
    """The connection failed: refused, reset, DNS. ``request_sent`` says if it got out."""

    retryable = True

    def __init__(self, message: str = "", *, request_sent: Optional[bool] = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.request_sent = request_sent


class ProviderError(AiLibError):
    """The provider failed on its side: 5xx, 529 overloaded, an error event in a stream."""

    retryable = True


class ProtocolError(AiLibError):
    """The answer was not what the wire format promises (bad JSON/SSE, wrong type)."""


class StructuredOutputError(AiLibError, ValueError):
    """The model's answer is not valid JSON, or does not match the class given as
    ``response_format``. ``raw_text`` is the answer as received (an API key in it masked, as
    everywhere in errors); ``attempts`` the call's attempts.
    Not retried: the call itself succeeded (send it again to ask for another answer)."""

    def __init__(self, message: str = "", *, raw_text: str = "", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.raw_text = mask(raw_text)  # as the body: a remembered key the answer echoed is masked


class StreamInterruptedError(AiLibError):
    """A stream failed after content reached the caller; ``partial_text`` has it."""

    def __init__(self, message: str = "", *, partial_text: str = "", cause: Optional[AiLibError] = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.partial_text = partial_text
        self.cause = cause


class CircuitOpenError(AiLibError):
    """The endpoint's circuit is open; ``retry_after`` is the time to the next probe."""


class LocalRateLimitError(AiLibError):
    """The client-side rate limiter could not admit the call within ``max_wait``."""


class BudgetExceededError(AiLibError):
    """The client's spend cap (``AiClientBuilder.with_budget``) would be exceeded by this
    attempt's estimated cost: nothing was sent. Not retryable; plain failover does not move
    on, and a FallbackChain moves on only to a step that asks for it (``on_condition``).

    ``limit_usd``: the cap; ``spent_usd``: spent so far (in the shared store, if any);
    ``held_usd``: reserved by attempts in flight; ``estimate_usd``: this attempt's estimate.
    """

    def __init__(
        self,
        message: str = "",
        *,
        limit_usd: float = 0.0,
        spent_usd: float = 0.0,
        held_usd: float = 0.0,
        estimate_usd: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.limit_usd = limit_usd
        self.spent_usd = spent_usd
        self.held_usd = held_usd
        self.estimate_usd = estimate_usd


class ClientClosedError(AiLibError):
    """A call on a client that was closed (``close()`` or the end of its ``with`` block).

    Raised at once, with no attempt made, and never retried: build a new client.
    """


class AllProvidersFailedError(AiLibError):
    """Every target of a chain failed; ``errors`` in attempt order."""

    def __init__(self, message: str = "", *, errors: Sequence[AiLibError] = (), **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.errors: tuple[AiLibError, ...] = tuple(errors)

    @property
    def last_error(self) -> Optional[AiLibError]:
        """The error of the last target tried (None when no target was tried)."""
        return self.errors[-1] if self.errors else None


def _error_key(error: Optional[AiLibError]) -> Optional[tuple[type, str]]:
    """What an attempt's error is compared and hashed by: its class and its text."""
    return None if error is None else (type(error), str(error))


@value
class Attempt:
    """One wire attempt (or a target skipped without one), in call order.

    Defined with the errors (every error carries the attempts of its call, and an attempt the
    error it ended with), so neither module needs the other; ``ailib.types`` exports it.
    """

    provider: str
    model: str
    started_at: float  # wall-clock seconds (time.time())
    elapsed: float  # seconds
    outcome: str  # "ok" | "error" | "cancelled" | "skipped"
    error: Optional[AiLibError] = attrs.field(default=None, eq=_error_key)  # compared by class and text (an error is equal only to itself)
    hedge: bool = False
    endpoint: str = ""
    wait_after: Optional[float] = None  # the backoff slept before the next attempt
