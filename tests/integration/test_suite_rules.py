"""The suite's own rules (tests/conftest.py), checked on small suites that a child pytest runs
with a copy of the suite's conftest: no test over the time limit, and a test marked ``alone``
never overlaps another test of the run."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_pytest(folder: Path, test_file: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    """pytest over ``test_file`` in ``folder`` with the suite's conftest, in a child process with its own lock."""
    (folder / "conftest.py").write_text((ROOT / "tests" / "conftest.py").read_text(encoding="utf-8"), encoding="utf-8")
    (folder / "test_rules.py").write_text(textwrap.dedent(test_file), encoding="utf-8")
    ours = (
        "AILIB_TEST_LOCK",
        "AILIB_TEST_MAX_SECONDS",
        "PYTEST_ADDOPTS",
        "PYTEST_XDIST_WORKER",
        "PYTEST_XDIST_WORKER_COUNT",
        "PYTEST_XDIST_TESTRUNUID",
    )
    child_env = {k: v for k, v in os.environ.items() if k not in ours}
    child_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rA", *args, "test_rules.py"],
        cwd=folder,
        env={**child_env, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_test_over_the_time_limit_fails_naming_its_phases(tmp_path: Path) -> None:
    """Over AILIB_TEST_MAX_SECONDS a test fails: by its call, by setup and call together, or by its teardown (an error there); under it, it passes."""
    proc = run_pytest(
        tmp_path,
        """
        import time
        import pytest

        @pytest.fixture
        def slow_setup():
            time.sleep(0.4)

        @pytest.fixture
        def slow_teardown():
            yield
            time.sleep(0.7)

        def test_quick():
            pass

        def test_slow_call():
            time.sleep(0.7)

        def test_slow_setup_and_call(slow_setup):
            time.sleep(0.4)

        def test_slow_teardown(slow_teardown):
            pass
        """,
        AILIB_TEST_MAX_SECONDS="0.6",
    )
    summary = sorted(line.split(" - ")[0] for line in proc.stdout.splitlines() if line.startswith(("PASSED ", "FAILED ", "ERROR ")))
    assert summary == [
        "ERROR test_rules.py::test_slow_teardown",
        "FAILED test_rules.py::test_slow_call",
        "FAILED test_rules.py::test_slow_setup_and_call",
        "PASSED test_rules.py::test_quick",
        "PASSED test_rules.py::test_slow_teardown",  # its call passed; the error is its teardown's
    ], proc.stdout
    assert proc.stdout.count("over the 0.6 s limit per test") >= 3, proc.stdout
    assert re.search(r"\(setup 0\.[4-9] s, call 0\.[4-9] s\)", proc.stdout) and re.search(r", teardown 0\.[7-9] s\)", proc.stdout), (
        proc.stdout
    )
    assert proc.returncode == 1


def test_an_alone_test_overlaps_no_other_test_on_two_workers(tmp_path: Path) -> None:
    """Under pytest-xdist (2 workers) ordinary tests overlap one another, and no test marked alone overlaps any test."""
    log = tmp_path / "turns.jsonl"
    proc = run_pytest(
        tmp_path,
        """
        import json, os, time
        import pytest

        def record(name):
            start = time.monotonic()
            time.sleep(0.2)
            with open(os.environ["TURNS_LOG"], "a") as f:
                f.write(json.dumps([name, start, time.monotonic()]) + "\\n")

        @pytest.mark.parametrize("i", range(2))
        def test_first(i):
            record("ordinary")

        @pytest.mark.alone
        def test_alone_early():
            record("alone")

        @pytest.mark.parametrize("i", range(4))
        def test_then(i):
            record("ordinary")

        @pytest.mark.alone
        def test_alone_late():
            record("alone")

        @pytest.mark.parametrize("i", range(2))
        def test_last(i):
            record("ordinary")
        """,
        "-n",
        "2",
        TURNS_LOG=str(log),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    runs = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(runs) == 10

    def overlap(a: list, b: list) -> bool:
        return a[1] < b[2] and b[1] < a[2]

    pairs = [(a, b) for i, a in enumerate(runs) for b in runs[i + 1 :] if overlap(a, b)]
    assert any(a[0] == b[0] == "ordinary" for a, b in pairs), "the workers never ran two tests at once"
    assert [(a, b) for a, b in pairs if "alone" in (a[0], b[0])] == []
