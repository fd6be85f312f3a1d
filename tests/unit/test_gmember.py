"""GlobalMember (pyredis.replication.gmember): versions, the records local
writes become, and the conflict rule with one example per data type. Two or
three Cores exchange records by hand; the links have their own tests
(test_glink.py) and the whole runs under the simulation (tests/sim)."""

import tempfile
import zlib

import pytest
from conftest import hand_set_clock

from pyredis import executor
from pyredis.core import Core
from pyredis.replication.globallog import GlobalLog
from pyredis.replication.gmember import (
    EPOCH_MS, GlobalMember, entry_hash, make_version, version_origin, version_ts)
from pyredis.replication.hlc import HLC, unpack

T0 = 1_767_225_600_000


class Wall:
    def __init__(self):
        self.ms = T0

    def __call__(self):
        return self.ms


@pytest.fixture
def group(monkeypatch):
    """Three members sharing one hand-set wall clock, which the keyspace's
    expiry reads too."""
    tmp = tempfile.mkdtemp()
    wall = Wall()
    hand_set_clock(monkeypatch, wall)
    out = []
    for sid in (1, 2, 3):
        core = Core()
        gm = GlobalMember(core, sid, GlobalLog(f"{tmp}/{sid}", fsync="no"), wall)
        out.append((gm, core.new_client()))
    return wall, out


def records(gm, since=0):
    return [r for r in gm.log.read_from(gm.log.first_lsn) if r.lsn > since]


def deliver(src, dst, fetch=True):
    """Applies src's records that dst lacks; answers fetches from src."""
    for rec in records(src):
        res = dst.apply(rec)
        if fetch:
            for db, key, _want in res.fetch:
                dst.install(src.key_state(db, key))


def call(client, *args):
    return executor.call(client, [a if isinstance(a, bytes) else str(a).encode() for a in args])


# -- versions ------------------------------------------------------------------------

def test_version_layout_and_order():
    ts = ((T0) << 16) | 5
    v = make_version(ts, 7)
    assert v == ((T0 - EPOCH_MS) << 22) | (5 << 16) | 7
    assert version_ts(v) == ts and version_origin(v) == 7
    # Integer order: time, then counter, then ServerID.
    assert make_version(ts, 9) > v
    assert make_version(ts + 1, 1) > make_version(ts, 65535)
    assert make_version(((T0 + 1) << 16), 1) > make_version(ts + 58, 65535)
    with pytest.raises(ValueError):
        make_version((T0 << 16) | 64, 1)      # counter past 6 bits


def test_hlc_counter_limited_to_six_bits_carries_into_the_ms():
    wall = Wall()
    clock = HLC(wall, logical_bits=6)
    stamps = [clock.now() for _ in range(200)]
    assert all(a < b for a, b in zip(stamps, stamps[1:]))
    assert all(unpack(s)[1] <= 63 for s in stamps)
    assert unpack(stamps[64]) == (T0 + 1, 0)
    # Merging a peer's stamp keeps the limit too.
    assert unpack(clock.update((T0 + 10) << 16 | 63)) == (T0 + 11, 0)


# -- local writes ----------------------------------------------------------------------

def test_a_write_is_one_record_with_versions_before_and_after(group):
    wall, [(m1, c1), _, _] = group
    call(c1, "SET", "a", "1")
    call(c1, "SET", "b", "2", "PX", "1000")
    call(c1, "DEL", "a", "nokey")
    r1, r2, r3 = records(m1)
    assert (r1.origin, r1.opid, r1.commands) == (1, 1, [[b"SET", b"a", b"1"]])
    assert r1.keys[0].before == 0
    va = r1.keys[0].after
    assert version_origin(va) == 1 and version_ts(va) == r1.ts
    # Relative expiry leaves as an absolute one.
    assert r2.commands == [[b"SET", b"b", b"2", b"PXAT", b"%d" % (T0 + 1000)]]
    # DEL: the deleted key goes from its version to the op's; the missing
    # key it names is listed unchanged (before == after).
    assert [(k.key, k.before == va, k.before == k.after) for k in r3.keys] == \
        [(b"a", True, False), (b"nokey", False, True)]
    assert m1.tombs == {(0, b"a"): False}
    assert m1.version_of(0, b"a") == r3.keys[0].after


