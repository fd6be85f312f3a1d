"""Ways a client could wedge the server for good (issue 12, part 1), each
against a pyredis process of its own and, where Redis behaves the same, a
reference redis-server: a script that catches SCRIPT KILL with pcall; a
busy script that shuts new connections out, so nobody can kill it (what
wedged Redis's own tests/unit/multi.tcl at "EXEC and script timeout"); an
EXEC refused while a script is busy that left its client in MULTI; and a
busy server that SHUTDOWN NOSAVE or SIGTERM could not stop.

Every wait is bounded: a server that wedges fails the test and is killed."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time

import pytest

from pyredis.testing import ServerProcess

from conftest import RawClient, ReferenceServer, encode_command

BUSY = b"BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
KILLED = b": @user_script:1: Script killed by user with SCRIPT KILL..."
# Redis 7.0.15 tests/unit/scripting.tcl, "Timedout read-only scripts can be
# killed by SCRIPT KILL even when use pcall".
PCALL_LOOP = ("local f = function() while 1 do redis.call('ping') end end "
              "while 1 do pcall(f) end")


class _Pyredis:
    def __init__(self) -> None:
        self.srv = ServerProcess(lua_time_limit="10", save="").start()
        self.port = self.srv.port

    def exited(self, timeout: float) -> bool:
        try:
            self.srv.proc.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def signal(self, sig: int) -> None:
        os.kill(self.srv.pid, sig)

    def stop(self) -> None:
        if self.srv.proc is not None and self.srv.proc.poll() is None:
            self.srv.kill()  # it may be the wedged one: no SIGTERM dance
        self.srv.stop()


class _Reference:
    def __init__(self) -> None:
        self.ref = ReferenceServer("--lua-time-limit", "10")
        self.port = self.ref.port

    def exited(self, timeout: float) -> bool:
        try:
            self.ref.proc.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def stop(self) -> None:
        if self.ref.proc.poll() is None:
            self.ref.proc.kill()
            self.ref.proc.wait(5)
        self.ref.stop()


@pytest.fixture(params=["pyredis", "redis"])
def server(request):
    s = _Pyredis() if request.param == "pyredis" else _Reference()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def pyredis_server():
    s = _Pyredis()
    try:
        yield s
    finally:
        s.stop()


def client(port: int) -> RawClient:
    # Every read is bounded: a wedged server fails the test, not the run.
    return RawClient(port, timeout=5)


def start_script(port: int, body: str) -> RawClient:
    """Send EVAL ``body`` on a connection of its own and wait (bounded) until
    other clients get BUSY."""
    runner = client(port)
    probe = client(port)  # connected before: this wait tests nothing else
    assert runner.call("PING") == ("+", b"PONG")
    runner.send_raw(encode_command(("EVAL", body, "0")))
    try:
        deadline = time.monotonic() + 5
        while probe.call("PING") != ("-", BUSY):
            assert time.monotonic() < deadline, "the script never became busy"
            time.sleep(0.02)
    finally:
        probe.close()
    return runner


def test_script_kill_ends_a_script_that_catches_it_with_pcall(server):
    runner = start_script(server.port, PCALL_LOOP)
    # Connected after the script started: accepted and answered, so it can
    # send the SCRIPT KILL (before, pyredis accepted nobody meanwhile).
    killer = client(server.port)
    try:
        assert killer.call("PING") == ("-", BUSY)
        assert killer.call("SCRIPT", "KILL") == ("+", b"OK")
        kind, text = runner.read()
        assert kind == "-" and text.startswith(b"ERR Error running script (call to f_")
        assert text.endswith(KILLED)
        assert killer.call("PING") == ("+", b"PONG")
        assert runner.call("PING") == ("+", b"PONG")
        # The next script runs with the normal hook again.
        assert runner.call("EVAL", "local i = 0 for j = 1, 500000 do i = i + j end "
                                   "return redis.call('ping')", "0") == ("+", b"PONG")
    finally:
        runner.close()
        killer.close()


@pytest.mark.parametrize("body", [
    "while 1 do pcall(redis.call, 'ping') end",
    "while 1 do pcall(function() error('x') end) end",
    "local co = coroutine.wrap(function() while 1 do pcall(redis.call, 'ping') end end) "
    "while 1 do pcall(co) end",
])
def test_script_kill_ends_other_pcall_loops(pyredis_server, body):
    runner = start_script(pyredis_server.port, body)
    killer = client(pyredis_server.port)
    try:
        assert killer.call("SCRIPT", "KILL") == ("+", b"OK")
        kind, text = runner.read()
        assert kind == "-" and text.endswith(KILLED)
        assert killer.call("PING") == ("+", b"PONG")
    finally:
        runner.close()
        killer.close()


def test_exec_refused_by_a_busy_script_ends_the_transaction(server):
    port = server.port
    r2 = client(port)
    try:
        assert r2.call("MULTI") == ("+", b"OK")
        assert r2.call("INCR", "xx") == ("+", b"QUEUED")
        runner = start_script(port, "while true do end")
        assert r2.call("EXEC") == ("-", b"EXECABORT Transaction discarded because of: " + BUSY)
        # Out of MULTI: a command runs (here: is refused), it is not queued.
        assert r2.call("PING", "x") == ("-", BUSY)
        assert r2.call("SCRIPT", "KILL") == ("+", b"OK")
        assert runner.read()[0] == "-"
        assert r2.call("PING", "asdf") == ("$", b"asdf")
        assert r2.call("GET", "xx") == ("$", None)
        runner.close()
    finally:
        r2.close()


def test_multi_tcl_script_timeout_tests_replayed(server):
    """The four script-timeout tests of Redis 7.0.15's tests/unit/multi.tcl,
    in order, each with fresh connections as the suite opens them. Before,
    pyredis answered EXEC with BUSY and kept the client in MULTI; the Tcl
    test then failed before its SCRIPT KILL, the script ran on, and the
    next test's new connections were never accepted: every later file hung."""
    port = server.port
    r = client(port)
    try:
        # MULTI and script timeout
        rd1, r2 = client(port), client(port)
        assert r.call("CONFIG", "SET", "lua-time-limit", "10") == ("+", b"OK")
        assert r.call("SET", "xx", "1") == ("+", b"OK")
        assert r2.call("MULTI") == ("+", b"OK")
        assert r2.call("INCR", "xx") == ("+", b"QUEUED")
        rd1.send_raw(encode_command(("EVAL", "while true do end", "0")))
        time.sleep(0.2)
        assert r2.call("INCR", "xx") == ("-", BUSY)
        assert r.call("SCRIPT", "KILL") == ("+", b"OK")
        time.sleep(0.2)
        assert r2.call("INCR", "xx") == ("+", b"QUEUED")
        assert r2.call("EXEC") == ("-", b"EXECABORT Transaction discarded because of "
                                        b"previous errors.")
        assert r.call("GET", "xx") == ("$", b"1")
        rd1.close(), r2.close()

        # EXEC and script timeout: the one that wedged the server.
        rd1, r2 = client(port), client(port)
        assert r.call("SET", "xx", "1") == ("+", b"OK")
        assert r2.call("MULTI") == ("+", b"OK")
        assert r2.call("INCR", "xx") == ("+", b"QUEUED")
        rd1.send_raw(encode_command(("EVAL", "while true do end", "0")))
        time.sleep(0.2)
        assert r2.call("INCR", "xx") == ("-", BUSY)
        kind, text = r2.call("EXEC")
        assert kind == "-" and text.startswith(b"EXECABORT") and b"BUSY" in text
        assert r.call("SCRIPT", "KILL") == ("+", b"OK")
        time.sleep(0.2)
        assert r.call("GET", "xx") == ("$", b"1")
        assert r2.call("PING", "asdf") == ("$", b"asdf")
        rd1.close(), r2.close()

        # MULTI-EXEC body and script timeout
        rd1, r2 = client(port), client(port)
        assert r.call("SET", "xx", "1") == ("+", b"OK")
        assert r2.call("MULTI") == ("+", b"OK")
        assert r2.call("INCR", "xx") == ("+", b"QUEUED")
        rd1.send_raw(encode_command(("EVAL", "while true do end", "0")))
        time.sleep(0.2)
        assert r2.call("INCR", "xx") == ("-", BUSY)
        assert r.call("SCRIPT", "KILL") == ("+", b"OK")
        time.sleep(0.2)
        kind, text = r2.call("EXEC")
        assert kind == "-" and text.startswith(b"EXECABORT") and b"previous errors" in text
        assert r.call("GET", "xx") == ("$", b"1")
        rd1.close(), r2.close()

        # just EXEC and script timeout
        rd1, r2 = client(port), client(port)
        assert r.call("SET", "xx", "1") == ("+", b"OK")
        assert r2.call("MULTI") == ("+", b"OK")
        assert r2.call("INCR", "xx") == ("+", b"QUEUED")
        rd1.send_raw(encode_command(("EVAL", "while true do end", "0")))
        time.sleep(0.2)
        kind, text = r2.call("EXEC")
        assert kind == "-" and text.startswith(b"EXECABORT") and b"BUSY" in text
        assert r.call("SCRIPT", "KILL") == ("+", b"OK")
        time.sleep(0.2)
        assert r.call("GET", "xx") == ("$", b"1")
        assert r2.call("PING", "asdf") == ("$", b"asdf")
        rd1.close(), r2.close()

        # And the server still takes new clients.
        late = client(port)
        assert late.call("PING") == ("+", b"PONG")
        late.close()
    finally:
        r.close()


