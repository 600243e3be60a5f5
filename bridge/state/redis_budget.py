"""``RedisLedger``: the books of the shared rate budget on the state store's Redis server.

Every instance of one deployment (``[serve] state = "redis://…"``) keeps to one budget
per app and API. Each ``exchange`` (``bridge.dingtalk.ledger``) is one call of the
``EXCHANGE`` Lua script below, which Redis runs atomically; a caller needs one when a
slot is free at once, one more each time it wakes up to try again, and one when its
call was answered. Keys (``P`` is ``[serve] state_prefix``; ``L`` is
``P budget:<app>:<operation>``):

======================  ======  =======================================================
key                     type    holds
======================  ======  =======================================================
``L:slots``             zset    slot id → when it stops counting: the grant plus
                                ``flight`` while its call is out, its answer plus
                                ``hold`` once answered
``L:urgent``            zset    ticket → when its reply started (``now - age``)
``L:normal``            zset    ticket → when it arrived
``L:seen``              zset    holder → when it last asked for a slot of the lane: its
                                tickets count while that is less than ``lease`` ago
``L:pause``             string  until when nobody starts a call (a rate-limit answer);
                                expires by itself
``P budget:members``    zset    holder → when it last used the budget (any lane)
======================  ======  =======================================================

Times are the Redis server's clock (``TIME``) in seconds, so hosts need not agree on
theirs. Every key expires ``flight`` + 60 s after its last write, so an idle lane leaves
nothing behind. A ticket is ``<holder>|<counter>``; ties in a zset sort by member, so
two tickets of one instance with the same score keep their arrival order.

The turn rule, as in the local budget: a ticket is granted when the lane is not paused
and fewer live tickets are ahead of it than there are free slots; urgent tickets are
all ahead of normal ones. Tickets of a holder that has not asked for ``lease`` seconds
(a dead instance) are deleted as they are met. When the ticket must wait, the script
says for how long at least: until the pause ends, or until as many slots have freed as
there are tickets ahead beyond the free ones (a slot still in flight frees no sooner
than ``hold`` from now).
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeout

from bridge.dingtalk.ledger import Answer, Request
from bridge.errors import StateError
from bridge.state.redis import shown_url

__all__ = ["EXCHANGE", "RedisLedger"]

#: Seconds every key outlives its last write, beyond ``flight``.
KEEP = 60.0

# KEYS: slots, urgent, normal, seen, pause, members.
# ARGV: holder, limit, hold, flight, lease, active window, member ttl, keep, pause,
#       ticket ('' for none), urgent (1/0), age, score ('' for a new ticket),
#       number of carries, then (slot, ago (-1: in flight), known (1/0)) each, then drops.
# → {granted (1, 0, or -1 without a ticket), score, wait, active, members, now}
EXCHANGE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local function num(x) return string.format('%.6f', x) end
local holder, limit, hold = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local flight, lease = tonumber(ARGV[4]), tonumber(ARGV[5])
local keep = math.ceil(tonumber(ARGV[8]) * 1000)
local slots, urgent_q, normal_q, seen, pause, members = unpack(KEYS)

redis.call('ZADD', members, num(now), holder)
redis.call('ZREMRANGEBYSCORE', members, '-inf', num(now - tonumber(ARGV[7])))
redis.call('PEXPIRE', members, keep)
local active = redis.call('ZCOUNT', members, num(now - tonumber(ARGV[6])), '+inf')
local member_count = redis.call('ZCARD', members)

local pause_for = tonumber(ARGV[9])
if pause_for > 0 and tonumber(redis.call('GET', pause) or '0') < now + pause_for then
  redis.call('SET', pause, num(now + pause_for), 'PX', math.ceil(pause_for * 1000) + 1000)
end

local carries = tonumber(ARGV[14])
for i = 0, carries - 1 do
  local id, ago, known = ARGV[15 + 3 * i], tonumber(ARGV[16 + 3 * i]), ARGV[17 + 3 * i]
  local ends = now + flight
  if ago >= 0 then ends = now - ago + hold end
  if ends <= now then
    redis.call('ZREM', slots, id)
  elseif known == '1' then
    redis.call('ZADD', slots, 'XX', num(ends), id)
  else
    redis.call('ZADD', slots, num(ends), id)
  end
end
for i = 15 + 3 * carries, #ARGV do
  redis.call('ZREM', urgent_q, ARGV[i])
  redis.call('ZREM', normal_q, ARGV[i])
end
redis.call('ZREMRANGEBYSCORE', slots, '-inf', num(now))
redis.call('PEXPIRE', slots, keep)

local ticket = ARGV[10]
if ticket == '' then return {-1, '', '0', active, member_count, num(now)} end
local urgent = ARGV[11] == '1'
local queue = normal_q
local score = ARGV[13]
if urgent then queue = urgent_q end
if score == '' then
  score = num(now)
  if urgent then score = num(now - tonumber(ARGV[12])) end
end
redis.call('ZADD', queue, 'NX', score, ticket)
redis.call('ZADD', seen, num(now), holder)
redis.call('PEXPIRE', queue, keep)
redis.call('PEXPIRE', seen, keep)

local live = {}
local function alive(member)
  local who = string.sub(member, 1, string.find(member, '|', 1, true) - 1)
  if live[who] == nil then
    local last = redis.call('ZSCORE', seen, who)
    live[who] = last ~= false and tonumber(last) > now - lease
  end
  return live[who]
end
-- Live tickets ahead of ours in q, counting at most cap; deletes dead ones on the way.
local function ahead_in(q, cap)
  local count, index = 0, 0
  while count < cap do
    local member = redis.call('ZRANGE', q, index, index)[1]
    if not member then return count, false end
    if member == ticket then return count, true end
    if alive(member) then
      count, index = count + 1, index + 1
    else
      redis.call('ZREM', q, member)
    end
  end
  return count, false
end

local used = redis.call('ZCARD', slots)
local free = limit - used
local cap = math.max(free, 0) + limit
local ahead, found = ahead_in(urgent_q, cap)
if not urgent and not found and ahead < cap then
  local more
  more, found = ahead_in(normal_q, cap - ahead)
  ahead = ahead + more
end
local paused = tonumber(redis.call('GET', pause) or '0')
if paused <= now and found and ahead < free then
  redis.call('ZREM', queue, ticket)
  redis.call('ZADD', slots, num(now + flight), ticket)
  return {1, score, '0', active, member_count, num(now)}
end
local wait = hold
if paused > now then
  wait = paused - now
elseif found then
  local need = ahead - free + 1
  if need <= used then
    local nth = redis.call('ZRANGE', slots, need - 1, need - 1, 'WITHSCORES')
    wait = math.min(tonumber(nth[2]) - now, hold)
  end
end
return {0, score, num(wait), active, member_count, num(now)}
"""


