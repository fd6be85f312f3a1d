"""String commands (GET/SET family, counters, ranges). Bit commands live in bits.py."""

from __future__ import annotations

from ..db import STRING_TYPES
from ..errors import WRONGTYPE, CommandError
from ..protocol import OK
from .table import command


@command("get", 2, "readonly fast", (1, 1, 1), "@string", group="string")
def get(client, args):
    v = client.db.get(args[1])
    if v is None or type(v) is bytes:
        return v
    if type(v) is bytearray:
        return bytes(v)
    raise CommandError(WRONGTYPE)


@command("set", -3, "write denyoom", (1, 1, 1), "@string", group="string")
def set_(client, args):
    client.db.set(args[1], args[2])
    return OK


__all__ = ["STRING_TYPES"]
