"""Blocking list pops with several real clients, on pyredis and on the
reference redis-server (each test runs on both and checks the same
outcome): first-blocked-first-served fairness, timeouts (and 0 = forever),
several keys, pushes inside MULTI/EXEC, pipelined commands of a blocked
client, BRPOPLPUSH chains, WRONGTYPE at serve time, disconnects, databases;
and, on pyredis, the effects sent into the funnel when a waiter is served.

Blocked clients are plain sockets: a test sends the blocking command, waits
until the server counts the client as blocked, acts from other clients and
then reads the replies. Every wait is bounded."""

from __future__ import annotations

import threading
import time

import pytest

from conftest import RawClient, Target, encode_command, silent
from pyredis.commands import COMMANDS
from pyredis.propagate import Recorder

NIL_ARRAY = ("*", None)


def requires(*names):
    missing = [n for n in names if n not in COMMANDS]
    if missing:
        pytest.skip(f"pyredis has no {', '.join(missing)} yet")


# -- fairness -----------------------------------------------------------------


def test_first_blocked_is_served_first(srv):
    waiters = [srv.block("BLPOP", "k", "0") for _ in range(3)]
    pusher = srv.client()
    assert pusher.call("RPUSH", "k", "a", "b", "c") == (":", 3)
    for w, v in zip(waiters, (b"a", b"b", b"c")):
        assert w.read() == ("*", [("$", b"k"), ("$", v)])
    assert pusher.call("EXISTS", "k") == (":", 0)


def test_one_element_serves_one_waiter(srv):
    waiters = [srv.block("BLPOP", "k", "0") for _ in range(3)]
    pusher = srv.client()
    for i, w in enumerate(waiters):
        assert pusher.call("RPUSH", "k", f"v{i}") == (":", 1)
        assert w.read() == ("*", [("$", b"k"), ("$", f"v{i}".encode())])
        for later in waiters[i + 1:]:
            assert silent(later, 0.05)
    assert pusher.call("LLEN", "k") == (":", 0)


def test_fairness_across_commands_and_keys(srv):
    first = srv.block("BRPOP", "a", "k", "0")
    second = srv.block("BLPOP", "k", "0")
    third = srv.block("BRPOPLPUSH", "k", "dst", "0")
    pusher = srv.client()
    assert pusher.call("RPUSH", "k", "1", "2", "3", "4") == (":", 4)
    assert first.read() == ("*", [("$", b"k"), ("$", b"4")])
    assert second.read() == ("*", [("$", b"k"), ("$", b"1")])
    assert third.read() == ("$", b"3")
    assert pusher.call("LRANGE", "k", "0", "-1") == ("*", [("$", b"2")])
    assert pusher.call("LRANGE", "dst", "0", "-1") == ("*", [("$", b"3")])


# -- timeouts ------------------------------------------------------------------


@pytest.mark.parametrize("args", [("BLPOP", "k", "0.3"), ("BRPOP", "a", "b", "0.3"),
                                  ("BRPOPLPUSH", "k", "d", "0.3"),
                                  ("BLMOVE", "k", "d", "LEFT", "RIGHT", "0.3")])
def test_timeout_returns_nil_after_the_timeout(srv, args):
    c = srv.client()
    t0 = time.monotonic()
    assert c.call(*args) == NIL_ARRAY
    elapsed = time.monotonic() - t0
    assert 0.28 <= elapsed < 2.0, elapsed
    assert c.call("PING") == ("+", b"PONG")
    srv.wait_blocked(0)


def test_zero_waits_until_served(srv):
    w = srv.block("BLPOP", "k", "0")
    assert silent(w, 0.4)
    assert srv.client().call("LPUSH", "k", "v") == (":", 1)
    assert w.read() == ("*", [("$", b"k"), ("$", b"v")])


def test_timeouts_in_resp3(srv):
    c = srv.client()
    assert c.call("HELLO", "3")[0] == "%"
    assert c.call("BLPOP", "k", "0.05") == ("_", None)
    assert c.call("BRPOPLPUSH", "k", "d", "0.05") == ("_", None)


def test_sub_millisecond_timeout_means_forever(srv):
    w = srv.block("BLPOP", "k", "0.0001")
    assert silent(w, 0.3)
    srv.client().call("RPUSH", "k", "v")
    assert w.read() == ("*", [("$", b"k"), ("$", b"v")])


# -- several keys -----------------------------------------------------------------


def test_waiting_on_several_keys(srv):
    w = srv.block("BLPOP", "a", "b", "c", "0")
    pusher = srv.client()
    assert pusher.call("RPUSH", "c", "x", "y") == (":", 2)
    assert w.read() == ("*", [("$", b"c"), ("$", b"x")])
    assert pusher.call("LRANGE", "c", "0", "-1") == ("*", [("$", b"y")])


