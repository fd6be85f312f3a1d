"""The long fuzz run, outside CI:

    python -m tests.fuzz.run --frames 1000000            # the RESP reader
    python -m tests.fuzz.run --target commands --cases 200000
    python -m tests.fuzz.run --target all --seconds 600
    python -m tests.fuzz.run --target vs-redis --cases 100000

Targets: ``reader`` (frames: streams of 1-6 frames, each read whole and
split, with and without the before-AUTH mode), ``commands`` (one random
call of a random command per case), ``handshake``, ``records`` (the global
log's RecordDecoder), ``link`` (glink's Decoder, SourceLink and
ReceiverLink), ``vs-redis`` (the commands' calls also sent to the
reference redis-server, replies compared; counts the calls compared).
Each case has its own seed (``--seed`` + case number), so a
failure prints the one number that replays it: ``--target T --replay N``.
Reports cases, frames, the rate, failures and the peak resident set; exit
status 1 if any case failed.
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import time
import traceback

from . import cases, gen

TARGETS = ("reader", "commands", "handshake", "records", "link", "vs-redis")


class Target:
    """Runs one target's cases; ``units`` counts what the figure reports
    (frames for the reader, cases elsewhere)."""

    def __init__(self, name: str, resp3: bool = False) -> None:
        self.name = name
        self.units = 0
        self.cases = 0
        self.failures: list = []
        self._cmd = cases.CommandFuzz() if name == "commands" else None
        self._link = cases.LinkFuzz() if name == "link" else None
        self._vs = cases.VsRedis(resp3) if name == "vs-redis" else None

    def one(self, seed: int, bound: float) -> None:
        rng = random.Random(seed)
        try:
            with cases.bounded(bound):
                if self.name == "reader":
                    pieces = gen.frames(rng)
                    cases.reader_case(rng, pieces)
                    self.units += len(pieces)
                elif self.name == "commands":
                    self._cmd.case(rng)
                    self.units += 1
                elif self.name == "handshake":
                    cases.handshake_case(rng)
                    self.units += 1
                elif self.name == "records":
                    cases.record_case(rng)
                    self.units += 1
                elif self.name == "vs-redis":
                    self.units += self._vs.case(rng)
                else:
                    cases.decoder_case(rng)
                    self._link.case(rng)
                    self.units += 1
        except (AssertionError, Exception, cases.Hang) as e:
            self.failures.append((seed, e))
            print(f"FAIL {self.name} seed={seed}: {type(e).__name__}: {str(e)[:500]}",
                  file=sys.stderr)
            if not isinstance(e, (AssertionError, cases.Hang)):
                traceback.print_exc(limit=8)
            if self._cmd is not None:
                self._cmd.reset()
            if self._vs is not None:
                self._vs.reset()
        self.cases += 1

    def close(self) -> None:
        if self._cmd is not None:
            self._cmd.close()
        if self._link is not None:
            self._link.close()
        if self._vs is not None:
            self._vs.close()


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.fuzz.run")
    p.add_argument("--target", default="reader", choices=TARGETS + ("all",))
    p.add_argument("--frames", type=int, help="stop after this many reader frames")
    p.add_argument("--cases", type=int, help="stop after this many cases (per target)")
    p.add_argument("--seconds", type=float, help="stop after this long (per target)")
    p.add_argument("--seed", type=int, default=0, help="seed of the first case")
    p.add_argument("--replay", type=int, help="run the one case with this seed")
    p.add_argument("--bound", type=float, default=5.0, help="seconds one case may take")
    p.add_argument("--max-failures", type=int, default=20)
    p.add_argument("--resp3", action="store_true", help="vs-redis: compare RESP3 replies")
    a = p.parse_args(argv)
    names = TARGETS[:5] if a.target == "all" else (a.target,)
    if a.replay is not None:
        t = Target(names[0], a.resp3)
        t.one(a.replay, a.bound)
        t.close()
        print("ok" if not t.failures else "failed")
        return 1 if t.failures else 0
    if a.frames is None and a.cases is None and a.seconds is None:
        a.cases = 10_000
    status = 0
    for name in names:
        t = Target(name, a.resp3)
        start = time.monotonic()
        seed = a.seed
        last = start
        while True:
            if a.frames is not None and name == "reader" and t.units >= a.frames:
                break
            if a.cases is not None and t.cases >= a.cases:
                break
            if a.seconds is not None and time.monotonic() - start >= a.seconds:
                break
            if a.frames is not None and a.cases is None and a.seconds is None and name != "reader":
                if t.cases >= 10_000:
                    break
            if len(t.failures) >= a.max_failures:
                break
            t.one(seed, a.bound)
            seed += 1
            now = time.monotonic()
            if now - last >= 10:
                last = now
                print(f"  {name}: {t.cases} cases, {t.units} units, "
                      f"{t.units / (now - start):,.0f}/s, peak RSS {peak_rss_mb():.0f} MB",
                      file=sys.stderr)
        elapsed = time.monotonic() - start
        unit = {"reader": "frames", "vs-redis": "calls compared"}.get(name, "cases")
        print(f"{name}: {t.units:,} {unit} in {t.cases:,} cases, {elapsed:.1f} s, "
              f"{t.units / elapsed:,.0f} {unit}/s, {len(t.failures)} failures, "
              f"seeds {a.seed}..{seed - 1}, peak RSS {peak_rss_mb():.0f} MB")
        for s, e in t.failures[:10]:
            print(f"  failed: --target {name} --replay {s}: {type(e).__name__}: {str(e)[:200]}")
        if t.failures:
            status = 1
        t.close()
    return status


if __name__ == "__main__":
    sys.exit(main())
