"""The only door to the network.

``BaseTransport`` is the seam: one method, ``send(request, deadlines, handle)``. The
default is ``SocketTransport`` (a pooled requests/urllib3 session with phase timeouts,
socket timeouts cut to each phase's end, and cancellation); ``ailib.testing.MockTransport`` runs the
whole pipeline in-process.
"""

from __future__ import annotations

from typing import Protocol, Union

from ._handle import AttemptHandle
from ._socket import MAX_RESPONSE_BYTES, SocketTransport
from ._stream import MAX_EVENT_BYTES, StreamResponse
from ._types import Deadlines, HttpRequest, HttpResponse, StreamingResponse, is_loopback, redact_headers

__all__ = [
    "BaseTransport",
    "SocketTransport",
    "HttpRequest",
    "HttpResponse",
    "StreamResponse",
    "StreamingResponse",
    "AttemptHandle",
    "Deadlines",
    "MAX_RESPONSE_BYTES",
    "MAX_EVENT_BYTES",
    "redact_headers",
    "is_loopback",
]


class BaseTransport(Protocol):
    """What the call path needs from a transport: one ``send``.

    ``send`` returns an ``HttpResponse`` (body fully read) for ``request.stream=False``,
    and a ``StreamingResponse`` (``status``, ``headers``, ``read_all()``, ``events()``,
    ``close()``) for ``request.stream=True``. Failures raise classified ``AiLibError``s.
    ``handle.cancel(reason)`` may be called from another thread at any time.
    """

    def send(self, request: HttpRequest, deadlines: Deadlines, handle: AttemptHandle) -> Union[HttpResponse, StreamingResponse]: ...

    def close(self) -> None: ...
