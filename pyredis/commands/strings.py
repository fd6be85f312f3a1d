"""String commands: the GET/SET family, counters, ranges. Bit commands live
in bits.py.

Values are ``bytes``; APPEND and SETRANGE turn a value into a ``bytearray``
so that repeated edits are amortised O(1), and every reader here accepts
both. Writes whose argv does not replay deterministically record their
effect: a relative expiry leaves as ``SET key value PXAT <ms>``, INCRBYFLOAT
as ``SET key <result> KEEPTTL``, ``SET .. GET`` without its GET, GETDEL as
``DEL``, GETEX as ``PEXPIREAT`` (absolute), ``DEL`` (a past EXAT/PXAT) or
``PERSIST``.
"""

from __future__ import annotations

from .. import errors
from ..db import now_ms
from ..errors import WRONGTYPE, CommandError
from ..notify import NOTIFY_GENERIC, NOTIFY_STRING, notify
from ..protocol import OK, ONE, ZERO
from ..types import longdouble
from .args import LLONG_MAX, LLONG_MIN, to_int
from .table import command

_SET = b"SET"
_PXAT = b"PXAT"
_KEEPTTL = b"KEEPTTL"
# The values 0..1023 as stored strings, made once: INCR's counters are
# mostly small, and formatting is a good part of its cost. Values are
# immutable bytes, so keys may share them (Redis shares small integers too).
_SMALL_VALUES = tuple(b"%d" % i for i in range(1024))
# And back: one hash lookup (the hash of these strings is computed once)
# reads such a counter, where isdigit and int() take about 80 ns. Longer
# strings skip the lookup, which would miss (and hash a new string).
_SMALL_NUMBERS = {v: i for i, v in enumerate(_SMALL_VALUES)}


def _string(v):
    """A stored value as a reply: bytes as is, None for a missing key."""
    t = type(v)
    if t is bytes or v is None:
        return v
    if t is bytearray:
        return bytes(v)
    raise CommandError(WRONGTYPE)


def check_length(client, size: int) -> None:
    """Redis's checkStringLength: a string may not outgrow
    proto-max-bulk-len (the master link is exempt)."""
    if size > client.core.config.proto_max_bulk_len and client.kind != "master":
        raise CommandError(errors.STRING_EXCEEDS_BULK_LEN)


# -- GET / SET ---------------------------------------------------------------


@command("get", 2, "readonly fast", (1, 1, 1), "@string", group="string", since="1.0.0")
def get(client, args):
    db = client.db
    key = args[1]
    if key not in db.expires:
        # Database.get inlined for a key without a TTL (GET is the
        # hottest read): a hit counts as there, a miss goes the long way
        # for its accounting and keyspace event.
        v = db.data.get(key)
        if v.__class__ is bytes:
            db.ks.hits += 1
            return v
    v = db.get(key)
    if v is None or v.__class__ is bytes:
        return v
    return _string(v)


# SET option flags.
_NX, _XX, _GET, _KEEP, _F_EX, _F_PX, _F_EXAT, _F_PXAT = 1, 2, 4, 8, 16, 32, 64, 128
_ANY_EXPIRE = _F_EX | _F_PX | _F_EXAT | _F_PXAT
_EXPIRE_OPTS = {b"ex": (_F_EX, 1000, True), b"px": (_F_PX, 1, True),
                b"exat": (_F_EXAT, 1000, False), b"pxat": (_F_PXAT, 1, False)}


@command("set", -3, "write denyoom", (1, 1, 1), "@string", group="string", since="1.0.0")
def set_(client, args):
    if len(args) == 3:
        db = client.db
        db.set(args[1], args[2])
        if db.ks.notify_flags:
            notify(db, NOTIFY_STRING, b"set", args[1])
        return OK
    return _set_options(client, args)


def _set_options(client, args):
    flags = 0
    expire = None
    n = len(args)
    j = 3
    while j < n:
        opt = args[j].lower()
        if opt == b"nx" and not flags & (_XX | _GET):
            flags |= _NX
        elif opt == b"xx" and not flags & _NX:
            flags |= _XX
        elif opt == b"get" and not flags & _NX:
            flags |= _GET
        elif opt == b"keepttl" and not flags & _ANY_EXPIRE:
            flags |= _KEEP
        elif opt in _EXPIRE_OPTS and j + 1 < n:
            bit, unit, relative = _EXPIRE_OPTS[opt]
            # The same option may repeat (the last one wins); two kinds may not.
            if flags & (_KEEP | (_ANY_EXPIRE & ~bit)):
                raise CommandError(errors.SYNTAX)
            flags |= bit
            expire = (args[j + 1], unit, relative)
            j += 1
        else:
            raise CommandError(errors.SYNTAX)
        j += 1
    key, value = args[1], args[2]
    when = None
    if expire is not None:
        when = _expire_at(b"set", *expire)
    db = client.db
    old = None
    if flags & _GET:
        old = _string(db.get(key))
        found = old is not None
    else:
        found = db.get_for_write(key) is not None
    if (flags & _NX and found) or (flags & _XX and not found):
        return old if flags & _GET else None
    db.set(key, value, keep_ttl=bool(flags & _KEEP))
    notify(db, NOTIFY_STRING, b"set", key)
    if when is not None:
        db.set_expire(key, when)
        client.rewrite(_SET, key, value, _PXAT, b"%d" % when)
        notify(db, NOTIFY_GENERIC, b"expire", key)
    elif flags & _GET:
        client.rewrite(*args[:3], *(a for a in args[3:] if a.lower() != b"get"))
    return old if flags & _GET else OK


