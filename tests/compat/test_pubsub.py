"""Pub/sub against the reference: (P)(UN)SUBSCRIBE confirmations, PUBLISH
delivery and counts, the RESP2 subscribed context, RESP3 pushes, PUBSUB
introspection and clean-up on disconnect.

Each test opens the same set of connections on both servers (a
:class:`Twin` is one connection to each) and compares every reply and
every message. Redis 6.2 walks its channel and pattern tables in hash
order where several entries are involved (UNSUBSCRIBE without arguments,
PUBSUB CHANNELS, several patterns matching one PUBLISH); those cases
compare as sets.
"""

from __future__ import annotations

import select
import time

import pytest

from conftest import RawClient, encode_command

pytestmark = pytest.mark.usefixtures("pyr", "ref")


class Twin:
    """One connection to pyredis and one to the reference, driven alike."""

    def __init__(self, pyr_port: int, ref_port: int) -> None:
        self.p = RawClient(pyr_port, timeout=5)
        self.r = RawClient(ref_port, timeout=5)

    def call(self, *args):
        expected = self.r.call(*args)
        got = self.p.call(*args)
        assert got == expected, f"{args!r}: pyredis {got!r} != redis {expected!r}"
        return got

    def send(self, *args) -> None:
        data = encode_command(args)
        self.r.send_raw(data)
        self.p.send_raw(data)

    def read(self):
        """The next reply or message, the same on both."""
        expected = self.r.read()
        got = self.p.read()
        assert got == expected, f"pyredis {got!r} != redis {expected!r}"
        return got

    def read_n(self, n: int) -> list:
        return [self.read() for _ in range(n)]

    def read_set(self, n: int) -> list:
        """``n`` replies whose order Redis leaves to its hash tables."""
        exp = [self.r.read() for _ in range(n)]
        got = [self.p.read() for _ in range(n)]
        assert sorted(map(repr, got)) == sorted(map(repr, exp)), f"{got!r} != {exp!r}"
        return got

    def quiet(self, wait: float = 0.15) -> None:
        """Nothing more arrives on either connection (within ``wait`` s)."""
        for c, name in ((self.p, "pyredis"), (self.r, "redis")):
            assert c.parser.get() is None, f"{name} sent more"
        ready, _, _ = select.select([self.p.sock, self.r.sock], [], [], wait)
        for sock in ready:
            name = "pyredis" if sock is self.p.sock else "redis"
            assert False, f"{name} sent unexpected {sock.recv(65536)!r}"

    def close(self) -> None:
        self.p.close()
        self.r.close()


@pytest.fixture
def twins(pyr, ref):
    made = []

    def make(resp3: bool = False) -> Twin:
        t = Twin(pyr.port, ref.port)
        made.append(t)
        if resp3:
            t.p.call("HELLO", "3")
            t.r.call("HELLO", "3")
        return t

    yield make
    for t in made:
        t.close()


def _wait_numsub(twin: Twin, channel: str, n: int) -> None:
    """Disconnects are processed asynchronously: wait (bounded) until both
    servers count ``n`` subscribers."""
    deadline = time.monotonic() + 5
    while True:
        got = (twin.p.call("PUBSUB", "NUMSUB", channel), twin.r.call("PUBSUB", "NUMSUB", channel))
        if got[0] == got[1] == ("*", [("$", channel.encode()), (":", n)]):
            return
        assert time.monotonic() < deadline, got
        time.sleep(0.02)


def _msg(kind, *items):
    return ("*", [("$", kind)] + [("$", i) for i in items])


# -- confirmations -------------------------------------------------------------


