"""Hash commands: HSET/HMSET/HSETNX, HGET/HMGET/HGETALL, HDEL, HLEN,
HSTRLEN, HEXISTS, HKEYS/HVALS, HINCRBY/HINCRBYFLOAT, HSCAN, HRANDFIELD.

A hash is a Python ``dict`` of bytes to bytes. Redis 6.2 stores a small hash
as a ziplist and converts it, for good, to a hash table once it has more
than ``hash-max-ziplist-entries`` fields or once HSET/HSETNX/HMSET get a
field or value longer than ``hash-max-ziplist-value`` bytes. The encoding is
visible (OBJECT ENCODING, HSCAN answering a ziplist hash in one reply,
HGETALL's order) so it is kept: a plain ``dict`` is a ziplist-encoded hash
(insertion order, as a ziplist), a :class:`HashTable` (a dict subclass) one
that was converted. Conversion copies the dict once, O(n), as Redis's does.

Costs: HSET/HGET/HDEL/HEXISTS/HINCRBY O(1) per field; HGETALL/HKEYS/HVALS
O(n); HSCAN O(1) per returned field (plus an O(n) snapshot at cursor 0,
see types/scan.py); HRANDFIELD O(n) (a dict has no random access).
"""

from __future__ import annotations

import hashlib
import random
from itertools import chain, islice

from .. import errors
from ..errors import CommandError
from ..notify import NOTIFY_GENERIC, NOTIFY_HASH, notify
from ..protocol import OK, ONE, ZERO, Raw
from ..protocol.encoder import bulk_array, encode_bulks
from ..types import digest as _digest
from ..types import longdouble
from ..types.glob import compile_pattern
from ..types.scan import cursors
from .args import LLONG_MAX, LLONG_MIN, to_int
from .table import command


class HashTable(dict):
    """A hash with Redis's hashtable encoding (converted from a ziplist;
    never converted back)."""

    __slots__ = ()
    TYPE_NAME = "hash"


_EMPTY = Raw(b"*0\r\n")
_EMPTY_MAP3 = Raw(b"%0\r\n")





def fit_hash(h: dict, config) -> dict:
    """``h`` with the encoding Redis gives a hash built from scratch with
    these fields (for loaders: RDB, RESTORE, replication)."""
    if type(h) is HashTable:
        return h
    limit = config.hash_max_ziplist_value
    if len(h) > config.hash_max_ziplist_entries or any(
            len(k) > limit or len(v) > limit for k, v in h.items()):
        return HashTable(h)
    return h


def _too_long(args, start: int, limit: int) -> bool:
    """Redis's hashTypeTryConversion: does any argument from ``start`` on
    exceed hash-max-ziplist-value?"""
    for i in range(start, len(args)):
        if len(args[i]) > limit:
            return True
    return False


def _store(db, key, h, old, event: bytes) -> None:
    """Put ``h`` (new, converted or edited in place) at ``key``, mark the
    key modified and send keyspace event ``event``."""
    if old is None:
        db.set(key, h)
    else:
        if h is not old:
            db.data[key] = h
        db.modified(key)
    if db.ks.notify_flags:
        notify(db, NOTIFY_HASH, event, key)


def _set_fields(client, args) -> int:
    """HSET/HMSET: set every field/value pair; the number of new fields."""
    n = len(args)
    if n & 1:
        raise CommandError(errors.wrong_arity(args[0].lower().decode("ascii", "replace")))
    db = client.db
    key = args[1]
    old = h = db.get_typed_for_write(key, dict)
    if h is None:
        h = {}
    config = client.core.config
    if type(h) is dict and _too_long(args, 2, config.hash_max_ziplist_value):
        h = HashTable(h)
    before = len(h)
    if n == 4:
        h[args[2]] = args[3]
    else:
        for i in range(2, n, 2):
            h[args[i]] = args[i + 1]
    if type(h) is dict and len(h) > config.hash_max_ziplist_entries:
        h = HashTable(h)
    _store(db, key, h, old, b"hset")
    return len(h) - before


@command("hset", -4, "write denyoom fast", (1, 1, 1), "@hash", group="hash", since="2.0.0")
def hset(client, args):
    if len(args) == 4:  # one field into an existing hash, inline
        db = client.db
        key = args[1]
        h = db.get_for_write(key) if key in db.expires else db.data.get(key)
        t = h.__class__
        if t is HashTable:
            # One hash lookup: the size tells whether the field was new.
            n = len(h)
            h[args[2]] = args[3]
            db.modified(key)
            if db.ks.notify_flags:
                notify(db, NOTIFY_HASH, b"hset", key)
            return len(h) - n
        if t is dict:
            field = args[2]
            value = args[3]
            config = client.core.config
            limit = config.hash_max_ziplist_value
            if len(field) <= limit and len(value) <= limit:
                new = field not in h
                h[field] = value
                if new and len(h) > config.hash_max_ziplist_entries:
                    db.data[key] = HashTable(h)
                db.modified(key)
                if db.ks.notify_flags:
                    notify(db, NOTIFY_HASH, b"hset", key)
                return 1 if new else 0
    return _set_fields(client, args)


