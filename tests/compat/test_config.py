"""CONFIG against the reference redis-server: every option's name and
default (CONFIG GET *), glob patterns, old names, RESP3 maps, CONFIG SET
round trips and Redis 6.2's error texts, RESETSTAT, REWRITE; plus
pyredis-only checks that settable options act on the running server
(maxclients, timeout, requirepass, proto-max-bulk-len) and that CONFIG
REWRITE keeps a file's comments and layout."""

from __future__ import annotations

import os
import time

import pytest

from conftest import RawClient, encode_command
from pyredis.config import Config
from pyredis.testing import ServerThread

# Options whose values depend on how the test servers were started.
PER_SERVER = {b"port", b"dir"}


def config_map(client, pattern="*") -> dict:
    """CONFIG GET as a dict, without pyredis's own options (global
    replication's global-*, lua-max-memory), which Redis does not have."""
    reply = client.call("CONFIG", "GET", pattern)
    assert reply[0] == "*", reply
    items = [x[1] for x in reply[1]]
    return {k: v for k, v in zip(items[::2], items[1::2])
            if not k.startswith(b"global-") and k != b"lua-max-memory"}


@pytest.fixture
def restore(both):
    """Put back every option a test changed, on both servers."""
    before = {side: config_map(side) for side in (both.p, both.r)}
    yield both
    for side, old in before.items():
        now = config_map(side)
        for name, value in old.items():
            if now.get(name) != value and name not in PER_SERVER:
                side.call("CONFIG", "SET", name, value)


def test_every_option_and_default_matches_redis(both):
    p = config_map(both.p)
    r = config_map(both.r)
    assert sorted(p) == sorted(r)
    diff = {k: (p[k], r[k]) for k in r if p[k] != r[k] and k not in PER_SERVER}
    assert not diff


@pytest.mark.parametrize("pattern", [
    "maxclients", "MAXCLIENTS", "MaxMemory", "slave-read-only", "replica-read-only",
    "slaveof", "replicaof", "nosuch", "", "max*", "*max-*-entries*", "slave*", "*ziplist*",
    "repl-ping-*", "?z", "h[a-z]", "*", "save", "client-output-buffer-limit",
    "notify-keyspace-events", "oom-score-adj-values", "bind", "appendfsync",
])
def test_config_get(both, pattern):
    p = config_map(both.p, pattern)
    r = config_map(both.r, pattern)
    for k in PER_SERVER:
        p.pop(k, None)
        r.pop(k, None)
    assert p == r


def test_config_get_single_match_is_byte_identical(both):
    for name in ("maxclients", "slave-read-only", "save", "hz", "nosuch"):
        both("CONFIG", "GET", name)


def test_config_get_resp3_map(both):
    assert both.p.call("HELLO", "3")[0] == both.r.call("HELLO", "3")[0] == "%"
    both("CONFIG", "GET", "maxclients")
    both("CONFIG", "GET", "nosuch")
    both("CONFIG", "GET", "maxmemory-policy")


@pytest.mark.parametrize("args", [
    ["CONFIG"], ["CONFIG", "foo"], ["CONFIG", "GET"], ["CONFIG", "GET", "a", "b"],
    ["CONFIG", "SET", "maxclients"], ["CONFIG", "SET", "a", "b", "c"], ["CONFIG", "HELP"],
    ["CONFIG", "HELP", "x"], ["CONFIG", "RESETSTAT", "x"], ["CONFIG", "REWRITE", "x"],
    ["CONFIG", "REWRITE"],
])
def test_config_syntax(both, args):
    both(*args)


