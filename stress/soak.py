"""Soak run: minutes of mixed reads and writes, with expiring keys, on a
pyredis master that has a classic replica (REPLICAOF) and a global link (a
second member pulling from it).

Every few seconds it samples each process's RSS from /proc and the sizes of
the internal tables (the classic backlog, the global log and its indexes,
the version table and tombstones next to the key count). At the end it
checks that no key was lost (each worker knows what it wrote to its own
keys), that the replica and the peer hold what the master holds (equal
``DEBUG DIGEST`` and ``GLOBAL DIGEST``), and it reports the RSS slope after
warm-up. Figures go to stdout and to ``stress/results/soak-*.json``.

    python -m stress.soak --minutes 10

Exit status 0 when every check passed.
"""

from __future__ import annotations

import argparse
import random
import sys
import threading
import time

import redis

from . import common



class Worker(threading.Thread):
    """One client writing and reading its own keys (prefix ``w<n>:``), and
    remembering what each persistent key must hold."""

    def __init__(self, n: int, port: int, stop: threading.Event, seed: int,
                 expiring_names: int) -> None:
        super().__init__(name=f"soak-worker-{n}", daemon=True)
        self.n, self.port, self.stop = n, port, stop
        # How many names the expiring keys are drawn from: huge (the
        # default) means nearly every one is new, as session or cache keys.
        self.expiring_names = expiring_names
        self.rng = random.Random(seed)
        self.strings: dict[bytes, bytes] = {}
        self.counters: dict[bytes, int] = {}
        self.hashes: dict[bytes, dict[bytes, bytes]] = {}
        self.lists: dict[bytes, list[bytes]] = {}
        self.zsets: dict[bytes, dict[bytes, float]] = {}
        self.ops = 0
        self.expiring_set = 0
        self.errors: list[str] = []

    def run(self) -> None:
        try:
            r = redis.Redis(host=common.HOST, port=self.port, socket_timeout=30)
            while not self.stop.is_set():
                self.batch(r)
        except Exception as e:  # the report shows it; the run fails
            self.errors.append(f"worker {self.n}: {type(e).__name__}: {e}")

    def batch(self, r: redis.Redis) -> None:
        rng, w = self.rng, self.n
        pipe = r.pipeline(transaction=False)
        checks = []  # (what the reply must be, description)
        for _ in range(50):
            op = rng.random()
            i = rng.randrange(2000)
            if op < 0.25:
                k = b"w%d:s:%d" % (w, i)
                v = b"%x" % rng.getrandbits(64) * rng.randrange(1, 20)
                pipe.set(k, v)
                self.strings[k] = v
                checks.append((True, k))
            elif op < 0.40:
                k = b"w%d:e:%d" % (w, rng.randrange(self.expiring_names))
                pipe.set(k, b"x" * rng.randrange(1, 200), px=rng.randrange(500, 10000))
                self.expiring_set += 1
                checks.append((True, k))
            elif op < 0.50:
                k = b"w%d:c:%d" % (w, i % 300)
                self.counters[k] = self.counters.get(k, 0) + 1
                pipe.incr(k)
                checks.append((self.counters[k], k))
            elif op < 0.60:
                k = b"w%d:h:%d" % (w, i % 300)
                f, v = b"f%d" % rng.randrange(20), b"%d" % rng.getrandbits(32)
                h = self.hashes.setdefault(k, {})
                pipe.hset(k, f, v)
                checks.append((0 if f in h else 1, k))
                h[f] = v
            elif op < 0.70:
                k = b"w%d:l:%d" % (w, i % 300)
                v = b"%d" % rng.getrandbits(32)
                lst = self.lists.setdefault(k, [])
                lst.insert(0, v)
                pipe.lpush(k, v)
                checks.append((len(lst), k))
                if len(lst) > 20:
                    lst.pop()
                    pipe.rpop(k)
                    checks.append((None, k))  # value checked at the end
            elif op < 0.75:
                k = b"w%d:z:%d" % (w, i % 300)
                m, s = b"m%d" % rng.randrange(30), float(rng.randrange(1000))
                z = self.zsets.setdefault(k, {})
                pipe.zadd(k, {m: s})
                checks.append((0 if m in z else 1, k))
                z[m] = s
            else:
                k = b"w%d:s:%d" % (w, i)
                pipe.get(k)
                checks.append((self.strings.get(k), k))
        replies = pipe.execute(raise_on_error=False)
        for (want, k), got in zip(checks, replies):
            if isinstance(got, Exception):
                self.errors.append(f"{k!r}: error {got}")
            elif want is not None and got != want:
                self.errors.append(f"{k!r}: got {got!r}, want {want!r}")
            if len(self.errors) > 20:
                raise RuntimeError("too many wrong replies")
        self.ops += len(checks)

    def missing(self, r: redis.Redis) -> list[str]:
        """Keys whose value on ``r`` differs from what was written."""
        bad = []
        pipe = r.pipeline(transaction=False)
        want = []
        for k, v in self.strings.items():
            pipe.get(k)
            want.append((k, v, lambda x: x))
        for k, v in self.counters.items():
            pipe.get(k)
            want.append((k, v, lambda x: int(x) if x is not None else None))
        for k, v in self.hashes.items():
            pipe.hgetall(k)
            want.append((k, v, lambda x: x))
        for k, v in self.lists.items():
            pipe.lrange(k, 0, -1)
            want.append((k, v, lambda x: x))
        for k, v in self.zsets.items():
            pipe.zrange(k, 0, -1, withscores=True)
            want.append((k, v, lambda x: {m: s for m, s in x}))
        for (k, v, conv), got in zip(want, pipe.execute()):
            if conv(got) != v:
                bad.append(k.decode())
        return bad


