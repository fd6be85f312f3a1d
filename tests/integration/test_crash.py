"""Crash safety: with ``appendfsync always``, every write whose reply a
client received is there after ``kill -9`` and a restart; and ``kill -9``
during a BGSAVE (of the server, or of its child alone) leaves the previous
dump.rdb as it was.

The server runs as a subprocess (a kill must not take the test with it).
For the AOF, a writer thread sends INCR and SET requests and records each acknowledged
reply; the server is killed in the middle of that load, restarted on the
same directory, and every acknowledged write is checked. The whole test
is bounded to a few seconds of load.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time

import pytest

from conftest import RawClient
from pyredis.testing import ServerProcess, free_port

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def start(dir: str, port: int, *extra: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(
        [sys.executable, "-m", "pyredis", "--port", str(port), "--bind", "127.0.0.1",
         "--save", "", "--dir", dir, *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"pyredis exited with {proc.returncode}")
        try:
            c = RawClient(port, timeout=2)
        except OSError:
            time.sleep(0.05)
            continue
        try:
            if c.call("PING") == ("+", b"PONG"):
                return proc
        finally:
            c.close()
    proc.kill()
    raise RuntimeError("pyredis did not start")


class Writer(threading.Thread):
    """INCR counter / SET k<i> <i>, recording what was acknowledged."""

    def __init__(self, port: int, limit_s: float) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.limit_s = limit_s
        self.incr_acked = 0
        self.set_acked: list[int] = []
        self.started_writing = threading.Event()

    def run(self) -> None:
        c = RawClient(self.port, timeout=5)
        deadline = time.monotonic() + self.limit_s
        i = 0
        try:
            while time.monotonic() < deadline:
                reply = c.call("INCR", "counter")
                assert reply[0] == ":"
                self.incr_acked = reply[1]
                if c.call("SET", f"k{i}", str(i)) == ("+", b"OK"):
                    self.set_acked.append(i)
                i += 1
                if i == 50:
                    self.started_writing.set()
        except (OSError, ConnectionError):
            pass  # the server was killed
        finally:
            self.started_writing.set()
            c.close()


@pytest.mark.parametrize("run", range(2))
def test_acknowledged_writes_survive_kill_9(tmp_path, run):
    port = free_port()
    opts = ("--appendonly", "yes", "--appendfsync", "always")
    proc = start(str(tmp_path), port, *opts)
    writer = Writer(port, limit_s=10)
    try:
        writer.start()
        assert writer.started_writing.wait(10)
        time.sleep(0.2 + 0.3 * run)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(5)
        writer.join(10)
        assert not writer.is_alive()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    assert writer.incr_acked >= 50 and len(writer.set_acked) >= 49
    proc = start(str(tmp_path), port, *opts)
    try:
        c = RawClient(port)
        counter = int(c.call("GET", "counter")[1])
        # Every acknowledged INCR is there; at most the one in flight more.
        assert writer.incr_acked <= counter <= writer.incr_acked + 1
        keys = [f"k{i}" for i in writer.set_acked]
        for start_at in range(0, len(keys), 500):
            chunk = keys[start_at:start_at + 500]
            values = c.call("MGET", *chunk)[1]
            missing = [k for k, v in zip(chunk, values) if v != ("$", k[1:].encode())]
            assert not missing, f"acknowledged writes lost: {missing[:5]}"
        c.close()
    finally:
        proc.terminate()
        proc.wait(10)


# -- kill -9 during BGSAVE ----------------------------------------------------
#
# The "previous" dump is small; then a few megabytes of text (which the LZF
# compressor walks at about 1 MB/s) make the BGSAVE child write for seconds,
# long enough to catch its temp-<pid>.rdb file and kill it mid-write.

def _text(seed: int, size: int) -> bytes:
    rnd = random.Random(seed)
    words = [b"%x" % rnd.getrandbits(20) for _ in range(2000)]
    return b" ".join(rnd.choice(words) for _ in range(size // 5))[:size]


def _temp_files(dir: str) -> list[str]:
    return [n for n in os.listdir(dir) if n.startswith("temp-") and n.endswith(".rdb")]


def _wait(cond, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.005)
    raise AssertionError(f"timed out waiting for {what}")


def _bgsave_started(srv, dir: str) -> int:
    """Fill the server with the big values, BGSAVE, and return the child's
    pid (from its temp file's name) once it is writing."""
    r = srv.client()
    for i in range(3):
        r.set(f"big{i}", _text(i, 1 << 20))
    r.set("marker", "new")
    assert r.bgsave()
    names = _wait(lambda: _temp_files(dir), 5, "the BGSAVE temp file")
    assert r.info("persistence")["rdb_bgsave_in_progress"] == 1
    return int(names[0][len("temp-"):-len(".rdb")])


def _previous_dump(srv, dir: str) -> bytes:
    r = srv.client()
    r.mset({f"k{i}": str(i) for i in range(1000)})
    r.set("marker", "old")
    assert r.save()
    with open(os.path.join(dir, "dump.rdb"), "rb") as f:
        return f.read()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (the killed child not yet reaped) counts as gone.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_kill_9_server_during_bgsave_keeps_previous_dump(tmp_path):
    dir = str(tmp_path)
    srv = ServerProcess(dir=dir, rdbcompression="yes")
    srv.start()
    try:
        old = _previous_dump(srv, dir)
        child = _bgsave_started(srv, dir)
        # The whole server dies, child included, as in an OOM kill of the
        # group or a power cut: the child is caught mid-write.
        os.kill(srv.pid, signal.SIGKILL)
        os.kill(child, signal.SIGKILL)
        srv.kill()
        _wait(lambda: not _alive(child), 5, "the child's end")
        partial = _temp_files(dir)
        assert partial, "the child finished before it was killed"
        with open(os.path.join(dir, "dump.rdb"), "rb") as f:
            assert f.read() == old
        srv.start()  # on the same directory: loads the previous dump
        r = srv.client()
        assert r.dbsize() == 1001
        assert r.get("marker") == b"old" and r.get("k999") == b"999"
    finally:
        srv.kill()


def test_kill_9_bgsave_child_reports_error_and_keeps_serving(tmp_path):
    dir = str(tmp_path)
    srv = ServerProcess(dir=dir, rdbcompression="yes")
    srv.start()
    try:
        old = _previous_dump(srv, dir)
        child = _bgsave_started(srv, dir)
        os.kill(child, signal.SIGKILL)
        r = srv.client()
        _wait(lambda: r.info("persistence")["rdb_bgsave_in_progress"] == 0, 5,
              "the server to reap the child")
        info = r.info("persistence")
        assert info["rdb_last_bgsave_status"] == "err"
        assert not _temp_files(dir)  # the half file is removed
        with open(os.path.join(dir, "dump.rdb"), "rb") as f:
            assert f.read() == old
        # Still serving, writes included (no save points: no MISCONF).
        assert r.ping() and r.get("marker") == b"new"
        assert r.set("after", "1")
        # A later BGSAVE succeeds and clears the error.
        r.delete("big0", "big1", "big2")
        assert r.bgsave()
        _wait(lambda: r.info("persistence")["rdb_bgsave_in_progress"] == 0, 10,
              "the second BGSAVE")
        assert r.info("persistence")["rdb_last_bgsave_status"] == "ok"
        assert r.get("after") == b"1"
    finally:
        srv.stop()