def test_first_key_made_ready_wins(srv):
    w = srv.block("BLPOP", "a", "b", "0")
    pusher = srv.client()
    assert pusher.call("MULTI") == ("+", b"OK")
    pusher.call("RPUSH", "b", "1")
    pusher.call("RPUSH", "a", "2")
    assert pusher.call("EXEC") == ("*", [(":", 1), (":", 1)])
    assert w.read() == ("*", [("$", b"b"), ("$", b"1")])
    assert pusher.call("LLEN", "a") == (":", 1)


# -- transactions -------------------------------------------------------------------


def test_push_inside_multi_wakes_after_exec(srv):
    w = srv.block("BLPOP", "k", "0")
    pusher = srv.client()
    assert pusher.call("MULTI") == ("+", b"OK")
    assert pusher.call("RPUSH", "k", "a") == ("+", b"QUEUED")
    assert silent(w, 0.1)
    assert pusher.call("LLEN", "k") == ("+", b"QUEUED")
    # Inside the transaction the element is still there: the waiter is
    # served only once EXEC is over.
    assert pusher.call("EXEC") == ("*", [(":", 1), (":", 1)])
    assert w.read() == ("*", [("$", b"k"), ("$", b"a")])
    assert pusher.call("EXISTS", "k") == (":", 0)


def test_push_and_pop_inside_multi_leaves_the_waiter_blocked(srv):
    w = srv.block("BLPOP", "k", "0")
    pusher = srv.client()
    pusher.call("MULTI")
    pusher.call("RPUSH", "k", "a")
    pusher.call("LPOP", "k")
    assert pusher.call("EXEC") == ("*", [(":", 1), ("$", b"a")])
    assert silent(w, 0.2)
    assert srv.blocked() == 1
    pusher.call("RPUSH", "k", "b")
    assert w.read() == ("*", [("$", b"k"), ("$", b"b")])


def test_blocking_command_inside_multi_does_not_block(srv):
    c = srv.client()
    c.call("MULTI")
    c.call("BLPOP", "k", "0")
    c.call("BRPOPLPUSH", "k", "d", "0")
    assert c.call("EXEC") == ("*", [NIL_ARRAY, ("$", None)])
    assert srv.blocked() == 0


# -- what a blocked client does meanwhile ----------------------------------------------


def test_pipelined_commands_run_after_the_client_is_served(srv):
    c = srv.client()
    c.send_raw(encode_command(["BLPOP", "k", "0"]) + encode_command(["PING"])
               + encode_command(["RPUSH", "later", "x"]) + encode_command(["LLEN", "k"]))
    srv.wait_blocked(1)
    other = srv.client()
    assert other.call("EXISTS", "later") == (":", 0)
    assert other.call("RPUSH", "k", "v", "w") == (":", 2)
    assert c.read() == ("*", [("$", b"k"), ("$", b"v")])
    assert c.read() == ("+", b"PONG")
    assert c.read() == (":", 1)
    assert c.read() == (":", 1)
    assert other.call("EXISTS", "later") == (":", 1)


def test_disconnect_while_blocked(srv, request):
    w = srv.block("BLPOP", "k", "0")
    w.close()
    pusher = srv.client()
    try:
        srv.wait_blocked(0, timeout=1)
    finally:
        assert pusher.call("RPUSH", "k", "v") == (":", 1)
        # (a dead client still blocked was served now, and then let go)
        srv.wait_blocked(0)
    assert pusher.call("LLEN", "k") == (":", 1)


def test_other_types_keep_the_client_waiting(srv):
    w = srv.block("BLPOP", "k", "0")
    c = srv.client()
    assert c.call("SET", "k", "str") == ("+", b"OK")
    assert silent(w, 0.1)
    c.call("DEL", "k")
    c.call("HSET", "k", "f", "v")
    assert silent(w, 0.1)
    c.call("DEL", "k")
    c.call("RPUSH", "k", "v")
    assert w.read() == ("*", [("$", b"k"), ("$", b"v")])


def test_waiters_are_per_database(srv):
    w = srv.client()
    assert w.call("SELECT", "1") == ("+", b"OK")
    w.send_raw(encode_command(["BLPOP", "k", "0"]))
    srv.wait_blocked(1)
    c = srv.client()
    c.call("RPUSH", "k", "db0")
    assert silent(w, 0.1)
    c.call("SELECT", "1")
    c.call("RPUSH", "k", "db1")
    assert w.read() == ("*", [("$", b"k"), ("$", b"db1")])
    c.call("SELECT", "0")
    assert c.call("LLEN", "k") == (":", 1)


