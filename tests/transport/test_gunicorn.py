"""The Flask example under a real gunicorn ``--preload --workers 2 --threads 4``.

The app's client makes one call at import, in the master, before the workers are forked:
each worker inherits that keep-alive connection. 500 requests from 16 concurrent clients
must each get the echo of their own question.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from ._server import RawServer

pytest.importorskip("gunicorn")
pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="gunicorn needs fork")

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_serving(url: str, proc: subprocess.Popen, seconds: float = 60.0) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise AssertionError(f"gunicorn exited with {proc.returncode}: {proc.stderr.read().decode()[-2000:]}")
        try:
            if requests.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            time.sleep(0.1)
    raise AssertionError("gunicorn did not start serving")


def test_gunicorn_preload_workers_answer_each_request_with_its_own_echo():
    """gunicorn --preload --workers 2 --threads 4, a call at import: 500 requests from 16 clients, 0 wrong answers, 0 failures."""
    with RawServer("length") as upstream:
        port = _free_port()
        env = {
            **os.environ,
            "AILIB_TEST_BASE_URL": upstream.base_url,
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        }
        cmd = [
            sys.executable,
            "-m",
            "gunicorn",
            "--preload",
            "--workers",
            "2",
            "--threads",
            "4",
            "--bind",
            f"127.0.0.1:{port}",
            "--timeout",
            "60",
            "tests.transport._wsgi:app",
        ]
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_until_serving(url, proc)

            def ask(i: int) -> bool:
                question = f"question {i} of 500"
                r = requests.post(url + "/chat", json={"message": question}, timeout=60)
                return r.status_code == 200 and r.json().get("reply") == "echo:" + question

            with ThreadPoolExecutor(16) as pool:
                answers = list(pool.map(ask, range(500)))
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        assert answers.count(False) == 0
        assert upstream.request_count == 1 + 500