def test_multi_exec_is_one_record_with_select(group):
    wall, [(m1, c1), _, _] = group
    for args in (["MULTI"], ["SET", "x", "1"], ["SELECT", "1"], ["INCR", "y"],
                 ["SELECT", "0"], ["EXEC"]):
        call(c1, *args)
    [rec] = records(m1)
    assert rec.db == 0
    assert rec.commands == [[b"SET", b"x", b"1"], [b"SELECT", b"1"], [b"INCR", b"y"]]
    assert {(k.db, k.key) for k in rec.keys} == {(0, b"x"), (1, b"y")}
    assert len({k.after for k in rec.keys}) == 1


def test_expiry_is_no_op_and_keeps_the_version(group):
    wall, [(m1, c1), _, _] = group
    call(c1, "SET", "k", "v", "PX", "10")
    v = m1.version_of(0, b"k")
    wall.ms += 50
    assert call(c1, "GET", "k") == b"$-1\r\n"
    assert len(records(m1)) == 1
    assert m1.version_of(0, b"k") == v
    assert m1.tombs[(0, b"k")] is True


def test_a_write_on_a_key_with_a_ttl_ships_its_state(group):
    # Expiry reads the clock, which differs between members and between now
    # and a replay after a restart: such ops travel as the states they left.
    wall, [(m1, c1), _, _] = group
    call(c1, "SET", "n", "1", "PX", "5000")
    call(c1, "INCR", "n")
    rec = records(m1)[-1]
    assert rec.commands[0][:3] == [b"RESTORE", b"n", b"%d" % (T0 + 5000)]
    assert rec.commands[0][4:] == [b"REPLACE", b"ABSTTL"]


def test_flushdb_gives_a_flush_version_later_keys_survive(group):
    wall, [(m1, c1), (m2, c2), _] = group
    call(c1, "SET", "old", "1")
    deliver(m1, m2)
    wall.ms += 5
    call(c2, "SET", "new", "2")          # concurrent, after the flush below? no: before
    wall.ms += 5
    call(c1, "FLUSHDB")
    wall.ms += 5
    call(c2, "SET", "newer", "3")        # after the flush: survives it
    deliver(m1, m2)
    assert call(c2, "KEYS", "*") == b"*1\r\n$5\r\nnewer\r\n"
    assert m2.flush_versions[0] == m1.flush_versions[0] > 0


# -- the conflict rule, one example per data type ------------------------------------------

def _concurrent(group, setup, w1, w2, read):
    """setup on m1 (replicated to all), then w1 on m1 and, 1 ms later, w2
    on m2, concurrently; then everyone exchanges. Returns what ``read``
    gives on each member."""
    wall, members = group
    (m1, c1), (m2, c2), (m3, c3) = members
    for args in setup:
        call(c1, *args)
    deliver(m1, m2)
    deliver(m1, m3)
    wall.ms += 10
    for args in w1:
        call(c1, *args)
    wall.ms += 1
    for args in w2:
        call(c2, *args)
    # Every order of delivery.
    deliver(m2, m1)
    deliver(m1, m2)
    deliver(m2, m3)
    deliver(m1, m3)
    deliver(m3, m1)
    deliver(m3, m2)
    return [call(c, *read) for _, c in members]


def test_rule_string_last_writer_wins(group):
    got = _concurrent(group, [["SET", "s", "0"]], [["INCR", "s"]], [["APPEND", "s", "x"]],
                      ["GET", "s"])
    assert got == [b"$2\r\n0x\r\n"] * 3


def test_rule_list_last_writer_wins_whole_key(group):
    got = _concurrent(group, [["RPUSH", "l", "a"]], [["RPUSH", "l", "b"]], [["LPOP", "l"]],
                      ["LLEN", "l"])
    assert got == [b":0\r\n"] * 3


def test_rule_hash_last_writer_wins_whole_key(group):
    got = _concurrent(group, [["HSET", "h", "f", "1"]], [["HSET", "h", "g", "2"]],
                      [["HINCRBY", "h", "f", "5"]], ["HGETALL", "h"])
    assert got == [b"*2\r\n$1\r\nf\r\n$1\r\n6\r\n"] * 3


def test_rule_set_last_writer_wins_whole_key(group):
    got = _concurrent(group, [["SADD", "t", "a"]], [["SADD", "t", "b"]], [["SREM", "t", "a"]],
                      ["SCARD", "t"])
    assert got == [b":0\r\n"] * 3


