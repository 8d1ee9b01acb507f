"""Control-plane HTTP for provider batches, over the client's transport (its one ``send``).

Reads (status, downloads) retry transient failures with exponential backoff; submissions
(upload, create) never retry after the request may have reached the provider, so a job is
never created twice.
"""

from __future__ import annotations

import json
import time
from typing import Any, Callable, Optional

from ..errors import AiLibError, NetworkError, ProtocolError
from ..providers._base import error_from_response
from ..providers._urls import add_query
from ..transport import AttemptHandle, Deadlines, HttpRequest

__all__ = ["Http"]

_TIMEOUT = 120.0  # seconds per control-plane request (uploads and downloads can be large)
_TRIES = 5


class Http:
    """One endpoint's batch endpoints: JSON calls and raw downloads, errors classified."""

    def __init__(self, transport: Any, endpoint: Any, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.transport = transport
        self.endpoint = endpoint
        self._sleep = sleep
        self._base: str = str(endpoint.base_url).rstrip("/")

    def url(self, path: str) -> str:
        """``path`` on the endpoint: OpenAI paths are relative to its versioned base URL
        (``/files`` → ``{base}/files``); the others carry their own version segment. The
        base URL's query is merged in; ids in ``path`` must already be ``segment``-encoded."""
        return add_query(self._base + path, getattr(self.endpoint, "base_query", ""))

    def _send(self, method: str, url: str, body: Optional[bytes], content_type: str) -> tuple[int, Any, bytes]:
        ep = self.endpoint
        headers = dict(ep.headers)
        if body is not None:
            headers["Content-Type"] = content_type
        else:
            headers.pop("Content-Type", None)
        req = HttpRequest(method, url, headers, body, ep.verify, ep.proxy)
        now = time.monotonic()
        dl = Deadlines(ep.connect_timeout, _TIMEOUT, _TIMEOUT, now + _TIMEOUT)
        resp = self.transport.send(req, dl, AttemptHandle())
        return resp.status, resp.headers, resp.body

    def raw(
        self, method: str, url: str, body: Optional[bytes] = None, *, content_type: str = "application/json", retry: bool = True
    ) -> bytes:
        """The body of a 2xx answer; a non-2xx answer raises its classified ``AiLibError``."""
        tries = _TRIES
        delay = 0.5
        for attempt in range(1, tries + 1):
            try:
                status, headers, data = self._send(method, url, body, content_type)
                if not 200 <= status < 300:
                    raise error_from_response(
                        self.endpoint.wire, status, headers, data, provider=self.endpoint.provider, model="", now=time.time()
                    )
                return data
            except AiLibError as err:
                if not retry and not _not_sent(err):
                    raise
                if attempt == tries or not err.is_retryable():
                    raise
                wait = err.retry_after if err.retry_after is not None else delay
                self._sleep(min(wait, 30.0))
                delay = min(delay * 2, 30.0)
        raise AssertionError("unreachable")

    def call(
        self, method: str, url: str, body: Optional[bytes] = None, *, content_type: str = "application/json", retry: bool = True
    ) -> dict[str, Any]:
        """A JSON object from a 2xx answer (see ``raw``)."""
        data = self.raw(method, url, body, content_type=content_type, retry=retry)
        try:
            obj = json.loads(data)
        except ValueError:
            raise ProtocolError(
                f"malformed JSON from the batch API at {method} {url.split('?')[0]}", provider=self.endpoint.provider
            ) from None
        if not isinstance(obj, dict):
            raise ProtocolError("the batch API answered with something other than a JSON object", provider=self.endpoint.provider)
        return obj


def _not_sent(err: AiLibError) -> bool:
    """True when a failed submission certainly did not reach the provider (safe to send again)."""
    if isinstance(err, NetworkError):
        return getattr(err, "request_sent", True) is False
    return err.status_code == 429
