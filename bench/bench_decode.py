"""Decoding one chat-completion body, by piece: ``json.loads``, the wire format's ``decode``,
``request_id`` and the whole ``decode_body`` (what the call path runs per answer).

Headers come as the transport hands them over (a requests ``CaseInsensitiveDict`` and a
urllib3 ``HTTPHeaderDict``, both measured). Each figure is the best of 9 repeats of this
process's CPU time (steadier than wall time on a shared machine), in µs per decode.

    python bench/bench_decode.py
"""

from __future__ import annotations

import json
import sys
import time
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ailib._headers import request_id
from ailib.providers._base import decode_body
from ailib.providers._formats import get_wire_format
from bench._payload import BODY

HEADERS = {
    "Date": "Tue, 01 Dec 2026 21:00:00 GMT",
    "Content-Type": "application/json",
    "Content-Length": str(len(BODY)),
    "Connection": "keep-alive",
    "x-request-id": "req-bench",
    "openai-processing-ms": "321",
}


def best(stmt, n: int = 20000) -> float:
    return min(timeit.repeat(stmt, number=n, repeat=9, timer=time.process_time)) / n * 1e6


def main() -> None:
    from requests.structures import CaseInsensitiveDict
    from urllib3 import HTTPHeaderDict

    fmt = get_wire_format("openai")
    data = json.loads(BODY)
    print("| headers | `json.loads` | `OpenAIFormat.decode` | `request_id` | `decode_body` (all of it) |")
    print("|---|---:|---:|---:|---:|")
    for kind in (CaseInsensitiveDict, HTTPHeaderDict):
        h = kind(HEADERS)
        cells = [
            best(lambda: json.loads(BODY)),
            best(lambda h=h: fmt.decode(data, provider="bench", model="m", headers=h)),
            best(lambda h=h: request_id(h)),
            best(lambda h=h: decode_body(fmt, 200, h, BODY, provider="bench", model="m", now=0.0)),
        ]
        print(f"| {kind.__name__} | " + " | ".join(f"{c:.2f} µs" for c in cells) + " |")


if __name__ == "__main__":
    main()
