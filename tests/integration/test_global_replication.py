"""Global replication over real sockets: members in this process
(ServerThread, each its own loop and temp dir) linked on loopback, some
links through the fault-injecting proxy. Topologies (mesh, chain, ring,
star), concurrent writes, deletes, a read-only member, authentication, the
GLOBAL commands and INFO global; every case ends with equal DEBUG DIGEST on
all members (G3) and each op applied once per member (G1)."""

from __future__ import annotations

import errno
import logging
import re
import time

import pytest
import redis

from conftest import RawClient, digest, link_up, until
from faultproxy import FaultProxy
from pyredis.testing import ServerThread, free_port






def converged(clients, timeout=15.0):
    until(lambda: len({digest(c) for c in clients}) == 1, timeout, "equal digests")


class Group:
    """Members 1..n on free ports; ``links`` maps a member to the members it
    pulls from (default: everyone else, a mesh)."""

    def __init__(self, n, links=None, settings=None):
        self.ports = [free_port() for _ in range(n)]
        self.servers = []
        for i in range(n):
            sources = links.get(i + 1, []) if links is not None else [
                j + 1 for j in range(n) if j != i]
            peers = " ".join(f"127.0.0.1:{self.ports[j - 1]}" for j in sources)
            opts = dict((settings or {}).get(i + 1, {}))
            self.servers.append(ServerThread(
                port=str(self.ports[i]), global_server_id=str(i + 1),
                global_peer=peers, **opts).start())
        self.clients = [s.client(socket_timeout=10) for s in self.servers]

    def __getitem__(self, i):
        return self.clients[i - 1]

    def info(self, i):
        return self[i].info("global")

    def stop(self):
        for s in self.servers:
            s.stop()


@pytest.fixture
def group_factory():
    groups = []

    def make(n, links=None, settings=None):
        g = Group(n, links, settings)
        groups.append(g)
        return g

    yield make
    for g in groups:
        g.stop()


def _synced(g, members):
    return all(all(v["state"] == "synced" for k, v in g.info(i).items()
                   if k.startswith("link")) for i in members)


def test_three_member_mesh_converges_and_applies_each_op_once(group_factory):
    g = group_factory(3)
    until(lambda: _synced(g, (1, 2, 3)), what="links synced")
    g[1].set("a", "1")
    g[2].rpush("list", "x", "y")
    g[3].hset("h", mapping={"f": "v"})
    g[1].sadd("s", "m1", "m2")
    g[2].zadd("z", {"m": 1.5})
    g[3].execute_command("SELECT", 4)
    g[3].set("in4", "four")
    g[3].execute_command("SELECT", 0)
    with g[2].pipeline(transaction=True) as p:
        p.incr("counter").incr("counter").execute()
    g[1].set("ttl", "v", px=600000)
    converged(g.clients)
    assert g[3].get("a") == b"1" and g[1].lrange("list", 0, -1) == [b"x", b"y"]
    assert len({c.execute_command("GLOBAL", "DIGEST") for c in g.clients}) == 1
    # G1: each member applied exactly the ops the others made, once each,
    # although every op reached it on two paths.
    made = {i: g.info(i)["global_ops_local"] for i in (1, 2, 3)}
    for i in (1, 2, 3):
        assert g.info(i)["global_ops_applied"] == sum(made.values()) - made[i]
        assert g.info(i)["global_log_last_opid"] == made[i]


@pytest.mark.parametrize("shape", ["chain", "ring", "star"])
def test_topologies_forward_ops_without_loops(group_factory, shape):
    links = {
        # 1 -> 2 -> 3 -> 4 (each pulls from the one before)
        "chain": {2: [1], 3: [2], 4: [3]},
        # 1 -> 2 -> 3 -> 4 -> 1
        "ring": {1: [4], 2: [1], 3: [2], 4: [3]},
        # 1 is the hub, both ways
        "star": {1: [2, 3, 4], 2: [1], 3: [1], 4: [1]},
    }[shape]
    g = group_factory(4, links)
    writers = [1] if shape == "chain" else [1, 2, 3, 4]
    for i in writers:
        for k in range(20):
            g[i].set(f"k{i}:{k}", k)
        g[i].incrby("shared", i)
    if shape == "chain":
        until(lambda: g[4].dbsize() == 21, what="the chain's end")
    converged(g.clients)
    total = sum(g.info(i)["global_ops_local"] for i in (1, 2, 3, 4))
    for i in (1, 2, 3, 4):
        if shape == "chain" and i == 1:
            continue
        info = g.info(i)
        assert info["global_ops_applied"] == total - info["global_ops_local"]


def test_concurrent_writes_to_one_key_converge_by_the_rule(group_factory):
    g = group_factory(2)
    until(lambda: _synced(g, (1, 2)), what="links synced")
    # Stop the links, so the writes below are concurrent.
    for i, other in ((1, 2), (2, 1)):
        g[i].execute_command("GLOBAL", "LINK", "STOP", "127.0.0.1", g.ports[other - 1])
    g[1].set("k", "from-1")
    g[1].rpush("l", "a")
    g[2].set("k", "from-2")
    g[2].rpush("l", "b")
    g[2].set("gone", "x")
    g[1].set("gone", "y")
    time.sleep(0.01)
    g[2].delete("gone")  # later than both writes: the delete wins everywhere
    for i, other in ((1, 2), (2, 1)):
        g[i].execute_command("GLOBAL", "LINK", "START", "127.0.0.1", g.ports[other - 1])
    converged(g.clients)
    assert g[1].get("k") == g[2].get("k") == b"from-2"  # the later write
    assert g[1].exists("gone") == 0 and g[2].exists("gone") == 0
    assert g.info(1)["global_conflicts"] + g.info(2)["global_conflicts"] >= 1
    status = g[1].execute_command("GLOBAL", "STATUS")
    assert status[b"server_id"] == 1


