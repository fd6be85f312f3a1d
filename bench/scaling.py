"""Per-op cost as containers grow: pyredis and redis-server side by side.

For each container type and size (1e3 .. 1e6 elements) both servers get the
same container, then the same batch of operations on it (pipelined from a
raw socket, so the client costs little). The figure is *server CPU time per
operation* (the scheduler's run time from /proc/<pid>/task/*/schedstat,
divided by the operations), which does not depend on the client or on the
other core's load. A structure with the
right complexity shows a flat line as the size grows; the table gives each
size's cost and the growth from the smallest to the largest size.

    python -m bench.scaling                 # sizes 1e3 1e4 1e5 1e6
    python -m bench.scaling --quick         # sizes 1e3 1e4 1e5, fewer ops
    python -m bench.scaling --types zset,list --out results.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import sys
import tempfile
import time
from pathlib import Path

import hiredis

if __package__ in (None, ""):  # run as a script: python bench/scaling.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "bench"

from .run import (REPO_ROOT, Server, find_redis_server, free_port, pyredis_argv,  # noqa: E402
                  redis_argv, repo_env)

BATCH = 200  # commands per pipelined round trip


class Conn:
    """A raw pipelining client: send many commands, read all replies."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.reader = hiredis.Reader()

    def pipeline(self, commands: list) -> list:
        out = []
        for i in range(0, len(commands), BATCH):
            chunk = commands[i:i + BATCH]
            self.sock.sendall(b"".join(_encode(c) for c in chunk))
            got = 0
            while got < len(chunk):
                r = self.reader.gets()
                if r is False:
                    self.reader.feed(self.sock.recv(1 << 20))
                    continue
                if isinstance(r, hiredis.ReplyError):
                    raise RuntimeError(f"{chunk[got][:3]!r}: {r}")
                out.append(r)
                got += 1
        return out

    def close(self) -> None:
        self.sock.close()


def _encode(args) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        parts.append(b"$%d\r\n%b\r\n" % (len(a), a))
    return b"".join(parts)


# -- the workloads: fill a container of n elements, then ops on it ---------------

def _chunks(n: int, size: int = 1000):
    for start in range(0, n, size):
        yield range(start, min(n, start + size))


def fill(kind: str, n: int) -> list:
    cmds = []
    for r in _chunks(n):
        if kind == "list":
            cmds.append([b"RPUSH", b"c"] + [b"v%d" % i for i in r])
        elif kind == "hash":
            cmds.append([b"HSET", b"c"] + [x for i in r for x in (b"f%d" % i, b"v%d" % i)])
        elif kind == "set":
            cmds.append([b"SADD", b"c"] + [b"m%d" % i for i in r])
        elif kind == "zset":
            cmds.append([b"ZADD", b"c"] + [x for i in r for x in (b"%d" % i, b"m%d" % i)])
        elif kind == "stream":
            cmds.extend([b"XADD", b"c", b"%d-1" % (i + 1), b"f", b"v"] for i in r)
    return cmds