class RedisLedger:
    """``Ledger`` on a Redis server; ``async with RedisLedger(url) as ledger``.

    It has a small connection pool of its own (``connections``; a caller waits for a
    free connection rather than opening more) and a short ``timeout`` per command: a
    budget that cannot answer quickly is treated as away (``SharedBudget`` then falls
    back to a local share). Like ``RedisStore`` it never retries by itself, and every
    failure becomes a ``StateError`` naming the server (password masked).
    """

    def __init__(
        self, url: str, *, prefix: str = "bridge:", timeout: float = 2.0, connections: int = 16
    ) -> None:
        self._url = url
        self._where = shown_url(url)
        self._prefix = prefix
        self._timeout = timeout
        self._connections = connections
        self._redis: Redis | None = None
        self._pool: BlockingConnectionPool | None = None

    async def __aenter__(self) -> RedisLedger:
        try:
            pool = BlockingConnectionPool.from_url(
                self._url,
                max_connections=self._connections,
                timeout=self._timeout,
                decode_responses=True,
                socket_timeout=self._timeout,
                socket_connect_timeout=self._timeout,
                retry=Retry(NoBackoff(), 0),
            )
        except ValueError as exc:  # a malformed URL
            raise StateError(f"is not a usable Redis URL: {exc}", location=self._where) from exc
        self._pool = pool
        self._redis = Redis(connection_pool=pool)
        self._script = self._redis.register_script(EXCHANGE)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:  # idempotent
        redis, self._redis = self._redis, None
        pool, self._pool = self._pool, None
        if redis is not None:
            await redis.aclose()
        if pool is not None:
            await pool.aclose()

    def lane_key(self, app: str, operation: str) -> str:
        """The prefix of one lane's keys (``L`` in the module docstring)."""
        return f"{self._prefix}budget:{app}:{operation}"

    async def exchange(self, app: str, operation: str, request: Request) -> Answer:
        """Run ``request`` on the lane in one script call (see the module docstring)."""
        if self._redis is None:
            raise RuntimeError("RedisLedger used outside its 'async with' block")
        lane = self.lane_key(app, operation)
        keys = [f"{lane}:{name}" for name in ("slots", "urgent", "normal", "seen", "pause")]
        keys.append(f"{self._prefix}budget:members")
        try:
            raw = await self._script(keys=keys, args=_args(request))
        except RedisTimeout as exc:
            raise StateError(f"timed out after {self._timeout:g} s", location=self._where) from exc
        except (RedisError, OSError) as exc:
            raise StateError(f"failed: {exc}", location=self._where) from exc
        granted, score, wait, active, members, at = raw
        return Answer(
            granted=int(granted) == 1,
            score=float(score) if score else None,
            wait=max(0.0, float(wait)),
            active=int(active),
            members=int(members),
            at=float(at),
        )


def _args(request: Request) -> list[Any]:
    terms, ticket = request.terms, request.ticket
    args: list[Any] = [
        request.holder,
        terms.limit,
        repr(terms.hold),
        repr(terms.flight),
        repr(terms.lease),
        repr(terms.active_window),
        repr(terms.member_ttl),
        repr(terms.flight + KEEP),
        repr(max(0.0, request.pause)),
    ]
    if ticket is None:
        args += ["", 0, "0", ""]
    else:
        score = "" if ticket.score is None else f"{ticket.score:.6f}"
        args += [ticket.id, 1 if ticket.urgent else 0, repr(max(0.0, ticket.age)), score]
    args.append(len(request.carries))
    for carry in request.carries:
        ago = -1.0 if carry.ago is None else max(0.0, carry.ago)
        args += [carry.slot, repr(ago), 1 if carry.known else 0]
    args += list(request.drops)
    return args
