"""Where :class:`~transfer_fsm.store.redis.RedisStore` keeps things, and the scripts it runs.

Every call belongs to one of ``shards`` shards (CRC-32 of its id, modulo
``shards``), and every key of a shard carries the shard's hash tag
``{<prefix><n>}``, so Redis Cluster puts them in one hash slot. What one write
touches is then in one slot, and one Lua script writes it all atomically
(the compare-and-set below), on a single server and on a Cluster alike:

- ``{tag}:call:<id>``: the call's snapshot (its tombstone once ended);
- ``{tag}:in_flight``: a sorted set of the shard's live calls with an attempt in
  flight, scored by when (the server's clock) the attempt went in flight;
- ``{tag}:heard``: a sorted set of the shard's live calls, scored by the time
  (the server's clock) an event last reached them;
- ``{tag}:legs:<id>``: a set of the consultation calls the call's requests named;
- ``{tag}:journal``: a stream of the shard's milestones (``journal=True``);
- ``{tag}:written:<id>:<token>``: the milestone keys a write with milestones
  committed, kept ``token_ttl`` seconds, so its writer can tell it landed.

The consultative link ``{tag'}:link:<consultation id>`` lives in the
consultation call's shard (read from that id alone), so it is written in a
command of its own just *before* the primary's script: a link whose primary
never took the request reads as unrelated, never as a missing link.
"""

from __future__ import annotations

import zlib
from typing import NamedTuple

SHARDS = 16
"""The default number of shards: fixed for the life of the data a prefix holds."""

APPLY = """
if redis.replicate_commands then redis.replicate_commands() end
local current = redis.call('GET', KEYS[1])
if not current then current = '' end
if ARGV[11] ~= '' then
  local record = redis.call('GET', KEYS[6])
  if record and string.sub(record, 1, #ARGV[11] + 1) == ARGV[11] .. '\\n' then return {2} end
end
if current ~= ARGV[2] then return {0, current} end
local now = redis.call('TIME')
now = tonumber(now[1]) + tonumber(now[2]) / 1000000
if ARGV[3] == '' then
  if ARGV[6] == '1' then redis.call('ZADD', KEYS[4], now, ARGV[1]) end
  return {1}
end
if ARGV[4] == '' then
  redis.call('SET', KEYS[1], ARGV[3])
else
  redis.call('SET', KEYS[1], ARGV[3], 'EX', ARGV[4])
end
if ARGV[5] == '1' then redis.call('ZADD', KEYS[3], 'NX', now, ARGV[1])
else redis.call('ZREM', KEYS[3], ARGV[1]) end
if ARGV[6] == '1' then redis.call('ZADD', KEYS[4], now, ARGV[1])
else redis.call('ZREM', KEYS[4], ARGV[1]) end
if ARGV[7] ~= '' then redis.call('SADD', KEYS[5], ARGV[7]) end
if ARGV[9] == '1' then
  for i = 12, #ARGV, 2 do
    redis.call('XADD', KEYS[2], '*', 'call_id', ARGV[1], 'milestone', ARGV[i], 'key', ARGV[i + 1])
  end
end
if ARGV[10] ~= '' then redis.call('SET', KEYS[6], ARGV[11] .. '\\n' .. ARGV[10], 'EX', ARGV[8]) end
if ARGV[4] ~= '' then
  redis.call('EXPIRE', KEYS[5], ARGV[4])
  return {1, redis.call('SMEMBERS', KEYS[5])}
end
return {1}
"""
"""Compare-and-set one call and everything kept with it; see :func:`apply_args`.

Answers ``{1}`` (done; with the call's legs when it now expires), ``{0, current}``
(the call is not as expected: here is what it is) or ``{2}`` (this very write,
by its nonce ``ARGV[11]``, is already recorded: a client's resend of a write that
landed). A write with milestones records ``<nonce>\\n<keys>`` under its token."""

DELETE = """
local existed = redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
local legs = redis.call('SMEMBERS', KEYS[4])
redis.call('DEL', KEYS[4])
return {existed, legs}
"""
"""Forget a call: its snapshot, its index entries and its legs (returned, to unlink)."""

OLDEST = """
local now = redis.call('TIME')
now = tonumber(now[1]) + tonumber(now[2]) / 1000000
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - tonumber(ARGV[1])),
  'WITHSCORES', 'LIMIT', 0, ARGV[2])
"""
"""The oldest ``ARGV[2]`` members of the sorted set ``KEYS[1]`` (the heard or the in-flight
index) scored more than ``ARGV[1]`` seconds ago by the server's clock, with their scores."""

IF_LINKED = (
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
    "if ARGV[2] == '' then return redis.call('DEL', KEYS[1]) end "
    "return redis.call('EXPIRE', KEYS[1], ARGV[2]) end return 0"
)
"""Expire (``ARGV[2]`` seconds) or delete (``''``) link ``KEYS[1]`` while it names ``ARGV[1]``."""


class Keys(NamedTuple):
    """The key names of one store: its ``prefix`` and number of ``shards``."""

    prefix: str
    shards: int

    def shard(self, call_id: str) -> int:
        """The shard call ``call_id`` belongs to."""
        return zlib.crc32(call_id.encode("utf-8", "surrogatepass")) % self.shards

    def tag(self, shard: int) -> str:
        """The hash tag of ``shard``'s keys: one Cluster hash slot."""
        return f"{{{self.prefix}{shard}}}"

    def call(self, call_id: str) -> str:
        """The key of the call's snapshot."""
        return f"{self.tag(self.shard(call_id))}:call:{call_id}"

    def link(self, consultation_id: str) -> str:
        """The key naming the primary call linked to ``consultation_id``."""
        return f"{self.tag(self.shard(consultation_id))}:link:{consultation_id}"

    def legs(self, call_id: str) -> str:
        """The set of consultation calls ``call_id``'s requests named."""
        return f"{self.tag(self.shard(call_id))}:legs:{call_id}"

    def written(self, call_id: str, token: str) -> str:
        """The record of the write to ``call_id`` named ``token`` (in the call's shard)."""
        return f"{self.tag(self.shard(call_id))}:written:{call_id}:{token}"

    def journal(self, shard: int) -> str:
        """The shard's milestone stream."""
        return f"{self.tag(shard)}:journal"

    def in_flight(self, shard: int) -> str:
        """The shard's sorted set of calls with an attempt in flight, by when it went."""
        return f"{self.tag(shard)}:in_flight"

    def heard(self, shard: int) -> str:
        """The shard's sorted set of live calls by when an event last reached them."""
        return f"{self.tag(shard)}:heard"


def check_prefix(prefix: object) -> str:
    """``prefix``, or ``ValueError`` when it cannot start a hash tag (braces, not text)."""
    if not isinstance(prefix, str) or "{" in prefix or "}" in prefix:
        raise ValueError(f"prefix must be text without braces, not {prefix!r}")
    return prefix


def check_shards(shards: object) -> int:
    """``shards``, or ``ValueError`` unless it is an int of 1 to 16384 (the hash slots)."""
    if isinstance(shards, bool) or not isinstance(shards, int) or not 1 <= shards <= 16384:
        raise ValueError(f"shards must be an int of 1 to 16384, not {shards!r}")
    return shards
