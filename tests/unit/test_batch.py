"""A pipelined batch (executor.call_many, run from ClientConnection._run)
gives exactly what its requests give one read at a time (each through
executor.call): the same replies, commandstats (calls, failed and
rejected calls, a time for every call), errorstats and effects, with
errors, unknown commands, CLIENT REPLY, MULTI, QUIT and a blocking
command in the middle of the batch."""

from __future__ import annotations

import asyncio

from bench import hotpath
from pyredis.config import Config
from pyredis.propagate import Recorder
from pyredis.server import ClientConnection, Server


class _Transport(hotpath._Transport):
    """The benchmark's stub transport, keeping what is written."""

    def __init__(self) -> None:
        super().__init__()
        self.out = bytearray()
        self.closed = False

    def write(self, data) -> None:
        self.out += data

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True


def enc(*args) -> bytes:
    args = [a if isinstance(a, bytes) else str(a).encode() for a in args]
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%b\r\n" % (len(a), a) for a in args)


def _server():
    srv = Server(Config())
    rec = Recorder()
    srv.core.funnel.subscribe(rec)
    conn = ClientConnection(srv)
    conn.connection_made(_Transport())
    return srv, rec, conn


def _stats(srv) -> dict:
    s = srv.core.stats
    cmds = {c.name: (c.calls, c.failed_calls, c.rejected_calls)
            for c in srv.core.commands.values() if c.calls or c.failed_calls or c.rejected_calls}
    timed = all(c.usec > 0 for c in srv.core.commands.values() if c.calls)
    return {"cmds": cmds, "timed": timed, "errors": dict(s.error_replies),
            "total_errors": s.total_error_replies}


def _feed(srv, conn, buffers) -> bytes:
    async def go():
        for b in buffers:
            if conn.transport.closed:  # QUIT
                break
            srv._replies_scheduled = True
            conn.data_received(b)
            srv.flush_replies()
            await asyncio.sleep(0)
    asyncio.run(go())
    return bytes(conn.transport.out)


def _same_as_one_by_one(reqs):
    srv1, rec1, c1 = _server()
    one = _feed(srv1, c1, reqs)
    srv2, rec2, c2 = _server()
    batch = _feed(srv2, c2, [b"".join(reqs)])
    assert batch == one
    assert _stats(srv2) == _stats(srv1)
    assert _stats(srv2)["timed"]
    assert rec2.effects == rec1.effects
    return batch, srv2


def test_errors_in_the_middle_of_a_batch():
    reqs = [enc("SET", "s", "v"), enc("INCR", "n"), enc("NOSUCH", "x"), enc("GET"),
            enc("incr", "n"), enc("LPUSH", "s", "x"), enc("INCR", "s"), enc("LPUSH", "l", "a", "b"),
            enc("LPOP", "l"), enc("SADD", "set", "m"), enc("SADD", "set", "m"), enc("INCR", "n")]
    out, srv = _same_as_one_by_one(reqs)
    assert out.count(b"-") == 4
    cmds = _stats(srv)["cmds"]
    assert cmds["incr"] == (4, 1, 0) and cmds["lpush"] == (2, 1, 0) and "get" not in cmds


def test_incr_reads_counters_as_redis_does():
    reqs = [enc("SET", "a", "1023"), enc("INCR", "a"), enc("SET", "b", "-1"), enc("INCR", "b"),
            enc("INCR", "b"), enc("SET", "c", "007"), enc("INCR", "c"), enc("SET", "d", " 1"),
            enc("INCR", "d"), enc("APPEND", "e", "4"), enc("APPEND", "e", "2"), enc("INCR", "e"),
            enc("SET", "f", "9223372036854775807"), enc("INCR", "f"), enc("INCR", "g"),
            enc("INCR", "g"), enc("GET", "g")]
    out, _ = _same_as_one_by_one(reqs)
    assert out == (b"+OK\r\n:1024\r\n+OK\r\n:0\r\n:1\r\n+OK\r\n"
                   b"-ERR value is not an integer or out of range\r\n+OK\r\n"
                   b"-ERR value is not an integer or out of range\r\n:1\r\n:2\r\n:43\r\n+OK\r\n"
                   b"-ERR increment or decrement would overflow\r\n:1\r\n:2\r\n$1\r\n2\r\n")


