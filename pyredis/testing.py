"""Run a real pyredis server for tests: in this process or as a subprocess.

Both kinds listen on a free loopback port, speak the real protocol over TCP
(so any client library in any language can use them), take any setting, and
stop cleanly. They share one interface: ``start()``/``stop()``, use as a
context manager, ``host``/``port``/``url``, ``client()`` (a redis-py client)
and ``flush()``.

``ServerThread`` runs a :class:`~pyredis.server.Server` on its own event loop
in a daemon thread of the current process, with a temporary directory of its
own as ``dir`` (made at start, removed at stop; the process's working
directory is left alone). It starts in a few milliseconds (after the first
import of the command modules) and exposes the server's ``core`` for
white-box checks::

    with ServerThread(requirepass="s3cret") as srv:
        r = srv.client()                 # redis.Redis(port=srv.port, password=...)
        r.set("k", "v")

``ServerProcess`` runs ``python -m pyredis`` with a generated config file
in a temporary directory (its working directory, removed on stop unless
``dir`` is given). Use it when the server must not share the test's process:
its GIL, its signal handlers, or a test that kills the server::

    with ServerProcess(appendonly="yes") as srv:
        ...

Either kind starts empty and writes nothing outside its temporary directory:
a ``dump.rdb`` or ``appendonly.aof`` in the current directory is neither
loaded nor overwritten. Pass ``dir`` to use a directory of your own instead
(to load a dump, or to keep the files after stop); it is never removed.

Settings are keyword arguments named like the config options, with ``_``
for ``-`` (``maxmemory_policy="allkeys-lru"``; ``True``/``False`` mean
``yes``/``no``), or a ``config`` mapping of ``"option-name": "text value"``
(the text after the name on a redis.conf line). A bad setting raises
:class:`InvalidSetting` naming it, before anything is started.

The pytest fixtures built on these live in :mod:`pyredis.pytest_plugin`.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from .config import Config, ConfigError, lookup_option, quote

__all__ = ["ServerThread", "ServerProcess", "InvalidSetting", "ServerStartError", "free_port"]

HOST = "127.0.0.1"
_DEFAULTS = {"bind": HOST, "save": ""}


class InvalidSetting(ValueError):
    """A setting given to a test server is unknown or has a bad value."""

    def __init__(self, name: str, value: str, reason: str) -> None:
        super().__init__(f"invalid pyredis setting {name!r} = {value!r}: {reason}")
        self.name, self.value, self.reason = name, value, reason


class ServerStartError(RuntimeError):
    """The server did not come up (the message carries its log)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _settings(config: dict | None, options: dict) -> dict[str, str]:
    """Merge the defaults, ``config`` and keyword options into
    ``{"option-name": "text"}``."""
    settings = dict(_DEFAULTS)
    merged = dict(config or {})
    merged.update({k.replace("_", "-"): v for k, v in options.items()})
    for name, value in merged.items():
        if isinstance(value, bool):
            value = "yes" if value else "no"
        settings[name.lower()] = "" if value is None else str(value)
    return settings


def _build_config(settings: dict[str, str]) -> Config:
    """A Config with every setting applied as at start-up; InvalidSetting
    names the first bad one."""
    config = Config()
    for name, value in settings.items():
        if lookup_option(name) is None:
            raise InvalidSetting(name, value, "no such option")
        try:
            config.set(name, value, startup=True)
        except ConfigError as e:
            raise InvalidSetting(name, value, e.reason or "invalid argument") from None
    return config


def _request(port: int, *args: bytes, password: str = "", timeout: float = 5.0) -> bytes:
    """Send one command (after AUTH when a password is set) and return the
    raw bytes of its reply; enough for PING and FLUSHALL without a client
    library."""
    cmds = ([(b"AUTH", password.encode())] if password else []) + [args]
    payload = b"".join(
        b"*%d\r\n" % len(cmd) + b"".join(b"$%d\r\n%b\r\n" % (len(a), a) for a in cmd)
        for cmd in cmds)
    with socket.create_connection((HOST, port), timeout=timeout) as s:
        s.sendall(payload)
        data = b""
        while data.count(b"\r\n") < len(cmds):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    reply = data.split(b"\r\n")[len(cmds) - 1]
    if reply.startswith(b"-"):
        raise ServerStartError(reply[1:].decode(errors="replace"))
    return reply


