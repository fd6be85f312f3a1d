"""bench.globalrepl: its parsers, member options, verdicts, table and
options, and one ``--quick`` run of the whole benchmark (skipped without
redis-benchmark)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.globalrepl import (FIGURES, TARGETS, all_pass, markdown_table, member_args,
                              pairs_to_dict, parse_args, parse_vector, per_key, rate, render,
                              table_rows)
from bench.replication import spread

REPO = Path(__file__).resolve().parents[2]


def test_parse_vector():
    assert parse_vector("1:200 3:7") == {1: 200, 3: 7}
    assert parse_vector(b"2:1") == {2: 1}
    assert parse_vector("") == {} and parse_vector(None) == {}


def test_pairs_to_dict_keeps_nested_links():
    reply = [b"server_id", 2, b"vector", b"1:5", b"links", [[b"peer", b"127.0.0.1:1"]]]
    assert pairs_to_dict(reply) == {"server_id": 2, "vector": "1:5",
                                    "links": [[b"peer", b"127.0.0.1:1"]]}


def test_rate_per_key_and_all_pass():
    assert rate(500_000, 10.0) == 50_000.0
    assert rate(5, 0) is None and rate(5, None) is None
    assert per_key(100 << 20, 116 << 20, 1 << 20) == 16.0
    assert all_pass(["PASS", "PASS"]) == "PASS"
    assert all_pass(["PASS", None, "MISS"]) == "MISS"
    assert all_pass([None]) is None


def test_member_args():
    assert member_args(1) == ["--global-server-id", "1", "--global-log-dir", "g",
                              "--global-log-fsync", "everysec"]
    args = member_args(2, fsync="always", peers=[7001, 7002])
    assert args[args.index("--global-log-fsync") + 1] == "always"
    assert args[-4:] == ["--global-peer", "127.0.0.1:7001", "--global-peer", "127.0.0.1:7002"]


def _report() -> dict:
    def sp(*v):
        return spread(list(v))
    cells = [{"test": "set", "pipeline": 16, "off": sp(300000.0, 320000.0, 310000.0),
              "on": sp(250000.0), "cpu_off": sp(2.0), "cpu_on": sp(2.5), "ratio": 0.806,
              "verdict": "PASS"},
             {"test": "incr", "pipeline": 1, "off": sp(40000.0), "on": sp(20000.0),
              "cpu_off": sp(10.0), "cpu_on": sp(20.0), "ratio": 0.5, "verdict": "MISS"}]
    return {
        "date": "2026-12-06 03:00:00 UTC", "loadavg_before": "0.5 0.4 0.3",
        "loadavg_after": "1.0 0.8 0.5",
        "machine": {"pyredis_version": "0.1.0", "git_commit": "abc1234", "nproc": 2,
                    "cpu_model": "CPU", "python": "3.11.7"},
        "settings": {"rounds": 3, "write_rate": 20_000, "ops": 500_000,
                     "resume_ops": 1_000_000, "memory_keys": 1_000_000},
        "figures": {
            "throughput": {"cells": cells, "verdict": "MISS"},
            "lag": {"method": "events", "p50_ms": sp(0.5), "p99_ms": sp(4.0, 3.0, 5.0),
                    "verdict": "PASS"},
            "apply": {"ops_per_sec": sp(60000.0), "ops_per_receiver_cpu_s": sp(80000.0),
                      "verdict": "PASS"},
            "resume": {"seconds": sp(20.0), "startup_s": sp(2.0), "ops_per_sec": sp(55000.0),
                       "full_syncs": 0, "verdict": "PASS"},
            "memory": {"off": sp(90.0), "on": sp(104.5), "added": sp(14.5),
                       "table_bytes_per_key": 14.8, "verdict": "PASS"},
        },
    }


def test_table_rows_targets_and_spread():
    lines = markdown_table(_report()).splitlines()
    assert lines[0] == "| figure | global off | global on | on/off | target | result |"
    assert len(lines) == 2 + len(table_rows(_report())) == 2 + 4 + 2 + 2 + 3 + 3
    assert ("| SET -P 16 ops/s | 310,000 (300,000–320,000) | 250,000 | 0.81 | on/off ≥ 0.8 "
            "| PASS |") in lines
    assert "| INCR -P 1 ops/s | 40,000 | 20,000 | 0.50 | on/off ≥ 0.8 | MISS |" in lines
    assert "| INCR -P 1 server CPU µs/op | 10.00 | 20.00 | 2.00 | - | - |" in lines
    assert ("| lag p99 at 20,000 writes/s, keyspace events (ms) | - | 4.00 (3.00–5.00) | - "
            "| ≤ 10 ms | PASS |") in lines
    assert ("| apply rate of one link, 500,000 SETs (ops/s) | - | 60,000 | - | ≥ 50,000 "
            "| PASS |") in lines
    assert "| apply: ops per second of the receiver's CPU | - | 80,000 | - | - | - |" in lines
    assert "| resume: global_full_syncs | - | 0 | - | 0 | PASS |" in lines
    assert ("| memory global replication adds per key (bytes) | - | 14.5 | - | ≤ 16 "
            "| PASS |") in lines
    text = render(_report())
    assert "targets: 4/5 PASS" in text and "missed: throughput" in text
    assert "abc1234" in text and "0.5 0.4 0.3" in text


def test_table_of_a_subset_and_polling():
    report = _report()
    report["figures"] = {"lag": dict(report["figures"]["lag"], method="polling")}
    lines = markdown_table(report).splitlines()
    assert len(lines) == 4 and "polling" in lines[-1]


def test_arguments():
    o = parse_args([])
    assert (o.rounds, o.only, o.out, o.ops, o.resume_ops) == (3, list(FIGURES), None,
                                                              500_000, 1_000_000)
    assert o.memory_keys == 1_000_000 and o.tests == ["set", "incr", "lpush"]
    assert o.write_rate == 20_000
    q = parse_args(["--quick"])
    assert q.rounds == 1 and q.ops < o.ops and q.resume_ops < o.resume_ops
    assert q.lag_seconds < o.lag_seconds and q.requests < o.requests
    q = parse_args(["--quick", "--ops", "500", "--rounds", "2", "--only", "apply, lag"])
    assert (q.ops, q.rounds, q.only) == (500, 2, ["apply", "lag"])
    for bad in (["--only", "nope"], ["--only", ","], ["--ops", "0"], ["--rounds", "-1"]):
        with pytest.raises(SystemExit):
            parse_args(bad)
    assert set(TARGETS) == {"throughput_ratio", "lag_p99_ms", "apply_ops_per_sec",
                            "memory_bytes_per_key"}


# The whole benchmark in --quick form (SET only, 20,000 ops and keys, one
# round, a one-second lag window): about 17 s on the 2-core VM. The
# timeouts bound it if a server hangs (the run bounds its own waits too).
@pytest.mark.timeout(120)
@pytest.mark.skipif(shutil.which("redis-benchmark") is None, reason="no redis-benchmark")
def test_quick_run(tmp_path):
    out = tmp_path / "report.json"
    proc = subprocess.run([sys.executable, "-m", "bench.globalrepl", "--quick", "--out",
                           str(out)], cwd=REPO, capture_output=True, text=True, timeout=110)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert list(report["figures"]) == list(FIGURES)
    f = report["figures"]
    for cell in f["throughput"]["cells"]:
        assert cell["off"]["median"] > 0 and cell["on"]["median"] > 0
    assert f["lag"]["method"] in ("events", "polling")
    assert f["lag"]["runs"][0]["write_errors"] == 0
    assert f["apply"]["runs"][0]["ops"] == 20_000
    assert f["apply"]["ops_per_sec"]["median"] > 0
    assert f["resume"]["runs"][0]["ops"] == 20_000
    assert f["resume"]["full_syncs"] == 0
    assert f["memory"]["runs"]["on"][0]["rss_filled"] > 0
    assert "| apply rate of one link, 20,000 SETs (ops/s) |" in proc.stdout
