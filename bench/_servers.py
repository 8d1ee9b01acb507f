"""The local endpoints the benchmarks call: nginx when installed, else the Python fast server.

nginx (``apt-get install nginx-light``) answers the JSON calls: it costs less CPU per request
than any Python server, so more of each figure is the client's own work, and the machine's
two cores are not shared with a Python server loop during thread throughput runs. The SSE
streams always come from ``_fast_server.py`` (nginx cannot frame one chunk per event).
Without nginx every figure uses the Python server, and the tables say so.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

from ._payload import BODY

HERE = Path(__file__).resolve().parent

_NGINX_CONF = """
daemon off;
master_process on;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log error;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 100000000;
    keepalive_timeout 600s;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    client_body_buffer_size 64k;
    server {{
        listen 127.0.0.1:{port} backlog=1024;
        location / {{
            default_type application/json;
            add_header x-request-id req-bench always;
            return 200 '{body}';
        }}
    }}
}}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_listening(port: int, proc: subprocess.Popen, timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.02)
    return False


def find_nginx() -> Optional[str]:
    """The nginx binary, if installed (PATH, then /usr/sbin)."""
    found = shutil.which("nginx")
    if found:
        return found
    return "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None


class Servers:
    """Starts the endpoints for one benchmark run; ``close()`` stops exactly what it started."""

    def __init__(self, *, use_nginx: bool = True) -> None:
        self._procs: list[subprocess.Popen] = []
        self._tmp: Optional[tempfile.TemporaryDirectory] = None
        self.python_port = self._start_python()
        self.json_server = "python asyncio (bench/_fast_server.py)"
        self.json_port = self.python_port
        if use_nginx:
            port = self._start_nginx()
            if port is not None:
                self.json_port = port
                self.json_server = "nginx"

    def _start_python(self) -> int:
        proc = subprocess.Popen([sys.executable, str(HERE / "_fast_server.py")], stdout=subprocess.PIPE, text=True)
        self._procs.append(proc)
        assert proc.stdout is not None
        return int(proc.stdout.readline())

    def _start_nginx(self) -> Optional[int]:
        binary = find_nginx()
        if binary is None:
            return None
        self._tmp = tempfile.TemporaryDirectory(prefix="ailib-bench-nginx-")
        port = _free_port()
        conf = Path(self._tmp.name) / "nginx.conf"
        conf.write_text(_NGINX_CONF.format(dir=self._tmp.name, port=port, body=BODY.decode()))
        os.chmod(self._tmp.name, 0o755)
        try:
            proc = subprocess.Popen(
                [binary, "-p", self._tmp.name, "-c", str(conf), "-e", str(Path(self._tmp.name) / "error.log")],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        except OSError:
            return None
        if not _wait_listening(port, proc):
            proc.kill()
            proc.wait()
            return None
        self._procs.append(proc)
        return port

    def close(self) -> None:
        for proc in self._procs:
            proc.terminate()
        for proc in self._procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._procs.clear()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> Servers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
