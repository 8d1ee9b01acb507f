"""Testing one's own code with `responses` or `requests-mock` works however the test file is
laid out: also when the mock is switched on before ailib has sent anything in the process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

_RESPONSES_FIRST = """
import responses
from ailib import AiClient, ConnectionOptions

ANSWER = {"id": "1", "model": "m", "choices": [{"index": 0, "message": {"role": "assistant", "content": "mocked"}, "finish_reason": "stop"}]}

@responses.activate
def first_test():
    responses.post("https://api.openai.com/v1/chat/completions", json=ANSWER)
    with AiClient("openai", options=ConnectionOptions(base_url="https://api.openai.com/v1", api_key="sk-test")) as client:
        assert client.chat("hi") == "mocked"
    assert len(responses.calls) == 1

first_test()
first_test()
print("ok")
"""

_REQUESTS_MOCK_FIRST = """
import requests_mock
from ailib import AiClient, ConnectionOptions

ANSWER = {"id": "1", "model": "m", "choices": [{"index": 0, "message": {"role": "assistant", "content": "mocked"}, "finish_reason": "stop"}]}

def first_test():
    with requests_mock.Mocker() as m:
        m.post("https://api.openai.com/v1/chat/completions", json=ANSWER, headers={"Content-Type": "application/json"})
        with AiClient("openai", options=ConnectionOptions(base_url="https://api.openai.com/v1", api_key="sk-test")) as client:
            assert client.chat("hi") == "mocked"
        assert m.call_count == 1

first_test()
first_test()
print("ok")
"""


@pytest.mark.parametrize("script", [_RESPONSES_FIRST, _REQUESTS_MOCK_FIRST], ids=["responses", "requests-mock"])
def test_a_mock_switched_on_before_the_first_client_intercepts_every_call(script: str) -> None:
    """A fresh process whose first client is built inside an active mock: both calls are intercepted, none reaches DNS or the network."""
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-3000:]
