"""HyperLogLog commands: PFADD, PFCOUNT, PFMERGE, PFDEBUG.

An HLL is a string value (``bytearray``, changed in place) in Redis's own
format, see :mod:`pyredis.types.hll`. PFCOUNT of one key stores the
cardinality it computed in the value's header, as Redis does, and so is
a write when the cache was stale: its effect is the same PFCOUNT, which
replays to the same bytes. PFSELFTEST is not offered (its ten million
additions are a C-speed test).
"""

from __future__ import annotations

from .. import errors
from ..db import STRING_TYPES
from ..errors import WRONGTYPE, CommandError
from ..notify import NOTIFY_STRING, notify
from ..protocol import OK, ONE, ZERO, Simple
from ..types import hll
from .table import command


def _check(v):
    """Raise unless ``v`` is a valid HLL string."""
    if type(v) not in STRING_TYPES:
        raise CommandError(WRONGTYPE)
    if not hll.is_valid(v):
        raise CommandError(errors.HLL_WRONGTYPE)


def _registers(v) -> bytes:
    try:
        return hll.registers(v)
    except hll.Corrupt:
        raise CommandError(errors.HLL_CORRUPT) from None


def _writable(db, key):
    """(value to change in place, existing value or None). A ``bytes``
    value is copied into a bytearray that replaces it once changed."""
    v = db.get_for_write(key)
    if v is None:
        return hll.new(), None
    _check(v)
    return (v if type(v) is bytearray else bytearray(v)), v


def _save(db, key, h, old) -> None:
    """Record a change made to ``h`` (the value at ``key`` was ``old``)."""
    if h is old:
        db.modified(key)
    else:
        db.set(key, h, keep_ttl=old is not None)


@command("pfadd", -2, "write denyoom fast", (1, 1, 1), "@hyperloglog", group="hyperloglog",
         since="2.8.9")
def pfadd(client, args):
    db = client.db
    key = args[1]
    h, old = _writable(db, key)
    updated = old is None
    max_bytes = client.core.config.hll_sparse_max_bytes
    add = hll.add
    try:
        for element in args[2:]:
            if add(h, element, max_bytes):
                updated = True
    except hll.Corrupt:
        if updated:
            _save(db, key, h, old)
        raise CommandError(errors.HLL_CORRUPT) from None
    if not updated:
        return ZERO
    hll.invalidate(h)
    _save(db, key, h, old)
    notify(db, NOTIFY_STRING, b"pfadd", key)
    return ONE


@command("pfcount", -2, "readonly may_replicate", (1, -1, 1), "@hyperloglog",
         group="hyperloglog", since="2.8.9")
def pfcount(client, args):
    db = client.db
    if len(args) > 2:
        # The union's cardinality: nothing is cached.
        merged = None
        for key in args[1:]:
            v = db.get(key)
            if v is None:
                continue
            _check(v)
            regs = _registers(v)
            merged = regs if merged is None else hll.max_registers(merged, regs)
        return 0 if merged is None else hll.signed(hll.count_registers(merged))
    key = args[1]
    v = db.get_for_write(key)
    if v is None:
        return 0
    _check(v)
    card = hll.cached_card(v)
    if card is not None:
        return card
    try:
        card = hll.count(v)
    except hll.Corrupt:
        raise CommandError(errors.HLL_CORRUPT) from None
    h = v if type(v) is bytearray else bytearray(v)
    hll.set_card(h, card)
    _save(db, key, h, v)
    client.rewrite(b"PFCOUNT", key)
    return hll.signed(card)


@command("pfmerge", -2, "write denyoom", (1, -1, 1), "@hyperloglog", group="hyperloglog",
         since="2.8.9")
def pfmerge(client, args):
    db = client.db
    merged = None
    dense = False
    for key in args[1:]:  # the destination's registers count too
        v = db.get(key)
        if v is None:
            continue
        _check(v)
        dense = dense or v[4] == hll.DENSE
        regs = _registers(v)
        merged = regs if merged is None else hll.max_registers(merged, regs)
    key = args[1]
    h, old = _writable(db, key)
    try:
        if dense:
            hll.to_dense(h)
        if merged is not None:
            hll.merge_into(h, merged, client.core.config.hll_sparse_max_bytes)
    except hll.Corrupt:
        raise CommandError(errors.HLL_CORRUPT) from None
    hll.invalidate(h)
    _save(db, key, h, old)
    # Redis sends "pfadd" for a merge too (a mass add, in its words).
    notify(db, NOTIFY_STRING, b"pfadd", key)
    return OK


@command("pfdebug", -3, "write denyoom admin", (2, 2, 1), "@hyperloglog",
         group="hyperloglog", since="2.8.9")
def pfdebug(client, args):
    db = client.db
    sub = args[1].lower()
    key = args[2]
    v = db.get_for_write(key)
    if v is None:
        raise CommandError(errors.HLL_NO_KEY)
    _check(v)
    name = args[1].decode("utf-8", "replace")
    if sub not in (b"getreg", b"decode", b"encoding", b"todense"):
        raise CommandError(f"ERR Unknown PFDEBUG subcommand '{name}'")
    if len(args) != 3:
        raise CommandError(f"ERR Wrong number of arguments for the '{name}' subcommand")
    if sub == b"encoding":
        return Simple(b"dense" if v[4] == hll.DENSE else b"sparse")
    if sub == b"decode":
        if v[4] != hll.SPARSE:
            raise CommandError(errors.HLL_NOT_SPARSE)
        return hll.decode(v)
    # GETREG and TODENSE turn a sparse HLL dense, a change that replicates.
    converted = False
    if v[4] == hll.SPARSE:
        h = bytearray(v)
        try:
            hll.to_dense(h)
        except hll.Corrupt:
            raise CommandError(errors.HLL_CORRUPT) from None
        db.set(key, h, keep_ttl=True)
        v = h
        converted = True
    if sub == b"todense":
        return ONE if converted else ZERO
    return list(hll.dense_registers(v))