def test_busy_script_left_running_still_lets_new_clients_in(server):
    """What the suite's runner saw after the failed test: a script nobody
    killed. New connections must still be answered (BUSY), and one of them
    can end it."""
    runner = start_script(server.port, "while true do end")
    try:
        for _ in range(3):
            late = client(server.port)
            assert late.call("PING") == ("-", BUSY)
            late.close()
        # Pipelined on a new connection: both answered in order.
        late = client(server.port)
        late.send_raw(encode_command(("PING",)) + encode_command(("SCRIPT", "KILL")))
        assert late.read() == ("-", BUSY)
        assert late.read() == ("+", b"OK")
        assert runner.read()[0] == "-"
        assert late.call("PING") == ("+", b"PONG")
        late.close()
    finally:
        runner.close()


def test_client_connected_during_a_busy_script_can_quit(pyredis_server):
    port = pyredis_server.port
    runner = start_script(port, "while true do end")
    try:
        late = client(port)
        assert late.call("QUIT") == ("+", b"OK")
        assert late.is_closed(5)
        late.close()
        killer = client(port)
        assert killer.call("SCRIPT", "KILL") == ("+", b"OK")
        assert runner.read()[0] == "-"
        # The clients accepted meanwhile were handed to the loop: they stay
        # served, and the one that quit is gone.
        assert killer.call("PING") == ("+", b"PONG")
        kind, listing = killer.call("CLIENT", "LIST")
        assert listing.count(b"\n") == 2  # runner and killer
        killer.close()
    finally:
        runner.close()


