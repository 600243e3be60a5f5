"""The Lua scripts behind ``RedisStore``: each multi-step operation is one atomic script.

Redis runs a script as one command: no other client's command runs in between, so each
of these is as atomic as a SQLite transaction (``bridge.state.base`` says what each
operation promises). Keys (``P`` is the configured prefix, ``bridge:`` by default):

=====================  ======  ========================================================
key                    type    holds
=====================  ======  ========================================================
``P seq``              string  the store's counter: arrival order of Turns and messages
``P journal``          hash    turn id → the journaled Turn (JSON: lane, payload, ...)
``P order``            zset    turn id → seq: the whole journal in arrival order
``P lane:<lane>``      zset    turn id → seq: one conversation's Turns in arrival order
``P lanes``            hash    lane → its owner (instance id), while it has Turns
``P seen:<key>``       string  ``"<at>|<turn id>"``: a claimed delivery id (hashed);
                               no expiry while its Turn waits, ``dedup_ttl`` + 60 s
                               after it is finished (``"<at>|"``)
``P history:<key>``    list    ``"<at>|<JSON>"`` exchanges, oldest first; expires
                               ``[memory] ttl`` after its last write
``P history-due``      zset    history key → time of its oldest exchange, so a write
                               trims every conversation's expired exchanges
``P open``             hash    message id → an open message (JSON, no owner)
``P open:owner``       hash    message id → the instance streaming it
``P open:seq``         hash    message id → seq, the order messages opened in
``P instances``        hash    instance id → its record (JSON: role, pid, host, start)
``P leases``           hash    instance id → ``lease_until`` (epoch seconds)
=====================  ======  ========================================================

An owner is live while ``P leases`` has its id with a ``lease_until`` after the ``now``
the caller passes; "" is nobody. Times are decimal strings; the scripts compare them as
numbers. A script builds the name of a key it only learns while running (a lane's zset,
a claim) from the prefix: fine on one Redis server, which is what bridge supports (a
Redis Cluster would need every key in one hash slot).
"""

from __future__ import annotations

__all__ = [
    "ADMIT",
    "ADOPT_MESSAGES",
    "ADOPT_TURNS",
    "FINISH",
    "NEXT_TURN",
    "OPENED",
    "REGISTER",
    "REMEMBER",
    "RENEW",
    "SEEN_SLACK",
]

SEEN_SLACK = 60
"""Seconds a finished Turn's claim outlives ``dedup_ttl`` in Redis, as a margin: the claim
itself says when it was made, and ``admit`` compares that with ``now``."""

_LIVE = """
local function live(leases, id, now)
  if not id or id == '' then return false end
  local lease = redis.call('HGET', leases, id)
  return lease and tonumber(lease) > now
end
"""

# KEYS: journal, order, lanes, seq, lane zset, claim keys...
# ARGV: turn id, lane, owner, now, dedup_ttl, max_per_lane, max_total, entry JSON
ADMIT = """
local now, ttl = tonumber(ARGV[4]), tonumber(ARGV[5])
for i = 6, #KEYS do
  local claim = redis.call('GET', KEYS[i])
  if claim then
    local bar = string.find(claim, '|', 1, true)
    local at, turn = tonumber(string.sub(claim, 1, bar - 1)), string.sub(claim, bar + 1)
    if at >= now - ttl or (turn ~= '' and redis.call('HEXISTS', KEYS[1], turn) == 1) then
      return 'duplicate'
    end
  end
end
if redis.call('ZCARD', KEYS[5]) >= tonumber(ARGV[6]) then return 'lane_full' end
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[7]) then return 'full' end
if redis.call('ZCARD', KEYS[5]) == 0 then
  redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])  -- an empty lane: the admitter owns it
end
local seq = redis.call('INCR', KEYS[4])
for i = 6, #KEYS do redis.call('SET', KEYS[i], ARGV[4] .. '|' .. ARGV[1]) end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[8])
redis.call('ZADD', KEYS[2], seq, ARGV[1])
redis.call('ZADD', KEYS[5], seq, ARGV[1])
return 'admitted'
"""

# KEYS: journal, order, lanes.  ARGV: turn id, now, prefix.
FINISH = f"""
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
local entry = cjson.decode(raw)
local lane = ARGV[3] .. 'lane:' .. entry.lane
redis.call('ZREM', lane, ARGV[1])
if redis.call('ZCARD', lane) == 0 then redis.call('HDEL', KEYS[3], entry.lane) end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
local expire = math.ceil(tonumber(entry.dedup_ttl)) + {SEEN_SLACK}
for _, key in ipairs(entry.keys) do
  local seen = ARGV[3] .. 'seen:' .. key
  if redis.call('EXISTS', seen) == 1 then
    redis.call('SET', seen, ARGV[2] .. '|', 'EX', expire)
  end
end
return 1
"""

