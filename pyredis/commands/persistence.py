"""RDB persistence commands: SAVE, BGSAVE, DUMP, RESTORE and DEBUG RELOAD,
plus the INFO persistence section (LASTSAVE and SHUTDOWN live in
server.py; SHUTDOWN saves through ``core.save_on_shutdown``, which
``persistence.snapshot.startup`` installs).

The file and payload formats are in ``persistence.rdb``; the dump file's
life (temp file and rename, fork, save rules, start-up load) in
``persistence.snapshot``.
"""

from __future__ import annotations

import logging

from .. import errors
from ..db import now_ms
from ..errors import CommandError
from ..notify import NOTIFY_GENERIC, notify
from ..persistence import rdb, snapshot
from ..protocol import OK, Simple
from . import introspection
from .args import to_int
from .info import _aof_fields, section
from .table import command

log = logging.getLogger("pyredis")


def _bgsave_running(core) -> bool:
    snaps = snapshot.of(core)
    snaps.reap()
    return bool(snaps.child_pid)


@command("save", 1, "admin noscript", group="server", since="1.0.0")
def save(client, args):
    core = client.core
    if _bgsave_running(core):
        raise CommandError(errors.BGSAVE_IN_PROGRESS)
    if not snapshot.of(core).save():
        raise CommandError("ERR")
    return OK


@command("bgsave", -1, "admin noscript", group="server", since="1.0.0")
def bgsave(client, args):
    if len(args) > 2 or (len(args) == 2 and args[1].lower() != b"schedule"):
        raise CommandError(errors.SYNTAX)
    core = client.core
    if _bgsave_running(core):
        raise CommandError(errors.BGSAVE_IN_PROGRESS)
    snaps = snapshot.of(core)
    if snaps.other_child():
        if len(args) == 2:
            snaps.scheduled = True
            return Simple(b"Background saving scheduled")
        raise CommandError(errors.BGSAVE_OTHER_CHILD)
    if not snaps.bgsave():
        raise CommandError("ERR")
    return Simple(b"Background saving started")


# -- DUMP / RESTORE -------------------------------------------------------------------


@command("dump", 2, "readonly random", keys=(1, 1, 1), categories="@keyspace",
         group="generic", since="2.6.0")
def dump(client, args):
    value = client.db.get(args[1])
    if value is None:
        return None
    return rdb.dump_payload(value, client.core.config.rdbcompression)


@command("restore", -4, "write denyoom", keys=(1, 1, 1), categories="@keyspace @dangerous",
         group="generic", since="2.6.0")
def restore(client, args):
    replace = absttl = False
    idle = freq = -1
    j = 4
    n = len(args)
    while j < n:
        opt = args[j].lower()
        more = n - j - 1
        if opt == b"replace":
            replace = True
        elif opt == b"absttl":
            absttl = True
        elif opt == b"idletime" and more >= 1 and freq == -1:
            idle = _int_arg(args[j + 1])
            if idle < 0:
                raise CommandError(errors.INVALID_IDLETIME)
            j += 1
        elif opt == b"freq" and more >= 1 and idle == -1:
            freq = _int_arg(args[j + 1])
            if not 0 <= freq <= 255:
                raise CommandError(errors.INVALID_FREQ)
            j += 1
        else:
            raise CommandError(errors.SYNTAX)
        j += 1
    db = client.db
    key = args[1]
    if not replace and db.get_for_write(key) is not None:
        raise CommandError(errors.BUSYKEY)
    ttl = _int_arg(args[2])
    if ttl < 0:
        raise CommandError(errors.INVALID_TTL)
    payload = args[3]
    if not _payload_ok(payload):
        raise CommandError(errors.DUMP_PAYLOAD_INVALID)
    try:
        value = rdb.load_value(payload[:-10], client.core.config)
    except (rdb.RDBError, ValueError, TypeError, OverflowError):
        raise CommandError(errors.BAD_DATA_FORMAT) from None
    if _empty(value):
        raise CommandError(errors.BAD_DATA_FORMAT)
    deleted = db.delete(key) if replace else False
    if ttl and not absttl:
        ttl += now_ms()
    if ttl and ttl <= now_ms() and client.kind != "master":
        # Already expired: the key is not created (an old one was deleted).
        if deleted:
            client.rewrite(b"DEL", key)
            notify(db, NOTIFY_GENERIC, b"del", key)
        return OK
    db.set(key, value)
    if ttl:
        db.set_expire(key, ttl)
        if not absttl:
            client.rewrite(*args[:2], b"%d" % ttl, *args[3:], b"ABSTTL")
    notify(db, NOTIFY_GENERIC, b"restore", key)
    return OK


