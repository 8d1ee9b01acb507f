"""Faults of the connection: a reset before or during the body, a stall, a slow drip."""

from __future__ import annotations

import time

from ._call import Call

__all__ = ["BEHAVIOURS"]


def reset(call: Call) -> None:
    """Read the request, then reset the connection before any response."""
    call.ex.reset()


def reset_mid_body(call: Call) -> None:
    """Send the headers and half the JSON body, then reset."""
    data = call.success_bytes(call.owner.reply)
    ex = call.ex
    ex.begin(200, "application/json", length=len(data))
    ex.write(data[: len(data) // 2])
    ex.flush()
    time.sleep(0.01)
    ex.reset()


def stall(call: Call) -> None:
    """Send nothing for ``fault.seconds`` (None: until the client goes away), then close."""
    call.ex.wait(call.fault.seconds, call.rec)
    call.ex.hang_up()


def drip(call: Call) -> None:
    """The normal answer, one byte every ``fault.seconds``."""
    reply = call.owner.reply
    if call.stream:
        opening, content, closing = call.events(reply)
        data = b"".join([*opening, *content, *closing])
        call.start_stream(len(data))
    else:
        data = call.success_bytes(reply)
        call.ex.begin(200, "application/json", length=len(data))
    for i in range(len(data)):
        if not call.ex.write(data[i : i + 1]):
            call.rec.disconnected_at = time.monotonic()
            return
        call.ex.flush()
        if not call.ex.wait(call.fault.seconds or 1.0, call.rec):
            return
    call.ex.end()


BEHAVIOURS = {"reset": reset, "reset_mid_body": reset_mid_body, "stall": stall, "drip": drip}
