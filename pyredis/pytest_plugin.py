"""pytest fixtures for a real pyredis server (loaded through the ``pytest11``
entry point once pyredis is installed; nothing starts until a test asks).

* ``pyredis_server``: a fresh server for one test (a
  :class:`~pyredis.testing.ServerThread`: in this process, on a free port).
* ``pyredis_session_server``: one server shared by the whole session.
* ``pyredis_client``: a redis-py ``redis.Redis`` on the session server,
  flushed (FLUSHALL) before the test and closed after it.
* ``pyredis_factory``: ``pyredis_factory(config=None, *, process=None,
  **options)`` starts a server with its own settings and returns it; every
  server it started stops when the test ends. Build several to set up
  replication or compare configurations.

``--pyredis-process`` (or ``pyredis_process = true`` in the ini file) runs
every fixture's server as a child process (:class:`~pyredis.testing.ServerProcess`)
instead of a thread; ``pyredis_factory(process=True)`` does it for one server.
``--pyredis-config NAME=VALUE`` (repeatable) and the ``pyredis_config`` ini
lines (``name value``) apply settings to the fixtures' servers.

Every fixture's server starts empty and keeps its files (``dump.rdb``, the
AOF, a subprocess's config and log) in a temporary directory of its own,
removed when the server stops: a ``dump.rdb`` or ``appendonly.aof`` in the
directory pytest runs from is not loaded, and nothing is written there. A
``dir`` setting (``pyredis_factory(dir=...)``, ``--pyredis-config dir=...``)
chooses the directory instead; it is then used as it is and kept.
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser) -> None:
    group = parser.getgroup("pyredis", "pyredis test servers")
    group.addoption("--pyredis-process", action="store_true", default=None,
                    help="run the pyredis fixtures' servers as subprocesses, not threads")
    group.addoption("--pyredis-config", action="append", default=[], metavar="NAME=VALUE",
                    help="a setting for the pyredis fixtures' servers (repeatable)")
    parser.addini("pyredis_process", "run the pyredis fixtures' servers as subprocesses",
                  type="bool", default=False)
    parser.addini("pyredis_config", "settings for the pyredis fixtures' servers, one "
                  "'name value' per line", type="linelist", default=[])


def pytest_configure(config) -> None:
    _settings(config)  # a malformed --pyredis-config is a usage error, before any test


def _use_process(config) -> bool:
    flag = config.getoption("pyredis_process")
    return bool(config.getini("pyredis_process") if flag is None else flag)


def _settings(config) -> dict[str, str]:
    settings: dict[str, str] = {}
    for line in config.getini("pyredis_config"):
        name, _, value = line.strip().partition(" ")
        if name:
            settings[name] = value.strip().strip('"')
    for item in config.getoption("pyredis_config"):
        name, sep, value = item.partition("=")
        if not sep:
            raise pytest.UsageError(f"--pyredis-config wants NAME=VALUE, got {item!r}")
        settings[name] = value
    return settings


def _start(config, settings: dict, process: bool | None, options: dict):
    from pyredis.testing import ServerProcess, ServerThread
    if process is None:
        process = _use_process(config)
    kind = ServerProcess if process else ServerThread
    merged = dict(_settings(config))
    merged.update(settings or {})
    return kind(merged, **options).start()


@pytest.fixture
def pyredis_server(request):
    """A pyredis server for this test only, empty, in its own temporary
    directory; stopped (and the directory removed) after it."""
    srv = _start(request.config, {}, None, {})
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def pyredis_session_server(request):
    """One pyredis server for the whole session (not flushed between tests;
    ``pyredis_client`` does that). It starts empty, in its own temporary
    directory."""
    srv = _start(request.config, {}, None, {})
    yield srv
    srv.stop()


@pytest.fixture
def pyredis_client(pyredis_session_server):
    """A redis-py client on the session server, which is flushed first."""
    pyredis_session_server.flush()
    client = pyredis_session_server.client()
    yield client
    client.close()


@pytest.fixture
def pyredis_factory(request):
    """Start servers with their own settings: ``pyredis_factory(maxmemory="1mb")``,
    ``pyredis_factory({"appendonly": "yes"}, process=True)``. Each starts
    empty in a temporary directory of its own unless ``dir`` is given (to
    load a dump from it, say); all stop when the test ends."""
    started = []

    def factory(config: dict | None = None, *, process: bool | None = None, **options):
        srv = _start(request.config, config or {}, process, options)
        started.append(srv)
        return srv

    yield factory
    for srv in reversed(started):
        srv.stop()
