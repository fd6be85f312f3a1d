"""AOF commands: BGREWRITEAOF, and DEBUG LOADAOF (through the DEBUG
registry). The work is in ``persistence.aof``."""

from __future__ import annotations

from .. import errors
from ..errors import CommandError
from ..protocol import OK, Simple
from .introspection import DEBUG
from .table import command


@command("bgrewriteaof", 1, "admin noscript", group="server", since="1.0.0")
def bgrewriteaof(client, args):
    from ..persistence.aof import aof_of, bgsave_running
    aof = aof_of(client.core)
    if aof.child:
        raise CommandError(errors.AOF_REWRITE_IN_PROGRESS)
    if bgsave_running(client.core):
        aof.rewrite_scheduled = True
        return Simple(b"Background append only file rewriting scheduled")
    if not aof.rewrite():
        raise CommandError(errors.AOF_REWRITE_FAILED)
    return Simple(b"Background append only file rewriting started")


@DEBUG.add("loadaof", 2, help=("LOADAOF",
                               "    Flush the AOF buffers on disk and reload the AOF in memory."))
def debug_loadaof(client, args):
    from ..persistence.aof import AofLoadError, aof_of, load_file
    core = client.core
    aof = aof_of(core)
    if aof.state == "on":
        aof.flush()
    for db in core.ks.dbs:
        db.flush()
    sink = aof in core.funnel.sinks
    if sink:
        core.funnel.unsubscribe(aof)
    try:
        load_file(core, aof.path)
    except (AofLoadError, OSError) as e:
        raise CommandError(f"ERR Error loading the AOF: {e}") from None
    finally:
        if sink:
            core.funnel.subscribe(aof)
    return OK
