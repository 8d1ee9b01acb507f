"""MockProvider routing: extra routes, the control endpoint, unrouted paths, request validation."""

from __future__ import annotations

import pytest
import requests

from ailib.testing import Fault, MockProvider, Route, _routes

OPENAI_BODY = {"model": "mock-model", "messages": [{"role": "user", "content": "hi"}]}


def test_an_extra_route_answers_before_the_formats() -> None:
    """add_route serves a path by regex with its handler; the request is recorded but is not a chat request."""

    def handler(provider, ex, rec, match):
        ex.send_json(200, {"batch": match.group(1), "format": provider.wire_format})

    with MockProvider() as mock:
        mock.add_route("GET", r"/v1/batches/([\w-]+)", handler)
        got = requests.get(mock.base_url + "/batches/b-1", timeout=5)
    assert got.json() == {"batch": "b-1", "format": "openai"} and got.headers["x-request-id"].startswith("req_mock")
    assert mock.request_count == 0 and mock.requests[0].path == "/v1/batches/b-1"


def test_route_modules_are_imported_and_missing_ones_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every importable module named in ROUTE_MODULES contributes its ROUTES; an absent one is skipped."""
    import sys
    import types

    module = types.ModuleType("ailib_test_extra_routes")
    module.ROUTES = [Route("POST", r"/v1/files", lambda p, ex, rec, m: ex.send_json(200, {"id": "file-1"}))]
    monkeypatch.setitem(sys.modules, "ailib_test_extra_routes", module)
    monkeypatch.setattr(_routes, "ROUTE_MODULES", ["ailib_test_no_such_module", "ailib_test_extra_routes"])
    with MockProvider() as mock:
        assert requests.post(mock.base_url + "/files", timeout=5).json() == {"id": "file-1"}


@pytest.mark.parametrize(
    "fmt, path, body",
    [
        (
            "openai",
            "/v1/nothing/here",
            {"error": {"message": "Invalid URL (POST /v1/nothing/here)", "type": "invalid_request_error", "param": None, "code": None}},
        ),
        ("anthropic", "/v1/nothing/here", {"type": "error", "error": {"type": "not_found_error", "message": "Not Found"}}),
        (
            "gemini",
            "/v1beta/nothing/here",
            {"error": {"code": 404, "message": "Invalid URL (POST /v1beta/nothing/here)", "status": "NOT_FOUND"}},
        ),
        ("cohere", "/v2/nothing/here", {"id": "mock-error-1", "message": "Invalid URL (POST /v2/nothing/here)"}),
    ],
)
def test_an_unrouted_path_answers_in_the_formats_own_error_shape(fmt: str, path: str, body: dict) -> None:
    """A path the format does not serve gets a 404 with that format's error body."""
    with MockProvider(fmt) as mock:
        got = requests.post(mock.url + path, json={}, timeout=5)
    assert got.status_code == 404 and got.json() == body


def test_anthropic_count_tokens_is_served() -> None:
    """POST /v1/messages/count_tokens answers {"input_tokens": N} as Anthropic does."""
    with MockProvider("anthropic") as mock:
        got = requests.post(
            mock.url + "/v1/messages/count_tokens", json={"model": "m", "messages": [{"role": "user", "content": "hi"}]}, timeout=5
        )
    assert got.status_code == 200 and got.json()["input_tokens"] > 0 and got.headers["request-id"].startswith("req_mock")


@pytest.mark.parametrize(
    "change, message",
    [
        ({"messages": []}, "empty array"),
        ({"messages": [{"role": "wizard", "content": "hi"}]}, "Invalid value: 'wizard'"),
        ({"max_tokens": -5}, "Invalid 'max_tokens': integer below minimum value"),
        ({"n": 0}, "Invalid 'n'"),
    ],
)
def test_openai_refuses_what_openai_refuses(change: dict, message: str) -> None:
    """Empty messages, an unknown role or a negative limit get OpenAI's 400 invalid_request_error body."""
    with MockProvider() as mock:
        got = requests.post(mock.base_url + "/chat/completions", json={**OPENAI_BODY, **change}, timeout=5)
    assert got.status_code == 400 and got.json()["error"]["type"] == "invalid_request_error" and message in got.json()["error"]["message"]


def test_validation_can_be_turned_off() -> None:
    """MockProvider(validate=False) answers a request the real API would refuse."""
    with MockProvider(validate=False) as mock:
        got = requests.post(mock.base_url + "/chat/completions", json={**OPENAI_BODY, "messages": []}, timeout=5)
    assert got.status_code == 200


def test_control_endpoint_scripts_faults_and_lists_requests() -> None:
    """POST /_mock/script queues faults for the next chat requests; GET /_mock/requests lists what came in, keys left out."""
    with MockProvider() as mock:
        url = mock.base_url + "/chat/completions"
        queued = requests.post(
            mock.url + "/_mock/script",
            json=["429:retry-after=1", {"fault": "ok", "tool_calls": [{"name": "f", "arguments": {"a": 1}}]}],
            timeout=5,
        )
        assert queued.json() == {"enqueued": 2, "pending": 2}
        first = requests.post(url, json=OPENAI_BODY, headers={"Authorization": "Bearer sk-secret"}, timeout=5)
        second = requests.post(url, json=OPENAI_BODY, timeout=5)
        seen = requests.get(mock.url + "/_mock/requests", timeout=5).json()["requests"]
    assert first.status_code == 429 and first.headers["retry-after"] == "1"
    assert second.json()["choices"][0]["message"]["tool_calls"][0]["function"] == {"name": "f", "arguments": '{"a":1}'}
    assert [r["fault"] for r in seen] == ["status", "ok"] and "authorization" not in seen[0]["headers"]


def test_control_endpoint_refuses_a_bad_script() -> None:
    """A script naming an unknown fault is a 400 that says which, and queues nothing."""
    with MockProvider() as mock:
        got = requests.post(mock.url + "/_mock/script", json=["teleport"], timeout=5)
        assert got.status_code == 400 and "teleport" in got.json()["error"] and mock.pending_faults() == []


def test_posting_an_empty_script_clears_the_queued_faults() -> None:
    """POST /_mock/script [] leaves no fault pending: a script replaces the queue, so the next request is answered normally."""
    with MockProvider(script=[Fault.http_status(503), Fault.reset()]) as mock:
        cleared = requests.post(mock.url + "/_mock/script", json=[], timeout=5)
        listed = requests.get(mock.url + "/_mock/script", timeout=5).json()
        got = requests.post(mock.base_url + "/chat/completions", json=OPENAI_BODY, timeout=5)
    assert cleared.json() == {"enqueued": 0, "pending": 0} and listed == {"pending": []} and got.status_code == 200


def test_a_posted_script_replaces_the_queue_unless_appended() -> None:
    """POST /_mock/script replaces what was pending; ?append=1 adds after it."""
    with MockProvider() as mock:
        requests.post(mock.url + "/_mock/script", json=["500", "500"], timeout=5)
        replaced = requests.post(mock.url + "/_mock/script", json=["401"], timeout=5).json()
        appended = requests.post(mock.url + "/_mock/script?append=1", json=["reset"], timeout=5).json()
        kinds = [f.kind for f in mock.pending_faults()]
    assert replaced == {"enqueued": 1, "pending": 1} and appended == {"enqueued": 1, "pending": 2} and kinds == ["status", "reset"]
