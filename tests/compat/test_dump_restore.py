"""DUMP and RESTORE against Redis 6.2: payloads cross between the servers
for every type and encoding, and the options and errors match."""

import time

import pytest

# (name, commands building it at key "k") in compact and plain encodings.
VALUES = {
    "string": [("SET", "k", "hello")],
    "string-int": [("SET", "k", "-12345")],
    "string-long": [("SET", "k", "abc" * 300)],
    "string-binary": [("SET", "k", b"\x00\xff\r\n")],
    "hll": [("PFADD", "k", *[f"e{i}" for i in range(100)])],
    "list": [("RPUSH", "k", "a", "1", "-2", "x" * 80)],
    "list-big": [("RPUSH", "k", *[f"item{i}" for i in range(300)])],
    "hash": [("HSET", "k", "f", "v", "n", "12")],
    "hash-big": [("HSET", "k", *[x for i in range(200) for x in (f"f{i}", f"v{i}")])],
    "set-intset": [("SADD", "k", "5", "-3", "100000", "9999999999")],
    "set": [("SADD", "k", "a", "b", "c")],
    "set-big": [("SADD", "k", *range(600))],
    "zset": [("ZADD", "k", "1", "a", "2.5", "b", "-inf", "c")],
    "zset-big": [("ZADD", "k", *[x for i in range(200) for x in (str(i / 7), f"m{i}")])],
    "stream": [("XADD", "k", "1-1", "f", "v", "n", "1"), ("XADD", "k", "2-0", "f", "w", "n", "2"),
               ("XADD", "k", "3-0", "other", "x"), ("XDEL", "k", "2-0"),
               ("XGROUP", "CREATE", "k", "g", "0"),
               ("XREADGROUP", "GROUP", "g", "alice", "COUNT", "1", "STREAMS", "k", ">"),
               ("XGROUP", "CREATECONSUMER", "k", "g", "bob")],
}


@pytest.mark.parametrize("name", sorted(VALUES))
def test_payloads_cross_between_servers(both, raw_pyr, raw_ref, name):
    for cmd in VALUES[name]:
        both(*cmd)
    from_ref = raw_ref.call("DUMP", "k")[1]
    from_pyr = raw_pyr.call("DUMP", "k")[1]
    assert raw_pyr.call("RESTORE", "copy", "0", from_ref) == ("+", b"OK")
    assert raw_ref.call("RESTORE", "copy", "0", from_pyr) == ("+", b"OK")
    both("DEBUG", "DIGEST")
    both("DEBUG", "DIGEST-VALUE", "k", "copy")
    both("TYPE", "copy")
    if name.startswith("stream"):
        both("XINFO", "GROUPS", "copy")
        both("XPENDING", "copy", "g")  # (the extended form has idle times)


def test_dump_of_strings_is_byte_identical(both):
    for v in ("v", "12", "-70000", "2147483648", "x" * 20):
        both("SET", "k", v)
        both("DUMP", "k")
    both("DUMP", "missing")


def test_restore_options_and_errors(both, raw_ref):
    both("SET", "k", "v")
    payload = raw_ref.call("DUMP", "k")[1]
    both("RESTORE", "k", "0", payload)                      # BUSYKEY
    both("RESTORE", "k2", "-1", payload)
    both("RESTORE", "k2", "x", payload)
    both("RESTORE", "k2", "0", "garbage")
    both("RESTORE", "k2", "0", payload[:-1] + bytes([payload[-1] ^ 1]))
    both("RESTORE", "k2", "0", payload, "IDLETIME", "-1")
    both("RESTORE", "k2", "0", payload, "IDLETIME", "x")
    both("RESTORE", "k2", "0", payload, "FREQ", "256")
    both("RESTORE", "k2", "0", payload, "IDLETIME", "1", "FREQ", "2")
    both("RESTORE", "k2", "0", payload, "BOGUS")
    both("RESTORE", "k2", "0", payload, "IDLETIME")
    both("RESTORE", "k2", "0", payload, "IDLETIME", "10")
    both("RESTORE", "k3", "0", payload, "FREQ", "5")
    both("RESTORE", "k", "0", payload, "REPLACE", "ABSTTL")
    both("EXISTS", "k", "k2", "k3")
    both("RESTORE")


def test_restore_ttl(both, raw_pyr, raw_ref):
    both("SET", "k", "v")
    payload = raw_ref.call("DUMP", "k")[1]
    both("RESTORE", "t1", "100000", payload)
    for c in (raw_pyr, raw_ref):
        assert 99_000 < c.call("PTTL", "t1")[1] <= 100_000
    future = int(time.time() * 1000) + 50_000
    both("RESTORE", "t2", str(future), payload, "ABSTTL")
    for c in (raw_pyr, raw_ref):
        assert 49_000 < c.call("PTTL", "t2")[1] <= 50_000
    # Already expired: nothing is created; with REPLACE the old key goes.
    both("RESTORE", "t3", "1", payload, "ABSTTL")
    both("RESTORE", "k", "1", payload, "ABSTTL", "REPLACE")
    both("EXISTS", "t3", "k")
    both("DEBUG", "DIGEST")


def test_redis_7_payloads_restore_into_pyredis(raw_pyr, tmp_path):
    """Redis 7.0 DUMPs with RDB 10 encodings (listpacks); pyredis reads them
    (Redis 6.2 itself refuses payloads newer than its RDB 9)."""
    import os
    import socket
    import subprocess

    from conftest import RawClient
    if not os.path.exists("/usr/bin/redis-server"):
        pytest.skip("no Debian redis-server 7.0")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(["/usr/bin/redis-server", "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--dir", str(tmp_path), "--enable-debug-command", "yes"],
                            stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                r7 = RawClient(port)
                break
            except OSError:
                time.sleep(0.05)
        for name, cmds in VALUES.items():
            for cmd in cmds:
                cmd = tuple(a.replace("k", name) if a == "k" else a for a in cmd)
                r7.call(*cmd)
        for name in VALUES:
            payload = r7.call("DUMP", name)[1]
            assert payload[-10] == 10  # RDB version 10
            assert raw_pyr.call("RESTORE", name, "0", payload) == ("+", b"OK"), name
        assert raw_pyr.call("DEBUG", "DIGEST") == r7.call("DEBUG", "DIGEST")
        r7.close()
    finally:
        proc.terminate()
        proc.wait(5)
