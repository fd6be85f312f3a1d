"""Seeded random client workloads for the simulation: commands over every
data type (strings, bitmaps, lists, hashes, sets, sorted sets, HyperLogLogs,
streams) on a small, overlapping key space, so members write the same keys
concurrently; multi-key commands (RENAME, SMOVE, LMOVE, *STORE, MSET),
expiries, deletes, flushes and MULTI/EXEC units.

Keys are named by type (``s*`` strings, ``l*`` lists, ``h*`` hashes, ``t*``
sets, ``z*`` sorted sets) so most commands find the type they expect; the
few that do not get WRONGTYPE, which writes nothing, as in Redis."""

from __future__ import annotations

NKEYS = 4


def _k(rng, prefix: str) -> bytes:
    return b"%s%d" % (prefix.encode(), rng.randrange(NKEYS))


def _v(rng) -> bytes:
    return b"v%d" % rng.randrange(100)


def _n(rng) -> bytes:
    return b"%d" % rng.randrange(-5, 20)


def _ttl(rng) -> bytes:
    # Expiries short enough to fire during a run and to race with clock skew.
    return b"%d" % rng.randrange(5, 400)


def _string_cmd(rng):
    k = _k(rng, "s")
    r = rng.randrange(14)
    if r == 0:
        return [b"SET", k, _v(rng)]
    if r == 1:
        return [b"SET", k, _v(rng), b"PX", _ttl(rng)]
    if r == 2:
        return [b"SET", k, _v(rng), b"NX"]
    if r == 3:
        return [b"INCR", k]
    if r == 4:
        return [b"INCRBY", k, _n(rng)]
    if r == 5:
        return [b"APPEND", k, _v(rng)]
    if r == 6:
        return [b"INCRBYFLOAT", k, b"1.5"]
    if r == 7:
        return [b"MSET", k, _v(rng), _k(rng, "s"), _v(rng)]
    if r == 8:
        return [b"RENAME", k, _k(rng, "s")]
    if r == 9:
        return [b"SETRANGE", k, b"%d" % rng.randrange(4), b"xy"]
    if r == 10:
        return [b"GETSET", k, _v(rng)]
    if r == 11:
        return [b"SET", k, _v(rng), b"KEEPTTL"]
    if r == 12:
        return [b"DECR", k]
    return [b"SET", k, _v(rng), b"XX"]


def _list_cmd(rng):
    k = _k(rng, "l")
    r = rng.randrange(9)
    if r == 0:
        return [b"LPUSH", k, _v(rng), _v(rng)]
    if r == 1:
        return [b"RPUSH", k, _v(rng)]
    if r == 2:
        return [b"LPOP", k]
    if r == 3:
        return [b"RPOP", k]
    if r == 4:
        return [b"LREM", k, b"0", _v(rng)]
    if r == 5:
        return [b"LTRIM", k, b"0", b"%d" % rng.randrange(4)]
    if r == 6:
        return [b"LMOVE", k, _k(rng, "l"), b"LEFT", b"RIGHT"]
    if r == 7:
        return [b"RPOPLPUSH", k, _k(rng, "l")]
    return [b"LSET", k, b"0", _v(rng)]


def _hash_cmd(rng):
    k = _k(rng, "h")
    f = b"f%d" % rng.randrange(4)
    r = rng.randrange(5)
    if r == 0:
        return [b"HSET", k, f, _v(rng)]
    if r == 1:
        return [b"HDEL", k, f]
    if r == 2:
        return [b"HINCRBY", k, f, _n(rng)]
    if r == 3:
        return [b"HINCRBYFLOAT", k, f, b"0.25"]
    return [b"HSET", k, f, _v(rng), b"f%d" % rng.randrange(4), _v(rng)]


def _set_cmd(rng):
    k = _k(rng, "t")
    m = b"m%d" % rng.randrange(6)
    r = rng.randrange(7)
    if r in (0, 1):
        return [b"SADD", k, m, b"m%d" % rng.randrange(6)]
    if r == 2:
        return [b"SREM", k, m]
    if r == 3:
        return [b"SMOVE", k, _k(rng, "t"), m]
    if r == 4:
        return [b"SUNIONSTORE", k, _k(rng, "t"), _k(rng, "t")]
    if r == 5:
        return [b"SINTERSTORE", k, _k(rng, "t"), _k(rng, "t")]
    return [b"SDIFFSTORE", k, _k(rng, "t"), _k(rng, "t")]


