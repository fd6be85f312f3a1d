"""The server's state as commands see it: keyspace, config, clients,
statistics and the propagation funnel. No I/O and no asyncio here; the
server shell (server.py) drives it and the executor runs commands on it.
"""

from __future__ import annotations

import os
import time

from .client import Client
from .config import Config
from .errors import NotDurable
from .blocking import unblock
from .db import Keyspace, unwatch_all
from .notify import follow_config
from .pubsub import PubSub
from .propagate import Funnel
from .replication.state import ReplicationState


class Stats:
    """Counters INFO reports (Redis's field names)."""

    __slots__ = (
        "total_connections_received", "rejected_connections",
        "net_input_bytes", "net_output_bytes", "evicted_keys", "total_error_replies",
        "ops_samples", "_last_sample_time", "_last_sample_ops", "commands", "error_replies",
    )

    def __init__(self, commands: dict) -> None:
        for f in self.__slots__:
            setattr(self, f, 0)
        self.commands = commands
        # Error prefix ("ERR", "WRONGTYPE", ...) -> replies sent (INFO errorstats).
        self.error_replies: dict[str, int] = {}
        self.ops_samples = [0] * 16
        self._last_sample_time = time.monotonic()
        self._last_sample_ops = self.total_commands_processed

    def count_error(self, message: str) -> None:
        """One error reply was sent (total_error_replies and errorstats)."""
        self.total_error_replies += 1
        prefix = message.split(" ", 1)[0]
        counts = self.error_replies
        if prefix in counts:
            counts[prefix] += 1
        elif len(counts) < 128:  # as Redis, bound the distinct prefixes tracked
            counts[prefix] = 1

    @property
    def total_commands_processed(self) -> int:
        # Derived from the per-command counters, so the hot path counts once.
        return sum(c.calls for c in self.commands.values())

    def sample_ops(self) -> None:
        """Called on the server's periodic tick: instantaneous_ops_per_sec."""
        now = time.monotonic()
        dt = now - self._last_sample_time
        if dt <= 0:
            return
        ops = self.total_commands_processed - self._last_sample_ops
        self.ops_samples.pop(0)
        self.ops_samples.append(int(ops / dt))
        self._last_sample_time = now
        self._last_sample_ops = self.total_commands_processed

    @property
    def instantaneous_ops_per_sec(self) -> int:
        return sum(self.ops_samples) // len(self.ops_samples)


def _chain(hooks: dict, name: str, fn):
    """Set ``hooks[name]``; return the one hook, a chain of them, or None."""
    if fn is None:
        hooks.pop(name, None)
    else:
        hooks[name] = fn
    return _combined(tuple(hooks.values()))


def _combined(fns: tuple):
    """The one hook of ``fns``, a chain of them (the first answer that is
    not None), or None."""
    if not fns:
        return None
    if len(fns) == 1:
        return fns[0]

    def chained(client, cmd, args):
        for f in fns:
            r = f(client, cmd, args)
            if r is not None:
                return r
        return None

    return chained


