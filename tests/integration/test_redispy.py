"""redis-py (sync and asyncio) against a pyredis server.

redis-py 8 opens every connection with ``HELLO 3`` (then ``CLIENT
MAINT_NOTIFICATIONS`` and ``CLIENT SETINFO``, whose errors it ignores), or
with ``HELLO 3 AUTH default <password>`` when given one; ``protocol=2`` skips
HELLO and authenticates with ``AUTH``. Tests of commands that are not
implemented yet are skipped until they land in the command table."""

from __future__ import annotations

import asyncio

import pytest
import redis
import redis.asyncio as aredis
from redis.asyncio.retry import Retry as ARetry
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.utils import str_if_bytes

from pyredis.commands import COMMANDS
from pyredis.testing import ServerThread


def needs(*names):
    missing = [n for n in names if n not in COMMANDS]
    return pytest.mark.skipif(bool(missing), reason=f"not implemented yet: {', '.join(missing)}")


# SET's options come with the strings group; SETNX lands with it.
FULL_SET = needs("setnx")

# redis-py retries (with backoff) on connection and authentication errors.
NO_RETRY = {"retry": Retry(NoBackoff(), 0)}

PROTOCOLS = pytest.mark.parametrize("protocol", [None, 2, 3], ids=["default", "resp2", "resp3"])


@pytest.fixture
def client_factory(pyr):
    made = []

    def make(**kw):
        if kw.get("protocol") is None:
            kw.pop("protocol", None)
        c = redis.Redis(port=pyr.port, socket_timeout=10, **kw)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


def test_default_connection_speaks_resp3(client_factory):
    r = client_factory()
    assert r.ping() is True
    hello = r.execute_command("HELLO")
    assert hello[b"proto"] == 3 and hello[b"server"] == b"redis"
    r2 = client_factory(protocol=2)
    assert r2.ping() is True
    hello2 = r2.execute_command("HELLO")
    # RESP2 gives a flat array; redis-py turns it into a dict all the same
    assert dict(hello2)[b"proto"] == 2 if isinstance(hello2, dict) else hello2[5] == 2


@PROTOCOLS
def test_set_get(client_factory, protocol):
    r = client_factory(protocol=protocol)
    assert r.set("rp:k", "v") is True
    assert r.get("rp:k") == b"v"
    assert r.get("rp:missing") is None
    blob = bytes(range(256)) * 4096
    assert r.set("rp:blob", blob) is True
    assert r.get("rp:blob") == blob


@FULL_SET
@PROTOCOLS
def test_set_options(client_factory, protocol):
    r = client_factory(protocol=protocol)
    r.set("rp:k", "v")
    assert r.set("rp:k", "w", nx=True) is None
    assert r.set("rp:k", "w", xx=True) is True
    assert r.get("rp:k") == b"w"


@PROTOCOLS
def test_decode_responses(client_factory, protocol):
    r = client_factory(protocol=protocol, decode_responses=True)
    r.set("rp:s", "h\u00e9llo")
    assert r.get("rp:s") == "h\u00e9llo"
    assert r.echo("x y") == "x y"
    assert r.ping() is True


@PROTOCOLS
def test_ping_echo_select(client_factory, protocol):
    r = client_factory(protocol=protocol)
    assert r.ping() is True
    assert r.echo("hello") == b"hello"
    r3 = client_factory(protocol=protocol, db=3)
    r3.set("rp:db3", "x")
    assert r3.get("rp:db3") == b"x"
    assert r.get("rp:db3") is None
    r3.delete("rp:db3")


@PROTOCOLS
def test_errors_are_response_errors(client_factory, protocol):
    r = client_factory(protocol=protocol)
    with pytest.raises(redis.ResponseError, match="unknown command"):
        r.execute_command("NOSUCHCOMMAND", "a")
    with pytest.raises(redis.ResponseError, match="wrong number of arguments"):
        r.execute_command("GET")
    assert r.ping() is True  # the connection is still good


@needs("incr", "incrby", "decr")
@PROTOCOLS
def test_incr(client_factory, protocol):
    r = client_factory(protocol=protocol)
    r.delete("rp:n")
    assert r.incr("rp:n") == 1
    assert r.incr("rp:n", 10) == 11
    assert r.decr("rp:n") == 10
    r.set("rp:n", "x")
    with pytest.raises(redis.ResponseError, match="not an integer"):
        r.incr("rp:n")


