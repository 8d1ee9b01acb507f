"""One chat call as a fault behaviour sees it: the exchange, the fault, the format, the request."""

from __future__ import annotations

import json
import time
from typing import Any

from ._faults import Fault, Reply
from ._http import Exchange, RecordedRequest
from ._mock_base import MockFormat
from ._owner import MockOwner


class Call:
    """What a behaviour needs: where to write, what to do, in which format, for which request.

    A live object of one exchange (not a value: it holds the connection), so not attrs.
    """

    __slots__ = ("ex", "fault", "fmt", "stream", "model", "rec", "owner")

    def __init__(
        self, ex: Exchange, fault: Fault, fmt: MockFormat, stream: bool, model: str, rec: RecordedRequest, owner: MockOwner
    ) -> None:
        self.ex = ex
        self.fault = fault
        self.fmt = fmt
        self.stream = stream
        self.model = model
        self.rec = rec
        self.owner = owner

    @property
    def reply(self) -> Reply:
        """The answer this call gives when it answers (the fault's own, else the provider's)."""
        return self.fault.reply or self.owner.reply

    @property
    def body(self) -> dict[str, Any]:
        return self.rec.json if isinstance(self.rec.json, dict) else {}

    def events(self, reply: Reply | None = None) -> tuple[list[bytes], list[bytes], list[bytes]]:
        """(opening, content, closing) event frames of the answer, as this request asked for it."""
        reply = reply or self.reply
        return self.fmt.stream_events(reply, reply.model or self.model, self.body)

    def success_bytes(self, reply: Reply | None = None) -> bytes:
        reply = reply or self.reply
        return json.dumps(self.fmt.success(reply, reply.model or self.model, self.body), ensure_ascii=False).encode()

    def start_stream(self, length: int | None = None) -> None:
        self.ex.begin(200, "text/event-stream", length=length, stream=True)

    def send_frames(self, frames: list[bytes], *, paced: bool = False) -> bool:
        """Write frames in order (``paced``: ``event_interval`` apart); False once the client is gone."""
        interval = self.owner.event_interval if paced else 0.0
        for frame in frames:
            if not self.ex.write(frame):
                self.rec.disconnected_at = self.rec.disconnected_at or time.monotonic()
                return False
            if interval and not self.ex.wait(interval, self.rec):
                return False
        return True
