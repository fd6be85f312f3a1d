"""Embedded servers ignore the working directory: a ``dump.rdb`` and an
``appendonly.aof`` lying where the tests run are not loaded into
``ServerThread``, ``ServerProcess`` or the pytest fixtures' servers, and
those servers, once stopped, have written nothing there (their files live
in a temporary directory of their own, removed at stop)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

import pyredis
from pyredis.testing import ServerProcess, ServerThread

# One SET as the AOF stores it (plain RESP, no RDB preamble).
AOF_SET = b"*3\r\n$3\r\nSET\r\n$7\r\naof-key\r\n$8\r\nfrom-aof\r\n"


def _files(path) -> dict[str, bytes]:
    """Every file under ``path`` (relative name -> content): a change to
    any of them, or a new one, shows as a difference."""
    out = {}
    for root, _dirs, names in os.walk(path):
        for name in names:
            full = os.path.join(root, name)
            with open(full, "rb") as f:
                out[os.path.relpath(full, path)] = f.read()
    return out


class Litter:
    """A directory holding a real dump.rdb (key ``rdb-key``) and an
    appendonly.aof (key ``aof-key``), made the working directory."""

    def __init__(self, path) -> None:
        self.path = str(path)
        self.before: dict[str, bytes] = {}
        self.server_dirs: list[str] = []

    def make(self) -> None:
        # The dump comes from a real pyredis server saving into the
        # directory, so it is exactly what a developer's earlier run leaves.
        with ServerThread(dir=self.path) as srv:
            r = srv.client()
            r.set("rdb-key", "from-rdb")
            r.save()
            r.close()
        with open(os.path.join(self.path, "appendonly.aof"), "wb") as f:
            f.write(AOF_SET)
        self.before = _files(self.path)
        assert set(self.before) == {"dump.rdb", "appendonly.aof"}

    def used_by(self, srv) -> None:
        """Check a running server: empty, its dir elsewhere; remember that
        dir to check it is gone after stop."""
        assert os.getcwd() == self.path
        r = srv.client()
        assert r.keys("*") == []
        assert os.path.realpath(srv.dir) != os.path.realpath(self.path)
        assert r.config_get("dir") == {"dir": srv.dir}
        # Writes and saves land in the server's own directory.
        r.set("new-key", "v")
        r.save()
        assert os.path.exists(os.path.join(srv.dir, "dump.rdb"))
        r.close()
        self.server_dirs.append(srv.dir)

    def untouched(self) -> None:
        assert _files(self.path) == self.before
        for d in self.server_dirs:
            assert not os.path.exists(d), d


@pytest.fixture
def litter(tmp_path, monkeypatch):
    """The littered working directory; after the test (and after the
    teardown of any server fixture requested after it) nothing in it has
    changed and every server's own directory is gone."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    lit = Litter(cwd)
    lit.make()
    monkeypatch.chdir(cwd)
    yield lit
    lit.untouched()


def test_the_litter_is_real(litter):
    """The files would load if a server were pointed at them: what the
    other tests see (nothing) is the isolation, not a bad fixture."""
    with ServerThread(dir=litter.path) as srv:
        assert srv.client().keys("*") == [b"rdb-key"]
    # The AOF wins over the dump when appendonly is on, as in Redis.
    with ServerThread(dir=litter.path, appendonly=True) as srv:
        assert srv.client().get("aof-key") == b"from-aof"
    assert srv.dir == litter.path and os.path.isdir(litter.path)  # a given dir is kept


@pytest.mark.parametrize("kind", [ServerThread, ServerProcess])
@pytest.mark.parametrize("options", [{}, {"appendonly": True}], ids=["rdb", "aof"])
def test_server_ignores_the_working_directory(litter, kind, options):
    srv = kind(**options)
    with srv:
        litter.used_by(srv)
        if options:
            assert os.path.exists(os.path.join(srv.dir, "appendonly.aof"))
    litter.untouched()
    srv.stop()  # idempotent, and nothing left to remove


def test_thread_dir_set_on_its_config_is_used_and_kept(litter):
    """A ``dir`` put on ``srv.config`` before start (as a loaded config
    file would) counts as the caller's: its dump loads, and stop keeps it."""
    other = os.path.join(os.path.dirname(litter.path), "chosen")
    os.mkdir(other)
    with ServerThread(dir=litter.path) as srv:  # a dump to load, made elsewhere
        srv.client().config_set("dir", other)
        srv.client().save()
    srv = ServerThread()
    srv.config.set("dir", other, startup=True)
    with srv:
        assert srv.dir == other
        assert srv.client().keys("*") == [b"rdb-key"]
    assert os.path.exists(os.path.join(other, "dump.rdb"))
    litter.untouched()


def test_thread_restart_gets_a_fresh_directory(litter):
    srv = ServerThread()
    with srv:
        litter.used_by(srv)
    with srv:
        # A new start is a new, empty server: the first one's dump went
        # with its directory.
        litter.used_by(srv)
    assert len(set(litter.server_dirs)) == 2
    litter.untouched()


def test_pyredis_server_fixture(request, litter, pyredis_server):
    # Requested after ``litter``, so started in the littered directory.
    names = request.fixturenames
    assert names.index("litter") < names.index("pyredis_server")
    litter.used_by(pyredis_server)


def test_pyredis_factory_fixture(request, litter, pyredis_factory):
    names = request.fixturenames
    assert names.index("litter") < names.index("pyredis_factory")
    for options in ({}, {"appendonly": "yes"}, {"process": True},
                    {"process": True, "appendonly": "yes"}):
        litter.used_by(pyredis_factory(**options))


USER_TESTS = '''
def test_client(pyredis_client):
    assert pyredis_client.keys("*") == []
    pyredis_client.set("k", "v")
    pyredis_client.save()


def test_server(pyredis_server):
    r = pyredis_server.client()
    assert r.keys("*") == []
    r.set("k", "v")
    r.save()


def test_factory(pyredis_factory):
    r = pyredis_factory(appendonly="yes").client()
    assert r.keys("*") == []
    r.set("k", "v")
'''


@pytest.mark.parametrize("extra", [[], ["--pyredis-process"]], ids=["thread", "process"])
def test_user_suite_run_from_the_littered_directory(litter, extra):
    """What a user does: ``pytest`` in a project directory that holds an
    old dump.rdb and AOF. The session server (``pyredis_client``) too
    starts empty, and the run adds nothing beside the test file."""
    with open("test_user.py", "w") as f:
        f.write(textwrap.dedent(USER_TESTS))
    litter.before = _files(litter.path)
    env = dict(os.environ)
    env.pop("PYTEST_ADDOPTS", None)
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # no __pycache__ beside test_user.py
    root = os.path.dirname(os.path.dirname(pyredis.__file__))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           *extra, "test_user.py"], capture_output=True, text=True,
                          timeout=120, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "3 passed" in proc.stdout
