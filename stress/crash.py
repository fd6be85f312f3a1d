"""Crash run: kill -9 a pyredis server at random moments under write load,
restart it on the same directory, and check what came back against what
clients were told.

Modes (each in a directory of its own, over several kill rounds):

* ``aof-always``: ``appendonly yes``, ``appendfsync always``;
* ``glog-always``: global replication on (``global-server-id 1``),
  ``global-log-fsync always``, no AOF;
* ``aof-everysec`` and ``glog-everysec``: the same with ``everysec``, where
  a crash may lose the last second or so of acknowledged writes: the run
  counts them and how far before the kill the first lost one was
  acknowledged.

Each writer thread owns a counter and INCRs it in a loop, noting the time
each reply arrived. After the restart a counter must hold at least every
acknowledged INCR (``always``) and never more than were sent.

    python -m stress.crash --rounds 10

Figures go to stdout and ``stress/results/crash-*.json``; exit status 0 when
no ``always`` mode lost an acknowledged write and no mode invented one.
"""

from __future__ import annotations

import argparse
import random
import sys
import threading
import time

import redis

from . import common

MODES = {
    "aof-always": {"appendonly": "yes", "appendfsync": "always"},
    "glog-always": {"global_server_id": 1, "global_log_fsync": "always"},
    "aof-everysec": {"appendonly": "yes", "appendfsync": "everysec"},
    "glog-everysec": {"global_server_id": 1, "global_log_fsync": "everysec"},
}


class Writer(threading.Thread):
    """INCRs key ``crash:<n>`` until the server dies; ``acked`` is the last
    value a reply confirmed, ``sent`` the number of INCRs sent, and
    ``ack_times[v]`` when the reply ``v`` came."""

    def __init__(self, n: int, port: int, start_value: int) -> None:
        super().__init__(daemon=True, name=f"crash-writer-{n}")
        self.key = f"crash:{n}"
        self.port = port
        self.acked = self.sent = start_value
        self.ack_times: dict[int, float] = {}

    def run(self) -> None:
        try:
            r = redis.Redis(host=common.HOST, port=self.port, socket_timeout=10,
                            retry_on_error=[], retry=None)
            while True:
                self.sent += 1
                v = r.incr(self.key)
                self.ack_times[v] = time.monotonic()
                self.acked = v
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            pass  # the server was killed


def run_mode(mode: str, rounds: int, writers: int, rng: random.Random) -> dict:
    proc = common.pyredis(f"crash-{mode}", **MODES[mode])
    values = [0] * writers
    out = {"rounds": [], "acked_writes": 0, "lost_acked": 0, "invented": 0,
           "max_loss_window_ms": 0.0}
    try:
        for rnd in range(rounds):
            ws = [Writer(i, proc.port, values[i]) for i in range(writers)]
            for w in ws:
                w.start()
            time.sleep(rng.uniform(0.3, 2.5))
            t_kill = time.monotonic()
            proc.kill()
            for w in ws:
                w.join(15)
            proc.start()
            r = proc.client()
            got = [int(r.get(w.key) or 0) for w in ws]
            lost = invented = 0
            window = 0.0
            for w, v in zip(ws, got):
                if v < w.acked:
                    lost += w.acked - v
                    # The first acknowledged INCR that is gone: how long
                    # before the kill its reply came.
                    window = max(window, t_kill - w.ack_times[v + 1])
                if v > w.sent:
                    invented += v - w.sent
            acked = sum(w.acked - values[i] for i, w in enumerate(ws))
            values = got
            out["rounds"].append({"acked": acked, "lost": lost, "invented": invented,
                                  "loss_window_ms": round(window * 1000, 1)})
            out["acked_writes"] += acked
            out["lost_acked"] += lost
            out["invented"] += invented
            out["max_loss_window_ms"] = max(out["max_loss_window_ms"], round(window * 1000, 1))
            print(f"  {mode} round {rnd + 1}: {acked} acknowledged, {lost} lost, "
                  f"{invented} beyond what was sent"
                  + (f", first lost acknowledged {window * 1000:.0f} ms before the kill"
                     if lost else ""), flush=True)
    finally:
        proc.stop()
    return out


def exposure(seconds: float, writers: int) -> dict:
    """What a power cut could lose under ``global-log-fsync everysec``: while
    writers run, sample INFO global's last and durable LSNs every 10 ms; the
    window at a sample is how long ago the oldest record not yet fsynced
    was logged (kill -9 cannot show it: the kernel keeps written bytes)."""
    proc = common.pyredis("crash-exposure", **MODES["glog-everysec"])
    samples = []  # (time, last_lsn, durable_lsn)
    try:
        ws = [Writer(i, proc.port, 0) for i in range(writers)]
        for w in ws:
            w.start()
        r = proc.client()
        t_end = time.monotonic() + seconds
        while time.monotonic() < t_end:
            g = common.info(r, "global")
            samples.append((time.monotonic(), int(g["global_log_last_lsn"]),
                            int(g["global_log_durable_lsn"])))
            time.sleep(0.01)
    finally:
        proc.stop()
    windows, unsynced = [], []
    j = 0
    for t, last, durable in samples:
        unsynced.append(last - durable)
        # The first sample whose last LSN passed this durable one: the
        # oldest unsynced record was logged at about that time.
        while j < len(samples) and samples[j][1] <= durable:
            j += 1
        windows.append(t - samples[j][0] if last > durable and j < len(samples) else 0.0)
    windows.sort()
    unsynced.sort()
    return {"seconds": seconds, "samples": len(samples),
            "max_window_ms": round(windows[-1] * 1000, 1),
            "p99_window_ms": round(common.percentile(windows, 99) * 1000, 1),
            "max_unsynced_ops": unsynced[-1],
            "ops_per_s": round((samples[-1][1] - samples[0][1]) / (samples[-1][0] - samples[0][0]))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--writers", type=int, default=8)
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--exposure", type=float, default=0,
                    help="also sample, for this many seconds, how far the global log's "
                         "fsync lags its appends under everysec (a power cut's loss)")
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    results = {}
    for mode in args.modes.split(","):
        results[mode] = run_mode(mode, args.rounds, args.writers, rng)
    if args.exposure:
        results["glog-everysec-exposure"] = exp = exposure(args.exposure, args.writers)
        print(f"global-log-fsync everysec, {exp['ops_per_s']} ops/s: a power cut would lose "
              f"the records of the last {exp['max_window_ms']} ms at worst (p99 "
              f"{exp['p99_window_ms']} ms), at most {exp['max_unsynced_ops']} ops")
    ok = all(res.get("invented", 0) == 0 and (res.get("lost_acked", 0) == 0 or "everysec" in mode)
             for mode, res in results.items())
    print()
    for mode, res in results.items():
        if mode not in MODES:
            continue
        print(f"{mode:14} {res['acked_writes']:>8} acknowledged over {args.rounds} kills, "
              f"{res['lost_acked']:>6} lost (worst round: first lost write acknowledged "
              f"{res['max_loss_window_ms']} ms before the kill), {res['invented']} invented")
    path = common.save_result("crash", {"args": vars(args), "results": results, "ok": ok})
    print(f"{'PASS' if ok else 'FAIL'}; figures in {path}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
