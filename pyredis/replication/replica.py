"""The replica side of classic replication: the asyncio driver of the link
to our master (``core.repl.master`` while this server is a replica).

:class:`MasterLink` connects, runs the sans-IO :class:`handshake.Handshake`
over the socket, and then:

* on ``+FULLRESYNC``: drops our own replicas and backlog (their history
  ends here), receives the RDB into a temporary file in ``dir`` (or into
  memory with ``repl-diskless-load swapdb|on-empty-db``: it is kept whole and
  parsed once complete, not parsed as it arrives), parses it in steps that
  yield to the event loop (clients get -LOADING meanwhile, INFO shows the
  progress), and only when the whole payload parsed and its checksum
  matched replaces the dataset and adopts the master's id and offset. A bad
  RDB closes the link and leaves the old dataset (and the old dump file)
  as they were. The received file then becomes our dump file, as in Redis.
* on ``+CONTINUE``: adopts a new master id if one is announced, keeping the
  old one as ``replid2`` for our own replicas (PSYNC2).
* then applies the stream: every request runs through the executor on the
  master client (``kind = "master"``: it passes the replica gates, gets no
  replies), and once a request is fully processed its exact wire bytes go
  unchanged into ``core.repl.feed`` (our backlog, our replicas, our offset).
  Inside the master's MULTI nothing is fed until EXEC, as Redis's reploff
  does not move inside a transaction: a link lost mid-transaction resumes
  from the MULTI.

It sends ``REPLCONF ACK <offset>`` every second and on ``REPLCONF GETACK``,
drops the link after ``repl-timeout`` seconds without a byte from the
master, and reconnects with ``PSYNC <replid> <offset+1>`` (the "cached
master" is simply our own replid and offset while they are valid; a
protocol error or a refused PSYNC discards it, so the next try is a full
sync).

While a replica, the keyspace expires nothing on its own (``replica_mode``
in db.py: due keys are hidden from reads, the master's DELs remove them),
and a gate refuses writes (``replica-read-only``) and, with the link down
and ``replica-serve-stale-data no``, every command not flagged ``stale``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time

from .. import errors
from ..blocking import unblock
from ..executor import call
from ..persistence import rdb, snapshot
from ..protocol.encoder import error_bytes
from .handshake import (NEED_DATA, Command, Continue, FullResync, Handshake, KeepAlive,
                        LinkError, Log, PayloadData, PayloadEnd, PayloadStart, Settings, State)

log = logging.getLogger("pyredis")

_READ_SIZE = 65536


class _LinkDown(Exception):
    """The current connection is over (the reason is logged already)."""


def _log(level: str, text: str) -> None:
    (log.warning if level == "warning" else log.info)("%s", text)


class MasterLink:
    """The replica's side of one master: its address, the connection (when
    there is one), the master client, and what INFO and ROLE report.

    Public API: ``host``, ``port``, ``connected`` (link up and synced),
    ``state`` (a :class:`handshake.State`), ``reploff`` (processed offset),
    :meth:`start`, :meth:`stop`, :meth:`send_ack`, :meth:`info_fields`,
    :meth:`role`, :meth:`disconnect` (drop the link and reconnect)."""

    def __init__(self, core, host: str, port: int, stream_db: int = 0) -> None:
        self.core = core
        self.host = host
        self.port = port
        # Whether our replid/offset may be continued with PSYNC.
        self.cached = True
        self.hs: Handshake | None = None
        self._writer = None
        self._task: asyncio.Task | None = None
        self._cron_handle = None
        self._stopped = False
        self.loading = False
        self.linked = False       # handshake done and the stream flowing
        now = time.monotonic()
        self.last_io = now        # last byte from the master
        self.transfer_lastio = now
        self.down_since = 0.0     # 0: never connected since we became a replica
        self.read_reploff = core.repl.master_repl_offset
        # The master client, kept across reconnections (its db stays selected).
        self.client = core.new_client(addr=f"{host}:{port}", send=_drop, close=self._on_kill)
        core.clients.pop(self.client.id, None)  # listed only while linked
        self.client.kind = "master"
        self.client.authenticated = True
        self.client.update_slowpath()
        self.client.db = core.ks.dbs[stream_db if 0 <= stream_db < len(core.ks.dbs) else 0]
        # Raw bytes of the master's open MULTI, fed once EXEC ran.
        self._pending: list = []
        self._tmpfile = ""
        self._tmp = None
        self._mem = None
        self._full: FullResync | None = None

    # -- what others read ------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self.linked

    @property
    def state(self) -> State:
        if self.loading:
            return State.TRANSFER
        if self.linked:
            return State.CONNECTED
        if self.hs is None:
            return State.CONNECT
        return self.hs.state

    @property
    def reploff(self) -> int:
        return self.core.repl.master_repl_offset

    def role(self) -> list:
        """ROLE's reply on a replica."""
        return [b"slave", self.host.encode(), self.port, self.state.role_name.encode(),
                self.reploff if self.linked else -1]

    def info_fields(self) -> list:
        """INFO replication's replica fields, in Redis 6.2's order."""
        cfg = self.core.config
        now = time.monotonic()
        state = self.state
        if self.linked:
            offset = self.reploff
            read_offset = self.read_reploff
        elif self.cached:
            offset = read_offset = self.reploff
        else:
            offset = read_offset = 1
        fields = [
            ("master_host", self.host),
            ("master_port", self.port),
            ("master_link_status", "up" if self.linked else "down"),
            ("master_last_io_seconds_ago", int(now - self.last_io) if self.linked else -1),
            ("master_sync_in_progress", int(state is State.TRANSFER)),
            ("slave_read_repl_offset", read_offset),
            ("slave_repl_offset", offset),
        ]
        if state is State.TRANSFER:
            hs = self.hs
            size = hs.transfer_size if hs is not None else -1
            read = hs.transfer_read if hs is not None else 0
            fields += [
                ("master_sync_total_bytes", size),
                ("master_sync_read_bytes", read),
                ("master_sync_left_bytes", size - read),
                ("master_sync_perc", "%.2f" % (100.0 * read / size if size > 0 else 0.0)),
                ("master_sync_last_io_seconds_ago", int(now - self.transfer_lastio)),
            ]
        if not self.linked:
            fields.append(("master_link_down_since_seconds",
                           int(now - self.down_since) if self.down_since else -1))
        fields += [
            ("slave_priority", cfg.replica_priority),
            ("slave_read_only", int(cfg.replica_read_only)),
            ("replica_announced", int(cfg.replica_announced)),
        ]
        return fields

    # -- life cycle ------------------------------------------------------------

    def start(self) -> None:
        """Begin connecting (on the running loop) and install the gate."""
        loop = asyncio.get_running_loop()
        self._task = loop.create_task(self._run())
        self._cron_handle = loop.call_later(1.0, self._cron)
        self.core.set_gate(self._gate, "replica")

    def stop(self) -> None:
        """Drop the link for good (promotion, a new master, shutdown)."""
        self._stopped = True
        if self._cron_handle is not None:
            self._cron_handle.cancel()
            self._cron_handle = None
        self._close_connection()
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._task = None
        self._unlink_master_client()
        self._discard_transfer()
        self.core.set_gate(None, "replica")

    def disconnect(self) -> None:
        """Close the current connection; the link reconnects (PSYNC)."""
        self._close_connection()

    def _on_kill(self) -> None:
        # CLIENT KILL of the master client: as Redis, the master is cached
        # and we reconnect at once.
        log.warning("Connection with master lost.")
        self._close_connection()

    def _close_connection(self) -> None:
        w = self._writer
        if w is not None:
            self._writer = None
            try:
                w.transport.abort()
            except Exception:  # already closed
                pass

    # -- the connection loop ---------------------------------------------------

    async def _run(self) -> None:
        log.info("Connecting to MASTER %s:%d", self.host, self.port)
        while not self._stopped:
            was_linked = False
            try:
                await self._session()
            except _LinkDown:
                pass
            except OSError as e:
                log.warning("Error condition on socket for SYNC: %s", e.strerror or e)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug must not leave the replica without a link
                log.exception("replication link failed")
            finally:
                was_linked = self.linked
                self._link_lost()
            if self._stopped:
                break
            if was_linked:
                # As Redis: reconnect at once, the backlog may be short.
                log.info("Reconnecting to MASTER %s:%d", self.host, self.port)
                continue
            await asyncio.sleep(1.0)
            log.info("Connecting to MASTER %s:%d", self.host, self.port)

    async def _session(self) -> None:
        core = self.core
        cfg = core.config
        self.transfer_lastio = time.monotonic()
        self.hs = Handshake(Settings(
            listening_port=cfg.replica_announce_port or core.port,
            announce_ip=cfg.replica_announce_ip, masteruser=cfg.masteruser,
            masterauth=cfg.masterauth,
            cached=(core.repl.replid, core.repl.master_repl_offset) if self.cached else None))
        log.info("MASTER <-> REPLICA sync started")
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port), timeout=cfg.repl_timeout)
        except asyncio.TimeoutError:
            log.warning("Timeout connecting to the MASTER...")
            raise _LinkDown() from None
        except (OSError, OverflowError, ValueError) as e:
            # OverflowError: REPLICAOF accepts any port number, as Redis.
            log.warning("Unable to connect to MASTER: %s", getattr(e, "strerror", None) or e)
            raise _LinkDown() from None
        self._writer = writer
        sock = writer.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
            self.client.fd = sock.fileno()
        local = writer.get_extra_info("sockname")
        if isinstance(local, tuple):
            self.client.laddr = f"{local[0]}:{local[1]}"
        log.info("Non blocking connect for SYNC fired the event.")
        writer.write(self.hs.start())
        while True:
            data = await reader.read(_READ_SIZE)
            if not data or self._writer is not writer:
                if self.linked or self.hs.state is State.TRANSFER:
                    log.warning("Connection with master lost.")
                raise _LinkDown()
            now = time.monotonic()
            self.last_io = self.transfer_lastio = now
            core.stats.net_input_bytes += len(data)
            if self.linked:
                self.read_reploff += len(data)
            self.hs.receive_data(data)
            await self._process(writer)

    async def _process(self, writer) -> None:
        """Handle every event the bytes so far give."""
        hs = self.hs
        ks = self.core.ks
        while True:
            ev = hs.next_event()
            if ev is NEED_DATA:
                break
            if type(ev) is Command:
                # The master's commands see keys that are due but not yet
                # deleted by its DEL (Redis's lookups for the master client).
                ks.replica_mode = 2
                try:
                    self._apply(ev)
                    # Everything else parsed from this read, without
                    # going back to the generic dispatch per request.
                    while True:
                        ev = hs.next_event()
                        if type(ev) is not Command:
                            break
                        self._apply(ev)
                finally:
                    ks.replica_mode = 1
                if ev is NEED_DATA:
                    break
            await self._event(ev, writer)
        out = hs.data_to_send()
        if out:
            writer.write(out)

    async def _event(self, ev, writer) -> None:
        t = type(ev)
        if t is Log:
            _log(ev.level, ev.text)
        elif t is LinkError:
            log.warning("%s", ev.text)
            if ev.discard_cached:
                self._discard_cached()
            raise _LinkDown()
        elif t is KeepAlive:
            pass
        elif t is FullResync:
            self._full_resync(ev)
        elif t is Continue:
            self._continue(ev)
        elif t is PayloadStart:
            self._payload_start(ev)
        elif t is PayloadData:
            self._payload_data(ev.data)
        elif t is PayloadEnd:
            out = self.hs.data_to_send()
            if out:
                writer.write(out)
            await self._payload_end(writer)

    # -- PSYNC results ---------------------------------------------------------

    def _discard_cached(self) -> None:
        if self.cached:
            log.info("Discarding previously cached master state.")
        self.cached = False

    def _full_resync(self, ev: FullResync) -> None:
        log.info("Full resync from master: %s:%d", ev.replid, ev.offset)
        self._full = ev
        self._discard_cached()
        repl = self.core.repl
        # Our replicas followed a history that ends here: they must sync
        # again, and nothing of our backlog can be continued.
        repl.disconnect_replicas()
        repl.free_backlog()

    def _continue(self, ev: Continue) -> None:
        repl = self.core.repl
        log.info("Successful partial resynchronization with master.")
        if ev.replid is not None and ev.replid != repl.replid:
            log.warning("Master replication ID changed to %s", ev.replid)
            # Our replicas can go on under the old id up to here.
            repl.replid2 = repl.replid
            repl.second_repl_offset = repl.master_repl_offset + 1
            repl.replid = ev.replid
            repl.disconnect_replicas()
        if repl.backlog is None:
            repl.create_backlog()
        log.info("MASTER <-> REPLICA sync: Master accepted a Partial Resynchronization.")
        self._linked()

    def _linked(self) -> None:
        """The stream starts: the master client is listed, the link is up."""
        self.linked = True
        self.cached = True
        self.down_since = 0.0
        # Bytes already read past what was processed count as read.
        self.read_reploff = self.reploff + (self.hs.pending_bytes if self.hs else 0)
        self.last_io = time.monotonic()
        client = self.client
        client.last_interaction = self.last_io
        self.core.clients[client.id] = client

    def _link_lost(self) -> None:
        self._close_connection()
        self._discard_transfer()
        if self.linked:
            self.linked = False
            self.down_since = time.monotonic()
            if self.cached:
                log.info("Caching the disconnected master state.")
        self.hs = None
        self.loading = False
        self._unlink_master_client()

    def _unlink_master_client(self) -> None:
        client = self.client
        # An open transaction of the master is dropped with the link (its
        # bytes were not fed, so PSYNC asks for it again from MULTI).
        self._pending = []
        if client.in_multi:
            client.in_multi = False
            client.multi_queue = None
            client.multi_error = False
            client.update_slowpath()
        if self.core.clients.get(client.id) is client:
            self.core.remove_client(client)

    # -- the RDB ---------------------------------------------------------------

    def _diskless(self) -> bool:
        mode = self.core.config.repl_diskless_load
        return mode == "swapdb" or (mode == "on-empty-db"
                                    and not any(db.data for db in self.core.ks.dbs))

    def _payload_start(self, ev: PayloadStart) -> None:
        to = "to parser" if self._diskless() else "to disk"
        if ev.size is None:
            log.info("MASTER <-> REPLICA sync: receiving streamed RDB from master with EOF %s",
                     to)
        else:
            log.info("MASTER <-> REPLICA sync: receiving %d bytes from master %s", ev.size, to)
        if self._diskless():
            self._mem = bytearray()
            return
        cfg = self.core.config
        self._tmpfile = os.path.join(cfg.dir or ".", "temp-%d.%d.rdb" % (int(time.time()),
                                                                         os.getpid()))
        try:
            self._tmp = open(self._tmpfile, "wb")
        except OSError as e:
            log.warning("Opening the temp file needed for MASTER <-> REPLICA synchronization: "
                        "%s", e.strerror or e)
            raise _LinkDown() from None

    def _payload_data(self, data: bytes) -> None:
        self.transfer_lastio = time.monotonic()
        if self._mem is not None:
            self._mem += data
            return
        try:
            self._tmp.write(data)
        except OSError as e:
            log.warning("Write error or short write writing to the DB dump file needed for "
                        "MASTER <-> REPLICA synchronization: %s", e.strerror or e)
            raise _LinkDown() from None

    def _discard_transfer(self) -> None:
        self._mem = None
        if self._tmp is not None:
            try:
                self._tmp.close()
            except OSError:
                pass
            self._tmp = None
        if self._tmpfile:
            try:
                os.unlink(self._tmpfile)
            except OSError:
                pass
            self._tmpfile = ""

    async def _payload_end(self, writer) -> None:
        core = self.core
        if self._mem is not None:
            data = bytes(self._mem)
            self._mem = None
        else:
            f, self._tmp = self._tmp, None
            try:
                f.flush()
                os.fsync(f.fileno())
                f.close()
                with open(self._tmpfile, "rb") as f:
                    data = f.read()
            except OSError as e:
                log.warning("Failed trying to sync the temp DB to disk in MASTER <-> REPLICA "
                            "synchronization: %s", e.strerror or e)
                raise _LinkDown() from None
        log.info("MASTER <-> REPLICA sync: Loading DB in memory")
        snap = await self._parse(data, writer)
        if snap is None:
            log.warning("Failed trying to load the MASTER synchronization DB from %s",
                        "socket" if not self._tmpfile else "disk")
            raise _LinkDown()
        # The whole payload is good: only now does the dataset change.
        log.info("MASTER <-> REPLICA sync: Flushing old data")
        try:
            n = rdb.install(snap, core.ks)
        except rdb.RDBError as e:
            log.warning("Failed trying to load the MASTER synchronization DB: %s", e)
            raise _LinkDown() from None
        if self._tmpfile:
            # The received file is our dump file now, as in Redis.
            snaps = snapshot.of(core)
            if snaps.child_pid:
                # A BGSAVE finishing later would overwrite the synced data.
                log.info("Replica is about to load the RDB file received from the master, "
                         "but there is a pending RDB child running. Killing process %d and "
                         "removing its temp file to avoid any race", snaps.child_pid)
                snaps.kill_child()
            try:
                os.replace(self._tmpfile, snaps.path())
                core.dirty_at_last_save = core.ks.dirty
                core.last_save = int(time.time())
            except OSError as e:
                log.warning("Failed trying to rename the temp DB into %s in MASTER <-> REPLICA "
                            "synchronization: %s", snaps.path(), e.strerror or e)
            self._tmpfile = ""
        full = self._full
        core.repl.reset_history(full.replid, full.offset)
        db = _to_int(snap.aux.get(b"repl-stream-db"))
        self.client.db = core.ks.dbs[db if db is not None and 0 <= db < len(core.ks.dbs) else 0]
        core.repl.seldb = self.client.db.id
        log.info("MASTER <-> REPLICA sync: Finished with success (%d keys)", n)
        self._linked()
        # A diskless master puts us online on our first ACK.
        self.send_ack()
        aof = core.aof
        if aof is not None and aof.state != "off" and not aof.rewrite():
            log.warning("Failed enabling the AOF after successful master synchronization!")

    async def _parse(self, data: bytes, writer):
        """Parse the RDB, yielding to the loop; None if it is bad. Clients
        get -LOADING meanwhile and the master a newline every second."""
        core = self.core
        snaps = snapshot.of(core)
        self.loading = True
        snaps.loading = True
        snaps.load_start = int(time.time())
        snaps.load_total = len(data)
        snaps.load_done = snaps.load_keys = 0
        snaps._update_gate()
        t0 = last = time.monotonic()
        try:
            for step in rdb.iter_parse(data, rdb.Limits(core.config), skip_expired=False):
                if isinstance(step, rdb.Snapshot):
                    return step
                snaps.load_done, _, snaps.load_keys = step
                now = time.monotonic()
                if now - last >= 1:
                    last = now
                    writer.write(b"\n")  # the master must not time us out
                    log.info("MASTER <-> REPLICA sync: Loading DB in memory: %d%% (%d keys, "
                             "%d keys/s)", 100 * snaps.load_done // max(1, len(data)),
                             snaps.load_keys, snaps.load_keys / max(now - t0, 1e-6))
                await asyncio.sleep(0)
                if self._writer is not writer:
                    return None  # the link was dropped meanwhile
        except rdb.RDBError as e:
            log.warning("Bad RDB from MASTER: %s", e)
            return None
        finally:
            self.loading = False
            snaps.loading = False
            snaps._update_gate()
        return None

    # -- the stream ------------------------------------------------------------

    def _apply(self, ev: Command) -> None:
        client = self.client
        args = ev.args
        if (len(args) >= 2 and (args[0] == b"REPLCONF" or args[0].lower() == b"replconf")
                and args[1].lower() == b"getack"):
            # Answered with what was processed before this request.
            self.send_ack()
        else:
            reply = call(client, args)
            if reply[:1] == b"-":
                log.warning("== CRITICAL == This replica is sending an error to its master: "
                            "'%s' after processing the command '%s'",
                            reply[1:-2].decode("utf-8", "replace"),
                            args[0].decode("utf-8", "replace"))
        client.last_interaction = self.last_io
        if client.in_multi:
            self._pending.append(ev.raw)
            return
        repl = self.core.repl
        if self._pending:
            self._pending.append(ev.raw)
            data = b"".join(self._pending)
            self._pending = []
        else:
            data = ev.raw
        repl.feed(data)
        # The stream's database, for the repl-stream-db of our snapshots.
        repl.seldb = client.db.id

    def send_ack(self) -> None:
        """REPLCONF ACK with the processed offset (every second, on GETACK)."""
        w = self._writer
        if w is not None and self.linked:
            w.write(Handshake.ack(self.reploff))

    # -- timers ----------------------------------------------------------------

    def _cron(self) -> None:
        """Once a second: the ACK and the timeouts (Redis's replicationCron)."""
        if self._stopped:
            return
        try:
            now = time.monotonic()
            timeout = self.core.config.repl_timeout
            if self._writer is not None and not self.loading:
                state = self.state
                if state is State.CONNECTED:
                    if now - self.last_io > timeout:
                        log.warning("MASTER timeout: no data nor PING received...")
                        self._close_connection()
                    else:
                        self.send_ack()
                elif state is State.TRANSFER:
                    if now - self.transfer_lastio > timeout:
                        log.warning("Timeout receiving bulk data from MASTER... If the problem "
                                    "persists try to set the 'repl-timeout' parameter in "
                                    "redis.conf to a larger value.")
                        self._close_connection()
                elif now - self.transfer_lastio > timeout:
                    log.warning("Timeout connecting to the MASTER...")
                    self._close_connection()
        except Exception:
            log.exception("error in the replication link's periodic task")
        self._cron_handle = asyncio.get_running_loop().call_later(1.0, self._cron)

    # -- the gate --------------------------------------------------------------

    def _gate(self, client, cmd, args):
        """READONLY and MASTERDOWN, as Redis's processCommand (the master's
        own client, and scripts it runs, pass)."""
        kind = client.kind
        if kind == "master":
            return None
        cfg = self.core.config
        if kind == "lua":
            engine = getattr(self.core, "lua_engine", None)
            caller = getattr(engine, "caller", None)
            if caller is not None and caller.kind == "master":
                return None
            if cmd.is_write and cfg.replica_read_only:
                return errors.READONLY
            return None
        if cmd.is_write and cfg.replica_read_only:
            return errors.READONLY
        if not self.linked and not cfg.replica_serve_stale_data and not cmd.stale_ok:
            return errors.MASTERDOWN
        return None


