"""The Lua scripts of the Redis state store: every read-modify-write is one atomic script.

Each script touches one key (Redis Cluster safe) and reads the Redis server's clock
(``TIME``). The numbers passed in ``ARGV`` mirror the in-memory objects' fields and the
tuning constants of ``ailib.reliability`` (see each script's ARGV line).

**Values are checked as they are read.** Another program (or a bug, or a person with
``redis-cli``) may leave anything in a key: a value that is not a finite number, a
negative count, a factor outside (0, 1], a time further ahead than the state could ever
reserve (``open_until=1e308``), an unknown breaker state, a key that is not a hash. Such a
field is deleted and ignored (as if absent: no hold, a closed breaker, a whole rate), and
every script returns ``{bad fields, result}`` so the store logs one warning per key kind.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable

from ...reliability.ratelimit import MAX_HOLD

__all__ = ["Scripts"]

log = logging.getLogger("ailib")

# Every script runs as ``main`` inside this frame: ``bad`` collects the names of fields that
# were unreadable or absurd (each deleted when found), returned beside the result.
_FRAME = """
local bad = {}
local function main()
BODY
end
local result = main()
return {table.concat(bad, ' '), result}
"""

_PRELUDE = """
if redis.replicate_commands then redis.replicate_commands() end -- TIME before writes on Redis < 5
local key = KEYS[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local function fmt(x) return string.format('%.17g', x) end
local kind = redis.call('TYPE', key)
kind = type(kind) == 'table' and kind.ok or kind
if kind ~= 'none' and kind ~= 'hash' then
  bad[#bad + 1] = '(a ' .. kind .. ', not a hash)'
  redis.call('DEL', key)
end
-- a field's number when it is finite and within [lo, hi]; otherwise the field is deleted,
-- noted in bad, and read as absent (nil)
local function num(f, v, lo, hi)
  if v == nil or v == false then return nil end
  local x = tonumber(v)
  if x ~= nil and x == x and x > -math.huge and x < math.huge and (lo == nil or x >= lo) and (hi == nil or x <= hi) then
    return x
  end
  bad[#bad + 1] = f
  redis.call('HDEL', key, f)
  return nil
end
local function int(f, v)
  local x = num(f, v, 0, nil)
  if x ~= nil and x ~= math.floor(x) then
    bad[#bad + 1] = f
    redis.call('HDEL', key, f)
    return nil
  end
  return x
end
-- a window slice "<slice index> <count> <count>": nil (deleted, noted) unless three numbers, counts >= 0
local function slice(f, v)
  if v == nil or v == false then return nil end
  local i, a, b = string.match(v, '^(%S+) (%S+) (%S+)$')
  i, a, b = tonumber(i), tonumber(a), tonumber(b)
  local ok = i ~= nil and a ~= nil and b ~= nil and i == i and a == a and b == b
  if ok and i > -math.huge and i < math.huge and a >= 0 and b >= 0 and a < math.huge and b < math.huge then return v end
  bad[#bad + 1] = f
  redis.call('HDEL', key, f)
  return nil
end
local function load()
  local raw = redis.call('HGETALL', key)
  local h = {}
  for i = 1, #raw, 2 do h[raw[i]] = raw[i + 1] end
  return h
end
"""

# -- limiter: ARGV numbers mirror RateLimiter's fields; times are server seconds --
_LIMITER = (
    _PRELUDE
    + """
local function at(f, v) return num(f, v, nil, now + """
    + repr(2 * MAX_HOLD)
    + """) end  -- no limiter time is that far ahead
local function rate(v) return num('factor', v, 1e-9, 1) end
local function expire(ttl, a, b, c)
  local last = now
  if a and a > last then last = a end
  if b and b > last then last = b end
  if c and c > last then last = c end
  redis.call('PEXPIRE', key, math.ceil((ttl + last - now) * 1000))
end
"""
)

# ARGV: req_interval|'', req_tau, tok_interval|'', tok_tau, tokens, max_wait, eps, ttl
_LIMITER_ACQUIRE = (
    _LIMITER
    + """
local h = redis.call('HMGET', key, 'tat_req', 'tat_tok', 'hold', 'factor')
local tat_req, tat_tok, hold = at('tat_req', h[1]), at('tat_tok', h[2]), at('hold', h[3])
local factor = rate(h[4]) or 1
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
)

# ARGV: extra tokens (actual - estimated), tok_interval, ttl
_LIMITER_RECONCILE = (
    _LIMITER
    + """
local h = redis.call('HMGET', key, 'tat_tok', 'factor', 'tat_req', 'hold')
local factor = rate(h[2]) or 1
local tat = math.max(at('tat_tok', h[1]) or now, now) + tonumber(ARGV[1]) * tonumber(ARGV[2]) / factor
redis.call('HSET', key, 'tat_tok', fmt(tat))
expire(tonumber(ARGV[3]), tat, at('tat_req', h[3]), at('hold', h[4]))
return 1
"""
)

# ARGV: decrease, min_factor, cooldown, retry_after|'', max_hold, req_interval|'', req_tau, ttl
_LIMITER_RATE_LIMITED = (
    _LIMITER
    + """
local h = redis.call('HMGET', key, 'factor', 'last_dec', 'hold', 'tat_req', 'tat_tok')
local factor = rate(h[1]) or 1
local last_dec = at('last_dec', h[2])
if last_dec == nil or now - last_dec >= tonumber(ARGV[3]) then
  factor = math.max(tonumber(ARGV[2]), factor * tonumber(ARGV[1]))
  redis.call('HSET', key, 'factor', fmt(factor), 'last_dec', fmt(now))
end
local hold = at('hold', h[3])
local retry_after = tonumber(ARGV[4])
if retry_after and retry_after > 0 then
  hold = math.max(hold or -math.huge, now + math.min(retry_after, tonumber(ARGV[5])))
  redis.call('HSET', key, 'hold', fmt(hold))
end
local tat_req = at('tat_req', h[4])
local req_i = tonumber(ARGV[6])
if req_i then
  local step = req_i / factor
  local start = math.max(now, hold or now)
  tat_req = math.max(tat_req or -math.huge, start + math.max(tonumber(ARGV[7]), step) - step)
  redis.call('HSET', key, 'tat_req', fmt(tat_req))
end
expire(tonumber(ARGV[8]), tat_req, at('tat_tok', h[5]), hold)
return fmt(factor)
"""
)

# ARGV: increase
_LIMITER_SUCCESS = (
    _LIMITER
    + """
local factor = rate(redis.call('HGET', key, 'factor'))
if factor and factor < 1 then
  factor = math.min(1, factor + tonumber(ARGV[1]))
  redis.call('HSET', key, 'factor', fmt(factor))
end
return fmt(factor or 1)
"""
)

# ARGV: seconds, max_hold, ttl
_LIMITER_HOLD = (
    _LIMITER
    + """
local h = redis.call('HMGET', key, 'hold', 'tat_req', 'tat_tok')
local hold = math.max(at('hold', h[1]) or -math.huge, now + math.min(tonumber(ARGV[1]), tonumber(ARGV[2])))
redis.call('HSET', key, 'hold', fmt(hold))
expire(tonumber(ARGV[3]), hold, at('tat_req', h[2]), at('tat_tok', h[3]))
return 1
"""
)

# -- breaker --
# Every breaker script's last ARGV: how far ahead of now ``open_until`` can legitimately be
# (the policy's longest open period); a probe's expiry may be up to an hour ahead, or that.
# Anything later is ignored as absurd.
_BREAKER = (
    _PRELUDE
    + """
local horizon = now + tonumber(ARGV[#ARGV])
local probe_horizon = now + math.max(tonumber(ARGV[#ARGV]), 3600) -- a probe's timeout is its call's (other processes' too)
local STATES = {closed = true, open = true, half_open = true}
local function state_of(v)
  if v == nil or v == false then return nil end
  if STATES[v] then return v end
  bad[#bad + 1] = 'state'
  redis.call('HDEL', key, 'state')
  return nil
end
local function clean(h)
  h.state = state_of(h.state)
  h.gen = int('gen', h.gen)
  h.consec = int('consec', h.consec)
  h.next_pid = int('next_pid', h.next_pid)
  h.open_until = num('open_until', h.open_until, nil, horizon)
  for f, v in pairs(h) do
    local p = string.sub(f, 1, 2)
    if p == 'p:' then
      h[f] = num(f, v, nil, probe_horizon)
    elseif p == 'w:' then
      h[f] = slice(f, v)
    end
  end
  return h
end
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
)

# ARGV: probe_timeout, half_open_max_calls, ttl_ms, horizon
# -> {'ok'|'probe'|'open', generation, probe_id|'', expires_at|'', retry_after|'', old, new, ...}
_BREAKER_ACQUIRE = (
    _BREAKER
    + """
local s = redis.call('HMGET', key, 'state', 'gen', 'open_until', 'isolated')
local state = state_of(s[1]) or 'closed'
local gen = int('gen', s[2]) or 0
if state == 'closed' then return {'ok', gen} end
if state == 'open' then
  if s[4] then return {'open', gen, '', '', ''} end
  local open_until = num('open_until', s[3], nil, horizon) or 0
  if now < open_until then return {'open', gen, '', '', fmt(open_until - now)} end
end
local h = clean(load())
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
)

# ARGV: op (success|failure|release), generation, probe_id|'', failure_threshold,
#       failure_ratio|'', slice width, slices, min_calls, open_for, eps, ttl_ms, horizon -> {old, new, ...}
_BREAKER_RECORD = (
    _BREAKER
    + """
local h = clean(load())
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
)

# ARGV: open_for, ttl_ms, horizon -> {old, new}
_BREAKER_ISOLATE = (
    _BREAKER
    + """
local h = clean(load())
redis.call('HSET', key, 'isolated', '1')
h.isolated = '1'
transition(h, 'open', tonumber(ARGV[1]))
touch(h, ARGV[2])
return trans
"""
)

# ARGV: ttl_ms, horizon -> {old, new}
_BREAKER_RESET = (
    _BREAKER
    + """
local h = clean(load())
redis.call('HDEL', key, 'isolated')
h.isolated = nil
transition(h, 'closed', 0)
touch(h, ARGV[1])
return trans
"""
)

# ARGV: horizon -> {state as of now, isolated 0|1}
_BREAKER_STATE = (
    _BREAKER
    + """
local s = redis.call('HMGET', key, 'state', 'open_until', 'isolated')
local state = state_of(s[1]) or 'closed'
if state == 'open' and not s[3] and now >= (num('open_until', s[2], nil, horizon) or 0) then state = 'half_open' end
return {state, s[3] and 1 or 0}
"""
)

# -- budget -- ARGV: op (call|spend|available), ratio, floor, slice width, slices, eps, ttl_ms
_BUDGET = (
    _PRELUDE
    + """
local h = load()
local width, n = tonumber(ARGV[4]), tonumber(ARGV[5])
local idx = math.floor(now / width)
local slot = idx % n
local calls, spent, cur_c, cur_s = 0, 0, 0, 0
for k = 0, n - 1 do
  local v = slice(tostring(k), h[tostring(k)])
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
)


class Scripts:
    """The registered Lua scripts of one Redis client (EVALSHA, reloaded on NOSCRIPT).

    Each is called as before (``keys=``, ``args=``) and returns its script's result; the
    fields a script found unreadable or absurd (and deleted) are logged: one warning per
    key kind (limiter, breaker, budget) for the life of the store, never per call.
    """

    def __init__(self, client: Any, where: str = "") -> None:
        reg = client.register_script
        self.client = client
        self._where = where
        self._warned: set[str] = set()
        self._lock = threading.Lock()

        def script(kind: str, body: str) -> Callable[..., Any]:
            run = reg(_FRAME.replace("BODY", body, 1))

            def call(keys: list[str], args: Any = ()) -> Any:
                bad, result = run(keys=keys, args=list(args))
                if bad:
                    self.ignored(kind, keys[0], bad.decode() if isinstance(bad, bytes) else str(bad))
                return result

            return call

        self.limiter_acquire = script("limiter", _LIMITER_ACQUIRE)
        self.limiter_reconcile = script("limiter", _LIMITER_RECONCILE)
        self.limiter_rate_limited = script("limiter", _LIMITER_RATE_LIMITED)
        self.limiter_success = script("limiter", _LIMITER_SUCCESS)
        self.limiter_hold = script("limiter", _LIMITER_HOLD)
        self.breaker_acquire = script("breaker", _BREAKER_ACQUIRE)
        self.breaker_record = script("breaker", _BREAKER_RECORD)
        self.breaker_isolate = script("breaker", _BREAKER_ISOLATE)
        self.breaker_reset = script("breaker", _BREAKER_RESET)
        self.breaker_state = script("breaker", _BREAKER_STATE)
        self.budget = script("budget", _BUDGET)

    def ignored(self, kind: str, key: str, fields: str) -> None:
        """Log, once per ``kind``, that values read from ``key`` were ignored (and removed)."""
        with self._lock:
            first = kind not in self._warned
            self._warned.add(kind)
        if first:
            log.warning(
                "Redis state store %s: ignored unreadable or absurd values in %s key %r (%s); they were removed and "
                "the state read as if they were absent. Later ones in %s keys are ignored without a warning.",
                self._where,
                kind,
                key,
                fields,
                kind,
            )
        else:
            log.debug("Redis state store %s: ignored unreadable or absurd values in %s key %r (%s)", self._where, kind, key, fields)

    def after_fork(self) -> None:
        """In a forked child: a fresh lock (the parent's may have been held)."""
        self._lock = threading.Lock()
