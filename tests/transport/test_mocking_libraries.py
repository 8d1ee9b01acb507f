"""``responses`` and ``requests-mock`` intercept every ailib call; a user-mounted adapter is honoured.

A live server listens on the mocked URL: if any byte reached the network it would count
a request.
"""

from __future__ import annotations

import json

import pytest
import requests
import requests_mock
import responses
from requests.adapters import BaseAdapter

from ._server import RawServer
from ._support import client_for, request

ANSWER = {
    "id": "mocked",
    "object": "chat.completion",
    "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "mocked"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
}


def _sse() -> str:
    chunk = {"id": "mocked", "object": "chat.completion.chunk", "model": "m"}
    events = [
        {**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "mocked"}, "finish_reason": None}]},
        {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
    ]
    return "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"


def _call(client, stream: bool) -> str:
    if stream:
        with client.chat_completion_stream(request()) as s:
            return "".join(c.delta_text or "" for c in s)
    return client.chat_completion(request()).text


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_requests_mock_intercepts_one_call_and_nothing_reaches_the_network(stream):
    """Under ``requests_mock.Mocker()`` one ailib call is one mocked request (call_count == 1); the live server sees none."""
    with RawServer("length") as server, client_for(server.base_url) as client:
        url = server.base_url + "/chat/completions"
        with requests_mock.Mocker() as m:
            if stream:
                m.post(url, text=_sse(), headers={"Content-Type": "text/event-stream"})
            else:
                m.post(url, json=ANSWER, headers={"Content-Type": "application/json"})
            assert _call(client, stream) == "mocked"
            assert m.call_count == 1
        assert server.request_count == 0


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_responses_intercepts_one_call_and_nothing_reaches_the_network(stream):
    """Under ``responses`` one ailib call is one mocked request (call_count == 1); the live server sees none."""
    with RawServer("length") as server, client_for(server.base_url) as client:
        url = server.base_url + "/chat/completions"
        with responses.RequestsMock() as rsps:
            if stream:
                rsps.post(url, body=_sse(), content_type="text/event-stream")
            else:
                rsps.post(url, json=ANSWER)
            assert _call(client, stream) == "mocked"
            assert rsps.assert_call_count(url, 1)
        assert server.request_count == 0


def test_an_adapter_mounted_on_the_clients_session_is_used():
    """An adapter a user mounts on the client's session for the provider's URL serves the call instead of the network."""
    seen: list[str] = []

    class Canned(BaseAdapter):
        def send(self, req, **kwargs):  # type: ignore[no-untyped-def]
            seen.append(req.url)
            resp = requests.Response()
            resp.status_code = 200
            resp.headers["Content-Type"] = "application/json"
            import io

            import urllib3

            resp.raw = urllib3.HTTPResponse(
                io.BytesIO(json.dumps(ANSWER).encode()), headers=resp.headers, status=200, preload_content=False
            )
            return resp

        def close(self) -> None:
            pass

    with RawServer("length") as server, client_for(server.base_url) as client:
        client._transport.session.mount(server.base_url, Canned())
        assert client.chat_completion(request()).text == "mocked"
        assert seen == [server.base_url + "/chat/completions"]
        assert server.request_count == 0
