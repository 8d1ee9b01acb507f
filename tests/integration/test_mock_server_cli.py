"""`ailib mock-server` as the README's offline step uses it: every format at once, in the
background with `eval`-able exports, stopped by `--stop`, one-line errors."""

from __future__ import annotations

import os
import shlex
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from ailib import AiClient, ChatCompletionRequest, Message, Provider
from ailib.providers._registry import PROVIDERS

from ._cli import one_error_line as cli_error_line

ROOT = Path(__file__).resolve().parents[2]


def _env(runtime: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    env["XDG_RUNTIME_DIR"] = str(runtime)  # the background server's private state lives under it
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def mock_server(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ailib", "mock-server", *args], env=env, capture_output=True, text=True, timeout=timeout)


def exported(stdout: str) -> dict[str, str]:
    """The variables of `export A=x B=y` lines."""
    out: dict[str, str] = {}
    for line in stdout.splitlines():
        words = shlex.split(line)
        assert words[0] == "export", line
        out.update(word.split("=", 1) for word in words[1:])
    return out


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    """The only line on stderr of a run that exited 2 (a usage error), with no traceback."""
    assert proc.returncode == 2, proc.stderr
    return cli_error_line(proc)


@pytest.fixture
def background(tmp_path: Path) -> Iterator[tuple[dict[str, str], subprocess.CompletedProcess]]:
    """`ailib mock-server --background` started with its state under tmp_path; yields (env, the start's result); stopped after."""
    env = _env(tmp_path)
    started = mock_server("--background", env=env)
    try:
        yield env, started
    finally:
        assert mock_server("--stop", env=env).returncode == 0


@pytest.fixture(scope="module")
def shared_background(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, str], subprocess.CompletedProcess]]:
    """One background server for the tests that only call it; stopped after them."""
    env = _env(tmp_path_factory.mktemp("shared"))
    started = mock_server("--background", env=env)
    try:
        yield env, started
    finally:
        assert mock_server("--stop", env=env).returncode == 0


@pytest.mark.parametrize("port", ["99999", "-1", "http"])
def test_a_bad_port_is_one_line_and_exit_2(port: str, tmp_path: Path) -> None:
    """`ailib mock-server --port 99999` (or -1, or a word) prints one line naming --port and exits 2, no traceback."""
    proc = mock_server("--port", port, "--background", env=_env(tmp_path))
    assert "--port" in one_error_line(proc) and proc.stdout == ""


