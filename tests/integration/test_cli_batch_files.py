"""Issue 26: `ailib batch` never loses data (the output is never the input or a device), names
files and lines in its errors, reads stdin, OpenAI batch-format lines and --shard auto."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Optional

import pytest

from ailib.testing import Fault, MockProvider

from ._cli import one_error_line

KEY = "sk-cli-files-0123456789abcdef"
LINE = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "q"}]}


def _run(mock: Optional[MockProvider], *args: str, stdin: Any = None, **env_extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    env.pop("JOB_COMPLETION_INDEX", None)
    env.pop("SLURM_ARRAY_TASK_ID", None)
    env.update(OPENAI_BASE_URL=mock.base_url if mock else "http://127.0.0.1:9", OPENAI_API_KEY=KEY, **env_extra)
    return subprocess.run([sys.executable, "-m", "ailib", "batch", *args], env=env, stdin=stdin, capture_output=True, text=True, timeout=60)


def _write(path: Path, n: int) -> None:
    path.write_text("".join(json.dumps({**LINE, "messages": [{"role": "user", "content": f"q{i}"}]}) + "\n" for i in range(n)))


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_output_equal_to_the_input_exits_2_and_leaves_the_input_unchanged(tmp_path):
    """`ailib batch X -o X` exits 2 with one error line naming the clash, sends nothing, and X keeps its bytes."""
    src = tmp_path / "in.jsonl"
    _write(src, 3)
    before = src.read_bytes()
    with MockProvider() as mock:
        proc = _run(mock, str(src), "-o", str(src))
        assert mock.request_count == 0
    assert proc.returncode == 2
    assert "is the input" in one_error_line(proc)
    assert src.read_bytes() == before


def test_output_that_is_the_input_under_another_name_is_refused(tmp_path):
    """A symlink or hard link to the input (same device and inode) is refused as the input itself."""
    src = tmp_path / "in.jsonl"
    _write(src, 2)
    before = src.read_bytes()
    (tmp_path / "sym.jsonl").symlink_to(src)
    os.link(src, tmp_path / "hard.jsonl")
    for name in ("sym.jsonl", "hard.jsonl"):
        proc = _run(None, str(src), "-o", str(tmp_path / name))
        assert proc.returncode == 2 and "is the input" in one_error_line(proc)
    assert src.read_bytes() == before


def test_stdin_input_redirected_from_the_output_file_is_refused(tmp_path):
    """`ailib batch - -o X < X` is refused: the standard input is the output file."""
    src = tmp_path / "in.jsonl"
    _write(src, 2)
    before = src.read_bytes()
    with open(src, "rb") as f:
        proc = _run(None, "-", "-o", str(src), stdin=f)
    assert proc.returncode == 2 and "is the standard input" in one_error_line(proc)
    assert src.read_bytes() == before


def test_a_device_as_output_is_refused_at_once(tmp_path):
    """`-o /dev/full` (not a regular file) exits 2 within seconds with one line, instead of reading it without end."""
    src = tmp_path / "in.jsonl"
    _write(src, 2)
    start = time.monotonic()
    proc = _run(None, str(src), "-o", "/dev/full")
    assert proc.returncode == 2 and "not a regular file" in one_error_line(proc)
    assert time.monotonic() - start < 20


def test_an_existing_file_that_is_not_a_batch_output_is_refused_and_kept(tmp_path):
    """An existing output whose first line is not a batch record exits 2 naming the file and line, and keeps its bytes."""
    src, notes = tmp_path / "in.jsonl", tmp_path / "notes.txt"
    _write(src, 2)
    notes.write_text("my notes, no newline at the end")
    with MockProvider() as mock:
        proc = _run(mock, str(src), "-o", str(notes))
        assert mock.request_count == 0
    assert proc.returncode == 2 and f"{notes} line 1 is not a record" in one_error_line(proc)
    assert notes.read_text() == "my notes, no newline at the end"


def test_a_line_longer_than_the_bound_in_the_output_is_an_error_naming_it(tmp_path):
    """A checkpoint line over 64 MiB is an error naming the file and line, read with a bound (never whole)."""
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write(src, 1)
    with open(out, "wb") as f:
        f.write(b'{"key":"k#0","index":0,"error":{}}\n{"key":"' + b"x" * (65 * 2**20))
    proc = _run(None, str(src), "-o", str(out))
    assert proc.returncode == 2 and f"{out} line 2 is longer than 64 MiB" in one_error_line(proc)


def test_errors_name_the_file_and_the_line_counting_blank_lines(tmp_path):
    """A non-JSON line after a blank one is reported as not JSON at its editor line (4), and the summary explains 'request N'."""
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text(json.dumps(LINE) + "\n\n" + json.dumps(LINE) + "\n{not json\n" + json.dumps({"model": "m"}) + "\n")
    with MockProvider() as mock:
        proc = _run(mock, str(src), "-o", str(out))
    assert proc.returncode == 1
    assert f"request 2: InvalidRequestError: {src} line 4: not JSON" in proc.stderr
    assert f"request 3: InvalidRequestError: {src} line 5: a request body needs 'messages'" in proc.stderr
    assert "blank lines are not requests" in proc.stderr
    assert [r.get("error", {}).get("message", "")[: len(str(src)) + 7] for r in _records(out)][2:] == [f"{src} line 4", f"{src} line 5"]


def test_provider_failures_name_their_input_line(tmp_path):
    """A request the provider rejects is listed with the file and line it came from."""
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text("\n" + json.dumps(LINE) + "\n")
    with MockProvider(script=lambda i, rec: Fault.http_status(400, message="bad")) as mock:
        proc = _run(mock, str(src), "-o", str(out))
    assert proc.returncode == 1 and "request 0: InvalidRequestError" in proc.stderr and f"({src} line 2)" in proc.stderr


def test_input_from_stdin(tmp_path):
    """`-` reads the requests from the standard input; a re-run with the same input resumes."""
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write(src, 4)
    with MockProvider() as mock:
        with open(src, "rb") as f:
            proc = _run(mock, "-", "-o", str(out), stdin=f)
        assert proc.returncode == 0, proc.stderr
        with open(src, "rb") as f:
            again = _run(mock, "-", "-o", str(out), stdin=f)
        assert mock.request_count == 4
    assert "4 ok (4 from the checkpoint)" in again.stderr
    assert [r["index"] for r in _records(out)] == [0, 1, 2, 3]


def test_openai_batch_format_lines_run_with_custom_id_and_metadata_kept_not_sent(tmp_path):
    """OpenAI batch lines run their body; custom_id and metadata go into the result record and never to the provider."""
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    lines = [
        {"custom_id": "task-a", "method": "POST", "url": "/v1/chat/completions", "body": LINE, "metadata": {"user": 1}},
        {**LINE, "metadata": {"user": 2}},
        {"custom_id": "task-c", "method": "POST", "url": "/v1/embeddings", "body": {"input": "x"}},
    ]
    src.write_text("".join(json.dumps(x) + "\n" for x in lines))
    with MockProvider() as mock:
        proc = _run(mock, str(src), "-o", str(out))
        sent = [r.json for r in mock.chat_requests]
    assert proc.returncode == 1
    assert sent == [LINE, LINE]
    records = _records(out)
    assert (records[0]["custom_id"], records[0]["metadata"]) == ("task-a", {"user": 1}) and "response" in records[0]
    assert records[1]["metadata"] == {"user": 2} and "custom_id" not in records[1]
    assert "only POST /v1/chat/completions" in records[2]["error"]["message"]


@pytest.mark.parametrize(
    ("env", "shard", "expected"),
    [
        ({"JOB_COMPLETION_INDEX": "1", "AILIB_SHARD_COUNT": "3"}, "auto", [1, 4]),
        ({"JOB_COMPLETION_INDEX": "2"}, "auto/3", [2, 5]),
        ({"SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_MIN": "5", "SLURM_ARRAY_TASK_COUNT": "3"}, "auto", [0, 3]),
    ],
)
def test_shard_auto_takes_the_index_and_count_from_the_job_engine(tmp_path, env, shard, expected):
    """--shard auto runs the share named by a Kubernetes Indexed Job's or a Slurm array's variables."""
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write(src, 6)
    with MockProvider() as mock:
        proc = _run(mock, str(src), "-o", str(out), "--shard", shard, **env)
    assert proc.returncode == 0, proc.stderr
    assert [r["index"] for r in _records(out)] == expected


def test_shard_auto_without_the_variables_is_a_one_line_error(tmp_path):
    """--shard auto with no job-engine variable exits 2 naming the variables it reads; with no count, how to give it."""
    src = tmp_path / "in.jsonl"
    _write(src, 2)
    proc = _run(None, str(src), "-o", str(tmp_path / "o"), "--shard", "auto")
    assert proc.returncode == 2 and "JOB_COMPLETION_INDEX" in one_error_line(proc)
    proc = _run(None, str(src), "-o", str(tmp_path / "o"), "--shard", "auto", JOB_COMPLETION_INDEX="0")
    assert proc.returncode == 2 and "AILIB_SHARD_COUNT" in one_error_line(proc)
    assert not (tmp_path / "o").exists()


def test_merge_output_equal_to_a_shard_file_is_refused(tmp_path):
    """`ailib batch merge A B -o A` exits 2 and leaves A unchanged."""
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text('{"key":"k0#0","index":0,"response":{}}\n')
    b.write_text('{"key":"k1#0","index":1,"response":{}}\n')
    before = a.read_bytes()
    proc = _run(None, "merge", str(a), str(b), "-o", str(a))
    assert proc.returncode == 2 and "is the input" in one_error_line(proc)
    assert a.read_bytes() == before


def test_output_file_is_private(tmp_path):
    """The output (prompts and answers) is created readable by its owner only."""
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write(src, 1)
    with MockProvider() as mock:
        assert _run(mock, str(src), "-o", str(out)).returncode == 0
    assert out.stat().st_mode & 0o777 == 0o600