@needs("mset", "mget")
@PROTOCOLS
def test_mset_mget(client_factory, protocol):
    r = client_factory(protocol=protocol)
    assert r.mset({"rp:a": "1", "rp:b": "2"}) is True
    assert r.mget("rp:a", "rp:b", "rp:nokey") == [b"1", b"2", None]


@needs("expire", "ttl", "persist", "pttl")
@PROTOCOLS
def test_expire_ttl(client_factory, protocol):
    r = client_factory(protocol=protocol)
    r.set("rp:e", "v")
    assert r.ttl("rp:e") == -1
    assert r.expire("rp:e", 1000) is True
    assert 990 <= r.ttl("rp:e") <= 1000
    assert 990_000 <= r.pttl("rp:e") <= 1_000_000
    assert r.persist("rp:e") is True
    assert r.ttl("rp:e") == -1
    assert r.ttl("rp:nokey") == -2
    assert r.expire("rp:nokey", 10) is False


@FULL_SET
@PROTOCOLS
def test_set_with_ttl(client_factory, protocol):
    r = client_factory(protocol=protocol)
    r.set("rp:e2", "v", ex=100)
    assert 90 <= r.ttl("rp:e2") <= 100
    r.set("rp:e2", "v", px=100000)
    assert 90 <= r.ttl("rp:e2") <= 100


@needs("keys", "scan", "del", "exists")
@PROTOCOLS
def test_keys_scan(client_factory, protocol):
    r = client_factory(protocol=protocol)
    names = {b"rp:scan:%d" % i for i in range(150)}
    for n in names:
        r.set(n, "x")
    assert set(r.keys("rp:scan:*")) == names
    assert set(r.scan_iter(match="rp:scan:*", count=20)) == names
    assert r.exists(*list(names)[:5], "rp:nokey") == 5
    assert r.delete(*names) == 150
    assert r.keys("rp:scan:*") == []


@PROTOCOLS
def test_pipeline_without_transaction(client_factory, protocol):
    r = client_factory(protocol=protocol)
    p = r.pipeline(transaction=False)
    for i in range(200):
        p.set(f"rp:p{i}", i)
    for i in range(200):
        p.get(f"rp:p{i}")
    p.execute_command("NOSUCHCOMMAND")
    p.echo("last")
    out = p.execute(raise_on_error=False)
    assert out[:200] == [True] * 200
    assert out[200:400] == [str(i).encode() for i in range(200)]
    assert isinstance(out[400], redis.ResponseError)
    assert out[401] == b"last"


@needs("multi", "exec")
@PROTOCOLS
def test_pipeline_transaction(client_factory, protocol):
    r = client_factory(protocol=protocol)
    with r.pipeline() as p:
        p.set("rp:t", "1").get("rp:t")
        assert p.execute() == [True, b"1"]


@needs("info")
@PROTOCOLS
def test_info(client_factory, protocol):
    r = client_factory(protocol=protocol)
    info = r.info()
    assert "redis_version" in info and "connected_clients" in info
    assert info["connected_clients"] >= 1
    assert "used_memory" in r.info("memory")


@needs("config")
@PROTOCOLS
def test_config_get(client_factory, protocol):
    r = client_factory(protocol=protocol)
    assert r.config_get("maxmemory") == {"maxmemory": "0"}
    assert "maxmemory-policy" in r.config_get("maxmemory*")


@needs("client")
@PROTOCOLS
def test_client_setname_list(client_factory, protocol):
    r = client_factory(protocol=protocol)
    assert r.client_setname("rp-test") is True
    # redis-py decodes CLIENT GETNAME itself in some protocol paths
    assert str_if_bytes(r.client_getname()) == "rp-test"
    mine = [c for c in r.client_list() if c["name"] == "rp-test"]
    assert len(mine) == 1 and mine[0]["cmd"].startswith("client")
    assert r.client_id() == int(mine[0]["id"])


