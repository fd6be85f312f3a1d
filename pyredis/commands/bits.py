"""Bit commands on string values: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP,
BITFIELD and BITFIELD_RO.

Bits are numbered from the most significant bit of the first byte, as in
Redis. Writers turn the value into a ``bytearray`` grown with zero bytes to
cover the highest bit they touch, so repeated SETBITs edit in place. Every
argv here replays deterministically, so none of them rewrites its effect.
"""

from __future__ import annotations

from .. import errors
from ..errors import WRONGTYPE, CommandError
from ..notify import NOTIFY_GENERIC, NOTIFY_STRING, notify
from .args import to_int
from .table import command

_U64 = 1 << 64
_I64_MIN = -(1 << 63)


def _bit_offset(client, arg: bytes, hash_ok: bool = False, bits: int = 0) -> int:
    """Redis's getBitOffsetFromArgument: a bit offset (``#N`` means N fields
    of ``bits`` when ``hash_ok``), below proto-max-bulk-len bytes."""
    use_hash = hash_ok and len(arg) > 1 and arg[0] == 35  # '#'
    v = to_int(arg[1:] if use_hash else arg)
    if v is None:
        raise CommandError(errors.BIT_OFFSET)
    if use_hash:
        # Redis multiplies in 64-bit signed arithmetic, which wraps.
        v = (v * bits - _I64_MIN) % _U64 + _I64_MIN
    if v < 0 or (v >> 3) >= client.core.config.proto_max_bulk_len:
        raise CommandError(errors.BIT_OFFSET)
    return v


def _readable(v):
    """A looked-up value for a bit read: None, or bytes/bytearray."""
    if v is None:
        return None
    t = v.__class__
    if t is not bytes and t is not bytearray:
        raise CommandError(WRONGTYPE)
    return v


def _for_write(db, key, last_byte: int) -> bytearray:
    """The value at ``key`` as a bytearray of at least ``last_byte + 1``
    bytes (Redis's lookupStringForBitCommand). The caller stores it back
    with ``db.set(key, v, True)`` once it is done."""
    v = db.get_for_write(key)
    if v is None:
        return bytearray(last_byte + 1)
    t = v.__class__
    if t is bytes:
        v = bytearray(v)
    elif t is not bytearray:
        raise CommandError(WRONGTYPE)
    if len(v) <= last_byte:
        v += bytes(last_byte + 1 - len(v))
    return v


def _clamp_range(start: int, end: int, n: int):
    """Redis's start/end handling for BITCOUNT and BITPOS: negative counts
    from the end, then both clipped into the string."""
    if start < 0:
        start += n
    if end < 0:
        end += n
    if start < 0:
        start = 0
    if end < 0:
        end = 0
    if end >= n:
        end = n - 1
    return start, end


# -- SETBIT / GETBIT -----------------------------------------------------------


@command("setbit", 4, "write denyoom", (1, 1, 1), "@bitmap", group="bitmap", since="2.2.0")
def setbit(client, args):
    offset = _bit_offset(client, args[2])
    on = to_int(args[3])
    if on is None or on & ~1:
        raise CommandError(errors.BIT_VALUE)
    key = args[1]
    db = client.db
    byte = offset >> 3
    v = _for_write(db, key, byte)
    mask = 0x80 >> (offset & 7)
    old = v[byte] & mask
    if on:
        v[byte] |= mask
    else:
        v[byte] &= ~mask
    db.set(key, v, True)
    notify(db, NOTIFY_STRING, b"setbit", key)
    return 1 if old else 0


@command("getbit", 3, "readonly fast", (1, 1, 1), "@bitmap", group="bitmap", since="2.2.0")
def getbit(client, args):
    offset = _bit_offset(client, args[2])
    v = _readable(client.db.get(args[1]))
    byte = offset >> 3
    if v is None or byte >= len(v):
        return 0
    return 1 if v[byte] & (0x80 >> (offset & 7)) else 0


# -- BITCOUNT / BITPOS ---------------------------------------------------------


@command("bitcount", -2, "readonly", (1, 1, 1), "@bitmap", group="bitmap", since="2.6.0")
def bitcount(client, args):
    v = _readable(client.db.get(args[1]))
    if v is None:
        return 0
    n = len(v)
    if len(args) == 4:
        start, end = to_int(args[2]), to_int(args[3])
        if start is None or end is None:
            raise CommandError(errors.NOT_INTEGER)
        if start < 0 and end < 0 and start > end:
            return 0
        start, end = _clamp_range(start, end, n)
    elif len(args) == 2:
        start, end = 0, n - 1
    else:
        raise CommandError(errors.SYNTAX)
    if start > end:
        return 0
    return int.from_bytes(v[start:end + 1], "big").bit_count()


