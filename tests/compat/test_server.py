"""Server commands against the reference redis-server: DBSIZE, FLUSHDB,
FLUSHALL, SWAPDB, TIME, LASTSAVE, SHUTDOWN, MONITOR, INFO (sections, field
names and formats), CLIENT, COMMAND (every row of our table against
Redis's), DEBUG (DIGEST byte for byte, with TTLs and several databases,
DIGEST-VALUE, OBJECT, SLEEP)."""

from __future__ import annotations

import re
import time

import pytest

from conftest import RawClient, ReferenceServer, encode_command
from pyredis.commands import COMMANDS
from pyredis.testing import ServerThread

ZEROS = ("+", b"0" * 40)
# An absolute expiry far in the future, the same on both servers (Redis's
# digest marks that a TTL exists; pyredis must agree whatever the time).
FAR = "4102444800000"


def needs(*names):
    missing = [n for n in names if n not in COMMANDS]
    return pytest.mark.skipif(bool(missing), reason=f"not implemented yet: {', '.join(missing)}")


# -- DBSIZE, FLUSHDB, FLUSHALL, SWAPDB ------------------------------------------------


def test_dbsize_and_flush(both):
    both("DBSIZE")
    both("MSET", "a", "1", "b", "2", "c", "3")
    both("DBSIZE")
    both("SELECT", "1")
    both("SET", "x", "1")
    both("DBSIZE")
    both("FLUSHDB")
    both("DBSIZE")
    both("SELECT", "0")
    both("DBSIZE")
    both("FLUSHDB", "ASYNC")
    both("DBSIZE")
    both("SET", "a", "1")
    both("FLUSHDB", "sync")
    both("DBSIZE")
    both("SET", "a", "1")
    both("SELECT", "2")
    both("SET", "b", "1")
    both("FLUSHALL")
    both("DBSIZE")
    both("SELECT", "0")
    both("DBSIZE")
    both("FLUSHALL", "async")
    both("FLUSHALL", "SYNC")


@pytest.mark.parametrize("cmd", ["FLUSHDB", "FLUSHALL"])
def test_flush_syntax_errors(both, cmd):
    both(cmd, "foo")
    both(cmd, "sync", "async")
    both(cmd, "async", "async")


def test_flush_touches_watchers(both):
    both("SET", "w", "1")
    both("WATCH", "w")
    both("FLUSHALL")
    both("MULTI")
    both("SET", "w", "2")
    both("EXEC")


def same_pttl(both, key):
    """PTTL on both, equal within the time between the two calls."""
    r = both.r.call("PTTL", key)
    p = both.p.call("PTTL", key)
    assert r[0] == p[0] == ":"
    assert (r[1] < 0 and p[1] == r[1]) or abs(r[1] - p[1]) < 1000, (p, r)


def test_swapdb(both):
    both("SET", "k0", "zero")
    both("SELECT", "1")
    both("SET", "k1", "one")
    both("PEXPIREAT", "k1", FAR)
    both("SWAPDB", "0", "1")
    both("GET", "k0")
    both("GET", "k1")
    same_pttl(both, "k1")
    both("SELECT", "0")
    both("GET", "k1")
    same_pttl(both, "k1")
    both("SWAPDB", "1", "1")
    both("SWAPDB", "1", "0")
    both("GET", "k0")
    both("DEBUG", "DIGEST")


@pytest.mark.parametrize("a, b", [
    ("a", "1"), ("0", "a"), ("0", "100"), ("-1", "0"), ("0", "-1"), ("16", "0"),
    ("99999999999", "0"), ("0", "99999999999"), ("1.5", "0"), ("", "0"),
])
def test_swapdb_errors(both, a, b):
    both("SWAPDB", a, b)


def test_swapdb_wrong_arity(both):
    both("SWAPDB", "0")
    both("SWAPDB", "0", "1", "2")


# -- TIME, LASTSAVE ------------------------------------------------------------------


def test_time(both):
    r = both.r.call("TIME")
    p = both.p.call("TIME")
    assert p[0] == r[0] == "*" and len(p[1]) == 2
    (t1, s), (t2, us) = p[1]
    assert t1 == t2 == "$" and s.isdigit() and us.isdigit()
    assert 0 <= int(us) < 1_000_000
    assert abs(int(s) + int(us) / 1e6 - time.time()) < 5
    both("TIME", "extra")


def test_lastsave(both):
    r = both.r.call("LASTSAVE")
    p = both.p.call("LASTSAVE")
    assert r[0] == p[0] == ":"
    assert abs(p[1] - time.time()) < 3600 * 24
    both("LASTSAVE", "x")