def test_readonly_member_refuses_clients_but_applies_links(group_factory):
    g = group_factory(2, {2: [1]}, {2: {"global_role": "readonly"}})
    with pytest.raises(redis.ResponseError, match="^You can't write against a read only"):
        g[2].set("x", 1)
    g[1].set("x", "from-master")
    until(lambda: g[2].get("x") == b"from-master", what="applied on the read-only member")
    assert g[2].execute_command("GLOBAL", "ROLE") == b"readonly"
    assert g[2].execute_command("GLOBAL", "ROLE", "master") == b"OK"
    assert g[2].set("x", 2)


def test_members_with_requirepass_refuse_unauthenticated_links(group_factory):
    g = group_factory(2, {2: [1]}, {1: {"requirepass": "pw"}})
    c1 = g.servers[0].client(password="pw")
    c1.set("secret", 1)
    until(lambda: "NOAUTH" in g[2].execute_command("GLOBAL", "STATUS")[b"links"][0][
        b"last_error"].decode(), what="the refusal")
    assert g[2].dbsize() == 0
    g[2].config_set("global-peer-auth", "pw")
    until(lambda: g[2].get("secret") == b"1", what="authenticated link")


def test_peer_add_remove_and_config_set(group_factory):
    g = group_factory(2, {})
    g[1].set("k", 1)
    assert g.info(2)["global_links"] == 0
    g[2].execute_command("GLOBAL", "PEER", "ADD", "127.0.0.1", g.ports[0])
    until(lambda: g[2].get("k") == b"1", what="peer added")
    assert g[2].config_get("global-peer")["global-peer"] == f"127.0.0.1:{g.ports[0]}"
    g[2].execute_command("GLOBAL", "PEER", "REMOVE", "127.0.0.1", g.ports[0])
    assert g.info(2)["global_links"] == 0
    g[1].set("k", 2)
    time.sleep(0.3)
    assert g[2].get("k") == b"1"
    g[2].config_set("global-peer", f"127.0.0.1:{g.ports[0]}")
    until(lambda: g[2].get("k") == b"2", what="peer set by CONFIG SET")
    with pytest.raises(redis.ResponseError, match="no such peer"):
        g[2].execute_command("GLOBAL", "LINK", "STOP", "127.0.0.1", 1)


def test_global_commands_when_off():
    with ServerThread() as srv:
        c = srv.client()
        with pytest.raises(redis.ResponseError, match="global replication is off"):
            c.execute_command("GLOBAL", "STATUS")
        assert "global_server_id" not in c.info("everything")


def test_a_cut_link_resumes_without_a_full_sync(group_factory):
    g = group_factory(2, {})
    with FaultProxy(("127.0.0.1", g.ports[0])) as proxy:
        g[2].config_set("global-peer", f"127.0.0.1:{proxy.port}")
        for round_ in range(3):
            for k in range(50):
                g[1].set(f"r{round_}:{k}", k)
            converged(g.clients)
            proxy.cut()
        converged(g.clients)
        info = g.info(2)
        assert info["global_full_syncs"] == 0
        assert info["global_partial_syncs"] >= 3
        assert info["global_ops_applied"] == g.info(1)["global_ops_local"]


def _proc(dir_, port, sid, peers, **extra):
    from pyredis.testing import ServerProcess
    return ServerProcess(dir=str(dir_), port=str(port), global_server_id=str(sid),
                         global_peer=" ".join(f"127.0.0.1:{p}" for p in peers),
                         **extra)


def test_kill9_under_load_then_restart_resumes_without_loss(tmp_path):
    import threading
    pa, pb = free_port(), free_port()
    (tmp_path / "a").mkdir()
    a = _proc(tmp_path / "a", pa, 1, [pb], global_log_fsync="always",
              global_log_max_size="2mb", global_log_segment_size="64kb").start()
    try:
        with ServerThread(port=str(pb), global_server_id="2",
                          global_peer=f"127.0.0.1:{pa}") as b:
            ca, cb = a.client(socket_timeout=5), b.client(socket_timeout=10)
            acked = []

            def writer():
                try:
                    for i in range(100000):
                        ca.set(f"k:{i}", "v" * 50)
                        acked.append(i)
                except (redis.ConnectionError, redis.TimeoutError):
                    pass

            t = threading.Thread(target=writer)
            t.start()
            until(lambda: len(acked) > 3000, what="load")
            a.kill()
            t.join(10)
            a.start()
            ca = a.client(socket_timeout=10)
            # Every acknowledged write survived kill -9 (fsync always), and
            # the member's positions agree with its data.
            missing = [i for i in acked if not ca.exists(f"k:{i}")]
            assert not missing[:5], f"{len(missing)} acknowledged writes lost"
            cb.set("from-b", 1)
            converged([ca, cb], timeout=30)
            assert cb.info("global")["global_full_syncs"] == 0
            info = ca.info("global")
            assert info["global_full_syncs"] == 0
            assert info["global_last_checkpoint_status"] == "ok"
    finally:
        a.stop()


