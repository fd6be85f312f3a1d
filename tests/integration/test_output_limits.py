"""client-output-buffer-limit: a client that stops reading is dropped once
its pending output passes the hard limit of its class, or stays past the
soft limit longer than the soft seconds; publishers and other clients go
on, and the server's memory stays bounded.

pyredis runs as its own process here so that its memory can be measured
(VmHWM, the peak resident set). The behaviour is also checked on the
reference redis-server with the same settings, so the test itself is known
to describe Redis.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

import pytest

from conftest import RawClient, ReferenceServer, RespParser, encode_command, wait_dropped
from pyredis.testing import free_port

_LOG_LINE = b"scheduled to be closed ASAP for overcoming of output buffer limits"


class PyredisProcess:
    """``python -m pyredis`` on a free loopback port, logging to a file."""

    def __init__(self) -> None:
        self.port = free_port()
        self.log = tempfile.NamedTemporaryFile(prefix="pyredis-obuf-", suffix=".log")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pyredis", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", ""],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("pyredis did not start")
                time.sleep(0.05)

    def status(self, field: str) -> int:
        """A /proc/<pid>/status size field in bytes (VmRSS, VmHWM)."""
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
        raise KeyError(field)

    def log_text(self) -> bytes:
        with open(self.log.name, "rb") as f:
            return f.read()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


@pytest.fixture(scope="module")
def pyredis_proc():
    srv = PyredisProcess()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def reference():
    srv = ReferenceServer()
    yield srv
    srv.stop()


@pytest.fixture(params=["pyredis", "redis"])
def server(request, pyredis_proc, reference):
    srv = pyredis_proc if request.param == "pyredis" else reference
    c = RawClient(srv.port)
    old = c.call("CONFIG", "GET", "client-output-buffer-limit")[1][1][1]
    c.close()
    yield srv
    c = RawClient(srv.port)
    c.call("CONFIG", "SET", "client-output-buffer-limit", old)
    c.close()


def _config(port: int, limits: str) -> None:
    c = RawClient(port)
    assert c.call("CONFIG", "SET", "client-output-buffer-limit", limits) == ("+", b"OK")
    c.close()


def _stalled_subscriber(port: int, channel: str) -> socket.socket:
    """A subscriber that will never read again, with a small receive
    buffer so the kernel soaks up little of what the server sends."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
    s.settimeout(5)
    s.connect(("127.0.0.1", port))
    s.sendall(encode_command(["SUBSCRIBE", channel]))
    parser = RespParser()
    while parser.get() is None:
        parser.feed(s.recv(4096))
    return s


def _closed_by_server(s: socket.socket, wait: float = 10.0) -> bool:
    """Drain what the server had sent; True once it closed the connection."""
    deadline = time.monotonic() + wait
    s.settimeout(0.5)
    while time.monotonic() < deadline:
        try:
            if not s.recv(1 << 20):
                return True
        except socket.timeout:
            continue
        except OSError:  # reset: the server dropped unsent output
            return True
    return False


class Reader(threading.Thread):
    """A subscriber that keeps reading, counting whole messages."""

    def __init__(self, port: int, channel: str) -> None:
        super().__init__(daemon=True)
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.sendall(encode_command(["SUBSCRIBE", channel]))
        self.parser = RespParser()
        self.messages = 0
        self.error = None
        self.stop = False

    def run(self) -> None:
        try:
            while not self.stop:
                data = self.sock.recv(1 << 20)
                if not data:
                    self.error = "closed"
                    return
                self.parser.feed(data)
                while (m := self.parser.get()) is not None:
                    if m[1][0] == ("$", b"message"):
                        self.messages += 1
        except OSError as e:
            if not self.stop:
                self.error = repr(e)

    def wait_for(self, n: int, wait: float = 10.0) -> None:
        deadline = time.monotonic() + wait
        while self.messages < n and self.error is None and time.monotonic() < deadline:
            time.sleep(0.005)
        assert self.error is None, self.error
        assert self.messages >= n, (self.messages, n)

    def close(self) -> None:
        self.stop = True
        self.sock.close()