# -- SHUTDOWN ---------------------------------------------------------------------------


def test_shutdown_syntax(both):
    both("SHUTDOWN", "foo")
    both("SHUTDOWN", "save", "nosave")
    both("SHUTDOWN", "nosave", "extra")


def test_shutdown_nosave_stops_server():
    with ServerThread() as srv:
        c = RawClient(srv.port)
        c.call("SET", "a", "1")
        c.send_raw(encode_command(["SHUTDOWN", "NOSAVE"]))
        # No reply: the connection closes, as with Redis.
        assert c.is_closed(wait=5)
        srv._thread.join(5)
        assert not srv._thread.is_alive()


def test_shutdown_nosave_reference_behaves_the_same():
    ref = ReferenceServer()
    try:
        c = RawClient(ref.port)
        c.send_raw(encode_command(["SHUTDOWN", "NOSAVE"]))
        assert c.is_closed(wait=5)
        ref.proc.wait(5)
    finally:
        ref.stop()


def test_shutdown_save_is_refused_without_persistence(raw_pyr, pyr):
    if getattr(pyr.core, "save_on_shutdown", None) is not None:
        pytest.skip("persistence exists: SHUTDOWN SAVE really saves")
    assert raw_pyr.call("SHUTDOWN", "SAVE") == (
        "-", b"ERR Errors trying to SHUTDOWN. Check logs.")
    assert raw_pyr.call("PING") == ("+", b"PONG")


# -- MONITOR ------------------------------------------------------------------------------


def test_monitor_streams_commands(pyr):
    mon = RawClient(pyr.port)
    other = RawClient(pyr.port)
    try:
        assert mon.call("MONITOR") == ("+", b"OK")
        other.call("SET", "key", "va\"l\n")
        other.call("CONFIG", "GET", "maxclients")  # admin: not shown
        other.call("GET", "key")
        first = mon.read()
        second = mon.read()
        assert first[0] == "+"
        assert re.fullmatch(rb'\d+\.\d{6} \[0 127\.0\.0\.1:\d+\] "SET" "key" "va\\"l\\n"',
                            first[1]), first
        assert re.fullmatch(rb'\d+\.\d{6} \[0 127\.0\.0\.1:\d+\] "GET" "key"', second[1]), second
    finally:
        mon.close()
        other.close()


def test_monitor_inside_multi(both):
    both("MULTI")
    both("MONITOR")
    both("EXEC")


# -- INFO ------------------------------------------------------------------------------------

DEFAULT_SECTIONS = ["Server", "Clients", "Memory", "Persistence", "Stats", "Replication",
                    "CPU", "Modules", "Cluster", "Keyspace"]

# Fields every INFO consumer we know of reads; pyredis must have each, in a
# format Redis uses.
FIELDS = {
    "Server": ["redis_version", "redis_mode", "os", "arch_bits", "process_id", "run_id",
               "tcp_port", "uptime_in_seconds", "uptime_in_days", "hz", "configured_hz",
               "executable", "config_file"],
    "Clients": ["connected_clients", "maxclients", "blocked_clients"],
    "Memory": ["used_memory", "used_memory_human", "used_memory_rss", "used_memory_rss_human",
               "used_memory_peak", "used_memory_peak_human", "used_memory_dataset",
               "total_system_memory", "maxmemory", "maxmemory_human", "maxmemory_policy",
               "mem_fragmentation_ratio"],
    "Persistence": ["loading", "rdb_changes_since_last_save", "rdb_bgsave_in_progress",
                    "rdb_last_save_time", "rdb_last_bgsave_status", "aof_enabled",
                    "aof_rewrite_in_progress"],
    "Stats": ["total_connections_received", "total_commands_processed",
              "instantaneous_ops_per_sec", "total_net_input_bytes", "total_net_output_bytes",
              "rejected_connections", "expired_keys", "evicted_keys", "keyspace_hits",
              "keyspace_misses", "pubsub_channels", "pubsub_patterns", "total_error_replies"],
    "Replication": ["role", "connected_slaves", "master_replid", "master_repl_offset"],
    "CPU": ["used_cpu_sys", "used_cpu_user", "used_cpu_sys_children", "used_cpu_user_children"],
    "Cluster": ["cluster_enabled"],
}


def parse_info(text: bytes) -> dict:
    """section title -> {field: value}; asserts Redis's exact layout."""
    assert text.endswith(b"\r\n")
    assert not text.endswith(b"\r\n\r\n"), "a trailing blank line"
    sections: dict = {}
    for block in text.decode().split("\r\n\r\n"):
        lines = block.rstrip("\r\n").split("\r\n")
        assert lines[0].startswith("# "), lines[0]
        fields = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            assert sep and name and " " not in name, line
            fields[name] = value
        sections[lines[0][2:]] = fields
    return sections