BAD_SETS = [
    ("maxclients", "abc"), ("maxclients", "0"), ("maxclients", "+5"), ("maxclients", " 5"),
    ("maxclients", "05"), ("maxclients", "1e3"), ("maxclients", "99999999999"),
    ("MAXCLIENTS", "abc"), ("foo", "bar"), ("FOO", "bar"),
    ("hz", "-1"), ("timeout", "-1"), ("maxmemory", "1kx"), ("maxmemory", " 1"),
    ("maxmemory", "+1"), ("maxmemory", "1.5mb"), ("maxmemory", "-1"),
    ("proto-max-bulk-len", "0"), ("client-query-buffer-limit", "1"),
    ("maxmemory-policy", "foo"), ("appendonly", "maybe"), ("Slave-Read-Only", "abc"),
    ("appendfsync", "sometimes"), ("loglevel", "foo"), ("slowlog-log-slower-than", "-5"),
    ("save", "1 2 3"), ("save", "a b"), ("save", "100"), ("save", "0 0"), ("save", "-1 5"),
    ("save", "5 -1"), ("notify-keyspace-events", "Z"), ("notify-keyspace-events", "A m"),
    ("client-output-buffer-limit", "master 1 2 3"), ("client-output-buffer-limit", "zzz"),
    ("client-output-buffer-limit", "normal 1 2"), ("oom-score-adj-values", "0 200"),
    ("dbfilename", "a/b"), ("dir", "/nonexistent-pyredis"), ("databases", "4"),
    ("daemonize", "yes"), ("logfile", "x"), ("pidfile", "x"), ("unixsocket", "x"),
    ("slaveof", "x"), ("tcp-backlog", "1"), ("active-defrag-cycle-max", "100"),
    ("repl-backlog-size", "0"), ("maxmemory-eviction-tenacity", "101"),
    ("watchdog-period", "zzz"), ("lfu-log-factor", "-1"), ("replica-announce-port", "65536"),
    ("list-max-ziplist-size", "-2147483649"), ("hash-max-ziplist-entries", "-1"),
    ("acl-pubsub-default", "x"), ("repl-diskless-load", "x"), ("oom-score-adj", "x"),
    ("sanitize-dump-payload", "x"), ("syslog-facility", "local9"),
]


@pytest.mark.parametrize("name, value", BAD_SETS)
def test_config_set_errors(restore, name, value):
    restore("CONFIG", "SET", name, value)


GOOD_SETS = [
    ("maxmemory", ["1gb", "1g", "100mb", "1k", "0", "64KB", "18446744073709551615",
                   "9223372036854775808", "99999999999999999999", "17179869184gb", "0"]),
    ("proto-max-bulk-len", ["18446744073709551615", "1mb", "512mb"]),
    ("hz", ["1000", "0", "20", "10"]),
    ("maxclients", ["5000", "4294967295", "10000"]),
    ("notify-keyspace-events", ["KEA", "Exg", "mdtKEA", "d", "K", "g$lshzxetd", "AKE", ""]),
    ("save", ["100 10 20 5", "", "3600 1 300 100 60 10000", ""]),
    ("client-output-buffer-limit", ["normal 1mb 2mb 60", "replica 1 2 3",
                                    "slave 268435456 67108864 60 normal 0 0 0"]),
    ("slave-read-only", ["no", "yes"]),
    ("replica-read-only", ["NO", "Yes"]),
    ("maxmemory-policy", ["ALLKEYS-LRU", "volatile-ttl", "noeviction"]),
    ("appendfsync", ["ALWAYS", "no", "everysec"]),
    ("loglevel", ["WARNING", "notice"]),
    ("repl-backlog-size", ["1", "20000", "1mb"]),
    ("oom-score-adj-values", ["100 200 300", "0 200 -1001", "0 200 800"]),
    ("requirepass", ["", "a b"]),
    ("dbfilename", ["other.rdb", "dump.rdb"]),
    ("proc-title-template", ["{title} {listen-addr} {server-mode}"]),
    ("list-max-ziplist-size", ["-2147483648", "-2"]),
    ("slowlog-log-slower-than", ["-1", "0", "10000"]),
    ("lua-time-limit", ["9223372036854775807", "5000"]),
    ("active-expire-effort", ["10", "1"]),
    ("key-load-delay", ["-5", "0"]),
    ("masterauth", ["secret", ""]),
    ("cluster-announce-ip", ["10.0.0.1", ""]),
    ("tcp-keepalive", ["0", "300"]),
]


@pytest.mark.parametrize("name, values", GOOD_SETS, ids=[n for n, _ in GOOD_SETS])
def test_config_set_round_trips(restore, name, values):
    both = restore
    for value in values:
        both("CONFIG", "SET", name, value)
        both("CONFIG", "GET", name)
    if name == "requirepass":
        both("CONFIG", "SET", name, "")


def test_config_set_alias_changes_both_names(restore):
    both = restore
    both("CONFIG", "SET", "slave-priority", "42")
    both("CONFIG", "GET", "replica-priority")
    both("CONFIG", "GET", "*priority*")


