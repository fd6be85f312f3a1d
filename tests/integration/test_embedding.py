"""pyredis.testing and the pytest plugin as a user's test suite embeds them:
a server in a thread or a subprocess with any settings, stopped cleanly,
bad settings named, and the fixtures shipped through the ``pytest11`` entry
point (per-test server, session server, flushed client, factory)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points

import pytest
import redis

import pyredis
from pyredis.testing import InvalidSetting, ServerProcess, ServerStartError, ServerThread


def run_pytest(cwd, *args: str) -> subprocess.CompletedProcess:
    """pytest in a fresh process, importing the same pyredis as this one."""
    env = dict(os.environ)
    env.pop("PYTEST_ADDOPTS", None)
    root = os.path.dirname(os.path.dirname(pyredis.__file__))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
                          cwd=cwd, capture_output=True, text=True, timeout=120, env=env)


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return True
    return False


# -- ServerThread / ServerProcess --------------------------------------------------------------


@pytest.mark.parametrize("kind", [ServerThread, ServerProcess])
def test_context_manager_applies_settings_and_stops(kind):
    with kind({"maxmemory-policy": "allkeys-lru"}, requirepass="s e\"cret",
              save="900 1", notify_keyspace_events="KEA", appendonly=False) as srv:
        r = srv.client()
        assert r.ping()
        assert r.config_get("maxmemory-policy") == {"maxmemory-policy": "allkeys-lru"}
        assert r.config_get("requirepass") == {"requirepass": 's e"cret'}
        assert r.config_get("save") == {"save": "900 1"}
        assert r.config_get("appendonly") == {"appendonly": "no"}
        r.set("k", "v")
        assert redis.Redis.from_url(srv.url).get("k") == b"v"
        srv.flush()
        assert r.dbsize() == 0
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as c:
            c.sendall(b"PING\r\n")
            assert c.recv(100).startswith(b"-NOAUTH")
        r.close()
        port = srv.port
    assert refused(port)
    srv.stop()  # idempotent


@pytest.mark.parametrize("kind", [ServerThread, ServerProcess])
@pytest.mark.parametrize("setting, value, reason", [
    ("maxmemory", "lots", "argument must be a memory value"),
    ("appendonly", "maybe", "argument must be 'yes' or 'no'"),
    ("no-such-option", "1", "no such option"),
])
def test_bad_setting_is_named(kind, setting, value, reason):
    with pytest.raises(InvalidSetting) as info:
        kind({setting: value})
    assert info.value.name == setting
    assert str(info.value) == f"invalid pyredis setting {setting!r} = {value!r}: {reason}"


@pytest.mark.parametrize("kind", [ServerThread, ServerProcess])
def test_port_in_use_fails_to_start(kind):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        srv = kind(port=taken.getsockname()[1])
        with pytest.raises((OSError, ServerStartError)) as info:
            srv.start(timeout=10)
        srv.stop()
    if kind is ServerProcess:
        assert "listening socket" in str(info.value)


def test_thread_gives_the_core():
    with ServerThread() as srv:
        srv.client().set("k", "v")
        assert srv.core.config.port == srv.port
        assert srv.core.ks.dbs[0].get(b"k") is not None


def test_process_is_a_separate_process_and_survives_a_crash_restart():
    srv = ServerProcess(hz=20)
    with srv:
        assert srv.pid != os.getpid()
        r = srv.client()
        assert r.info("server")["process_id"] == srv.pid
        assert os.path.exists(os.path.join(srv.dir, "pyredis.conf"))
        port, workdir = srv.port, srv.dir
        srv.kill()
        assert refused(port)
        srv.start()  # same port and directory
        assert srv.port == port and srv.dir == workdir
        assert srv.client().ping()
        assert "Ready to accept connections" in srv.log()
    assert not os.path.exists(workdir)


# -- the plugin's fixtures, in this run -----------------------------------------------------------


def test_plugin_registered_as_pytest11_entry_point(pytestconfig):
    names = {ep.name: ep.value for ep in entry_points(group="pytest11")}
    assert names.get("pyredis") == "pyredis.pytest_plugin"
    assert pytestconfig.pluginmanager.has_plugin("pyredis")


def test_pyredis_server_fixture_is_fresh(pyredis_server):
    r = pyredis_server.client()
    assert r.dbsize() == 0
    r.set("k", "v")
    assert r.get("k") == b"v"


def test_pyredis_client_is_flushed(pyredis_client, pyredis_session_server):
    assert pyredis_client.dbsize() == 0
    pyredis_client.set("left", "over")  # the next user of the fixture must not see it
    assert pyredis_client.connection_pool.connection_kwargs["port"] == \
        pyredis_session_server.port


def test_pyredis_client_is_flushed_again(pyredis_client):
    assert pyredis_client.dbsize() == 0


def test_factory_builds_servers_with_own_settings(pyredis_factory):
    a = pyredis_factory(maxmemory="1mb")
    b = pyredis_factory({"maxmemory": "2mb"}, process=True)
    assert isinstance(a, ServerThread) and isinstance(b, ServerProcess)
    assert a.port != b.port
    assert a.client().config_get("maxmemory") == {"maxmemory": "1048576"}
    assert b.client().config_get("maxmemory") == {"maxmemory": "2097152"}


# -- the plugin in a user's own project -----------------------------------------------------------

USER_TESTS = '''
import redis
import pytest


def test_server(pyredis_server):
    r = redis.Redis(port=pyredis_server.port)
    r.rpush("q", "a", "b")
    assert r.lpop("q") == b"a"
    assert r.config_get("hz") == {"hz": "17"}


def test_client_one(pyredis_client):
    assert pyredis_client.dbsize() == 0
    pyredis_client.set("x", 1)


def test_client_two(pyredis_client):
    assert pyredis_client.dbsize() == 0


def test_factory(pyredis_factory):
    servers = [pyredis_factory(databases=n) for n in (2, 3)]
    assert [s.client().config_get("databases")["databases"] for s in servers] == ["2", "3"]
    assert servers[0].client().config_get("hz") == {"hz": "17"}


def test_kind(pyredis_session_server, request):
    from pyredis.testing import ServerProcess
    want = request.config.getoption("pyredis_process")
    assert isinstance(pyredis_session_server, ServerProcess) == bool(want)
'''


@pytest.mark.parametrize("extra", [[], ["--pyredis-process"]])
def test_plugin_in_a_fresh_project(tmp_path, extra):
    (tmp_path / "test_user.py").write_text(USER_TESTS)
    (tmp_path / "pytest.ini").write_text(textwrap.dedent("""\
        [pytest]
        pyredis_config =
            hz 17
        """))
    proc = run_pytest(tmp_path, *extra, "test_user.py")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "5 passed" in proc.stdout


def test_plugin_rejects_malformed_config_flag(tmp_path):
    (tmp_path / "test_x.py").write_text("def test_x(pyredis_server):\n    pass\n")
    proc = run_pytest(tmp_path, "--pyredis-config", "hz", "test_x.py")
    assert proc.returncode != 0
    assert "--pyredis-config wants NAME=VALUE, got 'hz'" in proc.stdout + proc.stderr


def test_plugin_bad_setting_named_in_error(tmp_path):
    (tmp_path / "test_x.py").write_text("def test_x(pyredis_server):\n    pass\n")
    proc = run_pytest(tmp_path, "--pyredis-config", "maxmemory=lots", "test_x.py")
    assert proc.returncode == 1
    assert "invalid pyredis setting 'maxmemory' = 'lots'" in proc.stdout