@command("bitpos", -3, "readonly", (1, 1, 1), "@bitmap", group="bitmap", since="2.8.7")
def bitpos(client, args):
    bit = to_int(args[2])
    if bit is None:
        raise CommandError(errors.NOT_INTEGER)
    if bit & ~1:
        raise CommandError(errors.BITPOS_BIT)
    v = _readable(client.db.get(args[1]))
    if v is None:
        # A missing key is an endless run of zeros.
        return -1 if bit else 0
    n = len(v)
    end_given = False
    if len(args) in (4, 5):
        start = to_int(args[3])
        if start is None:
            raise CommandError(errors.NOT_INTEGER)
        if len(args) == 5:
            end = to_int(args[4])
            if end is None:
                raise CommandError(errors.NOT_INTEGER)
            end_given = True
        else:
            end = n - 1
        start, end = _clamp_range(start, end, n)
    elif len(args) == 3:
        start, end = 0, n - 1
    else:
        raise CommandError(errors.SYNTAX)
    if start > end:
        return -1
    seg = bytes(v[start:end + 1])
    rest = seg.lstrip(b"\xff" if bit == 0 else b"\x00")
    if not rest:
        if bit:
            return -1
        # No clear bit in range: with an explicit end that is "not found";
        # without one, the string continues with zeros right after it.
        return -1 if end_given else (start + len(seg)) * 8
    first = rest[0] if bit else rest[0] ^ 0xFF
    return (start + len(seg) - len(rest)) * 8 + 8 - first.bit_length()


# -- BITOP ---------------------------------------------------------------------


@command("bitop", -4, "write denyoom", (2, -1, 1), "@bitmap", group="bitmap", since="2.6.0")
def bitop(client, args):
    op = args[1].lower()
    if op not in (b"and", b"or", b"xor", b"not"):
        raise CommandError(errors.SYNTAX)
    if op == b"not" and len(args) != 4:
        raise CommandError(errors.BITOP_NOT_ARITY)
    db = client.db
    values = []
    for key in args[3:]:
        v = _readable(db.get(key))
        values.append(b"" if v is None else v)
    maxlen = max(len(v) for v in values)
    dest = args[2]
    if maxlen == 0:
        if db.delete(dest):
            notify(db, NOTIFY_GENERIC, b"del", dest)
        return 0
    # Shorter strings count as zero-padded on the right.
    nums = [int.from_bytes(bytes(v).ljust(maxlen, b"\x00"), "big") for v in values]
    acc = nums[0]
    if op == b"and":
        for x in nums[1:]:
            acc &= x
    elif op == b"or":
        for x in nums[1:]:
            acc |= x
    elif op == b"xor":
        for x in nums[1:]:
            acc ^= x
    else:
        acc ^= (1 << (maxlen * 8)) - 1
    db.set(dest, acc.to_bytes(maxlen, "big"))
    notify(db, NOTIFY_STRING, b"set", dest)
    return maxlen


# -- BITFIELD ------------------------------------------------------------------

_GET, _SET, _INCRBY = 0, 1, 2
_WRAP, _SAT, _FAIL = 0, 1, 2
_SUBCOMMANDS = {b"get": (_GET, 2), b"set": (_SET, 3), b"incrby": (_INCRBY, 3)}
_OVERFLOWS = {b"wrap": _WRAP, b"sat": _SAT, b"fail": _FAIL}


def _bitfield_type(arg: bytes):
    """``i1``..``i64`` or ``u1``..``u63``: (signed, bits)."""
    if arg[:1] == b"i":
        signed, limit = True, 64
    elif arg[:1] == b"u":
        signed, limit = False, 63
    else:
        raise CommandError(errors.BITFIELD_TYPE)
    bits = to_int(arg[1:])
    if bits is None or bits < 1 or bits > limit:
        raise CommandError(errors.BITFIELD_TYPE)
    return signed, bits


