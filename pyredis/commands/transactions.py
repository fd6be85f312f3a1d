"""Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH.

Queueing happens in the executor's gates (a client in MULTI gets +QUEUED
for every command but these); a command refused while queueing (unknown,
wrong arity, NOAUTH, OOM...) marks the transaction so EXEC answers
EXECABORT. EXEC runs the queue through ``executor.run`` with blocking
denied, inside one propagation unit, so replicas and the AOF see one
MULTI/EXEC; a WATCHed key touched by anyone since WATCH (writes, expiry,
FLUSHDB, SWAPDB, RENAME, replication) makes EXEC reply a null array.
"""

from __future__ import annotations

from .. import errors
from ..db import now_ms, unwatch_all, watch
from ..errors import CommandError
from ..protocol import NULL_ARRAY, OK, Raw
from .table import command


def _leave_multi(client) -> None:
    client.in_multi = False
    client.multi_queue = None
    client.multi_error = False
    client.update_slowpath()
    if client.watched:
        unwatch_all(client)
    client.watch_dirty = False


@command("multi", 1, "noscript loading stale fast", categories="@transaction",
         group="transactions", since="1.2.0")
def multi(client, args):
    if client.in_multi:
        raise CommandError(errors.MULTI_NESTED)
    client.in_multi = True
    client.multi_queue = []
    client.multi_error = False
    client.update_slowpath()
    return OK


@command("discard", 1, "noscript loading stale fast", categories="@transaction",
         group="transactions", since="2.0.0")
def discard(client, args):
    if not client.in_multi:
        raise CommandError(errors.DISCARD_WITHOUT_MULTI)
    _leave_multi(client)
    return OK


@command("exec", 1, "noscript loading stale skip_slowlog", categories="@transaction",
         group="transactions", since="1.2.0")
def exec_(client, args):
    if not client.in_multi:
        raise CommandError(errors.EXEC_WITHOUT_MULTI)
    queue = client.multi_queue
    if client.multi_error:
        _leave_multi(client)
        raise CommandError(errors.EXECABORT)
    if client.watch_dirty or _watched_key_expired(client):
        _leave_multi(client)
        return NULL_ARRAY
    _leave_multi(client)
    from ..executor import run
    funnel = client.core.funnel
    funnel.begin_unit()
    client.deny_blocking = True
    replies = []
    try:
        for cmd, cargs in queue:
            # Each reply is encoded for this client already; EXEC's array
            # carries them as they are.
            replies.append(Raw(run(client, cmd, cargs)))
    finally:
        client.deny_blocking = False
        funnel.end_unit()
    return replies


def exec_abort(client, message: str, args: list) -> str:
    """EXEC refused before it ran (Redis's execCommandAbort): the
    transaction is discarded and the refusal, without its ERR prefix,
    becomes the EXECABORT reason. MONITOR sees the EXEC, so the MULTI it
    showed is closed."""
    _leave_multi(client)
    if client.core.monitors:
        from ..executor import _feed_monitors
        _feed_monitors(client, args)
    if message.startswith("ERR "):
        message = message[4:]
    return errors.EXEC_ABORTED.format(message)


def _watched_key_expired(client) -> bool:
    """A WATCHed key that is logically expired at EXEC counts as modified,
    even if nothing deleted it yet (Redis 6.2's isWatchedKeyExpired)."""
    now = now_ms()
    for db, key in client.watched or ():
        when = db.expires.get(key)
        if when is not None and when < now:
            return True
    return False


@command("watch", -2, "noscript loading stale fast", (1, -1, 1), "@transaction",
         group="transactions", since="2.2.0")
def watch_(client, args):
    if client.in_multi:
        raise CommandError(errors.WATCH_IN_MULTI)
    db = client.db
    for key in args[1:]:
        watch(client, db, key)
    return OK


@command("unwatch", 1, "noscript loading stale fast", categories="@transaction",
         group="transactions", since="2.2.0")
def unwatch(client, args):
    if client.watched:
        unwatch_all(client)
    client.watch_dirty = False
    return OK
