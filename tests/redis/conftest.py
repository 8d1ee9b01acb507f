"""A real redis-server on a free loopback port, started by the fixtures (never skipped)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest
import redis as redis_py

from ailib.routing.endpoint import build_endpoint
from ailib.state import RedisStateStore


def scope_of(provider: object) -> str:
    """The scope a client's Redis keys carry for ``provider`` (16 hex digits of its endpoint identity)."""
    return build_endpoint(provider).identity()[:16]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """One ``redis-server`` process without persistence; ``kill()`` and ``start()`` reuse the port."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed (scripts/test installs it: apt-get install redis-server)")
        self.binary = binary
        self.port = _free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis_py.Redis(host="127.0.0.1", port=self.port, socket_timeout=1)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis_py.ConnectionError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"redis-server did not start on port {self.port}")
                time.sleep(0.02)
        client.close()
        return self

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def client(self) -> redis_py.Redis:
        return redis_py.Redis(host="127.0.0.1", port=self.port, socket_timeout=2)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.kill()


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A private server this test may kill and restart."""
    server = RedisServer().start()
    yield server
    server.kill()


@pytest.fixture
def rdb(redis_server: RedisServer) -> Iterator[redis_py.Redis]:
    """A plain redis-py client on the shared server, for inspecting keys."""
    client = redis_server.client()
    yield client
    client.close()


@pytest.fixture
def namespace() -> str:
    """A fresh key namespace, so tests sharing the server never see each other's keys."""
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
def store_factory(redis_server: RedisServer, namespace: str) -> Iterator:
    """Build stores on the shared server and namespace (each one is like another process)."""
    stores: list[RedisStateStore] = []

    def make(**kwargs: object) -> RedisStateStore:
        store = RedisStateStore(redis_server.url, namespace=namespace, **kwargs)  # type: ignore[arg-type]
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.close()
