"""The master side's commands of classic replication: SYNC, PSYNC, REPLCONF
and WAIT (REPLICAOF and ROLE are in commands/replication.py).

The handlers parse and answer as Redis 6.2's replication.c does; the work
is in ``replication.master.MasterSide`` (``core.repl.master_side``).
"""

from __future__ import annotations

from .. import errors
from ..errors import CommandError
from ..protocol.encoder import OK, Raw
from .args import to_int
from .table import command

_NOTHING = Raw(b"")


def _begin_sync(client, replid: str, offset):
    core = client.core
    repl = core.repl
    if client.kind == "replica":
        return _NOTHING  # already a replica: ignored, as Redis
    master = repl.master
    if master is not None and not getattr(master, "connected", False):
        raise CommandError(errors.NOMASTERLINK)
    return repl.master_side.psync(client, replid, offset)


@command("sync", 1, "admin noscript", group="server", since="1.0.0")
def sync(client, args):
    return _begin_sync(client, "?", None)


@command("psync", -3, "admin noscript", group="server", since="2.8.0")
def psync(client, args):
    replid = args[1].decode("latin-1")
    offset = to_int(args[2])
    # An offset that is not a number makes it a full resync, as in Redis.
    return _begin_sync(client, replid, -1 if offset is None else offset)


@command("replconf", -1, "admin noscript loading stale", group="server", since="3.0.0")
def replconf(client, args):
    if len(args) % 2 == 0:
        raise CommandError(errors.SYNTAX)
    side = client.core.repl.master_side
    conf = None
    for i in range(1, len(args), 2):
        opt = args[i].lower()
        value = args[i + 1]
        if opt == b"ack":
            if client.kind == "replica":
                offset = to_int(value)
                if offset is not None:
                    side.ack(client, offset)
            return _NOTHING  # never answered
        if opt == b"getack":
            master = client.core.repl.master
            if client.kind == "master" and master is not None:
                master.send_ack()
            return _NOTHING
        if conf is None:
            conf = side.conf.setdefault(client.id, {})
        if opt == b"listening-port":
            port = to_int(value)
            if port is None:
                raise CommandError(errors.NOT_INTEGER)
            conf["listening-port"] = port
        elif opt == b"ip-address":
            if len(value) >= 46:  # NET_HOST_STR_LEN
                raise CommandError("ERR REPLCONF ip-address provided by replica instance "
                                   "is too long: %d bytes" % len(value))
            conf["ip-address"] = value.decode("latin-1")
        elif opt == b"capa":
            conf.setdefault("capa", set()).add(value.lower().decode("latin-1"))
        elif opt == b"rdb-only":
            # Redis 7's redis-cli --rdb: send the snapshot, then close.
            flag = to_int(value)
            if flag not in (0, 1):
                raise CommandError(errors.NOT_INTEGER)
            conf["rdb-only"] = bool(flag)
        else:
            raise CommandError(errors.REPLCONF_UNKNOWN.format(args[i].decode("latin-1")))
    return OK


@command("wait", 3, "noscript", categories="@keyspace", group="generic", since="3.0.0")
def wait(client, args):
    core = client.core
    if core.repl.master is not None:
        raise CommandError(errors.WAIT_ON_REPLICA)
    numreplicas = to_int(args[1])
    if numreplicas is None:
        raise CommandError(errors.NOT_INTEGER)
    timeout = to_int(args[2])
    if timeout is None:
        raise CommandError(errors.TIMEOUT_NOT_INTEGER)
    if timeout < 0:
        raise CommandError(errors.TIMEOUT_NEGATIVE)
    return core.repl.master_side.wait(client, numreplicas, timeout)
