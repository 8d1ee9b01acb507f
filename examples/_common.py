"""Shared by the examples: a real provider when its key is set, else an embedded MockProvider."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from ailib.testing import MockProvider


@contextlib.contextmanager
def provider_or_mock(env_var: str = "OPENAI_API_KEY", provider: str = "openai", **mock_kw: Any) -> Iterator[Any]:
    """Yield ``provider`` if ``env_var`` is set; otherwise a MockProvider's provider (offline)."""
    if os.environ.get(env_var):
        yield provider
        return
    with MockProvider(**mock_kw) as mock:
        print(f"(offline: {env_var} is not set, using a MockProvider at {mock.base_url})")
        yield mock.provider()
