"""A one-time hint for model strings that look like ``"provider:model"``.

``"openai:gpt-4o"`` is sent unchanged (a server may really have such a model), but the
likely intent was ``"openai/gpt-4o"`` (the ``provider/model`` form fallback chains route by)
or the bare ``"gpt-4o"``, so the first use of each such string warns once.
"""

from __future__ import annotations

import logging
import threading
import warnings

from ._registry import Provider

__all__ = ["hint_model_name"]

_log = logging.getLogger("ailib")
_warned: set[str] = set()
_lock = threading.Lock()
_PROVIDERS = frozenset(p.value for p in Provider)


def hint_model_name(model: str) -> str:
    """Return ``model`` unchanged; warn once if it reads as ``"<provider>:<model>"``."""
    if ":" not in model or model in _warned:
        return model
    head, _, rest = model.partition(":")
    if head.lower() not in _PROVIDERS or not rest:
        return model
    with _lock:
        if model in _warned:
            return model
        _warned.add(model)
    message = (
        f"model {model!r} is sent as written; did you mean {f'{head}/{rest}'!r} (provider/model, as fallback "
        f"chains and routing read it) or just {rest!r}?"
    )
    _log.warning(message)
    warnings.warn(message, UserWarning, stacklevel=2)
    return model
