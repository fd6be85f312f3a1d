"""Global replication benchmark: the figures of issue 11, each with its
target and PASS/MISS.

    python -m bench.globalrepl                       # full run, 3 rounds
    python -m bench.globalrepl --quick               # a smoke run, seconds
    python -m bench.globalrepl --only lag,apply      # a subset

The figures (every server its own ``python -m pyredis`` process on a free
127.0.0.1 port, in its own temporary directory):

* ``throughput``: redis-benchmark (-c 50, -r 100000; SET, INCR, LPUSH at
  -P 1 and -P 16) on a member with the global log on (``--global-server-id
  1``, ``global-log-fsync everysec``, no peers) vs a plain pyredis,
  alternating. Target: on/off at least 0.8 in every cell.
* ``lag``: member 2 pulls from member 1; a separate process writes 20,000
  SETs/s to member 1; probe SETs on member 1, and the time from member 1's
  reply until member 2's keyspace notification for the probe key (polling
  member 2 for the key instead if applied ops fire no events). p50/p99;
  target p99 at most 10 ms.
* ``apply``: member 2 stops its link, member 1 takes ``--ops`` SETs
  (redis-benchmark -P 16), member 2 starts the link again: ops/s from
  ``GLOBAL LINK START`` until member 2's ``global_ops_applied`` grew by
  that many. Target at least 50,000 ops/s.
* ``resume``: member 2 is stopped (SIGTERM), member 1 takes
  ``--resume-ops`` SETs (default 1,000,000), member 2 is started again on
  its files: the time until its version vector holds all of member 1's
  ops, with ``global_full_syncs`` (must stay 0).
* ``memory``: RSS per key of 1,000,000 small string keys (``key:<i> ->
  value:<i>``, pipelined MSETs) on a member minus on a plain pyredis, i.e.
  what global replication adds per key (design G8). Target at most 16 bytes.

Rounds alternate the servers; each figure is the median of ``--rounds``
rounds with their spread. The JSON report goes to
bench/results/globalrepl-<timestamp>.json; a markdown table is printed.
The method is in bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import time
import tracemalloc
from pathlib import Path

if __package__ in (None, ""):
    # Run as a file (python bench/globalrepl.py): make ``bench`` importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.replication import (PROBE_CHANNELS, PROBE_INTERVAL, Bench, Client, ReplyError,
                               _cell, _loadavg, _log, _num, fill, info, lag_round,
                               machine_line, percentile, ratio, spread, verdict,
                               verdict_lines, wait_for)
from bench.run import (RESULTS_DIR, Server, bench_once, find_redis_benchmark,
                       free_port, machine_info, pyredis_argv, pyredis_version, repo_env,
                       requests_for)

FIGURES = ("throughput", "lag", "apply", "resume", "memory")

# Issue 11's targets.
TARGETS = {"throughput_ratio": 0.8, "lag_p99_ms": 10.0, "apply_ops_per_sec": 50_000,
           "memory_bytes_per_key": 16.0}

THROUGHPUT_TESTS = ("set", "incr", "lpush")
PIPELINES = (1, 16)
CLIENTS = 50
KEYSPACE = 100_000
WRITE_RATE = 20_000

# No wait here is unbounded: catching up 1M ops at a tenth of the target
# rate still fits.
CATCHUP_TIMEOUT = 600.0
START_TIMEOUT = 120.0
POLL = 0.01


# -- pure helpers (unit-tested) ------------------------------------------------------


def parse_vector(text: str | bytes | None) -> dict[int, int]:
    """A version vector as GLOBAL STATUS prints it (``"1:200 3:7"``) as
    origin -> op id."""
    if isinstance(text, bytes):
        text = text.decode()
    out = {}
    for part in (text or "").split():
        origin, _, opid = part.partition(":")
        out[int(origin)] = int(opid)
    return out


def pairs_to_dict(reply) -> dict:
    """GLOBAL STATUS's flat [name, value, name, value, ...] reply as a dict,
    nested arrays (the links) left as they are; bytes decoded."""
    out = {}
    for i in range(0, len(reply) - 1, 2):
        k, v = reply[i], reply[i + 1]
        out[k.decode() if isinstance(k, bytes) else str(k)] = (
            v.decode() if isinstance(v, bytes) else v)
    return out


def rate(ops: int, seconds: float | None) -> float | None:
    """Ops per second, None when nothing was timed."""
    return round(ops / seconds, 1) if seconds else None


def per_key(rss_before: int, rss_after: int, keys: int) -> float:
    """Bytes of RSS that ``keys`` keys added, per key."""
    return (rss_after - rss_before) / keys


def member_args(server_id: int, fsync: str = "everysec", peers=(),
                compression: str | None = None) -> list[str]:
    """The ``python -m pyredis`` options that make a global replication
    member; its log goes to ``g`` under the server's working directory.
    ``compression``: ``global-link-compression`` (None: the default)."""
    args = ["--global-server-id", str(server_id), "--global-log-dir", "g",
            "--global-log-fsync", fsync]
    if compression is not None:
        args += ["--global-link-compression", compression]
    for p in peers:
        args += ["--global-peer", f"127.0.0.1:{p}"]
    return args


def all_pass(verdicts) -> str | None:
    """One verdict over several cells: MISS if any missed."""
    vs = [v for v in verdicts if v]
    if not vs:
        return None
    return "PASS" if all(v == "PASS" for v in vs) else "MISS"


def table_rows(report: dict) -> list[list[str]]:
    """The markdown table's rows: figure, global off, global on, on/off,
    target, result."""
    f, s = report["figures"], report["settings"]
    rows = []
    if "throughput" in f:
        t = f["throughput"]
        for cell in t["cells"]:
            rows.append([f"{cell['test'].upper()} -P {cell['pipeline']} ops/s",
                         _cell(cell["off"], ",.0f"), _cell(cell["on"], ",.0f"),
                         _num(cell["ratio"], ".2f"), f"on/off ≥ {TARGETS['throughput_ratio']:g}",
                         cell["verdict"] or "-"])
        for cell in t["cells"]:
            rows.append([f"{cell['test'].upper()} -P {cell['pipeline']} server CPU µs/op",
                         _cell(cell["cpu_off"], ".2f"), _cell(cell["cpu_on"], ".2f"),
                         _num(ratio(cell["cpu_on"]["median"], cell["cpu_off"]["median"]),
                              ".2f"), "-", "-"])
    if "lag" in f:
        g = f["lag"]
        how = "keyspace events" if g["method"] == "events" else "polling"
        rows.append([f"lag p50 at {s['write_rate']:,} writes/s, {how} (ms)", "-",
                     _cell(g["p50_ms"], ".2f"), "-", "-", "-"])
        rows.append([f"lag p99 at {s['write_rate']:,} writes/s, {how} (ms)", "-",
                     _cell(g["p99_ms"], ".2f"), "-", f"≤ {TARGETS['lag_p99_ms']:g} ms",
                     g["verdict"] or "-"])
    if "apply" in f:
        a = f["apply"]
        rows.append([f"apply rate of one link, {s['ops']:,} SETs (ops/s)", "-",
                     _cell(a["ops_per_sec"], ",.0f"), "-",
                     f"≥ {TARGETS['apply_ops_per_sec']:,}", a["verdict"] or "-"])
        if a.get("ops_per_receiver_cpu_s"):
            rows.append(["apply: ops per second of the receiver's CPU", "-",
                         _cell(a["ops_per_receiver_cpu_s"], ",.0f"), "-", "-", "-"])
        if a.get("compression_ratio") and a["compression_ratio"].get("median"):
            rows.append(["apply: the link's compression ratio", "-",
                         _cell(a["compression_ratio"], ".2f"), "-", "-", "-"])
    if "resume" in f:
        r = f["resume"]
        rows.append([f"resume after {s['resume_ops']:,} ops: restart to caught up (s)", "-",
                     _cell(r["seconds"], ".1f"), "-", "-", "-"])
        rows.append(["resume: catch-up rate after start-up (ops/s)", "-",
                     _cell(r["ops_per_sec"], ",.0f"), "-", "-", "-"])
        rows.append(["resume: global_full_syncs", "-", str(r["full_syncs"]), "-", "0",
                     r["verdict"] or "-"])
    if "memory" in f:
        m = f["memory"]
        rows.append([f"RSS per key, {s['memory_keys']:,} small keys (bytes)",
                     _cell(m["off"], ".1f"), _cell(m["on"], ".1f"), "-", "-", "-"])
        rows.append(["memory global replication adds per key (bytes)", "-",
                     _cell(m["added"], ".1f"), "-",
                     f"≤ {TARGETS['memory_bytes_per_key']:g}", m["verdict"] or "-"])
        if m.get("table_bytes_per_key") is not None:
            rows.append(["  of which the version table, in process (bytes)", "-",
                         _num(m["table_bytes_per_key"], ".1f"), "-", "-", "-"])
    return rows


def markdown_table(report: dict) -> str:
    lines = ["| figure | global off | global on | on/off | target | result |",
             "|---|--:|--:|--:|---|---|"]
    lines += ["| " + " | ".join(r) + " |" for r in table_rows(report)]
    return "\n".join(lines)


def render(report: dict) -> str:
    m, s = report["machine"], report["settings"]
    head = (f"pyredis {m.get('pyredis_version')} ({m.get('git_commit') or '?'}); "
            f"{report['date']}\n" + machine_line(report)
            + f"{s['rounds']} round(s), median (min–max) shown\n")
    return "\n".join([head, markdown_table(report), ""] + verdict_lines(report))


# -- servers ------------------------------------------------------------------------


def rss_bytes(pid: int) -> int:
    """Resident set size of a process (VmRSS)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


