"""call(): one request in, one encoded reply out.

The order follows Redis's processCommand/call:
lookup -> arity -> gates decided by the command's flags (auth, MULTI
queueing, pub/sub context; server-wide: read-only member, maxmemory,
loading) -> handler -> effects into the funnel -> stats, slow log, MONITOR
-> encode for the client's protocol. The slow log and latency monitor cost
one comparison of the run time against ``core.slow_ns``.

The gates are skipped with one attribute test unless something needs them
(``client.slowpath``, which also reflects server-wide gates), and the
observers (MONITOR, the after-call hook) likewise (``core.observed``),
because this function is the hot path for every command.

``call_many`` is the loop a pipelined batch runs in: the same steps per
request, with what a batch shares looked up once (see its docstring).
"""

from __future__ import annotations

import logging
import time

from . import errors
from .blocking import serve_ready_keys
from .errors import CommandError
from .protocol.encoder import BULK_FORMATS, QUEUED, SHARED_INTS, Raw, encode, error_bytes
from .protocol.inline import quote

log = logging.getLogger("pyredis")
_perf_ns = time.perf_counter_ns

# A gate's answer meaning "hold this command until the client is released"
# (CLIENT PAUSE): the shell keeps the request and runs it again later.
HELD = Raw(b"")

# Commands that run rather than queue inside MULTI.
_MULTI_IMMEDIATE = frozenset(("exec", "discard", "multi", "watch", "quit", "reset"))


def call(client, args: list) -> bytes:
    """Execute one request for ``client`` and return the encoded reply."""
    table = client.table
    cmd = table.get(args[0])
    if cmd is None:
        cmd = table.get(args[0].lower())
        if cmd is None:
            return _reject(client, errors.unknown_command(args))
    arity = cmd.arity
    if arity > 0:
        if len(args) != arity:
            return _reject(client, errors.wrong_arity(cmd.name), cmd, args)
    elif len(args) < -arity:
        return _reject(client, errors.wrong_arity(cmd.name), cmd, args)
    if client.slowpath or cmd.gate is not None:
        refused = _gates(client, cmd, args)
        if refused is not None:
            return refused
    reply = run(client, cmd, args)
    if client.db.ks.ready:
        # The command (or EXEC) pushed to keys that clients block on.
        serve_ready_keys(client.core)
    return reply


def call_many(client, reqs: list, i: int, parts: list) -> int:
    """Run ``reqs[i:]`` for ``client``, appending each encoded reply to
    ``parts``, as :func:`call` would one by one; return the index of the
    first request not run.

    A pipelined batch's loop: at ``-P 16`` the executor's share of a
    request is a third of its Python time, and this hoists what is the
    same for the whole batch (the table, the keyspace) and saves
    :func:`call`'s frame. The common case, a known command of the right
    arity with no gates to pass (the client's or its own), runs here through
    :func:`run`; anything else goes to :func:`call`. It stops before a
    request held by a gate (CLIENT PAUSE: the client is then blocked and
    the request runs again once released), and after one that left the
    client closing, blocked or with replies off (CLIENT REPLY), which the
    caller must act on: a reply to filter is then the last in ``parts``."""
    table = client.table
    core = client.core
    ks = client.db.ks  # one for all databases: SELECT does not change it
    n = len(reqs)
    while i < n:
        args = reqs[i]
        cmd = table.get(args[0])
        arity = cmd.arity if cmd is not None else 0
        if (client.slowpath or not arity or cmd.gate is not None
                or ((len(args) != arity) if arity > 0 else (len(args) < -arity))):
            out = call(client, args)
            if out is HELD:
                return i
            parts.append(out)
        else:
            parts.append(run(client, cmd, args))
            if ks.ready:
                serve_ready_keys(core)
        i += 1
        if client.closing or client.blocked is not None or client.reply_mode:
            return i
    return i