def test_op_ids_are_not_reused_after_a_crash_lost_shipped_ops(tmp_path):
    """fsync everysec and an OS crash: member 1's log loses its last records
    after member 2 received them. Restarted, member 1 must not give those
    op ids to new ops before member 2 tells it what it holds: member 2
    would take a new op under an op id it has for the same op and skip
    it (G1). Its op ids continue above the durable mark instead."""
    from pyredis.replication import globallog as gl
    pa, pb = free_port(), free_port()
    (tmp_path / "a").mkdir()
    a = _proc(tmp_path / "a", pa, 1, [], global_log_fsync="everysec").start()
    try:
        with ServerThread(port=str(pb), global_server_id="2",
                          global_peer=f"127.0.0.1:{pa}") as b:
            ca, cb = a.client(socket_timeout=10), b.client(socket_timeout=10)
            for i in range(5):
                ca.set(f"k{i}", i)
            until(lambda: cb.get("k4") == b"4", what="member 2 holds the 5 ops")
            cb.execute_command("GLOBAL", "LINK", "STOP", "127.0.0.1", pa)
            a.kill()
            # What the OS lost: the last two records of the active segment.
            seg = max(p for p in (tmp_path / "a" / "globallog").iterdir()
                      if p.suffix == ".glog")
            data = seg.read_bytes()
            pos, ends = gl.decode_header(data)[3], []
            while (got := gl.decode_record(data, pos)) is not None:
                pos = got[1]
                ends.append(pos)
            assert len(ends) == 5
            with open(seg, "r+b") as f:
                f.truncate(ends[2])
            a.start()
            ca = a.client(socket_timeout=10)
            assert ca.info("global")["global_log_last_opid"] == 3
            ca.set("after", "x")
            assert ca.info("global")["global_log_last_opid"] > 5
            assert "did not stop cleanly" in a.log()
            cb.execute_command("GLOBAL", "LINK", "START", "127.0.0.1", pa)
            until(lambda: cb.get("after") == b"x", what="the new op reaches member 2")
    finally:
        a.stop()
    # A clean stop leaves no margin: the next start hands out the next id.
    a.start()
    try:
        ca = a.client(socket_timeout=10)
        last = ca.info("global")["global_log_last_opid"]
        ca.set("again", "y")
        assert ca.info("global")["global_log_last_opid"] == last + 1
    finally:
        a.stop()


def test_retention_past_a_links_position_means_a_counted_full_sync(group_factory):
    g = group_factory(2, {2: [1]}, {1: {"global_log_max_size": "256kb",
                                        "global_log_segment_size": "16kb"}})
    g[1].set("first", 1)
    until(lambda: g[2].get("first") == b"1", what="synced")
    g[2].execute_command("GLOBAL", "LINK", "STOP", "127.0.0.1", g.ports[0])
    for i in range(4000):
        g[1].set(f"k{i}", "x" * 100)
    # The checkpoint covers it and the log dropped what member 2 lacks.
    until(lambda: g.servers[0].core.global_repl.dropped > 0, timeout=30,
          what="retention")
    g[2].execute_command("GLOBAL", "LINK", "START", "127.0.0.1", g.ports[0])
    converged(g.clients, timeout=30)
    assert g.info(2)["global_full_syncs"] == 1


def test_three_members_through_faulty_links_converge(group_factory):
    """Every link of a 3-member mesh goes through its own proxy; while all
    members take writes on overlapping keys, links are cut, stalled and
    delayed at random (seeded); once the faults stop, all converge."""
    import random
    rng = random.Random(11)
    g = group_factory(3, {})
    proxies = {}
    try:
        for i in (1, 2, 3):
            peers = []
            for j in (1, 2, 3):
                if i != j:
                    p = proxies[(i, j)] = FaultProxy(("127.0.0.1", g.ports[j - 1])).start()
                    peers.append(f"127.0.0.1:{p.port}")
            g[i].config_set("global-peer", " ".join(peers))
        for step in range(30):
            i = rng.choice((1, 2, 3))
            with g[i].pipeline(transaction=rng.random() < 0.3) as p:
                for _ in range(20):
                    k = f"key{rng.randrange(40)}"
                    op = rng.randrange(6)
                    if op == 0:
                        p.set(k, f"{i}:{step}")
                    elif op == 1:
                        p.delete(k)
                    elif op == 2:
                        p.hset(f"h{rng.randrange(5)}", k, step)
                    elif op == 3:
                        p.sadd(f"s{rng.randrange(5)}", k)
                    elif op == 4:
                        p.rpush(f"l{rng.randrange(5)}", k)
                    else:
                        p.set(f"t{rng.randrange(5)}", step, px=rng.randrange(50, 5000))
                try:
                    p.execute()
                except redis.ResponseError:
                    pass  # a type clash on a random key: the error is the same everywhere
            proxy = proxies[rng.choice(list(proxies))]
            fault = rng.randrange(4)
            if fault == 0:
                proxy.cut()
            elif fault == 1:
                proxy.stall()
            elif fault == 2:
                proxy.delay(rng.random() * 0.05)
            else:
                proxy.heal()
            time.sleep(0.02)
        for p in proxies.values():
            p.heal()
            p.cut()  # stalled connections start afresh
        converged(g.clients, timeout=30)
        # No op applied twice: each member applied the others' ops once.
        made = {i: g.info(i)["global_ops_local"] for i in (1, 2, 3)}
        for i in (1, 2, 3):
            assert g.info(i)["global_ops_applied"] == sum(made.values()) - made[i]
    finally:
        for p in proxies.values():
            p.close()


def test_a_hung_link_times_out_on_both_ends_and_recovers(group_factory):
    g = group_factory(2, {}, {1: {"repl_timeout": "2"}, 2: {"repl_timeout": "2"}})
    with FaultProxy(("127.0.0.1", g.ports[0])) as proxy:
        g[2].config_set("global-peer", f"127.0.0.1:{proxy.port}")
        g[1].set("before", 1)
        until(lambda: g[2].get("before") == b"1", what="synced")
        time.sleep(2.5)  # idle longer than repl-timeout: pings keep it up
        assert g.info(2)["link0"]["state"] == "synced"
        proxy.stall()  # no FIN, no RST: only a timeout can tell
        g[1].set("during", 1)
        until(lambda: "repl-timeout" in g[2].execute_command("GLOBAL", "STATUS")[b"links"][0][
            b"last_error"].decode(), timeout=10, what="the receiver's timeout")
        until(lambda: g.info(1)["global_incoming_links"] == 0, timeout=10,
              what="the source dropping the silent link")
        proxy.heal()
        until(lambda: g[2].get("during") == b"1", what="resumed")
        assert g.info(2)["global_full_syncs"] == 0


