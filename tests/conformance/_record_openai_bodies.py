"""A pytest plugin (``-p tests.conformance._record_openai_bodies``) that records every body the
OpenAI encoder builds while other tests run: one JSON line per body (the test's node id, the
provider, the stream flag and the body) appended to a file per process under the directory
named by ``AILIB_RECORD_OPENAI_BODIES``. Used by test_openai_schema.py; without the variable it
does nothing."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

_current: list[str] = [""]


def pytest_configure(config: pytest.Config) -> None:
    folder = os.environ.get("AILIB_RECORD_OPENAI_BODIES")
    if not folder:
        return
    from ailib.providers.openai import OpenAIFormat

    out = Path(folder) / f"bodies-{os.getpid()}.jsonl"
    encode = OpenAIFormat.encode

    def recording(self: OpenAIFormat, request: Any, model: str, *, stream: bool, spec: Any) -> dict[str, Any]:
        body = encode(self, request, model, stream=stream, spec=spec)
        try:
            line = json.dumps({"test": _current[0], "provider": spec.name, "stream": stream, "body": body})
        except (TypeError, ValueError):
            line = json.dumps({"test": _current[0], "provider": spec.name, "stream": stream, "body": None, "unserialisable": True})
        with out.open("a", encoding="utf-8") as f:
            f.write(line + "\n")
        return body

    OpenAIFormat.encode = recording  # type: ignore[method-assign]


def pytest_runtest_logstart(nodeid: str, location: Any) -> None:
    _current[0] = nodeid


def pytest_runtest_logfinish(nodeid: str, location: Any) -> None:
    _current[0] = ""