def test_resetstat(both):
    for side in (both.p, both.r):
        side.call("SET", "a", "1")
        side.call("GET", "a")
        side.call("GET", "nosuch")
        side.call("NOSUCHCOMMAND")
    both("CONFIG", "RESETSTAT")
    p = both.p.call("INFO", "commandstats")[1]
    r = both.r.call("INFO", "commandstats")[1]
    assert p.split(b"\r\n")[0] == r.split(b"\r\n")[0] == b"# Commandstats"
    names = lambda text: [x.split(b":")[0] for x in text.split(b"\r\n")[1:] if x]  # noqa: E731
    assert names(p) == names(r) == [b"cmdstat_config"]
    for side in (both.p, both.r):
        stats = dict(x.split(b":", 1) for x in side.call("INFO", "stats")[1].split(b"\r\n")[1:]
                     if b":" in x)
        for f in (b"keyspace_hits", b"keyspace_misses", b"total_error_replies",
                  b"expired_keys", b"rejected_connections", b"total_connections_received"):
            assert stats[f] == b"0", (side, f)


# -- the running server follows CONFIG SET (pyredis only) ---------------------------------


def test_maxclients_applies_to_new_connections():
    with ServerThread() as srv:
        a = RawClient(srv.port)
        assert a.call("CONFIG", "SET", "maxclients", "1") == ("+", b"OK")
        b = RawClient(srv.port)
        assert b.read() == ("-", b"ERR max number of clients reached")
        b.close()
        a.call("CONFIG", "SET", "maxclients", "10")
        c = RawClient(srv.port)
        assert c.call("PING") == ("+", b"PONG")
        a.close()
        c.close()


def test_timeout_closes_idle_clients():
    with ServerThread() as srv:
        admin = RawClient(srv.port)
        idle = RawClient(srv.port)
        assert idle.call("PING") == ("+", b"PONG")
        admin.call("CONFIG", "SET", "timeout", "1")
        deadline = time.monotonic() + 5
        closed = False
        while time.monotonic() < deadline and not closed:
            admin.call("PING")
            closed = idle.is_closed(wait=0.2)
        assert closed
        admin.close()


def test_requirepass_applies_at_once():
    with ServerThread() as srv:
        admin = RawClient(srv.port)
        assert admin.call("CONFIG", "SET", "requirepass", "s3cret") == ("+", b"OK")
        # The connection that set it stays authenticated, new ones must AUTH.
        assert admin.call("PING") == ("+", b"PONG")
        new = RawClient(srv.port)
        assert new.call("GET", "a")[1].startswith(b"NOAUTH")
        # Without a password again, nobody has to authenticate.
        admin.call("CONFIG", "SET", "requirepass", "")
        assert new.call("GET", "a") == ("$", None)
        admin.close()
        new.close()


