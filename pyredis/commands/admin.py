"""The server's admin surface: SLOWLOG, LATENCY, RESET, CLIENT PAUSE /
UNPAUSE / REPLY, and protected mode.

Slow log and latency monitor (Redis 6.2): the executor compares each
command's run time with ``core.slow_ns`` (the lower of the two thresholds,
or "never") and calls :meth:`Admin.on_slow` only when it is reached, so
neither costs more than one integer comparison per command. Entries keep
Redis's shape: id, unix time, microseconds, at most 32 arguments (the 32nd
becomes ``... (N more arguments)``), each at most 128 bytes (``... (N more
bytes)``), client address and name; passwords are ``(redacted)`` as in
6.2.14 (AUTH, HELLO AUTH, CONFIG SET masterauth/masteruser/requirepass,
ACL SETUSER, MIGRATE AUTH/AUTH2); a script's calls are logged from ``?:0``.
A command that blocks is not logged (Redis logs it when it is served, with
its whole wait).

CLIENT PAUSE holds clients rather than refusing them: a gate
(``core.set_gate(..., "pause")``, present only while a pause lasts)
answers :data:`~pyredis.executor.HELD` for every command (ALL) or for
writes and may-replicate commands (WRITE, also EXEC of such a queue,
and queueing them inside MULTI); the client is then blocked with the
request kept by the shell, which runs it again when the pause ends
(timeout or CLIENT UNPAUSE). Replicas and the master link are never held.
While a pause lasts active expiry is off, as in Redis.

CLIENT REPLY OFF/SKIP is applied by the server shell, which drops the
replies (and, for OFF, out-of-band output) of a client whose
``reply_mode`` says so.

Protected mode (:func:`protected_refusal`): with ``protected-mode yes``, no
``requirepass`` and a wildcard bind (``*``, ``0.0.0.0``, ``::``: Redis's
"no bind address was specified"), a client from anywhere but 127.0.0.1 or
::1 gets Redis's ``-DENIED`` text and is disconnected.
"""

from __future__ import annotations

import time
from collections import deque

from .. import errors
from ..blocking import unblock
from ..db import unwatch_all
from ..errors import CommandError
from ..protocol import OK, Raw, Simple, Verbatim
from .args import to_int
from .client_cmds import CLIENT
from .subcommands import Subcommands
from .table import command

# client.reply_mode values (the shell reads them).
REPLY_OFF = 1
REPLY_SKIP_NEXT = 2   # set by CLIENT REPLY SKIP: the next command's reply goes
REPLY_SKIP = 3        # this command's reply goes
_NO_REPLY = Raw(b"")

_NEVER = 1 << 62
_SLOWLOG_MAX_ARGC = 32
_SLOWLOG_MAX_STRING = 128
_LATENCY_SAMPLES = 160
# Internal callers whose commands Redis neither slow-logs nor samples (AOF
# loading calls handlers directly). A script's redis.call()s are logged,
# under Redis's address for a client without a socket.
_UNLOGGED = frozenset(("aof",))
_NO_PEER = b"?:0"


class _Held:
    """The blocked state of a client held by CLIENT PAUSE (what
    blocking.unblock needs: no keys, no timer)."""

    __slots__ = ("db", "keys", "timer", "timeout_reply")
    held = True

    def __init__(self, db) -> None:
        self.db = db
        self.keys = ()
        self.timer = None
        self.timeout_reply = None


class _LatencyEvent:
    __slots__ = ("samples", "max")

    def __init__(self) -> None:
        self.samples: deque = deque(maxlen=_LATENCY_SAMPLES)  # [unix s, ms]
        self.max = 0