def test_rule_zset_last_writer_wins_whole_key(group):
    got = _concurrent(group, [["ZADD", "z", "1", "a"]], [["ZINCRBY", "z", "5", "a"]],
                      [["ZADD", "z", "2", "b"]], ["ZRANGE", "z", "0", "-1", "WITHSCORES"])
    assert got == [b"*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n"] * 3


def test_rule_delete_wins_over_an_older_write_tombstone(group):
    # m1 writes at t, m2 deletes at t+1: the delete wins everywhere and a
    # late delivery of the older write does not bring the key back.
    got = _concurrent(group, [["SET", "d", "0"]], [["SET", "d", "1"]], [["DEL", "d"]],
                      ["EXISTS", "d"])
    assert got == [b":0\r\n"] * 3


def test_rule_multi_key_rename_converges(group):
    got = _concurrent(group, [["SET", "src", "v"], ["SET", "dst", "old"]],
                      [["RENAME", "src", "dst"]], [["SET", "src", "w"]],
                      ["MGET", "src", "dst"])
    assert len(set(got)) == 1
    assert got[0] == b"*2\r\n$1\r\nw\r\n$1\r\nv\r\n"


def test_duplicates_and_own_ops_are_skipped(group):
    wall, [(m1, c1), (m2, c2), _] = group
    call(c1, "SET", "a", "1")
    [rec] = records(m1)
    assert m2.apply(rec).status == "applied"
    assert m2.apply(rec).status == "duplicate"
    assert m1.apply(rec).status == "duplicate"
    assert m2.applied_ops == 1


def test_op_ids_a_peer_holds_are_never_reused(group):
    # Our log lost ops 1..3 (fsync everysec, crash) that a peer received:
    # its HELLO says so, and our next op is number 4.
    wall, [(m1, c1), _, _] = group
    m1.peer_vector({1: 3, 2: 9})
    call(c1, "SET", "a", "1")
    assert records(m1)[-1].opid == 4
    m1.peer_vector({1: 2})
    call(c1, "SET", "a", "2")
    assert records(m1)[-1].opid == 5


def test_flushall_keeps_the_member_hooked_to_the_table(group):
    # FLUSHALL clears the version table; writes after it still become ops.
    wall, [(m1, c1), _, _] = group
    call(c1, "SET", "a", "1")
    call(c1, "FLUSHALL")
    call(c1, "HSET", "h", "f", "v")
    rec = records(m1)[-1]
    assert rec.commands == [[b"HSET", b"h", b"f", b"v"]]
    # An absent key is recorded as before 0, whatever its version here.
    assert rec.keys[0].before == 0
    assert m1.flush_versions[0] < rec.keys[0].after


def test_a_unit_that_sets_an_expiry_ships_its_states(group):
    # SET .. PXAT then SET .. XX in one unit: run later, when the time is
    # past, the XX would find no key; the record carries the result.
    wall, [(m1, c1), _, _] = group
    for args in (["MULTI"], ["SET", "k", "a", "PX", "100"], ["INCR", "n"],
                 ["SET", "k", "b", "XX"], ["EXEC"]):
        call(c1, *args)
    rec = records(m1)[-1]
    assert [c[0] for c in rec.commands] == [b"RESTORE", b"RESTORE"]
    # A plain SET with an expiry is a whole-value write: sent as it is.
    call(c1, "SET", "j", "v", "PX", "100")
    assert records(m1)[-1].commands[0][0] == b"SET"


def test_a_unit_with_a_flush_ships_its_states(group):
    wall, [(m1, c1), (m2, c2), _] = group
    call(c1, "SADD", "t", "a")
    for args in (["MULTI"], ["SADD", "t", "b"], ["FLUSHALL"], ["INCR", "n"], ["EXEC"]):
        call(c1, *args)
    rec = records(m1)[-1]
    assert rec.commands[0] == [b"FLUSHALL"]
    assert sorted(c[0] for c in rec.commands[1:]) == [b"DEL", b"RESTORE"]
    deliver(m1, m2)
    assert call(c2, "KEYS", "*") == b"*1\r\n$1\r\nn\r\n"
    assert m2.slot_digests() == m1.slot_digests()


