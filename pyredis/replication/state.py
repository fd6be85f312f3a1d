"""The replication identity and stream of one server (``core.repl``).

What both sides of classic replication share:

* the replication id and offset (``replid``, ``master_repl_offset``) and
  the previous id kept after a promotion (``replid2`` valid up to
  ``second_repl_offset``), as Redis's replication.c keeps them;
* the backlog (``backlog.Backlog``), created when the first replica
  connects (or when this server becomes a replica), freed after
  ``repl-backlog-ttl`` seconds without replicas on a master;
* the stream itself: :meth:`feed` appends bytes to the backlog and hands
  them to every attached replica (``master.ReplicaLink.stream``).

As a master, this object is a funnel sink (``propagate.py``): every effect
becomes a RESP request in the stream, preceded by ``SELECT`` when the
database changes, and units are wrapped in ``MULTI``/``EXEC``. As a replica
(``self.master`` set by the replica side), effects of what it applies are
*not* re-encoded: the master's bytes are fed unchanged, so sub-replicas see
the very stream the master sent and the offsets agree along a chain.

No sockets here: replicas are objects with a ``stream(data)`` method.
"""

from __future__ import annotations

import os
import time

from ..persistence.aof import _EXEC, _MULTI, _select, encode_request
from .backlog import Backlog
from .master import MasterSide

NO_ID = "0" * 40


def new_replid() -> str:
    return os.urandom(20).hex()