class GBench(Bench):
    """The servers and load processes of one run, all stopped by close()
    (bench.replication's Bench, with members started by name)."""

    prefix = "pyredis-bench-global-"
    load_seconds = CATCHUP_TIMEOUT
    stop_timeout = 60

    def start(self, name: str, extra: list[str] = (), port: int | None = None,
              directory: str | None = None) -> Server:
        """A pyredis in its own directory (a member's log and checkpoints
        live there); ``port`` and ``directory`` restart one on its files."""
        self.count += 1
        if directory is None:
            # Numbered: each round starts fresh servers of the same name.
            directory = os.path.join(self.workdir, f"{name}-{self.count}")
            os.makedirs(directory)
        port = port or free_port()
        # Each start gets its own log file: a restart must not truncate
        # the log of the run before it.
        s = Server(f"{name}-{self.count}", pyredis_argv(port, list(extra)), port, directory,
                   env=repo_env())
        s.directory = directory
        self.servers.append(s)
        s.wait_ready(timeout=START_TIMEOUT)
        return s


def ginfo(port: int) -> dict:
    c = Client(port)
    try:
        return info(c, "global")
    finally:
        c.close()


def gstatus(port: int) -> dict:
    c = Client(port)
    try:
        return pairs_to_dict(c.call("GLOBAL", "STATUS"))
    finally:
        c.close()