def test_background_exports_every_provider_and_returns(background: tuple[dict[str, str], subprocess.CompletedProcess]) -> None:
    """The start returns at once with `export` lines for every built-in provider's key and base URL, all on one listening server."""
    env, started = background
    assert started.returncode == 0, started.stderr
    variables = exported(started.stdout)
    expected = {f"{s.env_prefix}_{suffix}" for s in PROVIDERS.values() for suffix in ("API_KEY", "BASE_URL")}
    assert set(variables) == expected
    assert {v for k, v in variables.items() if k.endswith("_API_KEY")} == {"mock-key"}
    roots = {v.split("/v1")[0] for k, v in variables.items() if k.endswith("_BASE_URL")}
    assert len(roots) == 1 and requests.get(roots.pop() + "/_mock/script", timeout=5).json() == {"pending": []}


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini", "cohere", "groq", "mistral", "azure_openai"])
def test_each_wire_format_answers_with_the_exported_variables(
    provider: str, shared_background: tuple[dict[str, str], subprocess.CompletedProcess], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client built from nothing but the exported variables gets the mock's answer, in every wire format."""
    env, started = shared_background
    for name, value in exported(started.stdout).items():
        monkeypatch.setenv(name, value)
    with AiClient(Provider(provider)) as client:
        resp = client.chat_completion(ChatCompletionRequest("auto", [Message.user("hi")]))
        with client.chat_completion_stream(ChatCompletionRequest("auto", [Message.user("hi")])) as stream:
            streamed = "".join(chunk.delta_text for chunk in stream)
    assert resp.text == streamed == "Hello from MockProvider"


def test_the_state_is_private_and_a_second_start_reuses_the_server(
    background: tuple[dict[str, str], subprocess.CompletedProcess], tmp_path: Path
) -> None:
    """The pid file sits in a 0700 directory, itself 0600; starting again prints the same exports and starts nothing new."""
    env, started = background
    directory = tmp_path / "ailib"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE((directory / "mock-server.json").stat().st_mode) == 0o600
    again = mock_server("--background", env=env)
    assert again.returncode == 0 and again.stdout == started.stdout and "already running" in again.stderr


def test_stop_stops_the_server_and_prints_the_unset_line(background: tuple[dict[str, str], subprocess.CompletedProcess]) -> None:
    """`--stop` ends the server (its port refuses), removes the pid file and prints `unset` for every exported variable."""
    env, started = background
    variables = exported(started.stdout)
    url = variables["OPENAI_BASE_URL"].rsplit("/v1", 1)[0]
    stopped = mock_server("--stop", env=env)
    assert stopped.returncode == 0 and "stopped" in stopped.stderr
    assert set(shlex.split(stopped.stdout)) == {"unset", *variables}
    with pytest.raises(requests.ConnectionError):
        requests.get(url + "/_mock/script", timeout=5)
    assert not (Path(env["XDG_RUNTIME_DIR"]) / "ailib" / "mock-server.json").exists()
    assert mock_server("--stop", env=env).returncode == 0  # nothing to stop is not an error


def test_background_faults_are_queued_on_the_server(tmp_path: Path) -> None:
    """`--background --faults 503` queues the fault on the detached server, as in the foreground."""
    env = _env(tmp_path)
    started = mock_server("--background", "--faults", "503,ok", env=env)
    try:
        url = exported(started.stdout)["OPENAI_BASE_URL"].rsplit("/v1", 1)[0]
        assert requests.get(url + "/_mock/script", timeout=5).json() == {"pending": ["status", "ok"]}
    finally:
        mock_server("--stop", env=env)


def test_a_busy_port_in_the_background_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """`--background --port N` on a port already listening reports the child's failure in one line, exit 2, and leaves nothing running."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        proc = mock_server("--background", "--port", str(busy.getsockname()[1]), env=_env(tmp_path))
    assert "cannot listen" in one_error_line(proc) and proc.stdout == ""
    assert not (tmp_path / "ailib" / "mock-server.json").exists()


def test_a_state_directory_others_can_enter_is_refused(tmp_path: Path) -> None:
    """A state directory readable by others (mode 0755) is refused in one line, exit 2, before anything starts."""
    (tmp_path / "ailib").mkdir(mode=0o755)
    os.chmod(tmp_path / "ailib", 0o755)
    proc = mock_server("--background", env=_env(tmp_path))
    assert "0700" in one_error_line(proc) and proc.stdout == ""


def test_the_foreground_server_prints_the_same_exports(tmp_path: Path) -> None:
    """Without --background the server prints one `export` line per provider first, then serves until stopped."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "ailib", "mock-server"], env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in PROVIDERS]
        variables = exported("".join(lines))
        assert len(variables) == 2 * len(PROVIDERS)
        url = variables["ANTHROPIC_BASE_URL"]
        got = requests.post(
            url + "/v1/messages",
            json={"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]},
            headers={"x-api-key": "k", "anthropic-version": "2023-06-01"},
            timeout=5,
        )
        assert got.status_code == 200 and got.json()["content"][0]["text"] == "Hello from MockProvider"
    finally:
        proc.terminate()
        proc.wait(10)


def test_two_starts_at_once_make_one_server(tmp_path: Path) -> None:
    """Two `--background` starts racing each other print the same exports: one server runs, and one `--stop` stops it."""
    env = _env(tmp_path)
    cmd = [sys.executable, "-m", "ailib", "mock-server", "--background"]
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        outs = [p.communicate(timeout=60)[0] for p in procs]
        assert [p.returncode for p in procs] == [0, 0] and outs[0] == outs[1] and outs[0]
    finally:
        mock_server("--stop", env=env)
    url = exported(outs[0])["OPENAI_BASE_URL"].rsplit("/v1", 1)[0]
    with pytest.raises(requests.ConnectionError):
        requests.get(url + "/_mock/script", timeout=5)


def test_every_stop_ends_the_server_on_sigterm(tmp_path: Path) -> None:
    """Five starts and stops in a row: each server closes on SIGTERM (its main thread wakes for the signal), none needs killing."""
    env = _env(tmp_path)
    for _ in range(5):
        assert mock_server("--background", env=env).returncode == 0
        stopped = mock_server("--stop", env=env)
        assert stopped.returncode == 0 and "stopped the server" in stopped.stderr and "killed" not in stopped.stderr, stopped.stderr
