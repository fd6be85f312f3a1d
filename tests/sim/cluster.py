"""The simulated group: members, network, clocks and faults, all in one
thread and all drawn from one seed (FoundationDB / TigerBeetle style).

* Members are real ``Core`` objects with a ``GlobalMember``, a ``GlobalLog``
  in a temporary directory (flushed at the end of every turn, before
  anything leaves the member, as the server does under ``always``) and the
  glink state machines; clients run commands through ``executor.call``.
* Each one-way link (receiver pulls from source) is a connection with two
  FIFO pipes; delays are random per message but a pipe never reorders (TCP);
  different links reorder freely against each other. Faults: connection
  drops (then reconnect after a backoff), partitions, member restarts from
  their durable files (checkpoint + log, torn log tail included), clock skew
  and clocks stepping back.
* Link compression by seed: most seeds compress every link, some none, and
  some mix members that compress with members that do not (as an older
  member or ``global-link-compression no`` would); a link's source stream is
  compressed exactly when both its ends do, and the bytes each mode moved
  are counted (:meth:`Sim.stream_bytes`).
* Expiry reads the member's own skewed clock: ``now_ms`` of pyredis modules
  is patched for the run to read the clock of the member being driven.

After the workload, the network heals, clocks agree, every link reconnects,
and the run goes on until quiescence; then an anti-entropy round, then the
checks (:meth:`Sim.check`).
"""

from __future__ import annotations

import heapq
import os
import random
import shutil
import sys
import tempfile

from pyredis import db as _db
from pyredis import executor
from pyredis.core import Core
from pyredis.replication.glink import ReceiverLink, SourceLink
from pyredis.replication.globallog import GlobalLog
from pyredis.replication.gmember import GlobalMember

from . import workload

START_MS = 1_767_225_600_000    # 2026-01-01
TOPOLOGIES = ("mesh", "star", "chain", "ring", "oneway", "mesh")


class SimFailure(AssertionError):
    pass


# -- the clock pyredis's expiry reads ------------------------------------------------

_CURRENT = [lambda: START_MS]
_ORIGINAL_NOW = _db.now_ms


def _sim_now_ms() -> int:
    return _CURRENT[0]()


def _patch_now(on: bool) -> None:
    """Points every pyredis module's ``now_ms`` at the simulated clock (or
    back at the real one)."""
    src, dst = (_ORIGINAL_NOW, _sim_now_ms) if on else (_sim_now_ms, _ORIGINAL_NOW)
    for name, mod in list(sys.modules.items()):
        if name.startswith("pyredis") and getattr(mod, "now_ms", None) is src:
            mod.now_ms = dst


def edges_for(topology: str, n: int) -> list:
    """(receiver, source) pairs: the receiver pulls the source's ops."""
    if topology == "mesh":
        return [(a, b) for a in range(n) for b in range(n) if a != b]
    if topology == "star":
        return [e for i in range(1, n) for e in ((0, i), (i, 0))]
    if topology == "chain":
        return [e for i in range(n - 1) for e in ((i, i + 1), (i + 1, i))]
    if topology == "ring":
        return [((i + 1) % n, i) for i in range(n)]
    if topology == "oneway":
        # A mesh of the first n-1 members, and a read-only member pulling
        # from one of them only (Tencent's read-only instance).
        m = n - 1
        return [(a, b) for a in range(m) for b in range(m) if a != b] + [(n - 1, 0)]
    raise ValueError(topology)


