"""Fork safety: a client used before ``os.fork()`` gives every process its own answers.

A keep-alive connection made before the fork is inherited by every child; a child that
reused it would read another process's answer. Each process here asks its own questions
and checks each answer echoes its own question.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from ailib import HedgePolicy

from ._server import RawServer
from ._support import client_for, request

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

HANG = 20.0  # seconds a process may take before it counts as hung (generous: a loaded machine)
CALLS = 4


def _wrong_answers(client, tag: str) -> int:
    """Ask CALLS questions; how many answers were not the echo of their own question."""
    wrong = 0
    for i in range(CALLS):
        question = f"{tag}-{i}-{os.getpid()}"
        try:
            if client.chat_completion(request(question)).text != "echo:" + question:
                wrong += 1
        except Exception:
            wrong += 1
    return wrong


def _fork_child(fn) -> int:
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 99
        try:
            code = min(fn(), 98)
        finally:
            os._exit(code)
    return pid


def _wait(pids: list[int]) -> tuple[int, int]:
    """(wrong answers reported by the children's exit codes, children that hung and were killed)."""
    wrong = hung = 0
    end = time.monotonic() + HANG
    pending = set(pids)
    while pending and time.monotonic() < end:
        for pid in list(pending):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                pending.discard(pid)
                wrong += os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    for pid in pending:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        hung += 1
    return wrong, hung


def test_twenty_fork_trials_give_no_wrong_answer_and_no_hang():
    """20 trials of two children and the parent calling after a call made before the fork: 0 wrong answers, 0 hangs."""
    with RawServer("length") as server, client_for(server.base_url, deadline=10.0) as client:
        assert client.chat_completion(request("before")).text == "echo:before"
        wrong = hung = 0
        for trial in range(20):
            pids = [_fork_child(lambda c=c, t=trial: _wrong_answers(client, f"t{t}c{c}")) for c in range(2)]
            wrong += _wrong_answers(client, f"t{trial}p")
            w, h = _wait(pids)
            wrong, hung = wrong + w, hung + h
        assert (wrong, hung) == (0, 0)
        assert server.request_count == 1 + 20 * 3 * CALLS


def test_a_child_does_not_shut_down_the_parents_connection():
    """A child dropping its inherited pool leaves the parent's keep-alive connection open and reused."""
    with RawServer("length") as server, client_for(server.base_url, deadline=10.0) as client:
        client.chat_completion(request("before"))
        _, hung = _wait([_fork_child(lambda: 0)])
        assert hung == 0
        assert client.chat_completion(request("after")).text == "echo:after"
        assert len(server.connections) == 1 and server.connections[0].closed_at is None


def test_a_hedged_client_works_in_a_child():
    """A hedging client that made a call before the fork answers correctly in a child, without hanging."""
    with RawServer("length") as server, client_for(server.base_url) as plain:
        plain.close()
        from ailib import AiClientBuilder, ConnectionOptions, CustomProviderBuilder

        provider = CustomProviderBuilder("raw").with_base_url(server.base_url).with_api_key("sk-raw-0").build_provider()
        with (
            AiClientBuilder(provider)
            .with_options(ConnectionOptions())
            .with_hedging(HedgePolicy(delay=0.0, max_extra_load=1.0))
            .build() as client
        ):
            assert client.chat_completion(request("before")).text == "echo:before"
            wrong, hung = _wait([_fork_child(lambda: _wrong_answers(client, "child"))])
            assert (wrong, hung) == (0, 0)
            assert _wrong_answers(client, "parent") == 0
