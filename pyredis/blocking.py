"""Clients blocked on keys: BLPOP/BRPOP/BRPOPLPUSH, BZPOPMIN/BZPOPMAX,
XREAD/XREADGROUP BLOCK.

How it works, as in Redis (blocked.c):

* A handler that finds nothing to serve calls :func:`block` with the keys,
  a timeout, a ``serve(client, key)`` function and the reply to give on
  timeout, and returns :data:`BLOCKED`. The connection then stops running
  the client's later requests until it is unblocked.
* Any modification of a key somebody waits on (``Database.modified``) marks
  it *ready*. After each top-level command (not inside MULTI/EXEC or a
  script, which see one atomic step) the executor calls
  :func:`serve_ready_keys`: for each ready key, the clients blocked on it
  are tried first-blocked first (Redis's fairness). ``serve`` does the pop
  and returns ``(reply, effects)``, or ``None`` (:data:`KEEP_WAITING`) when
  there is nothing for this client: it stays blocked in its place and the
  next client is tried.
* Effects of a served client are the pop that happened (``RPOP k``, ...)
  and leave through the funnel, after the effect of the command that
  pushed.
* Timeouts use the event loop's timer (``core.call_later``), so a 0.1 s
  timeout ends after 0.1 s, not at the next periodic tick. 0 means forever.

This module holds no sockets: the server shell provides ``core.call_later``
and each client's ``send``/``on_unblocked`` callables.
"""

from __future__ import annotations

from collections import deque

from .protocol.encoder import Raw, encode

# A handler's return value meaning "blocked, nothing to send yet".
BLOCKED = Raw(b"")

# A serve function's answer meaning "nothing for this client": it stays
# blocked and the next client blocked on the key is tried (stream readers
# each wait for IDs past their own; a BZPOPMIN waiter finds a list).
KEEP_WAITING = None


class BlockState:
    __slots__ = ("db", "keys", "serve", "timeout_reply", "timer")

    def __init__(self, db, keys, serve, timeout_reply) -> None:
        self.db = db
        self.keys = keys
        self.serve = serve
        self.timeout_reply = timeout_reply
        self.timer = None


def block(client, keys: list, timeout: float, serve, timeout_reply):
    """Block ``client`` on ``keys`` of its current database.

    ``timeout`` is in seconds (0: forever). Returns :data:`BLOCKED`, which
    the handler returns as its reply."""
    db = client.db
    state = BlockState(db, list(dict.fromkeys(keys)), serve, timeout_reply)
    for key in state.keys:
        q = db.blocked.get(key)
        if q is None:
            q = db.blocked[key] = deque()
        q.append(client)
    client.blocked = state
    core = client.core
    core.blocked_clients += 1
    if timeout > 0 and core.call_later is not None:
        state.timer = core.call_later(timeout, _timed_out, client)
    return BLOCKED


def unblock(client) -> None:
    """Remove ``client`` from every wait queue (served, timed out, killed)."""
    state = client.blocked
    if state is None:
        return
    client.blocked = None
    client.core.blocked_clients -= 1
    if state.timer is not None:
        state.timer.cancel()
    db = state.db
    for key in state.keys:
        q = db.blocked.get(key)
        if q is not None:
            try:
                q.remove(client)
            except ValueError:
                pass
            if not q:
                del db.blocked[key]


def _timed_out(client) -> None:
    state = client.blocked
    if state is None:
        return
    state.timer = None
    unblock(client)
    _reply(client, state.timeout_reply)


def _reply(client, reply) -> None:
    client.send(encode(reply, client.resp == 3))
    if client.on_unblocked is not None:
        client.on_unblocked()


def serve_ready_keys(core) -> None:
    """Serve clients blocked on keys that were modified. Runs until no key
    is ready, since serving one client (BRPOPLPUSH) can make another ready."""
    ks = core.ks
    while ks.ready:
        ready, ks.ready = ks.ready, {}
        for db, key in ready:
            q = db.blocked.get(key)
            if not q:
                continue
            for client in list(q):
                state = client.blocked
                if state is None or state.db is not db:
                    continue
                # The pop runs in the blocked client's database context.
                saved = client.db
                client.db = db
                try:
                    result = state.serve(client, key)
                finally:
                    client.db = saved
                if result is None:
                    # Nothing for this client (empty, or a type its command
                    # does not pop); the next waiter may still be served.
                    continue
                reply, effects = result
                unblock(client)
                if core.funnel.sinks:
                    for e in effects:
                        core.funnel.emit(db.id, e)
                _reply(client, reply)
                if key not in db.blocked:
                    break


