"""One call from plan to answer (internal; ``ChatStream`` is public via ``ailib``).

Modules, one job each:

- ``pipeline`` — the failover loop, retries per target, the final error (``Pipeline``);
- ``attempt`` — one wire attempt: encode, send, decode, record (``Wire``);
- ``guard`` — the limiter, breaker and router observer around an attempt (``Guard``);
- ``hedge`` — races and hedges, given a ``run_target`` callable (``Hedger``): its budget,
  delay, executor and ``timer``; ``race`` — one hedged call's branches and winner;
- ``stream`` — the caller's side of a stream (``ChatStream``);
- ``usage`` — usage totals and prices; ``context`` — one call's state; ``rules`` — which
  errors move on and which error a failed call raises.
"""

from typing import TYPE_CHECKING, Any

from .pipeline import Pipeline

if TYPE_CHECKING:
    from .stream import ChatStream

__all__ = ["Pipeline", "ChatStream"]


def __getattr__(name: str) -> Any:  # ChatStream is imported by the first stream (or the first to ask)
    if name != "ChatStream":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from .stream import ChatStream

    return ChatStream
