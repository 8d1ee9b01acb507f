"""Faults inside an event stream: cut short, reset, stalled, an error event, foreign events.

Each sends the stream's opening events and its first ``fault.after`` content events, then
fails. Under ``"length"`` framing a fault that ends cleanly declares only what it sends; one
that dies declares the whole stream it meant to send.
"""

from __future__ import annotations

import time

from ._call import Call

__all__ = ["BEHAVIOURS"]


def _prefix(call: Call, *, declared: int | None = None, extra: bytes = b"") -> bool:
    opening, content, closing = call.events(call.owner.reply)
    frames = [*opening, *content[: call.fault.after]]
    if declared is None:  # the whole stream it meant to send
        declared = sum(map(len, (*opening, *content, *closing)))
    elif declared < 0:  # exactly what is sent
        declared = sum(map(len, frames)) + len(extra)
    call.start_stream(declared)
    return call.send_frames(frames)


def cut_stream(call: Call) -> None:
    """End the response cleanly after ``after`` content events, without the terminal event."""
    if _prefix(call, declared=-1):
        call.ex.end()


def reset_stream(call: Call) -> None:
    """Reset the connection after ``after`` content events."""
    if _prefix(call):
        call.ex.flush()
        time.sleep(0.01)
        call.ex.reset()


def stall_stream(call: Call) -> None:
    """Go silent after ``after`` content events."""
    if _prefix(call):
        call.ex.flush()
        call.ex.wait(call.fault.seconds, call.rec)
        call.ex.hang_up()


def error_event(call: Call) -> None:
    """The format's own in-stream failure after ``after`` content events.

    Where the API documents an error event (OpenAI, Anthropic, Gemini) the mock sends it and
    ends the response; where it documents none, the format says how the real one fails
    (Cohere: a ``message-end`` whose ``finish_reason`` is ``ERROR``; or a cut connection).
    """
    fault = call.fault
    frame = call.fmt.error_event(fault.error_type or "overloaded_error", fault.message or "Overloaded")
    if frame is None:  # no in-band signal: the connection is cut
        if _prefix(call):
            call.ex.flush()
            time.sleep(0.01)
            call.ex.reset()
        return
    if _prefix(call, declared=-1, extra=frame) and call.send_frames([frame]):
        call.ex.end()


def interleave(call: Call) -> None:
    """A normal stream with the fault's raw bytes inserted after ``after`` content events."""
    if not call.stream:
        from ._answers import ok

        ok(call)
        return
    opening, content, closing = call.events(call.owner.reply)
    after = call.fault.after
    frames = [*opening, *content[:after], call.fault.body or b"", *content[after:], *closing]
    call.start_stream(sum(map(len, frames)))
    if call.send_frames(frames):
        call.ex.end()


BEHAVIOURS = {
    "cut_stream": cut_stream,
    "reset_stream": reset_stream,
    "stall_stream": stall_stream,
    "error_event": error_event,
    "interleave": interleave,
}