def _drop(data) -> None:
    """The master gets no replies (only our ACKs, written by the link)."""


def _to_int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


# -- becoming a replica, and a master again ------------------------------------


def set_master(core, host: str, port: int, stream_db: int = 0) -> MasterLink:
    """REPLICAOF host port (and ``replicaof`` at start-up): follow a new
    master. Our replicas are dropped (they will follow us again), our
    replid and offset are the cached master to try a partial resync with."""
    repl = core.repl
    old = repl.master
    link = MasterLink(core, host, port, stream_db)
    if old is None:
        _disconnect_blocked(core)
    else:
        # Switching masters is Redis's cached master: our history is still
        # worth a PSYNC if it was, the stream's database stays selected,
        # and the link has been down since the old one went.
        link.cached = old.cached
        link.client.db = old.client.db
        link.down_since = time.monotonic() if old.linked else old.down_since
        old.stop()
    repl.master = link
    # CONFIG GET / REWRITE show the master in use, as Redis.
    core.config.replicaof = f"{host} {port}"
    repl.update_sink()
    core.ks.replica_mode = 1
    repl.disconnect_replicas()
    link.start()
    return link


def _disconnect_blocked(core) -> None:
    """Clients blocked on keys of a master that becomes a replica get an
    error and are closed (Redis's disconnectAllBlockedClients): their pops
    would write to a replica. Clients held by CLIENT PAUSE stay."""
    for c in list(core.clients.values()):
        state = c.blocked
        if state is None or getattr(state, "held", False):
            continue
        unblock(c)
        c.send(error_bytes(errors.UNBLOCKED_TO_REPLICA))
        c.kill()


