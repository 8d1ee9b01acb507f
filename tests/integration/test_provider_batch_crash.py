"""Issue 18's crash test: `ailib batch --mode provider` killed by SIGKILL after upload and while polling, then re-run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from ailib.testing import MockProvider
from ailib.testing._batch_api import batch_api

KEY = "sk-provider-batch-0123456789abcdef"
N = 1000


def _cli(mock: MockProvider, src: Path, out: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update(OPENAI_BASE_URL=mock.base_url, OPENAI_API_KEY=KEY)
    args = [sys.executable, "-m", "ailib", "batch", str(src), "-o", str(out), "--mode", "provider", "--poll-interval", "0.05"]
    return subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _until(cond: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.005)


def _jobs(out: Path) -> list[dict]:
    """The job records written so far (a line being written is skipped)."""
    jobs = []
    for line in out.read_text().splitlines() if out.exists() else []:
        try:
            jobs.append(json.loads(line)["job"])
        except (ValueError, KeyError):
            continue
    return jobs


def test_sigkill_after_upload_and_while_polling_completes_once_and_pays_once(tmp_path):
    """1,000 requests: SIGKILL after the upload, SIGKILL while polling, re-run: every result exactly once, one upload, one batch."""
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text(
        "".join(json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"q{i}"}]}) + "\n" for i in range(N))
    )
    with MockProvider("openai") as mock:
        api = batch_api(mock).configure(duration=0.5, create_delay=1.0)

        first = _cli(mock, src, out)
        _until(lambda: any(r.method == "POST" and r.route == "/v1/batches" for r in mock.requests), "the batch creation request")
        api.freeze()  # the batch, once created, stays in progress until thawed
        first.kill()
        first.wait(timeout=30)
        jobs = _jobs(out)  # killed after the upload, while the provider was still creating the batch
        assert api.uploads == 1 and jobs[-1]["file_id"] and not any(j.get("batch_id") for j in jobs)
        _until(lambda: api.created == 1, "the delayed batch creation")  # the provider created it anyway

        second = _cli(mock, src, out)
        polls = api.polls
        _until(lambda: api.polls >= polls + 3, "polling")
        second.kill()
        second.wait(timeout=30)
        assert _jobs(out)[-1]["batch_id"] in api.batches  # the re-run found the batch the first run lost

        api.thaw()
        third = _cli(mock, src, out)
        _, err = third.communicate(timeout=120)
        assert third.returncode == 0, err
        assert (api.uploads, api.created) == (1, 1)
        assert mock.request_count == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["index"] for r in records] == list(range(N))
    assert [r["response"]["choices"][0]["message"]["content"] for r in records] == [f"re: q{i}" for i in range(N)]
    assert KEY not in out.read_text()


def test_ctrl_c_with_cancel_remote_cancels_the_remote_batch_and_exits_130(tmp_path):
    """`ailib batch --mode provider --cancel-remote`, SIGINT while polling: exit 130, the remote batch is cancelled."""
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text(
        "".join(json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"q{i}"}]}) + "\n" for i in range(20))
    )
    with MockProvider("anthropic") as mock:
        api = batch_api(mock).configure(duration=0.5)
        api.freeze()
        env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
        env.update(ANTHROPIC_BASE_URL=mock.base_url, ANTHROPIC_API_KEY=KEY)
        args = [
            sys.executable,
            "-m",
            "ailib",
            "batch",
            str(src),
            "-o",
            str(out),
            "--provider",
            "anthropic",
            "--mode",
            "provider",
            "--poll-interval",
            "0.05",
            "--cancel-remote",
        ]
        proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        _until(lambda: api.polls >= 2, "polling")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        (b,) = api.batches.values()
        assert b["cancelled"] is not None
    assert _jobs(out)[-1]["state"] == "cancelled"


def test_gemini_batch_created_while_the_client_died_is_found_again(tmp_path):
    """Gemini: SIGKILL while the provider creates the batch; the re-run finds it by its display name: one batch, all results."""
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text(
        "".join(json.dumps({"model": "gemini-1.5-flash", "messages": [{"role": "user", "content": f"q{i}"}]}) + "\n" for i in range(50))
    )
    with MockProvider("gemini") as mock:
        api = batch_api(mock).configure(duration=0.2, create_delay=1.0)
        env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
        env.update(GEMINI_BASE_URL=mock.base_url, GEMINI_API_KEY=KEY)
        args = [
            sys.executable,
            "-m",
            "ailib",
            "batch",
            str(src),
            "-o",
            str(out),
            "--provider",
            "gemini",
            "--mode",
            "provider",
            "--poll-interval",
            "0.05",
        ]
        first = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        _until(lambda: any(r.method == "POST" and r.route.endswith(":batchGenerateContent") for r in mock.requests), "the creation request")
        first.kill()
        first.wait(timeout=30)
        _until(lambda: api.created == 1, "the delayed batch creation")
        second = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        _, err = second.communicate(timeout=120)
        assert second.returncode == 0, err
        assert api.created == 1 and mock.request_count == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["response"]["choices"][0]["message"]["content"] for r in records] == [f"re: q{i}" for i in range(50)]