def test_client_reply_multi_and_quit_in_a_batch():
    reqs = [enc("INCR", "n"), enc("CLIENT", "REPLY", "OFF"), enc("INCR", "n"), enc("INCR", "x", "y"),
            enc("CLIENT", "REPLY", "ON"), enc("INCR", "n"), enc("CLIENT", "REPLY", "SKIP"),
            enc("INCR", "n"), enc("INCR", "n"), enc("MULTI"), enc("INCR", "n"), enc("LPUSH", "l"),
            enc("INCR", "n"), enc("EXEC"), enc("MULTI"), enc("INCR", "n"), enc("EXEC"),
            enc("QUIT"), enc("INCR", "n")]
    out, srv = _same_as_one_by_one(reqs)
    assert out.startswith(b":1\r\n+OK\r\n:3\r\n:5\r\n+OK\r\n+QUEUED\r\n")
    assert out.endswith(b"*1\r\n:6\r\n+OK\r\n")
    assert _stats(srv)["cmds"]["incr"][0] == 6  # not the one after QUIT


def test_a_blocking_command_in_a_batch_holds_the_rest():
    srv, rec, conn = _server()
    other = ClientConnection(srv)
    other.connection_made(_Transport())
    batch = b"".join([enc("INCR", "n"), enc("BLPOP", "q", "0"), enc("INCR", "n"), enc("GET", "n")])

    async def go():
        srv._replies_scheduled = True
        conn.data_received(batch)
        srv.flush_replies()
        assert bytes(conn.transport.out) == b":1\r\n"
        assert conn.client.blocked is not None
        srv._replies_scheduled = True
        other.data_received(enc("RPUSH", "q", "v"))
        srv.flush_replies()
        for _ in range(3):
            await asyncio.sleep(0)
        srv.flush_replies()
    asyncio.run(go())
    assert bytes(conn.transport.out) == b":1\r\n*2\r\n$1\r\nq\r\n$1\r\nv\r\n:2\r\n$1\r\n2\r\n"
    cmds = _stats(srv)["cmds"]
    assert cmds["incr"] == (2, 0, 0) and cmds["blpop"] == (1, 0, 0) and cmds["get"] == (1, 0, 0)
    assert rec.effects[-2:] == [(0, [b"LPOP", b"q"]), (0, [b"INCR", b"n"])]


def test_bulk_replies_of_any_length():
    values = [b"", b"x", b"%d%b%s%%", b"v" * 1023, b"w" * 1024, b"y" * 5000]
    reqs = [enc("SET", "k%d" % i, v) for i, v in enumerate(values)]
    reqs += [enc("GET", "k%d" % i) for i in range(len(values))]
    out, _ = _same_as_one_by_one(reqs)
    assert out == b"+OK\r\n" * len(values) + b"".join(
        b"$%d\r\n%b\r\n" % (len(v), v) for v in values)


def test_a_gate_of_one_command_refuses_it_in_a_batch_too():
    # Core.set_gate(..., commands=) gates only SWAPDB: the client has no
    # slow path, so the batch loop itself must send SWAPDB to the gates.
    reqs = [enc("SET", "k", "v"), enc("SWAPDB", "0", "1"), enc("GET", "k")]
    srv, rec, conn = _server()
    srv.core.set_gate(lambda c, cmd, args: "ERR not here", "test", commands=("swapdb",))
    out = _feed(srv, conn, [b"".join(reqs)])
    assert out == b"+OK\r\n-ERR not here\r\n$1\r\nv\r\n"
    assert _stats(srv)["cmds"]["swapdb"] == (0, 0, 1)
