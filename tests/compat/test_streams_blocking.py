"""Blocking XREAD and XREADGROUP with several real clients, on pyredis and
on the reference redis-server (each test runs on both and checks the same
outcome): wake-up on XADD, ``$`` resolved when blocking, readers waiting for
different IDs on one key, several keys, COUNT, timeouts, what does not wake
a reader (XDEL, XTRIM, XSETID, group changes), consumer groups (``>`` served
from the group, NOACK, two consumers, group or key gone), MULTI/EXEC, RESP3;
and, on pyredis, the effects of a served XREADGROUP.

Blocked clients are plain sockets: a test sends the blocking command, waits
until the server counts the client as blocked, acts from other clients and
then reads the replies. Every wait is bounded."""

from __future__ import annotations

import threading
import time

import pytest

from conftest import Target, encode_command, silent
from pyredis.propagate import Recorder

NIL_ARRAY = ("*", None)
NOGROUP_BLOCKED = ("-", b"NOGROUP the consumer group this client was blocked on no longer exists")


def entry(id_: bytes, *fv: bytes):
    return ("*", [("$", id_), ("*", [("$", x) for x in fv])])


def streams(*pairs):
    """XREAD's RESP2 reply: [[key, [entries]], ...]."""
    return ("*", [("*", [("$", k), ("*", list(es))]) for k, es in pairs])


# -- XREAD ---------------------------------------------------------------------------


def test_xadd_wakes_a_dollar_reader(srv):
    c = srv.client()
    c.call("XADD", "s", "1-1", "f", "old")
    r = srv.block("XREAD", "BLOCK", "0", "STREAMS", "s", "$")
    assert c.call("XADD", "s", "2-1", "f", "new") == ("$", b"2-1")
    assert r.read() == streams((b"s", [entry(b"2-1", b"f", b"new")]))
    assert srv.blocked() == 0


def test_dollar_on_a_missing_key_waits_for_its_creation(srv):
    r = srv.block("XREAD", "BLOCK", "0", "STREAMS", "s", "$")
    c = srv.client()
    c.call("XADD", "s", "1-1", "f", "v")
    assert r.read() == streams((b"s", [entry(b"1-1", b"f", b"v")]))


def test_readers_waiting_for_different_ids(srv):
    """Each reader wants IDs past its own: one reader's miss does not stop
    the next from being served."""
    c = srv.client()
    c.call("XADD", "s", "1-1", "f", "1")
    late = srv.block("XREAD", "BLOCK", "0", "STREAMS", "s", "100-0")
    now = srv.block("XREAD", "BLOCK", "0", "STREAMS", "s", "$")
    later = srv.block("XREAD", "BLOCK", "0", "STREAMS", "s", "150-0")
    also = srv.block("XREAD", "BLOCK", "0", "COUNT", "1", "STREAMS", "s", "1-1")
    c.call("XADD", "s", "5-0", "f", "5")
    assert now.read() == streams((b"s", [entry(b"5-0", b"f", b"5")]))
    assert also.read() == streams((b"s", [entry(b"5-0", b"f", b"5")]))
    assert silent(late) and silent(later, 0.01)
    c.call("XADD", "s", "120-0", "f", "120")
    assert late.read() == streams((b"s", [entry(b"120-0", b"f", b"120")]))
    assert silent(later)
    late = later
    c.call("XADD", "s", "200-0", "f", "200")
    assert late.read() == streams((b"s", [entry(b"200-0", b"f", b"200")]))


def test_several_keys_reply_with_the_key_that_got_data(srv):
    c = srv.client()
    c.call("XADD", "a", "1-1", "f", "v")
    r = srv.block("XREAD", "BLOCK", "0", "STREAMS", "a", "b", "$", "$")
    c.call("XADD", "b", "7-7", "x", "y")
    assert r.read() == streams((b"b", [entry(b"7-7", b"x", b"y")]))