def info(client, *args) -> dict:
    reply = client.call("INFO", *args)
    assert reply[0] == "$", reply
    return parse_info(reply[1])


def test_info_default_sections_in_order(both):
    p = info(both.p)
    r = info(both.r)
    # Errorstats: pyredis leaves it out until errors are counted per prefix.
    assert list(p) == [s for s in r if s != "Errorstats"] == DEFAULT_SECTIONS or \
        list(p) == [s for s in r]
    for name in ("default", "DEFAULT"):
        assert list(info(both.p, name)) == list(p)


@pytest.mark.parametrize("which", ["all", "everything", "ALL"])
def test_info_all_adds_commandstats(both, which):
    p = list(info(both.p, which))
    r = [s for s in info(both.r, which) if s in p or s != "Errorstats"]
    assert p == r


@pytest.mark.parametrize("section", ["server", "clients", "memory", "persistence", "stats",
                                     "replication", "cpu", "keyspace", "commandstats",
                                     "cluster", "modules", "Server", "KEYSPACE"])
def test_info_single_section(both, section):
    both.p.call("SET", "x", "1")
    both.r.call("SET", "x", "1")
    p = info(both.p, section)
    r = info(both.r, section)
    assert list(p) == list(r)
    if section.lower() not in ("commandstats", "keyspace"):
        # Fixed field names: each one Redis has, pyredis has too, unless it
        # is about a mechanism pyredis lacks.
        assert set(r[list(r)[0]]) - set(p[list(p)[0]]) <= OPTIONAL_FIELDS


# Redis fields pyredis leaves out because it has no such mechanism (or does
# not know the true value).
OPTIONAL_FIELDS = {
    "redis_git_sha1", "redis_git_dirty", "redis_build_id", "monotonic_clock",
    "multiplexing_api", "atomicvar_api", "gcc_version", "process_supervised",
    "server_time_usec", "lru_clock", "io_threads_active",
    "cluster_connections", "client_recent_max_input_buffer",
    "client_recent_max_output_buffer", "tracking_clients", "clients_in_timeout_table",
    "used_memory_overhead", "used_memory_startup", "used_memory_dataset_perc",
    "used_memory_peak_perc", "allocator_allocated", "allocator_active", "allocator_resident",
    "used_memory_lua", "used_memory_lua_human", "used_memory_scripts",
    "used_memory_scripts_human", "number_of_cached_scripts", "allocator_frag_ratio",
    "allocator_frag_bytes", "allocator_rss_ratio", "allocator_rss_bytes", "rss_overhead_ratio",
    "rss_overhead_bytes", "mem_fragmentation_bytes", "mem_not_counted_for_evict",
    "mem_replication_backlog", "mem_clients_slaves", "mem_clients_normal", "mem_aof_buffer",
    "mem_allocator", "active_defrag_running", "lazyfree_pending_objects", "lazyfreed_objects",
    "current_cow_size", "current_cow_size_age", "current_fork_perc",
    "current_save_keys_processed", "current_save_keys_total", "rdb_last_cow_size",
    "aof_last_cow_size", "module_fork_in_progress", "module_fork_last_cow_size",
    "rdb_last_bgsave_time_sec", "rdb_current_bgsave_time_sec", "aof_rewrite_scheduled",
    "aof_last_rewrite_time_sec", "aof_current_rewrite_time_sec", "aof_last_bgrewrite_status",
    "aof_last_write_status",
    "instantaneous_input_kbps", "instantaneous_output_kbps", "expired_stale_perc",
    "expired_time_cap_reached_count", "expire_cycle_cpu_milliseconds", "latest_fork_usec",
    "total_forks", "migrate_cached_sockets", "slave_expires_tracked_keys", "active_defrag_hits",
    "active_defrag_misses", "active_defrag_key_hits", "active_defrag_key_misses",
    "tracking_total_keys", "tracking_total_items", "tracking_total_prefixes",
    "unexpected_error_replies", "dump_payload_sanitizations", "total_reads_processed",
    "total_writes_processed", "io_threaded_reads_processed", "io_threaded_writes_processed",
    "sync_full", "sync_partial_ok", "sync_partial_err",
    "master_failover_state", "master_replid2", "second_repl_offset", "repl_backlog_active",
    "repl_backlog_size", "repl_backlog_first_byte_offset", "repl_backlog_histlen",
    "used_cpu_sys_main_thread", "used_cpu_user_main_thread",
}


