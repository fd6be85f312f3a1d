"""The append-only file against Redis 6.2: each server loads the other's
file (plain, rewritten as commands, with an RDB preamble) to the same
DEBUG DIGEST; truncated and damaged files are treated alike; BGREWRITEAOF,
CONFIG SET appendonly, automatic rewrites, fsync policies and the
``pyredis check-aof`` checker."""

from __future__ import annotations

import os
import subprocess
import time

import pytest
from click.testing import CliRunner

from conftest import RawClient, redis_server_binary
from pyredis.cli import main as cli_main
from pyredis.persistence import aof as aofmod
from pyredis.testing import ServerThread, free_port

AOF = "appendonly.aof"


def workload(c: RawClient) -> None:
    """Writes of every type, in two databases, with effects that must be
    rewritten to replay (relative TTLs, INCRBYFLOAT, SPOP, MULTI/EXEC)."""
    cmds = [
        ("SET", "s", "v"), ("SET", "ttl", "x", "EX", "1000"), ("INCR", "n"),
        ("INCRBYFLOAT", "f", "1.25"), ("APPEND", "s", "more"), ("SETRANGE", "r", "3", "ab"),
        ("RPUSH", "l", *[str(i) for i in range(150)]), ("LPOP", "l"), ("LPUSH", "l", "h"),
        ("HSET", "h", "a", "1", "b", "2"), ("HINCRBYFLOAT", "h", "c", "0.5"),
        ("SADD", "st", *[str(i) for i in range(20)]), ("SPOP", "st"), ("SADD", "ss", "a", "b"),
        ("ZADD", "z", "1.5", "a", "-2", "b", "inf", "c"), ("ZINCRBY", "z", "2", "a"),
        ("PFADD", "hll", "a", "b", "c"),
        ("XADD", "x", "1-1", "f", "v"), ("XADD", "x", "2-1", "g", "w"),
        ("XGROUP", "CREATE", "x", "grp", "0"), ("XREADGROUP", "GROUP", "grp", "c1",
                                                "COUNT", "1", "STREAMS", "x", ">"),
        ("EXPIRE", "l", "5000"), ("SET", "gone", "1"), ("DEL", "gone"),
        ("MULTI",), ("SET", "t1", "1"), ("INCR", "t1"), ("EXEC",),
        ("SELECT", "3"), ("SET", "in3", "yes"), ("RPUSH", "l3", "a"), ("SELECT", "0"),
        ("SET", "s", "final"),
    ]
    for cmd in cmds:
        reply = c.call(*cmd)
        assert reply[0] != "-", (cmd, reply)


def digest(port: int) -> bytes:
    c = RawClient(port)
    try:
        return c.call("DEBUG", "DIGEST")[1]
    finally:
        c.close()


class Ref:
    """A reference redis-server on ``dir`` (loading what is there)."""

    def __init__(self, dir: str, *extra: str) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--dir", dir, *extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("reference redis-server exited")
            try:
                c = RawClient(self.port, timeout=1)
            except OSError:
                time.sleep(0.05)
                continue
            try:
                if c.call("PING") == ("+", b"PONG"):
                    return
            except (OSError, ConnectionError):
                pass
            finally:
                c.close()
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("reference redis-server did not start")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(5)


