"""Reliability state shared by every process and machine through Redis (extra ``redis``).

``RedisStateStore(url)`` hands out the same three objects as ``MemoryStateStore`` (a
``RatioBudget``, a ``CircuitBreaker`` and a ``RateLimiter`` per endpoint name), as
subclasses with the same methods and semantics, whose state lives in Redis:

* **Keys** ``{namespace}:{kind}:{scope}:{name}`` (kind ``limiter``, ``breaker`` or
  ``budget``; ``scope`` the first 16 hex digits of the endpoint's identity digest: provider,
  base URL, routing headers and an HMAC of its key; ``namespace`` default ``ailib``), one
  hash per object, so every script touches one key (Redis Cluster safe). Every write
  refreshes the key's expiry: ``key_ttl`` seconds after the last write, plus whatever the
  state still reserves in the future (a limiter's schedule, an open breaker's recovery
  time). An ``isolate()``-d breaker does not expire until ``reset()``.
* **Scripts.** Every read-modify-write is one Lua script (``EVALSHA`` through redis-py's
  ``register_script``), so it is atomic across every process sharing the store.
* **Time.** Scripts read the Redis server's clock (``TIME``), so machines whose clocks
  disagree still share one schedule. ``acquire`` returns the wait its script reserved and
  the caller sleeps it with its own clock, outside Redis. The injected clock also drives
  the local fallback objects.
* **Limiter** hash: ``tat_req`` and ``tat_tok`` (GCRA theoretical arrival times of the
  request and token buckets), ``factor`` and ``last_dec`` (adaptive rate), ``hold``
  (no admission before). A rejected acquire reserves nothing.
* **Breaker** hash: ``state``, ``gen`` (generation), ``consec``, ``open_until``,
  ``isolated``, ``next_pid``, one ``p:<id>`` field per live probe holding its expiry (so a
  probe whose process died is reclaimed after its timeout) and, with ``failure_ratio``,
  one ``w:<slice>`` field per window slice. At most ``half_open_max_calls`` probes are
  out at once across every process. Permits carry the generation as in memory (probe
  ``expires_at`` is in Redis server time). Transition callbacks run in the process whose
  call made the transition.
* **Budget** hash: one field per window slice, ``"<slice index> <calls> <spent>"``.

**When Redis is unreachable** (at construction or later), nothing fails: each object
falls back to its own in-process state (it *is* the in-memory object underneath) and one
warning is logged on logger ``ailib``. While Redis is down no operation waits on the
network, except that at most one operation every ``retry_interval`` seconds tries Redis
again; when that succeeds the store goes back to the shared state (logged at info) and a
later outage logs a new warning. Socket timeouts are short (``socket_timeout``) and
redis-py's own retries are off, so a dead Redis costs a call at most one timeout. A report
for a breaker permit taken from Redis before an outage is dropped.

Modules: ``_store`` (the store), ``_link`` (outage handling), ``_objects`` (the three
shared objects) and ``_scripts`` (the Lua). A store registers with ``ailib._fork``: in a
forked child it drops the parent's connections and reconnects on its first operation.
"""

from __future__ import annotations

from ._objects import RedisCircuitBreaker, RedisRateLimiter, RedisRatioBudget
from ._store import RedisStateStore

__all__ = ["RedisCircuitBreaker", "RedisRateLimiter", "RedisRatioBudget", "RedisStateStore"]
