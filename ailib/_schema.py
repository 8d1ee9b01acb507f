"""Structured output: a ``response_format`` that is a class, its JSON schemas, and parsing into it.

A request's ``response_format`` may be a pydantic ``BaseModel`` subclass or a dataclass (an
*output type*) instead of an OpenAI-style dict. This module derives the schemas each wire
format sends for it and turns the model's JSON text back into an instance.

* The schema of the class: a pydantic model's ``model_json_schema()``; a dataclass's through
  ``pydantic.TypeAdapter`` when pydantic can be imported, else through a small converter of
  its own (``str``, ``int``, ``float``, ``bool``, ``list``, ``dict``, ``Optional``, nested
  dataclasses, ``Literal``, ``Enum``), which raises ``InvalidRequestError`` for anything else.
* ``strict_json_schema``: OpenAI's strict form, as openai-python's ``to_strict_json_schema``
  makes it (``additionalProperties: false`` on objects, every property required, ``None``
  defaults dropped, a ``$ref`` with siblings inlined). ``wire_response_format`` wraps it as
  ``{"type": "json_schema", "json_schema": {"schema", "name", "strict": true}}``, the body
  ``client.chat.completions.parse(response_format=Model)`` sends.
* ``anthropic_json_schema``: the schema as anthropic-sdk-python's ``transform_schema`` rewrites
  it for ``output_config.format`` (unsupported keywords moved into the description).

pydantic stays optional: nothing here imports it at ``import ailib`` time. A class is a
pydantic model only if pydantic is already imported (a ``BaseModel`` subclass cannot exist
without it), so checking one costs a dictionary lookup.
"""

from __future__ import annotations

import copy
import dataclasses
import enum
import json
import sys
import threading
import types
import typing
from collections.abc import Mapping
from typing import Any, Optional

from .errors import InvalidRequestError

__all__ = [
    "output_type",
    "check_response_format",
    "wire_response_format",
    "json_schema_of",
    "strict_json_schema",
    "anthropic_json_schema",
    "parse_json",
    "ParseFailure",
]


class ParseFailure(ValueError):
    """The model's text is not JSON, or does not match the output type (the message says how)."""


def _pydantic_base() -> Optional[type]:
    module = sys.modules.get("pydantic")
    base = getattr(module, "BaseModel", None) if module is not None else None
    return base if isinstance(base, type) else None


def _is_pydantic_model(cls: Any) -> bool:
    base = _pydantic_base()
    return base is not None and isinstance(cls, type) and issubclass(cls, base)


def _is_dataclass_type(cls: Any) -> bool:
    return isinstance(cls, type) and dataclasses.is_dataclass(cls)


def output_type(fmt: Any) -> Optional[type]:
    """``fmt`` when it is an output type (a pydantic model class or a dataclass), else None."""
    if isinstance(fmt, type) and (_is_dataclass_type(fmt) or _is_pydantic_model(fmt)):
        return fmt
    return None


def check_response_format(fmt: Any) -> None:
    """Raise ``InvalidRequestError`` for a ``response_format`` that is neither None, a dict nor
    an output type whose schema can be derived (derived here, once per class, and cached)."""
    if fmt is None or isinstance(fmt, Mapping):
        return
    if output_type(fmt) is None:
        what = f"the class {fmt.__qualname__}" if isinstance(fmt, type) else f"a {type(fmt).__name__}"
        raise InvalidRequestError(
            "response_format must be a dict ({'type': 'json_schema', 'json_schema': {...}} or {'type': 'json_object'}), "
            f"a pydantic BaseModel subclass or a dataclass; got {what}"
        )
    json_schema_of(fmt)


# -- the class's own schema ------------------------------------------------------------------
_LOCK = threading.Lock()
_SCHEMAS: dict[type, dict[str, Any]] = {}


def json_schema_of(cls: type) -> dict[str, Any]:
    """The JSON schema of an output type (a fresh copy; derived once per class)."""
    schema = _SCHEMAS.get(cls)
    if schema is None:
        schema = _derive(cls)
        with _LOCK:
            if len(_SCHEMAS) > 512:
                _SCHEMAS.clear()
            _SCHEMAS[cls] = schema
    return copy.deepcopy(schema)