@pytest.mark.parametrize("body", [
    PCALL_LOOP,
    "redis.call('set', 'w', '1') " + PCALL_LOOP,  # SCRIPT KILL: -UNKILLABLE
])
def test_shutdown_nosave_ends_a_busy_server(server, body):
    runner = start_script(server.port, body)
    other = client(server.port)
    try:
        if "set" in body:
            kind, text = other.call("SCRIPT", "KILL")
            assert kind == "-" and text.startswith(b"UNKILLABLE")
        other.send_raw(encode_command(("SHUTDOWN", "NOSAVE")))
        assert server.exited(10), "SHUTDOWN NOSAVE did not stop the busy server"
    finally:
        runner.close()
        other.close()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
@pytest.mark.parametrize("body", [
    PCALL_LOOP,
    "redis.call('set', 'w', '1') " + PCALL_LOOP,
])
def test_signal_ends_a_busy_server(pyredis_server, body, sig):
    """Redis itself only notices SIGTERM in its cron, which does not run
    while a script is busy; pyredis stops the script and shuts down."""
    runner = start_script(pyredis_server.port, body)
    try:
        pyredis_server.signal(sig)
        assert pyredis_server.exited(10), "the signal did not stop the busy server"
    finally:
        runner.close()
    log = pyredis_server.srv.log()
    assert "scheduling shutdown" in log


def test_sigterm_ends_a_script_before_its_time_limit(pyredis_server):
    port = pyredis_server.port
    r = client(port)
    assert r.call("CONFIG", "SET", "lua-time-limit", "60000") == ("+", b"OK")
    r.send_raw(encode_command(("EVAL", "while true do end", "0")))
    time.sleep(0.3)
    try:
        pyredis_server.signal(signal.SIGTERM)
        assert pyredis_server.exited(10), "SIGTERM did not stop the server inside the script"
    finally:
        r.close()


def test_sigterm_still_shuts_an_idle_server_down(pyredis_server):
    r = client(pyredis_server.port)
    assert r.call("PING") == ("+", b"PONG")
    pyredis_server.signal(signal.SIGTERM)
    assert pyredis_server.exited(10)
    assert pyredis_server.srv.proc.returncode == 0
    r.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", pyredis_server.port), timeout=1).close()


def test_second_signal_ends_a_server_stuck_outside_scripts(pyredis_server):
    """A server stuck in a command that is not a script (here DEBUG SLEEP)
    cannot run the loop's shutdown: the second signal exits at once, as a
    second SIGINT does in Redis."""
    r = client(pyredis_server.port)
    r.send_raw(encode_command(("DEBUG", "SLEEP", "60")))
    time.sleep(0.3)
    try:
        pyredis_server.signal(signal.SIGTERM)
        assert not pyredis_server.exited(0.5)
        pyredis_server.signal(signal.SIGTERM)
        assert pyredis_server.exited(10), "a second SIGTERM did not end the stuck server"
        assert pyredis_server.srv.proc.returncode == 1
    finally:
        r.close()
    assert "You insist... exiting now." in pyredis_server.srv.log()
