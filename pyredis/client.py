"""Per-connection session state: what a command may know about its caller.

No I/O: the server shell gives each client a ``send`` callable for
out-of-band output (pub/sub messages, MONITOR lines, blocked replies) and a
``close`` callable; everything else is plain attributes that handlers and
the executor read and set.
"""

from __future__ import annotations

import time


class Client:
    __slots__ = (
        "core", "table", "id", "db", "resp", "name", "lib_name", "lib_ver", "authenticated",
        "addr", "laddr", "fd", "created", "last_interaction", "last_cmd",
        "send", "_close", "closing", "effects",
        # Transactions (MULTI/EXEC/WATCH).
        "in_multi", "multi_queue", "multi_error", "watched", "watch_dirty",
        # Pub/sub and MONITOR.
        "channels", "patterns", "monitor",
        # Kind of connection: normal, replica, master, pubsub (CLIENT LIST/KILL).
        "kind", "slowpath", "query_pending", "output_pending",
        # Blocking commands (blocking.py): the BlockState while blocked; the
        # shell's callback once served; set while a command must not block
        # (inside EXEC or a script).
        "blocked", "on_unblocked", "deny_blocking",
        # CLIENT REPLY: 0 on, else what the shell drops (commands/admin.py).
        "reply_mode",
        # Set when the connection stops speaking RESP (a global replication
        # link after GLOBAL SYNC): the shell hands it every byte read.
        "raw",
    )

    def __init__(self, core, client_id: int, addr: str = "", laddr: str = "",
                 fd: int = -1, send=None, close=None) -> None:
        self.core = core
        self.table = core.table
        self.id = client_id
        self.db = core.ks.dbs[0]
        self.resp = 2
        self.name = b""
        self.lib_name = b""
        self.lib_ver = b""
        self.authenticated = not core.config.requirepass
        self.addr = addr
        self.laddr = laddr
        self.fd = fd
        self.created = self.last_interaction = time.monotonic()
        # The Command last run (CLIENT LIST cmd=), None before the first.
        self.last_cmd = None
        self.send = send or (lambda data: None)
        self._close = close or (lambda: None)
        # Set by QUIT (and CLIENT KILL of oneself): close once the reply is out.
        self.closing = False
        # Effects a handler records instead of its own argv (see propagate.py).
        self.effects = None
        self.in_multi = False
        self.multi_queue = None
        self.multi_error = False
        self.watched = None
        self.watch_dirty = False
        self.channels = None
        self.patterns = None
        self.monitor = False
        self.kind = "normal"
        self.query_pending = 0
        self.output_pending = 0
        self.blocked = None
        self.on_unblocked = None
        self.deny_blocking = False
        self.reply_mode = 0
        self.raw = None
        self.update_slowpath()

    def update_slowpath(self) -> None:
        """Recompute whether the executor must run its gates. Call after
        changing authenticated, in_multi, channels/patterns (the core calls
        it for every client when a server-wide gate is installed)."""
        self.slowpath = (not self.authenticated or self.in_multi
                         or bool(self.channels) or bool(self.patterns)
                         or self.core.gate is not None)

    @property
    def subscriptions(self) -> int:
        return len(self.channels or ()) + len(self.patterns or ())

    def rewrite(self, *args) -> None:
        """Propagate ``args`` as this call's effect instead of its argv."""
        self.effects = [list(args)]

    def also(self, *args) -> None:
        """Propagate ``args`` as one more effect of this call (after the
        ones already recorded; the argv is not sent once this is used)."""
        if self.effects is None:
            self.effects = []
        self.effects.append(list(args))

    def kill(self) -> None:
        """Close this connection (CLIENT KILL, timeouts, limits)."""
        self._close()