def vector_of(port: int) -> dict[int, int]:
    return parse_vector(gstatus(port).get("vector"))


def call(port: int, *args):
    c = Client(port)
    try:
        return c.call(*args)
    finally:
        c.close()


def link_bytes(port: int) -> tuple[int, int]:
    """The source stream of the member's first outgoing link: (bytes before
    compression, bytes on the wire)."""
    for link in gstatus(port).get("links") or []:
        d = pairs_to_dict(link)
        if d.get("direction") == "in":
            return int(d.get("bytes_in_uncompressed", d["bytes_in"])), int(d["bytes_in"])
    return 0, 0


def link_synced(m2: Server) -> bool:
    inf = ginfo(m2.port)
    return "state=synced" in inf.get("link0", "")


def write_ops(benchmark: str, server: Server, n: int) -> dict:
    """``n`` SETs on ``server`` by redis-benchmark -P 16 (each SET is one op
    of the global log); the seconds taken and how many ops the member
    counted, which must be ``n``."""
    before = int(ginfo(server.port).get("global_ops_local", 0))
    res = bench_once(benchmark, server, "set", CLIENTS, 16, n, KEYSPACE)
    if res["error"]:
        raise RuntimeError(f"redis-benchmark on {server.name}: {res['error']}")
    made = int(ginfo(server.port).get("global_ops_local", 0)) - before
    return {"seconds": res["wall_s"], "ops": made}


