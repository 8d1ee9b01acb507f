"""Faults that answer whole: the normal answer, an error status, raw bytes, a wrong label, a giant body."""

from __future__ import annotations

import json
import time

from ._call import Call
from ._faults import Reply
from ._rate_limits import RATE_LIMITS

__all__ = ["BEHAVIOURS"]

_FILL = "@@GIANT-FILL@@"  # where Fault.giant's filler goes in the format's success body
BLOCK = 65536


def ok(call: Call) -> None:
    """The normal answer: JSON, or the whole event stream."""
    if not call.stream:
        call.ex.send_bytes(200, "application/json", call.success_bytes())
        return
    opening, content, closing = call.events()
    frames = [*opening, *content, *closing]
    call.start_stream(sum(map(len, frames)))
    if call.send_frames(frames, paced=True):
        call.ex.end()


def status(call: Call) -> None:
    """An error status with the format's error body (or the fault's own bytes)."""
    fault = call.fault
    headers = dict(fault.headers)
    if fault.body is not None:
        call.ex.send_bytes(fault.status, fault.content_type, fault.body, headers)
        return
    message = fault.message or f"mock error {fault.status}"
    call.ex.send_json(fault.status, call.fmt.error_body(fault.status, fault.error_type, message), headers)


def rate_limited(call: Call) -> None:
    """A 429 with the body and rate-limit headers the real service sends (``_rate_limits``)."""
    fault = call.fault
    request_id = next(iter(call.ex.common_headers.values()), "")
    body, headers = RATE_LIMITS[call.fmt.name](fault.seconds or 0.0, call.model, fault.error_type or "requests", request_id)
    call.ex.send_json(429, body, {**headers, **fault.headers})


def raw(call: Call) -> None:
    """Exactly the fault's bytes, status and content type."""
    fault = call.fault
    call.ex.send_bytes(fault.status, fault.content_type, fault.body or b"", dict(fault.headers))


def mislabeled(call: Call) -> None:
    """The normal answer under the wrong content type."""
    if call.stream:
        opening, content, closing = call.events()
        data = b"".join([*opening, *content, *closing])
    else:
        data = call.success_bytes()
    call.ex.send_bytes(200, call.fault.content_type, data)


def giant(call: Call) -> None:
    """A valid answer of about ``fault.size`` bytes; never more than one block in memory."""
    if call.stream:
        _giant_stream(call)
        return
    fault, ex = call.fault, call.ex
    head, tail = json.dumps(call.fmt.success(Reply(_FILL), call.model, call.body)).encode().split(_FILL.encode(), 1)
    filler = max(0, fault.size - len(head) - len(tail))
    ex.begin(200, "application/json", length=len(head) + filler + len(tail))
    block = b"x" * BLOCK
    ok_ = ex.write(head)
    while ok_ and filler > 0:
        n = min(filler, len(block))
        ok_ = ex.write(block[:n])
        filler -= n
    if ok_ and ex.write(tail):
        ex.end()
    else:
        call.rec.disconnected_at = call.rec.disconnected_at or time.monotonic()


def _giant_stream(call: Call) -> None:
    """An event stream of ``BLOCK``-character text events adding up to about ``fault.size`` bytes."""
    opening, content, closing = call.events(Reply("x" * (3 * BLOCK)))
    first, middle, last = content  # three pieces: the first opens the text block, the last closes it
    fixed = sum(len(f) for f in (*opening, first, last, *closing))
    repeats = max(0, (call.fault.size - fixed) // len(middle))
    call.start_stream(fixed + repeats * len(middle))
    if not call.send_frames([*opening, first]):
        return
    for _ in range(repeats):
        if not call.send_frames([middle]):
            return
    if call.send_frames([last, *closing]):
        call.ex.end()


BEHAVIOURS = {"ok": ok, "status": status, "rate_limited": rate_limited, "raw": raw, "mislabeled": mislabeled, "giant": giant}