def test_info_fields_and_formats(raw_pyr):
    s = info(raw_pyr)
    for section, names in FIELDS.items():
        for name in names:
            assert name in s[section], f"{section}: {name} missing"
    srv = s["Server"]
    assert srv["redis_mode"] == "standalone"
    assert re.fullmatch(r"\d+\.\d+\.\d+", srv["redis_version"])
    assert re.fullmatch(r"[0-9a-f]{40}", srv["run_id"])
    assert srv["arch_bits"] in ("32", "64")
    assert int(srv["tcp_port"]) == raw_pyr.port
    mem = s["Memory"]
    for f in ("used_memory", "used_memory_rss", "used_memory_peak", "total_system_memory"):
        assert int(mem[f]) > 0, f
    for f in ("used_memory_human", "used_memory_rss_human", "used_memory_peak_human"):
        assert re.fullmatch(r"\d+(\.\d\d[KMGTP]|B)", mem[f]), mem[f]
    assert mem["maxmemory_human"] == "0B" if mem["maxmemory"] == "0" else True
    assert re.fullmatch(r"\d+\.\d\d", mem["mem_fragmentation_ratio"])
    assert s["Replication"]["role"] == "master"
    assert re.fullmatch(r"[0-9a-f]{40}", s["Replication"]["master_replid"])
    for f in FIELDS["CPU"]:
        assert re.fullmatch(r"\d+\.\d{6}", s["CPU"][f]), f
    for f in FIELDS["Stats"]:
        assert s["Stats"][f].isdigit(), f
    assert s["Persistence"]["loading"] == "0"


def test_info_memory_grows_with_data(raw_pyr):
    before = int(info(raw_pyr, "memory")["Memory"]["used_memory_dataset"])
    value = "v" * 1000
    for i in range(0, 2000, 200):
        raw_pyr.call("MSET", *[x for j in range(i, i + 200) for x in (f"k{j}", value)])
    after = int(info(raw_pyr, "memory")["Memory"]["used_memory_dataset"])
    # 2000 values of 1000 bytes: the estimate must see at least that.
    assert after - before >= 2_000_000


def test_info_keyspace(both):
    both("INFO", "keyspace")
    both("MSET", "a", "1", "b", "2")
    both("PEXPIREAT", "a", FAR)
    both("SELECT", "3")
    both("SET", "c", "3")
    p = info(both.p, "keyspace")["Keyspace"]
    r = info(both.r, "keyspace")["Keyspace"]
    assert list(p) == list(r) == ["db0", "db3"]
    assert p["db3"] == r["db3"] == "keys=1,expires=0,avg_ttl=0"
    assert p["db0"].startswith("keys=2,expires=1,avg_ttl=")
    assert abs(int(p["db0"].split("avg_ttl=")[1]) - (int(FAR) - time.time() * 1000)) < 60_000


def test_info_stats_count(raw_pyr):
    raw_pyr.call("SET", "hit", "1")
    before = info(raw_pyr, "stats")["Stats"]
    raw_pyr.call("GET", "hit")
    raw_pyr.call("GET", "nothing")
    raw_pyr.call("NOSUCHCOMMAND")
    after = info(raw_pyr, "stats")["Stats"]
    assert int(after["keyspace_hits"]) == int(before["keyspace_hits"]) + 1
    assert int(after["keyspace_misses"]) == int(before["keyspace_misses"]) + 1
    assert int(after["total_error_replies"]) == int(before["total_error_replies"]) + 1
    assert int(after["total_commands_processed"]) >= int(before["total_commands_processed"]) + 3


def test_info_commandstats_format(raw_pyr):
    raw_pyr.call("SET", "a", "b")
    raw_pyr.call("GET", "a")
    raw_pyr.call("GET")  # arity errors are not calls
    stats = info(raw_pyr, "commandstats")["Commandstats"]
    assert re.fullmatch(r"calls=\d+,usec=\d+,usec_per_call=\d+\.\d\d,rejected_calls=\d+,"
                        r"failed_calls=\d+", stats["cmdstat_get"])


def test_info_errors(both):
    both("INFO", "nosuchsection")
    both("INFO", "server", "clients")


def hello3(both):
    """Switch both connections to RESP3 (HELLO's reply names versions and
    ids that differ)."""
    assert both.p.call("HELLO", "3")[0] == both.r.call("HELLO", "3")[0] == "%"


def test_info_resp3_is_verbatim(both):
    hello3(both)
    both("SET", "a", "1")
    both("INFO", "keyspace")


def test_info_persistence_counts_changes(raw_pyr):
    before = int(info(raw_pyr, "persistence")["Persistence"]["rdb_changes_since_last_save"])
    raw_pyr.call("SET", "a", "1")
    raw_pyr.call("SET", "b", "1")
    after = int(info(raw_pyr, "persistence")["Persistence"]["rdb_changes_since_last_save"])
    assert after == before + 2


