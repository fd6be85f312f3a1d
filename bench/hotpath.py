"""In-process cost of the request path, in CPU µs per request.

    python -m bench.hotpath                       # every test, 9 rounds
    python -m bench.hotpath -t set,get,zadd --rounds 15
    PYTHONPATH=/some/other/checkout python -m bench.hotpath   # compare trees

Runs the server's whole Python path for pipelined requests without a
socket: a ``Server`` with ``-c`` client connections on a stub transport;
each round feeds every connection a buffer of ``-P`` requests through
``ClientConnection.data_received`` (RESP reader, executor, handler, reply
encoding) and then ``Server.flush_replies`` (the end of an event-loop
turn), as the real server does when redis-benchmark sends ``-P 16``. The
requests are redis-benchmark's own (``key:<12 digits>``, ``ZADD myzset
<rand> element:<rand>``, MSET of 10 keys, ...), with random parts drawn
from ``-r`` values. Containers are filled to the key space before timing,
so a round sees them at the size a long benchmark run reaches.

What it leaves out is the kernel: reads, writes and the event loop's
polling. Time is ``time.process_time()``, so other load on the machine
moves it much less than ops/s (it still moves it some: caches and cores
are shared). The median of the rounds is printed, with the spread.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import statistics
import tempfile
import time

from pyredis.config import Config
from pyredis.server import ClientConnection, Server


class _Transport:
    """Enough of an asyncio transport for ClientConnection: writes are
    counted and dropped, the kernel always takes everything."""

    def __init__(self) -> None:
        self.written = 0

    def write(self, data) -> None:
        self.written += len(data)

    def get_write_buffer_size(self) -> int:
        return 0

    def is_closing(self) -> bool:
        return False

    def get_extra_info(self, name, default=None):
        return {"peername": ("127.0.0.1", 40000), "sockname": ("127.0.0.1", 6379)}.get(
            name, default)

    def set_write_buffer_limits(self, high=None, low=None) -> None:
        pass

    def close(self) -> None:
        pass


def resp(*args: bytes) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%b\r\n" % (len(a), a) for a in args)


def generators(rnd: random.Random, keyspace: int) -> dict:
    """Test name -> a function making one request, as redis-benchmark
    7.0 sends it with ``-r keyspace``."""
    def r() -> bytes:
        return b"%012d" % rnd.randrange(keyspace)

    return {
        "set": lambda: resp(b"SET", b"key:" + r(), b"xxx"),
        "get": lambda: resp(b"GET", b"key:" + r()),
        "incr": lambda: resp(b"INCR", b"counter:" + r()),
        "lpush": lambda: resp(b"LPUSH", b"mylist", b"xxx"),
        "lpop": lambda: resp(b"LPOP", b"mylist"),
        "sadd": lambda: resp(b"SADD", b"myset", b"element:" + r()),
        "hset": lambda: resp(b"HSET", b"myhash", b"element:" + r(), b"xxx"),
        "zadd": lambda: resp(b"ZADD", b"myzset", r(), b"element:" + r()),
        "mset": lambda: resp(b"MSET", *[x for _ in range(10) for x in (b"key:" + r(), b"xxx")]),
        "lrange_100": lambda: resp(b"LRANGE", b"mylist", b"0", b"99"),
    }


def _fill(conn, srv, test: str, keyspace: int) -> None:
    """Bring the data a test works on to its steady-state size."""
    def run(cmds) -> None:
        for i in range(0, len(cmds), 1000):
            conn.data_received(b"".join(cmds[i:i + 1000]))
            srv.flush_replies()

    if test in ("get", "set", "mset"):
        for i in range(0, keyspace, 1000):
            run([resp(b"MSET", *[x for j in range(i, min(keyspace, i + 1000))
                                 for x in (b"key:%012d" % j, b"xxx")])])
    elif test in ("lpop", "lrange_100"):
        run([resp(b"LPUSH", b"mylist", b"xxx")] * 1000)
    elif test == "sadd":
        run([resp(b"SADD", b"myset", b"element:%012d" % j) for j in range(keyspace)])
    elif test == "hset":
        run([resp(b"HSET", b"myhash", b"element:%012d" % j, b"xxx") for j in range(keyspace)])
    elif test == "zadd":
        run([resp(b"ZADD", b"myzset", b"%d" % j, b"element:%012d" % j) for j in range(keyspace)])


async def measure(test: str, clients: int, pipeline: int, keyspace: int, rounds: int,
                  turns: int, global_dir: str | None = None) -> list:
    """CPU µs per request of each round; with ``global_dir``, global
    replication is on (ServerID 1, a log there with ``fsync everysec``, no
    peers), so every write is also recorded in the global log."""
    cfg = Config()
    if global_dir:
        cfg.global_server_id = 1
        cfg.global_log_dir = global_dir
        cfg.global_log_fsync = "everysec"
    srv = Server(cfg)
    if global_dir:
        from pyredis.replication.gdriver import GlobalReplication
        gr = GlobalReplication(srv.core)
    conns = []
    for _ in range(clients):
        c = ClientConnection(srv)
        c.connection_made(_Transport())
        conns.append(c)
    _fill(conns[0], srv, test, keyspace)
    make = generators(random.Random(1), keyspace)[test]
    bufs = [b"".join(make() for _ in range(pipeline)) for _ in range(2000)]
    refill = b"".join([resp(b"LPUSH", b"mylist", b"xxx")] * (clients * pipeline))
    k = 0
    out = []
    for _ in range(rounds):
        gc.collect()
        spent = 0.0
        for _ in range(turns):
            if test == "lpop":
                # Untimed: keep the list from running dry.
                conns[0].data_received(refill)
                srv.flush_replies()
            t0 = time.process_time()
            # One event-loop turn: every client's pipeline, then the
            # replies (defer_reply would schedule flush_replies with
            # call_soon; here the turn ends by calling it).
            srv._replies_scheduled = True
            for c in conns:
                c.data_received(bufs[k % len(bufs)])
                k += 1
            srv.flush_replies()
            spent += time.process_time() - t0
        out.append(spent / (turns * clients * pipeline) * 1e6)
    if global_dir:
        gr.stop()
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.hotpath",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("-t", "--tests", default=",".join(generators(random.Random(), 1)),
                    help="comma separated (default: all)")
    ap.add_argument("-c", "--clients", type=int, default=50)
    ap.add_argument("-P", "--pipeline", type=int, default=16)
    ap.add_argument("-r", "--keyspace", type=int, default=100000)
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--turns", type=int, default=40, help="event-loop turns per round")
    ap.add_argument("--global-log", action="store_true",
                    help="global replication on (a log in a temp dir, fsync everysec)")
    args = ap.parse_args(argv)
    loop = asyncio.new_event_loop()
    print(f"CPU µs per request, -c {args.clients} -P {args.pipeline} -r {args.keyspace}, "
          f"median of {args.rounds} rounds (min-max)")
    for test in args.tests.split(","):
        with tempfile.TemporaryDirectory(prefix="hotpath-glog-") as d:
            res = loop.run_until_complete(measure(
                test.strip(), args.clients, args.pipeline, args.keyspace, args.rounds,
                args.turns, d if args.global_log else None))
        print(f"{test:12s} {statistics.median(res):6.3f}  ({min(res):.3f}-{max(res):.3f})")
    loop.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
