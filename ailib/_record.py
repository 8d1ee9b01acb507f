"""``Record``: attrs' repr, equality and hashing for ailib's attrs classes, without generated code.

attrs compiles each class's methods from generated source when the class is built, and
that compile was about a third of ``import ailib``. ailib's attrs classes stay attrs classes
(fields, validators, converters, ``__init__``, ``attrs.evolve``, pickling) but are declared
``@attrs.frozen(..., repr=False, eq=False)`` and inherit these methods, which read the class's
``attrs.fields`` once and then behave as the ones attrs would have generated:

- ``repr``: ``Name(a=1, b='x')`` over the fields with ``repr=True`` (a callable ``repr``
  formats its value), ``...`` for an instance already being shown on this thread;
- ``==``: ``NotImplemented`` unless ``other`` is of exactly the same class, else each
  ``eq`` field compared with ``==`` in order (through ``eq_key``), the first false result
  returned as is (``!=`` is its negation, as in attrs);
- ``hash``: over the class and the fields attrs hashes (``hash=True``, or ``eq`` when unset).

``MutableRecord`` is the same for a mutable (``attrs.define``) class: unhashable, as attrs makes it.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Callable, Optional

import attrs

__all__ = ["Record", "MutableRecord"]

if TYPE_CHECKING:  # an alias for annotations only: building typing objects costs import time
    _Key = Optional[Callable[[Any], Any]]


class _Plan:
    __slots__ = ("name", "shown", "compared", "hashed", "seed")

    def __init__(self, cls: type) -> None:
        fields = attrs.fields(cls)
        self.name: str = cls.__qualname__.rsplit(">.", 1)[-1]
        self.shown: tuple[tuple[str, Optional[Callable[[Any], str]]], ...] = tuple(
            (f.name, f.repr if callable(f.repr) else None) for f in fields if f.repr is not False
        )
        self.compared: tuple[tuple[str, _Key], ...] = tuple((f.name, f.eq_key) for f in fields if f.eq)
        self.hashed: tuple[tuple[str, _Key], ...] = tuple(
            (f.name, f.eq_key) for f in fields if f.hash is True or (f.hash is None and f.eq is True)
        )
        self.seed = hash(f"<attrs record {cls.__module__}.{cls.__qualname__}>")


_PLANS: dict[type, _Plan] = {}
_showing = threading.local()  # ids of the records being shown on this thread (attrs' recursion guard)


def _plan(cls: type) -> _Plan:
    plan = _PLANS.get(cls)
    if plan is None:  # built once per class; two threads racing build equal plans
        plan = _PLANS[cls] = _Plan(cls)
    return plan


class Record:
    """Base of a frozen ailib attrs class declared with ``repr=False, eq=False``."""

    __slots__ = ()

    def __repr__(self) -> str:
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

    def __eq__(self, other: object) -> Any:
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

    def __hash__(self) -> int:
        plan = _plan(self.__class__)
        return hash((plan.seed, *(getattr(self, name) if key is None else key(getattr(self, name)) for name, key in plan.hashed)))


class MutableRecord(Record):
    """Base of a mutable ailib attrs class (``attrs.define(repr=False, eq=False)``): unhashable."""

    __slots__ = ()
    __hash__ = None  # type: ignore[assignment]
