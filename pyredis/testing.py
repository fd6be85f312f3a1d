"""Run a real pyredis server inside the current process, for tests.

``ServerThread`` starts a :class:`~pyredis.server.Server` on its own event
loop in a daemon thread, listening on a free loopback port::

    with ServerThread(requirepass="s3cret") as srv:
        r = redis.Redis(port=srv.port, password="s3cret")

Options are given as keyword arguments named like the config options
(``maxmemory_policy="allkeys-lru"``) or as a ``config`` mapping of
``"option-name": "text value"``.
"""

from __future__ import annotations

import asyncio
import socket
import threading

from .config import Config
from .server import Server, new_event_loop


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerThread:
    def __init__(self, config: dict | None = None, **options) -> None:
        self.config = Config()
        settings = {"port": "0", "bind": "127.0.0.1", "save": ""}
        settings.update(config or {})
        settings.update({k.replace("_", "-"): v for k, v in options.items()})
        for name, value in settings.items():
            if isinstance(value, bool):
                value = "yes" if value else "no"
            self.config.set(name, str(value), startup=True)
        self.server: Server | None = None
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def core(self):
        return self.server.core

    def start(self, timeout: float = 10.0) -> "ServerThread":
        self._thread = threading.Thread(target=self._run, name="pyredis-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("pyredis server did not start")
        if self._error is not None:
            raise self._error
        return self

    def _run(self) -> None:
        loop = self._loop = new_event_loop()
        asyncio.set_event_loop(loop)
        self.server = Server(self.config)
        try:
            loop.run_until_complete(self.server.start())
        except BaseException as e:  # report start-up failures to start()
            self._error = e
            self._ready.set()
            loop.close()
            return
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
        if self._thread is None:
            return
        if self._loop is not None and not self._loop.is_closed():
            try:
                self._loop.call_soon_threadsafe(self.server.request_shutdown)
            except RuntimeError:
                pass  # loop already closed
        self._thread.join(timeout)
        self._thread = None

    def __enter__(self) -> "ServerThread":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
