"""Keyspace notifications (``notify-keyspace-events``), as in Redis 6.2.

A handler that changed a key calls, after the change::

    notify(db, NOTIFY_STRING, b"set", key)

with the key's :class:`~pyredis.db.Database` (``client.db``, or the
destination database for MOVE), the event's class and Redis's event name.
When the class is enabled this publishes ``__keyspace@<db>__:<key>`` ->
event (class ``K``) and ``__keyevent@<db>__:<event>`` -> key (class ``E``),
in that order, through the server's pub/sub registry. When it is not (the
default), the call costs one attribute test; a hot handler may test
``db.ks.notify_flags`` itself first to skip even the call.

Classes (config letters): ``K`` keyspace channel, ``E`` keyevent channel,
``g`` generic, ``$`` string, ``l`` list, ``s`` set, ``h`` hash, ``z`` zset,
``x`` expired, ``e`` evicted, ``t`` stream, ``m`` key miss, ``d`` module;
``A`` is ``g$lshzxetd`` (everything but ``m``). Nothing is published unless
``K`` or ``E`` is set as well.

Events per command (Redis 6.2; checked against redis-server 6.2.14). The
order within one command matters: subscribers see them in this order.

* generic (``NOTIFY_GENERIC``): DEL/UNLINK ``del`` per removed key;
  EXPIRE/PEXPIRE/EXPIREAT/PEXPIREAT ``expire`` (a time in the past deletes:
  ``del``); PERSIST ``persist``; RENAME/RENAMENX ``rename_from`` (source)
  then ``rename_to`` (destination); MOVE ``move_from`` (source db) then
  ``move_to`` (destination db); COPY ``copy_to``; RESTORE ``restore``;
  GETDEL ``del``; GETEX ``expire`` / ``persist`` (``del`` for a past time);
  SET with EX/PX/EXAT/PXAT and SETEX/PSETEX: ``set`` then ``expire``.
  Any command that leaves a container empty (list, hash, set, zset) removes
  the key and sends ``del`` after its own event. STORE-style commands whose
  result is empty delete the destination and send only ``del`` (if it
  existed). FLUSHDB/FLUSHALL/SWAPDB send nothing.
* expired (``NOTIFY_EXPIRED``): ``expired`` when a key's TTL removes it,
  lazily or actively (``db.py`` does it). evicted (``NOTIFY_EVICTED``):
  ``evicted`` for each key maxmemory removes.
* key miss (``NOTIFY_KEY_MISS``): ``keymiss`` for each read lookup that
  finds nothing (``db.get`` does it, as it counts keyspace_misses).
* string (``NOTIFY_STRING``): SET/SETNX/SETEX/PSETEX/GETSET/MSET/MSETNX
  ``set`` per key written; APPEND ``append``; SETRANGE ``setrange`` (not
  when it writes nothing); INCR/DECR/INCRBY/DECRBY ``incrby``;
  INCRBYFLOAT ``incrbyfloat``; SETBIT ``setbit``; BITFIELD ``setbit`` (once,
  if it has a SET or INCRBY, even one refused by OVERFLOW FAIL); BITOP ``set`` on the destination (empty result:
  ``del`` if it existed).
* list (``NOTIFY_LIST``): LPUSH/LPUSHX ``lpush``; RPUSH/RPUSHX ``rpush``;
  LINSERT ``linsert``; LSET ``lset``; LREM ``lrem``; LTRIM ``ltrim``;
  LPOP/BLPOP ``lpop``; RPOP/BRPOP ``rpop``; RPOPLPUSH/BRPOPLPUSH and
  LMOVE/BLMOVE: the push on the destination first (``lpush``/``rpush``),
  then the pop on the source (``rpop``/``lpop``), then ``del`` if the
  source emptied; SORT ... STORE ``sortstore`` (empty result: ``del`` if
  the destination existed).
* hash (``NOTIFY_HASH``): HSET/HMSET/HSETNX ``hset``; HDEL ``hdel``;
  HINCRBY ``hincrby``; HINCRBYFLOAT ``hincrbyfloat``.
* set (``NOTIFY_SET``): SADD ``sadd``; SREM ``srem``; SPOP ``spop``; SMOVE
  ``srem`` on the source (then ``del`` if it emptied), then ``sadd`` on the
  destination; SINTERSTORE ``sinterstore``; SUNIONSTORE ``sunionstore``;
  SDIFFSTORE ``sdiffstore``.
* zset (``NOTIFY_ZSET``): ZADD ``zadd``; ZINCRBY (and ZADD INCR)
  ``zincr``; ZREM ``zrem``; ZREMRANGEBYSCORE ``zremrangebyscore``;
  ZREMRANGEBYRANK ``zremrangebyrank``; ZREMRANGEBYLEX ``zremrangebylex``;
  ZPOPMIN/BZPOPMIN ``zpopmin``; ZPOPMAX/BZPOPMAX ``zpopmax``;
  ZUNIONSTORE ``zunionstore``; ZINTERSTORE ``zinterstore``; ZDIFFSTORE
  ``zdiffstore``; ZRANGESTORE ``zrangestore``.
* stream (``NOTIFY_STREAM``): XADD ``xadd`` (then ``xtrim`` if its
  MAXLEN/MINID removed entries); XTRIM ``xtrim`` (only if it removed
  entries); XDEL ``xdel``; XSETID ``xsetid``; XGROUP CREATE
  ``xgroup-create``, CREATECONSUMER ``xgroup-createconsumer``, DELCONSUMER
  ``xgroup-delconsumer``, DESTROY ``xgroup-destroy``, SETID
  ``xgroup-setid`` (a consumer created implicitly by XREADGROUP or XCLAIM
  sends nothing).
"""

