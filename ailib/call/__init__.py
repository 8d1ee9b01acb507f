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

from .pipeline import Pipeline
from .stream import ChatStream

__all__ = ["Pipeline", "ChatStream"]