def test_swapdb_is_refused_while_global_replication_is_on(group_factory):
    g = group_factory(1, {})
    with pytest.raises(redis.ResponseError, match="SWAPDB is not supported"):
        g[1].execute_command("SWAPDB", 0, 1)
    g[1].set("k", 1)
    assert g[1].get("k") == b"1"


def test_tombstones_are_collected_once_every_member_has_the_delete(group_factory):
    # Deletes and expiries leave tombstones (so a late older write cannot
    # bring a key back); once every member holds the delete they go, on
    # every member, and nothing comes back.
    g = group_factory(3)
    until(lambda: _synced(g, (1, 2, 3)), what="links synced")
    for i in range(300):
        g[1 + i % 3].set(f"k{i}", i)
    converged(g.clients)
    for i in range(0, 300, 2):
        g[1 + i % 3].delete(f"k{i}")
    g[2].set("short", "v", px=30)
    converged(g.clients)
    until(lambda: all(g.info(i)["global_tombstones"] == 0 for i in (1, 2, 3)), 30,
          "tombstones collected on every member")
    for i in (1, 2, 3):
        info = g.info(i)
        assert info["global_tombstones_collected"] >= 151
        assert info["global_gc_lag_ms"] >= 0
        assert g[i].exists(*[f"k{n}" for n in range(0, 300, 2)], "short") == 0
        assert g[i].dbsize() == 150
    converged(g.clients)
    assert len({c.execute_command("GLOBAL", "DIGEST") for c in g.clients}) == 1


def test_a_member_out_of_reach_holds_tombstones_back(group_factory):
    g = group_factory(2)
    until(lambda: _synced(g, (1, 2)), what="links synced")
    g[1].set("a", "1")
    converged(g.clients)
    for i, other in ((1, 2), (2, 1)):
        g[i].execute_command("GLOBAL", "LINK", "STOP", "127.0.0.1", g.ports[other - 1])
    g[1].delete("a")
    time.sleep(2.5)  # more than a heartbeat period and many collection rounds
    # Member 2 has not seen the delete, so member 1 keeps its tombstone.
    assert g.info(1)["global_tombstones"] == 1
    assert g[2].get("a") == b"1"
    for i, other in ((1, 2), (2, 1)):
        g[i].execute_command("GLOBAL", "LINK", "START", "127.0.0.1", g.ports[other - 1])
    until(lambda: g.info(1)["global_tombstones"] == g.info(2)["global_tombstones"] == 0, 30,
          "tombstones collected once the link is back")
    assert g[1].exists("a") == g[2].exists("a") == 0


def _links(c):
    """GLOBAL STATUS's links as dicts of str -> str/int."""
    st = c.execute_command("GLOBAL", "STATUS")
    st = dict(zip(st[::2], st[1::2])) if isinstance(st, list) else st
    out = []
    for link in st[b"links"]:
        d = dict(zip(link[::2], link[1::2])) if isinstance(link, list) else link
        out.append({k.decode(): (v.decode() if isinstance(v, bytes) else v) for k, v in d.items()})
    return out


def test_a_promoted_classic_replica_carries_the_members_links_on_by_op_id(tmp_path):
    """G6: R, a classic replica of member M1 (its own ServerID 3, no
    global-peer), keeps a copy of M1's global log through M1's classic
    stream. M1 is killed; R is promoted and linked with M2: both links
    resume by op id (no full sync on either end), ops only R had reach M2,
    ops M2 made meanwhile reach R, each applied once, deletes stay."""
    p1, p2, pr = free_port(), free_port(), free_port()
    (tmp_path / "m1").mkdir()
    m1 = _proc(tmp_path / "m1", p1, 1, [p2]).start()
    m2 = r = None
    try:
        m2 = ServerThread(port=str(p2), global_server_id="2",
                          global_peer=f"127.0.0.1:{p1}").start()
        c1, c2 = m1.client(socket_timeout=10), m2.client(socket_timeout=10)
        n1 = n2 = 0
        for i in range(100):
            c1.set(f"pre:{i}", i)
            c1.incr("n1")
            c2.incr("n2")
            n1 += 1
            n2 += 1
        c2.hset("h", mapping={"a": 1, "b": 2})
        c1.delete("pre:0")
        converged([c1, c2])
        # R joins after writes: its full sync carries M1's key versions.
        r = ServerThread(port=str(pr), replicaof=f"127.0.0.1 {p1}",
                         global_server_id="3").start()
        cr = r.client(socket_timeout=10)
        until(lambda: cr.info("replication").get("master_link_status") == "up",
              what="R's link to M1")
        for i in range(50):
            c1.incr("n1")
            c2.incr("n2")
            n1 += 1
            n2 += 1
        c1.execute_command("MULTI")
        c1.execute_command("SET", "tx", "1")
        c1.execute_command("DEL", "pre:1")
        c1.execute_command("EXEC")
        c2.delete("pre:2")
        # Concurrent writes to the same keys: M1 resolves M2's ops by the
        # rule (fetches, stamps in its stream), and R must mirror that.
        for i in range(40):
            c1.incr("hot")
            c2.incr("hot")
            c1.rpush("hl", i)
            c2.lpush("hl", i)
        converged([c1, c2])
        until(lambda: digest(cr) == digest(c1), what="R caught up with M1")
        # Equal versions too (GLOBAL DIGEST hashes every key's version).
        until(lambda: cr.execute_command("GLOBAL", "DIGEST")
              == c1.execute_command("GLOBAL", "DIGEST"), what="R's versions are M1's")
        info = cr.info("global")
        assert info["global_standby"] == 1 and info["global_standby_records"] > 0
        assert info["global_ops_local"] == 0
        # M1 and M2 stop exchanging: what follows on M1 reaches only R.
        c2.execute_command("GLOBAL", "LINK", "STOP", "127.0.0.1", p1)
        c1.execute_command("GLOBAL", "LINK", "STOP", "127.0.0.1", p2)
        for i in range(30):
            c1.incr("n1")
            c2.incr("n2")
            n1 += 1
            n2 += 1
        for i in range(3, 10):
            c1.delete(f"pre:{i}")
        c2.delete("pre:10")
        c1.set("m1-only", "x")
        until(lambda: digest(cr) == digest(c1), what="R caught up with M1")
        until(lambda: cr.execute_command("GLOBAL", "DIGEST")
              == c1.execute_command("GLOBAL", "DIGEST"), what="R's versions are M1's")
        m1.kill()
        # The operator's promotion.
        assert cr.execute_command("REPLICAOF", "NO", "ONE")
        cr.execute_command("GLOBAL", "PEER", "ADD", "127.0.0.1", p2)
        c2.execute_command("GLOBAL", "PEER", "ADD", "127.0.0.1", pr)
        c2.execute_command("GLOBAL", "PEER", "REMOVE", "127.0.0.1", p1)
        assert cr.info("global")["global_standby"] == 0
        for i in range(20):
            cr.incr("n1")
            c2.incr("n2")
            n1 += 1
            n2 += 1
        cr.delete("pre:11")
        c2.delete("pre:12")
        converged([cr, c2], timeout=30)
        until(lambda: all(link["state"] == "synced" for c in (cr, c2) for link in _links(c)
                          if link["direction"] == "in"), what="links synced")
        for c in (cr, c2):
            assert int(c.get("n1")) == n1, "an op of origin 1 applied twice or lost"
            assert int(c.get("n2")) == n2
            assert c.get("m1-only") == b"x" and c.get("tx") == b"1"
            assert not any(c.exists(f"pre:{i}") for i in range(13))
            assert c.exists("pre:13")
            info = c.info("global")
            assert info["global_full_syncs"] == 0
            assert info["global_partial_syncs"] >= 1
            assert all(link["full_syncs"] == 0 for link in _links(c))
        # R went on as member 3, writes of its own counted as local ops.
        assert cr.info("global")["global_ops_local"] >= 20
    finally:
        for s in (r, m2):
            if s is not None:
                s.stop()
        m1.stop()