def test_checkpoint_round_trip(group, tmp_path):
    wall, [(m1, c1), _, _] = group
    call(c1, "SET", "s", "v", "PX", "5000")
    call(c1, "RPUSH", "l", "a", "b")
    call(c1, "SELECT", "1")
    call(c1, "HSET", "h", "f", "v")
    call(c1, "SET", "gone", "1")
    call(c1, "DEL", "gone")
    data = m1.checkpoint()
    core = Core()
    fresh = GlobalMember(core, 1, GlobalLog(str(tmp_path / "x"), fsync="no"), wall)
    assert fresh.restore_checkpoint(data) == m1.log.last_lsn
    assert fresh.vector == m1.vector
    assert fresh.slot_digests() == m1.slot_digests()
    assert fresh.tombs == m1.tombs
    c = core.new_client()
    assert call(c, "DEBUG", "DIGEST") == call(c1, "DEBUG", "DIGEST")
    assert core.ks.dbs[0].expires[b"s"] == T0 + 5000
    with pytest.raises(ValueError):
        fresh.restore_checkpoint(data[:-1])


# -- the one-key fast paths against the general rule ---------------------------------

_SCRIPT = [
    # (member, command) or ("wall", ms) or ("deliver", src, dst)
    (0, ["SET", "a", "1"]), (0, ["SET", "a", "2"]), (0, ["INCR", "n"]), (0, ["INCR", "n"]),
    (0, ["HSET", "h", "f", "1"]), (0, ["LPUSH", "l", "x"]), (0, ["SADD", "s", "m"]),
    (0, ["SET", "t", "v", "PX", "50"]), (0, ["APPEND", "t", "w"]), (0, ["PERSIST", "t"]),
    (0, ["APPEND", "t", "z"]), (0, ["SET", "nx", "1", "NX"]), (0, ["SET", "nx", "2", "NX"]),
    (0, ["SET", "ex", "1", "EX", "100"]), (0, ["SETEX", "se", "100", "v"]),
    (0, ["EXPIRE", "a", "1"]), (0, ["GETEX", "n", "PX", "30"]), (0, ["DEL", "missing"]),
    (0, ["DEL", "h"]), (0, ["MSET", "m1", "1", "m2", "2"]), (0, ["MULTI"]),
    (0, ["SET", "u", "1"]), (0, ["EXEC"]), (0, ["SELECT", "1"]), (0, ["SET", "a", "db1"]),
    (0, ["INCR", "c1"]), (0, ["SELECT", "0"]), (0, ["set", "lower", "1"]),
    ("deliver", 0, 1),
    ("wall", 10),
    # Concurrent writes: 1's later ones win, 0's arrive on changed keys.
    (0, ["INCR", "c"]), (0, ["SET", "w", "0"]), (0, ["LPUSH", "l", "y"]),
    ("wall", 1),
    (1, ["APPEND", "c", "x"]), (1, ["SET", "w", "1"]), (1, ["RPUSH", "l", "z"]),
    ("deliver", 1, 0), ("deliver", 0, 1),
    ("wall", 10),
    # Writes after a key came from a fetch (volatile) and after expiry.
    (0, ["INCR", "c"]), (0, ["SET", "w", "2"]), (1, ["LPUSH", "l", "q"]),
    ("wall", 2000),
    (0, ["SET", "a", "3"]), (0, ["INCR", "n"]), (0, ["APPEND", "t", "1"]),
    ("deliver", 0, 1), ("deliver", 1, 0),
]


def _run_script(wall, tmp, slow, counts):
    wall.ms = T0
    members = []
    for sid in (1, 2):
        core = Core()
        gm = GlobalMember(core, sid, GlobalLog(f"{tmp}/{int(slow)}-{sid}", fsync="no"), wall)
        if slow:
            # Every command takes the general paths.
            gm._simple_kind = lambda name, kinds=gm._simple_kinds: kinds.setdefault(name, 0)
        general = gm._close_general

        def counted(*args, general=general):
            counts["local"] += 1
            return general(*args)
        gm._close_general = counted
        members.append((gm, core.new_client()))
    replies = []
    for step in _SCRIPT:
        if step[0] == "wall":
            wall.ms += step[1]
        elif step[0] == "deliver":
            deliver(members[step[1]][0], members[step[2]][0])
        else:
            replies.append(call(members[step[0]][1], *step[1]))
    out = [replies]
    for gm, c in members:
        recs = [(r.origin, r.opid, r.ts, r.db, r.commands, r.keys) for r in records(gm)]
        out.append((recs, call(c, "DEBUG", "DIGEST"), gm.slot_digests(), dict(gm.tombs),
                    set(gm.volatile), gm.conflicts, gm.hlc.last))
    return out


