"""FallbackChain: ordered steps, each used only when the previous failure matches its condition."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Callable, Optional, Union, cast

from .._value import value
from ..errors import (
    AiLibError,
    AuthenticationError,
    ConfigurationError,
    InvalidRequestError,
    LocalRateLimitError,
    ModelNotFoundError,
    RateLimitExceeded,
    TimeoutError,
)

if TYPE_CHECKING:
    from .model_array import ModelArray

__all__ = ["FallbackChain", "FallbackStep"]

Condition = Callable[[AiLibError], bool]


def is_timeout(err: AiLibError) -> bool:
    return isinstance(err, TimeoutError)


def is_rate_limit(err: AiLibError) -> bool:
    return isinstance(err, (RateLimitExceeded, LocalRateLimitError))


def is_provider_failure(err: AiLibError) -> bool:
    """Any failure that is not the caller's own (bad request, bad key, unknown model)."""
    return not isinstance(err, (InvalidRequestError, AuthenticationError, ModelNotFoundError))


def always(err: AiLibError) -> bool:
    return True


@value
class FallbackStep:
    model: Union[str, ModelArray]  # a ModelArray: the step is served by the array's strategy
    condition: Optional[Condition] = None  # None: the primary step
    label: str = "primary"


class FallbackChain:
    """``FallbackChain().primary("gpt-4o").on_timeout("claude-3-haiku").always("mistral-small")``.

    Each step names the model (or ``"provider/model"``) to advance to when the previous
    step failed with a matching error: ``on_timeout`` (timeouts), ``on_rate_limit`` (429 or
    the local limiter), ``on_status(codes, model)`` (those HTTP status codes), ``on_error`` (any failure that is not the caller's own: not 400/
    401/403/404; ``on_error(ErrorClass, model)``: errors of that class), ``on_condition(pred).fallback(model)``
    (your predicate), ``always`` (any error, 401 included; a spend-cap refusal only moves on
    at a step naming ``BudgetExceededError`` or ``on_condition``). A step whose condition does not match is skipped; the first
    success ends the chain; when no later step matches, the latest error is raised.
    """

    def __init__(self) -> None:
        self.steps: list[FallbackStep] = []
        self._pending: Optional[Condition] = None

    def _add(self, model: Union[str, ModelArray], condition: Optional[Condition], label: str) -> FallbackChain:
        from .model_array import ModelArray

        if isinstance(model, ModelArray):
            if condition is None:
                raise ConfigurationError("primary(...) takes a model name; a ModelArray may serve a later step")
            if not model.endpoints:
                raise ConfigurationError(f"ModelArray {model.name!r} has no endpoints")
        elif not isinstance(model, str) or not model:
            raise ConfigurationError(f"a fallback step needs a model name or a ModelArray, got {model!r}")
        if self._pending is not None:
            raise ConfigurationError("on_condition(...) must be followed by .fallback(model)")
        self.steps.append(FallbackStep(model, condition, label))
        return self

    def primary(self, model: str) -> FallbackChain:
        """The first model tried (must be the first step)."""
        if self.steps:
            raise ConfigurationError("primary(...) must be the first step of a FallbackChain")
        return self._add(model, None, "primary")

    def on_timeout(self, model: Union[str, ModelArray]) -> FallbackChain:
        """Then try ``model`` after a timeout."""
        return self._add(model, is_timeout, "on_timeout")

    def on_rate_limit(self, model: Union[str, ModelArray]) -> FallbackChain:
        """Then try ``model`` after a rate limit (429, or the local limiter)."""
        return self._add(model, is_rate_limit, "on_rate_limit")

    def on_error(
        self,
        errors_or_model: Union[str, ModelArray, type[AiLibError], tuple[type[AiLibError], ...]],
        model: Union[str, ModelArray, None] = None,
    ) -> FallbackChain:
        """``on_error(model)``: then try ``model`` after a provider failure (5xx, network,
        protocol errors). ``on_error(ErrorClass, model)`` (a class or a tuple of them): after
        an error of those classes only, e.g. ``on_error(BudgetExceededError, "gpt-4o-mini")``
        (a spend-cap refusal moves a chain only at a step that names it or ``on_condition``)."""
        if model is None:
            return self._add(errors_or_model, is_provider_failure, "on_error")  # type: ignore[arg-type]
        given = errors_or_model if isinstance(errors_or_model, tuple) else (errors_or_model,)
        if not given or not all(isinstance(k, type) and issubclass(k, AiLibError) for k in given):
            raise ConfigurationError(f"on_error(errors, model) takes an AiLibError class or a tuple of them, got {errors_or_model!r}")
        kinds = cast("tuple[type[AiLibError], ...]", given)

        def of_kind(err: AiLibError) -> bool:
            return isinstance(err, kinds)

        return self._add(model, of_kind, "on_error")

    def on_status(self, codes: Iterable[int], model: Union[str, ModelArray]) -> FallbackChain:
        """Advance to ``model`` when the previous step failed with one of these HTTP
        status codes (``on_status([429, 503], "gpt-4o-mini")``)."""
        if isinstance(codes, int) and not isinstance(codes, bool):
            codes = [codes]
        try:
            wanted = frozenset(codes)
        except TypeError:
            raise ConfigurationError(f"on_status takes HTTP status codes, got {codes!r}") from None
        if not wanted or any(isinstance(c, bool) or not isinstance(c, int) or not 100 <= c <= 599 for c in wanted):
            raise ConfigurationError(f"on_status takes HTTP status codes (100-599), got {codes!r}")
        return self._add(model, lambda err: err.status_code in wanted, "on_status")

    def always(self, model: Union[str, ModelArray]) -> FallbackChain:
        """Then try ``model`` after any error."""
        return self._add(model, always, "always")

    def on_condition(self, predicate: Condition) -> FallbackChain:
        """Start a step matched by ``predicate(error) -> bool``; name its model with ``.fallback(model)``."""
        if not callable(predicate):
            raise ConfigurationError("on_condition takes a callable(error) -> bool")
        if self._pending is not None:
            raise ConfigurationError("on_condition(...) must be followed by .fallback(model)")
        self._pending = predicate
        return self

    def fallback(self, model: Union[str, ModelArray]) -> FallbackChain:
        """The model to try when the preceding ``on_condition`` predicate matches the error."""
        if self._pending is None:
            raise ConfigurationError("fallback(model) must follow on_condition(predicate)")
        predicate, self._pending = self._pending, None
        return self._add(model, _safe(predicate), "on_condition")

    def validate(self) -> None:
        """``ConfigurationError`` for an empty chain or an ``on_condition`` without its ``fallback``."""
        if self._pending is not None:
            raise ConfigurationError("on_condition(...) was not followed by .fallback(model)")
        if not self.steps:
            raise ConfigurationError("an empty FallbackChain")

    def __repr__(self) -> str:
        return "FallbackChain(" + " -> ".join(f"{s.label}:{getattr(s.model, 'name', s.model)}" for s in self.steps) + ")"


def _safe(predicate: Condition) -> Condition:
    """A user predicate that raises counts as 'no match' instead of escaping the call."""

    def check(err: AiLibError) -> bool:
        try:
            return bool(predicate(err))
        except Exception:
            return False

    return check
