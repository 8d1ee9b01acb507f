"""``ailib mock-server``: mock providers on 127.0.0.1, in the foreground or in the background.

One server speaks every wire format at once (OpenAI, Anthropic, Gemini, Cohere), each on its
own paths, so every built-in provider can point at it. At start it prints on stdout one
``export <PREFIX>_API_KEY=mock-key <PREFIX>_BASE_URL=...`` line per built-in provider, and on
stderr how to script it. ``--background`` starts a detached server, prints the same lines once
it is listening and returns, so ``eval "$(ailib mock-server --background)"`` points the shell
at it; ``--stop`` stops that server and prints the matching ``unset`` line. The background
server's pid and URL are kept in a private directory (``$XDG_RUNTIME_DIR/ailib``, else
``<tmp>/ailib-<uid>``, mode 0700).
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import os
import shlex
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, Optional

from ._common import Subcommands, UsageError

if TYPE_CHECKING:
    from ..testing import Fault, MockProvider, Reply

FORMATS = ("openai", "anthropic", "gemini", "cohere")
MOCK_KEY = "mock-key"
_STATE = "mock-server.json"
_LOG = "mock-server.log"
_START_TIMEOUT = 15.0
_EPILOG = """every wire format is served at once; the lines printed on stdout point each built-in
provider at it (export OPENAI_API_KEY=mock-key OPENAI_BASE_URL=http://127.0.0.1:PORT/v1, ...).

  eval "$(ailib mock-server --background)"   start it detached and set the variables in this shell
  eval "$(ailib mock-server --stop)"         stop it and unset them

faults (--faults, comma-separated, one per chat request in order, then normal answers):
  STATUS[:retry-after=S]  an error status, e.g. 429:retry-after=1, 500, 401
  ok  reset  stall[:S]  delay:S  cut:N  error-event:N  drip:S  malformed

--script FILE: a JSON list of such strings or of objects naming a Fault constructor, e.g.
  ["429:retry-after=1", {"fault": "ok", "tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]}]

while it runs (URL: http://127.0.0.1:PORT):
  curl -X POST $URL/_mock/script -d '["500", "ok"]'           the faults to run next (replaces the queue; [] clears it)
  curl -X POST "$URL/_mock/script?append=1" -d '["500"]'      add to the queue
  curl $URL/_mock/requests                                    what the server received
  curl -X POST $URL/_mock/reply -d '{"text": "hi"}'            the default answer from now on"""


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a TCP port (0-65535; 0 picks a free one)")
    return port


def add_parser(sub: Subcommands) -> None:
    p = sub.add_parser(
        "mock-server",
        help="run mock providers on 127.0.0.1 (every wire format at once)",
        description="Serve the providers' wire formats on 127.0.0.1 with scripted faults, in the foreground or the background.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--port", type=_port, default=0, help="port on 127.0.0.1 (default: any free one)")
    p.add_argument(
        "--format", default="openai", choices=FORMATS, help="the format that answers model listings and unknown paths (default: openai)"
    )
    p.add_argument("--faults", default="", help='e.g. "429:retry-after=1,500,reset,ok"')
    p.add_argument("--script", metavar="FILE", help="a JSON list of faults to run first")
    p.add_argument("--reply", default=None, help="the text of a normal answer (default: Hello from MockProvider)")
    p.add_argument(
        "--tool-call",
        action="append",
        default=[],
        metavar="NAME=JSON",
        help='answer with a tool call, e.g. get_weather=\'{"city": "Paris"}\' (repeatable)',
    )
    p.add_argument(
        "--framing", default="chunked", choices=("chunked", "length", "close", "http10"), help="how bodies are delimited (default: chunked)"
    )
    p.add_argument("--api-key", default=None, help="require this key (default: accept any, and print mock-key)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--background", action="store_true", help="start detached, print the export lines once listening, return")
    mode.add_argument("--stop", action="store_true", help="stop the background server and print the matching unset line")
    p.add_argument("--detached-child", action="store_true", help=argparse.SUPPRESS)  # the process --background starts
    p.set_defaults(func=run)


# -- what a client needs ------------------------------------------------------------------------


def _variables(url: str) -> list[tuple[str, str, str]]:
    """(key variable, base-URL variable, base URL) of every built-in provider, for a server at ``url``."""
    from ..providers._registry import PROVIDERS
    from ..testing._provider import _load_formats

    formats = _load_formats()
    out = []
    for spec in PROVIDERS.values():
        fmt = formats.get("openai" if spec.wire_format == "azure" else spec.wire_format)  # Azure: OpenAI's body, its own URLs
        if spec.env_prefix is None or fmt is None:
            continue
        out.append((f"{spec.env_prefix}_API_KEY", f"{spec.env_prefix}_BASE_URL", url + fmt.base_path))
    return out


def export_lines(url: str, key: str = MOCK_KEY) -> str:
    """One ``export`` line per built-in provider, ready for ``eval``."""
    return "".join(f"export {k}={shlex.quote(key)} {b}={shlex.quote(u)}\n" for k, b, u in _variables(url))


def unset_line() -> str:
    names = [name for k, b, _ in _variables("http://127.0.0.1") for name in (k, b)]
    return "unset " + " ".join(names) + "\n"


# -- the server ---------------------------------------------------------------------------------


def _faults(args: argparse.Namespace) -> list[Fault]:
    from ..testing._script import ScriptError, faults_from_json, parse_faults

    try:
        faults = parse_faults(args.faults or "")
        if args.script:
            try:
                with open(args.script, encoding="utf-8") as f:
                    text = f.read()
            except OSError as exc:
                raise UsageError("mock-server", f"cannot read {args.script}: {exc.strerror}") from None
            faults = faults_from_json(text) + faults
    except ScriptError as exc:
        raise UsageError("mock-server", str(exc)) from None
    return faults


def _reply(args: argparse.Namespace) -> Reply:
    from ..testing import Reply

    calls = []
    for i, item in enumerate(args.tool_call):
        name, sep, raw = item.partition("=")
        try:
            arguments = json.loads(raw) if sep else {}
        except ValueError:
            raise UsageError("mock-server", f"--tool-call {item!r}: the arguments are not JSON") from None
        if not name or not isinstance(arguments, dict):
            raise UsageError("mock-server", f"--tool-call {item!r}: expected NAME=JSON-OBJECT")
        calls.append((f"call_mock_{i}", name, arguments))
    text = args.reply if args.reply is not None else ("" if calls else Reply().text)
    return Reply(text, tuple(calls))


def _serve(args: argparse.Namespace) -> MockProvider:
    from ..testing import MockProvider

    faults, reply = _faults(args), _reply(args)
    try:
        return MockProvider(args.format, port=args.port, script=faults, reply=reply, framing=args.framing, api_key=args.api_key)
    except (OSError, OverflowError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise UsageError("mock-server", f"cannot listen on 127.0.0.1:{args.port}: {reason}") from None


def _note(mock: MockProvider, faults: int, how_to_stop: str) -> str:
    return (
        f"ailib mock-server: openai, anthropic, gemini and cohere formats at {mock.url} (pid {os.getpid()}); "
        f"{faults} fault(s) queued; script it with POST {mock.url}/_mock/script, see GET {mock.url}/_mock/requests; {how_to_stop}"
    )


def run(args: argparse.Namespace) -> int:
    if args.stop:
        return _stop()
    if args.background:
        return _start_background(args)
    if args.detached_child:
        return _run_child(args)
    mock = _serve(args)
    try:
        print(export_lines(mock.url, args.api_key or MOCK_KEY), end="", flush=True)
        print(_note(mock, len(mock.pending_faults()), "Ctrl-C to stop"), file=sys.stderr, flush=True)
        _serve_until_signalled()
    except KeyboardInterrupt:
        return 0  # Ctrl-C is how a foreground server is stopped
    finally:
        mock.close()


def _serve_until_signalled() -> NoReturn:
    """Sleep in short steps: a signal delivered to a server thread instead of this one runs its
    Python handler only when this thread wakes up, so one long sleep could ignore Ctrl-C or
    SIGTERM for as long as it lasts."""
    while True:
        time.sleep(0.1)


# -- the background server ----------------------------------------------------------------------


def state_dir() -> Path:
    """A directory only this user can enter: ``$XDG_RUNTIME_DIR/ailib``, else ``<tmp>/ailib-<uid>``."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    uid = os.getuid() if hasattr(os, "getuid") else None
    path = Path(runtime) / "ailib" if runtime else Path(tempfile.gettempdir()) / f"ailib-{uid if uid is not None else getpass.getuser()}"
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = os.lstat(path)
    except OSError as exc:
        raise UsageError("mock-server", f"cannot use {path}: {exc.strerror or exc}") from None
    if not stat.S_ISDIR(st.st_mode) or (uid is not None and st.st_uid != uid) or (os.name == "posix" and st.st_mode & 0o077):
        raise UsageError("mock-server", f"{path} must be a directory of yours that only you can enter (mode 0700)")
    return path


def _read_state() -> Optional[dict[str, Any]]:
    try:
        data = json.loads((state_dir() / _STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("pid"), int) and isinstance(data.get("url"), str) else None


def _write_state(data: dict[str, Any]) -> None:
    directory = state_dir()
    tmp = directory / f".{_STATE}.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f)
    os.replace(tmp, directory / _STATE)


def _answers(url: str, timeout: float = 3.0) -> bool:
    """Whether a mock server answers its control endpoint at ``url``."""
    try:
        with urllib.request.urlopen(url + "/_mock/script", timeout=timeout) as resp:
            return bool(resp.status == 200 and "pending" in json.loads(resp.read()))
    except (OSError, ValueError):
        return False


def _refused(url: str) -> bool:
    """Whether nothing listens at ``url`` any more (a slow answer is not a refusal)."""
    host, _, port = url.rsplit("/", 1)[-1].rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=5):
            return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _running() -> Optional[dict[str, Any]]:
    """The background server's state when it is running (its pid alive and its URL answering)."""
    state = _read_state()
    if state is not None and _alive(state["pid"]) and _answers(state["url"]):
        return state
    return None


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    """Hold the state directory's lock, so two starts at once make one server (POSIX; elsewhere a no-op)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    fd = os.open(state_dir() / "mock-server.lock", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _start_background(args: argparse.Namespace) -> int:
    with _locked():
        return _start_locked(args)


def _start_locked(args: argparse.Namespace) -> int:
    running = _running()
    if running is not None:
        if args.faults or args.script or args.tool_call or args.reply is not None or args.port:
            raise UsageError(
                "mock-server", f"already running at {running['url']} (pid {running['pid']}); stop it first: ailib mock-server --stop"
            )
        print(running["exports"], end="", flush=True)
        print(
            f"ailib mock-server: already running at {running['url']} (pid {running['pid']}); stop it with: ailib mock-server --stop",
            file=sys.stderr,
        )
        return 0
    _faults(args), _reply(args)  # report a bad script here, in the caller's terminal
    directory = state_dir()
    (directory / _STATE).unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "ailib", "mock-server", "--detached-child", "--port", str(args.port), "--format", args.format]
    cmd += ["--framing", args.framing, "--faults", args.faults]
    cmd += ["--script", os.path.abspath(args.script)] if args.script else []
    cmd += ["--reply", args.reply] if args.reply is not None else []
    cmd += ["--api-key", args.api_key] if args.api_key else []
    for item in args.tool_call:
        cmd += ["--tool-call", item]
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[2])  # so the child runs this very ailib
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    log = directory / _LOG
    with open(os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as err:
        detach: dict[str, Any] = {"start_new_session": True} if os.name == "posix" else {"creationflags": 0x00000008 | 0x00000200}
        child = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err, env=env, cwd=str(directory), close_fds=True, **detach
        )
    exports = _read_exports(child)
    state = _read_state()
    deadline = time.monotonic() + _START_TIMEOUT
    while state is not None and state["pid"] == child.pid and not _answers(state["url"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    if not exports or state is None or state["pid"] != child.pid or child.poll() is not None or not _answers(state["url"]):
        if child.poll() is None:
            child.terminate()
        lines = [line for line in log.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
        reason = lines[-1].split("error: ", 1)[-1] if lines else "it exited at once"
        raise UsageError("mock-server", f"the background server did not start: {reason}")
    print(exports, end="", flush=True)
    print(
        f"ailib mock-server: openai, anthropic, gemini and cohere formats at {state['url']} (pid {child.pid}), in the background; "
        f"stop it with: ailib mock-server --stop",
        file=sys.stderr,
        flush=True,
    )
    return 0


def _read_exports(child: subprocess.Popen[bytes]) -> str:
    """What the child prints before it closes its stdout (once listening); "" if it takes too long."""
    out: list[bytes] = []
    stdout = child.stdout
    assert stdout is not None
    reader = threading.Thread(target=lambda: out.append(stdout.read()), daemon=True)
    reader.start()
    reader.join(_START_TIMEOUT)
    if reader.is_alive():
        child.kill()
        reader.join(5)
        return ""
    stdout.close()
    return out[0].decode("utf-8") if out else ""


def _run_child(args: argparse.Namespace) -> int:
    """The detached server: listen, record pid and URL, print the exports, close stdout, serve until SIGTERM."""

    def stop(signum: int, frame: Any) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    mock = _serve(args)
    try:
        exports = export_lines(mock.url, args.api_key or MOCK_KEY)
        _write_state({"pid": os.getpid(), "url": mock.url, "exports": exports})
        sys.stdout.write(exports)
        sys.stdout.flush()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the starting process reads up to here, then returns
        os.close(devnull)
        print(_note(mock, len(mock.pending_faults()), "stop it with: ailib mock-server --stop"), file=sys.stderr, flush=True)
        _serve_until_signalled()
    finally:
        mock.close()
        state = _read_state()
        if state is not None and state["pid"] == os.getpid():
            (state_dir() / _STATE).unlink(missing_ok=True)


def _ended(pid: int, url: str, signum: int, seconds: float) -> bool:
    """Send ``signum`` to ``pid``; whether within ``seconds`` it is gone or nothing listens at ``url`` any more."""
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid) or _refused(url):
            return True
        time.sleep(0.1)
    return not _alive(pid) or _refused(url)


def _stop() -> int:
    state = _read_state()
    if state is None or not _alive(state["pid"]):
        (state_dir() / _STATE).unlink(missing_ok=True)
        print("ailib mock-server: no background server is running", file=sys.stderr)
        print(unset_line(), end="")
        return 0
    if _refused(state["url"]):
        (state_dir() / _STATE).unlink(missing_ok=True)  # the server is gone and that pid is some other process now
        print(f"ailib mock-server: nothing listens at {state['url']}; forgot it", file=sys.stderr)
        print(unset_line(), end="")
        return 0
    if not _ended(state["pid"], state["url"], signal.SIGTERM, 5.0):
        kill = getattr(signal, "SIGKILL", signal.SIGTERM)  # it did not close in time: end it
        if not _ended(state["pid"], state["url"], kill, 5.0):
            raise UsageError("mock-server", f"pid {state['pid']} did not stop")
        print(f"ailib mock-server: pid {state['pid']} did not stop within 5 s of SIGTERM; killed it", file=sys.stderr)
    (state_dir() / _STATE).unlink(missing_ok=True)
    print(f"ailib mock-server: stopped the server at {state['url']} (pid {state['pid']})", file=sys.stderr)
    print(unset_line(), end="")
    return 0
