"""Where each request goes: the control endpoint, extra routes, the wire formats' chat routes.

Extra routes let another module serve more paths from the same server (the mock's batch
endpoints live in ``ailib/testing/_batch_api.py``). A route is a ``Route(method, pattern,
handler)``: ``pattern`` is a regular expression matched against the whole path without its
query string, and ``handler(provider, exchange, request, match)`` writes the answer, e.g.
``exchange.send_json(200, {...})``. Routes come from:

- ``ROUTE_MODULES``: modules imported when a MockProvider starts (missing ones are skipped);
  each exposes ``ROUTES``, a list of ``Route``;
- ``MockProvider.add_route(method, pattern, handler)`` on one provider.

Extra routes are tried before the formats' own routes; their requests are recorded but not
counted as chat requests and take no scripted fault.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator
from typing import Callable

from ._answers import BEHAVIOURS as _ANSWERS
from ._call import Call
from ._connection_faults import BEHAVIOURS as _CONNECTION
from ._control import handle
from ._faults import Fault
from ._http import Exchange
from ._owner import MockOwner, Route
from ._stream_faults import BEHAVIOURS as _STREAM

__all__ = ["ROUTE_MODULES", "BEHAVIOURS", "dispatch", "module_routes"]

ROUTE_MODULES: list[str] = ["ailib.testing._batch_api"]

BEHAVIOURS: dict[str, Callable[[Call], None]] = {**_ANSWERS, **_CONNECTION, **_STREAM}


def module_routes() -> list[Route]:
    """The routes of every importable module named in ``ROUTE_MODULES``."""
    out: list[Route] = []
    for name in ROUTE_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        out.extend(getattr(module, "ROUTES", ()))
    return out


def _extra(owner: MockOwner, method: str, route: str) -> Iterator[tuple[Route, re.Match[str]]]:
    for r in owner.routes:
        m = r.match(method, route)
        if m is not None:
            yield r, m


def dispatch(owner: MockOwner, ex: Exchange) -> None:
    """Answer one request."""
    rec = ex.read_request()
    method, route = rec.method, rec.route
    if route.startswith("/_mock/"):
        handle(owner, ex, rec)
        return
    own = owner.format
    ex.common_headers = {own.request_id_header: owner._new_request_id()}
    for r, m in _extra(owner, method, route):
        owner._record(rec, count=False)
        r.handler(owner, ex, rec, m)
        return
    fmt = owner._format_for(method, rec.path)
    if fmt is None:
        other = own.other(method, rec.path, rec.json)
        owner._record(rec, count=False)
        if other is not None:
            ex.send_json(200, other)
            return
        status, body = own.not_found(method, rec.path)
        ex.send_json(status, body)
        return
    rec.format = fmt.name
    if fmt is not own:
        ex.common_headers = {fmt.request_id_header: ex.common_headers[own.request_id_header]}
    if fmt.is_models(method, rec.path):
        owner._record(rec, count=False)
        ex.send_json(200, fmt.models())
        return
    index = owner._record(rec, count=True)
    if owner.api_key is not None and owner.api_key not in " ".join(rec.headers.values()):
        ex.send_json(401, fmt.error_body(401, None, "invalid api key"))
        return
    refusal = fmt.validate(rec.path, rec.json) if owner.validate else None
    if refusal is not None:
        ex.send_json(*refusal)
        return
    fault = owner._next_fault(index, rec) or Fault("ok")
    rec.fault = fault
    latency = owner._latency()
    if fault.kind == "ok" and fault.seconds:
        latency += fault.seconds
    if latency > 0 and not ex.wait(latency, rec):
        return
    call = Call(ex, fault, fmt, fmt.is_stream(rec.path, rec.json), fmt.model_of(rec.path, rec.json), rec, owner)
    BEHAVIOURS[fault.kind](call)
