"""The after-fork registry: live objects are reset in a real forked child, dead ones are not kept."""

from __future__ import annotations

import gc
import os

import pytest

from ailib._fork import register_after_fork, unregister_after_fork

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


class _Holder:
    def __init__(self) -> None:
        self.resets = 0

    def _after_fork_in_child(self) -> None:
        self.resets += 1


class _Broken:
    def _after_fork_in_child(self) -> None:
        raise RuntimeError("boom")


def _in_child(check) -> int:
    """Fork; run ``check()`` in the child, whose exit status is 0 when it returned True."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            code = 0 if check() else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_registered_object_is_reset_in_child_only():
    """A registered object's hook runs once in the forked child and never in the parent."""
    holder = _Holder()
    register_after_fork(holder)
    assert _in_child(lambda: holder.resets == 1) == 0
    assert holder.resets == 0


def test_one_failing_hook_does_not_stop_the_others():
    """An object whose hook raises does not keep later objects from being reset."""
    broken, holder = _Broken(), _Holder()
    register_after_fork(broken)
    register_after_fork(holder)
    assert _in_child(lambda: holder.resets == 1) == 0


def test_unregistered_object_is_not_reset():
    """``unregister_after_fork`` removes an object from the registry."""
    holder = _Holder()
    register_after_fork(holder)
    unregister_after_fork(holder)
    assert _in_child(lambda: holder.resets == 0) == 0


def test_registry_holds_objects_weakly():
    """Registering does not keep an object alive, and its entry goes with it."""
    import weakref

    from ailib import _fork

    holder = _Holder()
    register_after_fork(holder)
    key, ref = id(holder), weakref.ref(holder)
    del holder
    gc.collect()
    assert ref() is None
    assert key not in _fork._registry


def test_unhashable_objects_can_register():
    """An object without a hash (an attrs class with eq) can be registered and reset."""

    class Unhashable(_Holder):
        __hash__ = None  # type: ignore[assignment]

    holder = Unhashable()
    register_after_fork(holder)
    assert _in_child(lambda: holder.resets == 1) == 0
