"""The SSE parser: the event-stream rules, incremental feeding, and garbage."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ailib._sse import SseEvent, SseParser

STREAM = b'\xef\xbb\xbf: keep-alive\r\nevent: delta\r\ndata: {"a":\r\ndata: 1}\r\n\r\ndata: [DONE]\n\n'
EXPECTED = [SseEvent("delta", '{"a":\n1}'), SseEvent("message", "[DONE]")]


def feed_all(parts):
    p = SseParser()
    out = []
    for part in parts:
        out += p.feed(part)
    return out


def test_whole_stream():
    """BOM, comments, CRLF, named events and multi-line data parse as specified."""
    assert feed_all([STREAM]) == EXPECTED


@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=8))
def test_any_split_gives_the_same_events(cuts):
    """Events do not depend on how the bytes were split across reads (CR/LF split included)."""
    cuts = sorted(set(cuts))
    parts = [STREAM[i:j] for i, j in zip([0, *cuts], [*cuts, len(STREAM)])]
    assert feed_all(parts) == EXPECTED


def test_bare_cr_line_ends():
    """A lone CR ends a line."""
    assert feed_all([b"data: x\r\rdata: y\r\r"]) == [SseEvent("message", "x"), SseEvent("message", "y")]


def test_field_without_space_and_unknown_fields():
    """'data:x' works; unknown fields are ignored; id is kept."""
    assert feed_all([b"data:x\nretry: 5\nfoo: bar\nid: 7\n\n"]) == [SseEvent("message", "x", "7")]


def test_unterminated_event_is_not_emitted():
    """An event without its blank line is incomplete and reported as partial."""
    p = SseParser()
    assert p.feed(b"data: half") == []
    assert p.has_partial_event
    assert p.flush() == []


def test_invalid_utf8_is_replaced_not_raised():
    """Undecodable bytes become U+FFFD; the wire format decides what is garbage."""
    assert feed_all([b"data: \xff\xfe\n\n"]) == [SseEvent("message", "\ufffd\ufffd")]


@given(st.lists(st.binary(max_size=64), max_size=10))
def test_arbitrary_bytes_never_raise(chunks):
    """Any byte sequence parses without raising."""
    p = SseParser()
    for c in chunks:
        for ev in p.feed(c):
            assert isinstance(ev.data, str)
    p.flush()