# -- CLIENT ---------------------------------------------------------------------------------

LIST_FIELDS_62 = ["id", "addr", "laddr", "fd", "name", "age", "idle", "flags", "db", "sub",
                  "psub", "multi", "qbuf", "qbuf-free", "argv-mem", "obl", "oll", "omem",
                  "tot-mem", "events", "cmd", "user", "redir"]


def fields(line) -> dict:
    out = {}
    if isinstance(line, bytes):
        line = line.decode()
    for item in line.split(" "):
        k, _, v = item.partition("=")
        out[k] = v
    return out


def test_client_list_fields_match_redis(both):
    both("CLIENT", "SETNAME", "me")
    r = both.r.call("CLIENT", "LIST")
    p = both.p.call("CLIENT", "LIST")
    assert r[0] == p[0] == "$"
    rl = [fields(x) for x in r[1].decode().splitlines() if x and "name=me " in x]
    pl = [fields(x) for x in p[1].decode().splitlines() if x and "name=me " in x]
    assert list(rl[0]) == LIST_FIELDS_62
    assert list(pl[0])[:len(LIST_FIELDS_62)] == LIST_FIELDS_62
    assert list(pl[0])[len(LIST_FIELDS_62):] == ["lib-name", "lib-ver"]
    for k in ("name", "flags", "db", "sub", "psub", "multi", "cmd", "user", "redir", "events",
              "argv-mem", "obl", "oll"):
        assert pl[0][k] == rl[0][k], k
    assert p[1].endswith(b"\n")


def test_client_info_matches_list(raw_pyr):
    cid = raw_pyr.call("CLIENT", "ID")[1]
    line = raw_pyr.call("CLIENT", "INFO")[1]
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    f = fields(line.strip())
    assert f["id"] == str(cid)
    assert f["cmd"] == "client"
    assert f["laddr"] == f"127.0.0.1:{raw_pyr.port}"


def test_client_flags_and_state(pyr):
    c = RawClient(pyr.port)
    try:
        c.call("SELECT", "2")
        c.call("MULTI")
        c.call("SET", "a", "1")
        c.call("DISCARD")
        line = fields(c.call("CLIENT", "INFO")[1].strip())
        assert line["db"] == "2" and line["multi"] == "-1" and line["flags"] == "N"
        other = RawClient(pyr.port)
        try:
            other.call("MULTI")
            other.call("SET", "a", "1")
            other_id = other.call("CLIENT", "ID")  # queued
            assert other_id == ("+", b"QUEUED")
            text = c.call("CLIENT", "LIST")[1].decode()
            multi = [fields(x) for x in text.splitlines() if "flags=x" in x]
            assert len(multi) == 1 and multi[0]["multi"] == "2"
        finally:
            other.close()
    finally:
        c.close()


def test_client_setname_getname(both):
    both("CLIENT", "GETNAME")
    both("CLIENT", "SETNAME", "conn-1")
    both("CLIENT", "GETNAME")
    both("CLIENT", "SETNAME", "a b")
    both("CLIENT", "SETNAME", "a\nb")
    both("CLIENT", "SETNAME", "é")
    both("CLIENT", "GETNAME")
    both("CLIENT", "SETNAME", "")
    both("CLIENT", "GETNAME")
    both("CLIENT", "SETNAME")
    both("CLIENT", "SETNAME", "a", "b")


@pytest.mark.parametrize("args", [
    ["CLIENT"], ["CLIENT", "foo"], ["CLIENT", "ID", "x"], ["CLIENT", "GETNAME", "x"],
    ["CLIENT", "LIST", "foo"], ["CLIENT", "LIST", "TYPE", "foo"], ["CLIENT", "LIST", "TYPE"],
    ["CLIENT", "LIST", "ID", "x"], ["CLIENT", "LIST", "ID", "0"], ["CLIENT", "LIST", "ID", "-1"],
    ["CLIENT", "LIST", "ID", "999999"], ["CLIENT", "LIST", "TYPE", "master"],
    ["CLIENT", "LIST", "TYPE", "replica"], ["CLIENT", "LIST", "TYPE", "pubsub"],
    ["CLIENT", "KILL", "1.2.3.4:5"], ["CLIENT", "KILL", "ID", "999999"],
    ["CLIENT", "KILL", "ID", "x"], ["CLIENT", "KILL", "foo", "bar"],
    ["CLIENT", "KILL", "TYPE", "foo"], ["CLIENT", "KILL", "TYPE", "master"],
    ["CLIENT", "KILL", "SKIPME", "maybe"], ["CLIENT", "KILL", "ADDR", "1.2.3.4:5", "SKIPME", "no"],
    ["CLIENT", "KILL", "USER", "nobody"], ["CLIENT", "KILL", "LADDR", "1.1.1.1:1"],
    ["CLIENT", "KILL", "ID"], ["CLIENT", "KILL", "ID", "1", "TYPE"], ["CLIENT", "KILL"],
    ["CLIENT", "UNBLOCK", "999999"], ["CLIENT", "UNBLOCK", "x"],
    ["CLIENT", "UNBLOCK", "1", "foo"], ["CLIENT", "UNBLOCK", "1", "timeout", "x"],
    ["CLIENT", "UNBLOCK", "999999", "ERROR"], ["CLIENT", "GETREDIR"],
    ["CLIENT", "TRACKINGINFO"],
])
def test_client_errors_and_empty_results(both, args):
    both(*args)


