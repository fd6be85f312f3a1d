"""What a command sends into the funnel (AOF, classic replicas, global
log): its effects only when it changed the dataset, never the argv of a
write that failed."""

from __future__ import annotations

from pyredis.core import Core
from pyredis.executor import call
from pyredis.propagate import Recorder


def _core():
    core = Core()
    rec = Recorder()
    core.funnel.subscribe(rec)
    return core, rec, core.new_client()


def test_a_write_that_fails_on_a_key_it_found_expired_sends_only_the_expiry():
    # LSET finds l expired: the keyspace deletes it (and sends that DEL),
    # then LSET fails with "no such key". Redis propagates the DEL alone;
    # sending the LSET too made every replica and global member replay a
    # failing command (a member applying it as an op counted an error).
    core, rec, c = _core()
    call(c, [b"RPUSH", b"l", b"a"])
    core.ks.dbs[0].expires[b"l"] = 1          # long past
    rec.effects.clear()
    assert call(c, [b"LSET", b"l", b"0", b"x"]) == b"-ERR no such key\r\n"
    assert rec.effects == [(0, [b"DEL", b"l"])]


def test_a_write_that_fails_without_expiring_anything_sends_nothing():
    core, rec, c = _core()
    call(c, [b"SET", b"s", b"v"])
    rec.effects.clear()
    assert call(c, [b"LPUSH", b"s", b"x"]).startswith(b"-WRONGTYPE")
    assert call(c, [b"LSET", b"missing", b"0", b"x"]) == b"-ERR no such key\r\n"
    assert rec.effects == []


def test_a_write_that_works_after_an_expiry_sends_both():
    core, rec, c = _core()
    call(c, [b"RPUSH", b"l", b"a"])
    core.ks.dbs[0].expires[b"l"] = 1
    rec.effects.clear()
    assert call(c, [b"RPUSH", b"l", b"b"]) == b":1\r\n"
    assert rec.effects == [(0, [b"DEL", b"l"]), (0, [b"RPUSH", b"l", b"b"])]


def test_sinks_subscribed_last_see_every_effect_after_the_others():
    # The global member describes effects in the classic stream: it must
    # come after the stream's sink whenever either subscribed.
    from pyredis.propagate import Funnel
    seen = []

    class Sink:
        def __init__(self, name):
            self.name = name

        def effect(self, db, args):
            seen.append(self.name)

        def unit(self, begin):
            seen.append((self.name, begin))

    f = Funnel()
    last, a, b = Sink("last"), Sink("a"), Sink("b")
    f.subscribe(a)
    f.subscribe(last, last=True)
    f.subscribe(b)
    f.emit(0, [b"SET", b"k", b"v"])
    assert seen == ["a", "b", "last"]
    f.unsubscribe(a)
    f.subscribe(a)
    seen.clear()
    f.begin_unit()
    assert not f.in_unit
    f.emit(0, [b"SET", b"k", b"v"])
    assert f.in_unit
    f.end_unit()
    assert not f.in_unit
    assert seen == [("b", True), ("a", True), ("last", True), "b", "a", "last",
                    ("b", False), ("a", False), ("last", False)]
    f.unsubscribe(last)
    f.subscribe(Sink("c"))
    assert [s.name for s in f.sinks] == ["b", "a", "c"]