def operations(kind: str, n: int, count: int, rnd: random.Random) -> dict[str, list]:
    """name -> commands; each keeps the container's size steady."""
    def member(prefix: bytes) -> bytes:
        return prefix + b"%d" % rnd.randrange(n)

    if kind == "list":
        return {
            "LPUSH+LPOP": [c for _ in range(count // 2) for c in ([b"LPUSH", b"c", b"x"],
                                                                  [b"LPOP", b"c"])],
            "LINDEX 0": [[b"LINDEX", b"c", b"0"]] * count,
            "LINDEX -1": [[b"LINDEX", b"c", b"-1"]] * count,
            "LRANGE 0 99": [[b"LRANGE", b"c", b"0", b"99"]] * (count // 4),
        }
    if kind == "hash":
        return {
            "HGET": [[b"HGET", b"c", member(b"f")] for _ in range(count)],
            "HSET (existing)": [[b"HSET", b"c", member(b"f"), b"w"] for _ in range(count)],
        }
    if kind == "set":
        return {
            "SISMEMBER": [[b"SISMEMBER", b"c", member(b"m")] for _ in range(count)],
            "SRANDMEMBER": [[b"SRANDMEMBER", b"c"]] * count,
            "SADD+SREM": [c for _ in range(count // 2) for c in ([b"SADD", b"c", b"new"],
                                                                 [b"SREM", b"c", b"new"])],
        }
    if kind == "zset":
        return {
            "ZSCORE": [[b"ZSCORE", b"c", member(b"m")] for _ in range(count)],
            "ZRANK": [[b"ZRANK", b"c", member(b"m")] for _ in range(count)],
            "ZADD (move)": [[b"ZADD", b"c", b"%d" % rnd.randrange(n), member(b"m")]
                            for _ in range(count)],
            "ZRANGEBYSCORE 10": [[b"ZRANGEBYSCORE", b"c", b"%d" % (s := rnd.randrange(n)),
                                  b"%d" % (s + 9)] for _ in range(count // 2)],
        }
    if kind == "stream":
        return {
            "XADD *": [[b"XADD", b"c", b"*", b"f", b"v"]] * count,
            "XRANGE 10": [[b"XRANGE", b"c", b"%d" % (s := rnd.randrange(1, n + 1)), b"+",
                           b"COUNT", b"10"] for _ in range(count // 2)],
        }
    raise ValueError(kind)


def cpu_ns(pid: int) -> int:
    """Nanoseconds the process has run on a CPU (all threads): the
    scheduler's own count, far finer than /proc/<pid>/stat's clock ticks."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
            total += int(f.read().split()[0])
    return total


def measure(server: Server, conn: Conn, cmds: list) -> float:
    """Server CPU microseconds per command for ``cmds``."""
    conn.pipeline(cmds[:BATCH])  # warm caches and code paths
    before = cpu_ns(server.pid)
    conn.pipeline(cmds)
    return (cpu_ns(server.pid) - before) / 1e3 / len(cmds)


def run(opts) -> dict:
    workdir = tempfile.mkdtemp(prefix="pyredis-scaling-")
    servers = []
    ports = {"pyredis": free_port(), "redis": free_port()}
    servers.append(Server("pyredis", pyredis_argv(ports["pyredis"]), ports["pyredis"], workdir,
                          env=repo_env()))
    servers.append(Server("redis", redis_argv(find_redis_server(), ports["redis"]),
                          ports["redis"], workdir))
    rows = []
    try:
        for s in servers:
            s.wait_ready()
        conns = {s.name: Conn(s.port) for s in servers}
        for kind in opts.types:
            for n in opts.sizes:
                rnd = random.Random(n)
                ops = operations(kind, n, opts.ops, rnd)
                for s in servers:
                    c = conns[s.name]
                    c.pipeline([[b"FLUSHALL"]])
                    c.pipeline(fill(kind, n))
                for name, cmds in ops.items():
                    cost = {s.name: measure(s, conns[s.name], cmds) for s in servers}
                    rows.append({"type": kind, "op": name, "size": n, **cost})
                    print(f"{kind:6} {name:18} n={n:>8}  pyredis {cost['pyredis']:7.2f} us/op"
                          f"  redis {cost['redis']:6.2f} us/op", flush=True)
        for c in conns.values():
            c.close()
    finally:
        for s in servers:
            s.stop()
    return {"sizes": opts.sizes, "ops_per_measure": opts.ops, "rows": rows,
            "started": time.strftime("%Y-%m-%d %H:%M:%S")}


def markdown(report: dict) -> str:
    sizes = report["sizes"]
    head = ["op"] + [f"pyredis n={n:.0e}" for n in sizes] + ["growth", f"redis n={sizes[-1]:.0e}"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    by_op: dict = {}
    for r in report["rows"]:
        by_op.setdefault((r["type"], r["op"]), {})[r["size"]] = r
    for (kind, op), per in by_op.items():
        py = [per[n]["pyredis"] for n in sizes if n in per]
        growth = py[-1] / py[0] if py and py[0] > 0 else float("nan")
        cells = [f"{kind} {op}"] + [f"{per[n]['pyredis']:.2f}" if n in per else "-" for n in sizes]
        cells += [f"{growth:.2f}x", f"{per[sizes[-1]]['redis']:.2f}" if sizes[-1] in per else "-"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--types", default="list,hash,set,zset,stream",
                   help="container types, comma separated")
    p.add_argument("--sizes", default="1000,10000,100000,1000000",
                   help="container sizes, comma separated")
    p.add_argument("--ops", type=int, default=20000, help="operations per measurement")
    p.add_argument("--quick", action="store_true", help="sizes up to 1e5, 5000 ops")
    p.add_argument("--out", help="JSON results path (default bench/results/scaling-<time>.json)")
    opts = p.parse_args(argv)
    opts.types = [t.strip() for t in opts.types.split(",") if t.strip()]
    opts.sizes = [int(float(s)) for s in opts.sizes.split(",")]
    if opts.quick:
        opts.sizes = [s for s in opts.sizes if s <= 100000]
        opts.ops = min(opts.ops, 5000)
    return opts


def main(argv=None) -> int:
    opts = parse_args(argv)
    report = run(opts)
    table = markdown(report)
    print("\nServer CPU microseconds per operation (growth = largest size / smallest):\n")
    print(table)
    out = Path(opts.out) if opts.out else (
        REPO_ROOT / "bench" / "results" / time.strftime("scaling-%Y%m%d-%H%M%S.json"))
    out.parent.mkdir(parents=True, exist_ok=True)
    report["table"] = table
    out.write_text(json.dumps(report, indent=2))
    print(f"\nresults: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