# -- the figures ------------------------------------------------------------------


def run_throughput(b: GBench, opts) -> dict:
    benchmark = find_redis_benchmark()
    plain = b.start("plain")
    member = b.start("member", member_args(1))
    servers = {"off": plain, "on": member}
    cells = {(t, p): {"off": [], "on": []} for t in opts.tests for p in PIPELINES}
    for r in range(opts.rounds):
        # Which server goes first alternates by round, so that a trend in
        # the machine's load does not always favour the same one.
        order = ("off", "on") if r % 2 == 0 else ("on", "off")
        for (test, p), runs in cells.items():
            n = requests_for(p, opts.requests)
            for state in order:
                res = bench_once(benchmark, servers[state], test, CLIENTS, p, n, KEYSPACE)
                res["ops_per_sec"] = res["rows"][0][1] if res["rows"] else None
                del res["rows"]
                runs[state].append(res)
                _log(f"[throughput {r + 1}/{opts.rounds}] {test} -P {p} global {state:3} "
                     f"{_num(res['ops_per_sec'], ',.0f')} ops/s "
                     f"{_num(res['server_cpu_us_per_op'], '.2f')} µs/op {res['error'] or ''}")
    out = []
    for (test, p), runs in cells.items():
        cell = {"test": test, "pipeline": p, "requests": requests_for(p, opts.requests)}
        for state in ("off", "on"):
            cell[state] = spread([x["ops_per_sec"] for x in runs[state]])
            cell["cpu_" + state] = spread([x["server_cpu_us_per_op"] for x in runs[state]])
        cell["ratio"] = ratio(cell["on"]["median"], cell["off"]["median"])
        cell["verdict"] = verdict(cell["ratio"], TARGETS["throughput_ratio"], at_most=False)
        cell["runs"] = runs
        out.append(cell)
    log_bytes = int(ginfo(member.port).get("global_log_bytes", 0))
    b.stop(plain)
    b.stop(member)
    return {"cells": out, "member_log_bytes": log_bytes, "target": TARGETS["throughput_ratio"],
            "verdict": all_pass(c["verdict"] for c in out)}


def pair(b: GBench, opts) -> tuple[Server, Server]:
    """Member 1 and member 2 pulling from it, link synced."""
    m1 = b.start("member1", member_args(1, compression=opts.link_compression))
    m2 = b.start("member2", member_args(2, peers=[m1.port], compression=opts.link_compression))
    wait_for(lambda: link_synced(m2), START_TIMEOUT, 0.05, "member 2's link to sync")
    return m1, m2


def events_fire(m1: Server, m2: Server) -> bool:
    """Whether an op applied from a link fires a keyspace event on the
    receiver (then the lag is timed by events, else by polling)."""
    call(m2.port, "CONFIG", "SET", "notify-keyspace-events", "KA")
    sub = Client(m2.port)
    try:
        sub.send("SUBSCRIBE", "__keyspace@0__:eventcheck")
        sub.read()
        call(m1.port, "SET", "eventcheck", "1")
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            sub.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                msg = sub.read()
            except OSError:
                break
            if isinstance(msg, list) and len(msg) == 3 and msg[0] == b"message":
                return True
        return False
    finally:
        sub.close()
        call(m2.port, "CONFIG", "SET", "notify-keyspace-events", "")


