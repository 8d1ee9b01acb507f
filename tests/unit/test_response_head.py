"""The response head parsed without the email package gives what ``http.client`` gives, byte for byte."""

from __future__ import annotations

import email.parser
import http.client
import io
import socket
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ailib.transport._head import HeadResponse, parse_headers_fast

PLAIN = (
    b"Server: nginx/1.22.1\r\nDate: Wed, 02 Dec 2026 04:18:35 GMT\r\nContent-Type: application/json\r\n"
    b"Content-Length: 281\r\nConnection: keep-alive\r\nx-request-id: req-1\r\n\r\n"
)
EDGE_BLOCKS = [
    PLAIN,
    b"\r\n",  # no headers
    b"",  # the connection closed before the blank line
    b"A: b\r\n",  # ... after a header
    b"A: b\n\n",  # bare LF line ends
    b"A:b\r\nB:\r\nC:   \t spaced  \t\r\n\r\n",  # no blank after the colon, an empty value, trailing blanks kept
    b"Set-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n",  # a repeated header keeps both, in order
    b"A: b\r\n folded\r\n\r\n",  # an obsolete folded line
    b"A: b\r\n\tfolded\r\n\r\n",
    b"no colon here\r\nA: b\r\n\r\n",  # a line without a colon: a defect, the rest as payload
    b": no name\r\n\r\n",
    b"A b: c\r\n\r\n",  # a space in the name
    b"From nobody\r\nA: b\r\n\r\n",  # a Unix From line
    b"A: caf\xc3\xa9\r\n\r\n",  # non-ASCII value
    b"A: b\rc\r\n\r\n",  # a bare CR inside a value
    b"A: b\x0bc\r\n\r\n",  # a vertical tab inside a value
    b"A: b\x85c\r\n\r\n",  # NEL (latin-1) inside a value
    b"A: b\r\r\n\r\n",
    b"X-\xff: y\r\n\r\n",
]


def _both(block: bytes) -> tuple[tuple, tuple]:
    """(message state, bytes left unread) from http.client and from parse_headers_fast."""
    results = []
    for parse in (http.client.parse_headers, parse_headers_fast):
        fp = io.BytesIO(block + b"BODY")
        msg = parse(fp)
        state = {k: v for k, v in vars(msg).items() if k != "defects"}
        results.append((type(msg), state, [type(d) for d in msg.defects], fp.read()))
    return results[0], results[1]


@pytest.mark.parametrize("block", EDGE_BLOCKS)
def test_each_edge_case_parses_as_http_client_parses_it(block):
    """Ordinary, empty, folded, malformed and non-ASCII header blocks give the same HTTPMessage (headers, payload, defects) and leave the same bytes unread."""
    stdlib, fast = _both(block)
    assert fast == stdlib


_TOKEN = st.text(alphabet=st.sampled_from("abcXYZ-_!#~0123456789: \t"), min_size=0, max_size=8)
_VALUE = st.binary(max_size=12) | st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=12).map(str.encode)
_LINE = st.tuples(
    _TOKEN.map(str.encode), st.sampled_from([b":", b": ", b":\t", b" :", b""]), _VALUE, st.sampled_from([b"\r\n", b"\n", b"\r"])
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_LINE, max_size=6), st.sampled_from([b"\r\n", b"\n", b""]))
def test_any_header_block_parses_as_http_client_parses_it(lines, end):
    """For arbitrary header lines (odd names, separators, bytes, line ends), the message and the bytes left unread match http.client's."""
    block = b"".join(name + sep + value + eol for name, sep, value, eol in lines) + end
    stdlib, fast = _both(block)
    assert fast == stdlib


def test_a_plain_block_is_split_without_the_email_parser():
    """The headers servers send (printable ASCII ``Name: value`` lines) never reach the email parser."""
    with mock.patch.object(email.parser.Parser, "parsestr", side_effect=AssertionError("email parser used")):
        msg = parse_headers_fast(io.BytesIO(PLAIN))
    assert msg["content-length"] == "281" and msg.get_all("x-request-id") == ["req-1"]


def test_the_reading_limits_are_http_clients():
    """A header line over http.client's line limit, or more headers than its count limit, is refused as http.client refuses it."""
    long_line = b"A: " + b"x" * (http.client._MAXLINE + 1) + b"\r\n\r\n"
    with pytest.raises(http.client.LineTooLong):
        parse_headers_fast(io.BytesIO(long_line))
    many = b"".join(b"H%d: v\r\n" % i for i in range(http.client._MAXHEADERS + 1)) + b"\r\n"
    with pytest.raises(http.client.HTTPException, match="got more than"):
        parse_headers_fast(io.BytesIO(many))


HEADS = [
    b"HTTP/1.1 200 OK\r\n" + PLAIN.replace(b"281", b"5"),
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n",  # a nonsensical length: none, read to close
    b"HTTP/1.1 200 OK\r\n\r\n",  # no length, not chunked: read to close
    b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\n",  # HTTP/1.0: closes
    b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\n",
    b"HTTP/1.0 200 OK\r\nKeep-Alive: timeout=5\r\nContent-Length: 5\r\n\r\n",
    b"HTTP/1.1 100 Continue\r\nX: y\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",  # 1xx skipped; 204 has no body
    b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
    b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 2\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nA: b\r\n folded\r\nContent-Length: 5\r\n\r\n",  # the email parser's path
]


def _begin(cls: type, head: bytes, method: str) -> dict:
    server, client = socket.socketpair()
    with server, client:
        server.sendall(head if head.endswith(b"0\r\n\r\n") else head + b"hello")
        server.shutdown(socket.SHUT_WR)
        resp = cls(client, method=method)
        resp.begin()
        fields = ("status", "reason", "version", "chunked", "chunk_left", "length", "will_close")
        out = {f: getattr(resp, f) for f in fields}
        out["headers"] = resp.msg.items()
        out["body"] = resp.read()
        resp.close()
        return out


@pytest.mark.parametrize("method", ["POST", "HEAD"])
@pytest.mark.parametrize("head", HEADS)
def test_a_response_begins_as_http_clients_does(head, method):
    """Status, version, framing (chunked, length, will_close), headers and body match http.client.HTTPResponse for each response shape."""
    assert _begin(HeadResponse, head, method) == _begin(http.client.HTTPResponse, head, method)


def test_a_bad_status_line_is_refused_as_http_client_refuses_it():
    """A response that is not HTTP raises http.client's BadStatusLine, not a parsing error of ours."""
    server, client = socket.socketpair()
    with server, client:
        server.sendall(b"SSH-2.0-OpenSSH\r\n\r\n")
        with pytest.raises(http.client.BadStatusLine):
            HeadResponse(client, method="POST").begin()


def test_a_response_head_is_parsed_without_the_email_parser():
    """HeadResponse.begin reads an ordinary response head through the fast parser (the email parser is never called)."""
    server, client = socket.socketpair()
    with server, client:
        server.sendall(b"HTTP/1.1 200 OK\r\n" + PLAIN.replace(b"281", b"2") + b"ok")
        resp = HeadResponse(client, method="POST")
        with mock.patch.object(email.parser.Parser, "parsestr", side_effect=AssertionError("email parser used")):
            resp.begin()
        assert (resp.status, resp.length, resp.read()) == (200, 2, b"ok")
        resp.close()