def test_fast_paths_record_and_apply_as_the_general_rule(group, tmp_path, monkeypatch):
    from pyredis.replication import gmember
    wall = group[0]
    real = gmember._flushed_dbs
    counts = {}

    def flushed(*args):
        # Called once by every local op and every op applied on the
        # general paths.
        counts["flushed"] += 1
        return real(*args)
    monkeypatch.setattr(gmember, "_flushed_dbs", flushed)
    seen = []
    for slow in (False, True):
        counts.update(local=0, flushed=0)
        seen.append(_run_script(wall, tmp_path, slow, counts))
        seen.append((counts["local"], counts["flushed"] - counts["local"]))
    fast, (fast_local, fast_applied), slow, (slow_local, slow_applied) = seen
    # The fast paths took some ops, and not all.
    assert 0 < fast_local < slow_local
    assert 0 < fast_applied < slow_applied
    assert fast[0] == slow[0]
    for f, s in zip(fast[1:], slow[1:]):
        assert f[0] == s[0]          # the same records, field by field
        assert f[1:] == s[1:]
    # The script did exercise both: conflicts, and ops shipped as states.
    assert fast[1][5] + fast[2][5] > 0
    assert any(c[0] == b"RESTORE" for r in fast[1][0] for c in r[4])


# -- collecting tombstones (the protocol runs under tests/sim) ----------------------------

def test_an_absent_key_is_recorded_as_before_zero_and_applies_over_any_tombstone(group):
    wall, [(m1, c1), (m2, _c2), _] = group
    call(c1, "SET", "k", "1")
    call(c1, "DEL", "k")
    deliver(m1, m2)
    assert m2.tombs == {(0, b"k"): False}
    # Member 1 collected its tombstone (by hand here), member 2 still has it.
    del m1.tombs[(0, b"k")]
    m1.versions.remove(0, b"k")
    wall.ms += 1
    call(c1, "RPUSH", "k", "x")
    rec = records(m1)[-1]
    assert rec.keys[0].before == 0
    assert m2.apply(rec).status == "applied"       # absent there too: the same state
    assert m2.ks.dbs[0].data[b"k"] == m1.ks.dbs[0].data[b"k"]
    assert m2.tombs == {}


def test_a_heartbeat_moves_clocks_and_frontiers_and_changes_nothing(group):
    wall, [(m1, c1), (m2, c2), _] = group
    m1._beat()
    assert records(m1) == []                         # not an origin yet: no heartbeat
    call(c1, "SET", "a", "1")
    deliver(m1, m2)
    digest = call(c2, "DEBUG", "DIGEST")
    wall.ms += 5000
    m1._beat()
    beat = records(m1)[-1]
    assert beat.commands == [[b"PING"]] and beat.keys == []
    assert m2.apply(beat).status == "heartbeat"
    assert m2.frontier[1] == beat.ts and m2.hlc.last >= beat.ts
    assert call(c2, "DEBUG", "DIGEST") == digest


def test_a_tombstone_goes_once_the_horizon_passes_it(group):
    wall, [(m1, c1), _, _] = group
    call(c1, "SET", "k", "1")
    call(c1, "DEL", "k")
    stamp = version_ts(m1.versions.get(0, b"k"))
    m1.downstream[2] = [stamp, wall.ms]              # a receiver at the delete
    m1.tick(wall.ms)
    assert (0, b"k") in m1.tombs
    m1.heard_downstream(2, stamp + 1, 0)             # it holds the delete now
    wall.ms += 1
    m1.tick(wall.ms)
    # Still there: nothing we logged is stamped after it (our own frontier),
    # so an idle member logs a heartbeat once beat_ms passed.
    assert (0, b"k") in m1.tombs
    wall.ms += m1.beat_ms
    m1.tick(wall.ms)
    assert records(m1)[-1].commands == [[b"PING"]]
    m1.tick(wall.ms)
    assert m1.tombs == {} and m1.tombs_collected == 1
    assert m1.versions.get(0, b"k") == 0
    # Past gc_floor an absent key holds any older version: the key's old
    # state offered again (anti-entropy, a late fetch) is refused.
    old = make_version(stamp - 1, 2)
    assert m1.holds(0, b"k", old) and m1.collected_state(0, b"k", old).version == old


