"""run_batch's pure parts: request keys, checkpoint reading, validation, progress output."""

from __future__ import annotations

import json
import sys

import pytest

from ailib import ChatCompletionRequest, ConfigurationError, InvalidRequestError, Message
from ailib.batch import BatchProgress, read_checkpoint, request_key, run_batch


def _req(text: str, **kw) -> ChatCompletionRequest:
    return ChatCompletionRequest("auto", [Message.user(text)], **kw)


def test_request_key_is_the_sha256_of_canonical_json():
    """A request's key is the SHA-256 hex of its to_dict() as sorted, compact JSON."""
    import hashlib

    req = _req("hi", temperature=0.5)
    canonical = json.dumps(req.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert request_key(req) == hashlib.sha256(canonical.encode()).hexdigest()


def test_request_key_is_the_same_for_an_equal_dict_and_object():
    """An OpenAI-style dict and the equal ChatCompletionRequest hash alike, in any key order."""
    body = {"temperature": 0.5, "messages": [{"content": "hi", "role": "user"}], "model": "auto"}
    assert request_key(ChatCompletionRequest.from_dict(body)) == request_key(_req("hi", temperature=0.5))


def test_request_key_changes_with_any_field():
    """Changing the text, the model or a sampling field gives a different key."""
    base = request_key(_req("hi"))
    assert request_key(_req("hi!")) != base
    assert request_key(ChatCompletionRequest("gpt-4o", [Message.user("hi")])) != base
    assert request_key(_req("hi", max_tokens=5)) != base


def test_read_checkpoint_ignores_a_torn_last_line(tmp_path):
    """A last line without its newline (a crash mid-write) is ignored, not fatal."""
    path = tmp_path / "c.jsonl"
    good = {"key": "a#0", "index": 0, "response": {"id": "x"}}
    path.write_text(json.dumps(good) + "\n" + '{"key": "b#0", "index": 1, "resp')
    assert read_checkpoint(path) == {"a#0": good}


def test_read_checkpoint_skips_a_corrupt_middle_line(tmp_path):
    """A line that is not a record is skipped and the lines after it are still read."""
    path = tmp_path / "c.jsonl"
    path.write_text('{"key": "a#0", "error": {"type": "X"}}\n{garbage\n{"key": "b#0", "response": {}}\n')
    assert sorted(read_checkpoint(path)) == ["a#0", "b#0"]


def test_read_checkpoint_never_lets_an_error_supersede_a_response(tmp_path):
    """For one key the last line wins, except that a response line is never superseded."""
    path = tmp_path / "c.jsonl"
    lines = [
        {"key": "a#0", "error": {"type": "ProviderError"}},
        {"key": "a#0", "response": {"id": "ok"}},
        {"key": "a#0", "error": {"type": "ProviderError"}},
        {"key": "b#0", "response": {"id": "old"}},
    ]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    records = read_checkpoint(path)
    assert records["a#0"]["response"] == {"id": "ok"}
    assert records["b#0"]["response"] == {"id": "old"}


def test_read_checkpoint_of_a_missing_file_is_empty(tmp_path):
    """A checkpoint path that does not exist yet reads as no records."""
    assert read_checkpoint(tmp_path / "nope.jsonl") == {}


def test_invalid_items_become_invalid_request_errors(client, mock):
    """Bad bodies and non-dicts are InvalidRequestError results in place; nothing is sent."""
    items = [{"messages": []}, "not a request", {"model": "m"}, {"messages": [{"role": "robot", "content": "x"}]}]
    results = run_batch(client, items)
    assert [type(r) for r in results] == [InvalidRequestError] * 4
    assert mock.request_count == 0


def test_invalid_item_raises_before_sending_without_return_exceptions(client, mock, req):
    """With return_exceptions=False an invalid request raises before any call is made."""
    with pytest.raises(InvalidRequestError):
        run_batch(client, [req, {"messages": []}, req], return_exceptions=False)
    assert mock.request_count == 0


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "8"])
def test_concurrency_must_be_a_positive_int(client, req, bad):
    """concurrency that is not an int >= 1 is a ConfigurationError."""
    with pytest.raises(ConfigurationError):
        run_batch(client, [req], concurrency=bad)


def test_progress_must_be_a_bool_or_callable(client, req):
    """progress of another type is a ConfigurationError."""
    with pytest.raises(ConfigurationError):
        run_batch(client, [req], progress="yes")


def test_empty_batch_returns_an_empty_list(client, mock):
    """No requests: an empty list, no calls, one progress event with total 0."""
    events: list[BatchProgress] = []
    assert run_batch(client, [], progress=events.append) == []
    assert mock.request_count == 0
    assert [(e.done, e.total) for e in events] == [(0, 0)]


def test_progress_callable_gets_one_event_per_result(client, req):
    """A callable gets an initial event then one per finished request, counts increasing."""
    events: list[BatchProgress] = []
    run_batch(client, [req] * 5, concurrency=2, progress=events.append)
    assert [e.done for e in events] == [0, 1, 2, 3, 4, 5]
    assert all(e.total == 5 and e.failed == 0 and e.elapsed >= 0 for e in events)
    assert events[-1].rate > 0


def test_progress_true_without_tqdm_prints_a_counter_on_stderr(client, req, monkeypatch, capsys):
    """progress=True with tqdm missing writes a plain done/failed counter line to stderr."""
    monkeypatch.setitem(sys.modules, "tqdm", None)
    run_batch(client, [req, {"messages": []}, req], progress=True)
    err = capsys.readouterr().err
    assert "ailib batch: 3/3 done, 1 failed" in err


def test_progress_true_with_tqdm_draws_a_bar(client, req, capsys):
    """progress=True with tqdm installed draws a bar with the failed count on stderr."""
    run_batch(client, [req, {"messages": []}, req], progress=True)
    err = capsys.readouterr().err
    assert "3/3" in err and "failed=1" in err