def poll_lag_round(b: GBench, m1: Server, m2: Server, opts) -> dict:
    """The lag measured by polling member 2 for each probe's value (GET in
    a tight loop, 0.1 ms apart): used only when applied ops fire no
    keyspace events."""
    load = b.load(m1.port, "writes", opts.write_rate, KEYSPACE, "lag:")
    writer, reader = Client(m1.port), Client(m2.port)
    lags, lost, seq = [], 0, 0
    try:
        time.sleep(opts.warmup)
        end = time.monotonic() + opts.lag_seconds
        while time.monotonic() < end:
            key, value = f"probe:{seq % PROBE_CHANNELS}", str(seq).encode()
            reply = writer.call("SET", key, value)
            t_reply = time.monotonic()
            if isinstance(reply, ReplyError):
                raise reply
            got = None
            while time.monotonic() - t_reply < 2.0:
                if reader.call("GET", key) == value:
                    got = time.monotonic()
                    break
                time.sleep(0.0001)
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
        reader.close()
    sent_rate = result["sent"] / result["seconds"] if result["seconds"] else 0.0
    return {"p50_ms": percentile(lags, 50), "p99_ms": percentile(lags, 99),
            "max_ms": max(lags) if lags else None, "probes": len(lags), "lost": lost,
            "write_rate": round(sent_rate), "write_errors": result["errors"]}


def run_lag(b: GBench, m1: Server, m2: Server, opts) -> dict:
    method = "events" if events_fire(m1, m2) else "polling"
    _log(f"lag: ops applied from a link {'do' if method == 'events' else 'do NOT'} fire "
         f"keyspace events on the receiver; timing by {method}")
    runs = []
    for r in range(opts.rounds):
        if method == "events":
            # bench.replication's probe loop: member 1 as the master,
            # member 2 as the replica whose notifications are read.
            res = lag_round(b, m1, m2, opts)
        else:
            res = poll_lag_round(b, m1, m2, opts)
        _log(f"[lag {r + 1}/{opts.rounds}] p50 {_num(res['p50_ms'], '.2f')} ms "
             f"p99 {_num(res['p99_ms'], '.2f')} ms, {res['write_rate']} writes/s, "
             f"{res['probes']} probes, {res['lost']} lost")
        runs.append(res)
    p99 = spread([x["p99_ms"] for x in runs])
    return {"method": method, "p50_ms": spread([x["p50_ms"] for x in runs]), "p99_ms": p99,
            "runs": runs, "target": TARGETS["lag_p99_ms"],
            "verdict": verdict(p99["median"], TARGETS["lag_p99_ms"], at_most=True)}


def wait_applied(m2: Server, target: int, timeout: float) -> float:
    """Polls member 2 until its global_ops_applied reaches ``target``;
    returns the monotonic time it was seen."""
    c = Client(m2.port)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if int(info(c, "global").get("global_ops_applied", 0)) >= target:
                return time.monotonic()
            time.sleep(POLL)
    finally:
        c.close()
    raise RuntimeError(f"{m2.name}: did not apply up to {target} ops in {timeout} s")


