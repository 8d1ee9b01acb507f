"""The `ailib` command as a user meets it: version, one-line errors, Ctrl-C, closed pipes, mock-server."""

from __future__ import annotations

import json
import shlex
import signal
import socket
import subprocess
import sys
import warnings

import pytest
import requests

from ailib import AiClient, ChatCompletionRequest, ConnectionOptions, Message, __version__
from ailib.testing import Fault, MockProvider

from ._cli import ailib, no_keys, one_error_line

KEY = "sk-cli-0123456789abcdef"


def test_version() -> None:
    """`ailib --version` prints the package version and exits 0."""
    proc = ailib("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"ailib {__version__}"


def test_a_bad_format_is_one_line_and_exit_2() -> None:
    """`ailib mock-server --format nope` prints one error line naming the formats, exit 2."""
    proc = ailib("mock-server", "--format", "nope")
    assert proc.returncode == 2 and "openai" in one_error_line(proc)


def test_an_unknown_subcommand_is_one_line_and_exit_2() -> None:
    """A misspelt subcommand prints one error line, exit 2."""
    proc = ailib("chatt", "hi")
    assert proc.returncode == 2 and "invalid choice" in one_error_line(proc)


def test_a_port_in_use_is_one_line_and_exit_2() -> None:
    """`ailib mock-server --port N` on a port already listening prints one line, exit 2."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        proc = ailib("mock-server", "--port", str(busy.getsockname()[1]))
    assert proc.returncode == 2 and "cannot listen" in one_error_line(proc)


def test_no_key_is_one_line_naming_the_variable() -> None:
    """`ailib chat` with no key prints one line naming GROQ_API_KEY, exit 2."""
    proc = ailib("chat", "hi", "--provider", "groq", env=no_keys())
    assert proc.returncode == 2 and "GROQ_API_KEY" in one_error_line(proc)


def test_chat_help_names_the_environment_and_the_default_provider() -> None:
    """`ailib chat --help` names the key and base-URL variables and the default provider."""
    out = ailib("chat", "--help").stdout
    assert "OPENAI_API_KEY" in out and "OPENAI_BASE_URL" in out and "<PREFIX>_API_KEY" in out
    assert "default provider is openai" in out


def test_ctrl_c_during_a_stream_exits_130_without_a_traceback() -> None:
    """`ailib chat --stream` interrupted by SIGINT mid-stream exits 130 with no traceback on stderr."""
    with MockProvider() as mock:
        mock.enqueue(Fault.stall_stream(after=1, seconds=30))
        env = no_keys(OPENAI_BASE_URL=mock.base_url, OPENAI_API_KEY=KEY)
        proc = subprocess.Popen(
            [sys.executable, "-m", "ailib", "chat", "hi", "--stream"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        try:
            assert proc.stdout is not None
            first = proc.stdout.read(1)  # the first streamed character: the stream is open
            assert first
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=30)
        finally:
            proc.kill()
    assert proc.returncode == 130 and b"Traceback" not in err, err


def test_a_closed_pipe_ends_quietly() -> None:
    """`ailib demo | head -1`: once the reader goes away the command ends with no traceback (status 141, as SIGPIPE)."""
    proc = subprocess.Popen([sys.executable, "-m", "ailib", "demo"], env=no_keys(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    proc.stdout.readline()
    proc.stdout.close()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 141 and b"Traceback" not in err and b"Exception ignored" not in err, err


@pytest.fixture
def mock_server(tmp_path):
    """`ailib mock-server` started with a script file and a tool-call reply; yields (env lines, process)."""
    script = tmp_path / "script.json"
    script.write_text(json.dumps(["503", {"fault": "ok", "text": "scripted"}]))
    proc = subprocess.Popen(
        [sys.executable, "-m", "ailib", "mock-server", "--script", str(script), "--tool-call", 'get_weather={"city": "Paris"}'],
        env=no_keys(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = shlex.split(proc.stdout.readline())  # export OPENAI_API_KEY=... OPENAI_BASE_URL=...
        assert first[0] == "export"
        yield dict(item.split("=", 1) for item in first[1:]), proc
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        finally:
            proc.kill()


def test_mock_server_prints_env_lines_runs_its_script_and_answers_tool_calls(mock_server) -> None:
    """The first printed line exports OPENAI_API_KEY/OPENAI_BASE_URL, which point a client at it; --script runs first, then the tool-call reply."""
    env, proc = mock_server
    assert set(env) == {"OPENAI_BASE_URL", "OPENAI_API_KEY"} and env["OPENAI_BASE_URL"].startswith("http://127.0.0.1:")
    with AiClient("openai", options=ConnectionOptions(base_url=env["OPENAI_BASE_URL"], api_key=env["OPENAI_API_KEY"])) as client:
        req = ChatCompletionRequest("auto", [Message.user("hi")])
        first = client.chat_completion(req)  # 503 then the scripted ok
        second = client.chat_completion(req)  # the default reply: a tool call
    assert first.text == "scripted" and [a.outcome for a in first.attempts] == ["error", "ok"]
    assert [(c.name, c.arguments) for c in second.tool_calls] == [("get_weather", {"city": "Paris"})]


def test_mock_server_is_scriptable_while_it_runs(mock_server) -> None:
    """POST /_mock/script queues faults on the running server; GET /_mock/requests lists what it received."""
    env, _ = mock_server
    url = env["OPENAI_BASE_URL"].rsplit("/v1", 1)[0]
    requests.delete(url + "/_mock/script", timeout=5)
    assert requests.post(url + "/_mock/script", json=["401"], timeout=5).json() == {"enqueued": 1, "pending": 1}
    got = requests.post(
        env["OPENAI_BASE_URL"] + "/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": "hi"}]}, timeout=5
    )
    seen = requests.get(url + "/_mock/requests", timeout=5).json()["requests"]
    assert got.status_code == 401 and seen[-1]["fault"] == "status" and seen[-1]["json"]["model"] == "m"


def test_a_provider_colon_model_warns_once_and_is_sent_unchanged() -> None:
    """Model "openai:gpt-4o" on a single-provider client is sent as written, with one warning naming "openai/gpt-4o" and "gpt-4o"."""
    with MockProvider() as mock, AiClient(mock.provider()) as client:
        req = ChatCompletionRequest("openai:gpt-4o", [Message.user("hi")])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            client.chat_completion(req)
            client.chat_completion(req)
        sent = [r.json["model"] for r in mock.chat_requests]
    hints = [str(w.message) for w in caught if "openai:gpt-4o" in str(w.message)]
    assert sent == ["openai:gpt-4o", "openai:gpt-4o"]
    assert len(hints) == 1 and "'openai/gpt-4o'" in hints[0] and "'gpt-4o'" in hints[0]
