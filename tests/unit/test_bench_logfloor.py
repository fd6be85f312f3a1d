"""bench.logfloor: its encoding step makes exactly the log's bytes for the
records it times (else the floor would time something cheaper than the
real work), and a small run reports every step and the comparison."""

from __future__ import annotations

from bench import logfloor
from pyredis.replication.globallog import KeyVersion, Record, encode_record


def test_the_floor_encoder_makes_the_logs_bytes():
    for cmd in ([b"SET", b"k", b"v"], [b"INCR", b"counter:000000000001"],
                [b"HSET", b"myhash", b"element:1", b"x" * 300]):
        key = cmd[1]
        rec = Record(3, 99, 1 << 40, 2, [cmd], [KeyVersion(2, key, 5, 1 << 41)])
        assert logfloor._frame_one(12, 3, 2, 99, 1 << 40, cmd, key, 5, 1 << 41) \
            == encode_record(rec, 12)


def test_a_small_run_reports_each_step(capsys):
    assert logfloor.main(["--keys", "2000", "--number", "2000", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    for word in ("compact table lookup", "slot digest", "record framed", "floor: the steps",
                 "budget at 0.4x", "floor / budget", "every written key needs",
                 "the per-key steps alone"):
        assert word in out