def _int_arg(b: bytes) -> int:
    v = to_int(b)
    if v is None:
        raise CommandError(errors.NOT_INTEGER)
    return v


def _payload_ok(payload: bytes) -> bool:
    """Redis's verifyDumpPayload, except that payloads of any RDB version
    this reader knows (up to Redis 7.2's) are accepted."""
    if len(payload) < 10:
        return False
    version = int.from_bytes(payload[-10:-8], "little")
    if version > rdb.MAX_READ_VERSION:
        return False
    return rdb.crc64(payload[:-8]) == int.from_bytes(payload[-8:], "little")


def _empty(value) -> bool:
    t = type(value)
    if t is bytes:
        return False
    if getattr(value, "TYPE_NAME", None) == "stream":
        return False
    return len(value) == 0


# -- DEBUG RELOAD ---------------------------------------------------------------------


@introspection.DEBUG.add("reload", -2, help=(
        "RELOAD [option ...]",
        "    Save the RDB on disk and reload it back to memory. Valid <option> values:",
        "    * MERGE: conflicting keys will be loaded from RDB.",
        "    * NOFLUSH: the existing database will not be removed before load, but",
        "      conflicting keys will generate an exception and kill the server.",
        "    * NOSAVE: the database will be loaded from an existing RDB file.",
        "    Examples:",
        "    * DEBUG RELOAD: verify that the server is able to persist, flush and reload",
        "      the database.",
        "    * DEBUG RELOAD NOSAVE: replace the current database with the contents of an",
        "      existing RDB file.",
        "    * DEBUG RELOAD NOSAVE NOFLUSH MERGE: add the contents of an existing RDB",
        "      file to the database."))
def debug_reload(client, args):
    merge = noflush = nosave = False
    for opt in args[2:]:
        o = opt.lower()
        if o == b"merge":
            merge = True
        elif o == b"noflush":
            noflush = True
        elif o == b"nosave":
            nosave = True
        else:
            raise CommandError(errors.DEBUG_RELOAD_OPTIONS)
    core = client.core
    snaps = snapshot.of(core)
    if not nosave:
        snaps.wait_child()
        if not snaps.save():
            raise CommandError("ERR")
    data = snaps.read_file()
    if data is None:
        raise CommandError(errors.RDB_LOAD_FAILED)
    try:
        snap = rdb.parse(data, rdb.Limits(core.config))
    except rdb.RDBError as e:
        log.warning("DEBUG RELOAD: %s", e)
        raise CommandError(errors.RDB_LOAD_FAILED) from None
    if noflush:
        _merge(core, snap, merge)
    else:
        rdb.install(snap, core.ks)
        gr = getattr(core, "global_repl", None)
        if gr is not None:
            # Same keys, same versions, but keys past their expiry were not
            # loaded: the kept anti-entropy digests count them still.
            gr.member.recount_digests()
    log.warning("DB reloaded by DEBUG RELOAD")
    return OK


def _merge(core, snap, replace: bool) -> None:
    """DEBUG RELOAD NOFLUSH: add the file's keys; with MERGE the file wins."""
    for index, key, value, when in snap.entries():
        if index >= len(core.ks.dbs):
            continue
        db = core.ks.dbs[index]
        if key in db.data and not replace:
            raise CommandError(errors.RDB_LOAD_FAILED)
        db.set(key, value)
        if when is not None:
            db.set_expire(key, when)


if "reload" not in introspection._DEBUG_HELP_ORDER:
    introspection._DEBUG_HELP_ORDER.insert(
        introspection._DEBUG_HELP_ORDER.index("sleep"), "reload")


def _serialized_length(value) -> int:
    return len(rdb.dump_value(value, True)) - 1


introspection.serialized_length = _serialized_length


# -- INFO -----------------------------------------------------------------------------


@section("persistence")
def _persistence(core):
    return snapshot.of(core).info() + _aof_fields(core)