def test_a_standby_of_a_master_without_global_replication_logs_its_keys_once_promoted():
    """R's master is a server without global replication: its keys reach R
    with no version. Promoted, R logs them as ops of its own, so a member
    pulling from R gets them."""
    with ServerThread() as plain:
        cp = plain.client(socket_timeout=10)
        cp.set("a", "1")
        cp.hset("h", "f", "v")
        with ServerThread(replicaof=f"127.0.0.1 {plain.port}", global_server_id="3") as r:
            cr = r.client(socket_timeout=10)
            until(lambda: cr.info("replication").get("master_link_status") == "up"
                  and cr.get("a") == b"1", what="R's full sync")
            assert cr.execute_command("REPLICAOF", "NO", "ONE")
            with ServerThread(global_server_id="4", global_peer=f"127.0.0.1:{r.port}") as p:
                c4 = p.client(socket_timeout=10)
                until(lambda: c4.get("a") == b"1" and c4.hget("h", "f") == b"v",
                      what="the keys reached the member pulling from R")
                until(lambda: digest(c4) == digest(cr), what="equal digests")
                assert c4.info("global")["global_full_syncs"] == 0


def test_a_damaged_stream_item_is_refused_and_the_replica_syncs_in_full():
    """A record whose checksum fails in M1's stream: R applies nothing of
    it, logs it, drops the link and discards its cached master, so the next
    sync is a full one (its RDB brings the metadata whole)."""
    from pyredis.persistence.aof import encode_request
    from pyredis.replication import gstandby
    with ServerThread(global_server_id="1") as m1:
        c1 = m1.client(socket_timeout=10)
        with ServerThread(replicaof=f"127.0.0.1 {m1.port}", global_server_id="3") as r:
            cr = r.client(socket_timeout=10)
            until(lambda: cr.info("replication").get("master_link_status") == "up",
                  what="R's link to M1")
            c1.set("a", 1)
            until(lambda: digest(cr) == digest(c1), what="R caught up")
            records = cr.info("global")["global_standby_records"]
            assert records >= 1
            member = m1.core.global_repl.member
            from pyredis.replication.globallog import encode_record
            rec = next(iter(member.log.read_from(member.log.last_lsn)))
            bad = bytearray(gstandby.record_item(encode_record(rec._replace(opid=rec.opid + 1))))
            bad[-1] ^= 0xFF
            done = []

            def inject():
                m1.core.repl.feed(encode_request([b"PING", bytes(bad)]))
                done.append(1)

            m1._loop.call_soon_threadsafe(inject)
            until(lambda: done, what="injected")
            until(lambda: c1.info("stats")["sync_full"] == 2, what="a second full sync")
            until(lambda: cr.info("replication").get("master_link_status") == "up",
                  what="R's link back")
            info = cr.info("global")
            # Nothing of the damaged record: the vector holds M1's real op only.
            st = cr.execute_command("GLOBAL", "STATUS")
            st = dict(zip(st[::2], st[1::2])) if isinstance(st, list) else st
            assert st[b"vector"] == b"1:%d" % rec.opid
            assert info["global_standby"] == 1
            c1.set("b", 2)
            until(lambda: digest(cr) == digest(c1), what="R caught up again")
            until(lambda: cr.info("global")["global_standby_records"] >= 1,
                  what="records after the full sync")