def test_a_silent_receiver_holds_tombstones_until_forgotten(group):
    wall, [(m1, c1), _, _] = group
    call(c1, "SET", "k", "1")
    call(c1, "DEL", "k")
    m1.heard_downstream(2, 0, 0)                      # said HELLO, never echoed
    m1.gc_forget_ms = 60_000
    wall.ms += 59_000
    m1.tick(wall.ms)
    assert (0, b"k") in m1.tombs
    wall.ms += 2_000
    m1.tick(wall.ms)
    assert m1.tombs == {} and m1.downstream == {}


def test_a_full_sync_drops_keys_its_snapshot_shows_deleted(group):
    wall, [(m1, c1), (m2, c2), _] = group
    call(c1, "SET", "gone", "1")
    call(c1, "SET", "kept", "1")
    deliver(m1, m2)
    call(c2, "SET", "mine", "2")                      # member 2's own: 1 never saw it
    wall.ms += 10
    stale = m2.stale_candidates({1: 2}, (wall.ms << 16))
    assert set(stale) == {(0, b"gone"), (0, b"kept")}
    stale.pop((0, b"kept"))                           # the snapshot named it
    m2.drop_stale(stale)
    assert call(c2, "EXISTS", "gone") == b":0\r\n"
    assert call(c2, "EXISTS", "kept", "mine") == b":2\r\n"
    assert m2.stale_dropped == 1 and m2.has_undurable
    # The source's floor becomes m2's: m3 syncing in full from m2 next must
    # drop its own copy of "gone" as well (m2's old floor, 0, let it stay).
    floor = wall.ms << 16
    m2.finish_snapshot({1: 2}, floor)
    assert m2.gc_floor == floor
    m2.finish_snapshot({1: 2}, floor - 1)             # never lowered
    assert m2.gc_floor == floor


def test_checkpoint_keeps_receivers_echoes_and_awaited_states(group, tmp_path):
    wall, [(m1, c1), _, _] = group
    call(c1, "SET", "a", "1")
    m1.heard_downstream(3, 12345, 0)
    m1.replay_wants[(0, b"w")] = make_version(T0 << 16, 2)
    data = m1.checkpoint()
    fresh = GlobalMember(Core(), 1, GlobalLog(str(tmp_path / "y"), fsync="no"), wall)
    fresh.restore_checkpoint(data)
    assert fresh.downstream[3][0] == 12345
    assert fresh.replay_wants == {(0, b"w"): make_version(T0 << 16, 2)}
    assert fresh.local_stable() == 0                  # a state is still awaited


def test_a_forgotten_member_stays_forgotten_until_it_moves_again(group):
    # Members still pass on a gone member's last value: it must not start
    # a fresh wait each time it comes round again.
    wall, [(m1, c1), _, _] = group
    call(c1, "SET", "k", "1")
    call(c1, "DEL", "k")
    m1.gc_forget_ms = 1000
    m1.heard_stable({}, {7: 5})
    wall.ms += 2000
    m1.tick(wall.ms)
    wall.ms += m1.beat_ms                             # a heartbeat passes the delete
    m1.tick(wall.ms)
    m1.tick(wall.ms)
    assert 7 not in m1.upstream and m1.tombs == {}
    m1.heard_stable({}, {7: 5})                      # gossip of the old value
    assert 7 not in m1.upstream
    m1.heard_stable({}, {7: 6})                      # it is back
    assert m1.upstream[7][0] == 6


# -- slot digests, kept as keys change ------------------------------------------------

def scan_digests(gm):
    """Slot digests computed by walking every key (what anti-entropy did
    before members kept them): the oracle for the kept ones."""
    n = gm.slots
    dig = [0] * n
    now = gm.clock()
    for d in gm.ks.dbs:
        for key in d.data:
            when = d.expires.get(key)
            v = gm.versions.get(d.id, key)
            if v and (when is None or when > now):
                kc = zlib.crc32(key)
                dig[kc % n] ^= entry_hash(d.id, kc, gm.version_of(d.id, key))
    return [x & (2 ** 64 - 1) for x in dig]


