"""Replication benchmark: the four figures of issue 10, pyredis and the
reference redis-server side by side in one run.

    python -m bench.replication                  # 1,000,000 keys, 3 rounds
    python -m bench.replication --quick          # small N, 1 round: a smoke run
    python -m bench.replication --only sync,lag  # a subset

The figures (each server replicates to its own kind: pyredis->pyredis and
redis->redis):

* ``sync``: full sync of ``--keys`` small keys, from ``REPLICAOF`` on a
  fresh replica until its ``master_link_status`` is up and its DBSIZE is
  N. Target: pyredis at most 3x Redis's time.
* ``lag``: replication lag under a paced load of 20,000 SETs/s on the
  master (from a separate process): the time from the master's reply to a
  probe SET until the replica's keyspace notification for that key
  arrives (the probe writer and the subscriber share one process, so one
  clock). p50/p99; target: pyredis p99 at most 10 ms.
* ``throughput``: ``redis-benchmark -P 16 -t set`` on a master with a
  replica attached vs one that never had a replica, alternating. Target:
  pyredis with/without at least 0.85.
* ``clients``: p99 latency of a steady read/write load (a separate process,
  one request at a time at a fixed rate) on the master while a replica
  full-syncs N keys from it vs the same load without a sync. Target:
  pyredis during/without at most 2.

Rounds alternate servers (pyredis, redis, pyredis, ...); each figure is the
median of the rounds, with their spread. The JSON report goes to
bench/results/replication-<timestamp>.json; a markdown table is printed.
See bench/README.md for the method.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    # Run as a file (python bench/replication.py): make ``bench`` importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import rdb as bench_rdb
from bench.run import (RESULTS_DIR, REPO_ROOT, Server, bench_once, find_redis_benchmark,
                       find_redis_server, free_port, info_field, machine_info, pyredis_argv,
                       pyredis_version, redis_argv, repo_env)

FIGURES = ("sync", "lag", "throughput", "clients")
KINDS = ("pyredis", "redis")

# Issue 10's targets, all on pyredis: full sync at most 3x Redis's time,
# lag p99 at most 10 ms, throughput with a replica at least 0.85x of
# without, clients' p99 during a sync at most 2x of without.
TARGETS = {"sync_ratio": 3.0, "lag_p99_ms": 10.0, "throughput_ratio": 0.85,
           "clients_ratio": 2.0}

# The loads. The lag is measured at the issue's write rate; the clients'
# load is modest so that it measures the server's pauses, not its capacity.
WRITE_RATE = 20_000
WRITE_TICK = 0.005          # the write load sends one pipeline every 5 ms
PROBE_INTERVAL = 0.02       # 50 probes a second
PROBE_CHANNELS = 16         # probe keys cycled, so a late event is never mistaken
CLIENT_RATE = 1000
BENCH_KEYSPACE = 100_000

# No wait in this module is unbounded: every loop has one of these.
SYNC_TIMEOUT = 900.0
SETTLE_TIMEOUT = 120.0
LOAD_GRACE = 30.0


# -- a small RESP client ------------------------------------------------------


class ReplyError(Exception):
    """An error reply (``-ERR ...``) from the server."""


def encode(args) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%b\r\n" % (len(b), b))
    return b"".join(out)


class Client:
    """A blocking RESP2 connection that parses whole replies (bench.rdb's
    Conn reads single lines only, which is not enough for INFO or pub/sub)."""

    def __init__(self, port: int, timeout: float = 60.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        # Small single requests are what the latency figures are made of:
        # Nagle's delay would be measured instead of the server.
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def close(self) -> None:
        self.sock.close()

    def send(self, *args) -> None:
        self.sock.sendall(encode(args))

    def _fill(self) -> None:
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise ConnectionError("connection closed by the server")
        self.buf += chunk

    def _line(self) -> bytes:
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line, self.buf = self.buf[:i], self.buf[i + 2:]
                return line
            self._fill()

    def _exact(self, n: int) -> bytes:
        while len(self.buf) < n + 2:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def read(self):
        """One reply; an error reply is returned (not raised) as ReplyError."""
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return ReplyError(rest.decode(errors="replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise ConnectionError(f"bad reply line {line[:80]!r}")

    def call(self, *args):
        self.send(*args)
        reply = self.read()
        if isinstance(reply, ReplyError):
            raise reply
        return reply


def parse_info(text: bytes | str) -> dict:
    """INFO's ``field:value`` lines as a dict (sections merged)."""
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and ":" in line:
            k, v = line.split(":", 1)
            out[k] = v.strip()
    return out