class Core:
    def __init__(self, config: Config | None = None) -> None:
        self.config = config or Config()
        from .commands import server_table
        # This server's commands: name -> Command, and the lookup by the name
        # clients send (after rename-command).
        self.commands, self.table = server_table(self.config.renamed_commands)
        self.ks = Keyspace(self.config.databases)
        self.funnel = Funnel()
        # Classic replication: ids, offset, backlog, replicas, our master.
        self.repl = ReplicationState(self)
        # Global replication (replication/gdriver.py), when global-server-id is set.
        self.global_repl = None
        self.ks.propagate = self._propagate_db_effect
        self.pubsub = self.ks.pubsub = PubSub()
        follow_config(self.config, self.ks)
        self.clients: dict[int, Client] = {}
        self._next_client_id = 1
        self.stats = Stats(self.commands)
        self.start_time = time.time()
        self.start_monotonic = time.monotonic()
        self.run_id = os.urandom(20).hex()
        self.monitors: list[Client] = []
        self.blocked_clients = 0
        # Set by the server shell: call_later(seconds, fn, *args) -> handle
        # with .cancel(), for blocking-command timeouts.
        self.call_later = None
        self.last_save = int(time.time())
        self.port = self.config.port
        # Set by the server shell: stop serving (SHUTDOWN).
        self.shutdown_hook = None
        # gate(client, cmd, args) -> error text or None: the server-wide
        # checks (read-only, OOM, loading) installed by the parts that need
        # them. Install with set_gate so every client's slowpath flag follows.
        # A gate may also return a Raw reply (executor.HELD): the command is
        # then held, not refused (CLIENT PAUSE).
        self.gate = None
        # after_call(client, cmd, args): per-key bookkeeping (eviction.py).
        # Install with set_after_call.
        self.after_call = None
        # Several parts may install one each, by name: gate / after_call is
        # the one installed or a chain of them.
        self._gates: dict = {}
        self._after_calls: dict = {}
        # The gates that concern some commands only: name -> (command
        # names, gate); see set_gate.
        self._cmd_gates: dict = {}
        # True when the executor must run _observe (MONITOR, after_call).
        self.observed = False
        # The executor calls on_slow(client, cmd, args, ns) for a command
        # whose run took at least slow_ns nanoseconds: one int comparison
        # per command instead of a hook (slow log, latency monitor;
        # commands/admin.py keeps both up to date).
        self.slow_ns = 1 << 62
        self.on_slow = None
        # Called by the server shell before any bytes go to a client (the
        # AOF and the global log write, and per their fsync policy sync,
        # their buffers), or None. Install with set_before_reply.
        self.before_reply = None
        self._before_replies: dict = {}
        # The append-only file (persistence.aof.Aof), once the shell starts it.
        self.aof = None
        from .commands.admin import Admin
        from .eviction import Memory
        # maxmemory accounting and eviction; slow log, latency monitor,
        # CLIENT PAUSE, protected mode.
        self.admin = Admin(self)
        self.memory = Memory(self)

    def set_gate(self, gate, name: str = "default", commands=None) -> None:
        """Install (or, with None, remove) the gate called ``name``.

        With ``commands`` (names of commands), the gate concerns only those:
        it becomes their ``Command.gate`` and the other commands do not pay
        for it (a server-wide gate sends every client's every command through
        the executor's gate path)."""
        if commands is None:
            self.gate = _chain(self._gates, name, gate)
            for c in self.clients.values():
                c.update_slowpath()
            return
        if gate is None:
            self._cmd_gates.pop(name, None)
        else:
            self._cmd_gates[name] = (frozenset(commands), gate)
        for cmd in self.commands.values():
            cmd.gate = _combined(tuple(g for names, g in self._cmd_gates.values()
                                       if cmd.name in names))

    def set_after_call(self, fn, name: str = "default") -> None:
        """Install (or, with None, remove) the after-call hook called ``name``."""
        self.after_call = _chain(self._after_calls, name, fn)
        self.update_observed()

    def set_before_reply(self, fn, name: str) -> None:
        """Install (or, with None, remove) the before-reply hook ``name``."""
        if fn is None:
            self._before_replies.pop(name, None)
        else:
            self._before_replies[name] = fn
        hooks = tuple(self._before_replies.values())
        if len(hooks) > 1:
            def chained():
                # Every hook runs even when one fails: the others' files
                # are still written (and reported) in this turn.
                failed = None
                for h in hooks:
                    try:
                        h()
                    except NotDurable as e:
                        failed = e
                if failed is not None:
                    raise failed
            self.before_reply = chained
        else:
            self.before_reply = hooks[0] if hooks else None

    def update_observed(self) -> None:
        """Call after changing monitors or after_call."""
        self.observed = bool(self.monitors) or self.after_call is not None

    def new_client(self, **kwargs) -> Client:
        cid = self._next_client_id
        self._next_client_id += 1
        c = Client(self, cid, **kwargs)
        self.clients[cid] = c
        self.stats.total_connections_received += 1
        return c

    def remove_client(self, client: Client) -> None:
        self.clients.pop(client.id, None)
        if client.blocked is not None:
            unblock(client)
        if client.monitor and client in self.monitors:
            self.monitors.remove(client)
            self.update_observed()
        if client.watched:
            unwatch_all(client)
        if client.channels or client.patterns:
            self.pubsub.unsubscribe_all(client)
        side = self.repl.master_side
        if client.kind == "replica" or side.conf:
            side.replica_gone(client)
        elif client.kind == "global":
            self.global_repl.client_gone(client)

    def _propagate_db_effect(self, db: int, args: list) -> None:
        if self.funnel.sinks:
            self.funnel.emit(db, args)

    def uptime(self) -> int:
        return int(time.monotonic() - self.start_monotonic)

    def cron(self) -> None:
        """Periodic work, called ``hz`` times a second: active expiry, stats,
        memory accounting upkeep."""
        if not self.admin.pause_deadline:
            # As Redis 6.2, a paused server expires nothing.
            # Up to a quarter of the cron period, as Redis's slow cycle
            # (a fixed 200 keys a pass fell behind 2,000 expiring keys a
            # second at hz 10: stress.soak's keys grew without end).
            hz = max(1, min(self.config.hz or 10, 500))
            self.ks.active_expire(budget_ms=250 / hz)
        self.stats.sample_ops()
        self.repl.cron(time.monotonic())
        self.memory.cron()
        if self.aof is not None:
            self.aof.cron()