def test_a_standby_replica_restarted_syncs_in_full_then_promotes_without_full_syncs(tmp_path):
    """kill -9 of a standby replica: it comes back from its own checkpoint
    and log, then syncs in full with its master (its dataset is no longer
    the one its dump file's offset names), whose RDB brings the metadata;
    promoted and linked both ways with its old master, no link needs a
    global full sync."""
    from pyredis.testing import ServerProcess
    with ServerThread(global_server_id="1") as m1:
        c1 = m1.client(socket_timeout=10)
        for i in range(50):
            c1.set(f"k{i}", i)
        (tmp_path / "r").mkdir()
        pr = free_port()
        r = ServerProcess(dir=str(tmp_path / "r"), port=str(pr), global_server_id="3",
                          replicaof=f"127.0.0.1 {m1.port}").start()
        try:
            cr = r.client(socket_timeout=10)
            until(lambda: link_up(cr), what="R's link to M1")
            c1.incr("n")
            c1.delete("k0")
            until(lambda: digest(cr) == digest(c1), what="R caught up")
            r.kill()
            c1.incr("n")
            r.start()
            cr = r.client(socket_timeout=10)
            until(lambda: link_up(cr), what="R's link back")
            until(lambda: digest(cr) == digest(c1), what="R caught up after its restart")
            assert c1.info("stats")["sync_full"] == 2
            assert cr.info("global")["global_standby"] == 1
            c1.incr("n")
            until(lambda: digest(cr) == digest(c1), what="R caught up")
            cr.execute_command("REPLICAOF", "NO", "ONE")
            cr.execute_command("GLOBAL", "PEER", "ADD", "127.0.0.1", m1.port)
            c1.execute_command("GLOBAL", "PEER", "ADD", "127.0.0.1", pr)
            cr.incr("n")
            c1.set("from-m1", 1)
            converged([c1, cr])
            until(lambda: all(link["state"] == "synced" for c in (c1, cr) for link in _links(c)
                              if link["direction"] == "in"), what="links synced")
            assert int(cr.get("n")) == 4 and not cr.exists("k0")
            for c in (c1, cr):
                assert c.info("global")["global_full_syncs"] == 0
                assert all(link["full_syncs"] == 0 for link in _links(c))
        finally:
            r.stop()


def _link(g, i, direction):
    for link in g[i].execute_command("GLOBAL", "STATUS")[b"links"]:
        if link[b"direction"] == direction:
            return link
    raise AssertionError(f"member {i} has no {direction!r} link")


def test_a_link_compresses_compressible_values(group_factory):
    """Member 2 pulls from member 1 over zstd (global-link-compression's
    default): both ends show the stream's size before compression and on
    the wire, and a ratio well above 1 for repetitive values. With the
    setting off on the receiver, the next connection is plain (1.00)."""
    g = group_factory(2, {2: [1]})
    until(lambda: _synced(g, (2,)), what="link synced")
    for i in range(300):
        g[1].set(f"user:{i}", "name=someone;city=somewhere;" * 20)
    converged(g.clients)

    def both_ends():
        # Read together, and read again if a message (a periodic STABLE)
        # passed between the two reads.
        out, inn = _link(g, 1, b"out"), _link(g, 2, b"in")
        agree = out[b"bytes_out"] == inn[b"bytes_in"] \
            and out[b"bytes_out_uncompressed"] == inn[b"bytes_in_uncompressed"]
        return agree and (inn, out)

    inn, out = until(both_ends, what="the counts of both ends agree")
    assert inn[b"compression"] == out[b"compression"] == b"zstd"
    assert inn[b"bytes_in_uncompressed"] == out[b"bytes_out_uncompressed"] > 300 * 560
    ratio = float(inn[b"compression_ratio"])
    assert ratio > 5, inn
    assert ratio == pytest.approx(inn[b"bytes_in_uncompressed"] / inn[b"bytes_in"], abs=0.01)
    assert out[b"compression_ratio"] == inn[b"compression_ratio"]
    # INFO's link line shows the same ratio of its own counts (read raw:
    # redis-py's parser would turn "23.10" into the float 23.1).
    c = RawClient(g.ports[1])
    kind, raw = c.call("INFO", "global")
    c.close()
    line = re.search(rb"^link0:(.*?)\r$", raw, re.M).group(1)
    fields = dict(kv.split(b"=", 1) for kv in line.split(b","))
    assert re.fullmatch(rb"\d+\.\d\d", fields[b"compression_ratio"]), line
    assert float(fields[b"compression_ratio"]) == pytest.approx(
        int(fields[b"bytes_in_uncompressed"]) / int(fields[b"bytes_in"]), abs=0.01)
    # Off on the receiver: it no longer asks; a reconnect is plain.
    g[2].config_set("global-link-compression", "no")
    assert g[2].config_get("global-link-compression") == {"global-link-compression": "no"}
    port = g.ports[0]
    g[2].execute_command("GLOBAL", "LINK", "STOP", "127.0.0.1", port)
    g[2].execute_command("GLOBAL", "LINK", "START", "127.0.0.1", port)
    until(lambda: _synced(g, (2,)), what="link synced again")
    g[1].set("after", "plain " * 100)
    until(lambda: g[2].get("after") is not None, what="applied over the plain link")
    assert _link(g, 2, b"in")[b"compression"] == b"off"
    until(lambda: _link(g, 1, b"out")[b"compression_ratio"] == b"1.00",
          what="the new connection's ratio")


def test_a_source_with_compression_off_streams_plain(group_factory):
    g = group_factory(2, {2: [1]}, {1: {"global_link_compression": "no"}})
    until(lambda: _synced(g, (2,)), what="link synced")
    g[1].set("k", "v" * 1000)
    until(lambda: g[2].get("k") is not None, what="applied")
    inn = _link(g, 2, b"in")
    assert inn[b"compression"] == b"off" and inn[b"compression_ratio"] == b"1.00"
    assert inn[b"bytes_in_uncompressed"] == inn[b"bytes_in"]


@pytest.mark.parametrize("reply,flags", [(b"+OK 9\r\n", 0),
                                         (b"+OK 9 hello-flags\r\n", 1)])
