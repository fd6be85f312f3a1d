"""Crash safety of the AOF: with ``appendfsync always``, every write whose
reply a client received is there after ``kill -9`` and a restart.

The server runs as a subprocess (a kill must not take the test with it);
a writer thread sends INCR and SET requests and records each acknowledged
reply; the server is killed in the middle of that load, restarted on the
same directory, and every acknowledged write is checked. The whole test
is bounded to a few seconds of load.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from conftest import RawClient
from pyredis.testing import free_port

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