def test_subscribe_confirmations_and_counts(twins):
    s = twins()
    s.call("SUBSCRIBE", "a", "b", "a")
    s.read_n(2)
    s.call("PSUBSCRIBE", "p*", "p*", "q?")
    s.read_n(2)
    # Unsubscribing from something never subscribed still confirms.
    s.call("UNSUBSCRIBE", "zz", "a")
    s.read()
    s.call("PUNSUBSCRIBE", "nope", "p*")
    s.read()
    s.call("UNSUBSCRIBE", "b")
    s.call("PUNSUBSCRIBE", "q?")
    # Nothing left: one confirmation with a nil channel and 0.
    assert s.call("UNSUBSCRIBE") == ("*", [("$", b"unsubscribe"), ("$", None), (":", 0)])
    s.call("PUNSUBSCRIBE")
    # Out of the subscribed context again.
    s.call("SET", "k", "v")
    s.call("GET", "k")
    s.quiet()


def test_unsubscribe_all(twins):
    s = twins()
    s.call("SUBSCRIBE", "c1", "c2", "c3")
    s.read_n(2)
    s.call("PSUBSCRIBE", "x*", "y*", "z*")
    s.read_n(2)
    # Channels leave in hash order in Redis; the counts run down alike.
    s.send("UNSUBSCRIBE")
    exp = [s.r.read() for _ in range(3)]
    got = [s.p.read() for _ in range(3)]
    assert [r[1][2] for r in got] == [r[1][2] for r in exp] == [(":", 5), (":", 4), (":", 3)]
    assert sorted(r[1][1] for r in got) == sorted(r[1][1] for r in exp)
    assert {r[1][0] for r in got} == {r[1][0] for r in exp} == {("$", b"unsubscribe")}
    # Patterns leave in subscription order (a list in Redis).
    s.call("PUNSUBSCRIBE")
    s.read_n(2)
    s.call("PING")
    s.quiet()


def test_wrong_arity(twins):
    s = twins()
    s.call("SUBSCRIBE")
    s.call("PSUBSCRIBE")
    s.call("PUBLISH", "a")
    s.call("PUBLISH", "a", "b", "c")
    s.call("PUBSUB")


# -- the RESP2 subscribed context ------------------------------------------------


def test_resp2_context_allows_only_pubsub_commands(twins):
    s = twins()
    s.call("SUBSCRIBE", "a")
    s.call("GET", "x")
    s.call("SET", "x", "1")
    s.call("PUBLISH", "a", "m")
    s.call("MULTI")
    s.call("pubsub", "numpat")
    s.call("HELLO", "3")
    # PING answers with a pong message here.
    s.call("PING")
    s.call("PING", "hello")
    s.call("PSUBSCRIBE", "b*")
    s.call("PUNSUBSCRIBE", "b*")
    s.call("UNSUBSCRIBE", "a")
    s.call("PING")
    s.call("GET", "x")


def test_subscribe_inside_multi(twins):
    s = twins()
    s.call("MULTI")
    s.call("SUBSCRIBE", "m1")
    s.call("EXEC")
    s.call("GET", "x")
    s.call("UNSUBSCRIBE")


def test_quit_while_subscribed(twins, pyr):
    s, p = twins(), twins()
    s.call("SUBSCRIBE", "q")
    s.call("QUIT")
    assert s.p.is_closed() and s.r.is_closed()
    _wait_numsub(p, "q", 0)
    p.call("PUBLISH", "q", "gone")


# -- delivery ----------------------------------------------------------------------


def test_publish_counts_and_message_order(twins):
    a, b, p = twins(), twins(), twins()
    a.call("SUBSCRIBE", "news")
    b.call("SUBSCRIBE", "news", "other")
    b.read()
    a.call("PSUBSCRIBE", "n*")
    # Subscribers of the channel first (in subscription order), then the
    # pattern's: a gets message then pmessage.
    assert p.call("PUBLISH", "news", "hi") == (":", 3)
    assert a.read() == _msg(b"message", b"news", b"hi")
    assert a.read() == _msg(b"pmessage", b"n*", b"news", b"hi")
    assert b.read() == _msg(b"message", b"news", b"hi")
    assert p.call("PUBLISH", "other", "x") == (":", 1)
    b.read()
    assert p.call("PUBLISH", "nobody", "x") == (":", 1)
    a.read()
    assert p.call("PUBLISH", "zzz", "x") == (":", 0)
    a.quiet()
    b.quiet()


