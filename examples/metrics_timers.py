"""Custom metrics of your own, offline: an object with ``incr_counter`` and ``start_timer``
(returning a timer with ``stop()``) gets one ``request.duration`` timer per call and one
``attempt.duration`` timer per wire attempt."""

from __future__ import annotations

import time

from ailib import AiClientBuilder, ChatCompletionRequest, Message
from ailib.testing import MockProvider


class Timer:
    def __init__(self, name: str) -> None:
        self.name, self.start = name, time.perf_counter()

    def stop(self) -> None:
        print(f"  {self.name}: {(time.perf_counter() - self.start) * 1000:.1f} ms")


class MyMetrics:
    def incr_counter(self, name: str, value: int = 1) -> None:
        pass

    def start_timer(self, name: str) -> Timer:
        return Timer(name)


with MockProvider(latency=0.02) as mock, AiClientBuilder(mock.provider()).with_metrics(MyMetrics()).build() as client:
    print("one call:")
    client.chat_completion(ChatCompletionRequest("auto", [Message.user("hello")]))
