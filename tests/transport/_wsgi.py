"""The Flask example (``examples/flask_app.py``) as a gunicorn app, for ``test_gunicorn.py``.

One client is built at import, from ``AILIB_TEST_BASE_URL``, and makes one call right
away: under ``--preload`` that happens in the master, before the workers are forked.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from ailib import AiClientBuilder, ChatCompletionRequest, CustomProviderBuilder, Message

_EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
sys.path.insert(0, str(_EXAMPLES))  # the example imports its sibling _common
_spec = importlib.util.spec_from_file_location("flask_app_example", _EXAMPLES / "flask_app.py")
assert _spec is not None and _spec.loader is not None
flask_app = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(flask_app)

_provider = CustomProviderBuilder("raw").with_base_url(os.environ["AILIB_TEST_BASE_URL"]).with_api_key("sk-raw-0").build_provider()
client = AiClientBuilder(_provider).with_deadline(20.0).build()
assert client.chat_completion(ChatCompletionRequest("m", [Message.user("at import")])).text == "echo:at import"
app = flask_app.create_app(client)
