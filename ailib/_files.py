"""Files that hold prompts, answers or checkpoints: created readable by their owner only.

Every file ailib creates for such data (the SQLite cache and its ``-wal``/``-shm``,
batch checkpoints and outputs, their temporary files) is created with mode 0600 whatever
the umask: opened with ``O_EXCL`` and 0600, then ``fchmod``-ed to exactly 0600. A file
that already exists is set to 0600 when it is ailib's own (a checkpoint or output an
earlier run wrote, a temporary file, a SQLite file holding only ailib's cache table);
any other keeps its mode (the user's, maybe chosen on purpose), with one warning per path
and process when others can read it.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
from typing import Union

__all__ = ["PRIVATE", "open_private", "create_private", "tighten", "warn_if_shared"]

log = logging.getLogger("ailib")
PRIVATE = 0o600
_warned: set[str] = set()
_lock = threading.Lock()

PathLike = Union[str, "os.PathLike[str]"]


def open_private(path: PathLike, flags: int, *, own: bool = True) -> int:
    """A descriptor of ``path`` opened with ``flags`` (``O_WRONLY``, ``O_APPEND``, ``O_TRUNC``,
    ...); created with mode exactly 0600 when it does not exist. An existing file is
    ailib's own when ``own`` (a checkpoint or output a previous run wrote, a temporary
    file): it is set to 0600 too; otherwise its mode is left alone."""
    flags &= ~(os.O_CREAT | os.O_EXCL)
    while True:
        try:
            fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, PRIVATE)
        except FileExistsError:
            try:
                fd = os.open(path, flags)
            except FileNotFoundError:  # removed in between: create it after all
                continue
            if own:
                _tighten_fd(fd)
            return fd
        try:
            os.fchmod(fd, PRIVATE)  # the umask may have taken bits away; never adds any
        except BaseException:
            os.close(fd)
            raise
        return fd


def _tighten_fd(fd: int) -> None:
    mode = os.fstat(fd).st_mode
    if stat.S_ISREG(mode) and mode & 0o077:
        os.fchmod(fd, PRIVATE)


def create_private(path: PathLike) -> bool:
    """Create ``path`` empty with mode exactly 0600; False (nothing changed) when it exists."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE)
    except FileExistsError:
        return False
    try:
        os.fchmod(fd, PRIVATE)
    finally:
        os.close(fd)
    return True


def tighten(path: PathLike) -> None:
    """Set an existing file of ailib's own to mode 0600 when group or others can access it
    (a file left by an older version); a missing file is ignored."""
    try:
        mode = os.stat(path).st_mode
        if stat.S_ISREG(mode) and mode & 0o077:
            os.chmod(path, PRIVATE)
    except FileNotFoundError:
        pass


def warn_if_shared(path: PathLike, what: str) -> None:
    """One warning per path and process when ``path`` (a file ailib did not create, holding
    ``what``) can be read by group or others; its mode is left as it is."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return
    if not stat.S_ISREG(mode) or not mode & 0o044:
        return
    key = os.path.abspath(os.fspath(path))
    with _lock:
        if key in _warned:
            return
        _warned.add(key)
    log.warning(
        "%s holds %s and other users can read it (mode %o); ailib leaves the mode of a file it did not create: chmod 600 it",
        key,
        what,
        stat.S_IMODE(mode),
    )