@command("hmset", -4, "write denyoom fast", (1, 1, 1), "@hash", group="hash", since="2.0.0")
def hmset(client, args):
    _set_fields(client, args)
    return OK


@command("hsetnx", 4, "write denyoom fast", (1, 1, 1), "@hash", group="hash", since="2.0.0")
def hsetnx(client, args):
    db = client.db
    key = args[1]
    old = h = db.get_typed_for_write(key, dict)
    if h is None:
        h = {}
    config = client.core.config
    # Redis converts before it looks for the field: a long value converts
    # the hash even when the field exists and nothing is set.
    if type(h) is dict and _too_long(args, 2, config.hash_max_ziplist_value):
        h = HashTable(h)
    field = args[2]
    if field in h:
        if h is not old:
            db.data[key] = h
        return ZERO
    h[field] = args[3]
    if type(h) is dict and len(h) > config.hash_max_ziplist_entries:
        h = HashTable(h)
    _store(db, key, h, old, b"hset")
    return ONE


def _set_one(db, key, h, old, field, value, config, event: bytes) -> None:
    """Set one field without the value-length conversion (HINCRBY and
    HINCRBYFLOAT, like Redis, only check the number of fields)."""
    if h is None:
        h = {}
    h[field] = value
    if type(h) is dict and len(h) > config.hash_max_ziplist_entries:
        h = HashTable(h)
    _store(db, key, h, old, event)


@command("hincrby", 4, "write denyoom fast", (1, 1, 1), "@hash", group="hash", since="2.0.0")
def hincrby(client, args):
    incr = to_int(args[3])
    if incr is None:
        raise CommandError(errors.NOT_INTEGER)
    db = client.db
    key = args[1]
    field = args[2]
    h = db.get_typed_for_write(key, dict)
    value = 0
    if h is not None:
        cur = h.get(field)
        if cur is not None:
            value = to_int(cur)
            if value is None:
                raise CommandError(errors.HASH_NOT_INTEGER)
    value += incr
    if not LLONG_MIN <= value <= LLONG_MAX:
        raise CommandError(errors.OVERFLOW)
    _set_one(db, key, h, h, field, b"%d" % value, client.core.config, b"hincrby")
    return value


@command("hincrbyfloat", 4, "write denyoom fast", (1, 1, 1), "@hash", group="hash",
         since="2.6.0")
def hincrbyfloat(client, args):
    incr = longdouble.parse(args[3])
    if incr is None:
        raise CommandError(errors.NOT_FLOAT)
    if incr is longdouble.INF:
        raise CommandError(errors.NAN_OR_INFINITY)
    db = client.db
    key = args[1]
    field = args[2]
    h = db.get_typed_for_write(key, dict)
    value = (0, 0)
    if h is not None:
        cur = h.get(field)
        if cur is not None:
            value = longdouble.parse(cur)
            if value is None:
                raise CommandError(errors.HASH_NOT_FLOAT)
    result = longdouble.add(value, incr)
    if result is longdouble.INF:
        raise CommandError(errors.INCR_NAN)
    text = longdouble.format_human(result)
    _set_one(db, key, h, h, field, text, client.core.config, b"hincrbyfloat")
    # Replicas and the AOF get the value, not the float arithmetic.
    client.rewrite(b"HSET", key, field, text)
    return text


@command("hdel", -3, "write fast", (1, 1, 1), "@hash", group="hash", since="2.0.0")
def hdel(client, args):
    db = client.db
    key = args[1]
    h = db.get_typed_for_write(key, dict)
    if h is None:
        return 0
    deleted = 0
    for field in islice(args, 2, None):
        if field in h:
            del h[field]
            deleted += 1
            if not h:
                break
    if deleted:
        if h:
            db.modified(key)
        else:
            db.delete(key)
        if db.ks.notify_flags:
            notify(db, NOTIFY_HASH, b"hdel", key)
            if not h:
                notify(db, NOTIFY_GENERIC, b"del", key)
    return deleted


# -- reads -----------------------------------------------------------------


@command("hget", 3, "readonly fast", (1, 1, 1), "@hash", group="hash", since="2.0.0")
def hget(client, args):
    h = client.db.get(args[1])
    if h is None:
        return None
    t = type(h)
    if t is not dict and t is not HashTable:
        raise CommandError(errors.WRONGTYPE)
    return h.get(args[2])


@command("hmget", -3, "readonly fast", (1, 1, 1), "@hash", group="hash", since="2.0.0")
def hmget(client, args):
    h = client.db.get_typed(args[1], dict)
    if h is None:
        return [None] * (len(args) - 2)
    get = h.get
    return [get(f) for f in islice(args, 2, None)]


@command("hlen", 2, "readonly fast", (1, 1, 1), "@hash", group="hash", since="2.0.0")
def hlen(client, args):
    h = client.db.get_typed(args[1], dict)
    return 0 if h is None else len(h)


@command("hstrlen", 3, "readonly fast", (1, 1, 1), "@hash", group="hash", since="3.2.0")
def hstrlen(client, args):
    h = client.db.get_typed(args[1], dict)
    if h is None:
        return 0
    v = h.get(args[2])
    return 0 if v is None else len(v)


