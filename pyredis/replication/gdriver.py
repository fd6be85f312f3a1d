"""The asyncio driver of global replication: files, sockets and timers
around the sans-IO cores (``gmember``, ``glink``, ``globallog``).

One :class:`GlobalReplication` per server with ``global-server-id`` set
(``core.global_repl``). It owns:

* the **global log** (``global-log-dir`` under ``dir``) and the
  **member** (``GlobalMember``), which turns local writes into ops and
  applies received ones by the conflict rule;
* one **outgoing link** (:class:`OutLink`) per ``global-peer``: this member
  connects to the peer's normal port, sends ``AUTH`` (``global-peer-auth``)
  and ``GLOBAL SYNC <our ServerID>``, and from the ``+OK`` on the
  connection speaks the binary link protocol, as the receiver: it pulls the
  peer's ops. Reconnects with backoff (0.1 s doubling to 5 s). The reply
  ``+OK <ServerID> hello-flags`` says the peer reads HELLO's flags, so the
  link asks it for a compressed stream (``global-link-compression``; an
  older peer answers ``+OK <ServerID>`` and gets the plain HELLO it knows);
* the **incoming links** (:class:`InLink`): peers that sent us
  ``GLOBAL SYNC``; their client connection is handed to a ``SourceLink``
  and its bytes bypass the RESP parser from then on;
* **classic replicas** (G6, ``gstandby.py``): while this server writes a
  classic replication stream (a master with a backlog), the member's
  stream items go into it as ``PING <payload>`` (:meth:`stream_changed`);
  while it is a classic replica itself it is in *standby*
  (:meth:`enter_standby`, from ``REPLICAOF host port`` or ``replicaof`` at
  start-up): no outgoing links (``global-peer`` waits), incoming ones
  refused, the master's stream items and RDB metadata keep the log and the
  versions (:meth:`standby_full_sync`); ``REPLICAOF NO ONE``
  (:meth:`leave_standby`) stamps keys the stream left without their
  record as local ops and starts the links from the vector held. A
  standby takes no checkpoint while such keys wait.

The order that makes durability hold (G5): the log is flushed (and, per
``global-log-fsync``, synced) before any reply of the loop turn leaves
(``core.set_before_reply``), before ops are shipped to a peer (an op a
crash could still lose is never sent), and before a receiver acknowledges
what it applied.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time

from .. import errors
from ..errors import NotDurable
from ..persistence.aof import encode_request
from .gcheckpoint import Checkpoints, forget_changed_without_global, recover
from .glink import LinkProtocolError, LinkUsageError, ReceiverLink, SourceLink
from .globallog import ALL_DBS, WHOLE_DB, CorruptRecord, GlobalLog, log_directory
from .gmember import GlobalMember
from .gstandby import Standby
from .hlc import LOGICAL_BITS

log = logging.getLogger("pyredis")

# An idle outgoing link pings its source this often; a link (either end)
# that hears nothing for repl-timeout seconds is dropped.
PING_SECONDS = 5.0
# A backlog is read from the log about this many bytes per loop turn, and
# only while the connection holds less than the window unsent.
_PUMP_BUDGET = 256 * 1024
_PUMP_WINDOW = 4 * 1024 * 1024
_BACKOFF_MIN = 0.1
_BACKOFF_MAX = 5.0
_TICK = 0.05
_READ = 1 << 20
# In the GLOBAL SYNC reply: this member reads HELLO's flags (compression).
_HELLO_FLAGS = "hello-flags"
# The log keeps every record the checkpoint on disk does not cover (a
# restart replays them), so retention can drop only up to it. A checkpoint
# is taken when the log grew CHECKPOINT_BYTES since the last one (a quarter
# of global-log-max-size when that is less), after CHECKPOINT_SECONDS with
# new records, and whenever the log is over a retention limit with sealed
# segments that only a newer checkpoint lets it drop. One at a time, each
# starting CHECKPOINT_MIN_GAP s, or the last one's duration if longer,
# after the previous one ended: the forked child works at most half the
# time, however small the limit is for the dataset and the write rate (the
# log then overshoots its limit by what it grows in about three checkpoint
# durations).
CHECKPOINT_BYTES = 64 * 1024 * 1024
CHECKPOINT_SECONDS = 300
CHECKPOINT_MIN_GAP = 0.25
UNDURABLE_SECONDS = 30
# How often retention looks at the log (and reaps a finished checkpoint).
RETENTION_SECONDS = 0.25


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


# In the log's directory: ``<mark> clean|running``, the op id mark of
# GlobalReplication._start_opid_marks.
OPIDS_NAME = "opids"


def _read_opid_mark(path: str) -> tuple:
    """``(mark, clean)``; ``(0, True)`` when there is no mark yet (a new
    log, or one from before marks). A damaged file counts as a run that
    did not stop cleanly with no mark: the log's own op ids then."""
    try:
        with open(path, "rb") as f:
            text = f.read(100)
    except FileNotFoundError:
        return 0, True
    mark, _, state = text.strip().partition(b" ")
    try:
        return int(mark), state == b"clean"
    except ValueError:
        return 0, False