def run(client, cmd, args: list) -> bytes:
    """Run a command that passed its gates (also used by EXEC for queued ones)."""
    ks = client.db.ks
    dirty = ks.dirty
    t0 = _perf_ns()
    try:
        reply = cmd.handler(client, args)
    except CommandError as e:
        reply = e
        cmd.failed_calls += 1
        client.core.stats.count_error(e.args[0])
    except Exception:  # a bug must not take the server down
        log.exception("internal error in %s", cmd.name)
        reply = CommandError(f"ERR internal error while running '{cmd.name}'")
        cmd.failed_calls += 1
        client.core.stats.count_error(reply.args[0])
    ns = _perf_ns() - t0
    cmd.usec += ns
    cmd.calls += 1
    client.last_cmd = cmd
    core = client.core
    if ns >= core.slow_ns:
        core.on_slow(client, cmd, args, ns)
    if ks.dirty != dirty and core.funnel.sinks and (
            client.effects is not None
            or cmd.is_write and not isinstance(reply, CommandError)):
        # A read-only command, or a write that failed (LSET of a key it
        # found expired), can change the dataset only by expiring keys,
        # whose DELs the keyspace already sent: its argv is not an effect.
        _propagate(client, args)
    if client.effects is not None:
        client.effects = None
    if core.observed:
        _observe(client, cmd, args)
    t = reply.__class__
    if t is Raw:
        return reply
    if t is bytes:
        try:
            return BULK_FORMATS[len(reply)] % reply
        except IndexError:  # 1024 bytes or more
            return b"$%d\r\n%b\r\n" % (len(reply), reply)
    if t is int:
        if 0 <= reply < 1024:
            return SHARED_INTS[reply]
        return b":%d\r\n" % reply
    if reply is None:
        return b"_\r\n" if client.resp == 3 else b"$-1\r\n"
    return encode(reply, client.resp == 3)


def _propagate(client, args: list) -> None:
    """Send a write's effects into the funnel: the handler's recorded
    effects if it rewrote them, else its argv."""
    effects = client.effects
    funnel = client.core.funnel
    dbid = client.db.id
    if effects is None:
        funnel.emit(dbid, args)
    else:
        for e in effects:
            funnel.emit(dbid, e)


def _observe(client, cmd, args: list) -> None:
    """MONITOR and the after-call hook (eviction.py's key bookkeeping)."""
    core = client.core
    if core.monitors and not cmd.skip_monitor and "admin" not in cmd.flags:
        _feed_monitors(client, args)
    if core.after_call is not None:
        core.after_call(client, cmd, args)


def _reject(client, message: str, cmd=None, args=None) -> bytes:
    core = client.core
    if client.in_multi:
        if cmd is not None and cmd.name == "exec":
            # Redis's rejectCommand: a refused EXEC (BUSY, OOM, wrong
            # arity...) ends the transaction, or the client would stay in
            # MULTI and queue everything it sends after.
            from .commands.transactions import exec_abort
            message = exec_abort(client, message, args)
        else:
            client.multi_error = True
    core.stats.count_error(message)
    return error_bytes(message)


def _gates(client, cmd, args):
    """The policy checks. Returns an encoded refusal, or None to go on."""
    core = client.core
    if not client.authenticated and not cmd.no_auth:
        return _reject(client, errors.NOAUTH, cmd, args)
    for gate in (core.gate, cmd.gate):
        if gate is not None:
            refused = gate(client, cmd, args)
            if refused is not None:
                if refused is HELD:
                    return refused
                cmd.rejected_calls += 1
                return _reject(client, refused, cmd, args)
    if (client.channels or client.patterns) and client.resp == 2 and not cmd.allowed_in_pubsub:
        return _reject(client, errors.PUBSUB_CONTEXT.format(cmd.name))
    if client.in_multi and cmd.name not in _MULTI_IMMEDIATE:
        client.multi_queue.append((cmd, args))
        return QUEUED
    return None


def _feed_monitors(client, args: list) -> None:
    """MONITOR output, as redis-cli --monitor prints it."""
    now = time.time()
    parts = [quote(a) for a in args]
    line = "+%.6f [%d %s] %s\r\n" % (now, client.db.id, client.addr or "lua", " ".join(parts))
    data = line.encode()
    for m in list(client.core.monitors):
        m.send(data)