# KEYS: lanes, journal.  ARGV: lane, owner, prefix.  → {turn id, entry JSON, seq} or nil
NEXT_TURN = """
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return false end
local head = redis.call('ZRANGE', ARGV[3] .. 'lane:' .. ARGV[1], 0, 0, 'WITHSCORES')
if #head == 0 then return false end
return {head[1], redis.call('HGET', KEYS[2], head[1]), head[2]}
"""

# KEYS: lanes, leases, journal.  ARGV: owner, now, prefix.
# → {turn id, entry JSON, ...} of every lane whose owner is not live, in arrival order.
ADOPT_TURNS = f"""{_LIVE}
local now = tonumber(ARGV[2])
local lanes = redis.call('HGETALL', KEYS[1])
local picked = {{}}
for i = 1, #lanes, 2 do
  if not live(KEYS[2], lanes[i + 1], now) then
    redis.call('HSET', KEYS[1], lanes[i], ARGV[1])
    local ids = redis.call('ZRANGE', ARGV[3] .. 'lane:' .. lanes[i], 0, -1, 'WITHSCORES')
    for j = 1, #ids, 2 do picked[#picked + 1] = {{tonumber(ids[j + 1]), ids[j]}} end
  end
end
table.sort(picked, function(a, b) return a[1] < b[1] end)
local out = {{}}
for _, p in ipairs(picked) do
  out[#out + 1] = p[2]
  out[#out + 1] = redis.call('HGET', KEYS[3], p[2])
end
return out
"""

# KEYS: open, open:owner, open:seq, seq.  ARGV: message id, message JSON, owner.
OPENED = """
if redis.call('HEXISTS', KEYS[3], ARGV[1]) == 0 then
  redis.call('HSET', KEYS[3], ARGV[1], redis.call('INCR', KEYS[4]))
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return 1
"""

# KEYS: open:owner, leases, open, open:seq.  ARGV: owner, now.
# → {message id, message JSON, seq, ...} of every message whose owner is not live.
ADOPT_MESSAGES = f"""{_LIVE}
local now = tonumber(ARGV[2])
local owners = redis.call('HGETALL', KEYS[1])
local out = {{}}
for i = 1, #owners, 2 do
  if not live(KEYS[2], owners[i + 1], now) then
    redis.call('HSET', KEYS[1], owners[i], ARGV[1])
    out[#out + 1] = owners[i]
    out[#out + 1] = redis.call('HGET', KEYS[3], owners[i])
    out[#out + 1] = redis.call('HGET', KEYS[4], owners[i])
  end
end
return out
"""

# KEYS: instances, leases.  ARGV: id, record JSON, lease_until, now, exclusive (1/0), role.
# → nil, or {id, record JSON, lease_until} of the oldest live holder of the role.
REGISTER = """
local now = tonumber(ARGV[4])
if ARGV[5] == '1' then
  local best, best_start, best_raw, best_lease = nil, nil, nil, nil
  local leases = redis.call('HGETALL', KEYS[2])
  for i = 1, #leases, 2 do
    local id, lease = leases[i], leases[i + 1]
    if id ~= ARGV[1] and tonumber(lease) > now then
      local raw = redis.call('HGET', KEYS[1], id)
      if raw then
        local record = cjson.decode(raw)
        if record.role == ARGV[6] and (best == nil or record.started_at < best_start) then
          best, best_start, best_raw, best_lease = id, record.started_at, raw, lease
        end
      end
    end
  end
  if best then return {best, best_raw, best_lease} end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return false
"""

# KEYS: instances, leases.  ARGV: id, lease_until.  → 1 renewed, 0 no record
RENEW = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 1
"""

# KEYS: history key, history-due.
# ARGV: "<at>|<JSON>", limit, now, ttl, expire seconds, how many other keys to sweep.
# Appends, keeps the newest ``limit``, drops expired exchanges (oldest first) of this key
# and of up to ARGV[6] other keys whose oldest exchange expired.
REMEMBER = """
local now, ttl, limit = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[2])
local function at_of(item)
  return tonumber(string.sub(item, 1, string.find(item, '|', 1, true) - 1))
end
local function trim(key)
  while true do
    local first = redis.call('LINDEX', key, 0)
    if not first then redis.call('ZREM', KEYS[2], key) return end
    if at_of(first) >= now - ttl then
      redis.call('ZADD', KEYS[2], at_of(first), key)
      return
    end
    redis.call('LPOP', key)
  end
end
if limit > 0 then
  redis.call('RPUSH', KEYS[1], ARGV[1])
  redis.call('LTRIM', KEYS[1], -limit, -1)
  redis.call('EXPIRE', KEYS[1], ARGV[5])
else
  redis.call('DEL', KEYS[1])
end
trim(KEYS[1])
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. (now - ttl), 'LIMIT', 0, ARGV[6])
for _, key in ipairs(due) do trim(key) end
return 1
"""