class ReplicationState:
    def __init__(self, core) -> None:
        self.core = core
        self.replid = new_replid()
        self.replid2 = NO_ID
        # Bytes of stream produced (or, on a replica, processed) so far.
        self.master_repl_offset = 0
        # The first offset *not* valid under replid2 (-1: no second id).
        self.second_repl_offset = -1
        self.backlog: Backlog | None = None
        # When the last replica left (for repl-backlog-ttl), 0 while some are attached.
        self.no_replicas_since = time.monotonic()
        # Attached replicas (master side), each with .stream(data).
        self.replicas: list = []
        # The link to our master (replica side), or None on a master.
        self.master = None
        # The database the stream last SELECTed (-1: send SELECT before the next write).
        self.seldb = -1
        self._subscribed = False
        # Stream bytes of this event-loop turn, not yet in the backlog.
        self._turn: list = []
        # Replicas, snapshots for them, WAIT, min-replicas (master.py).
        self.master_side = MasterSide(core)
        core.config.on_change("repl-backlog-size", self._resize_backlog)
        # INFO stats.
        self.sync_full = 0
        self.sync_partial_ok = 0
        self.sync_partial_err = 0

    def _resize_backlog(self, size: int) -> None:
        if self.backlog is not None:
            self.backlog.resize(size)

    # -- the stream ------------------------------------------------------------

    def create_backlog(self) -> None:
        if self.backlog is None:
            self.backlog = Backlog(self.core.config.repl_backlog_size,
                                   self.master_repl_offset + 1)
        self.update_sink()

    def free_backlog(self) -> None:
        self.flush_stream()
        self.backlog = None
        self.update_sink()

    def feed(self, data: bytes) -> None:
        """Append ``data`` to the stream. The offset moves at once; the
        bytes reach the backlog and the replicas once per event-loop turn
        (:meth:`flush_stream`), joined, as Redis writes a replica's output
        buffer once per turn: per write, that is one list append instead of
        a backlog update and a socket write per replica."""
        self.master_repl_offset += len(data)
        turn = self._turn
        turn.append(data)
        if len(turn) == 1:
            call_later = self.core.call_later
            if call_later is None:  # no event loop (a bare Core): at once
                self.flush_stream()
            else:
                call_later(0, self.flush_stream)

    def flush_stream(self) -> None:
        """Hand this turn's stream bytes to the backlog and the replicas.
        Called at the end of the turn, and first by whatever reads the
        backlog or must order itself against the stream (PSYNC, a
        snapshot's fork, INFO, a new history)."""
        turn = self._turn
        if not turn:
            return
        data = turn[0] if len(turn) == 1 else b"".join(turn)
        turn.clear()
        if self.backlog is not None:
            self.backlog.feed(data)
        for r in self.replicas:
            r.stream(data)

    @property
    def writes_stream(self) -> bool:
        """Whether this server produces a stream now (a master with a
        backlog): the funnel's effects go into it."""
        return self._subscribed

    def update_sink(self) -> None:
        """Subscribe to the funnel while there is a stream to write to and
        this server produces it (a master with a backlog); otherwise the
        hot path pays nothing for replication."""
        want = self.backlog is not None and self.master is None
        if want == self._subscribed:
            return
        self._subscribed = want
        funnel = self.core.funnel
        if want:
            self.seldb = -1
            funnel.subscribe(self)
        else:
            funnel.unsubscribe(self)
        gr = getattr(self.core, "global_repl", None)
        if gr is not None:
            # The global member's metadata rides the stream (gstandby).
            gr.stream_changed()

    # Funnel sink: effects as requests.

    def effect(self, db: int, args: list) -> None:
        if db != self.seldb:
            self.seldb = db
            self.feed(_select(db) + encode_request(args))
        else:
            self.feed(encode_request(args))

    def unit(self, begin: bool) -> None:
        self.feed(_MULTI if begin else _EXEC)

    # -- ids -------------------------------------------------------------------

    def shift_replid(self) -> None:
        """Start a new history that continues the current one (promotion):
        replicas that followed the old id up to here can partial-resync."""
        self.flush_stream()
        self.replid2 = self.replid
        self.second_repl_offset = self.master_repl_offset + 1
        self.replid = new_replid()

    def new_history(self) -> None:
        """A new id with no previous one (nothing can be continued)."""
        self.replid = new_replid()
        self.clear_replid2()

    def clear_replid2(self) -> None:
        self.replid2 = NO_ID
        self.second_repl_offset = -1

    def reset_history(self, replid: str, offset: int) -> None:
        """Adopt a master's history after a full sync (or at start-up from
        the RDB's AUX fields): a new, empty backlog starts at ``offset``
        (a replica keeps one, for its own replicas and for a promotion)."""
        self.flush_stream()
        self.replid = replid
        self.master_repl_offset = offset
        self.clear_replid2()
        self.backlog = Backlog(self.core.config.repl_backlog_size, offset + 1)
        self.update_sink()

    def can_continue(self, replid: str, offset: int) -> bool:
        """PSYNC ``replid offset``: whether the stream from ``offset`` (the
        first byte the replica lacks) can be served from the backlog."""
        self.flush_stream()
        if self.backlog is None:
            return False
        if replid != self.replid:
            # A replica of our previous master can continue up to where
            # that history ended here.
            if replid != self.replid2 or offset > self.second_repl_offset:
                return False
        return self.backlog.covers(offset)

    def good_replicas(self) -> int:
        """Online replicas that acknowledged within min-replicas-max-lag
        seconds (min-replicas-to-write counts these)."""
        max_lag = self.core.config.min_replicas_max_lag
        now = time.monotonic()
        return sum(1 for r in self.replicas if r.online and now - r.ack_time <= max_lag)

    def disconnect_replicas(self) -> None:
        """Close every replica's connection (Redis's disconnectSlaves): our
        history changed under them, they must ask again with PSYNC."""
        for r in list(self.replicas):
            r.client.kill()

    # -- upkeep ----------------------------------------------------------------

    def cron(self, now: float) -> None:
        """Called on every server tick: the master side's upkeep, and the
        backlog of a master freed after repl-backlog-ttl seconds without
        replicas (never on a replica: sub-replicas and a promotion need it)."""
        self.master_side.cron(now)
        if self.replicas:
            self.no_replicas_since = 0.0
            return
        if not self.no_replicas_since:
            self.no_replicas_since = now
        ttl = self.core.config.repl_backlog_ttl
        if (ttl and self.backlog is not None and self.master is None
                and now - self.no_replicas_since > ttl):
            self.free_backlog()
            # As Redis: with no backlog, no replica can continue our
            # history, so a new one starts.
            self.new_history()