def run_apply(b: GBench, m1: Server, m2: Server, opts) -> dict:
    benchmark = find_redis_benchmark()
    host_port = ("127.0.0.1", str(m1.port))
    runs = []
    for r in range(opts.rounds):
        call(m2.port, "GLOBAL", "LINK", "STOP", *host_port)
        written = write_ops(benchmark, m1, opts.ops)
        applied0 = int(ginfo(m2.port).get("global_ops_applied", 0))
        plain0, wire0 = link_bytes(m2.port)
        cpu1, cpu2 = m1.cpu_seconds(), m2.cpu_seconds()
        t0 = time.monotonic()
        call(m2.port, "GLOBAL", "LINK", "START", *host_port)
        t1 = wait_applied(m2, applied0 + written["ops"], CATCHUP_TIMEOUT)
        secs = t1 - t0
        plain1, wire1 = link_bytes(m2.port)
        res = {"seconds": round(secs, 3), "ops": written["ops"],
               # The link's stream while catching up: its size, and how much
               # smaller it was on the wire (global-link-compression).
               "stream_bytes": plain1 - plain0, "wire_bytes": wire1 - wire0,
               "compression_ratio": round((plain1 - plain0) / (wire1 - wire0), 2)
               if wire1 > wire0 else None,
               "ops_per_sec": rate(written["ops"], secs),
               "write_seconds": written["seconds"],
               # The CPU each side spent: the receiver's is the apply cost.
               "source_cpu_s": round(m1.cpu_seconds() - cpu1, 2),
               "receiver_cpu_s": round(m2.cpu_seconds() - cpu2, 2)}
        # The rate one core of the receiver sustains: on a shared machine
        # the wall-clock rate also measures how much CPU it was given.
        res["ops_per_receiver_cpu_s"] = rate(res["ops"], res["receiver_cpu_s"])
        _log(f"[apply {r + 1}/{opts.rounds}] {res['ops']:,} ops in {res['seconds']} s: "
             f"{_num(res['ops_per_sec'], ',.0f')} ops/s (receiver CPU {res['receiver_cpu_s']} s,"
             f" source {res['source_cpu_s']} s; stream {res['stream_bytes']:,} bytes, "
             f"{res['wire_bytes']:,} on the wire, ratio {_num(res['compression_ratio'], '.2f')})")
        runs.append(res)
    s = spread([x["ops_per_sec"] for x in runs])
    return {"ops_per_sec": s, "runs": runs,
            "ops_per_receiver_cpu_s": spread([x["ops_per_receiver_cpu_s"] for x in runs]),
            "compression_ratio": spread([x["compression_ratio"] for x in runs]),
            "target": TARGETS["apply_ops_per_sec"],
            "verdict": verdict(s["median"], TARGETS["apply_ops_per_sec"], at_most=False)}


def run_resume(b: GBench, m1: Server, m2: Server, opts) -> tuple[dict, Server]:
    """Returns the figure and the restarted member 2."""
    benchmark = find_redis_benchmark()
    runs = []
    for r in range(opts.rounds):
        port, directory = m2.port, m2.directory
        b.stop(m2)
        written = write_ops(benchmark, m1, opts.resume_ops)
        want = vector_of(m1.port).get(1, 0)
        t0 = time.monotonic()
        m2 = b.start("member2", member_args(2, peers=[m1.port],
                                            compression=opts.link_compression), port=port,
                     directory=directory)
        t_ready = time.monotonic()
        c = Client(m2.port)
        try:
            deadline = t0 + CATCHUP_TIMEOUT
            while True:
                if parse_vector(pairs_to_dict(c.call("GLOBAL", "STATUS")).get(
                        "vector")).get(1, 0) >= want:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{m2.name}: did not catch up in {CATCHUP_TIMEOUT} s")
                time.sleep(POLL)
            t1 = time.monotonic()
            # A fresh process: all its CPU time is start-up and catch-up.
            cpu = m2.cpu_seconds()
            inf = info(c, "global")
        finally:
            c.close()
        res = {"seconds": round(t1 - t0, 3), "startup_s": round(t_ready - t0, 3),
               "catchup_s": round(t1 - t_ready, 3), "ops": written["ops"],
               "ops_per_sec": rate(written["ops"], t1 - t_ready),
               "write_seconds": written["seconds"], "receiver_cpu_s": round(cpu, 2),
               "full_syncs": int(inf.get("global_full_syncs", 0)),
               "partial_syncs": int(inf.get("global_partial_syncs", 0))}
        _log(f"[resume {r + 1}/{opts.rounds}] {res['ops']:,} ops: caught up {res['seconds']} s "
             f"after the restart (start-up {res['startup_s']} s), full syncs "
             f"{res['full_syncs']}, partial syncs {res['partial_syncs']}")
        runs.append(res)
    full = sum(x["full_syncs"] for x in runs)
    return ({"seconds": spread([x["seconds"] for x in runs]),
             "startup_s": spread([x["startup_s"] for x in runs]),
             "ops_per_sec": spread([x["ops_per_sec"] for x in runs]),
             "full_syncs": full, "runs": runs,
             "verdict": "PASS" if full == 0 else "MISS"}, m2)


