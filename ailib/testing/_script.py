"""Scripts of faults as text or JSON: what ``ailib mock-server --faults/--script`` and
``POST /_mock/script`` accept.

Text: comma-separated items, e.g. ``"429:retry-after=1,500,reset,stall:2,delay:0.5,cut:2,ok"``.
JSON: a list whose items are such strings or objects naming a ``Fault`` constructor and its
arguments, e.g. ``{"fault": "http_status", "status": 429, "retry_after": "1"}`` or
``{"fault": "ok", "text": "", "tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]}``.
"""

from __future__ import annotations

import json
from typing import Any

from ._faults import Fault, Reply

__all__ = ["ScriptError", "parse_faults", "faults_from_json", "reply_from_json", "tool_calls_from_json"]

# Fault constructors a JSON script may name.
_CONSTRUCTORS = (
    "ok", "http_status", "delay", "stall", "reset", "reset_mid_body", "malformed", "cut_stream",
    "reset_stream", "stall_stream", "error_event", "garbage_stream", "drip", "mislabeled", "interleave", "giant",
    "refused", "rate_limited",
)  # fmt: skip


class ScriptError(ValueError):
    """A fault script that cannot be read; the message says which item and why."""


def _number(text: str, item: str, kind: type = float) -> Any:
    try:
        return kind(text)
    except ValueError:
        raise ScriptError(f"bad number in fault {item!r}") from None


def parse_faults(spec: str) -> list[Fault]:
    """``"429:retry-after=1,500,reset,stall:2,delay:0.5,cut:2,ok"`` → a list of ``Fault``."""
    faults = []
    for item in filter(None, (s.strip() for s in spec.split(","))):
        name, _, arg = item.partition(":")
        if name.isdigit():
            retry_after = None
            if arg.startswith("retry-after="):
                retry_after = arg.split("=", 1)[1]
            elif arg:
                raise ScriptError(f"unknown option in fault {item!r} (expected retry-after=SECONDS)")
            faults.append(Fault.http_status(int(name), retry_after=retry_after))
        elif name == "ok":
            faults.append(Fault.ok())
        elif name == "reset":
            faults.append(Fault.reset())
        elif name == "stall":
            faults.append(Fault.stall(_number(arg, item) if arg else None))
        elif name == "delay":
            faults.append(Fault.delay(_number(arg or "1", item)))
        elif name == "cut":
            faults.append(Fault.cut_stream(_number(arg or "1", item, int)))
        elif name == "error-event":
            faults.append(Fault.error_event(_number(arg or "0", item, int)))
        elif name == "drip":
            faults.append(Fault.drip(_number(arg or "1", item)))
        elif name == "malformed":
            faults.append(Fault.malformed())
        elif name == "refused":
            faults.append(Fault.refused())
        else:
            raise ScriptError(
                f"unknown fault {item!r} (known: STATUS[:retry-after=S], ok, reset, stall[:S], delay:S, cut:N, error-event:N, drip:S, malformed, refused)"
            )
    return faults


def tool_calls_from_json(items: Any) -> tuple[tuple[str, str, Any], ...]:
    """``[{"id"?, "name", "arguments"}]`` (or ``[id, name, arguments]`` triples) → Reply tool calls."""
    out = []
    for i, call in enumerate(items or ()):
        if isinstance(call, dict):
            if "name" not in call:
                raise ScriptError(f"tool call {i} has no name")
            out.append((str(call.get("id") or f"call_mock_{i}"), str(call["name"]), call.get("arguments", {})))
        elif isinstance(call, (list, tuple)) and len(call) == 3:
            out.append((str(call[0]), str(call[1]), call[2]))
        else:
            raise ScriptError(f"tool call {i} is neither an object nor an [id, name, arguments] triple")
    return tuple(out)


_REPLY_FIELDS = (
    "prompt_tokens",
    "completion_tokens",
    "finish_reason",
    "cached_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "reasoning_tokens",
    "reasoning",
    "model",
)


def reply_from_json(obj: Any) -> Reply:
    """``"text"`` or ``{"text", "tool_calls", "prompt_tokens", "completion_tokens", "finish_reason", "cached_tokens", "cache_write_tokens", "cache_write_1h_tokens", "reasoning_tokens", "reasoning", "model"}`` → Reply."""
    if isinstance(obj, str):
        return Reply(obj)
    if not isinstance(obj, dict):
        raise ScriptError("a reply is a string or an object")
    kw = {k: obj[k] for k in _REPLY_FIELDS if k in obj}
    calls = tool_calls_from_json(obj.get("tool_calls"))
    return Reply(obj.get("text", "" if calls else Reply().text), calls, **kw)


def _fault_from_object(obj: dict[str, Any]) -> Fault:
    kw = dict(obj)
    name = kw.pop("fault", None) or kw.pop("kind", None)
    if name not in _CONSTRUCTORS:
        raise ScriptError(f"unknown fault {name!r}; known: {', '.join(_CONSTRUCTORS)}")
    if name == "ok":
        reply = reply_from_json({k: kw.pop(k) for k in ("text", "tool_calls", *_REPLY_FIELDS) if k in kw})
        fault = Fault.ok(delay=float(kw.pop("delay", 0.0)))
        if kw:
            raise ScriptError(f"unknown arguments for ok: {sorted(kw)}")
        return Fault("ok", reply=reply, seconds=fault.seconds)
    for key in ("body", "raw"):
        if isinstance(kw.get(key), str):
            kw[key] = kw[key].encode()
    try:
        made: Fault = getattr(Fault, name)(**kw)
        return made
    except TypeError as exc:
        raise ScriptError(f"bad arguments for {name}: {exc}") from None


def faults_from_json(data: Any) -> list[Fault]:
    """A JSON script (a list of text items or objects; or ``{"faults": [...]}``) → a list of ``Fault``."""
    if isinstance(data, (bytes, str)):
        try:
            data = json.loads(data)
        except ValueError as exc:
            raise ScriptError(f"not JSON: {exc}") from None
    if isinstance(data, dict) and "faults" in data:
        data = data["faults"]
    if not isinstance(data, list):
        raise ScriptError("a script is a JSON list of faults")
    faults: list[Fault] = []
    for item in data:
        if isinstance(item, str):
            faults.extend(parse_faults(item))
        elif isinstance(item, dict):
            faults.append(_fault_from_object(item))
        else:
            raise ScriptError(f"a fault is a string or an object, not {item!r}")
    return faults
