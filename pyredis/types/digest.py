"""DEBUG DIGEST: a SHA1 signature of the dataset, byte-identical to Redis 6.2's.

The algorithm is Redis's (debug.c), reimplemented here:

* ``xor(d, data)``: d ^= SHA1(data) (order-free accumulation);
* ``mix(d, data)``: d = SHA1(d ^ SHA1(data)) (order-sensitive);
* a key's digest starts at 20 zero bytes, mixes the key name, then the
  value's type id as a 4-byte big-endian integer (string 0, list 1, set 2,
  zset 3, hash 4, stream 6), then the value through its type's hook, and
  finally, if the key has a TTL, xors in the marker ``!!expire!!`` (Redis
  6.2 marks that a TTL exists; it does not mix the expire time itself);
* the dataset digest starts at zero; for each non-empty database it mixes
  the database index (4 bytes, big-endian) and then xors in every key's
  digest (through SHA1, as xor does). An empty dataset gives 40 zeros.

DEBUG DIGEST-VALUE gives, per key, the value's digest alone: zero, the
type id mixed, the value, the TTL marker (no key name).

Per-type hooks: :func:`register` maps a Python value type to its Redis type
id and a function ``hook(digest: bytes, value) -> bytes`` that mixes the
value into a key's running digest exactly as Redis's xorObjectDigest does
for that type (strings: ``mix(d, value)``; lists: ``mix`` each element head
to tail; sets: ``xor`` each member; hashes and sorted sets: per element a
digest ``mix(mix(zero, field), value)`` / ``mix(mix(zero, member),
"%.17g" score)`` whose SHA1 is xored in; streams: ``mix`` each entry id
``"<ms>.<seq>"`` then each field and value in order). Each type's module
registers its own hook; a value whose type has none makes DEBUG DIGEST
fail loudly instead of returning a wrong signature.

Keys whose TTL has passed but that were not removed yet are left out (Redis
still counts them until they are touched): two members that hold the same
live data give the same digest whatever their expiry timing.
"""

from __future__ import annotations

import hashlib
from typing import Callable

ZERO = bytes(20)
EXPIRE_MARKER = b"!!expire!!"

_sha1 = hashlib.sha1
_from = int.from_bytes

# Python value type -> (4-byte type id, hook(digest, value) -> digest)
_HOOKS: dict[type, tuple[bytes, Callable[[bytes, object], bytes]]] = {}


def xor(digest: bytes, data: bytes) -> bytes:
    """debug.c's xorDigest: ``digest`` xor SHA1(``data``)."""
    return (_from(digest, "big") ^ _from(_sha1(data).digest(), "big")).to_bytes(20, "big")


def mix(digest: bytes, data: bytes) -> bytes:
    """debug.c's mixDigest: SHA1(``digest`` xor SHA1(``data``))."""
    x = _from(digest, "big") ^ _from(_sha1(data).digest(), "big")
    return _sha1(x.to_bytes(20, "big")).digest()


def register(pytype: type, type_id: int | bytes,
             hook: Callable[[bytes, object], bytes]) -> None:
    """Let DEBUG DIGEST handle values of ``pytype`` (see the module doc)."""
    if isinstance(type_id, int):
        type_id = type_id.to_bytes(4, "big")
    _HOOKS[pytype] = (bytes(type_id), hook)


def _hook_for(value):
    entry = _HOOKS.get(type(value))
    if entry is None:
        for base in type(value).__mro__[1:]:
            entry = _HOOKS.get(base)
            if entry is not None:
                break
        else:
            raise TypeError(f"DEBUG DIGEST has no hook for values of type "
                            f"{type(value).__name__}")
    return entry


def value_digest(value, has_expire: bool, start: bytes = ZERO) -> bytes:
    """xorObjectDigest: mix ``value`` (and the TTL marker) into ``start``."""
    type_id, hook = _hook_for(value)
    d = hook(mix(start, type_id), value)
    if has_expire:
        d = xor(d, EXPIRE_MARKER)
    return d


def key_digest(key: bytes, value, has_expire: bool) -> bytes:
    """One key-value pair's digest, as DEBUG DIGEST xors it in."""
    return value_digest(value, has_expire, mix(ZERO, key))


def dataset_digest(keyspace, now_ms: int) -> bytes:
    """computeDatasetDigest over every database of ``keyspace``."""
    final = ZERO
    for db in keyspace.dbs:
        data = db.data
        if not data:
            continue
        expires = db.expires
        acc = 0
        live = 0
        for key, value in data.items():
            when = expires.get(key)
            if when is not None and when <= now_ms:
                continue
            live += 1
            # xorDigest hashes what it xors in: SHA1 of the key's digest.
            acc ^= _from(_sha1(key_digest(key, value, when is not None)).digest(), "big")
        if not live:
            continue
        final = mix(final, db.id.to_bytes(4, "big"))
        final = (_from(final, "big") ^ acc).to_bytes(20, "big")
    return final


def _string_hook(digest: bytes, value) -> bytes:
    return mix(digest, bytes(value))


register(bytes, 0, _string_hook)
register(bytearray, 0, _string_hook)
