"""Helpers shared by the chaos tests: loopback-only servers, clients, and leak counting."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Callable

from ailib import ChatCompletionRequest, CustomProviderBuilder, Message
from ailib.providers._registry import ProviderSpec
from tests._timing import SLACK

KEY = "sk-chaos-test-0123456789abcdefSECRET"
REQ = ChatCompletionRequest("auto", [Message.user("hi")])
BASE_PATH = {"openai": "/v1", "anthropic": "", "gemini": "", "cohere": ""}


@contextmanager
def refused_port() -> Iterator[int]:
    """A loopback port that is bound but not listening: connecting to it is refused at once."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]
    finally:
        sock.close()


def provider_at(url: str, fmt: str, *, key: str = KEY, name: str = "chaos") -> ProviderSpec:
    """A custom provider speaking ``fmt`` at ``url``."""
    return (
        CustomProviderBuilder(name)
        .with_base_url(url)
        .with_wire_format(fmt)
        .with_default_chat_model("mock-model")
        .with_api_key(key)
        .build_provider()
    )


def eventually(predicate: Callable[[], bool], timeout: float = 2.0, interval: float = 0.01) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` passes; its last value."""
    end = time.monotonic() + timeout * SLACK
    while True:
        if predicate():
            return True
        if time.monotonic() >= end:
            return False
        time.sleep(interval)


def ailib_threads() -> list[threading.Thread]:
    """Live threads a client started (their names start with ``ailib``)."""
    return [t for t in threading.enumerate() if t.name.lower().startswith("ailib")]


def no_thread_left_after_close() -> bool:
    """Right after ``close()``: no client thread is alive, except ``ailib-connect`` threads,
    which belong to no client (one connects a socket and ends by itself, maybe just after
    handing its socket over); those must end within the hang guard."""
    if any(not t.name.startswith("ailib-connect") for t in ailib_threads()):
        return False
    return eventually(lambda: ailib_threads() == [])


def socket_inodes() -> set[int]:
    """Inodes of the sockets this process holds open (from ``/proc/self/fd``)."""
    out = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            out.add(int(target[8:-1]))
    return out


def tcp_peers(inodes: set[int]) -> dict[int, tuple[int, int]]:
    """For the given socket inodes that are TCP sockets: inode -> (local port, remote port)."""
    out: dict[int, tuple[int, int]] = {}
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    inode = int(fields[9])
                    if inode in inodes:
                        local = int(fields[1].rsplit(":", 1)[1], 16)
                        remote = int(fields[2].rsplit(":", 1)[1], 16)
                        out[inode] = (local, remote)
        except FileNotFoundError:
            continue
    return out


def client_sockets_to(ports: set[int]) -> int:
    """How many sockets of this process are connected *to* one of ``ports`` (client side)."""
    return sum(1 for _, remote in tcp_peers(socket_inodes()).values() if remote in ports)
