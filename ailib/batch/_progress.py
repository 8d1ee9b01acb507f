"""Batch progress on the calling thread: a callable's events, a tqdm bar, or a plain stderr line."""

from __future__ import annotations

import sys
import time
from typing import Any, Callable, Optional

from .._value import value

__all__ = ["BatchProgress", "Reporter"]


@value
class BatchProgress:
    """One progress event: counts so far, ``elapsed`` seconds, ``rate`` results per second
    finished in this run, ``cost`` (USD, when prices are configured) of this run's answers.
    ``done`` includes ``failed`` and the ``skipped`` (from the checkpoint)."""

    done: int
    failed: int
    total: int
    elapsed: float
    rate: float
    skipped: int = 0
    cost: Optional[float] = None
    status: str = ""


class Reporter:
    """Counts results and shows them: a callable's events, a tqdm bar (the ``progress`` extra)
    with rate, errors and cost, or without tqdm a plain one-line summary on stderr."""

    def __init__(self, progress: Any, *, total: int, done: int, failed: int, skipped: int) -> None:
        self.total, self.done, self.failed, self.skipped = total, done, failed, skipped
        self.cost: Optional[float] = None
        self.status = ""
        self._start = time.monotonic()
        self._sent = 0
        self._callback: Optional[Callable[[BatchProgress], Any]] = None
        self._bar: Any = None
        self._plain = False
        self._last_print = 0.0
        self._tty = bool(getattr(sys.stderr, "isatty", lambda: False)())
        if callable(progress) and progress is not True:
            self._callback = progress
        elif progress is True:
            try:
                from tqdm import tqdm
            except ImportError:
                self._plain = True
            else:
                self._bar = tqdm(total=total, initial=done, unit="req", desc="ailib batch", dynamic_ncols=True, file=sys.stderr)
                self._postfix()
        self._emit(force=True)

    def event(self) -> BatchProgress:
        elapsed = time.monotonic() - self._start
        rate = self._sent / elapsed if elapsed > 0 else 0.0
        return BatchProgress(self.done, self.failed, self.total, elapsed, rate, self.skipped, self.cost, self.status)

    def update(self, *, failed: bool, cost: Optional[float] = None, n: int = 1) -> None:
        """``n`` more results (failed or not); ``cost`` is their price, when known."""
        self.done += n
        self._sent += n
        if failed:
            self.failed += n
        if cost is not None:
            self.cost = (self.cost or 0.0) + cost
        if self._bar is not None:
            if failed or cost is not None:
                self._postfix()
            self._bar.update(n)
        self._emit(force=False)

    def set_status(self, status: str) -> None:
        """What the run is doing besides counting (e.g. a provider batch's state)."""
        if status == self.status:
            return
        self.status = status
        if self._bar is not None:
            self._postfix()
            self._bar.refresh()
        self._emit(force=True)

    def _postfix(self) -> None:
        fields: dict[str, Any] = {"failed": self.failed}
        if self.cost is not None:
            fields["cost"] = f"${self.cost:.4f}"
        if self.status:
            fields["status"] = self.status
        self._bar.set_postfix(fields, refresh=False)

    def tick(self) -> None:
        if self._plain:
            self._emit(force=False)

    def _emit(self, *, force: bool) -> None:
        if self._callback is not None:
            if force or self._sent:
                self._callback(self.event())
        elif self._plain:
            now = time.monotonic()
            if force or now - self._last_print >= (0.2 if self._tty else 5.0):
                self._last_print = now
                self._print(final=False)

    def line(self) -> str:
        """The plain one-line summary: counts, errors, rate and cost."""
        e = self.event()
        cost = f", ${e.cost:.4f}" if e.cost is not None else ""
        status = f" [{e.status}]" if e.status else ""
        return f"ailib batch: {e.done}/{e.total} done, {e.failed} failed, {e.rate:.1f} req/s{cost}{status}"

    def _print(self, *, final: bool) -> None:
        end = "\n" if final or not self._tty else ""
        line = self.line()
        sys.stderr.write(("\r" + line if self._tty else line) + end)
        sys.stderr.flush()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self._plain:
            self._plain = False
            self._print(final=True)
