"""blocking.py without sockets: FIFO fairness, serving after a write,
effects through the funnel, timeouts, unblocking on disconnect."""

import pyredis.commands  # noqa: F401  (fills the command table)
from pyredis.blocking import BLOCKED, block, serve_ready_keys
from pyredis.core import Core
from pyredis.propagate import Recorder
from pyredis.protocol import NULL_ARRAY


def make_core():
    core = Core()
    timers = []

    class Timer:
        def __init__(self, fn, args):
            self.fn, self.args, self.cancelled = fn, args, False

        def cancel(self):
            self.cancelled = True

    def call_later(delay, fn, *args):
        t = Timer(fn, args)
        timers.append(t)
        return t

    core.call_later = call_later
    return core, timers


def client(core, out):
    c = core.new_client(addr="127.0.0.1:%d" % len(out))
    out[c.id] = []
    c.send = out[c.id].append
    return c


def pop_serve(c, key):
    v = c.db.get_for_write(key)
    if not v:
        return None
    c.db.delete(key)
    return [key, v], [[b"DEL", key]]


def test_first_blocked_is_served_first_and_effect_follows_the_write():
    core, _ = make_core()
    rec = Recorder()
    core.funnel.subscribe(rec)
    out = {}
    a, b = client(core, out), client(core, out)
    assert block(a, [b"k"], 0, pop_serve, NULL_ARRAY) is BLOCKED
    block(b, [b"k", b"other"], 0, pop_serve, NULL_ARRAY)
    assert core.blocked_clients == 2
    a.db.set(b"k", b"v1")
    serve_ready_keys(core)
    assert out[a.id] == [b"*2\r\n$1\r\nk\r\n$2\r\nv1\r\n"]
    assert out[b.id] == []
    assert a.blocked is None and b.blocked is not None
    assert rec.effects == [(0, [b"DEL", b"k"])]
    b.db.set(b"other", b"v2")
    serve_ready_keys(core)
    assert out[b.id] == [b"*2\r\n$5\r\nother\r\n$2\r\nv2\r\n"]
    assert core.blocked_clients == 0
    assert not core.ks.dbs[0].blocked


def test_timeout_replies_and_unblocks():
    core, timers = make_core()
    out = {}
    a = client(core, out)
    block(a, [b"k"], 0.5, pop_serve, NULL_ARRAY)
    assert len(timers) == 1
    timers[0].fn(*timers[0].args)
    assert out[a.id] == [b"*-1\r\n"]
    assert a.blocked is None and not core.ks.dbs[0].blocked


def test_disconnect_while_blocked_leaves_no_waiter():
    core, timers = make_core()
    out = {}
    a = client(core, out)
    block(a, [b"k"], 1, pop_serve, NULL_ARRAY)
    core.remove_client(a)
    assert timers[0].cancelled
    assert core.blocked_clients == 0 and not core.ks.dbs[0].blocked


def test_write_in_another_database_does_not_wake():
    core, _ = make_core()
    out = {}
    a = client(core, out)
    block(a, [b"k"], 0, pop_serve, NULL_ARRAY)
    core.ks.dbs[1].set(b"k", b"v")
    serve_ready_keys(core)
    assert out[a.id] == [] and a.blocked is not None
