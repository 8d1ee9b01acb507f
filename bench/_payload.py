"""The canned answers the benchmark servers send: one chat-completion body and a 201-event SSE stream."""

from __future__ import annotations

import json

ANSWER = "Hello from the bench server"
BODY = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "model": "bench-model",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": ANSWER}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }
).encode()
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nx-request-id: req-bench\r\nContent-Length: "
    + str(len(BODY)).encode()
    + b"\r\n\r\n"
    + BODY
)

STREAM_EVENTS = 201  # 199 content deltas + 1 finish event + [DONE]


def _stream_events() -> list[bytes]:
    def chunk(delta: dict, finish: object = None) -> bytes:
        obj = {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": "bench-model",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"

    events = [chunk({"role": "assistant", "content": "tok0 "})]
    events += [chunk({"content": f"tok{i} "}) for i in range(1, STREAM_EVENTS - 2)]
    events.append(chunk({}, "stop"))
    events.append(b"data: [DONE]\n\n")
    assert len(events) == STREAM_EVENTS
    return events


EVENTS = _stream_events()
STREAM_TEXT = "".join(f"tok{i} " for i in range(STREAM_EVENTS - 2))
_SSE_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nx-request-id: req-bench\r\n"
SSE_CHUNKED = _SSE_HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + b"".join(b"%x\r\n%s\r\n" % (len(e), e) for e in EVENTS) + b"0\r\n\r\n"
_SSE_BODY = b"".join(EVENTS)
SSE_LENGTH = _SSE_HEAD + b"Content-Length: %d\r\n\r\n" % len(_SSE_BODY) + _SSE_BODY
