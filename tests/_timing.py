"""The one slack factor for wall-clock bounds in tests.

Tests may bound wall time only to catch hangs or to tell "at once" from "after a wait". Every
such bound is written as ``expected + margin * SLACK`` (or ``bound * SLACK``), where the
wrong behaviour it catches lies well beyond it even at a large SLACK. ``AILIB_TEST_SLACK``
sets it: 1 checks the tight figures on a quiet machine; the default (3) keeps the suite green
on a loaded 2-core machine. Anything without a socket runs on ``FakeClock`` instead.
"""

from __future__ import annotations

import os

SLACK = float(os.environ.get("AILIB_TEST_SLACK", "3"))
if not SLACK >= 1:
    raise ValueError(f"AILIB_TEST_SLACK must be a number >= 1, got {os.environ.get('AILIB_TEST_SLACK')!r}")