def _read_field(v, offset: int, bits: int) -> int:
    """The unsigned ``bits``-wide field at bit ``offset`` (zeros past the end)."""
    first = offset >> 3
    last = (offset + bits - 1) >> 3
    nbytes = last - first + 1
    chunk = v[first:last + 1] if v is not None else b""
    if len(chunk) < nbytes:
        chunk = bytes(chunk).ljust(nbytes, b"\x00")
    shift = nbytes * 8 - (offset & 7) - bits
    return (int.from_bytes(chunk, "big") >> shift) & ((1 << bits) - 1)


def _write_field(v: bytearray, offset: int, bits: int, value: int) -> None:
    first = offset >> 3
    last = (offset + bits - 1) >> 3
    nbytes = last - first + 1
    shift = nbytes * 8 - (offset & 7) - bits
    mask = ((1 << bits) - 1) << shift
    chunk = int.from_bytes(v[first:last + 1], "big")
    chunk = (chunk & ~mask) | ((value << shift) & mask)
    v[first:last + 1] = chunk.to_bytes(nbytes, "big")


def _fit(value: int, signed: bool, bits: int, overflow: int):
    """``value`` (the exact result) made to fit the field per the OVERFLOW
    policy: (stored value or None for FAIL, as unsigned bits)."""
    if signed:
        hi = (1 << (bits - 1)) - 1
        lo = -hi - 1
    else:
        hi = (1 << bits) - 1
        lo = 0
    if lo <= value <= hi:
        return value
    if overflow == _WRAP:
        return value & ((1 << bits) - 1)
    if overflow == _SAT:
        return hi if value > hi else lo
    return None


def _bitfield(client, args, read_only_command: bool):
    ops = []
    overflow = _WRAP
    writes = False
    highest = 0
    n = len(args)
    j = 2
    while j < n:
        remaining = n - j - 1
        sub = args[j].lower()
        spec = _SUBCOMMANDS.get(sub)
        if spec is not None and remaining >= spec[1]:
            opcode = spec[0]
        elif sub == b"overflow" and remaining >= 1:
            overflow = _OVERFLOWS.get(args[j + 1].lower())
            if overflow is None:
                raise CommandError(errors.BITFIELD_OVERFLOW)
            j += 2
            continue
        else:
            raise CommandError(errors.SYNTAX)
        signed, bits = _bitfield_type(args[j + 1])
        offset = _bit_offset(client, args[j + 2], True, bits)
        arg = 0
        if opcode != _GET:
            writes = True
            if offset + bits - 1 > highest:
                highest = offset + bits - 1
            arg = to_int(args[j + 3])
            if arg is None:
                raise CommandError(errors.NOT_INTEGER)
            j += 4
        else:
            j += 3
        ops.append((opcode, signed, bits, offset, arg, overflow))
    db = client.db
    key = args[1]
    if not writes:
        v = _readable(db.get(key))
    else:
        if read_only_command:
            raise CommandError(errors.BITFIELD_RO_GET_ONLY)
        v = _for_write(db, key, highest >> 3)
    out = []
    for opcode, signed, bits, offset, arg, ovf in ops:
        raw = _read_field(v, offset, bits)
        old = raw - (1 << bits) if signed and raw >> (bits - 1) else raw
        if opcode == _GET:
            out.append(old)
            continue
        if opcode == _INCRBY:
            new = _fit(old + arg, signed, bits, ovf)
        elif signed:
            new = _fit(arg, signed, bits, ovf)
        else:
            # An unsigned SET sees the argument as a 64-bit unsigned number.
            new = _fit(arg % _U64, signed, bits, ovf)
        if new is None:
            out.append(None)
            continue
        stored = new & ((1 << bits) - 1)
        _write_field(v, offset, bits, stored)
        if opcode == _SET:
            out.append(old)
        else:
            out.append(stored - (1 << bits) if signed and stored >> (bits - 1) else stored)
    if writes:
        # Also when every write failed: Redis has grown (or created) the
        # string by then.
        db.set(key, v, True)
        notify(db, NOTIFY_STRING, b"setbit", key)
    return out


@command("bitfield", -2, "write denyoom", (1, 1, 1), "@bitmap", group="bitmap",
         since="3.2.0")
def bitfield(client, args):
    return _bitfield(client, args, False)


@command("bitfield_ro", -2, "readonly fast", (1, 1, 1), "@bitmap", group="bitmap",
         since="6.0.0")
def bitfield_ro(client, args):
    return _bitfield(client, args, True)