def test_the_receiver_asks_for_compression_only_where_the_source_reads_it(reply, flags):
    """A source from before compression answers GLOBAL SYNC with ``+OK
    <id>`` and refuses a HELLO longer than it knows: it gets the old HELLO.
    One that adds ``hello-flags`` gets HELLO_ZSTD."""
    import socket
    from pyredis.replication import glink
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    with ServerThread(global_server_id="2",
                      global_peer=f"127.0.0.1:{listener.getsockname()[1]}") as srv:
        listener.settimeout(10)
        conn, _ = listener.accept()
        conn.settimeout(10)
        got = b""
        while not got.endswith(b"SYNC\r\n$1\r\n2\r\n"):
            got += conn.recv(100)
        conn.sendall(reply)
        data = b""
        while len(data) < 5 or len(data) < 5 + int.from_bytes(data[1:5], "little"):
            data += conn.recv(4096)
        dec = glink.Decoder()
        dec.feed(data)
        hello = dec.next()
        assert hello == glink.Hello(2, hello.vector, flags)
        if not flags:
            assert len(dec.body) == 2 + 4 + 10 * len(hello.vector)    # the old body
        conn.close()
        srv.client().ping()
    listener.close()


def _dump_with(dir_, writes):
    """A server without global replication writes ``writes`` and saves them
    to ``dir_``/dump.rdb, as a server did before the operator turned it on."""
    with ServerThread(dir=str(dir_)) as s:
        c = s.client()
        for args in writes:
            c.execute_command(*args)
        c.save()


@pytest.mark.parametrize("persistence", ["rdb", "aof"])
def test_a_member_run_without_global_replication_writes_its_changes_back(
        tmp_path, caplog, persistence):
    """global-server-id taken out of a member's config: the server starts
    on its dump file (or AOF) as usual, warns that its writes will not be
    in the member's log, and notes each key it changes in the log's
    directory. Back on with that log, the member rebuilds its dataset from
    the log, keeps a copy of the file the changes are in, and writes the
    noted keys back as its own ops: their new values, deletes included,
    while a key the file holds an older state of keeps the log's. A
    directory without a log gets no warning, and a run that changes
    nothing notes nothing."""
    caplog.set_level(logging.WARNING, logger="pyredis")
    opts = {"save": ""}
    if persistence == "aof":
        opts["appendonly"] = "yes"
    name = "appendonly.aof" if persistence == "aof" else "dump.rdb"
    member, plain = tmp_path / "member", tmp_path / "plain"
    member.mkdir()
    plain.mkdir()
    notes = member / "globallog" / "changed-without-global"

    def warnings(text):
        return [r.getMessage() for r in caplog.records if text in r.getMessage()]

    with ServerThread(dir=str(member), global_server_id="1", **opts) as s:
        c = s.client()
        c.mset({"k": "logged", "stale": "a", "del-me": "x"})
        c.save()
        # In the log only: the dump file keeps the older "stale".
        c.set("stale", "b")
        made = c.info("global")["global_log_last_opid"]
    with ServerThread(dir=str(plain), **opts) as s:
        s.client().set("x", "1")
    assert warnings("holds a global replication log") == []
    with ServerThread(dir=str(member), **opts) as s:
        assert s.client().get("k") == b"logged"
    (msg,) = warnings("holds a global replication log")
    assert msg.startswith(str(member / "globallog") + " holds")
    assert "GLOBAL LINK STOP" in msg and "global-role readonly" in msg
    assert not notes.exists()
    with ServerThread(dir=str(member), **opts) as s:
        c = s.client()
        c.set("k", "offline")
        c.set("new", "1")
        c.delete("del-me")
        c.save()
    assert notes.exists()
    caplog.clear()
    with ServerThread(dir=str(member), global_server_id="1", **opts) as s:
        c = s.client()
        assert c.get("k") == b"offline" and c.get("new") == b"1"
        assert c.get("del-me") is None
        assert c.get("stale") == b"b"
        info = c.info("global")
        assert info["global_log_last_opid"] == made + 3
        (kept_msg,) = warnings("the file that holds those changes was kept as")
        (wrote,) = warnings("wrote back 3 keys changed while global replication was off")
    kept = [p for p in member.iterdir() if p.name.startswith(name + ".without-global-")]
    assert len(kept) == 1 and kept_msg.endswith("kept as " + str(kept[0]))
    assert not notes.exists()
    # Once more: the changes are in the log now, nothing is written back.
    caplog.clear()
    with ServerThread(dir=str(member), global_server_id="1", **opts) as s:
        c = s.client()
        assert c.mget("k", "new", "del-me", "stale") == [b"offline", b"1", None, b"b"]
        assert c.info("global")["global_log_last_opid"] == made + 3
    assert warnings("wrote back") == []


def test_changes_not_all_saved_without_global_replication_are_not_written_back(
        tmp_path, caplog):
    """The server without global replication stopped with changes its dump
    file does not hold (no save point, no AOF): the file may hold older
    states of the keys it noted, so the member writes nothing back, keeps
    the file and says why."""
    caplog.set_level(logging.WARNING, logger="pyredis")
    with ServerThread(dir=str(tmp_path), global_server_id="1", save="") as s:
        s.client().set("k", "logged")
        s.client().save()
        s.client().set("k", "newer")
        made = s.client().info("global")["global_log_last_opid"]
    with ServerThread(dir=str(tmp_path), save="") as s:
        s.client().set("k", "offline")
    with ServerThread(dir=str(tmp_path), global_server_id="1", save="") as s:
        c = s.client()
        assert c.get("k") == b"newer"
        assert c.info("global")["global_log_last_opid"] == made
    assert [r for r in caplog.records if "are not written back" in r.getMessage()]
    assert [p for p in tmp_path.iterdir() if p.name.startswith("dump.rdb.without-global-")]
    assert not (tmp_path / "globallog" / "changed-without-global").exists()


def _start_again(make, tries=20):
    """Starts a server on the port a stopped one had. b's link keeps
    connecting to that port meanwhile, and a loopback connect to a port
    nobody listens on can pick that very port as its own (a TCP
    self-connect) and hold it for a moment: then try again."""
    for i in range(tries):
        try:
            return make().start()
        except OSError as e:
            if e.errno != errno.EADDRINUSE or i == tries - 1:
                raise
            time.sleep(0.25)


