"""Fork safety: objects holding sockets, threads, executors or locks reset themselves in a child.

``register_after_fork(obj)`` keeps a weak reference to ``obj``; in a process forked from
this one (gunicorn ``--preload``, uWSGI, Celery prefork, ``multiprocessing`` with fork),
each live registered object's ``_after_fork_in_child()`` is called once, right after the
fork, before the child runs anything else. The hook must only drop what it inherited
(never close a socket the parent still uses) and rebuild lazily.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from typing import Any

__all__ = ["register_after_fork", "unregister_after_fork"]

_log = logging.getLogger("ailib")
# id -> weak reference (not a WeakSet: registered objects need not be hashable).
_registry: dict[int, weakref.ref[Any]] = {}
_lock = threading.RLock()  # reentrant: a weakref callback may run during GC under it


def register_after_fork(obj: Any) -> None:
    """Call ``obj._after_fork_in_child()`` in every child forked while ``obj`` is alive."""
    key = id(obj)

    def _gone(ref: weakref.ref[Any], key: int = key) -> None:
        with _lock:
            if _registry.get(key) is ref:
                del _registry[key]

    with _lock:
        _registry[key] = weakref.ref(obj, _gone)


def unregister_after_fork(obj: Any) -> None:
    """Forget ``obj`` (for example once it is closed); unknown objects are ignored."""
    with _lock:
        ref = _registry.get(id(obj))
        if ref is not None and ref() is obj:
            del _registry[id(obj)]


def _reset_in_child() -> None:
    global _lock
    # The parent may have held the lock while forking (another thread registering):
    # the child has only this thread, so a fresh lock is correct.
    _lock = threading.RLock()
    for ref in list(_registry.values()):
        obj = ref()
        if obj is None:
            continue
        try:
            obj._after_fork_in_child()
        except Exception:  # one broken object must not leave the others inherited
            _log.exception("ailib: resetting %s after fork failed", type(obj).__name__)


if hasattr(os, "register_at_fork"):  # POSIX; Windows has no fork
    os.register_at_fork(after_in_child=_reset_in_child)
