"""Classic replication under faults, with pyredis as the master and a real
redis-server 6.2 as the replica, through the fault-injecting proxy
(tests/faultproxy.py): links cut at random byte offsets of a full sync and
of the stream, a stalled replica dropped for its output limit, a master
restarted from its RDB. Each case ends with the replica equal to the master
(DEBUG DIGEST), by a partial resync whenever the backlog covers the gap."""

from __future__ import annotations

import random

import pytest
import redis

from conftest import ReferenceServer, digest, until
from faultproxy import FaultProxy
from pyredis.testing import ServerProcess, ServerThread

SEED = 20261206






def converged(m, s, timeout=20.0):
    until(lambda: s.info("replication").get("master_link_status") == "up"
          and digest(m) == digest(s), timeout, "replica equal to the master")


def fill(r, n=20000):
    p = r.pipeline(transaction=False)
    for i in range(n):
        # Values LZF cannot shrink, so the RDB's size is predictable.
        p.set(f"key:{i}", "%032x" % (i * 0x9E3779B97F4A7C15 % (1 << 128)))
    p.rpush("list", *range(1000))
    p.execute()


def _write_some(r, tag, n=200):
    p = r.pipeline(transaction=False)
    for i in range(n):
        p.set(f"{tag}:{i}", i)
        p.incr("counter")
    p.execute()


@pytest.mark.parametrize("diskless", ["no", "yes"])
def test_cuts_at_random_points_of_the_full_sync(diskless):
    rng = random.Random(SEED)
    with ServerThread(repl_diskless_sync=diskless, repl_diskless_sync_delay="0") as m:
        r = m.client()
        fill(r)
        with FaultProxy(("127.0.0.1", m.port)) as proxy:
            # The RDB of 20k keys is ~0.6 MB: cut inside it, three times.
            offsets = [rng.randrange(10, 500_000) for _ in range(3)]
            proxy.drop_each(offsets)
            ref = ReferenceServer("--replicaof", "127.0.0.1", str(proxy.port))
            try:
                s = redis.Redis(port=ref.port)
                for i in range(len(offsets)):
                    proxy.wait_for_connections(i + 1, timeout=20)
                    _write_some(r, f"between{i}")
                converged(r, s, timeout=30)
                assert proxy.connections == 4
                assert proxy.bytes_down > sum(offsets)
                assert r.info()["sync_full"] == 4
            finally:
                ref.stop()


def test_cuts_in_the_stream_resume_with_partial_resyncs():
    rng = random.Random(SEED + 1)
    with ServerThread() as m:
        r = m.client()
        fill(r, 2000)
        with FaultProxy(("127.0.0.1", m.port)) as proxy:
            ref = ReferenceServer("--replicaof", "127.0.0.1", str(proxy.port))
            try:
                s = redis.Redis(port=ref.port)
                converged(r, s)
                for round_ in range(4):
                    # Cut the live stream a few hundred bytes into the next writes.
                    proxy.drop_after(rng.randrange(1, 3000))
                    _write_some(r, f"round{round_}")
                    converged(r, s)
                info = r.info()
                assert info["sync_full"] == 1
                assert info["sync_partial_ok"] >= 4
            finally:
                ref.stop()


def test_a_stalled_replica_is_dropped_for_its_output_limit_and_recovers():
    with ServerThread(client_output_buffer_limit="replica 512kb 0 0",
                      repl_backlog_size="64mb") as m:
        r = m.client()
        fill(r, 1000)
        with FaultProxy(("127.0.0.1", m.port)) as proxy:
            ref = ReferenceServer("--replicaof", "127.0.0.1", str(proxy.port))
            try:
                s = redis.Redis(port=ref.port)
                converged(r, s)
                proxy.stall("down")
                big = "x" * 50_000
                # 40 MB the replica cannot take (the kernel's and the proxy's
                # buffers absorb a few MB before the master's output grows).
                for i in range(800):
                    r.set(f"big:{i}", big)
                until(lambda: r.info("replication")["connected_slaves"] == 0,
                      what="the master dropping the stalled replica")
                proxy.resume("down")
                proxy.cut()
                converged(r, s, timeout=30)
                # The 64 MB backlog still covers the gap: no second full sync.
                assert r.info()["sync_full"] == 1
                assert r.info()["sync_partial_ok"] >= 1
            finally:
                ref.stop()


def test_master_restart_from_its_rdb_then_the_replica_resyncs(tmp_path):
    m = ServerProcess(dir=str(tmp_path), save="3600 1")
    m.start()
    try:
        r = m.client()
        fill(r, 3000)
        ref = ReferenceServer("--replicaof", "127.0.0.1", str(m.port))
        try:
            s = redis.Redis(port=ref.port)
            converged(r, s)
            r.save()
            m.kill()
            m.start()
            r = m.client()
            assert r.dbsize() == 3001  # the RDB came back
            r.set("after-restart", 1)
            converged(r, s, timeout=30)
        finally:
            ref.stop()
    finally:
        m.stop()