def test_a_key_named_twice_waits_past_its_first_id(srv):
    c = srv.client()
    c.call("XADD", "s", "5-0", "f", "v")
    r = srv.block("XREAD", "BLOCK", "0", "STREAMS", "s", "s", "$", "99-0")
    c.call("XADD", "s", "6-0", "f", "w")
    assert r.read() == streams((b"s", [entry(b"6-0", b"f", b"w")]))


def test_timeout(srv):
    t0 = time.monotonic()
    r = srv.block("XREAD", "BLOCK", "150", "STREAMS", "s", "$")
    assert r.read() == NIL_ARRAY
    assert time.monotonic() - t0 >= 0.14
    assert srv.blocked() == 0


def test_timeout_in_resp3(srv):
    r = srv.block("XREAD", "BLOCK", "50", "STREAMS", "s", "$", resp3=True)
    assert r.read() == ("_", None)


def test_resp3_reply_is_a_map(srv):
    r = srv.block("XREAD", "BLOCK", "0", "STREAMS", "s", "$", resp3=True)
    srv.client().call("XADD", "s", "1-1", "f", "v")
    assert r.read() == ("%", [(("$", b"s"), ("*", [entry(b"1-1", b"f", b"v")]))])


def test_count_while_blocked(srv):
    c = srv.client()
    limited = srv.block("XREAD", "BLOCK", "0", "COUNT", "2", "STREAMS", "s", "$")
    unlimited = srv.block("XREAD", "BLOCK", "0", "STREAMS", "s", "$")
    c.call("MULTI")
    for i in range(1, 5):
        c.call("XADD", "s", f"{i}-0", "f", str(i))
    c.call("EXEC")
    assert limited.read() == streams((b"s", [entry(b"1-0", b"f", b"1"), entry(b"2-0", b"f", b"2")]))
    assert unlimited.read() == streams((b"s", [entry(f"{i}-0".encode(), b"f", str(i).encode())
                                               for i in range(1, 5)]))


@pytest.mark.parametrize("change", [
    ["XDEL", "s", "1-1"], ["XTRIM", "s", "MAXLEN", "0"], ["XSETID", "s", "50-0"],
    ["XGROUP", "CREATE", "s", "g", "0"], ["XGROUP", "SETID", "s", "g0", "0"],
    ["XGROUP", "DESTROY", "s", "g0"], ["XGROUP", "CREATECONSUMER", "s", "g0", "c"],
])
def test_only_xadd_wakes_a_reader(srv, change):
    c = srv.client()
    c.call("XADD", "s", "1-1", "f", "v")
    c.call("XGROUP", "CREATE", "s", "g0", "0")
    r = srv.block("XREAD", "BLOCK", "0", "STREAMS", "s", "$")
    c.call(*change)
    assert silent(r)
    c.call("XADD", "s", "60-0", "f", "w")
    assert r.read() == streams((b"s", [entry(b"60-0", b"f", b"w")]))


def test_xsetid_past_the_reader_then_xadd(srv):
    """The reader is served what lies past its ID, not past the new top."""
    c = srv.client()
    c.call("XADD", "s", "1-1", "f", "v")
    r = srv.block("XREAD", "BLOCK", "0", "STREAMS", "s", "$")
    c.call("XSETID", "s", "10-0")
    c.call("XADD", "s", "11-0", "f", "w")
    assert r.read() == streams((b"s", [entry(b"11-0", b"f", b"w")]))


def test_key_replaced_by_another_type_keeps_the_reader_waiting(srv):
    c = srv.client()
    r = srv.block("XREAD", "BLOCK", "0", "STREAMS", "s", "0")
    c.call("SET", "s", "string")
    c.call("DEL", "s")
    c.call("RPUSH", "s", "x")
    assert silent(r)
    c.call("DEL", "s")
    c.call("XADD", "s", "3-3", "f", "v")
    assert r.read() == streams((b"s", [entry(b"3-3", b"f", b"v")]))