@command("hexists", 3, "readonly fast", (1, 1, 1), "@hash", group="hash", since="2.0.0")
def hexists(client, args):
    h = client.db.get_typed(args[1], dict)
    return ONE if h is not None and args[2] in h else ZERO


@command("hkeys", 2, "readonly sort_for_script", (1, 1, 1), "@hash", group="hash",
         since="2.0.0")
def hkeys(client, args):
    h = client.db.get_typed(args[1], dict)
    return _EMPTY if h is None else bulk_array(list(h))


@command("hvals", 2, "readonly sort_for_script", (1, 1, 1), "@hash", group="hash",
         since="2.0.0")
def hvals(client, args):
    h = client.db.get_typed(args[1], dict)
    return _EMPTY if h is None else bulk_array(list(h.values()))


def _pairs(client, h) -> Raw:
    """Field/value pairs as a RESP3 map, or a flat array in RESP2."""
    head = b"%%%d\r\n" % len(h) if client.resp == 3 else b"*%d\r\n" % (2 * len(h))
    return Raw(head + encode_bulks(list(chain.from_iterable(h.items()))))


@command("hgetall", 2, "readonly random", (1, 1, 1), "@hash", group="hash", since="2.0.0")
def hgetall(client, args):
    h = client.db.get_typed(args[1], dict)
    if h is None:
        return _EMPTY_MAP3 if client.resp == 3 else _EMPTY
    return _pairs(client, h)


@command("hscan", -3, "readonly random", (1, 1, 1), "@hash", group="hash", since="2.8.0")
def hscan(client, args):
    from .keys import parse_scan_cursor, scan_options
    cursor = parse_scan_cursor(args[2])
    key = args[1]
    h = client.db.get_typed(key, dict)
    if h is None:
        return [b"0", []]
    count, pattern, _ = scan_options(args, 3, False)
    if type(h) is dict:
        # A ziplist is answered whole, whatever the cursor and COUNT.
        nxt, fields = 0, list(h)
    else:
        nxt, fields = cursors(client.core).scan((client.db, key), cursor, count,
                                                lambda: list(h), h.__contains__)
    if pattern is not None:
        match = compile_pattern(pattern)
        fields = [f for f in fields if match(f)]
    out = []
    for f in fields:
        out.append(f)
        out.append(h[f])
    return [b"%d" % nxt, out]


# Largest |count| HRANDFIELD takes with WITHVALUES (C's LONG_MAX / 2).
_HALF_LONG = LLONG_MAX // 2


@command("hrandfield", -2, "readonly random", (1, 1, 1), "@hash", group="hash",
         since="6.2.0")
def hrandfield(client, args):
    n = len(args)
    if n == 2:
        h = client.db.get_typed(args[1], dict)
        if h is None:
            return None
        return next(islice(h, random.randrange(len(h)), None))
    count = to_int(args[2])
    if count is None:
        raise CommandError(errors.NOT_INTEGER)
    if count == LLONG_MIN:
        raise CommandError(errors.out_of_range(-LLONG_MAX, LLONG_MAX))
    if n > 4 or (n == 4 and args[3].lower() != b"withvalues"):
        raise CommandError(errors.SYNTAX)
    withvalues = n == 4
    if withvalues and not -_HALF_LONG <= count <= _HALF_LONG:
        raise CommandError(errors.VALUE_OUT_OF_RANGE)
    h = client.db.get_typed(args[1], dict)
    if h is None or count == 0:
        return _EMPTY
    size = len(h)
    if count < 0 or count == 1:
        # Repetitions allowed: independent draws, in random order.
        items = list(h.items())
        picked = random.choices(items, k=-count if count < 0 else 1)
    elif count >= size:
        picked = list(h.items())
    else:
        picked = random.sample(list(h.items()), count)
    if not withvalues:
        return bulk_array([f for f, _ in picked])
    if client.resp == 3:
        return [[f, v] for f, v in picked]
    flat = []
    for f, v in picked:
        flat.append(f)
        flat.append(v)
    return bulk_array(flat)


# -- OBJECT ENCODING and DEBUG DIGEST --------------------------------------


def _register() -> None:
    try:
        from .keys import register_encoding
    except ImportError:  # the keyspace group is not there (minimal builds)
        return
    register_encoding(dict, lambda value: "ziplist")
    register_encoding(HashTable, lambda value: "hashtable")


_register()

def digest_hash(digest: bytes, h) -> bytes:
    """DEBUG DIGEST hook: mix a hash into a key's running digest as Redis
    6.2's xorObjectDigest does for OBJ_HASH: each field/value pair is
    digested alone and the SHA1 of that xored in, so the order of the
    fields does not matter."""
    mix = _digest.mix
    zero = _digest.ZERO
    sha1 = hashlib.sha1
    acc = int.from_bytes(digest, "big")
    for field, value in h.items():
        acc ^= int.from_bytes(sha1(mix(mix(zero, field), value)).digest(), "big")
    return acc.to_bytes(20, "big")


_digest.register(dict, 4, digest_hash)  # OBJ_HASH
_digest.register(HashTable, 4, digest_hash)