# -- moves ------------------------------------------------------------------------------


def test_brpoplpush_chain(srv):
    a = srv.block("BRPOPLPUSH", "x", "y", "0")
    b = srv.block("BLPOP", "y", "0")
    c = srv.client()
    assert c.call("RPUSH", "x", "v") == (":", 1)
    assert a.read() == ("$", b"v")
    assert b.read() == ("*", [("$", b"y"), ("$", b"v")])
    assert c.call("EXISTS", "x", "y") == (":", 0)


def test_brpoplpush_onto_itself(srv):
    a = srv.block("BRPOPLPUSH", "x", "x", "0")
    c = srv.client()
    c.call("RPUSH", "x", "a", "b")
    assert a.read() == ("$", b"b")
    assert c.call("LRANGE", "x", "0", "-1") == ("*", [("$", b"b"), ("$", b"a")])


def test_blmove_served(srv):
    a = srv.block("BLMOVE", "x", "y", "RIGHT", "LEFT", "0")
    c = srv.client()
    c.call("RPUSH", "y", "old")
    c.call("RPUSH", "x", "1", "2")
    assert a.read() == ("$", b"2")
    assert c.call("LRANGE", "y", "0", "-1") == ("*", [("$", b"2"), ("$", b"old")])


def test_brpoplpush_destination_of_wrong_type(srv):
    a = srv.block("BRPOPLPUSH", "x", "y", "0")
    b = srv.block("BLPOP", "x", "0")
    c = srv.client()
    c.call("SET", "y", "str")
    c.call("RPUSH", "x", "v")
    # The mover gets WRONGTYPE and the element stays for the next waiter.
    assert a.read() == ("-", b"WRONGTYPE Operation against a key holding the wrong kind of value")
    assert b.read() == ("*", [("$", b"x"), ("$", b"v")])
    assert c.call("GET", "y") == ("$", b"str")


# -- effects (pyredis only) -----------------------------------------------------------


@pytest.fixture
def recorded(pyr):
    rec = Recorder()
    done = threading.Event()

    def sub():
        pyr.core.funnel.subscribe(rec)
        done.set()

    pyr.call_soon(sub)
    assert done.wait(5)
    t = Target("pyredis", pyr.port, pyr.core)
    yield t, rec
    t.close()
    done.clear()

    def unsub():
        pyr.core.funnel.unsubscribe(rec)
        done.set()

    pyr.call_soon(unsub)
    assert done.wait(5)


def settled(rec: Recorder, n: int) -> list:
    deadline = time.monotonic() + 5
    while len(rec.effects) < n and time.monotonic() < deadline:
        time.sleep(0.005)
    return rec.effects


def test_effects_of_served_pops(recorded):
    t, rec = recorded
    a = t.block("BLPOP", "k", "0")
    b = t.block("BRPOP", "k", "0")
    t.client().call("RPUSH", "k", "1", "2", "3")
    assert a.read()[0] == "*" and b.read()[0] == "*"
    assert settled(rec, 3) == [
        (0, [b"RPUSH", b"k", b"1", b"2", b"3"]),
        (0, [b"LPOP", b"k"]),
        (0, [b"RPOP", b"k"]),
    ]


def test_effects_of_a_chain(recorded):
    t, rec = recorded
    a = t.block("BRPOPLPUSH", "x", "y", "0")
    b = t.block("BLMOVE", "y", "z", "LEFT", "RIGHT", "0")
    c = t.block("BLPOP", "z", "0")
    t.client().call("RPUSH", "x", "v")
    assert a.read() == ("$", b"v") and b.read() == ("$", b"v")
    assert c.read() == ("*", [("$", b"z"), ("$", b"v")])
    assert settled(rec, 4) == [
        (0, [b"RPUSH", b"x", b"v"]),
        (0, [b"RPOPLPUSH", b"x", b"y"]),
        (0, [b"LMOVE", b"y", b"z", b"left", b"right"]),
        (0, [b"LPOP", b"z"]),
    ]


def test_effects_after_exec(recorded):
    t, rec = recorded
    w = t.block("BLPOP", "k", "0")
    c = t.client()
    c.call("MULTI")
    c.call("RPUSH", "k", "a", "b")
    c.call("EXEC")
    assert w.read() == ("*", [("$", b"k"), ("$", b"a")])
    assert settled(rec, 4) == [
        ("MULTI",), (0, [b"RPUSH", b"k", b"a", b"b"]), ("EXEC",), (0, [b"LPOP", b"k"]),
    ]