class Member:
    """One simulated member: its core, log, global member and links."""

    def __init__(self, sim, idx: int, readonly: bool, compress: bool) -> None:
        self.sim = sim
        self.idx = idx
        # Asks its sources for, and gives its receivers, a zstd stream.
        self.compress = compress
        self.sid = idx + 1
        self.readonly = readonly
        self.dir = os.path.join(sim.dir, "m%d" % self.sid)
        os.makedirs(self.dir, exist_ok=True)
        self.cp_path = os.path.join(self.dir, "checkpoint")
        self.skew = 0
        self.alive = True
        # (origin, opid) -> times applied from a link since the dataset
        # last lost nothing (a restart recounts from the durable log).
        self.applied: dict = {}
        self.restarts = 0
        self.boot()

    def wall(self) -> int:
        return self.sim.t + self.skew

    def boot(self) -> None:
        sim = self.sim
        sim.enter(self)
        self.core = Core()
        # (Not on a read-only member: in a one-way topology nobody pulls
        # from it, so its own keys would stay its own by design.)
        preexisting = self.restarts == 0 and sim.preexisting and not self.readonly
        if preexisting:
            # A dump file's keys, loaded before global replication was on
            # (no member watching, so no versions): string, list and hash
            # names the workload writes too, values differing per member.
            plain = self.core.new_client()
            rng = sim.rng
            for k in range(workload.NKEYS):
                if rng.randrange(2):
                    executor.call(plain, [b"SET", b"s%d" % k, b"pre%d" % self.sid])
                if rng.randrange(3) == 0:
                    executor.call(plain, [b"RPUSH", b"l%d" % k, b"pre%d" % self.sid])
                if rng.randrange(3) == 0:
                    executor.call(plain, [b"HSET", b"h%d" % k, b"f", b"pre%d" % self.sid])
            self.core.remove_client(plain)
        # Policy "no": the simulated crash is a process kill, which keeps
        # what reached the OS; what it loses is what the log still buffered
        # (Sim.crash), exactly what "always" would not have acknowledged.
        self.log = GlobalLog(os.path.join(self.dir, "log"), fsync="no",
                             segment_bytes=sim.rng.choice((4096, 1 << 20)))
        self.gm = GlobalMember(self.core, self.sid, self.log, self.wall)
        # Short heartbeat periods, so tombstones are collected while the
        # faults still run, not only once everything healed.
        self.gm.beat_ms = sim.beat_ms
        self.gm.stable_ms = sim.beat_ms // 2
        self.gm.on_applied = self._count
        self.gm.listeners.append(self._observe)
        if preexisting and self.gm.has_unversioned():
            # As the driver does at start-up: a checkpoint of the dataset
            # as it is, then the keys logged as ops (small batches here).
            sim.checkpoint(self)
            self.gm.log_unversioned(batch_keys=sim.rng.choice((1, 3, 1000)))
            self.log.flush()
        self.client = self.core.new_client()
        # Deletes made here whose op is not durable yet (a crash may lose
        # them; no client heard OK).
        self.pending_deletes = []
        # source idx -> ReceiverLink (kept across connections), made at
        # start for every configured source, as the driver does.
        self.receivers = {}
        for (r, s) in sim.edges:
            if r == self.idx:
                self.receiver(s)

    def _observe(self, rec) -> None:
        """A record appended here; for our own ops, note the keys they left
        deleted (no later state of them may carry an older version)."""
        if rec.origin == self.sid:
            dbs = self.core.ks.dbs
            for kdb, key, _before, after in rec.keys:
                if key not in dbs[kdb].data:
                    self.pending_deletes.append(((kdb, key), after))

    def durable(self) -> None:
        """The log was flushed: our deletes so far are acknowledged ones."""
        deleted = self.sim.deleted
        for k, v in self.pending_deletes:
            if v > deleted.get(k, 0):
                deleted[k] = v
        self.pending_deletes = []

    def _count(self, rec) -> None:
        k = (rec.origin, rec.opid)
        self.applied[k] = self.applied.get(k, 0) + 1
        if self.applied[k] > 1:
            self.sim.fail(f"member {self.sid} applied op {k} twice")

    def receiver(self, src: int) -> ReceiverLink:
        r = self.receivers.get(src)
        if r is None:
            r = self.receivers[src] = ReceiverLink(self.gm, retry_ms=30)
        return r


class Conn:
    """One connection of a link: receiver r pulls from source s."""

    __slots__ = ("r", "s", "alive", "source", "last", "id")

    def __init__(self, r: int, s: int, source: SourceLink, cid: int) -> None:
        self.r = r
        self.s = s
        self.alive = True
        self.source = source
        # Per direction ("rs", "sr"): the last delivery time (FIFO pipes).
        self.last = {"rs": 0, "sr": 0}
        self.id = cid