def test_proto_max_bulk_len_applies_to_new_connections():
    with ServerThread() as srv:
        admin = RawClient(srv.port)
        assert admin.call("CONFIG", "SET", "proto-max-bulk-len", "1mb") == ("+", b"OK")
        c = RawClient(srv.port)
        c.send_raw(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2000000\r\n")
        reply = c.read()
        assert reply == ("-", b"ERR Protocol error: invalid bulk length")
        admin.close()
        c.close()


def test_loglevel_set_reaches_the_logger():
    import logging
    with ServerThread() as srv:
        admin = RawClient(srv.port)
        admin.call("CONFIG", "SET", "loglevel", "warning")
        assert srv.config.loglevel == "warning"
        admin.close()
    assert logging.getLogger("pyredis") is not None


# -- CONFIG REWRITE ---------------------------------------------------------------------------

CONF = """\
# A comment at the top
port 0

# memory
maxmemory 1mb
save 900 1
save 300 10
slave-read-only yes
   # indented comment
hz 10
include {include}
"""


def test_config_rewrite_keeps_layout(tmp_path):
    inc = tmp_path / "inc.conf"
    inc.write_text("maxmemory-samples 7\n")
    path = tmp_path / "redis.conf"
    path.write_text(CONF.format(include=inc))
    # CONFIG REWRITE writes ``dir``; a directory that outlives the server
    # (not its own temporary one) lets the file be read back below.
    srv = ServerThread(dir=str(tmp_path))
    srv.config.load_file(str(path))
    with srv:
        c = RawClient(srv.port)
        for name, value in (("maxmemory", "2mb"), ("save", "60 5"), ("slave-read-only", "no"),
                            ("maxmemory-policy", "allkeys-lru"), ("hz", "10"),
                            ("requirepass", "p w\"d")):
            assert c.call("CONFIG", "SET", name, value) == ("+", b"OK"), name
        assert c.call("CONFIG", "REWRITE") == ("+", b"OK")
        c.close()
    lines = path.read_text().splitlines()
    assert lines[0] == "# A comment at the top"
    assert lines[1].startswith("port ")
    assert lines[2] == "" and lines[3] == "# memory"
    assert lines[4] == "maxmemory 2097152"
    assert lines[5] == "save 60 5"
    assert lines[6] == "replica-read-only no"
    assert lines[7] == "   # indented comment"
    assert lines[8] == "hz 10"
    assert lines[9] == f"include {inc}"
    assert lines[10] == "# Generated by CONFIG REWRITE"
    assert "maxmemory-policy allkeys-lru" in lines[11:]
    assert 'requirepass "p w\\"d"' in lines[11:]
    assert not any(line.startswith("save 300") for line in lines)
    # What was written reads back as the same configuration.
    again = Config()
    again.load_file(str(path))
    assert again.maxmemory == 2 * 1024 * 1024 and again.save == [(60, 5)]
    assert again.replica_read_only is False and again.requirepass == 'p w"d'
    assert again.maxmemory_samples == 7 and again.maxmemory_policy == "allkeys-lru"
    # A second rewrite changes nothing.
    before = path.read_text()
    again.rewrite()
    assert path.read_text() == before


def test_config_rewrite_save_disabled_and_file_mode(tmp_path):
    path = tmp_path / "r.conf"
    path.write_text("port 0\n")
    os.chmod(path, 0o640)
    srv = ServerThread()
    srv.config.load_file(str(path))
    with srv:
        c = RawClient(srv.port)
        c.call("CONFIG", "SET", "save", "")
        assert c.call("CONFIG", "REWRITE") == ("+", b"OK")
        c.close()
    text = path.read_text()
    assert 'save ""' in text.splitlines()
    assert os.stat(path).st_mode & 0o777 == 0o640
    assert [f for f in os.listdir(tmp_path) if f.startswith(".pyredis")] == []


def test_config_rewrite_reports_write_errors(tmp_path):
    path = tmp_path / "sub" / "r.conf"
    path.parent.mkdir()
    path.write_text("port 0\n")
    srv = ServerThread()
    srv.config.load_file(str(path))
    with srv:
        c = RawClient(srv.port)
        os.chmod(path.parent, 0o500)
        try:
            reply = c.call("CONFIG", "REWRITE")
        finally:
            os.chmod(path.parent, 0o700)
        if os.geteuid() == 0:
            assert reply == ("+", b"OK")  # root writes anyway
        else:
            assert reply[0] == "-" and reply[1].startswith(b"ERR Rewriting config file")
        assert c.call("PING") == ("+", b"PONG")
        c.close()


def test_config_set_is_not_queued_twice_in_multi(both):
    both("MULTI")
    both("CONFIG", "GET", "maxclients")
    both("EXEC")
    both.p.send_raw(encode_command(["PING"]))
    assert both.p.read() == ("+", b"PONG")


def test_rename_command_matches_redis(tmp_path):
    """rename-command in a config file: the old name is unknown, the new one
    works, an emptied one is gone from COMMAND, errors name the original."""
    from conftest import ReferenceServer, RawClient
    from pyredis.testing import ServerThread

    conf = 'rename-command CONFIG ""\nrename-command FLUSHALL wipeall\n'
    ref_conf = tmp_path / "ref.conf"
    ref_conf.write_text(conf)
    ref = ReferenceServer(config_file=str(ref_conf))
    srv = ServerThread()
    srv.config.load_text(conf)
    srv.start()
    try:
        p, r = RawClient(srv.port), RawClient(ref.port)
        for cmd in (("SET", "k", "v"), ("FLUSHALL",), ("CONFIG", "GET", "port"),
                    ("WIPEALL",), ("GET", "k"), ("wipeall", "x", "y", "z"),
                    ("COMMAND", "INFO", "config", "flushall", "wipeall")):
            assert p.call(*cmd) == r.call(*cmd), cmd
        p.close()
        r.close()
    finally:
        srv.stop()
        ref.stop()