def _write_opid_mark(path: str, mark: int, clean: bool) -> None:
    """Replaces the mark durably (a temporary file, fsync, rename, and the
    directory fsynced)."""
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, b"%d %s\n" % (mark, b"clean" if clean else b"running"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dfd = os.open(os.path.dirname(path) or ".", os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def ratio(plain: int, wire: int) -> str:
    """A link's compression ratio, two decimals ("1.00": plain, or nothing
    sent yet)."""
    return "%.2f" % (plain / wire) if wire else "1.00"


class _Refused(Exception):
    """The peer answered the handshake with an error."""


class OutLink:
    """This member pulling one peer's ops (the receiver's end)."""

    def __init__(self, gr: "GlobalReplication", host: str, port: int) -> None:
        self.gr = gr
        self.host = host
        self.port = port
        self.rl = ReceiverLink(gr.member)
        self.state = "connecting"
        self.stopped_reason = ""
        self.last_error = ""
        self.peer_id = 0
        self.bytes_in = 0
        self.bytes_out = 0
        self.partial_syncs = 0
        self.connections = 0
        self.ops_applied = 0
        self.lag_ms = 0
        self.last_opids: dict = {}
        self.synced_since = 0.0
        self.task: asyncio.Task | None = None
        self._writer = None
        # When bytes last arrived, and when we last pinged (monotonic s).
        self.last_rx = 0.0
        self._last_ping = 0.0

    @property
    def name(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def full_syncs(self) -> int:
        return self.rl.full_syncs

    def start(self) -> None:
        if self.task is None or self.task.done():
            self.stopped_reason = ""
            self.state = "connecting"
            self.task = asyncio.get_running_loop().create_task(self._run())

    def stop(self, reason: str) -> None:
        if self.task is not None:
            self.task.cancel()
            self.task = None
        self._close()
        self.state = "stopped"
        self.stopped_reason = reason

    def _close(self) -> None:
        if self.rl.state != "idle":
            self.rl.disconnected()
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    async def _run(self) -> None:
        backoff = _BACKOFF_MIN
        while True:
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except _Refused as e:
                self.last_error = str(e)
                log.warning("Global link to %s refused: %s", self.name, e)
            except (OSError, EOFError, asyncio.IncompleteReadError, asyncio.TimeoutError,
                    LinkProtocolError, LinkUsageError, CorruptRecord, ValueError) as e:
                self.last_error = str(e) or type(e).__name__
                if self.state != "connecting":
                    log.warning("Global link to %s lost: %s", self.name, self.last_error)
            finally:
                self._close()
            if self.state == "synced":
                backoff = _BACKOFF_MIN
            self.state = "connecting"
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _BACKOFF_MAX)

    async def _session(self) -> None:
        gr = self.gr
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port), timeout=5)
        self._writer = writer
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        self.connections += 1
        auth = gr.core.config.global_peer_auth
        if auth:
            writer.write(encode_request([b"AUTH", auth.encode()]))
            await self._expect_ok(reader, "AUTH")
        writer.write(encode_request([b"GLOBAL", b"SYNC", b"%d" % gr.member.server_id]))
        reply = await self._expect_ok(reader, "GLOBAL SYNC")
        try:
            self.peer_id = int(reply.split()[1])
        except (IndexError, ValueError):
            raise _Refused(f"bad handshake reply {reply[:60]!r}") from None
        if self.peer_id == gr.member.server_id:
            raise _Refused(f"the peer has our own ServerID {self.peer_id}")
        self.state = "syncing"
        full_before = self.rl.full_syncs
        self.last_rx = time.monotonic()
        compress = gr.core.config.global_link_compression and \
            _HELLO_FLAGS in reply.split()[2:]
        self._write(self.rl.connect(compress))
        while True:
            data = await reader.read(_READ)
            if not data:
                if self.state == "timeout":
                    raise EOFError("no data from the peer for repl-timeout seconds")
                raise EOFError("connection closed by the peer")
            self.last_rx = time.monotonic()
            self.bytes_in += len(data)
            gr.current_link = self
            try:
                self.rl.receive_data(data)
            finally:
                gr.current_link = None
            # Durable before we say we have it (G5): a log that cannot be
            # written drops the link (it resumes once the log can be written).
            if not gr.flush_log():
                raise OSError(f"global log: {gr.write_error}")
            self._write(self.rl.data_to_send() + self.rl.ack())
            self._update_state(full_before)

    def _update_state(self, full_before: int) -> None:
        rl = self.rl
        if rl.events:
            for ev in rl.events:
                if ev == "fullsync":
                    log.warning("Global link to %s: the peer's log no longer covers us, "
                                "full sync", self.name)
                elif ev == "log_reset":
                    # Our log restarted from the synced dataset: a checkpoint
                    # must cover it before a restart could need it.
                    self.gr.checkpoint_soon()
                elif ev == "synced":
                    if rl.full_syncs == full_before:
                        self.partial_syncs += 1
                    log.info("Global link to %s synced", self.name)
            rl.events.clear()
        if rl.state == "synced":
            if self.state != "synced":
                self.synced_since = time.monotonic()
            self.state = "synced"
        elif rl.state in ("syncing", "fullsync"):
            self.state = "syncing"

    def tick(self, now_ms: int, now: float) -> None:
        if self._writer is None or self.rl.state == "idle":
            return
        idle = now - self.last_rx
        timeout = self.gr.core.config.repl_timeout
        if idle > timeout:
            # A hung peer or path (no FIN, no RST): drop it and reconnect.
            log.warning("Global link to %s: nothing received for %d s, dropping it",
                        self.name, int(idle))
            self.state = "timeout"
            self._writer.close()
            self._writer = None
            return
        every = min(PING_SECONDS, timeout / 3)
        if idle >= every and now - self._last_ping >= every:
            self._last_ping = now
            self.rl.ping()
        self.rl.tick(now_ms)
        # Pings, fetches due again, and the STABLE echo leave now, not with
        # the next bytes to arrive (an idle link may get none).
        self._write(self.rl.data_to_send() + self.rl.ack())

    def _write(self, data: bytes) -> None:
        if data and self._writer is not None:
            self.bytes_out += len(data)
            self._writer.write(data)

    async def _expect_ok(self, reader, what: str) -> str:
        line = await asyncio.wait_for(reader.readline(), timeout=10)
        if not line:
            raise EOFError(f"connection closed during {what}")
        text = line.decode("utf-8", "replace").strip()
        if not text.startswith("+OK"):
            raise _Refused(f"{what}: {text}")
        return text

    def progress(self) -> int:
        """Sync progress in %: 100 once synced; during a full sync, the
        share of the snapshot's keys installed."""
        rl = self.rl
        if self.state == "synced":
            return 100
        if rl.state == "fullsync" and rl.snap_total:
            return min(99, 100 * rl.snap_done // rl.snap_total)
        return 0

    def status(self) -> dict:
        return {
            "peer": self.name, "direction": "in", "peer_server_id": self.peer_id,
            "state": self.state if self.state != "stopped" else
            f"stopped ({self.stopped_reason})",
            "sync_progress": self.progress(),
            "lag_ms": self.lag_ms,
            # Lag in ops is the source's to know (its entry, direction "out");
            # here: keys waiting for a state fetched from the peer.
            "pending_fetches": len(self.rl.wants),
            "ops_applied": self.ops_applied,
            "last_opids": " ".join(f"{o}:{i}" for o, i in sorted(self.last_opids.items())),
            "bytes_in": self.bytes_in, "bytes_out": self.bytes_out,
            "full_syncs": self.full_syncs, "partial_syncs": self.partial_syncs,
            "last_error": self.last_error,
            # The source's stream: as it was before compression (bytes_in is
            # what crossed the wire), and whether this connection's is.
            "bytes_in_uncompressed": self.rl.bytes_plain,
            "compression": "zstd" if self.rl.compressed else "off",
            "compression_ratio": ratio(self.rl.bytes_plain, self.rl.bytes_in),
        }


class InLink:
    """A peer pulling our ops (the source's end), on its client connection."""

    def __init__(self, gr: "GlobalReplication", client, peer_id: int) -> None:
        self.gr = gr
        self.client = client
        self.peer_id = peer_id
        # The setting when the link connected (a change applies to the next).
        self.sl = SourceLink(gr.member, compress=gr.core.config.global_link_compression)
        self.bytes_in = 0
        self.bytes_out = 0
        self.last_rx = time.monotonic()

    def on_data(self, data: bytes) -> None:
        """The peer's bytes (the connection no longer parses RESP)."""
        self.bytes_in += len(data)
        self.last_rx = time.monotonic()
        try:
            self.sl.receive_data(data)
        except (LinkProtocolError, LinkUsageError, CorruptRecord, ValueError) as e:
            log.warning("Global link from %s (ServerID %d): %s; closing it",
                        self.client.addr, self.peer_id, e)
            self.client.kill()
            return
        self.gr.schedule_pump()

    def pump(self) -> None:
        sl = self.sl
        data = sl.data_to_send(_PUMP_BUDGET)
        if data:
            self.bytes_out += len(data)
            self.client.send(data)
        if sl.backlog_pending and not self.client.closing:
            # More of the backlog: next turn, or once the peer drained some
            # (paced on what the connection still holds).
            if self.client.output_pending > _PUMP_WINDOW:
                asyncio.get_running_loop().call_later(0.005, self.gr.schedule_pump)
            else:
                self.gr.schedule_pump()

    def close(self) -> None:
        self.sl.close()

    def status(self) -> dict:
        sl = self.sl
        lag = sum(max(0, n - sl.acked.get(o, 0)) for o, n in sl.sent.items())
        return {
            "peer": self.client.addr, "direction": "out", "peer_server_id": self.peer_id,
            "state": sl.state, "lag_ops": lag, "ops_sent": sl.ops_sent,
            "bytes_in": self.bytes_in, "bytes_out": self.bytes_out,
            "full_syncs": sl.full_syncs, "partial_syncs": sl.partial_syncs,
            "bytes_out_uncompressed": sl.bytes_raw,
            "compression": "zstd" if sl.compressed else "off",
            "compression_ratio": ratio(sl.bytes_raw, sl.bytes_wire),
        }


class GlobalReplication:
    """Global replication of one server (see the module doc)."""

    def __init__(self, core) -> None:
        cfg = core.config
        self.core = core
        path = log_directory(cfg.dir, cfg.global_log_dir)
        self.log = GlobalLog(path, fsync=cfg.global_log_fsync,
                             segment_bytes=cfg.global_log_segment_size)
        if self.log.tail_cut is not None:
            log.warning("Global log: %s", self.log.tail_cut)
        self.member = GlobalMember(core, cfg.global_server_id, self.log, wall_ms)
        self.checkpoints = Checkpoints(self)
        recover(self)
        # When the last checkpoint started: monotonic s, the log's
        # appended_bytes and last LSN then.
        self._checkpoint_at = (time.monotonic(), self.log.appended_bytes, self.log.last_lsn)
        self._opids_path = os.path.join(self.log.directory, OPIDS_NAME)
        self._start_opid_marks()
        self._version_preexisting()
        self._write_back_changes()
        self.member.on_applied = self._on_applied
        self.member.listeners.append(self._on_record)
        self.links: dict[tuple, OutLink] = {}
        self.inlinks: list[InLink] = []
        self.current_link: OutLink | None = None
        self._pump_scheduled = False
        self._timer = None
        self._last_sync = time.monotonic()
        self._syncing = False  # a background fsync is running
        self._last_retention = 0.0
        self.dropped = 0
        core.global_repl = self
        # strerror of the failing log write, or None (see flush_log); the
        # last LSN a failed flush covered (replies of later records alone
        # are withheld under ``always``).
        self.write_error: str | None = None
        self._failed_lsn = 0
        core.set_before_reply(self._flush_before_reply, "globallog")
        cfg.on_change("global-peer", lambda _v: self.reconcile())
        cfg.on_change("global-role", lambda _v: self._update_gate())
        cfg.on_change("global-log-fsync", self._set_fsync)
        self._update_gate()
        if cfg.replicaof:
            # A classic replica from the start (replicaof in the config):
            # standby until promoted. Its first sync is a full one
            # (replica.startup), whose metadata replaces what recover()
            # rebuilt.
            self._standby()
        self.stream_changed()

    # -- life --------------------------------------------------------------------

    def _start_opid_marks(self) -> None:
        """The durable mark above every op id of ours handed out (G1 across
        crashes): a run that did not stop cleanly may have shipped ops its
        log then lost (fsync ``everysec``/``no`` and an OS crash), which a
        peer holds under their op ids; until a peer says so in its HELLO,
        our next ops would reuse them. So after such a run our op ids
        continue above the mark. Then this run is marked running (an
        OSError stops the server: without the mark, a crash could reuse op
        ids), and the member moves the mark as it hands op ids out."""
        m = self.member
        mark, clean = _read_opid_mark(self._opids_path)
        last = max(m.log.last_opid(m.server_id), m._opid_floor)
        if not clean and mark > last:
            log.warning("Global replication: the last run did not stop cleanly; this "
                        "member's op ids continue above %d, the most it may have handed "
                        "out (its log holds up to %d)", mark, last)
            m._opid_floor = last = mark
        _write_opid_mark(self._opids_path, last, clean=False)
        m._opid_reserved = last
        m.reserve_opids = self._reserve_opids

    def _reserve_opids(self, mark: int) -> None:
        try:
            _write_opid_mark(self._opids_path, mark, clean=False)
        except OSError as e:
            # The op is made either way (its data changed already); only a
            # crash before the mark is written again could reuse op ids.
            log.warning("Global replication: could not write the op id mark %s: %s",
                        self._opids_path, e)

    def _version_preexisting(self) -> None:
        """Keys the dump file or AOF held when global replication was
        turned on have no version: they are logged now as ops of ours
        (``GlobalMember.log_unversioned``), before the server serves a
        client or a link. A checkpoint of the dataset as it is comes
        first: without it, a kill -9 before the next one would restart
        from the log alone (recover() trusts no dump file once the log has
        records), and with a crash in the middle, keys the log lost are
        still unversioned there and are logged on the next start."""
        self.versioned = 0
        m = self.member
        # Only a dataset from the dump file, or a checkpoint taken before
        # the keys were all logged, can hold them: no scan of every key
        # (about 1 s per million) on the other starts.
        if not (self.dataset_from_dump or m.unversioned_restored) \
                or not m.has_unversioned():
            return
        started = time.monotonic()
        cp = self.checkpoints
        # The same forked child as any checkpoint; waiting for it here is
        # fine: nothing is served yet.
        cp.poll(block=True)
        if not cp.start():
            raise OSError("a checkpoint is already being written")
        cp.poll(block=True)
        if not cp.last_status_ok:
            raise OSError(f"could not write the checkpoint {cp.path} before logging the "
                          "keys from before global replication")
        n = self.versioned = m.log_unversioned()
        self.log.flush(durable=True)
        # The next checkpoint covers them soon, so a restart need not
        # replay them.
        self.checkpoint_soon()
        log.info("Global replication: logged %d keys from before it was on (%.2f s, "
                 "checkpoint included)", n, time.monotonic() - started)

    def _write_back_changes(self) -> None:
        """A server ran on this log without global replication and noted
        the keys it changed (``globallog.CHANGED_WITHOUT_GLOBAL``); recover()
        rebuilt the dataset from the log and kept the databases the dump
        file or AOF had loaded. Each noted key whose state differs is now
        written back as an op of ours (``GlobalMember.write_back``), so
        those changes reach the group as the member's latest writes; keys
        not noted keep the log's state (the file may hold older ones). A
        key whose loaded TTL has passed counts as absent. Then the ops are
        made durable and the list is dropped; a crash before that writes
        the same keys back again on the next start, which changes nothing
        that was already written."""
        pending = self.changed_without_global
        self.changed_without_global = None
        if pending is None:
            return
        since, changed, loaded = pending
        dbs = self.core.ks.dbs
        now = wall_ms()
        written = 0
        for i, (data, expires) in enumerate(loaded):
            keys = changed.get(ALL_DBS, changed.get(i, ()))
            if keys is WHOLE_DB:
                keys = set(data) | set(dbs[i].data)
            states = []
            for key in sorted(keys):
                value = data.get(key)
                pxat = expires.get(key, 0)
                if pxat and pxat <= now:
                    value = None
                states.append((key, value, pxat if value is not None else 0))
            written += self.member.write_back(i, states)
        self.log.flush(durable=True)
        forget_changed_without_global(self.log.directory)
        self.checkpoint_soon()
        log.warning("Global replication: wrote back %d keys changed while global replication "
                    "was off (since %s) as ops of ServerID %d", written, since,
                    self.member.server_id)

    def start(self) -> None:
        """Start the links (call on the server's running loop)."""
        self.reconcile()
        self._timer = asyncio.get_running_loop().call_later(_TICK, self._tick)
        log.info("Global replication on: ServerID %d, log in %s, holding ops %s",
                 self.member.server_id, self.log.directory, self.member.vector)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for link in self.links.values():
            link.stop("shutdown")
        for il in list(self.inlinks):
            il.close()
            il.client.kill()
        self.inlinks.clear()
        self.checkpoints.poll(block=True)
        try:
            self.log.flush(durable=True)
            # Every op id handed out is in the durable log: the next start
            # needs no margin above it.
            m = self.member
            try:
                _write_opid_mark(self._opids_path,
                                 max(m.log.last_opid(m.server_id), m._opid_floor), clean=True)
            except OSError as e:
                # The next start then keeps the margin: no op id reused.
                log.warning("Global replication: could not write the op id mark %s: %s",
                            self._opids_path, e)
        finally:
            self.log.close()

    def reconcile(self) -> None:
        """Make the outgoing links match ``global-peer`` (none in standby:
        the master's stream brings everything)."""
        wanted = [tuple(p) for p in self.core.config.global_peer]
        if self.member.standby is not None:
            wanted = []
        for key in list(self.links):
            if key not in wanted:
                link = self.links.pop(key)
                link.stop("removed")
                # Gone for good: no longer one of the member's sources
                # (tombstone collection waits for sources that never spoke).
                link.rl.detach()
        for key in wanted:
            if key not in self.links:
                link = self.links[key] = OutLink(self, *key)
                link.start()

    # -- durability and shipping ---------------------------------------------------

    def flush_log(self) -> bool:
        """Write the log's buffer (and sync it under ``always``); False when
        that failed (disk full, I/O error).

        A failure never takes the server down: the records stay buffered
        and are written by a later flush (the timer retries), and until one
        succeeds client writes are refused with ``-MISCONF Errors writing to
        the global log`` (an op that cannot be logged cannot be made
        durable nor shipped, so refusing is the safe choice)."""
        lg = self.log
        try:
            # After a failure, only a write that reached the disk clears it
            # (a failed fsync under everysec would pass a plain flush).
            lg.flush(durable=True if self.write_error is not None else None)
        except OSError as e:
            first = self.write_error is None
            self.write_error = e.strerror or str(e)
            if first:
                log.warning("Error writing to the global log: %s", self.write_error)
                self._update_log_gate()
            return False
        if self.write_error is not None:
            log.warning("Global log write error looks solved, writes are accepted again.")
            self.write_error = None
            self._update_log_gate()
        return True

    def _flush_before_reply(self) -> None:
        """The before-reply hook: under ``always``, records of this turn
        that did not reach the disk withhold the turn's replies."""
        failed_before = self._failed_lsn
        if self.flush_log():
            self._failed_lsn = 0
            return
        last = self.log.last_lsn
        self._failed_lsn = last
        if self.log.fsync == "always" and last > failed_before:
            raise NotDurable(self.write_error)

    def _background_sync(self) -> None:
        """``everysec``: fsync in a worker thread, as Redis's bio thread
        does for the AOF, so a slow disk never stalls the loop (an fsync
        can take hundreds of ms under load)."""
        try:
            job = self.log.begin_sync()
        except OSError as e:
            self._sync_failed(e)
            return
        if job is None:
            return
        fd, lsn = job
        self._syncing = True
        loop = asyncio.get_running_loop()

        def work():
            err = None
            try:
                os.fsync(fd)
            except OSError as e:
                err = e
            finally:
                os.close(fd)
            try:
                loop.call_soon_threadsafe(done, err)
            except RuntimeError:
                pass  # the loop closed (shutdown): its final flush syncs

        def done(err):
            self._syncing = False
            if err is None:
                self.log.end_sync(lsn)
            else:
                self._sync_failed(err)

        loop.run_in_executor(None, work)

    def _sync_failed(self, e: OSError) -> None:
        # Reported and retried as a failed flush is.
        if self.write_error is None:
            log.warning("Error syncing the global log: %s", e.strerror or e)
            self.write_error = e.strerror or str(e)
            self._update_log_gate()

    def _set_fsync(self, policy: str) -> None:
        self.log.fsync = policy

    def _on_record(self, rec) -> None:
        # A record reached the log: incoming links have something to send
        # once it is flushed.
        if self.inlinks:
            self.schedule_pump()

    def schedule_pump(self) -> None:
        if not self._pump_scheduled:
            self._pump_scheduled = True
            asyncio.get_running_loop().call_soon(self._pump)

    def _pump(self) -> None:
        self._pump_scheduled = False
        if not self.flush_log():
            return  # nothing ships before it is logged; the timer retries
        for il in self.inlinks:
            il.pump()

    def _on_applied(self, rec) -> None:
        link = self.current_link
        if link is not None:
            link.ops_applied += 1
            link.last_opids[rec.origin] = rec.opid
            link.lag_ms = max(0, wall_ms() - (rec.ts >> LOGICAL_BITS))

    # -- classic replicas: the stream items and standby (gstandby) --------------

    def stream_changed(self) -> None:
        """This server starts or stops writing a classic replication stream
        (a master with a backlog): the member's items go into it, or
        nowhere (no cost without replicas)."""
        self.member.stream = self._feed_stream if self.core.repl.writes_stream else None

    def _feed_stream(self, payload: bytes) -> None:
        self.core.repl.feed(encode_request([b"PING", payload]))

    def enter_standby(self) -> None:
        """This server became a classic replica (REPLICAOF host port): its
        links stop, and until promoted the master's stream brings the data
        and the metadata (its first sync is a full one: see replica.py)."""
        m = self.member
        if m.standby is not None:
            return
        self._standby()
        self.reconcile()
        for il in list(self.inlinks):
            il.client.kill()
        log.info("Global replication: standby (a classic replica) with ops %s", m.vector)

    def _standby(self) -> None:
        sb = self.member.standby = Standby(self.member)
        sb.on_log_reset = self.checkpoint_soon

    def leave_standby(self) -> None:
        """REPLICAOF NO ONE: a member again. Keys the stream changed without
        their record become local ops; the links of ``global-peer`` start
        from the vector the replica holds."""
        m = self.member
        sb = m.standby
        if sb is None:
            return
        m.standby = None
        sb.promote()
        if sb.unversioned and m.has_unversioned():
            # The master was no member: its keys came without versions.
            # Logged as ops of ours, like keys from before global
            # replication (_version_preexisting), durable at once.
            n = m.log_unversioned()
            try:
                self.log.flush(durable=True)
            except OSError as e:
                # The records stay buffered; the timer's flush retries and
                # reports (flush_log), as for any write.
                log.warning("Global log: could not sync the keys logged at promotion: %s", e)
            log.info("Global replication: logged %d keys the master's full sync brought "
                     "without versions", n)
        self.checkpoint_soon()
        self.reconcile()
        log.info("Global replication: promoted, continuing the links with ops %s", m.vector)

    def standby_full_sync(self, meta) -> None:
        """The replica loaded its master's RDB (``meta``: its decoded
        metadata, None when the master is no member)."""
        sb = self.member.standby
        if sb is None:
            return
        sb.full_sync(meta)
        # The log restarted: a checkpoint must cover it before a restart
        # could need it.
        self.checkpoint_soon()

    # -- incoming links ------------------------------------------------------------

    def accept(self, client, peer_id: int) -> bytes:
        """``GLOBAL SYNC <peer id>`` on a client connection: it becomes an
        incoming link. Returns the handshake reply."""
        from ..errors import CommandError
        if peer_id == self.member.server_id:
            raise CommandError("ERR the peer has this member's own ServerID")
        if self.member.standby is not None:
            raise CommandError("ERR this member is a classic replica (standby); "
                               "link to its master")
        il = InLink(self, client, peer_id)
        self.inlinks.append(il)
        client.kind = "global"
        client.raw = il.on_data
        log.info("Global link from %s (ServerID %d) accepted", client.addr, peer_id)
        return b"+OK %d %s\r\n" % (self.member.server_id, _HELLO_FLAGS.encode())

    def client_gone(self, client) -> None:
        for il in self.inlinks:
            if il.client is client:
                il.close()
                self.inlinks.remove(il)
                log.info("Global link from %s (ServerID %d) closed", client.addr, il.peer_id)
                return

    # -- periodic work ---------------------------------------------------------------

    def _tick(self) -> None:
        try:
            now = time.monotonic()
            ms = wall_ms()
            for link in self.links.values():
                link.tick(ms, now)
            # Members silent for longer than the log keeps ops stop
            # holding tombstones back (0: no age limit, so never).
            age = self.core.config.global_log_max_age
            self.member.gc_forget_ms = age * 1000 if age else 1 << 62
            self.member.tick(ms)
            if self.inlinks:
                # A heartbeat just logged, and STABLE messages (sent at most
                # every stable_ms), leave on idle links too.
                self.schedule_pump()
            timeout = self.core.config.repl_timeout
            for il in list(self.inlinks):
                if now - il.last_rx > timeout:
                    # Its receiver pings an idle link: silence means it is gone.
                    log.warning("Global link from %s (ServerID %d): nothing received for "
                                "%d s, closing it", il.client.addr, il.peer_id, timeout)
                    il.client.kill()
            if self.write_error is not None and self.flush_log():
                self.schedule_pump()
            if (self.log.fsync == "everysec" and now - self._last_sync >= 1
                    and not self._syncing):
                self._last_sync = now
                self._background_sync()
            if now - self._last_retention >= RETENTION_SECONDS:
                self._last_retention = now
                self._retention()
        except Exception:
            log.exception("error in the global replication timer")
        self._timer = asyncio.get_running_loop().call_later(_TICK, self._tick)

    def checkpoint_soon(self) -> None:
        self._checkpoint_at = (0.0, -CHECKPOINT_BYTES, -1)

    def _retention(self) -> None:
        """When the log is over ``global-log-max-size`` or its oldest
        segment over ``global-log-max-age``, drop the segments the
        checkpoint on disk covers (links still behind them get a full sync,
        logged and counted); then start a checkpoint when one is due (see
        CHECKPOINT_BYTES), so the next round can drop more."""
        lg = self.log
        cp = self.checkpoints
        cp.poll()
        cfg = self.core.config
        now = time.monotonic()
        reason = self._over_limit()
        if reason:
            # Never past the checkpoint: a restart replays what follows it
            # (G5). cp.lsn is 0 with no checkpoint: nothing goes then.
            report = lg.truncate_before(cp.lsn + 1)
            if report:
                self.dropped += report.records
                log.info("Global log: retention dropped %d records (LSN %d..%d, %s)",
                         report.records, report.first_lsn, report.last_lsn, reason)
                reason = self._over_limit()
        since, appended_then, lsn_then = self._checkpoint_at
        m = self.member
        due = lg.last_lsn > lsn_then and (
            lg.appended_bytes - appended_then >= min(CHECKPOINT_BYTES,
                                                     cfg.global_log_max_size // 4)
            or now - since >= CHECKPOINT_SECONDS
            # Still over a limit with sealed segments: they are held only
            # because no checkpoint covers them yet.
            or bool(reason) and len(lg.segment_paths) > 1) or (
            # States installed from outside the log hold tombstone
            # collection back until a checkpoint holds them.
            m.has_undurable and m.tombs and now - since >= UNDURABLE_SECONDS)
        # (checkpoint_soon marks lsn_then -1: after a full sync no gap.)
        # A standby waits while keys hold data from the stream whose record
        # has not come yet: the checkpoint would pair that data with the
        # older version, and a restart forgets which keys they were.
        if due and (m.standby is None or not m.standby.dirty) and (
                lsn_then < 0 or now - cp.started_at >= cp.duration + max(
                    CHECKPOINT_MIN_GAP, cp.duration)) and cp.start():
            self._checkpoint_at = (now, lg.appended_bytes, lg.last_lsn)

    def _over_limit(self) -> str:
        """Which retention limit the log is past ("size", "age"), or ""."""
        lg = self.log
        cfg = self.core.config
        if lg.nbytes > cfg.global_log_max_size:
            return "size"
        age = wall_ms() / 1000 - (lg.oldest_ts >> LOGICAL_BITS) / 1000
        if cfg.global_log_max_age and age > cfg.global_log_max_age:
            return "age"
        return ""

    # -- role ----------------------------------------------------------------------

    def _update_gate(self) -> None:
        readonly = self.core.config.global_role == "readonly"
        self.core.set_gate(self._readonly_gate if readonly else None, "global-role")
        # Only SWAPDB and DEBUG can be refused for the dataset's sake: a gate
        # of theirs alone, so that other commands do not take the gate path.
        self.core.set_gate(self._dataset_gate, "global-dataset", commands=("swapdb", "debug"))

    def _update_log_gate(self) -> None:
        self.core.set_gate(self._log_gate if self.write_error is not None else None,
                           "global-log")

    def _log_gate(self, client, cmd, args):
        # Ops applied from links (the internal "master" client) are not
        # refused: their link drops when the log cannot take them.
        if cmd.is_write and client.kind not in ("master", "global"):
            return errors.MISCONF_GLOBAL_LOG.format(self.write_error)
        return None

    @staticmethod
    def _readonly_gate(client, cmd, args):
        if cmd.is_write and client.kind not in ("master", "global"):
            return errors.READONLY
        return None

    @staticmethod
    def _dataset_gate(client, cmd, args):
        # Key versions belong to (database, key): swapping whole databases
        # has no op that other members could apply key by key.
        name = cmd.name
        if name == "swapdb":
            return errors.SWAPDB_GLOBAL
        # Commands that load a dataset under the member's feet: the keys
        # they bring would have no version, or a version that no longer
        # matches the value, and no op would tell the peers. (A plain DEBUG
        # RELOAD saves and reloads the same data, versions still right; the
        # keys of a start-up load are logged by _version_preexisting.)
        if name == "debug" and len(args) > 1:
            sub = args[1].lower()
            if sub == b"loadaof" or (sub == b"reload" and len(args) > 2):
                return errors.LOAD_GLOBAL.format("DEBUG " + sub.decode().upper()
                                                 + (" with options" if len(args) > 2 else ""))
        return None

    # -- what INFO and GLOBAL STATUS show -------------------------------------------

    def digest(self) -> str:
        """One hex digest over every slot digest of the key versions."""
        import hashlib
        h = hashlib.blake2b(digest_size=20)
        for d in self.member.slot_digests():
            h.update(d.to_bytes(8, "little"))
        for fv in self.member.flush_versions:
            h.update(fv.to_bytes(8, "little"))
        return h.hexdigest()

    def _gc_lag_ms(self) -> int:
        h = self.member.gc_horizon()
        return max(0, wall_ms() - (h >> LOGICAL_BITS)) if h else -1

    def info_fields(self) -> list:
        m = self.member
        lg = self.log
        sid = m.server_id
        outs = list(self.links.values())
        fields = [
            ("global_server_id", sid),
            ("global_role", self.core.config.global_role),
            ("global_log_first_opid", lg.first_opid(sid)),
            ("global_log_last_opid", lg.last_opid(sid)),
            ("global_log_bytes", lg.nbytes),
            ("global_links", len(outs)),
            ("global_incoming_links", len(self.inlinks)),
            ("global_full_syncs", sum(link.full_syncs for link in outs)),
            ("global_partial_syncs", sum(link.partial_syncs for link in outs)),
            ("global_conflicts", m.conflicts),
            ("global_checkpoints", self.checkpoints.count),
            ("global_checkpoint_lsn", self.checkpoints.lsn),
            ("global_last_checkpoint_status",
             "ok" if self.checkpoints.last_status_ok else "err"),
            # How long the last one took (fork to reaped): the log can pass
            # its size limit by what it grows in about three times that.
            ("global_last_checkpoint_ms", round(self.checkpoints.duration * 1000)),
            ("global_ops_local", m.local_ops),
            ("global_ops_applied", m.applied_ops),
            # Sizes of the member's tables, so a soak run can see that none
            # grows beyond the keys it holds (stress/soak.py samples them).
            ("global_log_segments", len(lg.segment_paths)),
            # Records past durable_lsn are what a power cut would lose (under
            # everysec, about the last second's; stress/crash.py samples it).
            ("global_log_last_lsn", lg.last_lsn),
            ("global_log_durable_lsn", lg.durable_lsn),
            ("global_log_index_entries", lg.index_entries),
            ("global_versions", len(m.versions)),
            ("global_versions_bytes", m.versions.nbytes),
            ("global_tombstones", len(m.tombs)),
            ("global_ttl_keys", len(m.ttl_keys)),
            # Tombstone collection: how many went, how far behind the wall
            # clock the horizon below which they go is (-1: not known yet,
            # e.g. a peer never reached), heartbeats logged for it.
            ("global_tombstones_collected", m.tombs_collected),
            ("global_gc_lag_ms", self._gc_lag_ms()),
            ("global_heartbeats", m.beats),
            ("global_stale_keys_dropped", m.stale_dropped),
            # GLOBAL DIGEST recounts that found the kept slot digests wrong.
            ("global_digest_recounts_differed", m.digest_recounts_differed),
            # A classic replica keeping a copy of its master's log (G6).
            ("global_standby", int(m.standby is not None)),
            ("global_standby_records", m.standby.records if m.standby is not None else 0),
            # Keys from before global replication was on, logged at this
            # start (0 on later starts: they have versions then).
            ("global_preexisting_keys_versioned", self.versioned),
        ]
        for i, link in enumerate(outs):
            st = link.status()
            fields.append((f"link{i}", ",".join(
                f"{k}={st[k]}" for k in ("peer", "state", "lag_ms", "ops_applied", "bytes_in",
                                         "full_syncs", "partial_syncs",
                                         "bytes_in_uncompressed", "compression_ratio"))))
        return fields