class Sim:
    def __init__(self, seed: int, *, topology: str | None = None, n: int | None = None,
                 ops: int | None = None, strings_only: bool = False,
                 restarts: bool = True, verbose: bool = False) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        rng = self.rng
        # The server's own draws (SPOP, SRANDMEMBER, RANDOMKEY) use the
        # random module's generator: seeded too, or a seed would not replay.
        random.seed(seed * 104729 + 3)
        self.topology = topology or TOPOLOGIES[seed % len(TOPOLOGIES)]
        self.n = n or rng.randrange(3, 5)
        self.ops = ops if ops is not None else rng.randrange(150, 400)
        self.strings_only = strings_only
        self.restarts = restarts
        self.verbose = verbose
        self.t = START_MS
        # Memory-backed when the system has it: the log's segment and
        # directory fsyncs then cost nothing.
        shm = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
        self.dir = tempfile.mkdtemp(prefix="pyredis-sim-%d-" % seed, dir=shm)
        self.events: list = []
        self._seq = 0
        self.conns: dict = {}
        self._cid = 0
        self.partition = None       # a set of member indexes cut off from the rest
        self.members: list = []
        self.edges = edges_for(self.topology, self.n)
        readonly = {self.n - 1} if self.topology == "oneway" else set()
        # Per (db, key): the highest version of an op that left it deleted
        # at the op's origin.
        self.deleted: dict = {}
        self.trace: list = []
        self.beat_ms = rng.choice((20, 50, 200))
        # Compression by seed, from an rng of its own (the main one's draws
        # stay those of the seed): "on" for most, "off" or "mixed".
        crng = random.Random(seed * 7919 + 17)
        self.compression = ("off", "mixed", "mixed", "on", "on", "on", "on", "on", "on",
                            "on")[seed % 10]
        compress = [self.compression == "on" or
                    (self.compression == "mixed" and crng.random() < 0.5) for _ in range(self.n)]
        if self.compression == "mixed" and len(set(compress)) == 1:
            compress[crng.randrange(self.n)] = not compress[0]
        # Source stream bytes of closed connections: (plain, wire) per
        # compressed or plain stream.
        self._closed_bytes = {True: [0, 0], False: [0, 0]}
        # Members start with keys from before global replication was on.
        self.preexisting = rng.randrange(3) == 0
        for i in range(self.n):
            self.members.append(Member(self, i, i in readonly, compress[i]))

    # -- plumbing --------------------------------------------------------------------

    def fail(self, why: str) -> None:
        raise SimFailure(f"seed {self.seed} ({self.topology}, {self.n} members): {why}")

    def log(self, *a) -> None:
        if self.verbose:
            print("%8d" % (self.t - START_MS), *a)

    def enter(self, m: Member) -> None:
        _CURRENT[0] = m.wall

    def at(self, dt: int, kind: str, *payload) -> None:
        self._seq += 1
        heapq.heappush(self.events, (self.t + dt, self._seq, kind, payload))

    def partitioned(self, a: int, b: int) -> bool:
        p = self.partition
        return p is not None and ((a in p) != (b in p))

    # -- connections -------------------------------------------------------------------

    def connect(self, r: int, s: int) -> None:
        mr, ms = self.members[r], self.members[s]
        if (r, s) in self.conns or not (mr.alive and ms.alive) or self.partitioned(r, s):
            return
        self._cid += 1
        conn = Conn(r, s, SourceLink(ms.gm, compress=ms.compress), self._cid)
        self.conns[(r, s)] = conn
        self.enter(mr)
        data = mr.receiver(s).connect(mr.compress)
        self.log("connect", r, "<-", s)
        self.send(conn, "rs", data)

    def drop(self, r: int, s: int, reconnect: bool = True) -> None:
        conn = self.conns.pop((r, s), None)
        if conn is None:
            return
        conn.alive = False
        self._count_bytes(conn)
        conn.source.close()
        rl = self.members[r].receivers.get(s)
        if rl is not None:
            rl.disconnected()
        self.log("drop", r, "<-", s)
        if reconnect:
            self.at(self.rng.randrange(20, 300), "connect", r, s)

    def _count_bytes(self, conn: Conn) -> None:
        sl = conn.source
        tally = self._closed_bytes[sl.compressed]
        tally[0] += sl.bytes_raw
        tally[1] += sl.bytes_wire

    def stream_bytes(self) -> dict:
        """Source stream bytes (plain, wire) of every connection so far, for
        compressed ("zstd") and plain ("off") streams."""
        out = {k: list(v) for k, v in self._closed_bytes.items()}
        for conn in self.conns.values():
            sl = conn.source
            out[sl.compressed][0] += sl.bytes_raw
            out[sl.compressed][1] += sl.bytes_wire
        return {"zstd": tuple(out[True]), "off": tuple(out[False])}

    def send(self, conn: Conn, way: str, data: bytes) -> None:
        if not data:
            return
        rng = self.rng
        # Split into pieces, as TCP may deliver them.
        pieces = [data]
        if len(data) > 1 and rng.randrange(4) == 0:
            cut = rng.randrange(1, len(data))
            pieces = [data[:cut], data[cut:]]
        for p in pieces:
            when = max(conn.last[way], self.t + rng.choice((1, 2, 5, 10, 40)))
            conn.last[way] = when
            self._seq += 1
            heapq.heappush(self.events, (when, self._seq, "deliver", (conn, way, p)))

    def turn_end(self, m: Member) -> None:
        """The end of one event-loop turn of member m: the log reaches the
        disk, then what the links have to say leaves."""
        if not m.alive:
            return
        m.log.flush()
        m.durable()
        for (r, s), conn in list(self.conns.items()):
            if r == m.idx:
                rl = m.receivers[s]
                self.send(conn, "rs", rl.data_to_send() + rl.ack())
            if s == m.idx:
                self.send(conn, "sr", conn.source.data_to_send())
        for ev in list(m.receivers.values()):
            if "log_reset" in ev.events:
                ev.events.remove("log_reset")
                # Our log restarted from a snapshot: a checkpoint now (the
                # log no longer holds what came before), and members
                # pulling from us must start over (they get a full sync).
                self.checkpoint(m)
                for (r, s) in list(self.conns):
                    if s == m.idx:
                        self.drop(r, s)

    # -- events -------------------------------------------------------------------------

    def handle(self, kind: str, payload) -> None:
        if kind == "deliver":
            conn, way, data = payload
            if not conn.alive:
                return
            if way == "rs":
                m = self.members[conn.s]
                self.enter(m)
                conn.source.receive_data(data)
            else:
                m = self.members[conn.r]
                self.enter(m)
                rl = m.receivers[conn.s]
                rl.now = m.wall()
                rl.receive_data(data)
            self.turn_end(m)
        elif kind == "write":
            (i,) = payload
            m = self.members[i]
            if m.alive:
                self.enter(m)
                for args in workload.request(self.rng, self.strings_only):
                    executor.call(m.client, args)
                if self.restarts and self.rng.randrange(80) == 0:
                    # Killed before the turn ended: the log's last appends
                    # never reached the disk whole; no client heard OK.
                    self.crash(m)
                    self.at(self.rng.randrange(10, 200), "restart", m.idx)
                else:
                    self.turn_end(m)
        elif kind == "tick":
            (i,) = payload
            m = self.members[i]
            if m.alive:
                self.enter(m)
                if self.rng.randrange(3) == 0:
                    m.core.ks.active_expire()
                for rl in m.receivers.values():
                    rl.tick(m.wall())
                m.gm.tick(m.wall())
                if m.gm._undurable and self.rng.randrange(100) == 0:
                    # The driver's periodic checkpoint (states installed
                    # from outside the log are durable only in one).
                    self.checkpoint(m)
                self.turn_end(m)
            self.at(10, "tick", i)
        elif kind == "connect":
            self.connect(*payload)
        elif kind == "fault":
            self.fault()
        elif kind == "restart":
            (i,) = payload
            if not self.members[i].alive:
                self.boot_again(self.members[i])

    def checkpoint(self, m: Member) -> int:
        """Writes m's checkpoint as a driver would: log flushed first,
        temporary file, rename."""
        m.log.flush()
        mark = m.gm.checkpoint_mark()
        data = m.gm.checkpoint()
        tmp = m.cp_path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, m.cp_path)
        m.gm.checkpoint_done(mark)
        return m.log.last_lsn

    def fault(self) -> None:
        rng = self.rng
        r = rng.randrange(12)
        if r >= 10:
            m = rng.choice(self.members)
            if m.alive:
                self.enter(m)
                lsn = self.checkpoint(m)
                if r == 11:
                    # Retention forced by size: everything the checkpoint
                    # covers goes, acknowledged or not (lagging receivers
                    # will need a full sync).
                    m.log.roll()
                    m.log.truncate_before(lsn + 1)
                    self.log("retention", m.idx, "up to", lsn)
            return
        if r < 4 and self.conns:
            self.drop(*rng.choice(sorted(self.conns)))
        elif r < 6:
            if self.partition is None:
                k = rng.randrange(1, self.n)
                self.partition = set(rng.sample(range(self.n), k))
                self.log("partition", sorted(self.partition))
                for (a, b) in list(self.conns):
                    if self.partitioned(a, b):
                        self.drop(a, b)
            else:
                self.log("heal")
                self.partition = None
        elif r < 8:
            m = rng.choice(self.members)
            # Skew up to 300 ms either way; moving it back steps the clock
            # back, now and then by seconds (an NTP step).
            m.skew = rng.randrange(-300, 301) if rng.randrange(5) else -2000
            self.log("skew", m.idx, m.skew)
        elif self.restarts:
            m = rng.choice(self.members)
            if m.alive:
                self.crash(m)
                self.at(rng.randrange(10, 200), "restart", m.idx)

    # -- restarts ---------------------------------------------------------------------------

    def crash(self, m: Member) -> None:
        """kill -9: what the log had not flushed is lost, maybe half
        written (a torn tail)."""
        self.log("crash", m.idx)
        m.alive = False
        for (r, s) in list(self.conns):
            if m.idx in (r, s):
                self.drop(r, s)
        log = m.log
        pending = b"".join(log._buf)
        if pending and self.rng.randrange(2):
            cut = self.rng.randrange(1, len(pending) + 1)
            os.write(log._fd, pending[:cut])
        log._buf = []
        os.close(log._fd)
        log._fd = -1

    def boot_again(self, m: Member) -> None:
        """Restart from the durable files: the log, and the dataset rebuilt
        from it (every op of the log replayed on an empty dataset, in log
        order, by the same rule as on receipt)."""
        self.log("restart", m.idx)
        m.restarts += 1
        m.boot()
        m.alive = True
        lsn = 0
        if os.path.exists(m.cp_path):
            with open(m.cp_path, "rb") as f:
                lsn = m.gm.restore_checkpoint(f.read())
        if lsn + 1 < m.log.first_lsn:
            self.fail(f"member {m.sid}: checkpoint at LSN {lsn}, log starts at"
                      f" {m.log.first_lsn}")
        replay(m.gm, lsn + 1)
        # The dataset now holds exactly the ops of the durable log.
        m.applied = {}
        for rec in m.log.read_from(m.log.first_lsn):
            if rec.origin != m.sid:
                m.applied[(rec.origin, rec.opid)] = 1
        for (r, s) in self.edges:
            if m.idx in (r, s):
                self.at(self.rng.randrange(1, 50), "connect", r, s)

    # -- the run ------------------------------------------------------------------------------

    def run(self) -> None:
        _patch_now(True)
        try:
            self._run()
        finally:
            _patch_now(False)

    def _run(self) -> None:
        rng = self.rng
        for i in range(self.n):
            self.at(rng.randrange(10), "tick", i)
        for (r, s) in self.edges:
            self.at(rng.randrange(1, 20), "connect", r, s)
        writers = [m.idx for m in self.members if not m.readonly]
        t = 0
        for _ in range(self.ops):
            t += rng.randrange(0, 8)
            self.events_push(t, "write", rng.choice(writers))
        for _ in range(self.ops // 15):
            self.events_push(rng.randrange(0, t + 1), "fault")
        self.run_until(self.t + t + 1)
        self.heal()
        self.quiesce()
        self.anti_entropy()
        self.quiesce()
        # A member whose clock ran ahead expired keys early; once the
        # agreed clock passes the largest skew, every member sees them gone.
        self.run_until(self.t + 400)
        self.quiesce()
        self.check()
        # Every tombstone goes once all members are up and caught up, and
        # collecting them changes no data and brings nothing back.
        self.collect()
        self.anti_entropy()
        self.quiesce()
        self.check()

    def collect(self) -> None:
        limit = self.t + 60_000
        while any(m.gm.tombs for m in self.members):
            if self.t > limit:
                self.fail("tombstones not collected after 60 s: " + "; ".join(
                    "m%d %d left, horizon %#x, local %#x, down %s, up %s" % (
                        m.sid, len(m.gm.tombs), m.gm.gc_horizon(), m.gm.local_stable(),
                        {k: hex(v[0]) for k, v in m.gm.downstream.items()},
                        {k: hex(v[0]) for k, v in m.gm.upstream.items()})
                    for m in self.members))
            self.run_until(self.t + 50)
            self.quiesce()

    def events_push(self, t: int, kind: str, *payload) -> None:
        self._seq += 1
        heapq.heappush(self.events, (START_MS + t, self._seq, kind, payload))

    def run_until(self, t_end: int) -> None:
        while self.events and self.events[0][0] <= t_end:
            when, _, kind, payload = heapq.heappop(self.events)
            if when > self.t:
                self.t = when
            self.handle(kind, payload)
        self.t = max(self.t, t_end)

    def heal(self) -> None:
        """Faults stop: the partition heals, clocks agree, the dead restart,
        every link reconnects."""
        self.partition = None
        self.events = [e for e in self.events if e[2] not in ("write", "fault")]
        heapq.heapify(self.events)
        for m in self.members:
            m.skew = 0
            if not m.alive:
                self.boot_again(m)
        for (r, s) in self.edges:
            self.at(1, "connect", r, s)

    def busy(self) -> bool:
        if any(e[2] in ("deliver", "connect", "restart") for e in self.events):
            return True
        if len(self.conns) != len(self.edges):
            return True
        for m in self.members:
            for rl in m.receivers.values():
                if rl._inflight or any(rl._still_wanted(k) for k in list(rl.wants)):
                    return True
        return False

    def pending(self) -> str:
        out = ["conns %d/%d" % (len(self.conns), len(self.edges))]
        for m in self.members:
            for s, rl in m.receivers.items():
                wants = {k: "%#x (have %#x)" % (v, m.gm.version_of(*k))
                         for k, v in list(rl.wants.items()) if rl._still_wanted(k)}
                if wants or rl._inflight:
                    out.append("m%d<-m%d wants %s inflight %s" % (m.sid, s + 1, wants,
                                                                 rl._inflight))
        return "; ".join(out)

    def quiesce(self) -> None:
        limit = self.t + 120_000
        next_round = self.t + 1000
        while self.busy():
            if self.t > limit:
                self.fail("no quiescence after 120 s of simulated time: " + self.pending())
            self.run_until(self.t + 5)
            if self.t >= next_round:
                # The driver's periodic anti-entropy round.
                next_round = self.t + 1000
                self.anti_entropy()

    def anti_entropy(self) -> None:
        for m in self.members:
            if m.alive:
                self.enter(m)
                for rl in m.receivers.values():
                    rl.request_digest()
                self.turn_end(m)

    # -- the checks -------------------------------------------------------------------------

    def check(self) -> None:
        for (r, s), conn in self.conns.items():
            # Compressed exactly when both ends agreed (once HELLO arrived).
            both = self.members[r].compress and self.members[s].compress
            rl = self.members[r].receivers[s]
            if conn.source.state == "streaming" and (
                    conn.source.compressed != both or rl.compressed != both):
                self.fail(f"link m{r + 1}<-m{s + 1}: compressed source {conn.source.compressed}"
                          f" receiver {rl.compressed}, ends agree {both}")
        digests = []
        for m in self.members:
            self.enter(m)
            digests.append(executor.call(m.client, [b"DEBUG", b"DIGEST"]))
        # What a replay of this seed must reproduce exactly.
        self.fingerprint = (self.t, digests[0], tuple(
            (m.gm.conflicts, m.gm.local_ops, m.gm.applied_ops, m.restarts) for m in self.members))
        if len(set(digests)) != 1:
            self.fail("DEBUG DIGEST differs: " + " ".join(
                "m%d=%s" % (m.sid, d[1:9].decode()) for m, d in zip(self.members, digests))
                + "\n" + self.dump())
        slots = [m.gm.slot_digests() for m in self.members]
        for m, kept in zip(self.members, slots):
            if not m.gm.digests_agree():
                self.fail("m%d: kept slot digests differ from a scan of its keys" % m.sid)
        if any(s != slots[0] for s in slots):
            ents = [set(m.gm.slot_entries()) for m in self.members]
            common = set.intersection(*ents)
            self.fail("key versions differ between members: "
                      + "; ".join("m%d flush=%s extra=%s" % (
                          m.sid, [hex(f) for f in m.gm.flush_versions[:2]],
                          sorted((d, k, hex(v)) for d, k, v in e - common))
                          for m, e in zip(self.members, ents)))
        vectors = [{o: v for o, v in m.gm.vector.items() if v} for m in self.members]
        if any(v != vectors[0] for v in vectors):
            self.fail(f"vectors differ: {vectors}")
        for m in self.members:
            for (origin, opid), c in m.applied.items():
                if c != 1:
                    self.fail(f"member {m.sid} applied {origin}:{opid} {c} times")
            synced = sum(rl.full_syncs for rl in m.receivers.values())
            if not synced and not m.restarts:
                for origin, last in m.gm.vector.items():
                    if origin == m.sid:
                        continue
                    missing = [i for i in range(1, last + 1) if (origin, i) not in m.applied]
                    if missing:
                        self.fail(f"member {m.sid} never applied ops {origin}:{missing[:5]}")
            if m.gm.apply_errors:
                self.fail(f"member {m.sid}: {m.gm.apply_errors} apply errors, last"
                          f" {m.gm.last_apply_error}")
            for d in m.core.ks.dbs:
                for key in d.data:
                    v = m.gm.version_of(d.id, key)
                    dv = self.deleted.get((d.id, key), 0)
                    if v <= dv:
                        self.fail(f"member {m.sid}: key {key!r} deleted at version {dv:#x}"
                                  f" is back at version {v:#x}")

    def dump(self) -> str:
        lines = []
        for m in self.members:
            self.enter(m)
            for d in m.core.ks.dbs:
                for key in sorted(d.data):
                    lines.append("m%d db%d %r v=%#x exp=%s %r" % (
                        m.sid, d.id, key, m.gm.version_of(d.id, key), d.expires.get(key),
                        d.data[key]))
        for m in self.members:
            for (db, key), exp in sorted(m.gm.tombs.items()):
                lines.append("m%d db%d %r v=%#x tomb expired=%s" % (
                    m.sid, db, key, m.gm.version_of(db, key), exp))
        return "\n".join(lines[:300])

    def close(self) -> None:
        for m in self.members:
            try:
                m.log.close()
            except OSError:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)


def replay(gm: GlobalMember, start: int) -> None:
    """Rebuilds a restarted member's dataset: on top of its checkpoint,
    every record of its durable log from LSN ``start`` in log order, local
    ones included, through the receive rule. Keys the rule cannot recompute
    stay behind (older version) and anti-entropy brings them when links
    are up."""
    log = gm.log
    start = max(start, log.first_lsn)
    saved = dict(gm.vector)
    gm.vector.clear()
    listeners, gm.listeners = gm.listeners, []
    hook, gm.on_applied = gm.on_applied, None
    try:
        for rec in log.read_from(start):
            gm.replay(rec)
    finally:
        gm.listeners = listeners
        gm.on_applied = hook
        gm.vector.clear()
        gm.vector.update(saved)


def run_seed(seed: int, **kw) -> Sim:
    sim = Sim(seed, **kw)
    try:
        sim.run()
    finally:
        sim.close()
    return sim
