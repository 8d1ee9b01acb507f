"""A response head parsed without the email package, for the header blocks servers send.

``http.client`` parses every response's header block with ``email.parser``: about 20 µs
for six headers, the largest single cost of a pooled call. ``HeadResponse`` is
``http.client.HTTPResponse`` with the running Python's own ``begin`` (the same code object,
so status line, 1xx, framing and keep-alive rules are exactly the stdlib's), in which only
``parse_headers`` is replaced by ``parse_headers_fast``: each line ``Name: value`` of
printable ASCII is split with one regular expression into the same ``HTTPMessage`` the
email parser builds (same pairs, same empty payload, no defects); a block with anything
else (folded lines, a line without a colon, control or non-ASCII bytes) goes to the email
parser as before.
"""

from __future__ import annotations

import email.parser
import http.client
import re
import types
from typing import Any

__all__ = ["HeadResponse", "parse_headers_fast"]

# A field name (printable ASCII but ':', as the email parser's header pattern has it), the
# colon, blanks the email parser strips, then a value of printable ASCII, spaces and tabs.
_LINE = re.compile(rb"([\x21-\x39\x3b-\x7e]+):[ \t]*([\x20-\x7e\t]*)\r?\n")
_END = (b"\r\n", b"\n", b"")
_MAXLINE: int = http.client._MAXLINE  # type: ignore[attr-defined]  # http.client's own limits
_MAXHEADERS: int = http.client._MAXHEADERS  # type: ignore[attr-defined]


def parse_headers_fast(fp: Any, _class: type = http.client.HTTPMessage) -> http.client.HTTPMessage:
    """``http.client.parse_headers``: the same reading limits, the same message."""
    lines = []
    while True:
        line = fp.readline(_MAXLINE + 1)
        if len(line) > _MAXLINE:
            raise http.client.LineTooLong("header line")
        lines.append(line)
        if len(lines) > _MAXHEADERS:
            raise http.client.HTTPException(f"got more than {_MAXHEADERS} headers")
        if line in _END:
            break
    pairs = []
    match = _LINE.fullmatch
    for line in lines[:-1]:
        m = match(line)
        if m is None:  # anything unusual: the email parser decides, as in http.client
            parsed: http.client.HTTPMessage = email.parser.Parser(_class=_class).parsestr(b"".join(lines).decode("iso-8859-1"))
            return parsed
        pairs.append((m[1].decode("ascii"), m[2].decode("ascii")))
    msg: http.client.HTTPMessage = _class()
    msg._headers = pairs  # type: ignore[attr-defined]  # what the email parser stores: (name, value) in arrival order
    msg._payload = ""  # type: ignore[attr-defined]  # and the empty body it leaves after the blank line
    return msg


class HeadResponse(http.client.HTTPResponse):
    """``http.client.HTTPResponse`` whose ``begin`` parses the header block with ``parse_headers_fast``."""

    begin = types.FunctionType(  # the running Python's own begin(), only parse_headers rebound
        http.client.HTTPResponse.begin.__code__,
        {**vars(http.client), "parse_headers": parse_headers_fast},
        "begin",
        http.client.HTTPResponse.begin.__defaults__,
        http.client.HTTPResponse.begin.__closure__,
    )