def _expire_at(name: bytes, arg: bytes, unit_ms: int, relative: bool) -> int:
    """Redis 6.2's getExpireMillisecondsOrReply: the absolute expiry in ms."""
    v = to_int(arg)
    if v is None:
        raise CommandError(errors.NOT_INTEGER)
    if v <= 0 or (unit_ms == 1000 and v > LLONG_MAX // 1000):
        raise CommandError(errors.invalid_expire(name.decode()))
    v *= unit_ms
    if relative:
        v += now_ms()
        # C would wrap past LLONG_MAX into a negative time.
        if v > LLONG_MAX:
            raise CommandError(errors.invalid_expire(name.decode()))
    return v


@command("setnx", 3, "write denyoom fast", (1, 1, 1), "@string", group="string",
         since="1.0.0")
def setnx(client, args):
    db = client.db
    if db.get_for_write(args[1]) is not None:
        return ZERO
    db.set(args[1], args[2])
    notify(db, NOTIFY_STRING, b"set", args[1])
    return ONE


def _setex(client, args, name: bytes, unit_ms: int):
    when = _expire_at(name, args[2], unit_ms, True)
    key, value = args[1], args[3]
    db = client.db
    db.set(key, value)
    db.set_expire(key, when)
    client.rewrite(_SET, key, value, _PXAT, b"%d" % when)
    notify(db, NOTIFY_STRING, b"set", key)
    notify(db, NOTIFY_GENERIC, b"expire", key)
    return OK


@command("setex", 4, "write denyoom", (1, 1, 1), "@string", group="string", since="2.0.0")
def setex(client, args):
    return _setex(client, args, b"setex", 1000)


@command("psetex", 4, "write denyoom", (1, 1, 1), "@string", group="string", since="2.6.0")
def psetex(client, args):
    return _setex(client, args, b"psetex", 1)


@command("getset", 3, "write denyoom fast", (1, 1, 1), "@string", group="string",
         since="1.0.0")
def getset(client, args):
    db = client.db
    old = _string(db.get(args[1]))
    db.set(args[1], args[2])
    client.rewrite(_SET, args[1], args[2])
    notify(db, NOTIFY_STRING, b"set", args[1])
    return old


@command("getdel", 2, "write fast", (1, 1, 1), "@string", group="string", since="6.2.0")
def getdel(client, args):
    db = client.db
    key = args[1]
    old = _string(db.get(key))
    if old is None:
        # A lazy expiry in the lookup sent its own DEL; GETDEL itself did nothing.
        client.effects = []
        return None
    db.delete(key)
    client.rewrite(b"DEL", key)
    notify(db, NOTIFY_GENERIC, b"del", key)
    return old


_PERSIST = 256


@command("getex", -2, "write fast", (1, 1, 1), "@string", group="string", since="6.2.0")
def getex(client, args):
    flags = 0
    expire = None
    n = len(args)
    j = 2
    while j < n:
        opt = args[j].lower()
        if opt in _EXPIRE_OPTS and j + 1 < n:
            bit = _EXPIRE_OPTS[opt][0]
            # As SET: one kind may repeat (the last wins), two kinds may not.
            if flags & (_PERSIST | (_ANY_EXPIRE & ~bit)):
                raise CommandError(errors.SYNTAX)
            flags |= bit
            expire = _EXPIRE_OPTS[opt]
            expire_arg = args[j + 1]
            j += 1
        elif opt == b"persist" and not flags & _ANY_EXPIRE:
            flags |= _PERSIST
        else:
            raise CommandError(errors.SYNTAX)
        j += 1
    db = client.db
    key = args[1]
    value = _string(db.get(key))
    if value is None or not flags:
        client.effects = []
        return value
    if expire is not None:
        unit, relative = expire[1], expire[2]
        when = _expire_at(b"getex", expire_arg, unit, relative)
        if not relative and when <= now_ms():
            # An absolute time already past deletes the key, as Redis does.
            db.delete(key)
            client.rewrite(b"DEL", key)
            notify(db, NOTIFY_GENERIC, b"del", key)
        else:
            db.set_expire(key, when)
            client.rewrite(b"PEXPIREAT", key, b"%d" % when)
            notify(db, NOTIFY_GENERIC, b"expire", key)
    elif db.persist(key):
        client.rewrite(b"PERSIST", key)
        notify(db, NOTIFY_GENERIC, b"persist", key)
    else:
        client.effects = []
    return value


@command("mget", -2, "readonly fast", (1, -1, 1), "@string", group="string", since="1.0.0")
def mget(client, args):
    get_ = client.db.get
    out = []
    for key in args[1:]:
        v = get_(key)
        t = v.__class__
        if t is bytes:
            out.append(v)
        elif t is bytearray:
            out.append(bytes(v))
        else:
            out.append(None)
    return out


@command("mset", -3, "write denyoom", (1, -1, 2), "@string", group="string", since="1.0.1")
def mset(client, args):
    n = len(args)
    if not n & 1:
        raise CommandError(errors.MSET_ARITY)
    db = client.db
    it = iter(args)
    next(it)
    pairs = list(zip(it, it))
    db.set_many(pairs)
    if db.ks.notify_flags:
        for key, _ in pairs:
            notify(db, NOTIFY_STRING, b"set", key)
    return OK


@command("msetnx", -3, "write denyoom", (1, -1, 2), "@string", group="string",
         since="1.0.1")
def msetnx(client, args):
    n = len(args)
    if not n & 1:
        raise CommandError(errors.MSET_ARITY)
    db = client.db
    for i in range(1, n, 2):
        if db.get_for_write(args[i]) is not None:
            return ZERO
    for i in range(1, n, 2):
        db.set(args[i], args[i + 1])
        notify(db, NOTIFY_STRING, b"set", args[i])
    return ONE


# -- counters ----------------------------------------------------------------


def _current_int(v) -> int:
    """The integer a stored value holds (0 for a missing key), as Redis's
    string2ll reads it: canonical decimal within 64 bits."""
    if v is None:
        return 0
    t = v.__class__
    if t is not bytes and t is not bytearray:
        raise CommandError(WRONGTYPE)
    # The length cap keeps int() linear on huge strings; the round trip
    # refuses what int() takes but Redis does not (" 1", "+1", "01", "1_0").
    if len(v) > 20:
        raise CommandError(errors.NOT_INTEGER)
    try:
        cur = int(v)
    except ValueError:
        raise CommandError(errors.NOT_INTEGER) from None
    if b"%d" % cur != v or cur > LLONG_MAX or cur < LLONG_MIN:
        raise CommandError(errors.NOT_INTEGER)
    return cur


def _incr(client, key, delta: int) -> int:
    db = client.db
    new = _current_int(db.get_for_write(key)) + delta
    if new > LLONG_MAX or new < LLONG_MIN:
        raise CommandError(errors.OVERFLOW)
    # INCR keeps the TTL (Redis overwrites the value in place).
    db.set(key, b"%d" % new, True)
    notify(db, NOTIFY_STRING, b"incrby", key)
    return new


@command("incr", 2, "write denyoom fast", (1, 1, 1), "@string", group="string",
         since="1.0.0")
def incr(client, args):
    # _incr inlined, with the common case (a non-negative counter) first.
    db = client.db
    key = args[1]
    v = db.get_for_write(key) if key in db.expires else db.data.get(key)
    if v.__class__ is bytes and len(v) < 5 and (new := _SMALL_NUMBERS.get(v)) is not None:
        new += 1
    elif v.__class__ is bytes and v.isdigit() and len(v) < 19 and (v[0] != 48 or len(v) == 1):
        new = int(v) + 1
    else:
        new = _current_int(v) + 1
        if new > LLONG_MAX:
            raise CommandError(errors.OVERFLOW)
    db.set(key, _SMALL_VALUES[new] if 0 <= new < 1024 else b"%d" % new, True)
    if db.ks.notify_flags:
        notify(db, NOTIFY_STRING, b"incrby", key)
    return new


@command("decr", 2, "write denyoom fast", (1, 1, 1), "@string", group="string",
         since="1.0.0")
def decr(client, args):
    return _incr(client, args[1], -1)


@command("incrby", 3, "write denyoom fast", (1, 1, 1), "@string", group="string",
         since="1.0.0")
def incrby(client, args):
    delta = to_int(args[2])
    if delta is None:
        raise CommandError(errors.NOT_INTEGER)
    return _incr(client, args[1], delta)


@command("decrby", 3, "write denyoom fast", (1, 1, 1), "@string", group="string",
         since="1.0.0")
def decrby(client, args):
    delta = to_int(args[2])
    if delta is None:
        raise CommandError(errors.NOT_INTEGER)
    # Redis negates in C: -LLONG_MIN wraps back to LLONG_MIN.
    return _incr(client, args[1], -delta if delta != LLONG_MIN else LLONG_MIN)


@command("incrbyfloat", 3, "write denyoom fast", (1, 1, 1), "@string", group="string",
         since="2.6.0")
def incrbyfloat(client, args):
    key = args[1]
    db = client.db
    v = db.get_for_write(key)
    if v is None:
        cur = (0, 0)
    else:
        t = v.__class__
        if t is not bytes and t is not bytearray:
            raise CommandError(WRONGTYPE)
        cur = longdouble.parse(bytes(v))
        if cur is None:
            raise CommandError(errors.NOT_FLOAT)
    inc = longdouble.parse(args[2])
    if inc is None:
        raise CommandError(errors.NOT_FLOAT)
    total = longdouble.add(cur, inc)
    if total is longdouble.INF:
        raise CommandError(errors.INCR_NAN)
    new = longdouble.format_human(total)
    db.set(key, new, True)
    # Replicas and the AOF get the exact text, not a float to recompute.
    client.rewrite(_SET, key, new, _KEEPTTL)
    notify(db, NOTIFY_STRING, b"incrbyfloat", key)
    return new


# -- ranges and lengths -------------------------------------------------------


@command("append", 3, "write denyoom fast", (1, 1, 1), "@string", group="string",
         since="2.0.0")
def append(client, args):
    key, extra = args[1], args[2]
    db = client.db
    v = db.get_for_write(key)
    if v is None:
        db.set(key, extra)
        notify(db, NOTIFY_STRING, b"append", key)
        return len(extra)
    t = v.__class__
    if t is bytes:
        check_length(client, len(v) + len(extra))
        v = bytearray(v)
        v += extra
        db.set(key, v, True)
    elif t is bytearray:
        check_length(client, len(v) + len(extra))
        v += extra
        db.modified(key)
    else:
        raise CommandError(WRONGTYPE)
    notify(db, NOTIFY_STRING, b"append", key)
    return len(v)


@command("strlen", 2, "readonly fast", (1, 1, 1), "@string", group="string", since="2.2.0")
def strlen(client, args):
    v = client.db.get(args[1])
    if v is None:
        return 0
    t = v.__class__
    if t is not bytes and t is not bytearray:
        raise CommandError(WRONGTYPE)
    return len(v)


def _getrange(client, args):
    start = to_int(args[2])
    end = to_int(args[3])
    if start is None or end is None:
        raise CommandError(errors.NOT_INTEGER)
    v = client.db.get(args[1])
    if v is None:
        return b""
    t = v.__class__
    if t is not bytes and t is not bytearray:
        raise CommandError(WRONGTYPE)
    n = len(v)
    if start < 0 and end < 0 and start > end:
        return b""
    if start < 0:
        start = max(n + start, 0)
    if end < 0:
        end = max(n + end, 0)
    if end >= n:
        end = n - 1
    if start > end or n == 0:
        return b""
    return bytes(v[start:end + 1])


@command("getrange", 4, "readonly", (1, 1, 1), "@string", group="string", since="2.4.0")
def getrange(client, args):
    return _getrange(client, args)


@command("substr", 4, "readonly", (1, 1, 1), "@string", group="string", since="1.0.0")
def substr(client, args):
    return _getrange(client, args)


@command("setrange", 4, "write denyoom", (1, 1, 1), "@string", group="string",
         since="2.2.0")
def setrange(client, args):
    key, value = args[1], args[3]
    offset = to_int(args[2])
    if offset is None:
        raise CommandError(errors.NOT_INTEGER)
    if offset < 0:
        raise CommandError(errors.OFFSET_OUT_OF_RANGE)
    db = client.db
    v = db.get_for_write(key)
    size = len(value)
    if v is None:
        if not size:
            return 0
        check_length(client, offset + size)
        v = bytearray(offset)
        v += value
        db.set(key, v)
        notify(db, NOTIFY_STRING, b"setrange", key)
        return len(v)
    t = v.__class__
    if t is not bytes and t is not bytearray:
        raise CommandError(WRONGTYPE)
    if not size:
        return len(v)
    check_length(client, offset + size)
    if t is bytes:
        v = bytearray(v)
    if offset > len(v):
        v += bytes(offset - len(v))
    v[offset:offset + size] = value
    if t is bytes:
        db.set(key, v, True)
    else:
        db.modified(key)
    notify(db, NOTIFY_STRING, b"setrange", key)
    return len(v)
