"""protected-mode: who is refused, with which text, and that loopback
clients are served. No test here uses an address other than 127.0.0.1:
refusals are checked on the decision function and on a connection handed a
fake transport whose peer is a documentation address (192.0.2.0/24)."""

from __future__ import annotations

import pytest

from conftest import RawClient
from pyredis import errors
from pyredis.commands.admin import protected_refusal
from pyredis.config import Config
from pyredis.server import ClientConnection, Server
from pyredis.testing import ServerThread

OUTSIDE = ("192.0.2.10", 40000)
OUTSIDE6 = ("2001:db8::1", 40000, 0, 0)


def _config(**settings) -> Config:
    cfg = Config()
    for name, value in settings.items():
        cfg.set(name.replace("_", "-"), value, startup=True)
    return cfg


@pytest.mark.parametrize("bind,protected,password,peer,refused", [
    ("0.0.0.0", "yes", "", OUTSIDE, True),
    ("*", "yes", "", OUTSIDE, True),
    ("* -::*", "yes", "", OUTSIDE6, True),
    ("::", "yes", "", OUTSIDE6, True),
    ("0.0.0.0", "yes", "", ("127.0.0.1", 5), False),
    ("0.0.0.0", "yes", "", ("::1", 5, 0, 0), False),
    ("0.0.0.0", "yes", "", "", False),                      # Unix socket
    ("0.0.0.0", "no", "", OUTSIDE, False),                  # protected-mode off
    ("0.0.0.0", "yes", "secret", OUTSIDE, False),           # a password is set
    ("127.0.0.1", "yes", "", OUTSIDE, False),               # explicit addresses
    ("192.0.2.1 127.0.0.1", "yes", "", OUTSIDE, False),
])
def test_decision(bind, protected, password, peer, refused):
    cfg = _config(bind=bind, protected_mode=protected, requirepass=password)
    assert protected_refusal(cfg, peer) is refused


class _FakeTransport:
    def __init__(self, peer) -> None:
        self.peer = peer
        self.written = b""
        self.closed = False

    def get_extra_info(self, name):
        return {"peername": self.peer, "sockname": ("0.0.0.0", 6379)}.get(name)

    def write(self, data: bytes) -> None:
        self.written += data

    def close(self) -> None:
        self.closed = True

    def set_write_buffer_limits(self, **kwargs) -> None:
        pass


def test_outside_client_gets_denied_and_is_closed():
    server = Server(_config(bind="0.0.0.0"))
    t = _FakeTransport(OUTSIDE)
    conn = ClientConnection(server)
    conn.connection_made(t)
    assert t.closed
    assert t.written == errors.PROTECTED_MODE_DENIED.encode() + b"\r\n"
    assert t.written.startswith(b"-DENIED Redis is running in protected mode")
    assert conn.client is None and not server.core.clients


def test_loopback_client_is_served_on_a_wildcard_config():
    server = Server(_config(bind="0.0.0.0"))
    t = _FakeTransport(("127.0.0.1", 50000))
    conn = ClientConnection(server)
    conn.connection_made(t)
    assert not t.closed and conn.client is not None


def test_runtime_switch():
    cfg = _config(bind="0.0.0.0")
    assert protected_refusal(cfg, OUTSIDE)
    cfg.set("protected-mode", "no")
    assert not protected_refusal(cfg, OUTSIDE)
    cfg.set("protected-mode", "yes")
    cfg.set("requirepass", "pw")
    assert not protected_refusal(cfg, OUTSIDE)


def test_real_loopback_clients_are_accepted():
    with ServerThread(protected_mode=True) as srv:
        c = RawClient(srv.port)
        try:
            assert c.call("PING") == ("+", b"PONG")
            assert c.call("CONFIG", "GET", "protected-mode") == (
                "*", [("$", b"protected-mode"), ("$", b"yes")])
        finally:
            c.close()