class Admin:
    """Per-server state of the slow log, latency monitor and client pause."""

    def __init__(self, core) -> None:
        self.core = core
        cfg = core.config
        self.slowlog: deque = deque()   # newest first
        self.slowlog_id = 0
        self.latency: dict[str, _LatencyEvent] = {}
        # monotonic end of the current CLIENT PAUSE (0: none), whether it
        # holds every command, its timer, and the clients it holds.
        self.pause_deadline = 0.0
        self.pause_all = False
        self._pause_timer = None
        self.held: list = []
        core.on_slow = self.on_slow
        for name in ("slowlog-log-slower-than", "latency-monitor-threshold"):
            cfg.on_change(name, lambda _v: self._thresholds())
        cfg.on_change("slowlog-max-len", lambda _v: self._trim())
        self._thresholds()

    # -- slow log and latency monitor ------------------------------------------------

    def _thresholds(self) -> None:
        cfg = self.core.config
        slow = cfg.slowlog_log_slower_than
        lat = cfg.latency_monitor_threshold
        ns = _NEVER
        if slow >= 0:
            ns = slow * 1000
        if lat > 0:
            ns = min(ns, lat * 1_000_000)
        self.core.slow_ns = ns

    def _trim(self) -> None:
        log = self.slowlog
        limit = self.core.config.slowlog_max_len
        while len(log) > limit:
            log.pop()

    def on_slow(self, client, cmd, args, ns: int) -> None:
        """The executor's call for a command that ran at least core.slow_ns."""
        if client.blocked is not None or client.kind in _UNLOGGED:
            return
        cfg = self.core.config
        us = ns // 1000
        slow = cfg.slowlog_log_slower_than
        if 0 <= slow <= us and not cmd.skip_slowlog:
            self.slowlog_id += 1
            self.slowlog.appendleft((self.slowlog_id - 1, int(time.time()), us,
                                     _slowlog_args(cmd.name, args),
                                     client.addr.encode() or _NO_PEER, client.name))
            self._trim()
        lat = cfg.latency_monitor_threshold
        if lat and ns // 1_000_000 >= lat:
            self.add_latency("fast-command" if "fast" in cmd.flags else "command",
                             ns // 1_000_000)

    def add_latency(self, event: str, ms: int) -> None:
        """Redis's latencyAddSample: one sample per second (the worst)."""
        ev = self.latency.get(event)
        if ev is None:
            ev = self.latency[event] = _LatencyEvent()
        now = int(time.time())
        if ev.samples and ev.samples[-1][0] == now:
            last = ev.samples[-1]
            last[1] = max(last[1], ms)
        else:
            ev.samples.append([now, ms])
        ev.max = max(ev.max, ms)

    # -- CLIENT PAUSE ------------------------------------------------------------------

    def pause(self, ms: int, all_commands: bool) -> None:
        """Redis's pauseClients: a pause only ever grows, in time and in kind."""
        core = self.core
        now = time.monotonic()
        if not self.pause_deadline:
            self.pause_all = False
        self.pause_all = self.pause_all or all_commands
        end = now + ms / 1000
        if end > self.pause_deadline:
            self.pause_deadline = end
            if self._pause_timer is not None:
                self._pause_timer.cancel()
            if core.call_later is not None:
                self._pause_timer = core.call_later(max(0.0, end - now), self._pause_timeout)
        core.set_gate(self._gate, "pause")

    def _pause_timeout(self) -> None:
        self._pause_timer = None
        if self.pause_deadline and time.monotonic() >= self.pause_deadline - 0.001:
            self.unpause()
        elif self.pause_deadline and self.core.call_later is not None:
            self._pause_timer = self.core.call_later(
                self.pause_deadline - time.monotonic(), self._pause_timeout)

    def unpause(self) -> None:
        """End the pause and let the held clients run what they sent."""
        self.pause_deadline = 0.0
        self.pause_all = False
        if self._pause_timer is not None:
            self._pause_timer.cancel()
            self._pause_timer = None
        self.core.set_gate(None, "pause")
        held, self.held = self.held, []
        for c in held:
            state = c.blocked
            if state is not None and getattr(state, "held", False):
                unblock(c)
                if c.on_unblocked is not None:
                    c.on_unblocked()

    def _gate(self, client, cmd, args):
        if client.kind in _NEVER_HELD:
            return None
        if time.monotonic() >= self.pause_deadline:
            self.unpause()
            return None
        if not self.pause_all and not _may_replicate(cmd):
            if cmd.name != "exec" or not client.in_multi or not any(
                    _may_replicate(c) for c, _ in client.multi_queue or ()):
                return None
        from ..executor import HELD
        client.last_cmd = cmd  # as Redis, CLIENT LIST names the held command
        client.blocked = _Held(client.db)
        self.core.blocked_clients += 1
        self.held.append(client)
        return HELD


# Replication links, and a script's or AOF loading's own calls (a script
# that runs was not held: its commands are not either).
_NEVER_HELD = frozenset(("replica", "master", "lua", "aof"))


def _may_replicate(cmd) -> bool:
    return cmd.is_write or "may_replicate" in cmd.flags


# -- slow log arguments ---------------------------------------------------------------

_REDACTED = b"(redacted)"
_REDACTING = frozenset(("auth", "hello", "config", "acl", "migrate"))


def _redact(name: str, args: list) -> list:
    """6.2.14's redactClientCommandArgument calls, per command."""
    if name == "auth":
        return args[:1] + [_REDACTED] * (len(args) - 1)
    if name == "hello":
        out = list(args)
        for i in range(2, len(out) - 2):
            if out[i].lower() == b"auth":
                out[i + 1] = out[i + 2] = _REDACTED
        return out
    if name == "config" and len(args) >= 4 and args[1].lower() == b"set" and \
            args[2].lower() in (b"masterauth", b"requirepass", b"masteruser"):
        out = list(args)
        out[3] = _REDACTED
        return out
    if name == "acl" and len(args) >= 3 and args[1].lower() == b"setuser":
        return args[:2] + [_REDACTED] * (len(args) - 2)
    if name == "migrate":
        out = list(args)
        for i in range(6, len(out)):
            opt = out[i].lower()
            if opt == b"keys":
                break
            if opt == b"auth" and i + 1 < len(out):
                out[i + 1] = _REDACTED
            elif opt == b"auth2" and i + 2 < len(out):
                out[i + 1] = out[i + 2] = _REDACTED
        return out
    return args


def _slowlog_args(name: str, args: list) -> list:
    if name in _REDACTING:
        args = _redact(name, args)
    n = len(args)
    keep = n if n <= _SLOWLOG_MAX_ARGC else _SLOWLOG_MAX_ARGC - 1
    out = []
    for a in args[:keep]:
        if len(a) > _SLOWLOG_MAX_STRING:
            a = bytes(a[:_SLOWLOG_MAX_STRING]) + b"... (%d more bytes)" % (
                len(a) - _SLOWLOG_MAX_STRING)
        else:
            a = bytes(a)
        out.append(a)
    if keep < n:
        out.append(b"... (%d more arguments)" % (n - keep))
    return out


# -- SLOWLOG ---------------------------------------------------------------------------

SLOWLOG = Subcommands("slowlog")


@command("slowlog", -2, "admin random loading stale", group="server", since="2.2.12")
def slowlog_(client, args):
    return SLOWLOG.dispatch(client, args)


@SLOWLOG.add("get", -2, help=(
        "GET [<count>]",
        "    Return top <count> entries from the slowlog (default: 10). Entries are",
        "    made of:",
        "    id, timestamp, time in microseconds, arguments array, client IP and port,",
        "    client name"))
def slowlog_get(client, args):
    if len(args) > 3:
        raise CommandError(errors.unknown_subcommand(args[1].decode("utf-8", "replace"),
                                                     "slowlog"))
    count = 10
    if len(args) == 3:
        count = to_int(args[2])
        if count is None:
            raise CommandError(errors.NOT_INTEGER)
    entries = list(client.core.admin.slowlog)
    if count >= 0:  # 6.2 gives every entry for a negative count
        entries = entries[:count]
    return [[e[0], e[1], e[2], list(e[3]), e[4], e[5]] for e in entries]


@SLOWLOG.add("len", 2, help=("LEN", "    Return the length of the slowlog."))
def slowlog_len(client, args):
    return len(client.core.admin.slowlog)


@SLOWLOG.add("reset", 2, help=("RESET", "    Reset the slowlog."))
def slowlog_reset(client, args):
    client.core.admin.slowlog.clear()
    return OK


@SLOWLOG.add("help", 2)
def slowlog_help(client, args):
    return SLOWLOG.help()


# -- LATENCY ---------------------------------------------------------------------------

LATENCY = Subcommands("latency")


@command("latency", -2, "admin noscript loading stale", group="server", since="2.8.13")
def latency_(client, args):
    return LATENCY.dispatch(client, args)


@LATENCY.add("doctor", 2, help=("DOCTOR", "    Return a human readable latency analysis report."))
def latency_doctor(client, args):
    admin = client.core.admin
    if not client.core.config.latency_monitor_threshold and not admin.latency:
        text = ("I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this "
                "Redis instance. You may use \"CONFIG SET latency-monitor-threshold "
                "<milliseconds>.\" in order to enable it. If we weren't in a deep space "
                "mission I'd suggest to take a look at "
                "https://redis.io/topics/latency-monitor.\n")
    elif not admin.latency:
        text = ("Dave, no latency spike was observed during the lifetime of this Redis "
                "instance, not in the slightest bit. I honestly think you ought to sleep "
                "better with that knowledge.\n")
    else:
        lines = ["Dave, I have observed latency spikes in this Redis instance. You don't "
                 "mind talking about it, do you Dave?", ""]
        for i, (name, ev) in enumerate(admin.latency.items(), 1):
            avg = sum(s[1] for s in ev.samples) // max(1, len(ev.samples))
            lines.append(f"{i}. {name}: {len(ev.samples)} latency spikes (average {avg}ms, "
                         f"worst all time {ev.max}ms).")
        text = "\n".join(lines) + "\n"
    return Verbatim(text.encode())


@LATENCY.add("graph", 3, help=("GRAPH <event>",
                               "    Return an ASCII latency graph for the <event> class."))
def latency_graph(client, args):
    name = args[2].decode("utf-8", "replace")
    ev = client.core.admin.latency.get(name)
    if ev is None:
        raise CommandError(f"ERR No samples available for event '{name}'")
    lines = [f"{name} - high {ev.max} ms, low {min(s[1] for s in ev.samples)} ms"]
    for t, ms in ev.samples:
        lines.append(f"{time.strftime('%H:%M:%S', time.localtime(t))} {ms} ms")
    return Verbatim(("\n".join(lines) + "\n").encode())


@LATENCY.add("history", 3, help=("HISTORY <event>",
                                 "    Return time-latency samples for the <event> class."))
def latency_history(client, args):
    ev = client.core.admin.latency.get(args[2].decode("utf-8", "replace"))
    if ev is None:
        return []
    return [[t, ms] for t, ms in ev.samples]


@LATENCY.add("latest", 2, help=("LATEST", "    Return the latest latency samples for all events."))
def latency_latest(client, args):
    return [[name.encode(), ev.samples[-1][0], ev.samples[-1][1], ev.max]
            for name, ev in client.core.admin.latency.items() if ev.samples]


@LATENCY.add("reset", -2, help=(
        "RESET [<event> ...]",
        "    Reset latency data of one or more <event> classes.",
        "    (default: reset all data for all event classes)"))
def latency_reset(client, args):
    events = client.core.admin.latency
    if len(args) == 2:
        n = len(events)
        events.clear()
        return n
    n = 0
    for a in args[2:]:
        if events.pop(a.decode("utf-8", "replace"), None) is not None:
            n += 1
    return n


@LATENCY.add("help", 2)
def latency_help(client, args):
    return LATENCY.help(["doctor", "graph", "history", "latest", "reset"])


# -- CLIENT PAUSE / UNPAUSE / REPLY ------------------------------------------------------


@CLIENT.add("pause", -3, help=(
        "PAUSE <timeout> [WRITE|ALL]",
        "    Suspend all, or just write, clients for <timout> milliseconds."))
def client_pause(client, args):
    if len(args) > 4:
        raise CommandError(errors.unknown_subcommand(args[1].decode("utf-8", "replace"),
                                                     "client"))
    all_commands = True
    if len(args) == 4:
        mode = args[3].lower()
        if mode == b"write":
            all_commands = False
        elif mode != b"all":
            raise CommandError("ERR CLIENT PAUSE mode must be WRITE or ALL")
    ms = to_int(args[2])
    if ms is None:
        raise CommandError(errors.CLIENT_PAUSE_TIMEOUT)
    if ms < 0:
        raise CommandError(errors.TIMEOUT_NEGATIVE)
    client.core.admin.pause(ms, all_commands)
    return OK


@CLIENT.add("unpause", 2, help=("UNPAUSE", "    Stop the current client pause, resuming traffic."))
def client_unpause(client, args):
    client.core.admin.unpause()
    return OK


@CLIENT.add("reply", 3, help=("REPLY (ON|OFF|SKIP)",
                              "    Control the replies sent to the current connection."))
def client_reply(client, args):
    mode = args[2].lower()
    if mode == b"on":
        client.reply_mode = 0
        return OK
    if mode == b"off":
        client.reply_mode = REPLY_OFF
        return _NO_REPLY
    if mode == b"skip":
        if client.reply_mode != REPLY_OFF:
            client.reply_mode = REPLY_SKIP_NEXT
        return _NO_REPLY
    raise CommandError(errors.SYNTAX)


# -- RESET -------------------------------------------------------------------------------


@command("reset", 1, "noscript loading stale fast", categories="@connection",
         group="connection", since="6.2.0")
def reset(client, args):
    """Redis 6.2's clearClientConnectionState: the connection as new."""
    core = client.core
    if client.in_multi:
        client.in_multi = False
        client.multi_queue = None
        client.multi_error = False
    if client.watched:
        unwatch_all(client)
    client.watch_dirty = False
    if client.monitor:
        client.monitor = False
        if client in core.monitors:
            core.monitors.remove(client)
            core.update_observed()
    if client.channels or client.patterns:
        core.pubsub.unsubscribe_all(client)
    if client.kind == "pubsub":
        client.kind = "normal"
    client.db = core.ks.dbs[0]
    client.resp = 2
    client.name = b""
    if client.reply_mode != REPLY_SKIP:
        # Redis clears OFF and SKIP-next, but a reply being skipped (RESET
        # right after CLIENT REPLY SKIP) stays skipped.
        client.reply_mode = 0
    client.authenticated = not core.config.requirepass
    client.update_slowpath()
    return Simple(b"RESET")


# -- protected mode ------------------------------------------------------------------------

_WILDCARDS = frozenset(("*", "0.0.0.0", "::", "::*"))
_LOOPBACK = frozenset(("127.0.0.1", "::1", "::ffff:127.0.0.1"))


def protected_refusal(config, peer) -> bool:
    """True when a client from ``peer`` (a socket peer address) must get
    the DENIED error: protected mode on, no password, bound to every
    interface, and the peer is not a loopback address."""
    if not config.protected_mode or config.requirepass:
        return False
    if not any(a.lstrip("-") in _WILDCARDS for a in config.bind.split()):
        return False
    if not isinstance(peer, tuple) or not peer:
        return False  # a Unix socket
    return peer[0] not in _LOOPBACK