def test_client_list_filters(pyr):
    a = RawClient(pyr.port)
    b = RawClient(pyr.port)
    try:
        ida = a.call("CLIENT", "ID")[1]
        idb = b.call("CLIENT", "ID")[1]
        text = a.call("CLIENT", "LIST", "ID", str(idb), str(ida), "999999")[1].decode()
        assert [fields(x)["id"] for x in text.splitlines()] == [str(idb), str(ida)]
        text = a.call("CLIENT", "LIST", "TYPE", "normal")[1].decode()
        ids = [fields(x)["id"] for x in text.splitlines()]
        assert str(ida) in ids and str(idb) in ids
    finally:
        a.close()
        b.close()


def test_client_kill(pyr):
    killer = RawClient(pyr.port)
    victims = [RawClient(pyr.port) for _ in range(3)]
    try:
        info_lines = [fields(v.call("CLIENT", "INFO")[1].strip()) for v in victims]
        # Old form: by address, +OK.
        assert killer.call("CLIENT", "KILL", info_lines[0]["addr"]) == ("+", b"OK")
        assert victims[0].is_closed()
        # New form: by ID, the number killed.
        assert killer.call("CLIENT", "KILL", "ID", info_lines[1]["id"]) == (":", 1)
        assert victims[1].is_closed()
        assert killer.call("CLIENT", "KILL", "ADDR", info_lines[2]["addr"],
                           "ID", info_lines[1]["id"]) == (":", 0)
        assert killer.call("CLIENT", "KILL", "ADDR", info_lines[2]["addr"]) == (":", 1)
        assert victims[2].is_closed()
        # SKIPME defaults to yes; SKIPME no kills the caller after its reply.
        my_addr = fields(killer.call("CLIENT", "INFO")[1].strip())["addr"]
        assert killer.call("CLIENT", "KILL", "ADDR", my_addr) == (":", 0)
        assert killer.call("CLIENT", "KILL", "ADDR", my_addr, "SKIPME", "no") == (":", 1)
        assert killer.is_closed()
    finally:
        killer.close()
        for v in victims:
            v.close()


def test_client_setinfo_shows_in_list(raw_pyr):
    assert raw_pyr.call("CLIENT", "SETINFO", "LIB-NAME", "redis-py") == ("+", b"OK")
    assert raw_pyr.call("CLIENT", "SETINFO", "lib-ver", "5.0.1") == ("+", b"OK")
    f = fields(raw_pyr.call("CLIENT", "INFO")[1].strip())
    assert f["lib-name"] == "redis-py" and f["lib-ver"] == "5.0.1"
    assert raw_pyr.call("CLIENT", "SETINFO", "LIB-NAME", "a b")[0] == "-"
    assert raw_pyr.call("CLIENT", "SETINFO", "foo", "x") == (
        "-", b"ERR Unrecognized option 'foo'")
    assert raw_pyr.call("CLIENT", "SETINFO", "LIB-NAME")[0] == "-"


@needs("blpop")
def test_client_unblock(both):
    for side in (both.p, both.r):
        blocked = RawClient(side.port)
        try:
            cid = blocked.call("CLIENT", "ID")[1]
            blocked.send_raw(encode_command(["BLPOP", "nolist", "0"]))
            deadline = time.time() + 5
            while "b" not in fields(side.call("CLIENT", "LIST", "ID", str(cid))[1].strip())["flags"]:
                assert time.time() < deadline
                time.sleep(0.01)
            assert side.call("CLIENT", "UNBLOCK", str(cid)) == (":", 1)
            assert blocked.read() == ("*", None)
            assert side.call("CLIENT", "UNBLOCK", str(cid)) == (":", 0)
            blocked.send_raw(encode_command(["BLPOP", "nolist", "0"]))
            deadline = time.time() + 5
            while side.call("CLIENT", "UNBLOCK", str(cid), "ERROR") != (":", 1):
                assert time.time() < deadline
                time.sleep(0.01)
            assert blocked.read() == ("-", b"UNBLOCKED client unblocked via CLIENT UNBLOCK")
        finally:
            blocked.close()


