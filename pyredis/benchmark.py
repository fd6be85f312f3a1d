"""A small load generator for ``pyredis bench``, shaped like redis-benchmark.

``clients`` connections (asyncio, uvloop when present) share a budget of
``requests`` per test; each sends ``pipeline`` commands at a time and waits
for their replies, parsed by hiredis. Commands are encoded before the clock
starts (a pool of them cycles, with random keys drawn from ``keyspace``), so
the loop spends its time sending and parsing, not building requests.

It runs in one Python process, so on a fast server the generator is the
bottleneck: use it for a quick look or a comparison of settings, and
redis-benchmark (see bench/README.md in the repository) for numbers to
publish. Latency of a request is that of its pipeline batch, as
redis-benchmark counts it.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field

import hiredis

POOL = 1024  # distinct encoded commands per test, cycled

TESTS = ("ping", "set", "get", "incr", "lpush", "rpush", "lpop", "rpop", "sadd", "hset",
         "spop", "zadd", "zpopmin", "lrange_100", "mset")
DEFAULT_TESTS = "ping,set,get,incr,lpush,rpop,sadd,hset,zadd,lrange_100,mset"


def encode(*args: bytes) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%b\r\n" % (len(a), a) for a in args)


def _key(prefix: bytes, keyspace: int, rnd: random.Random) -> bytes:
    n = rnd.randrange(keyspace) if keyspace else 0
    return prefix + b"%012d" % n


def commands_for(test: str, data_size: int, keyspace: int, seed: int = 0) -> list[bytes]:
    """``POOL`` encoded requests for ``test`` (names as redis-benchmark -t)."""
    rnd = random.Random(seed)
    value = b"x" * data_size
    out = []
    for _ in range(POOL):
        k = _key(b"key:", keyspace, rnd)
        e = _key(b"element:", keyspace, rnd)
        out.append({
            "ping": lambda: encode(b"PING"),
            "set": lambda: encode(b"SET", k, value),
            "get": lambda: encode(b"GET", k),
            "incr": lambda: encode(b"INCR", _key(b"counter:", keyspace, rnd)),
            "lpush": lambda: encode(b"LPUSH", b"mylist", value),
            "rpush": lambda: encode(b"RPUSH", b"mylist", value),
            "lpop": lambda: encode(b"LPOP", b"mylist"),
            "rpop": lambda: encode(b"RPOP", b"mylist"),
            "sadd": lambda: encode(b"SADD", b"myset", e),
            "spop": lambda: encode(b"SPOP", b"myset"),
            "hset": lambda: encode(b"HSET", b"myhash", e, value),
            "zadd": lambda: encode(b"ZADD", b"myzset", b"%d" % rnd.randrange(1000), e),
            "zpopmin": lambda: encode(b"ZPOPMIN", b"myzset"),
            "lrange_100": lambda: encode(b"LRANGE", b"mylist", b"0", b"99"),
            "mset": lambda: encode(b"MSET", *[x for i in range(10)
                                              for x in (_key(b"key:", keyspace, rnd), value)]),
        }[test]())
    return out


def setup_for(test: str, data_size: int) -> list[bytes]:
    """Requests run before timing, so that reading tests find data."""
    if test == "lrange_100":
        return [encode(b"DEL", b"mylist"),
                encode(b"RPUSH", b"mylist", *([b"x" * data_size] * 100))]
    return []


@dataclass
class Result:
    test: str
    requests: int
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str = ""

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies_ms:
            return 0.0
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]

    @property
    def avg_ms(self) -> float:
        return sum(self.latencies_ms) / len(self.latencies_ms) if self.latencies_ms else 0.0


class _Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.parser = hiredis.Reader()

    async def replies(self, n: int) -> list:
        out = []
        while len(out) < n:
            reply = self.parser.gets()
            if reply is False:
                data = await self.reader.read(65536)
                if not data:
                    raise ConnectionError("server closed the connection")
                self.parser.feed(data)
                continue
            out.append(reply)
        return out

    async def call(self, payload: bytes, n: int = 1) -> list:
        self.writer.write(payload)
        return await self.replies(n)

    def close(self) -> None:
        self.writer.close()


async def _connect(host: str, port: int, password: str, dbnum: int) -> _Conn:
    conn = _Conn(*await asyncio.open_connection(host, port))
    prelude = b""
    count = 0
    if password:
        prelude += encode(b"AUTH", password.encode())
        count += 1
    if dbnum:
        prelude += encode(b"SELECT", b"%d" % dbnum)
        count += 1
    if count:
        for reply in await conn.call(prelude, count):
            if isinstance(reply, hiredis.ReplyError):
                conn.close()
                raise ConnectionError(str(reply))
    return conn


async def run_test(test: str, host: str, port: int, *, clients: int, requests: int,
                   pipeline: int, data_size: int, keyspace: int, password: str = "",
                   dbnum: int = 0) -> Result:
    conns = [await _connect(host, port, password, dbnum) for _ in range(clients)]
    try:
        for payload in setup_for(test, data_size):
            await conns[0].call(payload)
        pool = commands_for(test, data_size, keyspace)
        result = Result(test, requests, 0.0)
        remaining = [requests]

        async def worker(conn: _Conn, offset: int) -> None:
            i = offset
            while remaining[0] > 0:
                n = min(pipeline, remaining[0])
                remaining[0] -= n
                batch = b"".join(pool[(i + j) % POOL] for j in range(n))
                i += n
                t0 = time.perf_counter()
                replies = await conn.call(batch, n)
                ms = (time.perf_counter() - t0) * 1000
                result.latencies_ms.extend([ms] * n)
                for r in replies:
                    if isinstance(r, hiredis.ReplyError):
                        result.errors += 1
                        result.first_error = result.first_error or str(r)

        start = time.perf_counter()
        await asyncio.gather(*(worker(c, k * 97) for k, c in enumerate(conns)))
        result.seconds = time.perf_counter() - start
        return result
    finally:
        for c in conns:
            c.close()


def run(tests: list[str], host: str, port: int, **kwargs) -> list[Result]:
    """Run each test in turn on a fresh event loop; the list of results."""
    try:
        import uvloop
        new_loop = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvloop is a dependency on POSIX
        new_loop = asyncio.new_event_loop
    out = []
    for test in tests:
        loop = new_loop()
        try:
            out.append(loop.run_until_complete(run_test(test, host, port, **kwargs)))
        finally:
            loop.close()
    return out


CSV_HEADER = ('"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms",'
              '"p95_latency_ms","p99_latency_ms","max_latency_ms"')


def csv_line(r: Result) -> str:
    lat = r.latencies_ms
    cells = [r.rps, r.avg_ms, min(lat, default=0.0), r.percentile(50), r.percentile(95),
             r.percentile(99), max(lat, default=0.0)]
    return f'"{label(r.test)}",' + ",".join(f'"{v:.3f}"' for v in cells)


def label(test: str) -> str:
    if test == "lrange_100":
        return "LRANGE_100 (first 100 elements)"
    if test == "mset":
        return "MSET (10 keys)"
    return test.upper()


def quiet_line(r: Result) -> str:
    return (f"{label(r.test)}: {r.rps:.2f} requests per second, "
            f"p50={r.percentile(50):.3f} msec")