class _TestServer:
    """What both kinds share: addresses, clients, flush, context manager."""

    host = HOST
    port = 0
    settings: dict[str, str]

    @property
    def password(self) -> str:
        return self.settings.get("requirepass", "")

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}{self.host}:{self.port}/0"

    def client(self, **kwargs):
        """A redis-py ``redis.Redis`` for this server (keyword arguments go
        to it; the password is filled in)."""
        import redis
        kwargs.setdefault("password", self.password or None)
        return redis.Redis(host=self.host, port=self.port, **kwargs)

    def async_client(self, **kwargs):
        """A redis-py ``redis.asyncio.Redis`` for this server."""
        import redis.asyncio
        kwargs.setdefault("password", self.password or None)
        return redis.asyncio.Redis(host=self.host, port=self.port, **kwargs)

    def flush(self) -> None:
        """FLUSHALL over the wire (works on either kind)."""
        _request(self.port, b"FLUSHALL", password=self.password)

    def ping(self, timeout: float = 5.0) -> bool:
        try:
            return _request(self.port, b"PING", password=self.password,
                            timeout=timeout) == b"+PONG"
        except (OSError, ServerStartError):
            return False

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.host}:{self.port}>"


class ServerThread(_TestServer):
    """A pyredis server on its own event loop in a daemon thread.

    ``dir`` is where its files go: a temporary directory made by ``start()``
    and removed by ``stop()``, or the ``dir`` setting when one is given
    (then kept)."""

    def __init__(self, config: dict | None = None, **options) -> None:
        self.settings = _settings(config, options)
        self.settings.setdefault("port", "0")
        self.config = _build_config(self.settings)
        # Config() defaults ``dir`` to the process's working directory, which
        # would load a dump.rdb lying there and save into it: without an
        # explicit ``dir`` each start gets a fresh temporary one instead.
        self._own_dir = "dir" not in self.settings
        self.dir = "" if self._own_dir else self.config.dir
        # What config.dir holds while nobody but this class has set it: to
        # tell a dir the caller put on ``self.config`` later (load_file,
        # CONFIG SET before a restart) from the defaults.
        self._default_dir = self.config.dir
        self._made_dir = ""
        self.server = None
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def core(self):
        """The server's Core (keyspace, clients, config): white-box access.
        Touch it only from the server's loop (``call_soon``) while clients
        are active, or between requests."""
        return self.server.core

    def start(self, timeout: float = 10.0) -> "ServerThread":
        if self._thread is not None:
            raise RuntimeError("server already started")
        self._ready.clear()
        self._error = None
        self._loop = None
        if self._own_dir and self.config.dir not in (self._default_dir, self._made_dir):
            # The caller chose a directory through ``self.config``: use it
            # and keep it, as if given to the constructor.
            self._own_dir = False
            self.dir = self.config.dir
        if self._own_dir:
            # Set through Config, not by chdir: the working directory belongs
            # to the whole process, and other threads (and servers) use it.
            self.dir = self._made_dir = tempfile.mkdtemp(prefix="pyredis-test-")
            self.config.set("dir", self.dir, startup=True)
        self._thread = threading.Thread(target=self._run, name="pyredis-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            # The thread may still come up later; stop() ends it and removes
            # the directory.
            raise ServerStartError(f"pyredis server did not start within {timeout} s")
        if self._error is not None:
            self._thread.join(timeout)
            self._loop = None
            self._thread = None
            self._remove_dir()
            raise self._error
        return self

    def _run(self) -> None:
        try:
            from .server import Server, new_event_loop
            loop = self._loop = new_event_loop()
            asyncio.set_event_loop(loop)
            self.server = Server(self.config)
            loop.run_until_complete(self.server.start())
        except BaseException as e:  # report start-up failures to start()
            self._error = e
            self._ready.set()
            if self._loop is not None:
                self._loop.close()
            return
        loop = self._loop
        self.port = self.server.port
        self._ready.set()
        try:
            loop.run_until_complete(self.server.serve_until_stopped())
        finally:
            loop.close()

    def call_soon(self, fn, *args) -> None:
        """Run ``fn(*args)`` on the server's loop (thread-safe)."""
        self._loop.call_soon_threadsafe(fn, *args)

    def stop(self, timeout: float = 10.0) -> None:
        """Close the listening sockets and every connection, end the loop,
        join the thread and remove the temporary directory. Idempotent."""
        if self._thread is None:
            return
        if self._loop is not None and not self._loop.is_closed():
            try:
                self._loop.call_soon_threadsafe(self.server.request_shutdown)
            except RuntimeError:
                pass  # loop already closed
        self._thread.join(timeout)
        self._thread = None
        self._remove_dir()

    def _remove_dir(self) -> None:
        if self._own_dir and self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = ""


class ServerProcess(_TestServer):
    """A pyredis server in a child process (``python -m pyredis CONF``).

    ``log`` returns what it printed so far. ``pid`` is its process id;
    ``kill()`` ends it with SIGKILL (a crash), ``stop()`` with SIGTERM."""

    def __init__(self, config: dict | None = None, *, python: str | None = None,
                 **options) -> None:
        self.settings = _settings(config, options)
        _build_config(self.settings)  # bad settings fail here, named
        self.python = python or sys.executable
        self.proc: subprocess.Popen | None = None
        self.port = int(self.settings.get("port", 0) or 0)
        self._own_dir = "dir" not in self.settings
        self.dir = self.settings.get("dir") or ""
        self._log = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def config_file(self) -> str:
        return os.path.join(self.dir, "pyredis.conf")

    @property
    def log_file(self) -> str:
        return os.path.join(self.dir, "pyredis.log")

    def log(self) -> str:
        try:
            with open(self.log_file, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def _write_config(self, port: int) -> None:
        settings = dict(self.settings, port=str(port), dir=self.dir)
        lines = []
        for name, value in settings.items():
            opt = lookup_option(name)
            if opt is not None and opt.nargs is None:
                # Several words (save, bind, client-output-buffer-limit ...).
                lines.append(f"{name} {value}" if value.strip() else f'{name} ""')
            else:
                lines.append(f"{name} {quote(value)}")
        with open(self.config_file, "w") as f:
            f.write("\n".join(lines) + "\n")

    def start(self, timeout: float = 20.0) -> "ServerProcess":
        if self.proc is not None:
            raise RuntimeError("server already started")
        if self._own_dir and not self.dir:
            self.dir = tempfile.mkdtemp(prefix="pyredis-test-")
        fixed_port = bool(self.port)
        # A free port can be taken by someone else before the child binds
        # it: try a few.
        for _attempt in range(1 if fixed_port else 3):
            port = self.port if fixed_port else free_port()
            if self._spawn(port, timeout):
                self.port = port
                return self
            if "listening socket" not in self.log():
                break
        log = self.log()
        self.stop()
        raise ServerStartError(f"pyredis-server did not start:\n{log}")

    def _spawn(self, port: int, timeout: float) -> bool:
        self._write_config(port)
        self._log = open(self.log_file, "w")
        env = dict(os.environ)
        if self.python == sys.executable:
            # The child imports the same pyredis as this process, even one
            # that is only on this process's sys.path.
            root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
            env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        self.proc = subprocess.Popen(
            [self.python, "-m", "pyredis", self.config_file], cwd=self.dir, env=env,
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.proc = None
                return False
            try:
                _request(port, b"PING", password=self.password, timeout=1.0)
                return True
            except OSError:
                time.sleep(0.01)
        self._terminate()
        return False

    def _terminate(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def kill(self) -> None:
        """End the server at once with SIGKILL, as a crash would (the
        directory is kept: start() again reuses it, stop() removes it)."""
        self._terminate(signal.SIGKILL)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (a clean shutdown), then remove the temporary directory.
        Idempotent."""
        self._terminate(signal.SIGTERM, timeout)
        if self._own_dir and self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = ""
