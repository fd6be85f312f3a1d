"""COMMAND (all rows, COUNT, INFO, GETKEYS, HELP) and DEBUG (SLEEP, DIGEST,
DIGEST-VALUE, OBJECT, LOG, ERROR, HELP).

COMMAND's rows come from the command table (``Command.info()``), in RESP3
with flags and categories as sets, as Redis 6.2 sends them. COMMAND
GETKEYS uses ``Command.keys()``: a command declared with a ``keys_fn``
(movable keys) whose function finds no keys, or fails, gets "Invalid
arguments specified for command".

DEBUG DIGEST and DIGEST-VALUE use ``types.digest`` (Redis 6.2's algorithm,
byte for byte). Each value type registers its digest hook there; the ones
whose modules were written before that registry existed are wired here.
DEBUG is a :class:`Subcommands` registry, so the persistence layer adds
RELOAD / LOADAOF and others add theirs without editing this module.
"""

from __future__ import annotations

import logging
import time
from collections import deque

from .. import errors
from ..db import now_ms
from ..errors import CommandError
from ..protocol import OK, Raw, Simple
from ..types import digest as _digest
from .args import to_float
from .subcommands import Subcommands
from .table import command

log = logging.getLogger("pyredis")


# -- COMMAND ----------------------------------------------------------------------------

COMMAND = Subcommands("command")


def _status_set(items, resp3: bool):
    if not resp3:
        return [Simple(x.encode()) for x in items]
    return Raw(b"~%d\r\n" % len(items) + b"".join(b"+%b\r\n" % x.encode() for x in items))


def _listed(client) -> list:
    """The commands this server answers to, in declaration order (one
    removed by rename-command is not listed)."""
    live = {id(c) for c in client.table.values()}
    return [c for c in client.core.commands.values() if id(c) in live]


def command_row(cmd, resp3: bool) -> list:
    """One COMMAND row: name, arity, flags, first key, last key, step,
    ACL categories."""
    if not resp3:
        return cmd.info()
    return [cmd.name.encode(), cmd.arity, _status_set(cmd.flags, True), cmd.first_key,
            cmd.last_key, cmd.key_step, _status_set(cmd.categories, True)]


@command("command", -1, "random loading stale", categories="@connection", group="server",
         since="2.8.13")
def command_(client, args):
    if len(args) == 1:
        resp3 = client.resp == 3
        return [command_row(cmd, resp3) for cmd in _listed(client)]
    return COMMAND.dispatch(client, args)


@COMMAND.add("help", 2)
def command_help(client, args):
    lines = [
        "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "(no subcommand)",
        "    Return details about all Redis commands.",
        "COUNT",
        "    Return the total number of commands in this Redis server.",
        "GETKEYS <full-command>",
        "    Return the keys from a full Redis command.",
        "INFO [<command-name> ...]",
        "    Return details about multiple Redis commands.",
        "HELP",
        "    Prints this help.",
    ]
    return [Simple(line.encode()) for line in lines]


@COMMAND.add("count", 2)
def command_count(client, args):
    return len(_listed(client))


@COMMAND.add("info", -2)
def command_info(client, args):
    resp3 = client.resp == 3
    out = []
    for name in args[2:]:
        cmd = client.table.get(name) or client.table.get(name.lower())
        out.append(command_row(cmd, resp3) if cmd is not None else None)
    return out


@COMMAND.add("getkeys", -3)
def command_getkeys(client, args):
    cargs = args[2:]
    cmd = client.table.get(cargs[0]) or client.table.get(cargs[0].lower())
    if cmd is None:
        raise CommandError(errors.GETKEYS_INVALID_COMMAND)
    n = len(cargs)
    if (cmd.arity > 0 and n != cmd.arity) or n < -cmd.arity:
        raise CommandError(errors.GETKEYS_ARITY)
    if cmd.keys_fn is None and cmd.first_key == 0:
        raise CommandError(errors.GETKEYS_NO_KEYS)
    try:
        keys = cmd.keys(cargs)
    except (CommandError, IndexError, ValueError, TypeError):
        keys = None
    if not keys:
        raise CommandError(errors.GETKEYS_INVALID_ARGS)
    return list(keys)