def test_client_help_lists_what_exists(raw_pyr):
    reply = raw_pyr.call("CLIENT", "HELP")
    assert reply[0] == "*"
    text = [x[1].decode() for x in reply[1]]
    assert text[0].startswith("CLIENT <subcommand>")
    for sub in ("ID", "GETNAME", "SETNAME <name>", "INFO", "KILL <ip:port>", "LIST [options ...]",
                "SETINFO <LIB-NAME|LIB-VER> <value>", "HELP"):
        assert sub in text, sub


# -- COMMAND ------------------------------------------------------------------------------


def test_command_count(raw_pyr):
    assert raw_pyr.call("COMMAND", "COUNT") == (":", len(COMMANDS))


# Commands Redis 6.2 handles outside its command table (COMMAND INFO: nil).
NOT_IN_REDIS_TABLE = {"quit"}
# pyredis's own commands (global replication), which Redis does not have.
PYREDIS_ONLY = {"global"}


def test_command_rows_match_redis(both):
    """Every command pyredis declares has Redis 6.2's exact COMMAND row."""
    for name in sorted(COMMANDS):
        if name in NOT_IN_REDIS_TABLE:
            assert both.r.call("COMMAND", "INFO", name) == ("*", [("$", None)])
            continue
        if name in PYREDIS_ONLY:
            continue
        both("COMMAND", "INFO", name)


def test_command_info_mixed(both):
    both("COMMAND", "INFO", "get", "SET", "nosuchcommand", "Ping")
    both("COMMAND", "INFO")
    hello3(both)
    both("COMMAND", "INFO", "get", "mset", "nosuch")


def test_command_lists_every_row(raw_pyr):
    reply = raw_pyr.call("COMMAND")
    assert reply[0] == "*" and len(reply[1]) == len(COMMANDS)
    names = {row[1][0][1] for row in reply[1]}
    assert names == {n.encode() for n in COMMANDS}


@pytest.mark.parametrize("args", [
    ["mset", "a", "1", "b", "2"], ["mset", "a", "1", "b"], ["get", "a"], ["GET", "a"],
    ["set", "a", "b", "EX", "10"], ["del", "a", "b", "c"], ["ping"], ["nosuch", "a"],
    ["get"], ["get", "a", "b"], ["set", "a"], ["dbsize"],
])
def test_command_getkeys(both, args):
    both("COMMAND", "GETKEYS", *args)


@needs("eval")
def test_command_getkeys_movable(both):
    both("COMMAND", "GETKEYS", "eval", "return 1", "2", "a", "b", "c")
    both("COMMAND", "GETKEYS", "eval", "return 1", "5", "a")
    both("COMMAND", "GETKEYS", "eval", "return 1", "0")


def test_command_errors(both):
    both("COMMAND", "foo")
    both("COMMAND", "COUNT", "x")
    both("COMMAND", "GETKEYS")
    both("COMMAND", "HELP")


# -- DEBUG --------------------------------------------------------------------------------------


def test_debug_digest_empty(both):
    assert both("DEBUG", "DIGEST") == ZEROS


def test_debug_digest_strings(both):
    both("SET", "foo", "bar")
    both("DEBUG", "DIGEST")
    both("MSET", "n", "12345", "neg", "-7", "big", "x" * 100, "bin", "\x00\xff\r\n",
         "empty", "")
    both("DEBUG", "DIGEST")
    both("APPEND", "foo", "baz")
    both("DEBUG", "DIGEST")


def test_debug_digest_ttl_and_databases(both):
    both("SET", "a", "1")
    both("SET", "b", "2")
    d1 = both("DEBUG", "DIGEST")
    both("PEXPIREAT", "a", FAR)
    d2 = both("DEBUG", "DIGEST")
    assert d1 != d2
    both("PEXPIREAT", "a", str(int(FAR) + 1000))
    both("DEBUG", "DIGEST")
    both("PERSIST", "a")
    assert both("DEBUG", "DIGEST") == d1
    both("SELECT", "5")
    both("SET", "a", "1")
    both("DEBUG", "DIGEST")
    both("MOVE", "a", "6") if "move" in COMMANDS else None
    both("DEBUG", "DIGEST")


