"""One call from plan to answer (internal; ``ChatStream`` is public via ``ailib``).

State flows one way: the pipeline describes the call once (``spec.CallSpec``, immutable);
each branch of it (the caller's, and each hedge) appends to its own ``branch.AttemptLog``
and is cancelled only through its own ``branch.CancelToken``; outcomes come back up as
return values (or raised errors), and the one observer a layer hears through
(``Branch.watch``) is passed down explicitly by whoever made the branch.

Modules, top to bottom (a module imports only modules below it; setup.cfg's
``call-layers`` contract checks it):

- ``pipeline`` — the failover loop, retries per target, the final error (``Pipeline``);
  ``extras`` — the response cache and tracing around a call;
- ``hedge`` — races and hedges, given a ``run_target`` callable (``Hedger``): its budget,
  delay and executor;
- ``race`` — one hedged call (``HedgedCall``, its one lock) and its race (``Race``);
  ``timer`` — the hedge clock's thread;
- ``attempt`` — one wire attempt: encode, send, decode, record (``Wire``); ``guard`` —
  the limiter, breaker and router observer around an attempt (``Guard``); ``stream`` —
  the caller's side of a stream (``ChatStream``); ``usage`` — usage totals and prices;
- ``branch`` — one branch's log, token and ``Branch`` value;
- ``spec`` — the call's description (``CallSpec``) and what an attempt hands back;
  ``rules`` — which errors move on and which error a failed call raises.
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
