"""``register_after_fork`` from ``ailib._fork`` (a local stand-in until that module is on main)."""

from __future__ import annotations

import os
import weakref
from typing import Any

try:
    from ..._fork import register_after_fork
except ImportError:  # pragma: no cover - replaced by ailib._fork once it lands
    _objects: weakref.WeakSet[Any] = weakref.WeakSet()

    def register_after_fork(obj: Any) -> None:
        """Call ``obj._after_fork_in_child()`` in every child forked while ``obj`` is alive."""
        _objects.add(obj)

    def _reset() -> None:
        for obj in list(_objects):
            obj._after_fork_in_child()

    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_reset)

__all__ = ["register_after_fork"]