def test_slot_digests_are_kept_as_keys_change_and_match_a_recount(group):
    wall, [(m1, c1), (m2, c2), _] = group
    script = [
        ("SET", "a", "1"), ("SET", "b", "2"), ("HSET", "h", "f", "v"), ("LPUSH", "l", "x"),
        ("SET", "t", "1", "PX", "50"), ("INCR", "n"), ("DEL", "b"), ("LPOP", "l"),
        ("SELECT", "1"), ("SET", "a", "9"), ("FLUSHDB",), ("SET", "c", "3"),
        ("SELECT", "0"), ("RENAME", "a", "z"), ("MSET", "m1", "1", "m2", "2"),
    ]
    for args in script:
        call(c1, *args)
        assert m1.digests_agree(), args
    assert m1.slot_digests() == scan_digests(m1)
    deliver(m1, m2)
    assert m2.digests_agree()
    assert m2.slot_digests() == m1.slot_digests()
    # Expired but not yet removed counts as absent; removed, it is a tombstone.
    wall.ms += 100
    assert m1.slot_digests() == scan_digests(m1) == m2.slot_digests()
    assert call(c1, "GET", "t") == b"$-1\r\n"
    assert m1.digests_agree() and m1.slot_digests() == m2.slot_digests()
    # A flush learnt from a peer's digest drops what it covers.
    call(c2, "SET", "late", "1")
    call(c1, "FLUSHALL")
    deliver(m1, m2)
    assert m2.digests_agree() and m1.digests_agree()
    assert m2.slot_digests() == scan_digests(m2)


def test_verify_digests_recounts_after_a_change_behind_the_members_back(group):
    _, [(m1, c1), _, _] = group
    call(c1, "SET", "a", "1")
    kept = m1.slot_digests()
    m1.ks.dbs[0].data.pop(b"a")          # not through any command
    assert m1.slot_digests() == kept     # the kept digests cannot know
    assert m1.verify_digests() is False
    assert m1.digest_recounts_differed == 1
    assert m1.slot_digests() == [0] * m1.slots
    assert m1.verify_digests() is True


# -- keys from before global replication was on -------------------------------------------

def _member_over(core, sid, tmp_path, wall):
    return GlobalMember(core, sid, GlobalLog(str(tmp_path / str(sid)), fsync="no"), wall)


def _preloaded(pairs, db=0):
    """A Core holding keys written while no member watched (as a dump file
    or AOF loaded at start-up leaves them)."""
    core = Core()
    c = core.new_client()
    call(c, "SELECT", db)
    for k, v in pairs:
        call(c, "SET", k, v)
    return core, c


def test_keys_from_before_are_logged_as_ops_once(group, tmp_path):
    wall, _ = group          # the keyspace's expiry reads this clock too
    core, c = _preloaded([("a", "1"), ("b", "2")])
    call(c, "SELECT", 2)
    call(c, "RPUSH", "l", "x")
    call(c, "PEXPIRE", "l", 3_600_000)
    call(c, "SET", "gone", "x", "PX", "1")
    wall.ms += 5             # "gone" is past its expiry, not yet removed
    m = _member_over(core, 1, tmp_path, wall)
    # Unversioned: no digest, no slot entry, nothing a peer would ask for.
    assert m.slot_digests() == [0] * m.slots and m.slot_entries() == []
    assert m.has_unversioned()
    assert m.log_unversioned(batch_keys=2) == 3
    assert b"gone" in core.ks.dbs[2].data and m.version_of(2, b"gone") == 0
    # Ops of ours (batches of at most 2 keys, per database): RESTOREs of
    # the states in place, each key from version 0 to the op's.
    recs = records(m)
    assert [(r.db, [k.key for k in r.keys]) for r in recs] == [
        (0, [b"a", b"b"]), (2, [b"l"])]
    assert [r.opid for r in recs] == [1, 2] and m.vector == {1: 2}
    ra, rl = recs
    assert ra.commands[0][0] == b"RESTORE" and ra.commands[0][4:] == [b"REPLACE", b"ABSTTL"]
    assert rl.commands[0][2] == b"%d" % core.ks.dbs[2].expires[b"l"]
    assert all(k.before == 0 and k.after == m.version_of(k.db, k.key) for r in recs
               for k in r.keys)
    assert version_origin(m.version_of(0, b"a")) == 1 and (2, b"l") in m.ttl_keys
    # Nothing was installed from outside the log.
    assert not m.has_undurable and not m.volatile
    # Once: nothing left to log, and a later write goes from that version.
    assert m.log_unversioned() == 0
    call(c, "SELECT", 0)
    call(c, "INCR", "a")
    assert records(m)[-1].keys[0].before == ra.keys[0].after