def sample(servers: dict, t0: float) -> dict:
    m = servers["master"].client()
    row = {"t": round(time.monotonic() - t0, 1)}
    for name, proc in servers.items():
        row[f"rss_{name}"] = proc.rss()
    rep = common.info(m, "replication")
    glob = common.info(m, "global")
    mem = common.info(m, "memory")
    row["keys"] = m.dbsize()
    row["used_memory"] = int(mem.get("used_memory", 0))
    row["repl_backlog_histlen"] = int(rep.get("repl_backlog_histlen", 0))
    for f in ("global_log_bytes", "global_log_segments", "global_log_index_entries",
              "global_versions", "global_versions_bytes", "global_tombstones",
              "global_ttl_keys"):
        row[f] = int(glob.get(f, -1))
    return row


def wait_equal(servers: dict, timeout: float) -> dict:
    """Poll DEBUG DIGEST (and GLOBAL DIGEST for the two members) until the
    replica and the peer agree with the master; returns the last digests."""
    deadline = time.monotonic() + timeout
    while True:
        d = {name: p.client().execute_command("DEBUG", "DIGEST")
             for name, p in servers.items()}
        if len(set(d.values())) == 1 or time.monotonic() > deadline:
            return {k: v.decode() if isinstance(v, bytes) else v for k, v in d.items()}
        time.sleep(0.5)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--every", type=float, default=5.0, help="seconds between samples")
    ap.add_argument("--warmup", type=float, default=None,
                    help="seconds left out of the slope (default: a fifth of the run, "
                         "at most 120)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--expiring-names", type=int, default=1 << 40,
                    help="names per worker the expiring keys are drawn from (default: "
                         "practically unbounded, each expiring key is a new name)")
    args = ap.parse_args(argv)
    duration = args.minutes * 60
    warmup = args.warmup if args.warmup is not None else min(120.0, duration / 5)

    # Small log segments and a bounded log, so retention runs within the soak
    # and the log's size is seen to level off rather than grow for days first.
    master = common.pyredis("master", global_server_id=1, global_log_segment_size="1mb",
                            global_log_max_size="8mb")
    servers = {"master": master}
    try:
        servers["replica"] = common.pyredis("replica", replicaof=f"{common.HOST} {master.port}")
        servers["peer"] = common.pyredis("peer", global_server_id=2,
                                         global_peer=f"{common.HOST}:{master.port}")
        print(f"master :{master.port} (pid {master.pid}), replica "
              f":{servers['replica'].port}, peer :{servers['peer'].port}; "
              f"{args.minutes} min, {args.workers} workers", flush=True)
        stop = threading.Event()
        workers = [Worker(n, master.port, stop, args.seed * 1000 + n, args.expiring_names)
                   for n in range(args.workers)]
        t0 = time.monotonic()
        for w in workers:
            w.start()
        samples = []
        cols = ("t", "rss_master", "rss_replica", "rss_peer", "keys", "repl_backlog_histlen",
                "global_log_bytes", "global_log_index_entries", "global_versions",
                "global_tombstones")
        print(" ".join(f"{c:>14}" for c in cols), flush=True)
        while time.monotonic() - t0 < duration and not any(w.errors for w in workers):
            time.sleep(min(args.every, max(0.0, duration - (time.monotonic() - t0))))
            row = sample(servers, t0)
            row["ops"] = sum(w.ops for w in workers)
            samples.append(row)
            print(" ".join(f"{row[c]:>14}" for c in cols), flush=True)
        stop.set()
        for w in workers:
            w.join()
        elapsed = time.monotonic() - t0
        errors = [e for w in workers for e in w.errors]

        # Let every expiring key run out, then check the three agree.
        time.sleep(11)
        digests = wait_equal(servers, 120)
        gdig = {n: servers[n].client().execute_command("GLOBAL", "DIGEST")
                for n in ("master", "peer")}
        lost = {name: sum(len(w.missing(p.client())) for w in workers)
                for name, p in servers.items()}
        final = sample(servers, t0)

        late = [s for s in samples if s["t"] >= warmup]
        slopes = {name: common.slope([(s["t"] / 60, s[f"rss_{name}"]) for s in late])
                  for name in servers}
        result = {
            "minutes": args.minutes, "workers": args.workers, "warmup_s": warmup,
            "expiring_names": args.expiring_names,
            "ops": sum(w.ops for w in workers), "ops_per_s": round(
                sum(w.ops for w in workers) / elapsed),
            "expiring_keys_set": sum(w.expiring_set for w in workers),
            "persistent_keys": sum(len(w.strings) + len(w.counters) + len(w.hashes)
                                   + len(w.lists) + len(w.zsets) for w in workers),
            "wrong_replies": errors, "lost_keys": lost, "debug_digest": digests,
            "global_digest": {k: v.decode() if isinstance(v, bytes) else v
                              for k, v in gdig.items()},
            "rss_slope_bytes_per_min": {k: round(v) for k, v in slopes.items()},
            "table_slopes_per_min": {f: round(common.slope([(s["t"] / 60, s[f]) for s in late]),
                                               1)
                                     for f in ("keys", "repl_backlog_histlen",
                                               "global_log_bytes", "global_log_index_entries",
                                               "global_versions", "global_tombstones")},
            "samples": samples, "final": final,
        }
        ok = (not errors and not any(lost.values()) and len(set(digests.values())) == 1
              and len(set(result["global_digest"].values())) == 1)
        result["ok"] = ok
        path = common.save_result("soak", result)
        print(f"\n{result['ops']} ops ({result['ops_per_s']}/s), "
              f"{result['expiring_keys_set']} expiring keys set, "
              f"{result['persistent_keys']} persistent keys checked")
        print(f"RSS slope after {warmup:.0f} s warm-up (bytes/min): "
              f"{result['rss_slope_bytes_per_min']}")
        print(f"table slopes (per min): {result['table_slopes_per_min']}")
        print(f"final: {final}")
        print(f"lost keys: {lost}; wrong replies: {len(errors)} {errors[:3]}")
        print(f"DEBUG DIGEST: {digests}")
        print(f"GLOBAL DIGEST: {result['global_digest']}")
        print(f"{'PASS' if ok else 'FAIL'}; figures in {path}")
        return 0 if ok else 1
    finally:
        for p in servers.values():
            p.stop()


if __name__ == "__main__":
    sys.exit(main())