def test_same_pattern_several_clients(twins):
    c1, c2, c3, p = twins(), twins(), twins(), twins()
    for c in (c1, c2, c3):
        c.call("PSUBSCRIBE", "ev.*")
    p.call("PUBLISH", "ev.one", "1")
    for c in (c1, c2, c3):
        c.read()
    c2.call("PUNSUBSCRIBE", "ev.*")
    p.call("PUBLISH", "ev.two", "2")
    c1.read()
    c3.read()
    c2.quiet()
    p.call("PUBSUB", "NUMPAT")


def test_several_patterns_match_one_channel(twins):
    s, p = twins(), twins()
    s.call("PSUBSCRIBE", "*", "a*", "a?c", "[ab]bc", "x*")
    s.read_n(4)
    p.call("PUBLISH", "abc", "m")
    # Redis walks its pattern table in hash order.
    got = s.read_set(4)
    assert sorted(m[1][1][1] for m in got) == [b"*", b"[ab]bc", b"a*", b"a?c"]
    s.quiet()


@pytest.mark.parametrize("pattern, channel", [
    ("h?llo", "hello"), ("h?llo", "hllo"), ("h*llo", "heeeello"), ("h[ae]llo", "hallo"),
    ("h[ae]llo", "hillo"), ("h[^e]llo", "hallo"), ("h[^e]llo", "hello"), ("h[a-c]llo", "hbllo"),
    (r"h\*llo", "h*llo"), (r"h\*llo", "hxllo"), ("*", ""), ("", ""), ("[", "["),
])
def test_pattern_matching(twins, pattern, channel):
    s, p = twins(), twins()
    s.call("PSUBSCRIBE", pattern)
    n = p.call("PUBLISH", channel, "m")[1]
    if n:
        s.read()
    s.quiet()


def test_binary_channels_and_messages(twins):
    s, p = twins(), twins()
    chan = b"ch\x00\r\n\xff"
    s.call("SUBSCRIBE", chan)
    s.call("PSUBSCRIBE", b"ch\x00*")
    p.call("PUBLISH", chan, b"\x00\r\n" * 100)
    s.read_n(2)
    p.call("PUBSUB", "NUMSUB", chan)
    p.call("PUBLISH", chan, b"")
    s.read_n(2)


def test_big_message(twins):
    s, p = twins(), twins()
    s.call("SUBSCRIBE", "big")
    p.call("PUBLISH", "big", "x" * 300_000)
    s.read()


# -- RESP3 --------------------------------------------------------------------------


def test_resp3_pushes_and_any_command(twins):
    s, p = twins(resp3=True), twins()
    assert s.call("SUBSCRIBE", "a")[0] == ">"
    s.call("PSUBSCRIBE", "a*", "b*")
    s.read()
    # A RESP3 client may run anything while subscribed.
    s.call("SET", "k", "v")
    s.call("GET", "k")
    s.call("GET", "missing")
    s.call("PING")
    s.call("PING", "x")
    p.call("PUBLISH", "a", "m")
    s.read_n(2)
    s.call("UNSUBSCRIBE")
    s.call("PUNSUBSCRIBE")
    s.read()
    s.call("UNSUBSCRIBE")
    s.call("PUNSUBSCRIBE")
    s.quiet()


def test_resp3_publish_to_self_keeps_reply_order(twins):
    s = twins(resp3=True)
    s.call("SUBSCRIBE", "self")
    # Pipelined: each message sits between the replies around its PUBLISH.
    s.send("SET", "x", "1")
    s.send("PUBLISH", "self", "one")
    s.send("PUBLISH", "self", "two")
    s.send("GET", "x")
    s.read_n(6)
    s.call("PUBLISH", "self", "three")
    s.read()
    s.quiet()