def info(c: Client, section: str = "replication") -> dict:
    return parse_info(c.call("INFO", section))


# -- pure helpers (unit-tested) ------------------------------------------------


def percentile(values, p: float) -> float | None:
    """The p-th percentile with linear interpolation between ranks (numpy's
    default), None for no values."""
    if not values:
        return None
    s = sorted(values)
    k = (len(s) - 1) * p / 100.0
    lo = math.floor(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def spread(values) -> dict:
    """Median, min and max of the rounds' figures (None ones left out)."""
    vals = [v for v in values if v is not None]
    if not vals:
        return {"median": None, "min": None, "max": None, "rounds": list(values)}
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals),
            "rounds": list(values)}


def ratio(a, b) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def verdict(value, target: float, at_most: bool) -> str | None:
    """PASS/MISS of ``value`` against ``target``; MISS when nothing was measured."""
    if value is None:
        return "MISS"
    return "PASS" if (value <= target if at_most else value >= target) else "MISS"


def _cell(s: dict | None, spec: str) -> str:
    """``median (min-max)`` of a spread, or the median alone for one round."""
    if not s or s.get("median") is None:
        return "-"
    med = format(s["median"], spec)
    if s["min"] == s["max"] or len([v for v in s["rounds"] if v is not None]) < 2:
        return med
    return f"{med} ({format(s['min'], spec)}–{format(s['max'], spec)})"