def test_connection_pool_reuses_one_connection(pyr, client_factory):
    r = client_factory()
    ids = {r.execute_command("HELLO")[b"id"] for _ in range(50)}
    assert len(ids) == 1
    pool = r.connection_pool
    assert len(pool._available_connections) == 1 and not pool._in_use_connections
    # a second client of the same pool shares it too
    r2 = redis.Redis(connection_pool=pool)
    assert r2.execute_command("HELLO")[b"id"] in ids


def test_reconnects_after_server_closes(pyr, client_factory):
    r = client_factory()
    first = r.execute_command("HELLO")[b"id"]
    r.execute_command("QUIT")
    assert r.ping() is True
    assert r.execute_command("HELLO")[b"id"] != first


# -- AUTH -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def secured():
    srv = ServerThread(requirepass="s3cret").start()
    yield srv
    srv.stop()


@PROTOCOLS
def test_auth(secured, protocol):
    kw = {} if protocol is None else {"protocol": protocol}
    r = redis.Redis(port=secured.port, password="s3cret", **kw)
    assert r.set("k", "v") is True and r.get("k") == b"v"
    r.close()
    r = redis.Redis(port=secured.port, username="default", password="s3cret", **kw)
    assert r.ping() is True
    r.close()
    bad = redis.Redis(port=secured.port, password="wrong", **kw, **NO_RETRY)
    with pytest.raises(redis.AuthenticationError):
        bad.ping()
    bad.close()
    anon = redis.Redis(port=secured.port, protocol=2, **NO_RETRY)
    with pytest.raises(redis.AuthenticationError):
        anon.get("k")
    anon.close()


def test_auth_asyncio(secured):
    async def main():
        r = aredis.Redis(port=secured.port, password="s3cret")
        assert await r.get("nokey") is None
        await r.aclose()
        bad = aredis.Redis(port=secured.port, password="wrong", retry=ARetry(NoBackoff(), 0))
        with pytest.raises(redis.AuthenticationError):
            await bad.ping()
        await bad.aclose()

    asyncio.run(main())


# -- asyncio --------------------------------------------------------------------------------------


@PROTOCOLS
def test_asyncio_client(pyr, protocol):
    async def main():
        kw = {} if protocol is None else {"protocol": protocol}
        before = len(pyr.core.clients)
        pool = aredis.BlockingConnectionPool(port=pyr.port, max_connections=8, timeout=10, **kw)
        r = aredis.Redis(connection_pool=pool)
        try:
            assert await r.ping() is True
            assert await r.set("rp:async", "1") is True
            assert await r.get("rp:async") == b"1"
            # concurrent commands share a small pool
            await asyncio.gather(*(r.set(f"rp:a{i}", i) for i in range(100)))
            got = await asyncio.gather(*(r.get(f"rp:a{i}") for i in range(100)))
            assert got == [str(i).encode() for i in range(100)]
            async with r.pipeline(transaction=False) as p:
                for i in range(50):
                    p.get(f"rp:a{i}")
                p.echo("end")
                out = await p.execute()
            assert out[:50] == [str(i).encode() for i in range(50)] and out[50] == b"end"
            with pytest.raises(redis.ResponseError):
                await r.execute_command("NOSUCHCOMMAND")
            opened = len(pyr.core.clients) - before
            assert 1 <= opened <= 8, opened
        finally:
            await r.aclose()
            await pool.disconnect()

    asyncio.run(main())


def test_tcp_keepalive_is_set_on_client_sockets():
    import socket as _s
    from pyredis.testing import ServerThread
    with ServerThread(tcp_keepalive=60) as srv:
        c = _s.create_connection(("127.0.0.1", srv.port))
        c.sendall(b"PING\r\n")
        assert c.recv(16) == b"+PONG\r\n"
        conn = next(iter(srv.core.clients.values()))
        server_sock = _s.socket(fileno=_s.dup(conn.fd))
        try:
            assert server_sock.getsockopt(_s.SOL_SOCKET, _s.SO_KEEPALIVE) == 1
            assert server_sock.getsockopt(_s.IPPROTO_TCP, _s.TCP_KEEPIDLE) == 60
            assert server_sock.getsockopt(_s.IPPROTO_TCP, _s.TCP_KEEPINTVL) == 20
        finally:
            server_sock.close()
            c.close()
