"""bench.run's reading of redis-benchmark output: rows are matched by name,
preparation rows are never averaged into a test, CPU per op is given only
for single-row runs, and the LRANGE tests are sent as their own command."""

from __future__ import annotations

from bench.run import lrange_command, parse_csv, summarize, target_for

CSV = ('"test","rps","avg_latency_ms"\n'
       '"LPUSH (needed to benchmark LRANGE)","19230.77","1.873"\n'
       '"LRANGE_100 (first 100 elements)","13333.33","2.667"\n')


def _run(rows, cpu=2.0, error=None):
    return {"rows": rows, "error": error, "wall_s": 1.0, "server_cpu_s": 1.0,
            "server_cpu_us_per_op": cpu}


def test_rows_by_name_without_preparation():
    rows = parse_csv(CSV)
    assert rows == [("LPUSH (needed to benchmark LRANGE)", 19230.77),
                    ("LRANGE_100 (first 100 elements)", 13333.33)]
    runs = {"pyredis": [_run(rows)], "redis": [_run([(rows[1][0], 20000.0)])]}
    (entry,) = summarize("lrange_100", 1, 1000, runs)
    assert entry["test"] == "LRANGE_100 (first 100 elements)"
    assert entry["pyredis"]["ops_per_sec"] == 13333.33      # not averaged with the LPUSH
    assert entry["pyredis"]["cpu_us_per_op"] is None         # two rows share that CPU
    assert entry["redis"]["cpu_us_per_op"] == 2.0
    assert entry["ratio"] == round(13333.33 / 20000.0, 3)
    assert entry["target"] == 0.3


def test_several_rows_become_several_entries():
    runs = {s: [_run([("PING_INLINE", 10.0), ("PING_MBULK", 20.0)]),
                _run([("PING_INLINE", 30.0), ("PING_MBULK", 40.0)]),
                _run([], error="Error: boom")]
            for s in ("pyredis", "redis")}
    entries = summarize("ping", 16, 100, runs)
    assert [e["test"] for e in entries] == ["PING_INLINE", "PING_MBULK"]
    assert [e["pyredis"]["ops_per_sec"] for e in entries] == [20.0, 30.0]
    assert entries[0]["pyredis"]["errors"] == ["Error: boom"]
    assert entries[0]["target"] is None


def test_lrange_is_sent_alone_and_targets():
    assert lrange_command("lrange_100") == ("LRANGE_100 (first 100 elements)",
                                            ["LRANGE", "mylist", "0", "99"])
    assert lrange_command("lpush") is None
    assert lrange_command("lrange") is None
    assert target_for("LPOP", 1) == 0.75 and target_for("ZADD", 16) == 0.5
    assert target_for("LRANGE_100 (first 100 elements)", 16) == 0.3
    assert target_for("SPOP", 1) is None


def test_requests_scale_with_depth_and_range_length():
    from bench.run import requests_for
    assert requests_for(1, 100000, "set") == 100000
    assert requests_for(16, 100000, "set") == 800000
    assert requests_for(16, 100000, "lrange_100") == 200000
    assert requests_for(1, 100000, "lrange_600") == 100000 * 25 // 600
