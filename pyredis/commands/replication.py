"""The replica side's commands of classic replication: REPLICAOF (and its
old name SLAVEOF) and ROLE, with Redis 6.2's replies and errors. The link
itself is ``replication.replica.MasterLink``; SYNC, PSYNC, REPLCONF and
WAIT are the master side's (commands/sync.py).
"""

from __future__ import annotations

import logging

from .. import errors
from ..errors import CommandError
from ..protocol import OK, Simple
from ..replication import replica
from .args import to_int
from .table import command

log = logging.getLogger("pyredis")

_ALREADY = Simple(b"OK Already connected to specified master")


def _replicaof(client, args):
    core = client.core
    host, port_arg = args[1], args[2]
    if host.lower() == b"no" and port_arg.lower() == b"one":
        if core.repl.master is not None:
            replica.unset_master(core)
            log.info("MASTER MODE enabled (user request from '%s')", client.addr)
        return OK
    if client.kind == "replica":
        # It would drop this very connection along with the other replicas.
        raise CommandError(errors.REPLICAOF_FROM_REPLICA)
    port = to_int(port_arg)
    if port is None:
        raise CommandError(errors.NOT_INTEGER)
    name = host.decode("utf-8", "surrogateescape")
    link = core.repl.master
    if link is not None and link.host.lower() == name.lower() and link.port == port:
        log.info("REPLICAOF would result into synchronization with the master we are "
                 "already connected with. No operation performed.")
        return _ALREADY
    replica.set_master(core, name, port)
    log.info("REPLICAOF %s:%d enabled (user request from '%s')", name, port, client.addr)
    return OK


@command("replicaof", 3, "admin noscript stale", group="server", since="5.0.0")
def replicaof(client, args):
    return _replicaof(client, args)


@command("slaveof", 3, "admin noscript stale", group="server", since="1.0.0")
def slaveof(client, args):
    return _replicaof(client, args)


@command("role", 1, "noscript loading stale fast", categories="@dangerous", group="server",
         since="2.8.12")
def role(client, args):
    repl = client.core.repl
    if repl.master is not None:
        return repl.master.role()
    # Online replicas only; ports and offsets are bulk strings, as Redis
    # writes them.
    replicas = [[r.ip.encode(), b"%d" % r.listening_port, b"%d" % r.ack_offset]
                for r in repl.replicas if r.online]
    return [b"master", repl.master_repl_offset, replicas]