def test_empty_stream_made_by_xgroup_does_not_serve(srv):
    r = srv.block("XREAD", "BLOCK", "0", "STREAMS", "s", "$")
    c = srv.client()
    c.call("XGROUP", "CREATE", "s", "g", "$", "MKSTREAM")
    assert silent(r)
    c.call("XADD", "s", "1-0", "f", "v")
    assert r.read() == streams((b"s", [entry(b"1-0", b"f", b"v")]))


def test_xadd_inside_multi_wakes_after_exec(srv):
    c = srv.client()
    r = srv.block("XREAD", "BLOCK", "0", "STREAMS", "s", "$")
    c.call("MULTI")
    c.call("XADD", "s", "1-0", "f", "v")
    assert silent(r, 0.1)
    c.call("EXEC")
    assert r.read() == streams((b"s", [entry(b"1-0", b"f", b"v")]))


def test_disconnect_while_blocked(srv):
    srv.client().call("XGROUP", "CREATE", "s", "g", "$", "MKSTREAM")
    r = srv.block("XREAD", "BLOCK", "0", "STREAMS", "s", "$")
    g = srv.block("XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "s", ">")
    r.close()
    g.close()
    srv.wait_blocked(0)
    c = srv.client()
    c.call("XADD", "s", "1-0", "f", "v")
    # The group reader left before anything came: nothing is pending.
    assert c.call("XPENDING", "s", "g")[1][0] == (":", 0)


def test_pipelined_commands_run_after_the_reader_is_served(srv):
    c = srv.client()
    r = srv.block("XREAD", "BLOCK", "0", "STREAMS", "s", "$")
    r.send_raw(encode_command(["XLEN", "s"]))
    assert silent(r, 0.1)
    c.call("XADD", "s", "1-0", "f", "v")
    assert r.read() == streams((b"s", [entry(b"1-0", b"f", b"v")]))
    assert r.read() == (":", 1)


# -- XREADGROUP -----------------------------------------------------------------------


def test_group_reader_is_served_from_the_group(srv):
    c = srv.client()
    c.call("XADD", "s", "1-1", "f", "1")
    c.call("XGROUP", "CREATE", "s", "g", "$")
    r = srv.block("XREADGROUP", "GROUP", "g", "alice", "BLOCK", "0", "STREAMS", "s", ">")
    c.call("XADD", "s", "2-1", "f", "2")
    assert r.read() == streams((b"s", [entry(b"2-1", b"f", b"2")]))
    assert c.call("XPENDING", "s", "g") == (
        "*", [(":", 1), ("$", b"2-1"), ("$", b"2-1"), ("*", [("*", [("$", b"alice"), ("$", b"1")])])])
    assert c.call("XINFO", "GROUPS", "s")[1][0][1][7] == ("$", b"2-1")


def test_two_consumers_share_the_new_entries(srv):
    c = srv.client()
    c.call("XGROUP", "CREATE", "s", "g", "$", "MKSTREAM")
    a = srv.block("XREADGROUP", "GROUP", "g", "a", "BLOCK", "0", "STREAMS", "s", ">")
    b = srv.block("XREADGROUP", "GROUP", "g", "b", "BLOCK", "0", "STREAMS", "s", ">")
    c.call("XADD", "s", "1-0", "f", "1")
    assert a.read() == streams((b"s", [entry(b"1-0", b"f", b"1")]))
    assert silent(b)
    c.call("XADD", "s", "2-0", "f", "2")
    assert b.read() == streams((b"s", [entry(b"2-0", b"f", b"2")]))
    reply = c.call("XPENDING", "s", "g")
    assert reply[1][3] == ("*", [("*", [("$", b"a"), ("$", b"1")]), ("*", [("$", b"b"), ("$", b"1")])])


def test_group_reader_and_plain_reader_on_one_key(srv):
    c = srv.client()
    c.call("XGROUP", "CREATE", "s", "g", "$", "MKSTREAM")
    g = srv.block("XREADGROUP", "GROUP", "g", "a", "BLOCK", "0", "COUNT", "1", "STREAMS", "s", ">")
    p = srv.block("XREAD", "BLOCK", "0", "STREAMS", "s", "$")
    c.call("MULTI")
    c.call("XADD", "s", "1-0", "f", "1")
    c.call("XADD", "s", "2-0", "f", "2")
    c.call("EXEC")
    assert g.read() == streams((b"s", [entry(b"1-0", b"f", b"1")]))
    assert p.read() == streams((b"s", [entry(b"1-0", b"f", b"1"), entry(b"2-0", b"f", b"2")]))


def test_noack_reader(srv):
    c = srv.client()
    c.call("XGROUP", "CREATE", "s", "g", "$", "MKSTREAM")
    r = srv.block("XREADGROUP", "GROUP", "g", "a", "NOACK", "BLOCK", "0", "STREAMS", "s", ">")
    c.call("XADD", "s", "1-0", "f", "1")
    assert r.read() == streams((b"s", [entry(b"1-0", b"f", b"1")]))
    assert c.call("XPENDING", "s", "g")[1][0] == (":", 0)
    assert c.call("XINFO", "CONSUMERS", "s", "g")[1][0][1][1] == ("$", b"a")


def test_group_setid_does_not_wake_but_counts_at_the_next_xadd(srv):
    c = srv.client()
    c.call("XADD", "s", "1-0", "f", "1")
    c.call("XGROUP", "CREATE", "s", "g", "$")
    r = srv.block("XREADGROUP", "GROUP", "g", "a", "BLOCK", "0", "STREAMS", "s", ">")
    c.call("XGROUP", "SETID", "s", "g", "0")
    assert silent(r)
    c.call("XADD", "s", "2-0", "f", "2")
    assert r.read() == streams((b"s", [entry(b"1-0", b"f", b"1"), entry(b"2-0", b"f", b"2")]))


def test_group_destroyed_while_blocked(srv):
    c = srv.client()
    c.call("XGROUP", "CREATE", "s", "g", "$", "MKSTREAM")
    r = srv.block("XREADGROUP", "GROUP", "g", "a", "BLOCK", "0", "STREAMS", "s", ">")
    plain = srv.block("XREAD", "BLOCK", "0", "STREAMS", "s", "$")
    c.call("XGROUP", "DESTROY", "s", "g")
    assert r.read() == NOGROUP_BLOCKED
    assert silent(plain)
    c.call("XADD", "s", "1-0", "f", "v")
    assert plain.read() == streams((b"s", [entry(b"1-0", b"f", b"v")]))


def test_stream_deleted_and_recreated_while_blocked(srv):
    c = srv.client()
    c.call("XGROUP", "CREATE", "s", "g", "$", "MKSTREAM")
    r = srv.block("XREADGROUP", "GROUP", "g", "a", "BLOCK", "0", "STREAMS", "s", ">")
    c.call("DEL", "s")
    assert silent(r)
    c.call("XADD", "s", "1-0", "f", "v")
    assert r.read() == NOGROUP_BLOCKED


def test_group_timeout_creates_no_consumer(srv):
    c = srv.client()
    c.call("XGROUP", "CREATE", "s", "g", "$", "MKSTREAM")
    r = srv.block("XREADGROUP", "GROUP", "g", "a", "BLOCK", "60", "STREAMS", "s", ">")
    assert r.read() == NIL_ARRAY
    assert c.call("XINFO", "CONSUMERS", "s", "g") == ("*", [])


def test_history_reads_never_block(srv):
    c = srv.client()
    c.call("XGROUP", "CREATE", "s", "g", "$", "MKSTREAM")
    assert c.call("XREADGROUP", "GROUP", "g", "a", "BLOCK", "0", "STREAMS", "s", "0") == (
        "*", [("*", [("$", b"s"), ("*", [])])])


def test_group_reader_in_resp3(srv):
    c = srv.client()
    c.call("XGROUP", "CREATE", "s", "g", "$", "MKSTREAM")
    r = srv.block("XREADGROUP", "GROUP", "g", "a", "BLOCK", "0", "STREAMS", "s", ">", resp3=True)
    c.call("XADD", "s", "1-0", "f", "v")
    assert r.read() == ("%", [(("$", b"s"), ("*", [entry(b"1-0", b"f", b"v")]))])


# -- effects (pyredis only) ------------------------------------------------------------


@pytest.fixture
def recorded(pyr):
    rec = Recorder()
    done = threading.Event()
    pyr.call_soon(lambda: (pyr.core.funnel.subscribe(rec), done.set()))
    assert done.wait(5)
    t = Target("pyredis", pyr.port, pyr.core)
    yield t, rec
    t.close()
    done.clear()
    pyr.call_soon(lambda: (pyr.core.funnel.unsubscribe(rec), done.set()))
    assert done.wait(5)


def settled(rec: Recorder, n: int) -> list:
    deadline = time.monotonic() + 5
    while len(rec.effects) < n and time.monotonic() < deadline:
        time.sleep(0.005)
    return rec.effects


def test_effects_of_served_group_readers(recorded):
    t, rec = recorded
    c = t.client()
    c.call("XGROUP", "CREATE", "s", "g", "$", "MKSTREAM")
    a = t.block("XREADGROUP", "GROUP", "g", "a", "BLOCK", "0", "STREAMS", "s", ">")
    plain = t.block("XREAD", "BLOCK", "0", "STREAMS", "s", "$")
    c.call("XADD", "s", "1-0", "f", "v")
    assert a.read()[0] == "*" and plain.read()[0] == "*"
    n = t.block("XREADGROUP", "GROUP", "g", "n", "NOACK", "BLOCK", "0", "STREAMS", "s", ">")
    c.call("XADD", "s", "2-0", "f", "w")
    assert n.read()[0] == "*"
    effects = settled(rec, 6)
    assert len(effects) == 6
    claim = effects[2][1]
    assert claim[:7] == [b"XCLAIM", b"s", b"g", b"a", b"0", b"1-0", b"TIME"]
    assert abs(int(claim[7]) - time.time() * 1000) < 60_000
    assert claim[8:] == [b"RETRYCOUNT", b"1", b"FORCE", b"JUSTID", b"LASTID", b"1-0"]
    assert [e for _db, e in effects[:2]] == [
        [b"XGROUP", b"CREATE", b"s", b"g", b"$", b"MKSTREAM"], [b"XADD", b"s", b"1-0", b"f", b"v"]]
    assert [e for _db, e in effects[3:]] == [
        [b"XADD", b"s", b"2-0", b"f", b"w"],
        [b"XGROUP", b"CREATECONSUMER", b"s", b"g", b"n"],
        [b"XGROUP", b"SETID", b"s", b"g", b"2-0"],
    ]


def test_no_effects_from_timeouts_and_plain_readers(recorded):
    t, rec = recorded
    c = t.client()
    c.call("XADD", "s", "1-0", "f", "v")
    c.call("XGROUP", "CREATE", "s", "g", "$")
    r = t.block("XREADGROUP", "GROUP", "g", "a", "BLOCK", "30", "STREAMS", "s", ">")
    assert r.read() == NIL_ARRAY
    p = t.block("XREAD", "BLOCK", "0", "STREAMS", "s", "$")
    c.call("XADD", "s", "2-0", "f", "w")
    assert p.read()[0] == "*"
    assert [e for _db, e in settled(rec, 3)] == [
        [b"XADD", b"s", b"1-0", b"f", b"v"], [b"XGROUP", b"CREATE", b"s", b"g", b"$"],
        [b"XADD", b"s", b"2-0", b"f", b"w"]]
