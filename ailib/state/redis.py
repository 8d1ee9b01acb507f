"""Reliability state shared by every process and machine through Redis (extra ``redis``).

``RedisStateStore(url)`` hands out the same three objects as ``MemoryStateStore`` (a
``RatioBudget``, a ``CircuitBreaker`` and a ``RateLimiter`` per endpoint name), as
subclasses with the same methods and semantics, whose state lives in Redis:

* **Keys** ``{namespace}:{kind}:{name}`` (kind ``limiter``, ``breaker`` or ``budget``), one
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
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from typing import Any, Callable, Optional
from urllib.parse import urlsplit

from ..errors import CircuitOpenError, ConfigurationError, LocalRateLimitError
from ..reliability._window import WINDOW_BUCKETS
from ..reliability.budget import _EPS as _BUDGET_EPS
from ..reliability.budget import RatioBudget
from ..reliability.circuit import _EPS as _RATIO_EPS
from ..reliability.circuit import CircuitBreaker, CircuitBreakerPolicy, CircuitState, Permit, TransitionCallback
from ..reliability.clock import Clock
from ..reliability.ratelimit import (
    _DECREASE,
    _DECREASE_COOLDOWN,
    _EPS,
    _INCREASE,
    _MAX_HOLD,
    _MIN_FACTOR,
    RateLimiter,
    RateLimitPolicy,
)

__all__ = ["RedisCircuitBreaker", "RedisRateLimiter", "RedisRatioBudget", "RedisStateStore"]

log = logging.getLogger("ailib")

# --- Lua ------------------------------------------------------------------------------------

_PRELUDE = """
if redis.replicate_commands then redis.replicate_commands() end -- TIME before writes on Redis < 5
local key = KEYS[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local function fmt(x) return string.format('%.17g', x) end
local function load()
  local raw = redis.call('HGETALL', key)
  local h = {}
  for i = 1, #raw, 2 do h[raw[i]] = raw[i + 1] end
  return h
end
"""

# -- limiter: ARGV numbers mirror RateLimiter's fields; times are server seconds --
_LIMITER = _PRELUDE + """
local function expire(ttl, a, b, c)
  local last = now
  if a and a > last then last = a end
  if b and b > last then last = b end
  if c and c > last then last = c end
  redis.call('PEXPIRE', key, math.ceil((ttl + last - now) * 1000))
end
"""

# ARGV: req_interval|'', req_tau, tok_interval|'', tok_tau, tokens, max_wait, eps, ttl
_LIMITER_ACQUIRE = _LIMITER + """
local h = redis.call('HMGET', key, 'tat_req', 'tat_tok', 'hold', 'factor')
local tat_req, tat_tok, hold = tonumber(h[1]), tonumber(h[2]), tonumber(h[3])
local factor = tonumber(h[4]) or 1
local wait = -math.huge
if hold then wait = hold - now end
local req_i, tok_i = tonumber(ARGV[1]), tonumber(ARGV[3])
local req_step, tok_step
if req_i then
  req_step = req_i / factor
  local tau = math.max(tonumber(ARGV[2]), req_step)
  local need = math.max(tat_req or now, now) + req_step - tau - now
  if need > wait then wait = need end
end
if tok_i then
  tok_step = tonumber(ARGV[5]) * tok_i / factor
  local tau = tonumber(ARGV[4])
  local need = math.max(tat_tok or now, now) + math.min(tok_step, tau) - tau - now
  if need > wait then wait = need end
end
local eps = tonumber(ARGV[7])
if wait <= eps then wait = 0 end
if wait > tonumber(ARGV[6]) + eps then return {0, fmt(wait), fmt(factor)} end
local at = now + wait
if req_i then
  tat_req = math.max(tat_req or at, at) + req_step
  redis.call('HSET', key, 'tat_req', fmt(tat_req))
end
if tok_i then
  tat_tok = math.max(tat_tok or at, at) + tok_step
  redis.call('HSET', key, 'tat_tok', fmt(tat_tok))
end
expire(tonumber(ARGV[8]), tat_req, tat_tok, hold)
return {1, fmt(wait), fmt(factor)}
"""

# ARGV: extra tokens (actual - estimated), tok_interval, ttl
_LIMITER_RECONCILE = _LIMITER + """
local h = redis.call('HMGET', key, 'tat_tok', 'factor', 'tat_req', 'hold')
local factor = tonumber(h[2]) or 1
local tat = math.max(tonumber(h[1]) or now, now) + tonumber(ARGV[1]) * tonumber(ARGV[2]) / factor
redis.call('HSET', key, 'tat_tok', fmt(tat))
expire(tonumber(ARGV[3]), tat, tonumber(h[3]), tonumber(h[4]))
return 1
"""

# ARGV: decrease, min_factor, cooldown, retry_after|'', max_hold, req_interval|'', req_tau, ttl
_LIMITER_RATE_LIMITED = _LIMITER + """
local h = redis.call('HMGET', key, 'factor', 'last_dec', 'hold', 'tat_req', 'tat_tok')
local factor = tonumber(h[1]) or 1
local last_dec = tonumber(h[2])
if last_dec == nil or now - last_dec >= tonumber(ARGV[3]) then
  factor = math.max(tonumber(ARGV[2]), factor * tonumber(ARGV[1]))
  redis.call('HSET', key, 'factor', fmt(factor), 'last_dec', fmt(now))
end
local hold = tonumber(h[3])
local retry_after = tonumber(ARGV[4])
if retry_after and retry_after > 0 then
  hold = math.max(hold or -math.huge, now + math.min(retry_after, tonumber(ARGV[5])))
  redis.call('HSET', key, 'hold', fmt(hold))
end
local tat_req = tonumber(h[4])
local req_i = tonumber(ARGV[6])
if req_i then
  local step = req_i / factor
  local start = math.max(now, hold or now)
  tat_req = math.max(tat_req or -math.huge, start + math.max(tonumber(ARGV[7]), step) - step)
  redis.call('HSET', key, 'tat_req', fmt(tat_req))
end
expire(tonumber(ARGV[8]), tat_req, tonumber(h[5]), hold)
return fmt(factor)
"""

# ARGV: increase
_LIMITER_SUCCESS = _LIMITER + """
local factor = tonumber(redis.call('HGET', key, 'factor'))
if factor and factor < 1 then
  factor = math.min(1, factor + tonumber(ARGV[1]))
  redis.call('HSET', key, 'factor', fmt(factor))
end
return fmt(factor or 1)
"""

# ARGV: seconds, max_hold, ttl
_LIMITER_HOLD = _LIMITER + """
local h = redis.call('HMGET', key, 'hold', 'tat_req', 'tat_tok')
local hold = math.max(tonumber(h[1]) or -math.huge, now + math.min(tonumber(ARGV[1]), tonumber(ARGV[2])))
redis.call('HSET', key, 'hold', fmt(hold))
expire(tonumber(ARGV[3]), hold, tonumber(h[2]), tonumber(h[3]))
return 1
"""

# -- breaker --
_BREAKER = _PRELUDE + """
local trans = {}
local function transition(h, new, open_for)
  local old = h.state or 'closed'
  local gen = (tonumber(h.gen) or 0) + 1
  local drop = {}
  for f in pairs(h) do
    local p = string.sub(f, 1, 2)
    if p == 'p:' or p == 'w:' then
      drop[#drop + 1] = f
      h[f] = nil
    end
  end
  if #drop > 0 then redis.call('HDEL', key, unpack(drop)) end
  redis.call('HSET', key, 'state', new, 'gen', gen, 'consec', 0)
  if new == 'open' then redis.call('HSET', key, 'open_until', fmt(now + open_for)) end
  h.state = new
  h.gen = gen
  if old ~= new then
    trans[#trans + 1] = old
    trans[#trans + 1] = new
  end
  return gen
end
local function touch(h, ttl_ms)
  if h.isolated then redis.call('PERSIST', key) else redis.call('PEXPIRE', key, ttl_ms) end
end
"""

# ARGV: probe_timeout, half_open_max_calls, ttl_ms
# -> {'ok'|'probe'|'open', generation, probe_id|'', expires_at|'', retry_after|'', old, new, ...}
_BREAKER_ACQUIRE = _BREAKER + """
local s = redis.call('HMGET', key, 'state', 'gen', 'open_until', 'isolated')
local state = s[1] or 'closed'
local gen = tonumber(s[2]) or 0
if state == 'closed' then return {'ok', gen} end
if state == 'open' then
  if s[4] then return {'open', gen, '', '', ''} end
  local open_until = tonumber(s[3]) or 0
  if now < open_until then return {'open', gen, '', '', fmt(open_until - now)} end
end
local h = load()
if state == 'open' then gen = transition(h, 'half_open', 0) end
local live, earliest, expired = 0, nil, {}
for f, v in pairs(h) do
  if string.sub(f, 1, 2) == 'p:' then
    local exp = tonumber(v)
    if now >= exp then
      expired[#expired + 1] = f
    else
      live = live + 1
      if earliest == nil or exp < earliest then earliest = exp end
    end
  end
end
if #expired > 0 then redis.call('HDEL', key, unpack(expired)) end
local result
if live < tonumber(ARGV[2]) then
  local pid = redis.call('HINCRBY', key, 'next_pid', 1)
  local exp = now + tonumber(ARGV[1])
  redis.call('HSET', key, 'p:' .. pid, fmt(exp))
  result = {'probe', gen, pid, fmt(exp), ''}
else
  result = {'open', gen, '', '', fmt(math.max(0, earliest - now))}
end
touch(h, ARGV[3])
for _, v in ipairs(trans) do result[#result + 1] = v end
return result
"""

# ARGV: op (success|failure|release), generation, probe_id|'', failure_threshold,
#       failure_ratio|'', slice width, slices, min_calls, open_for, eps, ttl_ms -> {old, new, ...}
_BREAKER_RECORD = _BREAKER + """
local h = load()
if (tonumber(h.gen) or 0) ~= tonumber(ARGV[2]) then return trans end
local op, pid = ARGV[1], ARGV[3]
if op == 'release' then
  if pid ~= '' then redis.call('HDEL', key, 'p:' .. pid) end
  return trans
end
local failed = op == 'failure'
if (h.state or 'closed') == 'closed' then
  local consec, trip = 0, false
  if failed then
    consec = (tonumber(h.consec) or 0) + 1
    trip = consec >= tonumber(ARGV[4])
  end
  local ratio = tonumber(ARGV[5])
  if ratio then
    local width, n = tonumber(ARGV[6]), tonumber(ARGV[7])
    local idx = math.floor(now / width)
    local slot = idx % n
    local calls, fails, cur_c, cur_f = 0, 0, 0, 0
    for k = 0, n - 1 do
      local v = h['w:' .. k]
      if v then
        local i, c, f = string.match(v, '^(%S+) (%S+) (%S+)$')
        i, c, f = tonumber(i), tonumber(c), tonumber(f)
        if i > idx - n and i <= idx then
          if k == slot then
            cur_c, cur_f = c, f
          else
            calls, fails = calls + c, fails + f
          end
        end
      end
    end
    cur_c = cur_c + 1
    if failed then cur_f = cur_f + 1 end
    redis.call('HSET', key, 'w:' .. slot, fmt(idx) .. ' ' .. cur_c .. ' ' .. cur_f)
    calls, fails = calls + cur_c, fails + cur_f
    if failed and calls >= tonumber(ARGV[8]) and fails + tonumber(ARGV[10]) >= ratio * calls then trip = true end
  end
  if trip then
    transition(h, 'open', tonumber(ARGV[9]))
  else
    redis.call('HSET', key, 'consec', consec)
  end
elseif pid ~= '' then
  local exp = h['p:' .. pid]
  if exp then
    redis.call('HDEL', key, 'p:' .. pid)
    if now < tonumber(exp) then
      if failed then transition(h, 'open', tonumber(ARGV[9])) else transition(h, 'closed', 0) end
    end
  end
end
touch(h, ARGV[11])
return trans
"""

# ARGV: open_for, ttl_ms -> {old, new}
_BREAKER_ISOLATE = _BREAKER + """
local h = load()
redis.call('HSET', key, 'isolated', '1')
h.isolated = '1'
transition(h, 'open', tonumber(ARGV[1]))
touch(h, ARGV[2])
return trans
"""

# ARGV: ttl_ms -> {old, new}
_BREAKER_RESET = _BREAKER + """
local h = load()
redis.call('HDEL', key, 'isolated')
h.isolated = nil
transition(h, 'closed', 0)
touch(h, ARGV[1])
return trans
"""

# -> {state as of now, isolated 0|1}
_BREAKER_STATE = _PRELUDE + """
local s = redis.call('HMGET', key, 'state', 'open_until', 'isolated')
local state = s[1] or 'closed'
if state == 'open' and not s[3] and now >= (tonumber(s[2]) or 0) then state = 'half_open' end
return {state, s[3] and 1 or 0}
"""

# -- budget -- ARGV: op (call|spend|available), ratio, floor, slice width, slices, eps, ttl_ms
_BUDGET = _PRELUDE + """
local h = load()
local width, n = tonumber(ARGV[4]), tonumber(ARGV[5])
local idx = math.floor(now / width)
local slot = idx % n
local calls, spent, cur_c, cur_s = 0, 0, 0, 0
for k = 0, n - 1 do
  local v = h[tostring(k)]
  if v then
    local i, c, s = string.match(v, '^(%S+) (%S+) (%S+)$')
    i, c, s = tonumber(i), tonumber(c), tonumber(s)
    if i > idx - n and i <= idx then
      if k == slot then
        cur_c, cur_s = c, s
      else
        calls, spent = calls + c, spent + s
      end
    end
  end
end
local allowance = tonumber(ARGV[3]) + tonumber(ARGV[2]) * (calls + cur_c)
local eps = tonumber(ARGV[6])
local op = ARGV[1]
if op == 'available' then return math.max(0, math.floor(allowance + eps) - spent - cur_s) end
if op == 'call' then
  cur_c = cur_c + 1
elseif spent + cur_s + 1 > allowance + eps then
  return 0
else
  cur_s = cur_s + 1
end
redis.call('HSET', key, tostring(slot), fmt(idx) .. ' ' .. cur_c .. ' ' .. cur_s)
redis.call('PEXPIRE', key, ARGV[7])
return 1
"""


class _Scripts:
    """The registered Lua scripts of one Redis client (EVALSHA, reloaded on NOSCRIPT)."""

    def __init__(self, client: Any) -> None:
        reg = client.register_script
        self.client = client
        self.limiter_acquire = reg(_LIMITER_ACQUIRE)
        self.limiter_reconcile = reg(_LIMITER_RECONCILE)
        self.limiter_rate_limited = reg(_LIMITER_RATE_LIMITED)
        self.limiter_success = reg(_LIMITER_SUCCESS)
        self.limiter_hold = reg(_LIMITER_HOLD)
        self.breaker_acquire = reg(_BREAKER_ACQUIRE)
        self.breaker_record = reg(_BREAKER_RECORD)
        self.breaker_isolate = reg(_BREAKER_ISOLATE)
        self.breaker_reset = reg(_BREAKER_RESET)
        self.breaker_state = reg(_BREAKER_STATE)
        self.budget = reg(_BUDGET)


# --- the link: Redis, or local state while it is unreachable --------------------------------

_LOCAL: Any = object()  # "use local state": what _Link.run returns instead of a result


class _Link:
    """Whether a store uses Redis right now; shared by every object of the store.

    Up: every operation goes to Redis. The first failure marks it down and logs one
    warning; while down, ``run`` returns ``_LOCAL`` at once, except that one operation per
    ``retry_interval`` (real seconds) tries Redis again and, on success, marks it up.
    """

    def __init__(self, where: str, retry_interval: float, errors: tuple[type[BaseException], ...]) -> None:
        self._where = where
        self._retry_interval = retry_interval
        self._errors = errors
        self._lock = threading.Lock()
        self._up = True
        self._probing = False
        self._retry_at = 0.0

    @property
    def up(self) -> bool:
        return self._up

    def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)`` against Redis, or ``_LOCAL`` when Redis is not usable."""
        probe = False
        if not self._up:
            with self._lock:
                if not self._up:
                    if self._probing or time.monotonic() < self._retry_at:
                        return _LOCAL
                    self._probing = probe = True
        try:
            result = fn(*args, **kwargs)
        except self._errors as exc:
            self._failed(exc)
            return _LOCAL
        except BaseException:
            if probe:
                with self._lock:
                    self._probing = False
            raise
        if probe:
            with self._lock:
                self._up, self._probing = True, False
            log.info("Redis state store %s is reachable again; using shared state", self._where)
        return result

    def _failed(self, exc: BaseException) -> None:
        with self._lock:
            was_up = self._up
            self._up, self._probing = False, False
            self._retry_at = time.monotonic() + self._retry_interval
        if was_up:
            log.warning(
                "Redis state store %s is unreachable (%s: %s); using local in-process state, retrying every %gs",
                self._where, type(exc).__name__, exc, self._retry_interval,
            )


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _transitions(values: list[Any]) -> list[tuple[CircuitState, CircuitState]]:
    it = iter(_text(v) for v in values)
    return [(CircuitState(old), CircuitState(new)) for old, new in zip(it, it)]


# --- the shared objects --------------------------------------------------------------------


class _SharedPermit(Permit):
    """A permit issued by the Redis breaker (a plain ``Permit`` comes from local state)."""

    __slots__ = ()


class RedisCircuitBreaker(CircuitBreaker):
    """A ``CircuitBreaker`` whose state lives in Redis; its in-memory state is the fallback.

    Same methods and semantics as ``CircuitBreaker``; see the module docstring for the
    key layout. ``isolate()`` and ``reset()`` apply to the local state too, so an isolated
    endpoint stays isolated while Redis is down.
    """

    def __init__(self, link: _Link, scripts: _Scripts, key: str, policy: CircuitBreakerPolicy, *,
                 name: str, clock: Clock, key_ttl: float, rng: Callable[[], float] = random.random,
                 on_transition: Optional[TransitionCallback] = None) -> None:
        super().__init__(policy, name=name, clock=clock, rng=rng, on_transition=on_transition)
        self.key = key
        self._link = link
        self._scripts = scripts
        self._keys = [key]
        self._ttl_ms = math.ceil((key_ttl + policy.recovery_timeout * (1.0 + policy.recovery_jitter)) * 1000)
        self._ratio = "" if policy.failure_ratio is None else policy.failure_ratio

    # -- reading --
    def _read(self) -> Any:
        return self._link.run(self._scripts.breaker_state, keys=self._keys)

    @property
    def state(self) -> CircuitState:
        """The shared state as of now (OPEN past its recovery time reads HALF_OPEN)."""
        res = self._read()
        return super().state if res is _LOCAL else CircuitState(_text(res[0]))

    @property
    def isolated(self) -> bool:
        res = self._read()
        return self._isolated if res is _LOCAL else bool(res[1])

    # -- the call path --
    def acquire(self, probe_timeout: Optional[float] = None) -> Permit:
        if probe_timeout is not None and not probe_timeout > 0:
            raise ValueError(f"probe_timeout must be > 0, got {probe_timeout!r}")
        timeout = probe_timeout if probe_timeout is not None else self.policy.recovery_timeout or 1.0
        res = self._link.run(self._scripts.breaker_acquire, keys=self._keys,
                             args=[timeout, self.policy.half_open_max_calls, self._ttl_ms])
        if res is _LOCAL:
            return super().acquire(probe_timeout)
        status = _text(res[0])
        permit: Optional[Permit] = None
        if status == "ok":
            permit = _SharedPermit(int(res[1]))
        elif status == "probe":
            permit = _SharedPermit(int(res[1]), int(res[2]), float(res[3]))
        if len(res) > 5:
            try:
                self._notify(_transitions(res[5:]))
            except BaseException:
                if permit is not None:
                    self.release(permit)
                raise
        if permit is None:
            retry_after = float(res[4]) if res[4] not in (b"", "") else None
            raise CircuitOpenError(f"circuit for {self.name} is open", retry_after=retry_after)
        return permit

    def record_success(self, permit: Permit) -> None:
        if type(permit) is _SharedPermit:
            self._record("success", permit)
        else:
            super().record_success(permit)

    def record_failure(self, permit: Permit) -> None:
        if type(permit) is _SharedPermit:
            self._record("failure", permit)
        else:
            super().record_failure(permit)

    def release(self, permit: Permit) -> None:
        if type(permit) is not _SharedPermit:
            super().release(permit)
        elif permit.probe_id is not None:
            self._record("release", permit)

    def _record(self, op: str, permit: Permit) -> None:
        policy = self.policy
        args = [
            op, permit.generation, "" if permit.probe_id is None else permit.probe_id,
            policy.failure_threshold, self._ratio, policy.window / WINDOW_BUCKETS, WINDOW_BUCKETS,
            policy.min_calls, self._open_for(), _RATIO_EPS, self._ttl_ms,
        ]
        res = self._link.run(self._scripts.breaker_record, keys=self._keys, args=args)
        if res is not _LOCAL and res:
            self._notify(_transitions(res))

    def _open_for(self) -> float:
        return self.policy.recovery_timeout * (1.0 + self.policy.recovery_jitter * self._rng())

    # -- manual control --
    def isolate(self) -> None:
        local: list[tuple[CircuitState, CircuitState]] = []
        with self._lock:
            self._isolated = True
            self._transition(CircuitState.OPEN, local, jitter=False)
        res = self._link.run(self._scripts.breaker_isolate, keys=self._keys, args=[self.policy.recovery_timeout, self._ttl_ms])
        self._notify(local if res is _LOCAL else _transitions(res))

    def reset(self) -> None:
        local: list[tuple[CircuitState, CircuitState]] = []
        with self._lock:
            self._isolated = False
            self._transition(CircuitState.CLOSED, local)
        res = self._link.run(self._scripts.breaker_reset, keys=self._keys, args=[self._ttl_ms])
        self._notify(local if res is _LOCAL else _transitions(res))

    def __repr__(self) -> str:
        return f"RedisCircuitBreaker(name={self.name!r}, key={self.key!r})"


class RedisRateLimiter(RateLimiter):
    """A ``RateLimiter`` whose buckets live in Redis; its in-memory buckets are the fallback.

    Same methods and semantics as ``RateLimiter``. ``acquire`` reserves the instant in
    Redis and sleeps the returned wait on the caller's clock.
    """

    def __init__(self, link: _Link, scripts: _Scripts, key: str, policy: RateLimitPolicy, *,
                 name: str, clock: Clock, key_ttl: float) -> None:
        super().__init__(policy, name=name, clock=clock)
        self.key = key
        self._link = link
        self._scripts = scripts
        self._keys = [key]
        self._key_ttl = key_ttl
        self._acquire_args = [
            "" if self._req_interval is None else self._req_interval, self._req_tau,
            "" if self._tok_interval is None else self._tok_interval, self._tok_tau,
        ]
        self._shared_factor = 1.0  # as of this process's last round trip

    @property
    def factor(self) -> float:
        res = self._link.run(self._scripts.client.hget, self.key, "factor")
        if res is _LOCAL:
            return self._factor
        return 1.0 if res is None else float(res)

    @property
    def effective_rate(self) -> Optional[float]:
        rate = self.policy.request_rate
        return None if rate is None else rate * self.factor

    def acquire(self, tokens: int = 0, *, max_wait: Optional[float] = None) -> float:
        if tokens < 0:
            raise ValueError(f"tokens must be >= 0, got {tokens!r}")
        limit = self.policy.max_wait if max_wait is None else max_wait
        res = self._link.run(self._scripts.limiter_acquire, keys=self._keys,
                             args=[*self._acquire_args, tokens, limit, _EPS, self._key_ttl])
        if res is _LOCAL:
            return super().acquire(tokens, max_wait=max_wait)
        wait = float(res[1])
        self._shared_factor = float(res[2])
        if not int(res[0]):
            raise LocalRateLimitError(f"rate limiter {self.name} cannot admit within {limit:g}s", retry_after=wait)
        if wait > 0.0:
            self._clock.sleep(wait)
        return wait

    def reconcile(self, estimated: int, actual: int) -> None:
        if self._tok_interval is None or actual == estimated:
            return
        res = self._link.run(self._scripts.limiter_reconcile, keys=self._keys,
                             args=[actual - estimated, self._tok_interval, self._key_ttl])
        if res is _LOCAL:
            super().reconcile(estimated, actual)

    def on_rate_limited(self, retry_after: Optional[float] = None) -> None:
        if not self.policy.adaptive:
            return
        ra = float(retry_after) if isinstance(retry_after, (int, float)) and retry_after > 0 else ""
        args = [_DECREASE, _MIN_FACTOR, _DECREASE_COOLDOWN, ra, _MAX_HOLD, self._acquire_args[0], self._req_tau, self._key_ttl]
        res = self._link.run(self._scripts.limiter_rate_limited, keys=self._keys, args=args)
        if res is _LOCAL:
            super().on_rate_limited(retry_after)
        else:
            self._shared_factor = float(res)

    def on_success(self) -> None:
        if not self.policy.adaptive or (self._shared_factor >= 1.0 and self._link.up):
            return
        res = self._link.run(self._scripts.limiter_success, keys=self._keys, args=[_INCREASE])
        if res is _LOCAL:
            super().on_success()
        else:
            self._shared_factor = float(res)

    def _hold(self, now: float, seconds: float) -> None:
        res = self._link.run(self._scripts.limiter_hold, keys=self._keys, args=[seconds, _MAX_HOLD, self._key_ttl])
        if res is _LOCAL:
            super()._hold(now, seconds)

    def __repr__(self) -> str:
        return f"RedisRateLimiter(name={self.name!r}, key={self.key!r}, policy={self.policy!r})"


class RedisRatioBudget(RatioBudget):
    """A ``RatioBudget`` whose window lives in Redis; its in-memory window is the fallback."""

    __slots__ = ("_args", "_keys", "_link", "_script", "key")

    def __init__(self, link: _Link, scripts: _Scripts, key: str, ratio: float, *, floor: int,
                 clock: Clock, key_ttl: float, window: float = 10.0) -> None:
        super().__init__(ratio, floor=floor, window=window, clock=clock)
        self.key = key
        self._link = link
        self._script = scripts.budget
        self._keys = [key]
        ttl_ms = math.ceil(max(key_ttl, self.window) * 1000)
        self._args = [self.ratio, self.floor, self.window / WINDOW_BUCKETS, WINDOW_BUCKETS, _BUDGET_EPS, ttl_ms]

    def _run(self, op: str) -> Any:
        return self._link.run(self._script, keys=self._keys, args=[op, *self._args])

    def record_call(self) -> None:
        if self._run("call") is _LOCAL:
            super().record_call()

    def try_spend(self) -> bool:
        res = self._run("spend")
        return super().try_spend() if res is _LOCAL else bool(res)

    def available(self) -> int:
        res = self._run("available")
        return super().available() if res is _LOCAL else int(res)

    def __repr__(self) -> str:
        return f"RedisRatioBudget(key={self.key!r}, ratio={self.ratio:g}, floor={self.floor}, window={self.window:g})"


# --- the store -----------------------------------------------------------------------------


def _import_redis() -> Any:
    try:
        import redis
    except ImportError as exc:
        raise ConfigurationError("RedisStateStore needs the redis package: pip install 'ailib[redis]'") from exc
    return redis


def _positive(name: str, value: Any, *, zero_ok: bool = False) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
        or (value == 0 and not zero_ok)
    ):
        raise ConfigurationError(f"RedisStateStore {name} must be a number {'>=' if zero_ok else '>'} 0, got {value!r}")
    return float(value)


class RedisStateStore:
    """Per-endpoint retry budgets, circuit breakers and rate limiters shared through Redis.

    >>> store = RedisStateStore("redis://127.0.0.1:6379/0")
    >>> client = AiClientBuilder("openai").with_rate_limit(policy).with_state_store(store).build()

    Every process (and machine) whose clients use a store on the same Redis and
    ``namespace`` shares one quota, one breaker and one retry budget per endpoint name.
    ``key_ttl``: seconds an idle key lives after its last write. ``socket_timeout``: bound on
    each Redis round trip (and connect). ``retry_interval``: while Redis is unreachable,
    how often (real seconds) one operation tries it again; meanwhile objects use local
    state. Never raises on a Redis failure; a malformed URL or a missing ``redis`` package
    raises ``ConfigurationError``. Thread-safe; build one per process.
    """

    def __init__(self, url: str, *, namespace: str = "ailib", key_ttl: float = 3600.0,
                 socket_timeout: float = 0.25, retry_interval: float = 5.0) -> None:
        redis = _import_redis()
        if not isinstance(url, str) or not url:
            raise ConfigurationError(f"RedisStateStore needs a redis:// URL, got {url!r}")
        if not isinstance(namespace, str) or not namespace:
            raise ConfigurationError(f"RedisStateStore namespace must be a non-empty string, got {namespace!r}")
        self.namespace = namespace
        self.key_ttl = _positive("key_ttl", key_ttl)
        self.socket_timeout = _positive("socket_timeout", socket_timeout)
        self.retry_interval = _positive("retry_interval", retry_interval, zero_ok=True)
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        try:
            self._redis = redis.Redis.from_url(
                url,
                socket_timeout=self.socket_timeout,
                socket_connect_timeout=self.socket_timeout,
                retry=Retry(NoBackoff(), 0),
            )
        except ValueError as exc:
            raise ConfigurationError(f"RedisStateStore: bad Redis URL ({exc})") from None
        parts = urlsplit(url)
        self._where = f"{parts.scheme}://{parts.hostname or ''}{':' if parts.port else ''}{parts.port or ''}{parts.path}"
        self._link = _Link(self._where, self.retry_interval, (redis.exceptions.RedisError, OSError))
        self._scripts = _Scripts(self._redis)
        self._lock = threading.Lock()
        self._objects: dict[tuple[str, str], Any] = {}
        self._link.run(self._redis.ping)  # an unreachable Redis warns now, not at the first call

    @property
    def using_redis(self) -> bool:
        """True while operations go to Redis (False while falling back to local state)."""
        return self._link.up

    def key(self, kind: str, name: str) -> str:
        """The Redis key of one object: ``{namespace}:{kind}:{name}``."""
        return f"{self.namespace}:{kind}:{name}"

    def _get(self, kind: str, name: str, make: Callable[[str], Any]) -> Any:
        with self._lock:
            obj = self._objects.get((kind, name))
            if obj is None:
                obj = self._objects[(kind, name)] = make(self.key(kind, name))
            return obj

    def retry_budget(self, name: str, ratio: float, floor: int, clock: Clock) -> RatioBudget:
        return self._get("budget", name, lambda key: RedisRatioBudget(
            self._link, self._scripts, key, ratio, floor=floor, clock=clock, key_ttl=self.key_ttl))

    def breaker(self, name: str, policy: CircuitBreakerPolicy, clock: Clock, on_transition: Any = None) -> CircuitBreaker:
        return self._get("breaker", name, lambda key: RedisCircuitBreaker(
            self._link, self._scripts, key, policy, name=name, clock=clock, key_ttl=self.key_ttl,
            on_transition=on_transition))

    def limiter(self, name: str, policy: RateLimitPolicy, clock: Clock) -> RateLimiter:
        return self._get("limiter", name, lambda key: RedisRateLimiter(
            self._link, self._scripts, key, policy, name=name, clock=clock, key_ttl=self.key_ttl))

    def close(self) -> None:
        """Disconnect the pool's connections (a later operation reconnects)."""
        self._redis.close()

    def __repr__(self) -> str:
        return f"RedisStateStore({self._where!r}, namespace={self.namespace!r})"
