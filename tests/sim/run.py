"""Runs the simulation over many seeds: ``python -m tests.sim.run --seeds
1000 --start 0``. Every failure prints its seed; ``--seed N -v`` replays one
with a trace. Re-executes itself with PYTHONHASHSEED=0 so a seed replays
exactly (set iteration order reaches some effects)."""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback


def main(argv=None) -> int:
    if os.environ.get("PYTHONHASHSEED") != "0":
        env = dict(os.environ, PYTHONHASHSEED="0")
        os.execve(sys.executable, [sys.executable, "-m", "tests.sim.run", *sys.argv[1:]], env)
    import logging

    from .cluster import SimFailure, run_seed

    p = argparse.ArgumentParser(prog="python -m tests.sim.run")
    p.add_argument("--seeds", type=int, default=100, help="how many seeds")
    p.add_argument("--start", type=int, default=0, help="first seed")
    p.add_argument("--seed", type=int, help="run this one seed")
    p.add_argument("--topology", help="mesh, star, chain, ring or oneway (default: by seed)")
    p.add_argument("--members", type=int, help="group size (default: 3 or 4, by seed)")
    p.add_argument("--ops", type=int, help="client requests per run (default: 150-400, by seed)")
    p.add_argument("--strings-only", action="store_true")
    p.add_argument("--no-restarts", action="store_true")
    p.add_argument("-v", "--verbose", action="store_true")
    p.add_argument("--stop", action="store_true", help="stop at the first failure")
    a = p.parse_args(argv)
    if not a.verbose:
        # Torn log tails cut at restart are expected here: do not print them.
        logging.getLogger("pyredis").setLevel(logging.ERROR)
    totals = dict(full_syncs=0, conflicts=0, restarts=0, local_ops=0, applied_ops=0)
    # Source stream bytes, (plain, wire), of compressed and plain streams.
    streams = {"zstd": [0, 0], "off": [0, 0]}
    seeds = [a.seed] if a.seed is not None else range(a.start, a.start + a.seeds)
    failed = []
    t0 = time.time()
    for seed in seeds:
        try:
            sim = run_seed(seed, topology=a.topology, n=a.members, ops=a.ops,
                           strings_only=a.strings_only,
                           restarts=not a.no_restarts, verbose=a.verbose)
            for m in sim.members:
                totals["full_syncs"] += sum(r.full_syncs for r in m.receivers.values())
                totals["conflicts"] += m.gm.conflicts
                totals["restarts"] += m.restarts
                totals["local_ops"] += m.gm.local_ops
                totals["applied_ops"] += m.gm.applied_ops
            for mode, (plain, wire) in sim.stream_bytes().items():
                streams[mode][0] += plain
                streams[mode][1] += wire
        except SimFailure as e:
            failed.append(seed)
            print(f"FAIL {e}", flush=True)
            if a.stop:
                break
        except Exception:
            failed.append(seed)
            print(f"FAIL seed {seed}: exception", flush=True)
            traceback.print_exc()
            if a.stop:
                break
    n = len(seeds) if a.seed is None else 1
    print(f"{n - len(failed)}/{n} seeds passed in {time.time() - t0:.1f} s"
          + (f"; failed: {failed}" if failed else ""))
    print("passing seeds exercised: " + ", ".join(f"{k} {v}" for k, v in totals.items()))
    print("link streams: " + ", ".join(
        f"{mode} {plain:,} bytes in {wire:,} on the wire (ratio "
        f"{plain / wire if wire else 1:.2f})" for mode, (plain, wire) in streams.items()))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