def _derive(cls: type) -> dict[str, Any]:
    try:
        if _is_pydantic_model(cls):
            schema: dict[str, Any] = cls.model_json_schema()  # type: ignore[attr-defined]
            return schema
        adapter = _type_adapter(cls)
        if adapter is not None:
            schema = adapter.json_schema()
            return schema
        return _dataclass_schema(cls, ())
    except InvalidRequestError:
        raise
    except Exception as exc:  # pydantic's schema errors, a forward reference that does not resolve...
        raise InvalidRequestError(f"no JSON schema can be derived from {cls.__qualname__}: {type(exc).__name__}: {exc}") from exc


def _type_adapter(cls: type) -> Any:
    """``pydantic.TypeAdapter(cls)`` when pydantic (v2) can be imported, else None."""
    try:
        from pydantic import TypeAdapter
    except ImportError:
        return None
    return TypeAdapter(cls)


_NONE_TYPES = (type(None),)
_UNION_TYPES: tuple[Any, ...] = (typing.Union,) + ((types.UnionType,) if hasattr(types, "UnionType") else ())


def _hints(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except Exception as exc:
        raise InvalidRequestError(f"the fields of {cls.__qualname__} cannot be resolved: {exc}") from exc


def _dataclass_schema(cls: type, seen: tuple[type, ...]) -> dict[str, Any]:
    if cls in seen:
        raise InvalidRequestError(
            f"{cls.__qualname__} refers to itself; without pydantic ailib derives no schema for recursive dataclasses"
        )
    hints = _hints(cls)
    props: dict[str, Any] = {}
    required: list[str] = []
    for f in dataclasses.fields(cls):
        props[f.name] = _type_schema(hints.get(f.name, Any), (*seen, cls), f"{cls.__qualname__}.{f.name}")
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            required.append(f.name)
    schema: dict[str, Any] = {"title": cls.__name__, "type": "object", "properties": props}
    if required:
        schema["required"] = required
    return schema


def _type_schema(tp: Any, seen: tuple[type, ...], where: str) -> dict[str, Any]:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is str:
        return {"type": "string"}
    if tp is bool:
        return {"type": "boolean"}
    if tp is int:
        return {"type": "integer"}
    if tp is float:
        return {"type": "number"}
    if tp in _NONE_TYPES or tp is None:
        return {"type": "null"}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return {"enum": [m.value for m in tp]}
    if _is_dataclass_type(tp):
        return _dataclass_schema(tp, seen)
    if origin is typing.Literal:
        return {"enum": list(args)}
    if origin in _UNION_TYPES:
        return {"anyOf": [_type_schema(a, seen, where) for a in args]}
    if origin in (list, tuple, set, frozenset) and (origin is not tuple or (len(args) == 2 and args[1] is Ellipsis)):
        item = args[0] if args else Any
        if item is Any:
            return {"type": "array"}
        return {"type": "array", "items": _type_schema(item, seen, where)}
    if origin is dict or tp is dict:
        if len(args) == 2 and args[0] is not str:
            raise InvalidRequestError(f"{where}: JSON object keys are strings; {tp!r} cannot be described")
        return {"type": "object", "additionalProperties": _type_schema(args[1], seen, where)} if args else {"type": "object"}
    if tp is list:
        return {"type": "array"}
    raise InvalidRequestError(
        f"{where}: without pydantic, ailib derives schemas for str, int, float, bool, list, dict, Optional, Literal, Enum and "
        f"dataclasses only, not {tp!r} (install pydantic for more)"
    )


# -- OpenAI's strict form --------------------------------------------------------------------
def strict_json_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """``schema`` in OpenAI's strict form, as openai-python's ``to_strict_json_schema`` makes it."""
    root = copy.deepcopy(dict(schema))
    return _strict(root, root)


def _strict(node: Any, root: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(node, dict):
        raise InvalidRequestError(f"a JSON schema node must be an object, got {node!r}")
    for key in ("$defs", "definitions"):
        defs = node.get(key)
        if isinstance(defs, dict):
            for sub in defs.values():
                _strict(sub, root)
    if node.get("type") == "object" and "additionalProperties" not in node:
        node["additionalProperties"] = False
    props = node.get("properties")
    if isinstance(props, dict):
        node["required"] = list(props)
        node["properties"] = {k: _strict(v, root) for k, v in props.items()}
    items = node.get("items")
    if isinstance(items, dict):
        node["items"] = _strict(items, root)
    any_of = node.get("anyOf")
    if isinstance(any_of, list):
        node["anyOf"] = [_strict(v, root) for v in any_of]
    all_of = node.get("allOf")
    if isinstance(all_of, list):
        if len(all_of) == 1:
            node.update(_strict(all_of[0], root))
            node.pop("allOf")
        else:
            node["allOf"] = [_strict(v, root) for v in all_of]
    if "default" in node and node["default"] is None:
        node.pop("default")
    ref = node.get("$ref")
    if ref and len(node) > 1:
        resolved = _resolve(root, ref)
        node.update({**resolved, **node})
        node.pop("$ref")
        return _strict(node, root)
    return node


def _resolve(root: dict[str, Any], ref: Any) -> dict[str, Any]:
    if not isinstance(ref, str) or not ref.startswith("#/"):
        raise InvalidRequestError(f"unexpected $ref {ref!r} (only '#/...' references are understood)")
    node: dict[str, Any] = root
    for key in ref[2:].split("/"):
        found = node.get(key)
        if not isinstance(found, dict):
            raise InvalidRequestError(f"$ref {ref!r} does not lead to a schema object")
        node = found
    return node


def wire_response_format(fmt: Any) -> Any:
    """The OpenAI-style ``response_format`` for ``fmt``: an output type becomes
    ``{"type": "json_schema", "json_schema": {"schema": <strict>, "name": <class name>, "strict": True}}``
    (what openai-python's ``.parse`` sends); anything else is returned as given."""
    cls = output_type(fmt)
    if cls is None:
        return fmt
    return {"type": "json_schema", "json_schema": {"schema": strict_json_schema(json_schema_of(cls)), "name": cls.__name__, "strict": True}}


# -- Anthropic's form ------------------------------------------------------------------------
_ANTHROPIC_STRING_FORMATS = frozenset({"date-time", "time", "date", "duration", "email", "hostname", "uri", "ipv4", "ipv6", "uuid"})


def _primitive(v: Any) -> bool:
    return v is None or isinstance(v, (str, int, float, bool))


def anthropic_json_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """``schema`` as anthropic-sdk-python's ``transform_schema`` rewrites it for structured
    outputs: objects closed (``additionalProperties: false``), ``oneOf`` as ``anyOf``, string
    formats and ``minItems`` limited to what the API takes, every other keyword appended to the
    description (``{key: value, ...}``) so the model may still follow it."""
    src = dict(schema)
    out: dict[str, Any] = {}
    defs = src.pop("$defs", None)
    if defs is not None:
        out["$defs"] = {name: anthropic_json_schema(sub) for name, sub in defs.items()}
    ref = src.pop("$ref", None)
    if ref is not None:
        out["$ref"] = ref
        description = src.pop("description", None)
        if description is not None:
            out["description"] = description
        return out
    type_ = src.pop("type", None)
    any_of = src.pop("anyOf", None)
    one_of = src.pop("oneOf", None)
    all_of = src.pop("allOf", None)
    enum_ = src.get("enum")
    if isinstance(enum_, list) and enum_ and all(_primitive(v) for v in enum_):
        out["enum"] = list(src.pop("enum"))
    if "const" in src and _primitive(src["const"]):
        out["const"] = src.pop("const")
    literals = "enum" in out or "const" in out
    if literals:
        type_ = None
    if isinstance(any_of, list):
        out["anyOf"] = [anthropic_json_schema(v) for v in any_of]
    elif isinstance(one_of, list):
        out["anyOf"] = [anthropic_json_schema(v) for v in one_of]
    elif isinstance(all_of, list):
        out["allOf"] = [anthropic_json_schema(v) for v in all_of]
    elif not literals:
        if type_ is None:
            raise InvalidRequestError(
                "an Anthropic structured-output schema node needs a 'type', 'anyOf', 'oneOf' or 'allOf', "
                f"or a 'const' or non-empty 'enum' of primitives; got {dict(schema)!r}"
            )
        out["type"] = type_
    description = src.pop("description", None)
    if description is not None:
        out["description"] = description
    title = src.pop("title", None)
    if title is not None:
        out["title"] = title
    if type_ == "object":
        out["properties"] = {k: anthropic_json_schema(v) for k, v in src.pop("properties", {}).items()}
        src.pop("additionalProperties", None)
        out["additionalProperties"] = False
        required = src.pop("required", None)
        if required is not None:
            out["required"] = list(required) if isinstance(required, list) else required
    elif type_ == "string":
        fmt = src.pop("format", None)
        if fmt and fmt in _ANTHROPIC_STRING_FORMATS:
            out["format"] = fmt
        elif fmt:
            src["format"] = fmt
    elif type_ == "array":
        items = src.pop("items", None)
        if items is not None:
            out["items"] = anthropic_json_schema(items)
        min_items = src.pop("minItems", None)
        if min_items in (0, 1):  # the SDK keeps 0 and 1 only (ints; True/False compare equal to them as well)
            out["minItems"] = min_items
        elif min_items is not None:
            src["minItems"] = min_items
    if src:
        said = out.get("description")
        out["description"] = (said + "\n\n" if said is not None else "") + "{" + ", ".join(f"{k}: {v}" for k, v in src.items()) + "}"
    return out


# -- parsing ---------------------------------------------------------------------------------
def parse_json(cls: type, text: str) -> Any:
    """``text`` (the model's JSON answer) as an instance of the output type ``cls``; raises
    ``ParseFailure`` (never pydantic's ``ValidationError``) when it is not JSON or does not fit."""
    if _is_pydantic_model(cls):
        return _pydantic_parse(lambda: cls.model_validate_json(text))  # type: ignore[attr-defined]
    adapter = _type_adapter(cls)
    if adapter is not None:
        return _pydantic_parse(lambda: adapter.validate_json(text))
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ParseFailure(f"the answer is not JSON: {exc}") from None
    return _build(cls, data, "$")


def _pydantic_parse(run: Any) -> Any:
    from pydantic import ValidationError

    try:
        return run()
    except ValidationError as exc:
        raise ParseFailure(_summary(exc)) from None


def _summary(exc: Any) -> str:
    """A pydantic ``ValidationError`` in one line per problem, without the input echoed."""
    lines = []
    try:
        errors = exc.errors(include_url=False, include_input=False)
    except TypeError:  # a pydantic 2 older than these keywords
        errors = exc.errors()
    for err in errors:
        where = ".".join(str(p) for p in err.get("loc", ())) or "$"
        lines.append(f"{where}: {err.get('msg', '')}")
    return f"{len(lines)} problem(s): " + "; ".join(lines[:10])


def _build(tp: Any, data: Any, where: str) -> Any:
    """``data`` (decoded JSON) checked against ``tp`` and built into it (the converter's parse)."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return data
    if tp is bool:
        if isinstance(data, bool):
            return data
    elif tp is int:
        if isinstance(data, int) and not isinstance(data, bool):
            return data
    elif tp is float:
        if isinstance(data, (int, float)) and not isinstance(data, bool):
            return float(data)
    elif tp is str:
        if isinstance(data, str):
            return data
    elif tp in _NONE_TYPES or tp is None:
        if data is None:
            return None
    elif isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(data)
        except ValueError:
            raise ParseFailure(f"{where}: {data!r} is not one of {[m.value for m in tp]}") from None
    elif _is_dataclass_type(tp):
        return _build_dataclass(tp, data, where)
    elif origin is typing.Literal:
        if any(data == a and type(data) is type(a) for a in args):
            return data
        raise ParseFailure(f"{where}: {data!r} is not one of {list(args)}")
    elif origin in _UNION_TYPES:
        for a in args:
            try:
                return _build(a, data, where)
            except ParseFailure:
                continue
        raise ParseFailure(f"{where}: {data!r} matches none of {tp!r}")
    elif origin in (list, tuple, set, frozenset) or tp is list:
        if isinstance(data, list):
            item = args[0] if args else Any
            built = [_build(item, v, f"{where}[{i}]") for i, v in enumerate(data)]
            return (origin or list)(built) if origin in (tuple, set, frozenset) else built
    elif origin is dict or tp is dict:
        if isinstance(data, dict):
            value_type = args[1] if len(args) == 2 else Any
            return {k: _build(value_type, v, f"{where}.{k}") for k, v in data.items()}
    raise ParseFailure(f"{where}: expected {getattr(tp, '__name__', tp)!s}, got {type(data).__name__}")


def _build_dataclass(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise ParseFailure(f"{where}: expected an object for {cls.__name__}, got {type(data).__name__}")
    hints = _hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ParseFailure(f"{where}: unexpected field(s) {unknown} for {cls.__name__}")
    kwargs = {}
    for name, f in fields.items():
        if name in data:
            kwargs[name] = _build(hints.get(name, Any), data[name], f"{where}.{name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ParseFailure(f"{where}.{name}: field required")
    return cls(**kwargs)
