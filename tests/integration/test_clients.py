"""Client libraries as users run them against pyredis, doing real work:
pipelines, transactions (WATCH), pub/sub, scripts, blocking pops.

* redis-py, synchronous, with each reply parser it ships: pure Python and
  hiredis, over RESP2 and RESP3;
* redis-py's asyncio client (pure Python and hiredis parsers);
* hiredis's Reader alone over a raw socket (a deep pipeline);
* node's ioredis, installed from the npm registry into a temporary
  directory (skips, saying why, when node/npm are missing or the install
  fails offline); the work it does is tests/integration/js/ioredis_work.js.

The servers come from the pytest plugin this package ships
(``pyredis_session_server``). Script steps skip until EVAL is implemented.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import threading
import time

import hiredis
import pytest
import redis
import redis.asyncio
from redis._parsers import (_AsyncHiredisParser, _AsyncRESP2Parser, _AsyncRESP3Parser,
                            _HiredisParser, _RESP2Parser, _RESP3Parser)

from pyredis.commands import COMMANDS

HAS_SCRIPTS = "eval" in COMMANDS
needs_scripts = pytest.mark.skipif(not HAS_SCRIPTS, reason="EVAL is not implemented yet")

SYNC_VARIANTS = {
    "resp2-python": dict(protocol=2, parser_class=_RESP2Parser),
    "resp3-python": dict(protocol=3, parser_class=_RESP3Parser),
    "resp2-hiredis": dict(protocol=2, parser_class=_HiredisParser),
    "resp3-hiredis": dict(protocol=3, parser_class=_HiredisParser),
}
ASYNC_VARIANTS = {
    "resp2-python": dict(protocol=2, parser_class=_AsyncRESP2Parser),
    "resp3-python": dict(protocol=3, parser_class=_AsyncRESP3Parser),
    "resp2-hiredis": dict(protocol=2, parser_class=_AsyncHiredisParser),
    "resp3-hiredis": dict(protocol=3, parser_class=_AsyncHiredisParser),
}


@pytest.fixture
def server(pyredis_session_server):
    pyredis_session_server.flush()
    return pyredis_session_server


@pytest.fixture(params=list(SYNC_VARIANTS))
def connect(request, server):
    """``connect()`` -> a new redis.Redis of this variant; all closed after."""
    clients = []

    def make():
        # redis-py takes a parser class only through the connection pool.
        pool = redis.ConnectionPool(host=server.host, port=server.port, socket_timeout=10,
                                    **SYNC_VARIANTS[request.param])
        c = redis.Redis.from_pool(pool)
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.close()


# -- redis-py, synchronous ---------------------------------------------------------------------


def test_pipeline(connect):
    r = connect()
    with r.pipeline(transaction=False) as p:
        p.set("s", "v").incrby("n", 5).rpush("l", "a", "b", "c").hset("h", mapping={"f": "1"})
        p.zadd("z", {"one": 1, "two": 2}).sadd("set", "x", "y").expire("s", 100)
        p.incr("l")  # WRONGTYPE, answered in place
        p.lrange("l", 0, -1).hgetall("h").zrange("z", 0, -1, withscores=True)
        p.smembers("set").ttl("s").get("s")
        res = p.execute(raise_on_error=False)
    assert res[:7] == [True, 5, 3, 1, 2, 2, True]
    assert isinstance(res[7], redis.ResponseError) and "WRONGTYPE" in str(res[7])
    res[10] = [tuple(pair) for pair in res[10]]  # RESP3 parsers give lists
    assert res[8:] == [[b"a", b"b", b"c"], {b"f": b"1"}, [(b"one", 1.0), (b"two", 2.0)],
                       {b"x", b"y"}, 100, b"v"]
    with r.pipeline(transaction=False) as p:
        for _ in range(2000):
            p.incr("counter")
        assert p.execute()[-1] == 2000


def test_transaction_and_watch(connect):
    r, other = connect(), connect()
    with r.pipeline() as p:  # MULTI/EXEC
        assert p.set("k", 1).incr("k").get("k").execute() == [True, 2, b"2"]

    calls = []

    def double(pipe):
        calls.append(1)
        value = int(pipe.get("k"))
        if len(calls) == 1:
            other.set("k", 10)  # a concurrent write: EXEC aborts, redis-py retries
        pipe.multi()
        pipe.set("k", value * 2)

    assert r.transaction(double, "k") == [True]
    assert len(calls) == 2 and r.get("k") == b"20"

    with r.pipeline() as p:
        p.watch("k")
        other.incr("k")
        p.multi()
        p.set("k", "mine")
        with pytest.raises(redis.WatchError):
            p.execute()
    assert r.get("k") == b"21"

    with r.pipeline() as p:  # an error inside EXEC leaves the others done
        p.set("a", "x").lpush("a", "y").set("b", "z")
        with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
            p.execute()
    assert r.mget("a", "b") == [b"x", b"z"]


def _messages(ps, want: int, timeout: float = 5.0) -> list:
    out = []
    deadline = time.monotonic() + timeout
    while len(out) < want and time.monotonic() < deadline:
        m = ps.get_message(ignore_subscribe_messages=True, timeout=0.1)
        if m is not None:
            out.append((m["type"], m["pattern"], m["channel"], m["data"]))
    return out


def test_pubsub(connect):
    r, sub = connect(), connect()
    ps = sub.pubsub()
    ps.subscribe("chan")
    ps.psubscribe("news.*")
    handled = []
    ps.subscribe(**{"handled": lambda m: handled.append(m["data"])})
    for _ in range(3):  # the three confirmations
        assert ps.get_message(timeout=5)["type"] in ("subscribe", "psubscribe")
    assert r.pubsub_numsub("chan", "handled") == [(b"chan", 1), (b"handled", 1)]
    assert r.pubsub_numpat() == 1
    assert r.publish("chan", "hello") == 1
    assert r.publish("news.tech", "pyredis") == 1
    assert r.publish("handled", "cb") == 1
    assert r.publish("nobody", "x") == 0
    got = _messages(ps, 2)
    assert got == [("message", None, b"chan", b"hello"),
                   ("pmessage", b"news.*", b"news.tech", b"pyredis")]
    deadline = time.monotonic() + 5
    while not handled and time.monotonic() < deadline:
        assert ps.get_message(timeout=0.1) is None  # a handled message returns None
    assert handled == [b"cb"]
    ps.unsubscribe()
    ps.punsubscribe()
    ps.close()
    deadline = time.monotonic() + 5
    while r.pubsub_numpat() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert r.pubsub_numsub("chan") == [(b"chan", 0)]


def test_pubsub_in_a_thread(connect):
    r, sub = connect(), connect()
    got = []
    ps = sub.pubsub(ignore_subscribe_messages=True)
    ps.subscribe(events=lambda m: got.append(m["data"]))
    worker = ps.run_in_thread(sleep_time=0.05, daemon=True)
    try:
        deadline = time.monotonic() + 5
        while not r.pubsub_numsub("events")[0][1] and time.monotonic() < deadline:
            time.sleep(0.01)
        for i in range(5):
            r.publish("events", i)
        while len(got) < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        worker.stop()
        worker.join(5)
    assert got == [b"0", b"1", b"2", b"3", b"4"]


@needs_scripts
def test_scripts(connect):
    r = connect()
    assert r.eval("return redis.call('INCRBY', KEYS[1], ARGV[1])", 1, "k", 5) == 5
    script = r.register_script("return {KEYS[1], ARGV[1], redis.call('GET', KEYS[1])}")
    r.script_flush()  # the Script object falls back from EVALSHA's NOSCRIPT to loading
    assert script(keys=["k"], args=["a"]) == [b"k", b"a", b"5"]
    assert r.script_exists(script.sha) == [True]
    with r.pipeline() as p:  # scripts inside MULTI
        script(keys=["k"], args=["b"], client=p)
        p.incr("k")
        assert p.execute() == [[b"k", b"b", b"5"], 6]


def test_blocking_pops(connect):
    r, pusher = connect(), connect()
    results = {}

    def pop():
        results["blpop"] = r.blpop(["q1", "q2"], timeout=5)

    t = threading.Thread(target=pop)
    t.start()
    deadline = time.monotonic() + 5
    while r_blocked(pusher) == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert pusher.rpush("q2", "job") == 1
    t.join(10)
    assert results["blpop"] == (b"q2", b"job") or results["blpop"] == [b"q2", b"job"]
    assert r.brpop("empty", timeout=0.1) is None
    pusher.rpush("src", "a", "b")
    assert r.blmove("src", "dst", 1, "RIGHT", "LEFT") == b"b"
    assert r.brpoplpush("src", "dst", 1) == b"a"
    assert r.lrange("dst", 0, -1) == [b"a", b"b"]
    pusher.zadd("z", {"m": 3, "n": 1})
    popped = r.bzpopmin("z", timeout=1)
    assert tuple(popped) == (b"z", b"n", 1.0)


def r_blocked(client) -> int:
    return client.info("clients")["blocked_clients"]


# -- redis-py, asyncio --------------------------------------------------------------------------


@pytest.mark.parametrize("variant", list(ASYNC_VARIANTS))
def test_asyncio_client(server, variant):
    async def main():
        def connect():
            # The asyncio client takes a parser class only through its pool.
            pool = redis.asyncio.ConnectionPool(host=server.host, port=server.port,
                                                socket_timeout=10, **ASYNC_VARIANTS[variant])
            return redis.asyncio.Redis.from_pool(pool)

        r, other, sub = connect(), connect(), connect()
        try:
            async with r.pipeline(transaction=False) as p:
                p.set("s", "v").rpush("l", "a", "b").lrange("l", 0, -1).incr("l").get("s")
                res = await p.execute(raise_on_error=False)
            assert res[:3] == [True, 2, [b"a", b"b"]] and res[4] == b"v"
            assert isinstance(res[3], redis.ResponseError)

            async with r.pipeline(transaction=True) as p:
                assert await p.incr("n").incr("n").execute() == [1, 2]
            async with r.pipeline() as p:
                await p.watch("n")
                await other.set("n", 100)
                p.multi()
                p.incr("n")
                with pytest.raises(redis.WatchError):
                    await p.execute()

            ps = sub.pubsub()
            await ps.subscribe("chan")
            await ps.psubscribe("a.*")
            for _ in range(2):
                assert (await ps.get_message(timeout=5))["type"] in ("subscribe", "psubscribe")
            assert await r.publish("chan", "one") == 1
            assert await r.publish("a.b", "two") == 1
            got = []
            while len(got) < 2:
                m = await asyncio.wait_for(ps.get_message(timeout=5), 10)
                if m is not None:
                    got.append((m["type"], m["channel"], m["data"]))
            assert got == [("message", b"chan", b"one"), ("pmessage", b"a.b", b"two")]
            await ps.aclose()

            async def push_later():
                await asyncio.sleep(0.1)
                return await other.lpush("q", "job")

            popped, pushed = await asyncio.gather(r.blpop(["q"], timeout=5), push_later())
            assert list(popped) == [b"q", b"job"] and pushed == 1
            assert await r.brpop(["none"], timeout=0.1) is None

            if HAS_SCRIPTS:
                assert await r.eval("return ARGV[1] .. KEYS[1]", 1, "k", "v") == b"vk"
        finally:
            for c in (r, other, sub):
                await c.aclose()

    asyncio.run(asyncio.wait_for(main(), 60))


# -- hiredis alone --------------------------------------------------------------------------


def test_hiredis_reader_deep_pipeline(server):
    """hiredis parses what pyredis sends for 10,000 pipelined commands
    written in one go, whatever the TCP segmenting."""
    n = 10_000
    payload = b"".join(b"*3\r\n$3\r\nSET\r\n$%d\r\nk%d\r\n$%d\r\nv%d\r\n"
                       % (len(b"k%d" % i), i, len(b"v%d" % i), i) for i in range(n))
    payload += b"".join(b"*2\r\n$3\r\nGET\r\n$%d\r\nk%d\r\n" % (len(b"k%d" % i), i)
                        for i in range(n))
    reader = hiredis.Reader()
    replies = []
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        sender = threading.Thread(target=s.sendall, args=(payload,))
        sender.start()
        while len(replies) < 2 * n:
            data = s.recv(65536)
            assert data, "server closed the connection"
            reader.feed(data)
            while (reply := reader.gets()) is not False:
                replies.append(reply)
        sender.join(10)
    assert replies[:n] == [b"OK"] * n
    assert replies[n:] == [b"v%d" % i for i in range(n)]


# -- node's ioredis ------------------------------------------------------------------------------

JS = os.path.join(os.path.dirname(__file__), "js", "ioredis_work.js")


@pytest.fixture(scope="module")
def ioredis_modules(tmp_path_factory):
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip("node and npm are needed for the ioredis test (not on PATH)")
    prefix = tmp_path_factory.mktemp("ioredis")
    try:
        proc = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--no-save", "--loglevel=error",
             "--prefix", str(prefix), "ioredis@5"],
            capture_output=True, text=True, timeout=180)
    except subprocess.TimeoutExpired:
        pytest.skip("npm install ioredis took over 180 s (no registry access?)")
    modules = prefix / "node_modules"
    if proc.returncode != 0 or not (modules / "ioredis").is_dir():
        pytest.skip(f"npm install ioredis failed (offline?): {proc.stderr.strip()[-300:]}")
    return node, str(modules)


def test_ioredis(ioredis_modules, server):
    node, modules = ioredis_modules
    args = [node, JS, str(server.port)] + (["scripts"] if HAS_SCRIPTS else [])
    proc = subprocess.run(args, capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, NODE_PATH=modules))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    expected = {
        "pipeline": ["OK", 5, 3, 2, 2, ["a", "b", "c"], {"f1": "1", "f2": "2"},
                     ["one", "1", "two", "2"],
                     "ERR:WRONGTYPE Operation against a key holding the wrong kind of value",
                     "v"],
        "bigPipelineLast": 1000,
        "multi": [[None, "OK"], [None, 2], [None, "2"]],
        "watchAborted": None,
        "afterWatch": "changed",
        "subscribed": 2,
        "published": [1, 1, 0],
        "received": [["message", "chan", "hello"],
                     ["pmessage", "news.*", "news.tech", "pyredis"]],
        "numsub": ["chan", 1],
        "unsubscribed": 1,
        "punsubscribed": 0,
        "blpop": ["b:q", "job1"],
        "brpopTimeout": None,
        "bzpopmin": ["b:z", "m", "3"],
        "dbsize": 7,
    }
    if HAS_SCRIPTS:
        expected.update({"eval": 7, "defined": [9, 11], "dbsize": 8})
    assert out == expected
