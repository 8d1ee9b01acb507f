"""The control endpoint of a running MockProvider (``ailib mock-server`` scripted from outside).

- ``POST /_mock/script``: a JSON list of faults (see ``_script``) that replaces the pending
  ones, so ``[]`` clears the queue; ``?append=1`` adds them after the pending ones instead.
  Answers ``{"enqueued": n, "pending": m}``.
- ``GET /_mock/script``: the pending faults' kinds. ``DELETE /_mock/script``: drop them.
- ``POST /_mock/reply``: the default answer from now on (a string, or an object with
  ``text`` and ``tool_calls``).
- ``GET /_mock/requests``: what the server received (credential headers left out);
  ``DELETE /_mock/requests``: forget it.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from ._http import Exchange, RecordedRequest
from ._owner import MockOwner
from ._script import ScriptError, faults_from_json, reply_from_json


def handle(owner: MockOwner, ex: Exchange, rec: RecordedRequest) -> None:
    route, method = rec.route, rec.method
    try:
        if route == "/_mock/script" and method == "POST":
            faults = faults_from_json(rec.body or b"[]")
            query = parse_qs(urlsplit(rec.path).query)
            if query.get("append", ["0"])[-1].lower() not in ("1", "true", "yes"):
                owner.clear_faults()
            owner.enqueue(*faults)
            ex.send_json(200, {"enqueued": len(faults), "pending": len(owner.pending_faults())})
        elif route == "/_mock/script" and method == "GET":
            ex.send_json(200, {"pending": [f.kind for f in owner.pending_faults()]})
        elif route == "/_mock/script" and method == "DELETE":
            owner.clear_faults()
            ex.send_json(200, {"pending": 0})
        elif route == "/_mock/reply" and method == "POST":
            owner.reply = reply_from_json(rec.json)
            ex.send_json(200, {"text": owner.reply.text, "tool_calls": len(owner.reply.tool_calls)})
        elif route == "/_mock/requests" and method == "GET":
            ex.send_json(200, {"requests": [r.as_dict() for r in owner.recorded()]})
        elif route == "/_mock/requests" and method == "DELETE":
            owner.clear_requests()
            ex.send_json(200, {"requests": 0})
        else:
            ex.send_json(404, {"error": f"no control route {method} {route}"})
    except ScriptError as exc:
        ex.send_json(400, {"error": str(exc)})
