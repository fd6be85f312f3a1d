"""``pyredis-server`` as a user runs it: a config file, flags that override
it, configuration on standard input, fatal config errors naming the line
(exit code 1, as redis-server), --help generated from the option table,
daemonize, dir/pidfile/logfile, and CONFIG REWRITE of the file it read."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import RawClient, redis_server_binary
from pyredis import REDIS_VERSION
from pyredis.config import OPTIONS
from pyredis.testing import free_port

SERVER = [sys.executable, "-m", "pyredis"]


def run(args, input=None, cwd=None, timeout=20):
    return subprocess.run(SERVER + list(args), input=input, capture_output=True, text=True,
                          cwd=cwd, timeout=timeout)


class Running:
    """A pyredis-server process listening on ``port``."""

    def __init__(self, args, port, cwd=None, stdin=None):
        self.port = port
        self.proc = subprocess.Popen(SERVER + list(args), cwd=cwd, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True)
        if stdin is not None:
            self.proc.stdin.write(stdin)
        self.proc.stdin.close()
        deadline = time.monotonic() + 15
        while True:
            try:
                self.client = RawClient(port)
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    out = self.proc.stdout.read()
                    self.stop()
                    raise RuntimeError(f"pyredis-server did not start: {out}")
                time.sleep(0.05)

    def config(self, name):
        reply = self.client.call("CONFIG", "GET", name)
        return reply[1][1][1].decode()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.stdout.read()


@pytest.fixture
def running(tmp_path):
    started = []

    def start(args, **kw):
        # In a temporary directory: SIGTERM saves with the default save
        # points, and the dump must not land in the work tree.
        kw.setdefault("cwd", tmp_path)
        srv = Running(args, **kw)
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.stop()


def test_file_then_flags(tmp_path, running):
    port = free_port()
    conf = tmp_path / "redis.conf"
    conf.write_text(f"# test\nport {port + 1}\nmaxclients 50\nhz 20\nsave 900 1\n")
    srv = running([str(conf), "--port", str(port), "--save", "", "--maxclients", "60"],
                  port=port)
    assert srv.config("maxclients") == "60"  # the flag wins
    assert srv.config("hz") == "20"          # the file's value stays
    assert srv.config("save") == ""
    info = srv.client.call("INFO", "server")[1].decode()
    assert f"config_file:{conf}" in info
    assert f"tcp_port:{port}" in info


def test_flags_only(running):
    port = free_port()
    srv = running(["--port", str(port), "--bind", "127.0.0.1", "--requirepass", "pw"],
                  port=port)
    assert srv.client.call("PING")[1].startswith(b"NOAUTH")
    assert srv.client.call("AUTH", "pw") == ("+", b"OK")
    info = srv.client.call("INFO", "server")[1].decode()
    assert "config_file:\r\n" in info


def test_config_from_stdin(running):
    port = free_port()
    srv = running(["-"], port=port, stdin=f"port {port}\nmaxclients 33\n")
    assert srv.config("maxclients") == "33"
    port2 = free_port()
    srv2 = running(["--port", str(port2), "-"], port=port2, stdin="hz 30\n")
    assert srv2.config("hz") == "30"


def fatal(result, line: int, text: str, reason: str):
    assert result.returncode == 1, result
    assert result.stderr == (f"\n*** FATAL CONFIG FILE ERROR (Redis {REDIS_VERSION}) ***\n"
                             f"Reading the configuration file, at line {line}\n"
                             f">>> '{text}'\n{reason}\n"), result.stderr


def test_bad_file_line(tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text("port 7000\n# comment\nfoo bar\n")
    fatal(run([str(conf)]), 3, "foo bar", "Bad directive or wrong number of arguments")


def test_bad_flag_counts_lines_like_redis(tmp_path):
    conf = tmp_path / "ok.conf"
    conf.write_text("port 7000\n")
    # The flags start after an empty line that separates them from the file.
    fatal(run([str(conf), "--maxclients", "abc"]), 3, 'maxclients "abc"',
          "argument couldn't be parsed into an integer")
    fatal(run(["--port", "7000", "--maxclients", "abc"]), 3, 'maxclients "abc"',
          "argument couldn't be parsed into an integer")
    fatal(run(["--port"]), 2, "port", "wrong number of arguments")
    fatal(run(["--hz", 'a "b\nc']), 2, 'hz "a \\"b\\nc"',
          "argument couldn't be parsed into an integer")


def test_same_errors_as_redis_server(tmp_path):
    """redis-server and pyredis-server report the same line and reason (the
    header names each one's Redis version)."""
    conf = tmp_path / "bad.conf"
    conf.write_text("port 7000\nmaxmemory-policy foo\n")
    for args in ([str(conf)], [str(ok_conf(tmp_path)), "--timeout", "-1"],
                 [str(ok_conf(tmp_path)), "--bogus", "1"]):
        ours = run(args)
        theirs = subprocess.run([redis_server_binary()] + args, capture_output=True, text=True,
                                timeout=20)
        assert ours.returncode == theirs.returncode == 1
        strip = lambda s: s.split("***", 2)[2]  # noqa: E731 - after the version header
        assert strip(ours.stderr).strip() == strip(theirs.stderr).strip()


def ok_conf(tmp_path):
    p = tmp_path / "ok.conf"
    p.write_text("port 7000\n")
    return p


def test_unreadable_files(tmp_path):
    r = run([str(tmp_path / "missing.conf")])
    assert r.returncode == 1
    assert "Fatal error, can't open config file" in r.stderr
    conf = tmp_path / "inc.conf"
    conf.write_text(f"include {tmp_path / 'nope.conf'}\n")
    r = run([str(conf)])
    assert r.returncode == 1 and "can't open config file" in r.stderr


def test_refused_directive(tmp_path):
    conf = tmp_path / "r.conf"
    conf.write_text('loadmodule /nowhere/module.so\n')
    r = run([str(conf)])
    assert r.returncode == 1 and "modules" in r.stderr and "at line 1" in r.stderr


def test_help_lists_every_option():
    r = run(["--help"])
    assert r.returncode == 0
    for name in OPTIONS:
        assert f"--{name} " in r.stdout, name
    assert "CONFIG_FILE" in r.stdout
    r = run(["--version"])
    assert r.returncode == 0 and REDIS_VERSION in r.stdout


def test_dir_pidfile_logfile_and_warnings(tmp_path, running):
    port = free_port()
    data = tmp_path / "data"
    data.mkdir()
    srv = running(["--port", str(port), "--dir", str(data), "--pidfile", "p.pid",
                   "--logfile", "log.txt", "--cluster-enabled", "yes"], port=port)
    assert srv.config("dir") == str(data)
    # pidfile and logfile are relative to dir, as redis-server chdirs first.
    assert int((data / "p.pid").read_text()) == srv.proc.pid
    srv.client.send_raw(b"SHUTDOWN NOSAVE\r\n")
    srv.proc.wait(10)
    log = (data / "log.txt").read_text()
    assert "'cluster-enabled' is set to 'yes', but pyredis does not act on it yet" in log
    assert not (data / "p.pid").exists()


def test_config_rewrite_of_the_file_read(tmp_path, running):
    port = free_port()
    conf = tmp_path / "redis.conf"
    conf.write_text(f"# mine\nport {port}\nmaxclients 100\n")
    srv = running([str(conf)], port=port)
    srv.client.call("CONFIG", "SET", "maxclients", "200")
    srv.client.call("CONFIG", "SET", "timeout", "9")
    assert srv.client.call("CONFIG", "REWRITE") == ("+", b"OK")
    lines = conf.read_text().splitlines()
    assert lines[:3] == ["# mine", f"port {port}", "maxclients 200"]
    assert "timeout 9" in lines and f"dir {tmp_path}" not in lines[:3]


def test_daemonize(tmp_path):
    port = free_port()
    pidfile = tmp_path / "d.pid"
    r = run(["--port", str(port), "--daemonize", "yes", "--pidfile", str(pidfile)],
            cwd=tmp_path)
    assert r.returncode == 0  # the parent returns at once
    deadline = time.monotonic() + 15
    client = None
    while client is None:
        try:
            client = RawClient(port)
        except OSError:
            assert time.monotonic() < deadline, "the daemon did not start"
            time.sleep(0.05)
    try:
        pid = int(pidfile.read_text())
        assert pid != os.getpid()
        assert client.call("PING") == ("+", b"PONG")
    finally:
        client.send_raw(b"SHUTDOWN NOSAVE\r\n")
        client.is_closed(wait=5)
    deadline = time.monotonic() + 10
    while pidfile.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pidfile.exists()