def test_keys_from_before_replay_on_a_checkpoint_taken_before_them(tmp_path):
    """The driver's order: a checkpoint of the dataset as it is (keys
    unversioned), then the ops; a restart rebuilds the same dataset, and a
    crash that lost some ops leaves those keys unversioned, logged again."""
    wall = Wall()
    core, c = _preloaded([("k%d" % i, i) for i in range(10)])
    m = _member_over(core, 1, tmp_path, wall)
    data = m.checkpoint()
    assert m.log_unversioned(batch_keys=4) == 10
    m.log.flush()
    for keep in (3, 1):
        fresh_core = Core()
        fresh = _member_over(fresh_core, 1, tmp_path / ("r%d" % keep), wall)
        lsn = fresh.restore_checkpoint(data)
        # (The driver looks for unversioned keys only after such a restore
        # or a load from the dump file.)
        assert fresh.unversioned_restored == 10
        for rec in records(m)[:keep]:
            if rec.lsn > lsn:
                fresh.replay(rec)
        fc = fresh_core.new_client()
        assert call(fc, "DEBUG", "DIGEST") == call(c, "DEBUG", "DIGEST")
        logged = sum(len(r.keys) for r in records(m)[:keep])
        assert fresh.has_unversioned() == (logged < 10)
        if keep == 3:
            assert fresh.slot_digests() == m.slot_digests()


def test_a_key_both_members_held_before_converges_to_the_later_op(group, tmp_path):
    wall = Wall()
    core1, c1 = _preloaded([("shared", "one"), ("only1", "x")])
    core2, c2 = _preloaded([("shared", "two"), ("only2", "y")])
    m1 = _member_over(core1, 1, tmp_path, wall)
    m2 = _member_over(core2, 2, tmp_path, wall)
    m1.log_unversioned()
    wall.ms += 3
    m2.log_unversioned()
    deliver(m1, m2)
    deliver(m2, m1)
    assert m1.slot_digests() == m2.slot_digests()
    assert call(c1, "DEBUG", "DIGEST") == call(c2, "DEBUG", "DIGEST")
    assert call(c1, "GET", "shared") == b"$3\r\ntwo\r\n"
    assert call(c2, "MGET", "only1", "only2") == b"*2\r\n$1\r\nx\r\n$1\r\ny\r\n"
    assert m1.conflicts == 1


def test_an_op_on_a_key_that_expired_at_its_origin_applies_where_it_is_due_but_still_there(group):
    """At the origin the key had expired (the op found it absent: before 0);
    here it is due but no expiry removed it yet. Logically absent on both,
    so the op runs as it is, on the key removed first (the internal client
    would otherwise see the expired value), with no fetch."""
    wall, [(m1, c1), (m2, c2), _] = group
    call(c1, "SET", "k", "old", "PX", "50")
    deliver(m1, m2)
    wall.ms += 100
    call(c1, "RPUSH", "k", "x")              # k expired here: a new list
    assert records(m1)[-1].keys[0].before == 0
    assert b"k" in m2.ks.dbs[0].data          # due on m2, not removed yet
    res = m2.apply(records(m1)[-1])
    assert res.status == "applied" and res.fetch == []
    assert call(c2, "LRANGE", "k", "0", "-1") == call(c1, "LRANGE", "k", "0", "-1")
    assert m2.version_of(0, b"k") == m1.version_of(0, b"k")
    assert m2.digests_agree()


def test_op_ids_are_handed_out_under_a_mark_the_owner_moves_ahead(group, monkeypatch):
    """The owner's mark (reserve_opids) is always above every op id handed
    out, moved OPID_RESERVE ahead when an op id reaches it; a member
    started after a crash with its floor at the mark never reuses one."""
    from pyredis.replication import gmember as gm_mod
    monkeypatch.setattr(gm_mod, "OPID_RESERVE", 3)
    wall, [(m1, c1), _, _] = group
    marks = []
    m1.reserve_opids = marks.append
    m1._opid_reserved = 0
    call(c1, "MULTI")
    call(c1, "SET", "u", "1")
    call(c1, "EXEC")                       # the general path: op id 1
    for i in range(6):
        call(c1, "SET", f"k{i}", i)        # the one-key path: op ids 2..7
    assert [r.opid for r in records(m1)] == list(range(1, 8))
    assert marks == [4, 8]
    # Restarted after a crash that lost ops 6 and 7 (shipped already).
    m1._opid_floor = marks[-1]
    call(c1, "SET", "after", "x")
    assert records(m1)[-1].opid == 9