def test_debug_digest_independent_of_order(both):
    both("MSET", "a", "1", "b", "2", "c", "3")
    d = both("DEBUG", "DIGEST")
    both("FLUSHALL")
    both("MSET", "c", "3", "a", "1", "b", "2")
    assert both("DEBUG", "DIGEST") == d


def test_debug_digest_value(both):
    both("SET", "foo", "bar")
    both("SET", "n", "42")
    both("PEXPIREAT", "n", FAR)
    both("DEBUG", "DIGEST-VALUE", "foo", "n", "nosuch")
    both("DEBUG", "DIGEST-VALUE")


@needs("rpush", "hset", "sadd", "zadd")
def test_debug_digest_containers(both):
    both("RPUSH", "l", "a", "b", "1", "2")
    both("HSET", "h", "f", "v", "g", "12")
    both("SADD", "s", "x", "y", "3")
    both("SADD", "si", "1", "2", "3")
    both("ZADD", "z", "1", "a", "2.5", "b", "-inf", "c")
    both("PEXPIREAT", "h", FAR)
    both("DEBUG", "DIGEST")
    both("DEBUG", "DIGEST-VALUE", "l", "h", "s", "si", "z")


@needs("xadd")
def test_debug_digest_stream(both):
    both("XADD", "st", "1-1", "a", "1", "b", "2")
    both("XADD", "st", "2-0", "c", "3")
    both("DEBUG", "DIGEST")
    both("DEBUG", "DIGEST-VALUE", "st")


def test_debug_object(both, raw_pyr):
    both("DEBUG", "OBJECT", "nosuch")
    both("DEBUG", "OBJECT")
    both("SET", "s", "hello")
    both("SET", "n", "12345")
    for key, enc in (("s", "embstr"), ("n", "int")):
        line = both.p.call("DEBUG", "OBJECT", key)
        assert line[0] == "+"
        assert re.match(rb"Value at:0x[0-9a-f]+ refcount:\d+ encoding:" + enc.encode(),
                        line[1]), line


def test_debug_sleep_and_misc(both):
    both("DEBUG", "SLEEP", "0")
    both("DEBUG", "SLEEP", "x")
    t = time.monotonic()
    both.p.call("DEBUG", "SLEEP", "0.2")
    assert time.monotonic() - t >= 0.2
    both("DEBUG", "SLEEP")
    both("DEBUG", "foo")
    both("DEBUG")
    both("DEBUG", "DIGEST", "x")
    both("DEBUG", "ERROR", "foo bar")
    both("DEBUG", "LOG", "hello from the tests")
    r = both.p.call("DEBUG", "HELP")
    assert r[0] == "*" and r[1][0][1].startswith(b"DEBUG <subcommand>")


@needs("subscribe", "psubscribe")
def test_info_pubsub_counts(both):
    subs = []
    try:
        for side in (both.p, both.r):
            s = RawClient(side.port)
            subs.append(s)
            s.call("SUBSCRIBE", "c1", "c2")
            s.read()
            s.call("PSUBSCRIBE", "p*")
        p = info(both.p, "stats")["Stats"]
        r = info(both.r, "stats")["Stats"]
        assert (p["pubsub_channels"], p["pubsub_patterns"]) == (
            r["pubsub_channels"], r["pubsub_patterns"]) == ("2", "1")
    finally:
        for s in subs:
            s.close()


def test_errorstats_count_errors_by_prefix(both):
    both("CONFIG", "RESETSTAT")
    both("GET")
    both("NOSUCHCOMMAND")
    both("SET", "s", "x")
    both("INCR", "s")
    both("LPUSH", "s", "x")
    both("MULTI")
    both("GET")
    both("EXEC")
    both("INFO", "errorstats")


def test_select_index_out_of_int_range(both):
    """A number past a C int gets getIntFromObjectOrReply's own error (the
    fuzzer's extremes found it answered as not a number)."""
    for index in ("4294967296", "-2147483649", "2147483647", "-1", "16", "x", "1.5"):
        both("SELECT", index)


def test_unknown_subcommand_is_quoted_as_redis_does(both):
    """Redis 6.2 quotes an unknown subcommand with %s: a NUL ends it (the
    differential fuzzer found the whole name quoted)."""
    for sub in ("a\x00b", "x" * 200, "\xe9" * 100, "ok\x00" + "y" * 300):
        both("XGROUP", sub)
        both("PUBSUB", sub)


def test_config_set_errors_quote_up_to_a_nul(both):
    both("CONFIG", "SET", "x\x00y", "1")
    both("CONFIG", "SET", "maxmemory-policy", "x\x00y")
    both("CONFIG", "SET", "hz", "1\x002")
