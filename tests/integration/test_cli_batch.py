"""`ailib batch IN.jsonl -o OUT.jsonl` against a loopback MockProvider."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from ailib.testing import Fault, MockProvider

KEY = "sk-cli-batch-0123456789abcdef"


def _prompt(rec: Any) -> str:
    return rec.json["messages"][-1]["content"]


def _write_input(path: Path, n: int, extra: tuple[str, ...] = ()) -> None:
    lines = [json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"q{i}"}]}) for i in range(n)]
    path.write_text("\n".join([*lines, *extra]) + "\n")


def _run(mock: MockProvider, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update(OPENAI_BASE_URL=mock.base_url, OPENAI_API_KEY=KEY)
    return subprocess.run([sys.executable, "-m", "ailib", "batch", *args], env=env, capture_output=True, text=True, timeout=60)


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_batch_writes_one_record_per_line_in_order_and_exits_0(tmp_path):
    """All requests succeed: exit 0, OUT has a response record per input line, in order, and a summary."""
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write_input(src, 12)
    with MockProvider(script=lambda i, rec: Fault.ok("re: " + _prompt(rec))) as mock:
        proc = _run(mock, str(src), "-o", str(out), "--concurrency", "4")
    assert proc.returncode == 0, proc.stderr
    records = _records(out)
    assert [r["index"] for r in records] == list(range(12))
    assert [r["response"]["choices"][0]["message"]["content"] for r in records] == [f"re: q{i}" for i in range(12)]
    assert "12 requests: 12 ok (0 from the checkpoint), 0 failed" in proc.stderr
    assert KEY not in out.read_text()


def test_failures_exit_1_and_a_rerun_resends_only_them(tmp_path):
    """Some failures give exit 1 and error records; the same command again sends only those and exits 0."""
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write_input(src, 10)
    healthy = threading.Event()

    def script(i: int, rec: Any) -> Fault:
        if not healthy.is_set() and _prompt(rec) in ("q2", "q7"):
            return Fault.http_status(400, message="try later")
        return Fault.ok("re: " + _prompt(rec))

    with MockProvider(script=script) as mock:
        first = _run(mock, str(src), "-o", str(out))
        assert first.returncode == 1, first.stderr
        assert "2 failed" in first.stderr and "request 2: InvalidRequestError" in first.stderr
        assert [r["error"]["status_code"] for r in _records(out) if "error" in r] == [400, 400]
        sent = mock.request_count
        healthy.set()
        second = _run(mock, str(src), "-o", str(out))
        assert second.returncode == 0, second.stderr
        assert sorted(_prompt(r) for r in mock.chat_requests[sent:]) == ["q2", "q7"]
    assert "10 ok (8 from the checkpoint), 0 failed" in second.stderr
    assert all("response" in r for r in _records(out))


def test_invalid_lines_are_reported_not_fatal(tmp_path):
    """A non-JSON line and a body without messages fail alone (exit 1); the valid lines are answered."""
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write_input(src, 3, extra=("{not json", json.dumps({"model": "x"})))
    with MockProvider() as mock:
        proc = _run(mock, str(src), "-o", str(out))
        assert mock.request_count == 3
    assert proc.returncode == 1
    records = _records(out)
    assert ["response" in r for r in records] == [True, True, True, False, False]
    assert {r["error"]["type"] for r in records[3:]} == {"InvalidRequestError"}


def test_model_flag_overrides_every_line(tmp_path):
    """--model replaces each line's model in what is sent."""
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write_input(src, 3)
    with MockProvider() as mock:
        proc = _run(mock, str(src), "-o", str(out), "--model", "other-model")
        assert proc.returncode == 0, proc.stderr
        assert {r.json["model"] for r in mock.chat_requests} == {"other-model"}


def test_rpm_paces_the_requests(tmp_path):
    """--rpm 300 (5/s, burst 5) spreads 10 requests over at least ~1 s at the server."""
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write_input(src, 10)
    with MockProvider() as mock:
        proc = _run(mock, str(src), "-o", str(out), "--rpm", "300", "--concurrency", "8")
        times = sorted(r.received_at for r in mock.chat_requests)
    assert proc.returncode == 0, proc.stderr
    assert len(times) == 10 and times[-1] - times[0] >= 0.8


def test_progress_flag_draws_progress_on_stderr(tmp_path):
    """--progress shows the done count and failed count on stderr."""
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write_input(src, 5)
    with MockProvider() as mock:
        proc = _run(mock, str(src), "-o", str(out), "--progress")
    assert proc.returncode == 0, proc.stderr
    assert "5/5" in proc.stderr and "failed=0" in proc.stderr


def test_missing_key_exits_2_naming_the_variable(tmp_path):
    """Without the provider's key the batch does not start: exit 2, the variable named, no output file."""
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write_input(src, 2)
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    proc = subprocess.run(
        [sys.executable, "-m", "ailib", "batch", str(src), "-o", str(out), "--provider", "groq"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "GROQ_API_KEY" in proc.stderr
    assert not out.exists()


def test_ctrl_c_exits_130_with_a_valid_output_that_a_rerun_completes(tmp_path):
    """SIGINT mid-batch: exit 130 and a resume hint; every line valid; the same command then finishes the rest."""
    import signal
    import time

    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write_input(src, 60)
    with MockProvider(script=lambda i, rec: Fault.ok("re: " + _prompt(rec), delay=0.05)) as mock:
        env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
        env.update(OPENAI_BASE_URL=mock.base_url, OPENAI_API_KEY=KEY)
        cmd = [sys.executable, "-m", "ailib", "batch", str(src), "-o", str(out), "--concurrency", "2"]
        proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 20
        while mock.request_count < 6 and time.monotonic() < deadline:
            time.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
        assert proc.returncode == 130, err
        assert "run the same command to resume" in err
        first = _records(out)  # every line parses
        assert 0 < len(first) < 60 and len(first) == mock.request_count
        again = _run(mock, str(src), "-o", str(out), "--concurrency", "8")
        assert again.returncode == 0, again.stderr
        assert mock.request_count == 60
    assert [r["response"]["choices"][0]["message"]["content"] for r in _records(out)] == [f"re: q{i}" for i in range(60)]