def _zset_cmd(rng):
    k = _k(rng, "z")
    m = b"m%d" % rng.randrange(6)
    r = rng.randrange(6)
    if r in (0, 1):
        return [b"ZADD", k, b"%d" % rng.randrange(10), m]
    if r == 2:
        return [b"ZINCRBY", k, b"2", m]
    if r == 3:
        return [b"ZREM", k, m]
    if r == 4:
        return [b"ZUNIONSTORE", k, b"2", _k(rng, "z"), _k(rng, "z")]
    return [b"ZPOPMIN", k]


def _other_cmd(rng):
    """Bitmaps, HyperLogLogs, streams, and key moves across databases."""
    r = rng.randrange(12)
    if r == 0:
        return [b"SETBIT", _k(rng, "s"), b"%d" % rng.randrange(24), b"%d" % rng.randrange(2)]
    if r == 1:
        return [b"PFADD", b"hll%d" % rng.randrange(2), _v(rng), _v(rng)]
    if r == 2:
        return [b"PFMERGE", b"hll0", b"hll1"]
    if r == 3:
        return [b"XADD", b"x%d" % rng.randrange(2), b"*", b"f", _v(rng)]
    if r == 4:
        return [b"XTRIM", b"x%d" % rng.randrange(2), b"MAXLEN", b"%d" % rng.randrange(4)]
    if r == 5:
        return [b"MOVE", _k(rng, rng.choice(_PREFIXES)), b"1"]
    if r == 6:
        return [b"COPY", _k(rng, "h"), _k(rng, "h"), b"REPLACE"]
    if r == 7:
        return [b"GETDEL", _k(rng, "s")]
    if r == 8:
        return [b"GETEX", _k(rng, "s"), b"PX", _ttl(rng)]
    if r == 9:
        return [b"SPOP", _k(rng, "t")]
    if r == 10:
        return [b"LINSERT", _k(rng, "l"), b"BEFORE", _v(rng), _v(rng)]
    return [b"ZREMRANGEBYSCORE", _k(rng, "z"), b"0", b"%d" % rng.randrange(10)]


_PREFIXES = ("s", "l", "h", "t", "z")


def _generic_cmd(rng):
    r = rng.randrange(6)
    k = _k(rng, rng.choice(_PREFIXES))
    if r == 0:
        return [b"DEL", k, _k(rng, rng.choice(_PREFIXES))]
    if r == 1:
        return [b"PEXPIRE", k, _ttl(rng)]
    if r == 2:
        return [b"EXPIRE", k, b"1"]
    if r == 3:
        return [b"PERSIST", k]
    if r == 4:
        return [b"UNLINK", k]
    return [b"DEL", k]


def command(rng, strings_only: bool = False):
    """One random write (or, rarely, FLUSHDB)."""
    if strings_only:
        r = rng.randrange(10)
        if r < 7:
            return _string_cmd(rng)
        return _generic_cmd(rng) if r < 9 else [b"DEL", _k(rng, "s")]
    r = rng.randrange(100)
    if r < 25:
        return _string_cmd(rng)
    if r < 40:
        return _list_cmd(rng)
    if r < 55:
        return _hash_cmd(rng)
    if r < 70:
        return _set_cmd(rng)
    if r < 80:
        return _zset_cmd(rng)
    if r < 88:
        return _other_cmd(rng)
    if r < 99:
        return _generic_cmd(rng)
    return [b"FLUSHDB"] if rng.randrange(4) else [b"FLUSHALL"]


def request(rng, strings_only: bool = False) -> list:
    """The commands one client sends in one go: a single write, or a
    MULTI/EXEC unit of 2-4 (sometimes switching database inside)."""
    if strings_only or rng.randrange(8):
        return [command(rng, strings_only)]
    cmds = [[b"MULTI"]]
    for _ in range(rng.randrange(2, 5)):
        if rng.randrange(10) == 0:
            cmds.append([b"SELECT", b"%d" % rng.randrange(2)])
        cmds.append(command(rng))
    cmds.append([b"SELECT", b"0"])
    cmds.append([b"EXEC"])
    return cmds