def test_hard_limit_drops_stalled_subscriber(server):
    port = server.port
    _config(port, "pubsub 8mb 0 0")
    is_pyredis = isinstance(server, PyredisProcess)
    if is_pyredis:
        rss_before = server.status("VmRSS")
    good = Reader(port, "feed")
    good.start()
    good.wait_for(0)
    stalled = _stalled_subscriber(port, "feed")
    pub = RawClient(port)
    other = RawClient(port)
    payload = b"x" * 131072
    receivers = []
    # 600 x 128 KiB = 75 MiB: far past the limit if nothing enforced it.
    for i in range(600):
        receivers.append(pub.call("PUBLISH", "feed", payload)[1])
        if i % 16 == 15:
            # Keep the reading subscriber close behind, so only the stalled
            # one can build up a backlog.
            good.wait_for(i + 1)
        if receivers[-1] == 1 and len(receivers) > 100:
            break
    assert receivers[0] == 2
    assert receivers[-1] == 1, "the stalled subscriber was never dropped"
    dropped_at = receivers.index(1)
    # Dropped near 8 MiB of backlog (plus what the sockets hold), not later.
    assert 8 * 1024 ** 2 // len(payload) <= dropped_at <= 200, dropped_at
    assert _closed_by_server(stalled)
    good.wait_for(len(receivers))
    assert pub.call("PUBSUB", "NUMSUB", "feed") == ("*", [("$", b"feed"), (":", 1)])
    assert other.call("PING") == ("+", b"PONG")
    assert other.call("SET", "still", "fine") == ("+", b"OK")
    if is_pyredis:
        # The peak resident set grew by the limit and change, not by the
        # 75 MiB a never-dropped subscriber would have pinned.
        grown = server.status("VmHWM") - rss_before
        assert grown < 40 * 1024 ** 2, grown
        assert _LOG_LINE in server.log_text()
    good.close()
    stalled.close()
    pub.close()
    other.close()


def _publish_for(pub, seconds: float, payload: bytes) -> float:
    """Publish every 20 ms for ``seconds``; returns when the channel lost
    its subscriber (seconds from the start), or -1."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if pub.call("PUBLISH", "slow", payload)[1] == 0:
            return time.monotonic() - start
        time.sleep(0.02)
    return -1.0


def test_soft_limit_needs_its_seconds(server):
    port = server.port
    payload = b"y" * 65536
    # Past the soft limit, but allowed to stay there for a minute.
    _config(port, "pubsub 0 256kb 60")
    stalled = _stalled_subscriber(port, "slow")
    pub = RawClient(port)
    assert _publish_for(pub, 2.0, payload) == -1.0
    stalled.close()
    deadline = time.monotonic() + 5
    while pub.call("PUBSUB", "NUMSUB", "slow")[1][1] != (":", 0):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    # One second allowed: dropped once it has stayed past 256 KiB that long.
    _config(port, "pubsub 0 256kb 1")
    stalled = _stalled_subscriber(port, "slow")
    gone_after = _publish_for(pub, 8.0, payload)
    assert gone_after >= 1.0, gone_after
    assert _closed_by_server(stalled)
    assert pub.call("PING") == ("+", b"PONG")
    stalled.close()
    pub.close()


def test_normal_class_limit(server):
    """The normal class applies to ordinary clients (default: no limit)."""
    port = server.port
    setter = RawClient(port)
    setter.call("SET", "big", "z" * 1024 * 1024)
    _config(port, "normal 4mb 0 0")
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
    s.connect(("127.0.0.1", port))
    # 40 MiB of replies requested, none read.
    try:
        s.sendall(encode_command(["CLIENT", "SETNAME", "greedy"])
                  + encode_command(["GET", "big"]) * 40)
    except OSError:
        pass  # already dropped while we were still sending
    # Not reading until it is gone: a reader that keeps up can keep the
    # server's buffer under the limit on a loaded machine.
    wait_dropped(lambda: b"name=greedy" in setter.call("CLIENT", "LIST")[1])
    assert _closed_by_server(s)
    s.close()
    # A client that reads its replies is unaffected.
    for _ in range(10):
        assert len(setter.call("GET", "big")[1]) == 1024 * 1024
    _config(port, "normal 0 0 0")
    setter.close()