from __future__ import annotations

NOTIFY_KEYSPACE = 1 << 0    # K
NOTIFY_KEYEVENT = 1 << 1    # E
NOTIFY_GENERIC = 1 << 2     # g
NOTIFY_STRING = 1 << 3      # $
NOTIFY_LIST = 1 << 4        # l
NOTIFY_SET = 1 << 5         # s
NOTIFY_HASH = 1 << 6        # h
NOTIFY_ZSET = 1 << 7        # z
NOTIFY_EXPIRED = 1 << 8     # x
NOTIFY_EVICTED = 1 << 9     # e
NOTIFY_STREAM = 1 << 10     # t
NOTIFY_KEY_MISS = 1 << 11   # m
NOTIFY_MODULE = 1 << 13     # d
NOTIFY_ALL = (NOTIFY_GENERIC | NOTIFY_STRING | NOTIFY_LIST | NOTIFY_SET | NOTIFY_HASH
              | NOTIFY_ZSET | NOTIFY_EXPIRED | NOTIFY_EVICTED | NOTIFY_STREAM | NOTIFY_MODULE)

_LETTERS = {
    "g": NOTIFY_GENERIC, "$": NOTIFY_STRING, "l": NOTIFY_LIST, "s": NOTIFY_SET,
    "h": NOTIFY_HASH, "z": NOTIFY_ZSET, "x": NOTIFY_EXPIRED, "e": NOTIFY_EVICTED,
    "t": NOTIFY_STREAM, "d": NOTIFY_MODULE, "A": NOTIFY_ALL, "K": NOTIFY_KEYSPACE,
    "E": NOTIFY_KEYEVENT, "m": NOTIFY_KEY_MISS,
}


def parse_classes(text: str) -> int | None:
    """The flags of a ``notify-keyspace-events`` string (config.py checks
    and normalises the text), or None if it holds a letter Redis 6.2 does
    not know."""
    flags = 0
    for ch in text:
        f = _LETTERS.get(ch)
        if f is None:
            return None
        flags |= f
    return flags


def effective_flags(flags: int) -> int:
    """What ``Keyspace.notify_flags`` holds for a configured value: 0 when
    neither channel kind is on, so that :func:`notify` stays a no-op."""
    return flags if flags & (NOTIFY_KEYSPACE | NOTIFY_KEYEVENT) else 0


def follow_config(config, keyspace) -> None:
    """Keep ``keyspace.notify_flags`` in step with ``notify-keyspace-events``."""

    def apply(text: str) -> None:
        keyspace.notify_flags = effective_flags(parse_classes(text) or 0)

    apply(config.notify_keyspace_events)
    config.on_change("notify-keyspace-events", apply)


def notify(db, event_class: int, event: bytes, key: bytes) -> None:
    """Publish keyspace event ``event`` of ``event_class`` for ``key`` in
    ``db``, if that class is enabled."""
    ks = db.ks
    flags = ks.notify_flags
    if not flags & event_class:
        return
    publish = ks.pubsub.publish
    if flags & NOTIFY_KEYSPACE:
        publish(b"__keyspace@%d__:%b" % (db.id, key), event)
    if flags & NOTIFY_KEYEVENT:
        publish(b"__keyevent@%d__:%b" % (db.id, event), key)
