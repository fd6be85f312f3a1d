"""The least a write logged by global replication can cost in pure Python.

    python -m bench.logfloor
    python -m bench.logfloor --keys 1000000 --redis-ops 998752 --plain-us 1.7

Issue 13 asks for 0.4x Redis's write throughput at ``-P 16`` with the
global log on. pyredis is CPU-bound there (redis-benchmark keeps the other
core busy), so that target is a CPU budget per write: ``1 / (0.4 x Redis's
ops/s)`` in all, of which the plain server already spends its own per
request cost (``--plain-us``: its server CPU µs per SET in ``python -m
bench``, kernel included). What is left is what logging may add.

This measures, with ``timeit`` on a table of ``--keys`` keys written in
random order, each step that every logged write must take under the
design's invariants, each in the cheapest form the step has here:

- the key's version before the write (G4's rule and the anti-entropy
  digest need it), from the compact version table (G8 rules out a dict
  entry per key), and the new version stored;
- a hybrid-logical-clock read (``time.time_ns``) for the new version;
- the slot digest update (crc32 of the key for its slot, the old entry
  out and the new one in);
- the record (an op with its identity, G1): the tuple listeners get, its
  framed bytes with their CRC (``encode_record``'s bytes, made by a
  specialised copy without its checks), and the append (buffer and index).

The sum is a floor for the steps alone: the real path also moves the
values between them and decides which path an op takes. If the floor is
above the budget, no arrangement of this code in pure Python meets the
target. Prints one line per step and the comparison, and the same for
the steps every written key needs whatever its record looks like (so
records of several ops, sharing a frame, would not meet it either when
those alone are above the budget).
"""

from __future__ import annotations

import argparse
import random
import time
import timeit
import zlib

from pyredis.replication.globallog import _FIXED_CMD, _KEYFIX, _U32, KeyVersion, Record, encode_record
from pyredis.types.versions import VersionTable


def _frame_one(lsn, origin, db, opid, ts, cmd, key, before, after, _len_crc={}):
    """encode_record's bytes for a one-command, one-key record, in the
    fewest steps found (no checks; the length's CRC kept per length): the
    floor's encoding step. main() checks that the bytes are equal."""
    pack_u32 = _U32.pack
    parts = [_FIXED_CMD.pack(lsn, origin, db, opid, ts, 1, 1, len(cmd))]
    for a in cmd:
        parts.append(pack_u32(len(a)))
        parts.append(a)
    parts.append(_KEYFIX.pack(db, before, after, len(key)))
    parts.append(key)
    body = b"".join(parts)
    n = len(body)
    c = _len_crc.get(n)
    if c is None:
        head = pack_u32(n)
        c = _len_crc[n] = (head, zlib.crc32(head))
    return c[0] + pack_u32(zlib.crc32(body, c[1])) + body


# The steps a written key needs whatever framing its op gets (a record
# holding several ops would share the others): their labels' beginnings.
PER_KEY = ("version before", "new version stored", "HLC", "slot digest")


def _best_ns(stmt: str, env: dict, number: int, repeat: int) -> float:
    return min(timeit.repeat(stmt, number=number, repeat=repeat, globals=env)) / number * 1e9


