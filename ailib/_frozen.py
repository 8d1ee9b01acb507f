"""``Frozen``: a base for small internal value classes, cheaper to import than attrs.

attrs builds each class's methods by compiling generated source at import (about half of
ailib's own import time). Internal classes on every client's path derive from ``Frozen``
instead: slots, an explicit ``__init__`` (``object.__setattr__``), and by value over
``__slots__``: equality, hash, repr and pickling. Assignment raises attrs'
``FrozenInstanceError``, as it did. Public classes stay attrs classes (API.md).
"""

from __future__ import annotations

from typing import Any

from attrs.exceptions import FrozenInstanceError

__all__ = ["Frozen"]


class Frozen:
    """Immutable, slotted, compared, hashed, shown and pickled by its ``__slots__`` values."""

    __slots__: tuple[str, ...] = ()

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenInstanceError()

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError()

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, Frozen)
        return self._values() == other._values()

    def __ne__(self, other: object) -> bool:
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    def __hash__(self) -> int:
        return hash((self.__class__, *self._values()))

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={value!r}" for name, value in zip(self.__slots__, self._values()))
        return f"{self.__class__.__qualname__}({fields})"

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return self.__class__, self._values()