def test_no_effects_from_timeouts_or_refused_serves(recorded):
    t, rec = recorded
    c = t.client()
    assert c.call("BLPOP", "k", "0.05") == NIL_ARRAY
    w = t.block("BRPOPLPUSH", "x", "y", "0")
    c.call("SET", "y", "s")
    c.call("RPUSH", "x", "v")
    assert w.read()[0] == "-"
    c.call("SELECT", "2")
    assert c.call("BLPOP", "nokey", "x", "0.01") == NIL_ARRAY
    assert settled(rec, 2) == [(0, [b"SET", b"y", b"s"]), (0, [b"RPUSH", b"x", b"v"])]
    time.sleep(0.05)
    assert len(rec.effects) == 2


# -- keyspace events of served clients -----------------------------------------------


def _events_until_end(sub: RawClient) -> list:
    out = []
    while True:
        msg = sub.read()
        assert msg[0] in "*>", msg
        kind, _pattern, channel, payload = (x[1] for x in msg[1])
        assert kind == b"pmessage"
        event = channel.split(b":", 1)[1]
        if event == b"end":
            return out
        out.append((event, payload))


def test_keyspace_events_of_served_clients(srv):
    admin = srv.client()
    assert admin.call("CONFIG", "SET", "notify-keyspace-events", "KEA") == ("+", b"OK")
    try:
        sub = srv.client()
        assert sub.call("PSUBSCRIBE", "__keyevent@0__:*")[0] == "*"
        a = srv.block("BRPOPLPUSH", "x", "y", "0")
        b = srv.block("BLPOP", "y", "x", "0")
        c = srv.block("BRPOP", "x", "0")
        p = srv.client()
        p.call("RPUSH", "x", "1", "2", "3")
        assert a.read() == ("$", b"3")
        # b waits on x too, after a: x serves it before y becomes ready.
        assert b.read() == ("*", [("$", b"x"), ("$", b"1")])
        assert c.read() == ("*", [("$", b"x"), ("$", b"2")])
        w = srv.block("BRPOPLPUSH", "z", "y", "0")
        p.call("LPUSH", "z", "4")
        assert w.read() == ("$", b"4")
        assert p.call("BLPOP", "y", "0") == ("*", [("$", b"y"), ("$", b"4")])
        p.call("PUBLISH", "__keyevent@0__:end", "-")
        assert _events_until_end(sub) == [
            (b"rpush", b"x"), (b"lpush", b"y"), (b"rpop", b"x"), (b"lpop", b"x"),
            (b"rpop", b"x"), (b"del", b"x"),
            (b"lpush", b"z"), (b"lpush", b"y"), (b"rpop", b"z"), (b"del", b"z"),
            (b"lpop", b"y"),
        ]
    finally:
        admin.call("CONFIG", "SET", "notify-keyspace-events", "")


def test_waiter_of_another_type_does_not_hold_up_the_list(srv, request):
    z = srv.block("BZPOPMIN", "k", "0")
    w = srv.block("BLPOP", "k", "0")
    c = srv.client()
    c.call("RPUSH", "k", "a")
    try:
        assert not silent(w, 0.3)
        assert w.read() == ("*", [("$", b"k"), ("$", b"a")])
        assert silent(z, 0.05)
    finally:
        c.call("DEL", "k")
        c.call("ZADD", "k", "1", "m")
        assert z.read() == ("*", [("$", b"k"), ("$", b"m"), ("$", b"1")])
        if srv.blocked():
            c.call("RPUSH", "k", "b")
            assert w.read() == ("*", [("$", b"k"), ("$", b"b")])


def test_rename_move_and_swapdb_wake_waiters(srv):
    c = srv.client()
    w = srv.block("BLPOP", "k", "0")
    c.call("RPUSH", "src", "a", "b")
    assert c.call("RENAME", "src", "k") == ("+", b"OK")
    assert w.read() == ("*", [("$", b"k"), ("$", b"a")])
    assert c.call("LRANGE", "k", "0", "-1") == ("*", [("$", b"b")])
    c.call("DEL", "k")
    w = srv.block("BRPOP", "k", "0")
    c.call("SELECT", "1")
    c.call("RPUSH", "k", "from-db1")
    assert c.call("MOVE", "k", "0") == (":", 1)
    assert w.read() == ("*", [("$", b"k"), ("$", b"from-db1")])
    c.call("RPUSH", "k", "swapped")
    w = srv.block("BLPOP", "k", "0")
    assert c.call("SWAPDB", "0", "1") == ("+", b"OK")
    assert w.read() == ("*", [("$", b"k"), ("$", b"swapped")])
    c.call("SELECT", "0")
    c.call("SWAPDB", "0", "1")