def measure(keys: int, number: int, repeat: int) -> list:
    """(step, ns) for each step of a logged write, cheapest form."""
    rnd = random.Random(1)
    names = [b"key:%012d" % i for i in range(keys)]
    table = VersionTable()
    v0 = (123_456 << 22) | 1
    for k in rnd.sample(names, len(names)):
        table.set(0, k, v0)
    # Each timed statement takes the next key of one long random sequence,
    # so lookups land all over the table as a benchmark's do.
    seq = [rnd.choice(names) for _ in range(number)]
    env = {
        "table": table, "seq": seq, "crc32": zlib.crc32, "time_ns": time.time_ns,
        "encode_record": encode_record, "Record": Record, "KeyVersion": KeyVersion,
        "new": tuple.__new__, "dig": [0] * 1024, "buf": [], "vec": {}, "lastlsn": {},
        "v0": v0, "v1": v0 + (1 << 22),
    }
    rec = Record(1, 5, v0, 0, [[b"SET", names[0], b"xxx"]],
                 [KeyVersion(0, names[0], v0, v0 + (1 << 22))])
    env["rec"] = rec
    env["data"] = encode_record(rec, 7)
    env["frame"] = _frame_one
    env["cmd"] = rec.commands[0]
    env["k0"] = names[0]
    if _frame_one(7, 1, 0, 5, v0, env["cmd"], names[0], v0, v0 + (1 << 22)) != env["data"]:
        raise AssertionError("_frame_one does not make encode_record's bytes")
    steps = []

    def step(label: str, setup: str, stmt: str) -> None:
        exec(setup, env)
        ns = _best_ns(stmt, env, number, repeat)
        steps.append((label, ns))

    def fresh() -> dict:
        return {"nxt": iter(seq * (repeat + 1)).__next__}

    base = _best_ns("k = nxt()", dict(env, **fresh()), number, repeat)
    lookup = _best_ns("table.get(0, nxt())", dict(env, **fresh()), number, repeat)
    steps.append(("version before: compact table lookup (random key)", lookup - base))
    both = _best_ns("k = nxt(); table.get(0, k); table.set(0, k, v1)", dict(env, **fresh()),
                    number, repeat)
    steps.append(("new version stored (the key just looked up)", both - lookup))
    step("HLC wall-clock read", "", "time_ns() // 1_000_000")
    step("slot digest: crc32, old entry out, new entry in",
         "k = seq[0]",
         "kc = crc32(k); s = kc % 1024; dig[s] ^= hash((0, kc, v0)); dig[s] ^= hash((0, kc, v1))")
    step("record tuple (what listeners and the stream get)", "",
         "new(Record, (1, 5, v1, 0, [[b'SET', b'key', b'xxx']], "
         "[new(KeyVersion, (0, b'key', v0, v1))], 0))")
    step("record framed: fields, arguments, CRC", "", "frame(7, 1, 0, 5, v0, cmd, k0, v0, v1)")
    step("append: buffer, op id vector, index", "",
         "buf.append(data); vec[1] = 5; lastlsn[1] = 7")
    return steps


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.logfloor",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--keys", type=int, default=100_000,
                    help="keys in the version table (redis-benchmark -r)")
    ap.add_argument("--number", type=int, default=200_000, help="timeit number")
    ap.add_argument("--repeat", type=int, default=7, help="timeit repeat (the best is kept)")
    ap.add_argument("--redis-ops", type=float, default=998_752,
                    help="redis-server's SET ops/s at -P 16 (the README's table)")
    ap.add_argument("--plain-us", type=float, default=1.7,
                    help="plain pyredis server CPU µs per SET at -P 16 (the README's table)")
    ap.add_argument("--target", type=float, default=0.4, help="the ratio to Redis asked for")
    args = ap.parse_args(argv)
    steps = measure(args.keys, args.number, args.repeat)
    sub = "of which every written key needs, whatever the record"
    width = max(len(sub), *(len(s) for s, _ in steps))
    total = 0.0
    for label, ns in steps:
        total += ns
        print(f"{label:{width}s} {ns:7.0f} ns")
    print(f"{'floor: the steps alone':{width}s} {total:7.0f} ns")
    per_key = sum(ns for label, ns in steps if label.startswith(PER_KEY))
    print(f"{sub:{width}s} {per_key:7.0f} ns")
    budget_all = 1e9 / (args.target * args.redis_ops)
    budget = budget_all - args.plain_us * 1000
    print(f"budget at {args.target}x Redis's {args.redis_ops:,.0f} ops/s: "
          f"{budget_all:.0f} ns a write in all, {budget:.0f} ns for logging "
          f"after the plain path's {args.plain_us * 1000:.0f} ns")
    print(f"floor / budget for logging: {total / budget:.1f}x; the per-key steps alone: "
          f"{per_key / budget:.1f}x" if budget > 0 else "no budget left for logging")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