def ref_exit_code(dir: str, *extra: str) -> int | None:
    """Start the reference on ``dir`` expecting it to refuse; its exit code
    (None if it ran)."""
    port = free_port()
    proc = subprocess.Popen(
        [redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--dir", dir, "--appendonly", "yes", *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        return proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.terminate()
        proc.wait(5)
        return None


def pyr_aof(dir, **options) -> ServerThread:
    return ServerThread(appendonly=True, dir=str(dir), **options).start()


def wait_rewrite(srv: ServerThread, timeout: float = 20) -> None:
    """Until no rewrite runs (the server's tick reaps the child)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        a = srv.core.aof
        if not a.child and a.state != "wait_rewrite":
            return
        time.sleep(0.05)
    raise AssertionError("AOF rewrite did not finish")


def has_rdb() -> bool:
    try:
        from pyredis.persistence import rdb
    except ImportError:
        return False
    return hasattr(rdb, "parse") and hasattr(rdb, "dump")


# -- each server loads the other's file -----------------------------------------


def test_pyredis_aof_loads_in_redis_and_pyredis(tmp_path):
    srv = pyr_aof(tmp_path)
    try:
        c = RawClient(srv.port)
        workload(c)
        c.close()
        want = digest(srv.port)
    finally:
        srv.stop()
    data = (tmp_path / AOF).read_bytes()
    assert data.startswith(b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n")
    assert b"INCRBYFLOAT" not in data and b"SPOP" not in data and b"$6\r\nEXPIRE" not in data
    assert b"*1\r\n$5\r\nMULTI\r\n" in data
    srv = pyr_aof(tmp_path)
    try:
        assert digest(srv.port) == want
    finally:
        srv.stop()
    ref = Ref(str(tmp_path), "--appendonly", "yes")
    try:
        assert digest(ref.port) == want
    finally:
        ref.stop()


@pytest.mark.parametrize("rewrite", ["none", "commands", "preamble"])
def test_redis_aof_loads_in_pyredis(tmp_path, rewrite):
    if rewrite == "preamble" and not has_rdb():
        pytest.skip("the RDB reader (pyredis.persistence.rdb) is not there")
    preamble = "yes" if rewrite == "preamble" else "no"
    ref = Ref(str(tmp_path), "--appendonly", "yes", "--aof-use-rdb-preamble", preamble)
    try:
        c = RawClient(ref.port)
        workload(c)
        if rewrite != "none":
            assert c.call("BGREWRITEAOF")[0] == "+"
            deadline = time.monotonic() + 10
            while b"aof_rewrite_in_progress:0" not in c.call("INFO", "persistence")[1]:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            c.call("SET", "after-rewrite", "1")
        c.close()
        want = digest(ref.port)
    finally:
        ref.stop()
    data = (tmp_path / AOF).read_bytes()
    assert data.startswith(b"REDIS") == (rewrite == "preamble")
    srv = pyr_aof(tmp_path)
    try:
        assert digest(srv.port) == want
    finally:
        srv.stop()


@pytest.mark.parametrize("preamble", [False, True])
def test_bgrewriteaof_compacts_and_both_load_it(tmp_path, preamble):
    if preamble and not has_rdb():
        pytest.skip("the RDB writer (pyredis.persistence.rdb) is not there")
    srv = pyr_aof(tmp_path, aof_use_rdb_preamble=preamble)
    try:
        c = RawClient(srv.port)
        workload(c)
        for i in range(300):
            c.call("SET", "counter", str(i))
        before = os.path.getsize(tmp_path / AOF)
        assert c.call("BGREWRITEAOF") == ("+", b"Background append only file rewriting started")
        # Writes during the rewrite land in the new file too.
        c.call("SET", "during", "1")
        c.call("SELECT", "5")
        c.call("RPUSH", "later", "x")
        wait_rewrite(srv)
        c.call("SET", "after", "1")
        info = c.call("INFO", "persistence")[1]
        assert b"aof_last_bgrewrite_status:ok" in info
        c.close()
        want = digest(srv.port)
    finally:
        srv.stop()
    data = (tmp_path / AOF).read_bytes()
    assert len(data) < before
    assert data.startswith(b"REDIS") == preamble
    assert data.count(b"counter") == 1
    result = CliRunner().invoke(cli_main, ["check-aof", str(tmp_path / AOF)])
    assert result.exit_code == 0 and "AOF is valid" in result.output
    assert not [f for f in os.listdir(tmp_path) if f.startswith("temp-")]
    srv = pyr_aof(tmp_path)
    try:
        assert digest(srv.port) == want
    finally:
        srv.stop()
    ref = Ref(str(tmp_path), "--appendonly", "yes")
    try:
        assert digest(ref.port) == want
    finally:
        ref.stop()


def test_bgrewriteaof_while_one_runs(tmp_path):
    srv = pyr_aof(tmp_path, aof_use_rdb_preamble=False)
    try:
        c = RawClient(srv.port)
        c.call("SET", "k", "v")
        # A fork takes a moment: a second request right away finds it running.
        assert c.call("BGREWRITEAOF")[0] == "+"
        second = c.call("BGREWRITEAOF")
        if srv.core.aof.child:
            assert second == ("-", b"ERR Background append only file rewriting already "
                                   b"in progress")
        wait_rewrite(srv)
        c.close()
    finally:
        srv.stop()


# -- damaged files --------------------------------------------------------------


def _set(k: bytes, v: bytes) -> bytes:
    return aofmod.encode_request([b"SET", k, v])


@pytest.mark.parametrize("tail", [
    b"*3\r\n$3\r\nSET\r\n$1\r\nx",                           # inside a request
    b"*1\r\n$5\r\nMULTI\r\n" + _set(b"m", b"1"),              # MULTI without EXEC
])
def test_truncated_tail_is_cut_off(tmp_path, tail):
    good = _set(b"a", b"1") + _set(b"b", b"2")
    (tmp_path / AOF).write_bytes(good + tail)
    ref = Ref(str(tmp_path), "--appendonly", "yes")
    try:
        want = digest(ref.port)
    finally:
        ref.stop()
    assert (tmp_path / AOF).read_bytes() == good
    (tmp_path / AOF).write_bytes(good + tail)
    srv = pyr_aof(tmp_path)
    try:
        assert digest(srv.port) == want
        c = RawClient(srv.port)
        assert c.call("MGET", "a", "b", "m") == ("*", [("$", b"1"), ("$", b"2"), ("$", None)])
        c.call("SET", "c", "3")
        c.close()
    finally:
        srv.stop()
    # Truncated to the last whole request, then appended to.
    assert (tmp_path / AOF).read_bytes().startswith(good + b"*2\r\n$6\r\nSELECT")


def test_truncated_tail_refused_without_aof_load_truncated(tmp_path):
    (tmp_path / AOF).write_bytes(_set(b"a", b"1") + b"*3\r\n$3\r\nSET\r\n")
    assert ref_exit_code(str(tmp_path), "--aof-load-truncated", "no") == 1
    with pytest.raises(SystemExit):
        pyr_aof(tmp_path, aof_load_truncated=False)
    assert ref_exit_code(str(tmp_path), "--aof-load-truncated", "no") == 1


def test_bad_bytes_in_the_middle_are_fatal(tmp_path):
    (tmp_path / AOF).write_bytes(_set(b"a", b"1") + b"garbage\r\n" + _set(b"b", b"2"))
    assert ref_exit_code(str(tmp_path)) == 1
    with pytest.raises(SystemExit):
        pyr_aof(tmp_path)


def test_unknown_command_is_fatal(tmp_path):
    (tmp_path / AOF).write_bytes(aofmod.encode_request([b"NOSUCHCMD", b"x"]))
    assert ref_exit_code(str(tmp_path)) == 1
    with pytest.raises(SystemExit):
        pyr_aof(tmp_path)


# -- turning it on and off, automatic rewrite, fsync ---------------------------


def test_config_set_appendonly_rewrites_the_dataset(tmp_path):
    srv = ServerThread(dir=str(tmp_path), aof_use_rdb_preamble=False).start()
    try:
        c = RawClient(srv.port)
        workload(c)
        assert not (tmp_path / AOF).exists()
        assert b"aof_enabled:0" in c.call("INFO", "persistence")[1]
        assert c.call("CONFIG", "SET", "appendonly", "yes") == ("+", b"OK")
        c.call("SET", "during", "1")
        wait_rewrite(srv)
        info = c.call("INFO", "persistence")[1]
        assert b"aof_enabled:1" in info and b"aof_current_size:" in info
        c.call("SET", "after", "1")
        want = digest(srv.port)
        assert c.call("CONFIG", "SET", "appendonly", "no") == ("+", b"OK")
        c.call("SET", "not-logged", "1")
        c.close()
    finally:
        srv.stop()
    assert b"not-logged" not in (tmp_path / AOF).read_bytes()
    srv = pyr_aof(tmp_path)
    try:
        assert digest(srv.port) == want
    finally:
        srv.stop()


def test_automatic_rewrite_on_growth(tmp_path):
    srv = pyr_aof(tmp_path, aof_use_rdb_preamble=False, auto_aof_rewrite_min_size="4kb",
                  auto_aof_rewrite_percentage=100)
    try:
        c = RawClient(srv.port)
        c.call("SET", "base", "x" * 100)
        for i in range(200):
            c.call("SET", "k", "v" * 50 + str(i))
        deadline = time.monotonic() + 10
        while os.path.getsize(tmp_path / AOF) > 4096:
            assert time.monotonic() < deadline, "no automatic rewrite"
            time.sleep(0.05)
        wait_rewrite(srv)
        info = c.call("INFO", "persistence")[1]
        assert b"aof_base_size:" in info
        assert srv.core.aof.base_size < 4096
        want = digest(srv.port)
        c.close()
    finally:
        srv.stop()
    srv = pyr_aof(tmp_path)
    try:
        assert digest(srv.port) == want
    finally:
        srv.stop()


def test_always_fsyncs_once_per_batch_before_the_reply(tmp_path):
    srv = pyr_aof(tmp_path, appendfsync="always")
    try:
        aof = srv.core.aof
        c = RawClient(srv.port)
        c.call("SET", "k", "v")
        # The reply came after the write and its fsync.
        assert (tmp_path / AOF).read_bytes().endswith(_set(b"k", b"v"))
        before = aof.fsync_count
        batch = b"".join(aofmod.encode_request([b"INCR", b"n"]) for _ in range(200))
        c.send_raw(batch)
        for _ in range(200):
            c.read()
        assert (tmp_path / AOF).read_bytes().count(b"INCR") == 200
        # One fsync per batch the server read, never one per command.
        assert 1 <= aof.fsync_count - before < 50
        c.close()
    finally:
        srv.stop()


def test_a_served_waiter_hears_back_after_the_write(tmp_path):
    """A reply that leaves outside its own batch (a blocked client served by
    another's push) also waits for the AOF write."""
    srv = pyr_aof(tmp_path, appendfsync="always")
    try:
        waiter, pusher = RawClient(srv.port), RawClient(srv.port)
        waiter.send_raw(aofmod.encode_request([b"BLPOP", b"q", b"0"]))
        deadline = time.monotonic() + 5
        while not srv.core.blocked_clients:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        pusher.send_raw(aofmod.encode_request([b"RPUSH", b"q", b"job"]))
        assert waiter.read() == ("*", [("$", b"q"), ("$", b"job")])
        data = (tmp_path / AOF).read_bytes()
        assert b"RPUSH" in data and data.rstrip().endswith(b"q")
        pusher.read()
        waiter.close()
        pusher.close()
    finally:
        srv.stop()


def test_everysec_fsyncs_in_the_background(tmp_path):
    srv = pyr_aof(tmp_path, appendfsync="everysec")
    try:
        aof = srv.core.aof
        c = RawClient(srv.port)
        c.call("SET", "k", "v")
        assert (tmp_path / AOF).read_bytes().endswith(_set(b"k", b"v"))
        before = aof.fsync_count
        deadline = time.monotonic() + 5
        while aof.fsync_count == before:
            assert time.monotonic() < deadline, "no background fsync"
            time.sleep(0.05)
        c.close()
    finally:
        srv.stop()


def test_debug_loadaof(tmp_path):
    srv = pyr_aof(tmp_path)
    try:
        c = RawClient(srv.port)
        workload(c)
        want = digest(srv.port)
        assert c.call("DEBUG", "LOADAOF") == ("+", b"OK")
        assert digest(srv.port) == want
        c.close()
    finally:
        srv.stop()


# -- pyredis check-aof -------------------------------------------------------------


def _redis_check_aof(tmp_path, path) -> str:
    """redis-check-aof is redis-server under that name."""
    exe = tmp_path / "redis-check-aof"
    if not exe.exists():
        exe.symlink_to(redis_server_binary())
    out = subprocess.run([str(exe), str(path)], capture_output=True, text=True, timeout=10)
    return out.stdout


@pytest.mark.parametrize("data", [
    _set(b"a", b"1") * 3,
    _set(b"a", b"1") + b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1",
    _set(b"a", b"1") + b"*1\r\n$5\r\nMULTI\r\n" + _set(b"b", b"2"),
    _set(b"a", b"1") + b"xx\r\n" + _set(b"b", b"2"),
])
def test_check_aof_reports_as_redis_check_aof(tmp_path, data):
    path = tmp_path / "f.aof"
    path.write_bytes(data)
    theirs = _redis_check_aof(tmp_path, path)
    result = CliRunner().invoke(cli_main, ["check-aof", str(path)])
    summary = [ln for ln in result.output.splitlines() if ln.startswith("AOF analyzed")]
    want = [ln for ln in theirs.splitlines() if ln.startswith("AOF analyzed")]
    assert summary == want
    valid = "AOF is valid" in theirs
    assert result.exit_code == (0 if valid else 1)
    if not valid:
        # The first bad offset, in redis-check-aof's hex form.
        ours = [ln.split(":")[0] for ln in result.output.splitlines() if ln.startswith("0x")]
        assert ours == [theirs.split("\n")[0].split(":")[0]]


def test_check_aof_fix(tmp_path):
    path = tmp_path / "f.aof"
    good = _set(b"a", b"1")
    path.write_bytes(good + b"*2\r\n$3\r\nGET")
    result = CliRunner().invoke(cli_main, ["check-aof", "--fix", str(path)], input="n\n")
    assert result.exit_code == 1 and path.read_bytes() != good
    result = CliRunner().invoke(cli_main, ["check-aof", "--fix", str(path)], input="y\n")
    assert result.exit_code == 0, result.output
    assert "Successfully truncated AOF" in result.output
    assert path.read_bytes() == good
    result = CliRunner().invoke(cli_main, ["check-aof", str(path)])
    assert result.exit_code == 0 and "AOF is valid" in result.output


def test_check_rdb(tmp_path):
    if not has_rdb():
        pytest.skip("the RDB reader (pyredis.persistence.rdb) is not there")
    ref = Ref(str(tmp_path))
    try:
        c = RawClient(ref.port)
        workload(c)
        assert c.call("SAVE") == ("+", b"OK")
        c.close()
    finally:
        ref.stop()
    path = tmp_path / "dump.rdb"
    result = CliRunner().invoke(cli_main, ["check-rdb", str(path)])
    assert result.exit_code == 0, result.output
    assert "RDB looks OK" in result.output
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    result = CliRunner().invoke(cli_main, ["check-rdb", str(path)])
    assert result.exit_code == 1 and "offset" in result.output


def test_info_fields_follow_redis(tmp_path):
    """The aof_* field names with the AOF on are Redis 6.2's."""
    srv = pyr_aof(tmp_path)
    os.makedirs(tmp_path / "r")
    ref = Ref(str(tmp_path / "r"), "--appendonly", "yes")
    try:
        def names(port):
            c = RawClient(port)
            text = c.call("INFO", "persistence")[1].decode()
            c.close()
            return [ln.split(":")[0] for ln in text.split("\r\n") if ln.startswith("aof_")]
        ours = names(srv.port)
        # aof_last_cow_size: there is no copy-on-write count to report.
        theirs = [n for n in names(ref.port) if n != "aof_last_cow_size"]
        assert ours == theirs
    finally:
        srv.stop()
        ref.stop()