def _num(v, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def table_rows(report: dict) -> list[list[str]]:
    """The markdown table's rows: figure, pyredis, redis, pyredis/redis,
    target, result."""
    f = report["figures"]
    rows = []
    if "sync" in f:
        s = f["sync"]
        rows.append([f"full sync of {report['settings']['keys']:,} keys (s)",
                     _cell(s["pyredis"]["seconds"], ".2f"), _cell(s["redis"]["seconds"], ".2f"),
                     _num(s["ratio"], ".2f"), f"pyredis/redis ≤ {TARGETS['sync_ratio']:g}",
                     s["verdict"] or "-"])
    if "lag" in f:
        s = f["lag"]
        rate = f"{report['settings']['write_rate']:,}"
        rows.append([f"replication lag p50 at {rate} writes/s (ms)",
                     _cell(s["pyredis"]["p50_ms"], ".2f"), _cell(s["redis"]["p50_ms"], ".2f"),
                     _num(ratio(s["pyredis"]["p50_ms"]["median"],
                                s["redis"]["p50_ms"]["median"]), ".2f"), "-", "-"])
        rows.append([f"replication lag p99 at {rate} writes/s (ms)",
                     _cell(s["pyredis"]["p99_ms"], ".2f"), _cell(s["redis"]["p99_ms"], ".2f"),
                     _num(s["ratio"], ".2f"), f"pyredis ≤ {TARGETS['lag_p99_ms']:g} ms",
                     s["verdict"] or "-"])
    if "throughput" in f:
        s = f["throughput"]
        for label, key in (("no replica", "without"), ("one replica", "with")):
            rows.append([f"master SET -P 16 ops/s, {label}",
                         _cell(s["pyredis"][key], ",.0f"), _cell(s["redis"][key], ",.0f"),
                         _num(ratio(s["pyredis"][key]["median"], s["redis"][key]["median"]),
                              ".2f"), "-", "-"])
        cpu = {k: s[k].get("cpu_us_per_op") or {} for k in KINDS}
        for label, key in (("no replica", "without"), ("one replica", "with")):
            rows.append([f"master CPU µs per SET, {label}",
                         _cell(cpu["pyredis"].get(key), ".2f"), _cell(cpu["redis"].get(key), ".2f"),
                         _num(ratio((cpu["pyredis"].get(key) or {}).get("median"),
                                    (cpu["redis"].get(key) or {}).get("median")), ".2f"),
                         "-", "-"])
        rows.append(["master throughput with/without replica",
                     _num(s["pyredis"]["ratio"], ".2f"), _num(s["redis"]["ratio"], ".2f"),
                     _num(ratio(s["pyredis"]["ratio"], s["redis"]["ratio"]), ".2f"),
                     f"pyredis ≥ {TARGETS['throughput_ratio']:g}", s["verdict"] or "-"])
    if "clients" in f:
        s = f["clients"]
        for label, key in (("no sync", "without"), ("during full sync", "during")):
            rows.append([f"master clients' p99, {label} (ms)",
                         _cell(s["pyredis"][key], ".2f"), _cell(s["redis"][key], ".2f"),
                         _num(ratio(s["pyredis"][key]["median"], s["redis"][key]["median"]),
                              ".2f"), "-", "-"])
        rows.append(["master clients' p99 during/without sync",
                     _num(s["pyredis"]["ratio"], ".2f"), _num(s["redis"]["ratio"], ".2f"),
                     _num(ratio(s["pyredis"]["ratio"], s["redis"]["ratio"]), ".2f"),
                     f"pyredis ≤ {TARGETS['clients_ratio']:g}", s["verdict"] or "-"])
    return rows


def markdown_table(report: dict) -> str:
    lines = ["| figure | pyredis | redis | pyredis/redis | target | result |",
             "|---|--:|--:|--:|---|---|"]
    lines += ["| " + " | ".join(r) + " |" for r in table_rows(report)]
    return "\n".join(lines)


def machine_line(report: dict) -> str:
    """The report's machine and load, one line (bench.globalrepl too)."""
    m = report["machine"]
    return (f"machine: {m['nproc']} cores ({m.get('cpu_model') or 'unknown CPU'}), "
            f"Python {m['python']}; load average {report['loadavg_before']} before, "
            f"{report['loadavg_after']} after\n")


def verdict_lines(report: dict) -> list[str]:
    """How many targets passed, and which missed."""
    verdicts = [f["verdict"] for f in report["figures"].values() if f.get("verdict")]
    out = [f"targets: {verdicts.count('PASS')}/{len(verdicts)} PASS"]
    misses = [name for name, f in report["figures"].items() if f.get("verdict") == "MISS"]
    if misses:
        out.append("missed: " + ", ".join(misses))
    return out


def render(report: dict) -> str:
    m, s = report["machine"], report["settings"]
    head = (f"pyredis {m.get('pyredis_version')} ({m.get('git_commit') or '?'}) vs "
            f"redis-server {m.get('redis_version')}; {report['date']}\n"
            + machine_line(report)
            + f"{s['keys']:,} keys, {s['rounds']} round(s), median (min–max) shown\n")
    return "\n".join([head, markdown_table(report), ""] + verdict_lines(report))


# -- load processes ------------------------------------------------------------


def _load_main(argv: list[str]) -> int:
    """``python -m bench.replication _load``: a load generator in its own
    process, so that its CPU time and its GIL are not the measurer's. It
    runs until SIGTERM (or --max-seconds), then writes its JSON to --out."""
    ap = argparse.ArgumentParser(prog="bench.replication _load")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--mode", choices=("writes", "mixed"), required=True)
    ap.add_argument("--rate", type=float, required=True)
    ap.add_argument("--keys", type=int, required=True)
    ap.add_argument("--prefix", default="key:")
    ap.add_argument("--max-seconds", type=float, default=600.0)
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    c = Client(a.port, timeout=LOAD_GRACE)
    Path(a.out + ".ready").write_text("ready\n")
    end = time.monotonic() + a.max_seconds
    rng = random.Random(1)
    if a.mode == "writes":
        result = _paced_writes(c, a, rng, stop, end)
    else:
        result = _paced_requests(c, a, rng, stop, end)
    Path(a.out).write_text(json.dumps(result))
    return 0


def _paced_writes(c: Client, a, rng: random.Random, stop: list, end: float) -> dict:
    """SETs at ``rate`` per second: every WRITE_TICK, the SETs due since the
    start go out as one pipeline (at most 0.1 s worth, so a stall is not
    followed by a burst the server never sees in real use)."""
    cmds = [encode(("SET", f"{a.prefix}{rng.randrange(a.keys)}", "v" * 8))
            for _ in range(10_000)]
    start = time.monotonic()
    sent = errors = 0
    j = 0
    next_tick = start
    while not stop and time.monotonic() < end:
        now = time.monotonic()
        due = min(int(a.rate * (now - start)) - sent, int(a.rate * 0.1))
        if due > 0:
            parts = []
            for _ in range(due):
                parts.append(cmds[j])
                j = (j + 1) % len(cmds)
            c.sock.sendall(b"".join(parts))
            # Every SET reply is one line (+OK or an error).
            got = 0
            while got < due:
                c._fill()
                got = c.buf.count(b"\r\n")
            errors += sum(1 for line in c.buf.split(b"\r\n") if line.startswith(b"-"))
            c.buf = b""
            sent += due
        next_tick += WRITE_TICK
        delay = next_tick - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        else:
            next_tick = time.monotonic()
    return {"sent": sent, "seconds": time.monotonic() - start, "errors": errors}


def _paced_requests(c: Client, a, rng: random.Random, stop: list, end: float) -> dict:
    """One request at a time (GET and SET alternating, existing keys) at
    ``rate`` per second; each request's latency from its sending, with the
    monotonic clock, which all processes of the machine share."""
    interval = 1.0 / a.rate
    samples = []
    errors = 0
    i = 0
    next_t = time.monotonic()
    while not stop and time.monotonic() < end:
        now = time.monotonic()
        if now < next_t:
            time.sleep(next_t - now)
            continue
        k = f"{a.prefix}{rng.randrange(a.keys)}"
        args = ("GET", k) if i % 2 else ("SET", k, f"value:{k[len(a.prefix):]}")
        t0 = time.monotonic()
        c.send(*args)
        reply = c.read()
        t1 = time.monotonic()
        if isinstance(reply, ReplyError):
            errors += 1
        samples.append((round(t0, 6), round(t1 - t0, 7)))
        i += 1
        next_t += interval
        # After a long stall, start afresh instead of catching up in a burst.
        if next_t < t1 - 0.1:
            next_t = t1
    return {"samples": samples, "errors": errors}


class Load:
    """A running ``_load`` process; stop() ends it and returns its JSON."""

    def __init__(self, workdir: str, port: int, mode: str, rate: float, keys: int,
                 prefix: str, max_seconds: float) -> None:
        self.out = os.path.join(workdir, f"load-{mode}-{port}-{time.monotonic_ns()}.json")
        argv = [sys.executable, "-m", "bench.replication", "_load", "--port", str(port),
                "--mode", mode, "--rate", str(rate), "--keys", str(keys), "--prefix", prefix,
                "--max-seconds", str(max_seconds), "--out", self.out]
        self.proc = subprocess.Popen(argv, cwd=str(REPO_ROOT), env=repo_env(),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + LOAD_GRACE
        while not os.path.exists(self.out + ".ready"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError("load process did not start: "
                                   + self.proc.stderr.read().decode(errors="replace")[-2000:])
            time.sleep(0.02)

    def stop(self) -> dict:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(LOAD_GRACE)
        except subprocess.TimeoutExpired:
            self.kill()
            raise RuntimeError("load process did not stop")
        if not os.path.exists(self.out):
            raise RuntimeError("load process failed: "
                               + self.proc.stderr.read().decode(errors="replace")[-2000:])
        return json.loads(Path(self.out).read_text())

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


# -- servers and replication states ----------------------------------------------


class Bench:
    """The servers and load processes of one run, all stopped by close()."""

    # Subclasses (bench.globalrepl) set their own directory prefix and
    # patience; the load and stop bounds are the only differences.
    prefix = "pyredis-bench-repl-"
    load_seconds = SYNC_TIMEOUT
    stop_timeout = 30

    def __init__(self, opts=None) -> None:
        self.opts = opts
        self.workdir = tempfile.mkdtemp(prefix=self.prefix)
        self.servers: list[Server] = []
        self.loads: list[Load] = []
        self.count = 0

    def start(self, kind: str, role: str) -> Server:
        """A fresh server in its own directory (a disk-based sync writes a
        temporary RDB and renames it to dump.rdb in the working directory,
        so a master and its replica must not share one)."""
        self.count += 1
        name = f"{kind}-{role}-{self.count}"
        d = os.path.join(self.workdir, name)
        os.makedirs(d)
        port = free_port()
        if kind == "pyredis":
            s = Server(name, pyredis_argv(port), port, d, env=repo_env())
        else:
            s = Server(name, redis_argv(find_redis_server(), port), port, d)
        self.servers.append(s)
        s.wait_ready()
        return s

    def stop(self, s: Server) -> None:
        s.stop(timeout=self.stop_timeout)
        if s in self.servers:
            self.servers.remove(s)

    def load(self, port: int, mode: str, rate: float, keys: int, prefix: str) -> Load:
        ld = Load(self.workdir, port, mode, rate, keys, prefix, max_seconds=self.load_seconds)
        self.loads.append(ld)
        return ld

    def close(self) -> None:
        for ld in self.loads:
            ld.kill()
        for s in list(self.servers):
            s.stop(timeout=30)
        shutil.rmtree(self.workdir, ignore_errors=True)


def fill(port: int, n: int) -> float:
    """``key:<i> -> value:<i>`` for i < n by pipelined MSETs of 1000 keys
    (bench.rdb's fill; pyredis has no DEBUG POPULATE); the seconds taken."""
    t0 = time.monotonic()
    c = bench_rdb.Conn(port)
    try:
        bench_rdb._pipeline(c, bench_rdb.small_keys(n))
    finally:
        c.sock.close()
    return time.monotonic() - t0


def wait_for(pred, timeout: float, interval: float = 0.01, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(interval)


def replicate(replica: Server, master: Server, keys: int, poll: float = 0.01) -> dict:
    """REPLICAOF on ``replica``, then wait until its link is up and it holds
    ``keys`` keys. Returns the seconds from REPLICAOF to that, and when the
    replica first saw RDB bytes (the master's snapshot was ready) and when
    it first reported the link up (loaded)."""
    c = Client(replica.port, timeout=SYNC_TIMEOUT)
    try:
        t0 = time.monotonic()
        c.call("REPLICAOF", "127.0.0.1", str(master.port))
        first_bytes = link_up = None
        deadline = t0 + SYNC_TIMEOUT
        while time.monotonic() < deadline:
            inf = info(c)
            now = time.monotonic() - t0
            if first_bytes is None and int(inf.get("master_sync_read_bytes", 0) or 0) > 0:
                first_bytes = now
            if inf.get("master_link_status") == "up":
                if link_up is None:
                    link_up = now
                # DBSIZE may still answer -LOADING: read, never raise.
                c.send("DBSIZE")
                if c.read() == keys:
                    return {"seconds": round(time.monotonic() - t0, 4),
                            "first_rdb_bytes_s": first_bytes and round(first_bytes, 3),
                            "link_up_s": round(link_up, 3)}
            time.sleep(poll)
        raise RuntimeError(f"{replica.name}: no full sync within {SYNC_TIMEOUT} s")
    finally:
        c.close()


def offsets_equal(master: Server, replica: Server) -> bool:
    """Whether the replica has applied the master's whole stream so far."""
    m, r = Client(master.port), Client(replica.port)
    try:
        mi, ri = info(m), info(r)
        return (ri.get("master_link_status") == "up"
                and mi.get("master_repl_offset") == ri.get("slave_repl_offset"))
    finally:
        m.close()
        r.close()


def attach(master: Server, replica: Server) -> None:
    c = Client(replica.port)
    try:
        c.call("REPLICAOF", "127.0.0.1", str(master.port))
    finally:
        c.close()
    wait_for(lambda: offsets_equal(master, replica), SETTLE_TIMEOUT, 0.05,
             f"{replica.name} to catch up")


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# -- the four figures ------------------------------------------------------------


def run_sync(b: Bench, masters: dict, opts) -> dict:
    runs = {k: [] for k in KINDS}
    for r in range(opts.rounds):
        for kind in KINDS:
            replica = b.start(kind, "replica")
            res = replicate(replica, masters[kind], opts.keys)
            b.stop(replica)
            _log(f"[sync {r + 1}/{opts.rounds}] {kind:7} {res}")
            runs[kind].append(res)
    out = {k: {"seconds": spread([x["seconds"] for x in runs[k]]), "runs": runs[k]}
           for k in KINDS}
    out["ratio"] = ratio(out["pyredis"]["seconds"]["median"], out["redis"]["seconds"]["median"])
    out["target"] = TARGETS["sync_ratio"]
    out["verdict"] = verdict(out["ratio"], TARGETS["sync_ratio"], at_most=True)
    return out


def lag_round(b: Bench, master: Server, replica: Server, opts) -> dict:
    """One round of probes under the write load; lags in ms."""
    rc = Client(replica.port)
    rc.call("CONFIG", "SET", "notify-keyspace-events", "KA")
    rc.close()
    channels = [f"__keyspace@0__:probe:{i}" for i in range(PROBE_CHANNELS)]
    sub = Client(replica.port)
    sub.send("SUBSCRIBE", *channels)
    for _ in channels:
        sub.read()
    writer = Client(master.port)
    load = b.load(master.port, "writes", opts.write_rate, BENCH_KEYSPACE, "lag:")
    lags, lost = [], 0
    try:
        time.sleep(opts.warmup)
        end = time.monotonic() + opts.lag_seconds
        seq = 0
        while time.monotonic() < end:
            key = f"probe:{seq % PROBE_CHANNELS}"
            want = f"__keyspace@0__:{key}".encode()
            writer.send("SET", key, str(seq))
            reply = writer.read()
            t_reply = time.monotonic()
            if isinstance(reply, ReplyError):
                raise reply
            # The probe's event, skipping any late one of an earlier probe.
            deadline = t_reply + 2.0
            got = None
            while got is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                sub.sock.settimeout(remaining)
                try:
                    msg = sub.read()
                except socket.timeout:
                    break
                if isinstance(msg, list) and len(msg) == 3 and msg[1] == want:
                    got = time.monotonic()
            if got is None:
                lost += 1
            else:
                lags.append((got - t_reply) * 1000.0)
            seq += 1
            time.sleep(max(0.0, PROBE_INTERVAL - (time.monotonic() - t_reply)))
    finally:
        result = load.stop()
        b.loads.remove(load)
        writer.close()
        sub.close()
    rc = Client(replica.port)
    # Notifications off again: they cost the replica CPU in other figures.
    rc.call("CONFIG", "SET", "notify-keyspace-events", "")
    rc.close()
    rate = result["sent"] / result["seconds"] if result["seconds"] else 0.0
    return {"p50_ms": percentile(lags, 50), "p99_ms": percentile(lags, 99),
            "max_ms": max(lags) if lags else None, "probes": len(lags), "lost": lost,
            "write_rate": round(rate), "write_errors": result["errors"]}


def run_lag(b: Bench, pairs: dict, opts) -> dict:
    runs = {k: [] for k in KINDS}
    for r in range(opts.rounds):
        for kind in KINDS:
            master, replica = pairs[kind]
            res = lag_round(b, master, replica, opts)
            _log(f"[lag {r + 1}/{opts.rounds}] {kind:7} p50 {_num(res['p50_ms'], '.2f')} ms "
                 f"p99 {_num(res['p99_ms'], '.2f')} ms, {res['write_rate']} writes/s, "
                 f"{res['probes']} probes, {res['lost']} lost")
            runs[kind].append(res)
    out = {k: {"p50_ms": spread([x["p50_ms"] for x in runs[k]]),
               "p99_ms": spread([x["p99_ms"] for x in runs[k]]), "runs": runs[k]}
           for k in KINDS}
    out["ratio"] = ratio(out["pyredis"]["p99_ms"]["median"], out["redis"]["p99_ms"]["median"])
    out["target"] = TARGETS["lag_p99_ms"]
    out["verdict"] = verdict(out["pyredis"]["p99_ms"]["median"], TARGETS["lag_p99_ms"],
                             at_most=True)
    return out


def run_throughput(b: Bench, pairs: dict, alone: dict, opts) -> dict:
    """"Without" is a master that never had a replica: one that had one
    keeps its backlog, and feeds it every write, as Redis does, so
    detaching the replica would not measure a master without replication."""
    benchmark = find_redis_benchmark()
    runs = {k: {"without": [], "with": []} for k in KINDS}
    for r in range(opts.rounds):
        for kind in KINDS:
            master, replica = pairs[kind]
            for state in ("without", "with"):
                target = master if state == "with" else alone[kind]
                # The replica's CPU time too: on a small machine it competes
                # with the master and redis-benchmark for the same cores.
                rcpu0 = replica.cpu_seconds()
                res = bench_once(benchmark, target, "set", 50, 16, opts.requests,
                                 BENCH_KEYSPACE)
                res["replica_cpu_s"] = round(replica.cpu_seconds() - rcpu0, 3)
                res["ops_per_sec"] = res["rows"][0][1] if res["rows"] else None
                del res["rows"]
                if state == "with":
                    # Let the replica finish applying before the next run
                    # shares the machine with it.
                    wait_for(lambda: offsets_equal(master, replica), SETTLE_TIMEOUT, 0.05,
                             f"{replica.name} to catch up")
                _log(f"[throughput {r + 1}/{opts.rounds}] {kind:7} {state:7} "
                     f"{_num(res['ops_per_sec'], ',.0f')} ops/s {res['error'] or ''}")
                runs[kind][state].append(res)
    out = {}
    for k in KINDS:
        out[k] = {s: spread([x["ops_per_sec"] for x in runs[k][s]]) for s in ("without", "with")}
        # The master's CPU per SET depends much less on the machine's other
        # load than ops/s do: it shows the cost of feeding a replica.
        out[k]["cpu_us_per_op"] = {
            s: spread([x["server_cpu_us_per_op"] for x in runs[k][s]]) for s in ("without", "with")}
        out[k]["ratio"] = ratio(out[k]["with"]["median"], out[k]["without"]["median"])
        out[k]["runs"] = runs[k]
    out["target"] = TARGETS["throughput_ratio"]
    out["verdict"] = verdict(out["pyredis"]["ratio"], TARGETS["throughput_ratio"],
                             at_most=False)
    return out


def clients_round(b: Bench, kind: str, master: Server, opts) -> dict:
    """The steady load on the master for a window without a sync, then
    while a fresh replica full-syncs; p99s in ms of each window."""
    replica = b.start(kind, "replica")
    load = b.load(master.port, "mixed", opts.client_rate, opts.keys, "key:")
    try:
        time.sleep(opts.warmup)
        w0 = time.monotonic()
        time.sleep(opts.baseline_seconds)
        w1 = time.monotonic()
        s0 = time.monotonic()
        sync = replicate(replica, master, opts.keys)
        s1 = time.monotonic()
    finally:
        result = load.stop()
        b.loads.remove(load)
        b.stop(replica)
    without = [lat * 1000.0 for t, lat in result["samples"] if w0 <= t < w1]
    during = [lat * 1000.0 for t, lat in result["samples"] if s0 <= t < s1]
    return {"without_p99_ms": percentile(without, 99), "during_p99_ms": percentile(during, 99),
            "without_p50_ms": percentile(without, 50), "during_p50_ms": percentile(during, 50),
            "without_max_ms": max(without) if without else None,
            "during_max_ms": max(during) if during else None,
            "without_requests": len(without), "during_requests": len(during),
            "sync_seconds": sync["seconds"], "errors": result["errors"],
            # When in the sync the slowest requests came (ms after REPLICAOF,
            # latency ms): set against the sync's phases, they show what
            # the master was doing.
            "during_slowest": sorted(
                ((round((t - s0) * 1000), round(lat * 1000, 2))
                 for t, lat in result["samples"] if s0 <= t < s1),
                key=lambda x: -x[1])[:25],
            "sync_phases": sync}


def run_clients(b: Bench, masters: dict, opts) -> dict:
    runs = {k: [] for k in KINDS}
    for r in range(opts.rounds):
        for kind in KINDS:
            res = clients_round(b, kind, masters[kind], opts)
            _log(f"[clients {r + 1}/{opts.rounds}] {kind:7} p99 without "
                 f"{_num(res['without_p99_ms'], '.2f')} ms, during "
                 f"{_num(res['during_p99_ms'], '.2f')} ms (sync {res['sync_seconds']} s)")
            runs[kind].append(res)
    out = {}
    for k in KINDS:
        out[k] = {"without": spread([x["without_p99_ms"] for x in runs[k]]),
                  "during": spread([x["during_p99_ms"] for x in runs[k]])}
        out[k]["ratio"] = ratio(out[k]["during"]["median"], out[k]["without"]["median"])
        out[k]["runs"] = runs[k]
    out["target"] = TARGETS["clients_ratio"]
    out["verdict"] = verdict(out["pyredis"]["ratio"], TARGETS["clients_ratio"], at_most=True)
    return out


def _loadavg() -> str:
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return ""


def run(opts) -> dict:
    only = opts.only
    benchmark = shutil.which("redis-benchmark") or "redis-benchmark"
    machine = machine_info(benchmark)
    report = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "machine": machine,
              "loadavg_before": _loadavg(),
              "settings": {"keys": opts.keys, "rounds": opts.rounds, "only": only,
                           "quick": opts.quick, "write_rate": opts.write_rate,
                           "lag_seconds": opts.lag_seconds, "client_rate": opts.client_rate,
                           "baseline_seconds": opts.baseline_seconds,
                           "requests": opts.requests, "targets": TARGETS},
              "figures": {}}
    b = Bench(opts)
    try:
        if "sync" in only or "clients" in only:
            masters = {}
            fills = {}
            for kind in KINDS:
                masters[kind] = b.start(kind, "master")
                fills[kind] = round(fill(masters[kind].port, opts.keys), 2)
                _log(f"{kind}: filled {opts.keys:,} keys in {fills[kind]} s")
            report["fill_seconds"] = fills
            machine["redis_version"] = info_field(masters["redis"].port, "redis_version")
            if "sync" in only:
                report["figures"]["sync"] = run_sync(b, masters, opts)
            if "clients" in only:
                report["figures"]["clients"] = run_clients(b, masters, opts)
            for s in masters.values():
                b.stop(s)
        if "lag" in only or "throughput" in only:
            pairs = {}
            for kind in KINDS:
                master, replica = b.start(kind, "master"), b.start(kind, "replica")
                attach(master, replica)
                pairs[kind] = (master, replica)
            machine["redis_version"] = info_field(pairs["redis"][0].port, "redis_version")
            if "lag" in only:
                report["figures"]["lag"] = run_lag(b, pairs, opts)
            if "throughput" in only:
                alone = {kind: b.start(kind, "master") for kind in KINDS}
                report["figures"]["throughput"] = run_throughput(b, pairs, alone, opts)
    finally:
        b.close()
    machine["pyredis_version"] = pyredis_version()
    report["loadavg_after"] = _loadavg()
    # Keep the figures in the issue's order whatever --only's order was.
    report["figures"] = {k: report["figures"][k] for k in FIGURES if k in report["figures"]}
    return report


# -- command line ------------------------------------------------------------------


def parse_args(argv: list[str] | None = None):
    p = argparse.ArgumentParser(
        prog="python -m bench.replication",
        description="Replication figures (full sync, lag, master throughput, master "
                    "clients during a sync), pyredis and redis-server side by side.")
    p.add_argument("--keys", type=int, default=None,
                   help="keys for the full sync figures (default 1,000,000; 20,000 with --quick)")
    p.add_argument("--rounds", type=int, default=None,
                   help="rounds per figure and server; the median is reported (default 3, "
                        "1 with --quick)")
    p.add_argument("--quick", action="store_true",
                   help="a smoke run: few keys, one round, short windows")
    p.add_argument("--only", default=",".join(FIGURES),
                   help=f"comma-separated subset of {','.join(FIGURES)}")
    p.add_argument("--out", default=None,
                   help="JSON report path (default bench/results/replication-<timestamp>.json)")
    p.add_argument("--write-rate", type=int, default=WRITE_RATE,
                   help="SETs per second on the master for the lag figure (default %(default)s)")
    p.add_argument("--client-rate", type=int, default=CLIENT_RATE,
                   help="requests per second of the master's clients' load (default %(default)s)")
    opts = p.parse_args(argv)
    only = [f.strip() for f in opts.only.split(",") if f.strip()]
    bad = [f for f in only if f not in FIGURES]
    if bad or not only:
        p.error(f"--only takes a subset of {','.join(FIGURES)}, not {opts.only!r}")
    opts.only = only
    if opts.keys is None:
        opts.keys = 20_000 if opts.quick else 1_000_000
    if opts.rounds is None:
        opts.rounds = 1 if opts.quick else 3
    if opts.keys < 1 or opts.rounds < 1 or opts.write_rate < 1 or opts.client_rate < 1:
        p.error("--keys, --rounds and the rates must be positive")
    # Window lengths: long enough for a stable p99 in a full run (10 s of
    # probes = 500 lags; 5 s of the clients' load = 5000 requests), short
    # in a smoke run.
    opts.lag_seconds = 1.5 if opts.quick else 10.0
    opts.baseline_seconds = 1.0 if opts.quick else 5.0
    opts.warmup = 0.3 if opts.quick else 1.0
    # -n for redis-benchmark -P 16: bench.run's 800,000 (a few seconds for each).
    opts.requests = 50_000 if opts.quick else 800_000
    return opts


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_load"]:
        return _load_main(argv[1:])
    opts = parse_args(argv)
    # SIGTERM unwinds like ^C, so that the servers are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    report = run(opts)
    out = Path(opts.out) if opts.out else RESULTS_DIR / time.strftime(
        "replication-%Y%m%d-%H%M%S.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(render(report))
    print(f"\nresults written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
