"""The master side of classic replication, as Redis's replication.c does it.

A client becomes a replica with ``SYNC`` or ``PSYNC replid offset``:

* **Partial resync**: when ``core.repl`` can continue the replica's history
  from its offset, it gets ``+CONTINUE <replid>`` and the backlog from that
  offset, and is online at once.
* **Full resync**: the replica waits for a snapshot (``WAIT_START``), gets
  ``+FULLRESYNC <replid> <offset>`` when the snapshot process forks (the
  offset is the stream position the snapshot corresponds to), then the RDB
  (``SEND_BULK``), then everything the stream produced meanwhile, which
  was kept for it in ``pending``; then it is ``ONLINE``.

A snapshot is a forked child (as BGSAVE), so the parent goes on serving its
clients; several replicas waiting at once share one snapshot. With
``repl-diskless-sync no`` the child writes a temporary file and the RDB
goes out as ``$<len>\\r\\n<bytes>``; with ``yes`` (and every waiting replica
announcing ``capa eof``) the child writes into a pipe that the parent
forwards as it comes, framed as ``$EOF:<40 bytes>\\r\\n<rdb><40 bytes>``,
after waiting ``repl-diskless-sync-delay`` seconds for more replicas.
Replicas waiting for a snapshot get a newline every second (they treat it
as a keep-alive), every replica gets PING every
``repl-ping-replica-period`` seconds through the stream, and one whose
acknowledgements stop for ``repl-timeout`` seconds is dropped.

WAIT blocks its client until enough replicas acknowledged the offset of
the stream when it was called (REPLCONF GETACK asks them at once).
``min-replicas-to-write`` refuses writes with -NOREPLICAS (a gate).

The bytes reach a replica through its client's ``send`` (the server shell's
connection); the snapshot transfer is paced on the connection's pending
output, so a slow replica does not fill the master's memory with the RDB.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time

from .. import errors
from ..blocking import BLOCKED, BlockState, unblock
from ..persistence import rdb
from ..persistence.aof import encode_request
from ..protocol.encoder import Raw
from . import gstandby

log = logging.getLogger("pyredis")

# Replica states (Redis's SLAVE_STATE_*), named as INFO shows them.
WAIT_START = "wait_bgsave_start"   # waiting for a snapshot to start
WAIT_END = "wait_bgsave_end"       # snapshot being written, +FULLRESYNC sent
SEND_BULK = "send_bulk"
ONLINE = "online"
# INFO's slaveN state: Redis shows both waits as "wait_bgsave".
_INFO_STATE = {WAIT_START: "wait_bgsave", WAIT_END: "wait_bgsave"}

# Pacing of the snapshot transfer: read more only while the replica's
# connection holds less than this much unsent output.
_SEND_WINDOW = 4 * 1024 * 1024
# Bytes moved per event-loop callback during a snapshot transfer: small
# enough that the master's other clients wait at most a few ms behind one.
_CHUNK = 256 * 1024
_GETACK = encode_request([b"REPLCONF", b"GETACK", b"*"])
_PING = encode_request([b"PING"])


class ReplicaLink:
    """One attached replica, seen from the master."""

    __slots__ = ("core", "client", "ip", "listening_port", "capa_eof", "capa_psync2",
                 "rdb_only", "old_sync", "state", "waiting_since", "ack_offset", "ack_time",
                 "pending", "pending_bytes", "job")

    def __init__(self, core, client, conf: dict) -> None:
        self.core = core
        self.client = client
        addr = client.addr.rsplit(":", 1)[0] if client.addr else "?"
        self.ip = conf.get("ip-address") or addr
        self.listening_port = conf.get("listening-port", 0)
        capa = conf.get("capa", ())
        self.capa_eof = "eof" in capa
        self.capa_psync2 = "psync2" in capa
        self.rdb_only = conf.get("rdb-only", False)
        self.old_sync = False
        self.state = WAIT_START
        self.waiting_since = time.monotonic()
        self.ack_offset = 0
        self.ack_time = time.monotonic()
        # Stream bytes produced since the snapshot forked, sent once the RDB is out.
        self.pending: list = []
        self.pending_bytes = 0
        self.job = None

    @property
    def online(self) -> bool:
        return self.state == ONLINE

    def stream(self, data: bytes) -> None:
        """New stream bytes (ReplicationState.flush_stream, once a turn)."""
        state = self.state
        if state == ONLINE:
            self.client.send(data)
        elif self.job is not None:
            # The snapshot is taken: what follows it waits for the RDB. (A
            # replica still waiting for a snapshot to start gets nothing:
            # the snapshot will hold these writes.)
            self.pending.append(data)
            self.pending_bytes += len(data)
            limits = self.core.config.client_output_buffer_limit.get("slave")
            if limits and limits[0] and self.pending_bytes > limits[0]:
                log.warning("Client id=%d addr=%s scheduled to be closed ASAP for overcoming "
                            "of output buffer limits.", self.client.id, self.client.addr)
                self.client.kill()

    def go_online(self) -> None:
        if self.core.config.repl_disable_tcp_nodelay:
            _set_nodelay(self.client.fd, False)
        self.state = ONLINE
        self.job = None
        self.ack_time = time.monotonic()
        pending, self.pending = self.pending, []
        self.pending_bytes = 0
        if pending:
            self.client.send(b"".join(pending))
        log.info("Synchronization with replica %s:%d succeeded", self.ip, self.listening_port)
        if self.rdb_only:
            # redis-cli --rdb (REPLCONF rdb-only 1) wants the snapshot alone.
            self.client.kill()

    def info_line(self) -> str:
        lag = int(time.monotonic() - self.ack_time) if self.online else 0
        return "ip=%s,port=%d,state=%s,offset=%d,lag=%d" % (
            self.ip, self.listening_port, _INFO_STATE.get(self.state, self.state),
            self.ack_offset, lag)


class SyncJob:
    """One snapshot child and the replicas it serves."""

    def __init__(self, side: "MasterSide", diskless: bool) -> None:
        self.side = side
        self.diskless = diskless
        self.links: list[ReplicaLink] = []
        self.pid = 0
        self.fd = -1            # the pipe's read end (data when diskless, else status)
        self.path = ""          # the temporary file (disk mode)
        self.eofmark = os.urandom(20).hex().encode() if diskless else b""
        self.started = False    # diskless: whether the $EOF header went out
        self.offset = 0         # the stream offset the snapshot corresponds to
        self.paused = False


class MasterSide:
    """Replicas attached to this server, snapshots for them, WAIT, and the
    periodic upkeep of the master side."""

    def __init__(self, core) -> None:
        self.core = core
        self.job: SyncJob | None = None
        # REPLCONF settings a client sent before it asked to sync: client -> dict.
        self.conf: dict = {}
        self.waiters: list = []
        self._getack_scheduled = False
        self._last_ping = time.monotonic()
        self._last_second = 0.0
        self._gate_on = False
        # Snapshots forked for replicas (one may serve several).
        self.snapshots = 0
        for name in ("min-replicas-to-write", "min-replicas-max-lag"):
            core.config.on_change(name, lambda _value: self._update_gate())
        self._update_gate()

    # -- becoming a replica ------------------------------------------------

    def psync(self, client, replid: str, offset: int | None) -> Raw:
        """SYNC (``offset`` None) or PSYNC: the reply to send now."""
        core = self.core
        repl = core.repl
        # What the stream produced so far goes out before this replica joins.
        repl.flush_stream()
        link = ReplicaLink(core, client, self.conf.pop(client.id, {}))
        if offset is not None:
            if repl.can_continue(replid, offset):
                return self._continue(link, offset)
            if replid != "?":
                repl.sync_partial_err += 1
                log.info("Partial resynchronization not accepted (%s:%d asked %s:%d)",
                         link.ip, link.listening_port, replid, offset)
        else:
            link.old_sync = True
        repl.sync_full += 1
        log.info("Replica %s:%d asks for synchronization", link.ip, link.listening_port)
        client.kind = "replica"
        if repl.backlog is None:
            # As Redis: a backlog made from nothing starts a new history,
            # since no past one can be continued from it.
            repl.new_history()
            repl.create_backlog()
        repl.replicas.append(link)
        job = self.job
        if job is not None and not job.diskless:
            # A disk snapshot is being written: share it, with the stream
            # the other replicas of this snapshot kept since it forked.
            other = job.links[0] if job.links else None
            self._attach(link, job)
            if other is not None:
                link.pending = list(other.pending)
                link.pending_bytes = other.pending_bytes
            return Raw(b"") if link.old_sync else Raw(
                b"+FULLRESYNC %s %d\r\n" % (repl.replid.encode(), job.offset))
        if job is None and not self._diskless_wanted(link):
            self._start_job()
            return Raw(b"")
        # A diskless snapshot waits its delay (more replicas may come), or
        # one is running: the next one, started by cron, serves this replica.
        return Raw(b"")

    def _continue(self, link: ReplicaLink, offset: int) -> Raw:
        core = self.core
        repl = core.repl
        link.client.kind = "replica"
        link.state = ONLINE
        link.ack_offset = offset - 1
        repl.replicas.append(link)
        repl.sync_partial_ok += 1
        backlog = repl.backlog.read_from(offset)
        log.info("Partial resynchronization request from %s:%d accepted. Sending %d bytes of "
                 "backlog starting from offset %d.", link.ip, link.listening_port,
                 len(backlog), offset)
        head = (b"+CONTINUE %s\r\n" % repl.replid.encode()) if link.capa_psync2 else b"+CONTINUE\r\n"
        self._update_gate()
        return Raw(head + backlog)

    def _diskless_wanted(self, link: ReplicaLink) -> bool:
        cfg = self.core.config
        return bool(cfg.repl_diskless_sync and link.capa_eof and cfg.repl_diskless_sync_delay)

    # -- snapshots -----------------------------------------------------------

    def _start_job(self) -> None:
        """Fork a snapshot for every replica waiting for one."""
        core = self.core
        repl = core.repl
        # The snapshot holds every write so far: their stream bytes go to
        # the backlog and online replicas, never to the ones it serves.
        repl.flush_stream()
        waiting = [r for r in repl.replicas if r.state == WAIT_START and r.job is None]
        if not waiting:
            return
        # Diskless only if every waiting replica can read the EOF framing.
        diskless = bool(core.config.repl_diskless_sync) and all(r.capa_eof for r in waiting)
        job = SyncJob(self, diskless)
        job.offset = repl.master_repl_offset
        # The stream must SELECT again after the snapshot: the replica's
        # database after loading is not ours.
        repl.seldb = -1
        rfd, wfd = os.pipe()
        if not diskless:
            job.path = os.path.join(core.config.dir or ".", "temp-repl-%d-%d.rdb" % (
                os.getpid(), id(job) & 0xFFFF))
        try:
            pid = os.fork()
        except OSError as e:
            os.close(rfd)
            os.close(wfd)
            log.warning("Can't save in background: fork: %s", e.strerror)
            for r in waiting:
                r.client.kill()
            return
        if pid == 0:
            code = 1
            try:
                os.close(rfd)
                aux = rdb.aux_fields(core)
                gr = core.global_repl
                if gr is not None:
                    # The member's key versions and vector at the instant
                    # of the data, for a pyredis replica keeping a copy of
                    # its global log (gstandby; other readers skip it).
                    aux.append((gstandby.AUX_NAME, gstandby.encode_meta(gr.member)))
                if diskless:
                    with os.fdopen(wfd, "wb", buffering=_CHUNK) as f:
                        rdb.dump(core, f, aux=aux)
                else:
                    with open(job.path, "wb") as f:
                        rdb.dump(core, f, aux=aux)
                        f.flush()
                    os.close(wfd)
                code = 0
            except BaseException:  # the child must never return into the loop
                pass
            os._exit(code)
        os.close(wfd)
        os.set_blocking(rfd, False)
        self.snapshots += 1
        job.pid = pid
        job.fd = rfd
        self.job = job
        log.info("Starting BGSAVE for SYNC with target: %s (pid %d)",
                 "replicas sockets" if diskless else "disk", pid)
        head = b"+FULLRESYNC %s %d\r\n" % (repl.replid.encode(), job.offset)
        for r in waiting:
            self._attach(r, job)
            if not r.old_sync:
                r.client.send(head)
        asyncio.get_running_loop().add_reader(rfd, self._readable, job)

    def _attach(self, link: ReplicaLink, job: SyncJob) -> None:
        link.job = job
        link.state = WAIT_END
        job.links.append(link)

    def _readable(self, job: SyncJob) -> None:
        """The child's pipe: RDB bytes (diskless) or EOF when it exited."""
        try:
            data = os.read(job.fd, _CHUNK)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data and job.diskless:
            links = [r for r in job.links if not r.client.closing]
            if not job.started:
                job.started = True
                head = b"$EOF:" + job.eofmark + b"\r\n"
                for r in links:
                    r.state = SEND_BULK
                    r.client.send(head)
            for r in links:
                r.client.send(data)
            # Pace the child on the slowest replica.
            if any(r.client.output_pending > _SEND_WINDOW for r in links):
                self._pause(job)
            return
        if data:  # disk mode: the child writes nothing here
            return
        # EOF: the child is done (or died). Reap it without blocking: the
        # kernel may take tens of ms to tear down its memory, and the
        # parent's clients must not wait for that (Redis reaps from cron).
        self._unwatch(job)
        self._reap_later(job)

    def _reap_later(self, job: SyncJob) -> None:
        try:
            pid, status = os.waitpid(job.pid, os.WNOHANG)
        except ChildProcessError:
            pid, status = job.pid, 1 << 8
        if pid == 0:
            asyncio.get_running_loop().call_later(0.002, self._reap_later, job)
            return
        self._child_done(job, os.waitstatus_to_exitcode(status) == 0)

    def _child_done(self, job: SyncJob, ok: bool) -> None:
        self.job = None
        if not ok:
            log.warning("Background transfer error: the snapshot child failed")
            self._job_failed(job)
        elif job.diskless:
            for r in job.links:
                r.client.send(job.eofmark)
                r.go_online()
            log.info("Diskless rdb transfer done")
        else:
            log.info("Background RDB transfer terminated with success")
            self._send_file(job)
        self._after_job()

    def _pause(self, job: SyncJob) -> None:
        loop = asyncio.get_running_loop()
        loop.remove_reader(job.fd)
        job.paused = True

        def check():
            if job.fd < 0:
                return
            if any(r.client.output_pending > _SEND_WINDOW for r in job.links
                   if not r.client.closing):
                loop.call_later(0.002, check)
            else:
                job.paused = False
                loop.add_reader(job.fd, self._readable, job)

        loop.call_later(0.002, check)

    def _unwatch(self, job: SyncJob) -> None:
        if job.fd >= 0:
            try:
                asyncio.get_running_loop().remove_reader(job.fd)
            except RuntimeError:
                pass
            os.close(job.fd)
            job.fd = -1

    def _job_failed(self, job: SyncJob) -> None:
        for r in job.links:
            r.client.kill()
        if job.path:
            _unlink(job.path)

    def _send_file(self, job: SyncJob) -> None:
        """Disk mode: ``$<len>\\r\\n`` and the file, paced per replica."""
        try:
            f = open(job.path, "rb")
            size = os.fstat(f.fileno()).st_size
        except OSError as e:
            log.warning("Can't open the snapshot for replicas: %s", e)
            self._job_failed(job)
            return
        _unlink(job.path)  # the open file stays readable
        links = list(job.links)
        for r in links:
            r.state = SEND_BULK
            r.client.send(b"$%d\r\n" % size)
        loop = asyncio.get_running_loop()
        pos = 0

        def pump():
            nonlocal pos
            alive = [r for r in links if not r.client.closing and r in self.core.repl.replicas]
            if not alive:
                f.close()
                return
            if any(r.client.output_pending > _SEND_WINDOW for r in alive):
                loop.call_later(0.002, pump)
                return
            f.seek(pos)
            data = f.read(_CHUNK)
            if data:
                pos += len(data)
                for r in alive:
                    r.client.send(data)
                loop.call_soon(pump)
                return
            f.close()
            for r in alive:
                r.go_online()

        pump()

    def _after_job(self) -> None:
        # Replicas that came while that snapshot ran get the next one.
        if any(r.state == WAIT_START for r in self.core.repl.replicas):
            if not self.core.config.repl_diskless_sync:
                self._start_job()
        self._update_gate()

    def replica_gone(self, client) -> None:
        """A replica's connection closed."""
        repl = self.core.repl
        for r in repl.replicas:
            if r.client is client:
                repl.replicas.remove(r)
                if r.job is not None and r in r.job.links:
                    r.job.links.remove(r)
                log.info("Connection with replica %s:%d lost.", r.ip, r.listening_port)
                break
        self.conf.pop(client.id, None)
        self._update_gate()

    def stop(self) -> None:
        """Server shutdown: end a running snapshot child."""
        job = self.job
        if job is not None:
            self._unwatch(job)
            try:
                os.kill(job.pid, 9)
            except OSError:
                pass
            try:
                os.waitpid(job.pid, 0)
            except ChildProcessError:
                pass
            if job.path:
                _unlink(job.path)
            self.job = None

    # -- acknowledgements and WAIT --------------------------------------------

    def ack(self, client, offset: int) -> None:
        for r in self.core.repl.replicas:
            if r.client is client:
                if offset > r.ack_offset:
                    r.ack_offset = offset
                r.ack_time = time.monotonic()
                break
        if self.waiters:
            self._serve_waiters()

    def count_acks(self, offset: int) -> int:
        return sum(1 for r in self.core.repl.replicas if r.online and r.ack_offset >= offset)

    def wait(self, client, numreplicas: int, timeout_ms: int):
        """WAIT: the count now, or BLOCKED until enough acks or the timeout."""
        repl = self.core.repl
        target = repl.master_repl_offset
        n = self.count_acks(target)
        if n >= numreplicas or client.in_multi or client.deny_blocking:
            return n
        core = self.core
        state = BlockState(client.db, [], None, None)
        client.blocked = state
        core.blocked_clients += 1
        if timeout_ms > 0 and core.call_later is not None:
            state.timer = core.call_later(timeout_ms / 1000, self._wait_timeout, client)
        self.waiters.append((client, state, target, numreplicas))
        self._request_acks()
        return BLOCKED

    def _request_acks(self) -> None:
        # Once per loop turn however many WAITs ask (Redis does it in beforeSleep).
        if self._getack_scheduled:
            return
        self._getack_scheduled = True

        def send():
            self._getack_scheduled = False
            repl = self.core.repl
            if repl.master is None and any(r.online for r in repl.replicas):
                repl.feed(_GETACK)

        asyncio.get_running_loop().call_soon(send)

    def _serve_waiters(self) -> None:
        keep = []
        for w in self.waiters:
            client, state, target, needed = w
            if client.blocked is not state:
                continue  # timed out or gone
            n = self.count_acks(target)
            if n >= needed:
                self._wake(client, n)
            else:
                keep.append(w)
        self.waiters = keep

    def _wait_timeout(self, client) -> None:
        for w in self.waiters:
            if w[0] is client and client.blocked is w[1]:
                w[1].timer = None
                self.waiters.remove(w)
                self._wake(client, self.count_acks(w[2]))
                return

    def _wake(self, client, n: int) -> None:
        unblock(client)
        client.send(b":%d\r\n" % n)
        if client.on_unblocked is not None:
            client.on_unblocked()

    # -- min-replicas-to-write -------------------------------------------------

    def _update_gate(self) -> None:
        cfg = self.core.config
        want = bool(cfg.min_replicas_to_write and cfg.min_replicas_max_lag)
        if want != self._gate_on:
            self._gate_on = want
            self.core.set_gate(self._gate if want else None, "min-replicas")

    def _gate(self, client, cmd, args):
        core = self.core
        cfg = core.config
        if (cmd.is_write and core.repl.master is None and client.kind != "master"
                and core.repl.good_replicas() < cfg.min_replicas_to_write):
            return errors.NOREPLICAS
        return None

    # -- periodic upkeep ---------------------------------------------------------

    def cron(self, now: float) -> None:
        """Called on every server tick."""
        repl = self.core.repl
        cfg = self.core.config
        if (self.job is None and any(r.state == WAIT_START for r in repl.replicas)):
            oldest = min(r.waiting_since for r in repl.replicas if r.state == WAIT_START)
            if not cfg.repl_diskless_sync or now - oldest >= cfg.repl_diskless_sync_delay:
                self._start_job()
        if now - self._last_second < 1:
            return
        self._last_second = now
        if not repl.replicas:
            return
        if repl.master is None and now - self._last_ping >= cfg.repl_ping_replica_period:
            self._last_ping = now
            if any(r.online for r in repl.replicas):
                repl.feed(_PING)
        for r in list(repl.replicas):
            if r.state == WAIT_START or (r.state == WAIT_END and not (
                    r.job is not None and r.job.diskless)):
                # Keep-alive while the replica waits for its RDB.
                r.client.send(b"\n")
            elif r.online and not r.old_sync and now - r.ack_time > cfg.repl_timeout:
                log.warning("Disconnecting timedout replica (streaming sync): %s:%d",
                            r.ip, r.listening_port)
                r.client.kill()


def _set_nodelay(fd: int, on: bool) -> None:
    """TCP_NODELAY on a connection's socket (through a duplicate of its fd:
    the option belongs to the socket, not to the descriptor)."""
    if fd < 0:
        return
    try:
        s = socket.fromfd(fd, socket.AF_INET, socket.SOCK_STREAM)
    except OSError:
        return
    try:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, int(on))
    except OSError:
        pass
    finally:
        s.close()


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