# -- DEBUG --------------------------------------------------------------------------------

DEBUG = Subcommands("debug")

_DEBUG_HELP_ORDER = ["digest", "digest-value", "error", "log", "object", "sleep"]


@command("debug", -2, "admin noscript loading stale", group="server", since="1.0.0")
def debug_(client, args):
    return DEBUG.dispatch(client, args)


@DEBUG.add("help", 2)
def debug_help(client, args):
    return DEBUG.help(_DEBUG_HELP_ORDER)


@DEBUG.add("sleep", 3, help=("SLEEP <seconds>",
                             "    Stop the server for <seconds>. Decimals allowed."))
def debug_sleep(client, args):
    # strtod as Redis uses it: what does not parse sleeps 0 seconds.
    seconds = to_float(args[2]) or 0.0
    if seconds > 0:
        time.sleep(seconds)
    return OK


@DEBUG.add("digest", 2, help=(
        "DIGEST",
        "    Output a hex signature representing the current DB content."))
def debug_digest(client, args):
    return Simple(_digest.dataset_digest(client.core.ks, now_ms()).hex().encode())


@DEBUG.add("digest-value", -2, help=(
        "DIGEST-VALUE <key> [<key> ...]",
        "    Output a hex signature of the values of all the specified keys."))
def debug_digest_value(client, args):
    db = client.db
    out = []
    for key in args[2:]:
        value = db.data.get(key)
        if value is None:
            d = _digest.ZERO
        else:
            d = _digest.value_digest(value, key in db.expires)
        out.append(Simple(d.hex().encode()))
    return out


@DEBUG.add("error", 3, help=(
        "ERROR <string>",
        "    Return a Redis protocol error with <string> as message. Useful for clients",
        "    unit tests to simulate Redis errors."))
def debug_error(client, args):
    raise CommandError(args[2].decode("utf-8", "surrogateescape"))


@DEBUG.add("log", 3, help=("LOG <message>", "    Write <message> to the server log."))
def debug_log(client, args):
    log.warning("DEBUG LOG: %s", args[2].decode("utf-8", "replace"))
    return OK


# OBJECT's serializedlength needs the RDB encoder: the persistence layer
# sets this to a function value -> int.
serialized_length = None


@DEBUG.add("object", 3, help=(
        "OBJECT <key>",
        "    Show low level info about `key` and associated value."))
def debug_object(client, args):
    # Like Redis, a debug lookup: no hit/miss counting, no lazy expiry.
    value = client.db.data.get(args[2])
    if value is None:
        raise CommandError(errors.NO_SUCH_KEY)
    from . import keys as _keys
    encoding = _keys.object_encoding(value)
    refcount_fn = getattr(_keys, "_refcount", None)
    refcount = refcount_fn(client, value) if refcount_fn is not None else 1
    text = f"Value at:0x{id(value):x} refcount:{refcount} encoding:{encoding}"
    if serialized_length is not None:
        text += f" serializedlength:{serialized_length(value)}"
    return Simple(text.encode())


# -- digest hooks for types written before types.digest existed ---------------------------


def _wire_digests() -> None:
    try:
        from .lists import digest_list
        _digest.register(deque, 1, digest_list)
    except ImportError:
        pass
    try:
        from .hashes import digest_hash
        _digest.register(dict, 4, digest_hash)
    except ImportError:
        pass
    try:
        from .zsets import ZSet, digest_zset
        _digest.register(ZSet, 3, digest_zset)
    except ImportError:
        pass

    def digest_set(d: bytes, members) -> bytes:
        own = getattr(members, "digest", None)
        if own is not None:
            acc = int.from_bytes(own(), "big")
        else:
            acc = 0
            for m in members:
                acc ^= int.from_bytes(_digest.xor(_digest.ZERO, m), "big")
        return (int.from_bytes(d, "big") ^ acc).to_bytes(20, "big")

    _digest.register(set, 2, digest_set)


_wire_digests()