def test_keys_from_before_global_replication_reach_the_peers(tmp_path):
    da, db_ = tmp_path / "a", tmp_path / "b"
    da.mkdir()
    db_.mkdir()
    _dump_with(da, [("SET", "shared", "from-a"), ("RPUSH", "list", "x", "y"),
                    ("HSET", "h", "f", "v"), ("SET", "ttl", "t", "PX", "600000"),
                    ("SELECT", "3"), ("SADD", "in3", "m")])
    _dump_with(db_, [("SET", "shared", "from-b"), ("SET", "only-b", "1")])
    pa, pb = free_port(), free_port()
    a = ServerThread(dir=str(da), port=str(pa), global_server_id="1",
                     global_peer=f"127.0.0.1:{pb}").start()
    b = None
    try:
        # b turns global replication on later: its op for "shared" is the
        # later one, so its value wins on both.
        time.sleep(0.01)
        b = ServerThread(dir=str(db_), port=str(pb), global_server_id="2",
                         global_peer=f"127.0.0.1:{pa}").start()
        ca, cb = a.client(socket_timeout=10), b.client(socket_timeout=10)
        assert ca.info("global")["global_preexisting_keys_versioned"] == 5
        assert cb.info("global")["global_preexisting_keys_versioned"] == 2
        converged([ca, cb])
        assert cb.lrange("list", 0, -1) == [b"x", b"y"]
        assert cb.execute_command("SELECT", "3") and cb.smembers("in3") == {b"m"}
        cb.execute_command("SELECT", "0")
        assert cb.pttl("ttl") > 500_000
        assert ca.get("shared") == cb.get("shared") == b"from-b"
        assert ca.get("only-b") == b"1"
        # A restart finds the keys versioned (checkpoint and log): nothing
        # is logged again, and the members still agree.
        a.stop()
        a = _start_again(lambda: ServerThread(dir=str(da), port=str(pa), global_server_id="1",
                                              global_peer=f"127.0.0.1:{pb}"))
        ca = a.client(socket_timeout=10)
        assert ca.info("global")["global_preexisting_keys_versioned"] == 0
        converged([ca, cb])
        until(lambda: ca.execute_command("GLOBAL", "DIGEST")
              == cb.execute_command("GLOBAL", "DIGEST"), what="equal version digests")
        assert ca.get("shared") == b"from-b"
    finally:
        a.stop()
        if b is not None:
            b.stop()


def test_keys_from_before_survive_kill9_before_any_periodic_checkpoint(tmp_path):
    _dump_with(tmp_path, [("SET", "old%d" % i, i) for i in range(100)])
    port = free_port()
    a = _proc(tmp_path, port, 1, [], global_log_fsync="always").start()
    try:
        c = a.client(socket_timeout=10)
        c.set("new", "1")      # an op in the log, no periodic checkpoint yet
        a.kill()
        a.start()
        c = a.client(socket_timeout=10)
        # Rebuilt from the start-up checkpoint and the log: nothing lost,
        # nothing logged twice.
        assert c.dbsize() == 101 and c.get("old7") == b"7"
        assert c.info("global")["global_preexisting_keys_versioned"] == 0
    finally:
        a.stop()


def test_commands_that_load_keys_without_versions_are_refused(group_factory):
    g = group_factory(1, {})
    c = g[1]
    c.set("k", "v")
    for args in (("DEBUG", "RELOAD", "NOSAVE"), ("DEBUG", "RELOAD", "NOFLUSH", "MERGE"),
                 ("DEBUG", "LOADAOF")):
        with pytest.raises(redis.ResponseError, match="not supported while global"):
            c.execute_command(*args)
    # A plain DEBUG RELOAD saves and loads the same data: versions still
    # match, and so do the digests before and after.
    before = c.execute_command("GLOBAL", "DIGEST")
    assert c.execute_command("DEBUG", "RELOAD")
    assert c.execute_command("GLOBAL", "DIGEST") == before and c.get("k") == b"v"
    assert c.execute_command("REPLICAOF", "NO", "ONE")


@pytest.mark.parametrize("peer", ["none", "down"])
def test_the_log_stays_near_its_size_limit_while_writes_go_on(group_factory, peer):
    """Retention may drop only what the checkpoint on disk covers; the
    member checkpoints as the log grows (and at once when it is over its
    limit), so it stays within about a segment of the limit. A peer that
    is down holds nothing back: it gets a full sync when it is back."""
    max_size, seg = 128 * 1024, 32 * 1024
    g = group_factory(2, {2: [1]}, {1: {"global_log_max_size": str(max_size),
                                        "global_log_segment_size": str(seg)}})
    if peer == "down":
        g[1].set("first", 1)
        until(lambda: g[2].get("first") == b"1", what="synced")
        g[2].execute_command("GLOBAL", "LINK", "STOP", "127.0.0.1", g.ports[0])
    else:
        g[2].execute_command("GLOBAL", "PEER", "REMOVE", "127.0.0.1", g.ports[0])
    lg = g.servers[0].core.global_repl.log
    peak = written = 0
    start = lg.appended_bytes
    deadline = time.monotonic() + 6
    i = 0
    while time.monotonic() < deadline:
        # About 60 KB of log a second: the log passes its limit three times.
        for _ in range(3):
            g[1].set(f"k{i % 500}", "x" * 150)
            i += 1
        time.sleep(0.01)
        peak = max(peak, lg.nbytes)
    written = lg.appended_bytes - start
    assert written > 2 * max_size
    assert peak <= max_size + 2 * seg, (peak, written)
    assert g.info(1)["global_checkpoints"] >= 3
    if peer == "down":
        g[2].execute_command("GLOBAL", "LINK", "START", "127.0.0.1", g.ports[0])
        converged(g.clients, timeout=30)
        assert g.info(2)["global_full_syncs"] == 1