def unset_master(core) -> None:
    """REPLICAOF NO ONE: keep the data, start a new history that continues
    the master's (our replicas continue with PSYNC), accept writes."""
    repl = core.repl
    link = repl.master
    if link is None:
        return
    link.stop()
    repl.master = None
    core.config.replicaof = ""
    core.ks.replica_mode = 0
    repl.shift_replid()
    repl.disconnect_replicas()
    # The new stream starts with a SELECT; with a backlog (kept from the
    # sync) we produce the stream from now on.
    repl.seldb = -1
    repl.no_replicas_since = time.monotonic()
    repl.update_sink()


def startup(core) -> None:
    """After the dataset is loaded at start-up: with ``replicaof`` set,
    become a replica, continuing the history the dump file recorded
    (its repl-id, repl-offset and repl-stream-db AUX fields) if any."""
    target = core.config.replicaof
    if not target:
        return
    if getattr(core, "global_repl", None) is not None:
        # A full sync would replace the member's versioned dataset by keys
        # without versions (REPLICAOF is refused likewise).
        log.warning("replicaof %s ignored: global replication is on", target)
        return
    host, port = target.split()
    stream_db = 0
    aux = getattr(snapshot.of(core), "aux", None) or {}
    replid = aux.get(b"repl-id", b"").decode("latin-1")
    offset = _to_int(aux.get(b"repl-offset"))
    db = _to_int(aux.get(b"repl-stream-db"))
    if len(replid) == 40 and offset is not None and offset >= 0 and db is not None and db >= 0:
        core.repl.replid = replid
        core.repl.master_repl_offset = offset
        core.repl.clear_replid2()
        stream_db = db
        log.info("Using the replication id %s and offset %d of the dump file to "
                 "partially resynchronize with the master.", replid, offset)
    set_master(core, host, int(port), stream_db)


def shutdown(core) -> None:
    link = core.repl.master
    if link is not None:
        link.stop()