def test_resp2_and_resp3_subscribers_together(twins):
    s2, s3, p = twins(), twins(resp3=True), twins(resp3=True)
    s2.call("SUBSCRIBE", "mix")
    s3.call("SUBSCRIBE", "mix")
    s2.call("PSUBSCRIBE", "m*")
    s3.call("PSUBSCRIBE", "m*")
    p.call("PUBLISH", "mix", "hello")
    s2.read_n(2)
    s3.read_n(2)


# -- PUBSUB ----------------------------------------------------------------------------


def test_pubsub_introspection(twins):
    s1, s2, q = twins(), twins(), twins()
    q.call("PUBSUB", "CHANNELS")
    q.call("PUBSUB", "NUMPAT")
    s1.call("SUBSCRIBE", "news.tech")
    s2.call("SUBSCRIBE", "news.tech", "sport")
    s2.read()
    s1.call("PSUBSCRIBE", "n*", "s*")
    s1.read()
    s2.call("PSUBSCRIBE", "n*")
    got, exp = q.p.call("PUBSUB", "CHANNELS"), q.r.call("PUBSUB", "CHANNELS")
    assert got[0] == exp[0] == "*"
    assert sorted(got[1]) == sorted(exp[1]) == [("$", b"news.tech"), ("$", b"sport")]
    q.call("PUBSUB", "CHANNELS", "news.*")
    q.call("PUBSUB", "channels", "x*")
    q.call("PUBSUB", "NUMSUB", "news.tech", "sport", "none", "news.tech")
    q.call("PUBSUB", "NUMSUB")
    # Distinct patterns, not subscriptions.
    q.call("PUBSUB", "NUMPAT")
    q.call("PUBSUB", "HELP")
    q.call("PUBSUB", "help", "x")
    q.call("PUBSUB", "NUMPAT", "x")
    q.call("PUBSUB", "CHANNELS", "a", "b")
    q.call("PUBSUB", "nosuch")
    q3 = twins(resp3=True)
    q3.call("PUBSUB", "NUMSUB", "sport")
    q3.call("PUBSUB", "CHANNELS", "s*")
    q3.call("PUBSUB", "NUMPAT")


def test_disconnect_cleans_up(twins, pyr):
    s, p = twins(), twins()
    s.call("SUBSCRIBE", "gone", "also")
    s.read()
    s.call("PSUBSCRIBE", "g*")
    s.close()
    _wait_numsub(p, "gone", 0)
    p.call("PUBLISH", "gone", "x")
    p.call("PUBSUB", "NUMPAT")
    p.call("PUBSUB", "CHANNELS", "also")
    core = pyr.core
    assert "gone" not in {k.decode() for k in core.pubsub.channels}
    assert not core.pubsub.patterns


def test_registry_counters_and_client_kind(raw_pyr, pyr):
    """INFO's pubsub_channels/pubsub_patterns read the registry's sizes; a
    subscribed client is of the pubsub class while it has subscriptions."""
    ps = pyr.core.pubsub
    base_c, base_p = len(ps.channels), len(ps.patterns)
    raw_pyr.call("SUBSCRIBE", "k1", "k2")
    raw_pyr.read()
    raw_pyr.call("PSUBSCRIBE", "k*")
    assert (len(ps.channels), len(ps.patterns)) == (base_c + 2, base_p + 1)
    mine = [c for c in pyr.core.clients.values() if c.channels and b"k1" in c.channels]
    assert len(mine) == 1 and mine[0].kind == "pubsub"
    raw_pyr.call("UNSUBSCRIBE")
    raw_pyr.read()
    raw_pyr.call("PUNSUBSCRIBE")
    assert (len(ps.channels), len(ps.patterns)) == (base_c, base_p)
    assert mine[0].kind == "normal" and not mine[0].slowpath
