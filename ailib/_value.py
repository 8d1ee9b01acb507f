"""``value``: the one way ailib declares a data class or a policy.

Every value class in ailib is written the same way::

    @value(kw_only=True)
    class RetryPolicy:
        max_attempts: int = attrs.field(default=3, validator=...)

``value`` makes it an attrs class with slots, frozen (``@mutable_value``: the same, for the
few classes whose fields are assigned after construction, like the builder's ``Config``).
Fields, validators, converters, ``__init__``, ``attrs.evolve``, ``attrs.fields`` and pickling
are attrs' own. Its ``repr``, ``==`` and ``hash`` behave as the ones attrs would generate but
are written once here rather than compiled per class: attrs compiles each method from
generated source when the class is made, and generating these three for every class would
cost about 5 ms more of ``import ailib`` + one client (measured on the two dozen value classes
such a client loads: 12 ms with attrs' generated methods, 7 ms with these). No base class is involved, so no class can forget one and
compare by identity, and the rules hold for every class at once:

- ``repr``: ``Name(a=1, b='x')`` over every field, in order (a field's ``repr=`` callable
  formats its value, e.g. to mask a key); ``...`` for an instance already being shown on this
  thread. A field may not be left out (``repr=False``) and a class may not write its own
  ``__repr__``: format the field instead.
- ``==``: ``NotImplemented`` unless ``other`` is of exactly the same class, else each ``eq``
  field compared with ``==`` in order (through ``eq_key``), the first false result returned as
  is; ``!=`` is its negation. A class may not write its own ``__eq__``/``__ne__``/``__hash__``.
- ``hash`` (frozen classes): over the class and the fields attrs hashes (``hash=True``, or
  ``eq`` when unset); a field holding a dict or other mutable container says ``hash=False``,
  so every instance is hashable and equal instances hash alike. Mutable classes are unhashable.

``tests/unit/test_values.py`` finds every value class in the package and checks all of this,
with a pickle round trip, for each.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Callable, Optional, TypeVar

import attrs

__all__ = ["value", "mutable_value", "is_value"]

_C = TypeVar("_C", bound=type)

if TYPE_CHECKING:  # an alias for annotations only: building typing objects costs import time
    _Key = Optional[Callable[[Any], Any]]

_OWN = ("__repr__", "__eq__", "__ne__", "__hash__")


class _Plan:
    __slots__ = ("name", "shown", "compared", "hashed", "seed")

    def __init__(self, cls: type) -> None:
        fields = attrs.fields(cls)
        self.name: str = cls.__qualname__.rsplit(">.", 1)[-1]
        self.shown: tuple[tuple[str, Optional[Callable[[Any], str]]], ...] = tuple(
            (f.name, f.repr if callable(f.repr) else None) for f in fields
        )
        self.compared: tuple[tuple[str, _Key], ...] = tuple((f.name, f.eq_key) for f in fields if f.eq)
        self.hashed: tuple[tuple[str, _Key], ...] = tuple(
            (f.name, f.eq_key) for f in fields if f.hash is True or (f.hash is None and f.eq is True)
        )
        self.seed = hash(f"<ailib value {cls.__module__}.{cls.__qualname__}>")


_PLANS: dict[type, _Plan] = {}
_showing = threading.local()  # ids of the values being shown on this thread (attrs' recursion guard)


def _plan(cls: type) -> _Plan:
    plan = _PLANS.get(cls)
    if plan is None:  # built once per class; two threads racing build equal plans
        plan = _PLANS[cls] = _Plan(cls)
    return plan


def _repr(self: Any) -> str:
    try:
        showing: set[int] = _showing.ids
    except AttributeError:
        showing = _showing.ids = set()
    me = id(self)
    if me in showing:
        return "..."
    showing.add(me)
    try:
        plan = _plan(self.__class__)
        parts = (f"{name}={fmt(getattr(self, name)) if fmt else repr(getattr(self, name))}" for name, fmt in plan.shown)
        return f"{plan.name}({', '.join(parts)})"
    finally:
        showing.discard(me)


def _eq(self: Any, other: object) -> Any:
    if other.__class__ is not self.__class__:
        return NotImplemented
    result: Any = True
    for name, key in _plan(self.__class__).compared:
        if key is None:
            result = getattr(self, name) == getattr(other, name)
        else:
            result = key(getattr(self, name)) == key(getattr(other, name))
        if not result:
            return result
    return result


def _ne(self: Any, other: object) -> Any:
    result = _eq(self, other)
    return result if result is NotImplemented else not result


def _hash(self: Any) -> int:
    plan = _plan(self.__class__)
    return hash((plan.seed, *(getattr(self, name) if key is None else key(getattr(self, name)) for name, key in plan.hashed)))


def _make(cls: _C, kw_only: bool, frozen: bool) -> _C:
    own = [name for name in _OWN if name in cls.__dict__]
    if own:
        raise TypeError(f"{cls.__qualname__} defines {', '.join(own)}: a value's repr, == and hash come from its fields")
    cls.__repr__ = _repr  # type: ignore[assignment]
    cls.__eq__ = _eq  # type: ignore[assignment]
    cls.__ne__ = _ne  # type: ignore[assignment]
    cls.__hash__ = _hash if frozen else None  # type: ignore[assignment]
    made: _C = attrs.define(cls, frozen=frozen, slots=True, kw_only=kw_only, repr=False, eq=False, order=False)
    hidden = [f.name for f in attrs.fields(made) if f.repr is False]
    if hidden:
        raise TypeError(f"{cls.__qualname__}: field(s) {', '.join(hidden)} left out of repr; give repr= a formatter instead")
    made.__ailib_value__ = True  # type: ignore[attr-defined]  # what is_value checks
    return made


if TYPE_CHECKING:  # mypy's attrs plugin knows these two by their attrs names: fields, __init__, evolve
    from attrs import define as mutable_value
    from attrs import frozen as value
else:

    def value(cls=None, /, *, kw_only=False):
        """Make ``cls`` a frozen ailib value class (see the module docstring); ``@value`` or ``@value(kw_only=True)``."""
        if cls is not None:
            return _make(cls, kw_only, True)
        return lambda c: _make(c, kw_only, True)

    def mutable_value(cls=None, /, *, kw_only=False):
        """``value`` for a class whose fields may be assigned after construction (unhashable)."""
        if cls is not None:
            return _make(cls, kw_only, False)
        return lambda c: _make(c, kw_only, False)


def is_value(cls: type) -> bool:
    """True when ``cls`` was made by ``value`` or ``mutable_value`` (not just any attrs class)."""
    return cls.__dict__.get("__ailib_value__") is True
