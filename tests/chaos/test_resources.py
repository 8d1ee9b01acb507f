"""Connections belong to one attempt at a time, and close() releases every socket."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from ailib import AiClientBuilder, ConnectionOptions, RetryPolicy
from ailib.errors import AiLibError
from ailib.testing import Fault, MockProvider, RecordedRequest

from ._support import KEY, REQ, client_sockets_to, eventually, socket_inodes


def test_close_releases_sockets_even_while_the_caller_keeps_results() -> None:
    """Responses, finished streams and errors the caller still holds do not keep any client socket open after close()."""
    sockets_before = socket_inodes()
    with MockProvider("openai", api_key=KEY) as m:
        client = AiClientBuilder(m.provider(api_key=KEY)).with_retry(RetryPolicy(initial_delay=0.001, max_delay=0.002)).build()
        m.enqueue(Fault.reset_mid_body())
        kept: list[Any] = [client.chat_completion(REQ), client.chat_completion(REQ)]  # the first recovered from a reset
        m.enqueue(Fault.cut_stream(after=1))
        try:
            with client.chat_completion_stream(REQ) as stream:
                for _ in stream:
                    pass
        except AiLibError as err:
            kept.append(err)  # an interrupted stream, its traceback and attempts
        finished = client.chat_completion_stream(REQ)
        with finished:
            for _ in finished:
                pass
        kept.append(finished)
        assert [type(k).__name__ for k in kept] == [
            "ChatCompletionResponse",
            "ChatCompletionResponse",
            "StreamInterruptedError",
            "ChatStream",
        ]
        assert client_sockets_to({m.port}) >= 1  # pooled keep-alive connections while the client is open
        client.close()
        assert client_sockets_to({m.port}) == 0
    assert eventually(lambda: socket_inodes() <= sockets_before)


def test_one_calls_cleanup_never_breaks_a_connection_another_call_took_from_the_pool() -> None:
    """Streams that end on an error status (their connection already back in the pool) never shut down the connection of a concurrent call."""

    def script(i: int, rec: RecordedRequest) -> Any:
        return Fault.http_status(500) if rec.json.get("stream") else None

    failures: Counter = Counter()
    with MockProvider("openai", api_key=KEY, script=script) as m:
        client = (
            AiClientBuilder(m.provider(api_key=KEY))
            .without_retry()
            .without_circuit_breaker()
            .with_options(ConnectionOptions(pool_size=2))
            .build()
        )

        def streams() -> None:
            for _ in range(150):
                try:
                    client.chat_completion_stream(REQ)
                    failures["stream answered"] += 1
                except AiLibError as err:
                    failures[f"stream: {type(err).__name__}"] += 1

        def plain() -> None:
            for _ in range(300):
                try:
                    client.chat_completion(REQ)
                except AiLibError as err:
                    failures[f"plain: {type(err).__name__}: {err.message[:60]}"] += 1

        threads = [threading.Thread(target=f) for f in (streams, streams, plain, plain)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not any(t.is_alive() for t in threads)
        client.close()
        assert m.request_count == 900
    assert failures == Counter({"stream: ProviderError": 300}), failures


def test_a_stream_interruption_names_the_provider_once() -> None:
    """str(StreamInterruptedError) carries the "[provider/model]" suffix once, not twice."""
    with MockProvider("openai", api_key=KEY) as m:
        m.enqueue(Fault.cut_stream(after=1))  # the cause (from the decoder) already names provider/model
        text = ""
        with AiClientBuilder(m.provider(api_key=KEY)).without_retry().build() as client:
            try:
                with client.chat_completion_stream(REQ) as stream:
                    for _ in stream:
                        pass
            except AiLibError as err:
                text = str(err)
    assert text.count("[mock/mock-model]") == 1, text