def table_cost(keys: int) -> float:
    """Bytes per key of the version table alone, built in this process the
    way a member fills it (tracemalloc; the keys themselves not counted).
    The versions are a member's (make_version): a write every 10 µs at
    ServerID 1, the HLC counter cycling."""
    from pyredis.replication.gmember import make_version
    from pyredis.types.versions import VersionTable
    names = [b"key:%d" % i for i in range(keys)]
    t0 = int(time.time() * 1000)
    versions = [make_version((t0 + i // 100) << 16 | i % 64, 1) for i in range(keys)]
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    t = VersionTable()
    for k, v in zip(names, versions):
        t.set(0, k, v)
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del t
    return (after - before) / keys


def run_memory(b: GBench, opts) -> dict:
    runs = {"off": [], "on": []}
    for r in range(opts.rounds):
        order = ("off", "on") if r % 2 == 0 else ("on", "off")
        for state in order:
            s = b.start("mem-" + state, member_args(1) if state == "on" else [])
            time.sleep(0.2)
            rss0 = rss_bytes(s.pid)
            secs = fill(s.port, opts.memory_keys)
            # Let a checkpoint the log's growth may have started finish, so
            # the parent's RSS is read at rest.
            time.sleep(0.5)
            rss1 = rss_bytes(s.pid)
            res = {"bytes_per_key": round(per_key(rss0, rss1, opts.memory_keys), 2),
                   "rss_empty": rss0, "rss_filled": rss1, "fill_seconds": round(secs, 2)}
            if state == "on":
                inf = ginfo(s.port)
                res["versions_bytes"] = int(inf.get("global_versions_bytes", 0) or 0) or None
                res["tombstones"] = int(inf.get("global_tombstones", 0) or 0)
            b.stop(s)
            _log(f"[memory {r + 1}/{opts.rounds}] global {state:3} "
                 f"{res['bytes_per_key']:.1f} B/key (RSS {rss0 >> 20} -> {rss1 >> 20} MiB)")
            runs[state].append(res)
    added = [on["bytes_per_key"] - off["bytes_per_key"]
             for on, off in zip(runs["on"], runs["off"])]
    out = {"off": spread([x["bytes_per_key"] for x in runs["off"]]),
           "on": spread([x["bytes_per_key"] for x in runs["on"]]),
           "added": spread([round(a, 2) for a in added]), "runs": runs}
    out["table_bytes_per_key"] = round(table_cost(opts.memory_keys), 2)
    out["target"] = TARGETS["memory_bytes_per_key"]
    out["verdict"] = verdict(out["added"]["median"], TARGETS["memory_bytes_per_key"],
                             at_most=True)
    return out


def run(opts) -> dict:
    only = opts.only
    benchmark = shutil.which("redis-benchmark") or "redis-benchmark"
    machine = machine_info(benchmark)
    report = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "machine": machine,
              "loadavg_before": _loadavg(),
              "settings": {"rounds": opts.rounds, "only": only, "quick": opts.quick,
                           "tests": opts.tests, "requests": opts.requests,
                           "write_rate": opts.write_rate, "lag_seconds": opts.lag_seconds,
                           "ops": opts.ops, "resume_ops": opts.resume_ops,
                           "memory_keys": opts.memory_keys, "clients": CLIENTS,
                           "link_compression": opts.link_compression,
                           "keyspace": KEYSPACE, "targets": TARGETS},
              "figures": {}}
    b = GBench()
    try:
        if "throughput" in only:
            report["figures"]["throughput"] = run_throughput(b, opts)
        if "lag" in only or "apply" in only or "resume" in only:
            m1, m2 = pair(b, opts)
            if "lag" in only:
                report["figures"]["lag"] = run_lag(b, m1, m2, opts)
            if "apply" in only:
                report["figures"]["apply"] = run_apply(b, m1, m2, opts)
            if "resume" in only:
                report["figures"]["resume"], m2 = run_resume(b, m1, m2, opts)
            b.stop(m1)
            b.stop(m2)
        if "memory" in only:
            report["figures"]["memory"] = run_memory(b, opts)
    finally:
        b.close()
    machine["pyredis_version"] = pyredis_version()
    report["loadavg_after"] = _loadavg()
    report["figures"] = {k: report["figures"][k] for k in FIGURES if k in report["figures"]}
    return report


# -- command line ------------------------------------------------------------------


def parse_args(argv: list[str] | None = None):
    p = argparse.ArgumentParser(
        prog="python -m bench.globalrepl",
        description="Global replication figures (throughput with the global log, lag, "
                    "apply rate, resume after an outage, memory per key of versions).")
    p.add_argument("--rounds", type=int, default=None,
                   help="rounds per figure; the median is reported (default 3, 1 with --quick)")
    p.add_argument("--quick", action="store_true",
                   help="a smoke run: small counts, one round, short windows")
    p.add_argument("--only", default=",".join(FIGURES),
                   help=f"comma-separated subset of {','.join(FIGURES)}")
    p.add_argument("--ops", type=int, default=None,
                   help="ops written while the link is stopped for the apply figure "
                        "(default 500,000; 20,000 with --quick)")
    p.add_argument("--resume-ops", type=int, default=None,
                   help="ops written while member 2 is down (default 1,000,000; "
                        "20,000 with --quick)")
    p.add_argument("--memory-keys", type=int, default=None,
                   help="keys for the memory figure (default 1,000,000; 20,000 with --quick)")
    p.add_argument("--write-rate", type=int, default=WRITE_RATE,
                   help="SETs per second on member 1 during the lag figure "
                        "(default %(default)s)")
    p.add_argument("--link-compression", choices=("yes", "no"), default="yes",
                   help="global-link-compression of the members (default %(default)s)")
    p.add_argument("--out", default=None,
                   help="JSON report path (default bench/results/globalrepl-<timestamp>.json)")
    opts = p.parse_args(argv)
    only = [f.strip() for f in opts.only.split(",") if f.strip()]
    bad = [f for f in only if f not in FIGURES]
    if bad or not only:
        p.error(f"--only takes a subset of {','.join(FIGURES)}, not {opts.only!r}")
    opts.only = only
    q = opts.quick
    if opts.rounds is None:
        opts.rounds = 1 if q else 3
    if opts.ops is None:
        opts.ops = 20_000 if q else 500_000
    if opts.resume_ops is None:
        opts.resume_ops = 20_000 if q else 1_000_000
    if opts.memory_keys is None:
        opts.memory_keys = 20_000 if q else 1_000_000
    if min(opts.rounds, opts.ops, opts.resume_ops, opts.memory_keys, opts.write_rate) < 1:
        p.error("--rounds, --ops, --resume-ops, --memory-keys and --write-rate must be positive")
    # A smoke run times SET alone, with few requests; a full run the
    # issue's three tests with bench.run's counts (-n 100,000 at -P 1,
    # 800,000 at -P 16).
    opts.tests = ["set"] if q else list(THROUGHPUT_TESTS)
    opts.requests = 5_000 if q else 100_000
    # bench.replication's lag_round reads these.
    opts.lag_seconds = 1.0 if q else 10.0
    opts.warmup = 0.2 if q else 1.0
    return opts


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    # SIGTERM unwinds like ^C, so that the servers are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    report = run(opts)
    out = Path(opts.out) if opts.out else RESULTS_DIR / time.strftime(
        "globalrepl-%Y%m%d-%H%M%S.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(render(report))
    print(f"\nresults written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
