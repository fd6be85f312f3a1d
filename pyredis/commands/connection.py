"""Connection commands: PING, ECHO, QUIT, SELECT, AUTH, HELLO."""

from __future__ import annotations

from .. import REDIS_VERSION, errors
from ..errors import CommandError
from ..protocol import NULL_ARRAY, OK, PONG, Push, Simple
from .args import to_int
from .table import command


@command("ping", -1, "stale fast", categories="@connection", group="connection", since="1.0.0")
def ping(client, args):
    if len(args) > 2:
        raise CommandError(errors.wrong_arity("ping"))
    if client.channels or client.patterns:
        if client.resp == 2:
            # Redis 6.2 answers a subscribed RESP2 client with a pong message.
            return [b"pong", args[1] if len(args) == 2 else b""]
    return PONG if len(args) == 1 else args[1]


@command("echo", 2, "fast", categories="@connection", group="connection", since="1.0.0")
def echo(client, args):
    return args[1]


@command("quit", 1, "loading stale fast no_auth", categories="@connection", group="connection", since="1.0.0")
def quit_(client, args):
    client.closing = True
    return OK


@command("select", 2, "loading stale fast", categories="@keyspace", group="connection", since="1.0.0")
def select(client, args):
    index = to_int(args[1])
    if index is None:
        raise CommandError(errors.NOT_INTEGER)
    if not -(2 ** 31) <= index < 2 ** 31:
        # Redis's getIntFromObjectOrReply: a number that is not an int.
        raise CommandError(errors.out_of_range(-(2 ** 31), 2 ** 31 - 1))
    dbs = client.core.ks.dbs
    if not 0 <= index < len(dbs):
        raise CommandError(errors.DB_OUT_OF_RANGE)
    client.db = dbs[index]
    return OK


def _check_password(client, username: bytes | None, password: bytes) -> None:
    required = client.core.config.requirepass
    if username is not None and username != b"default":
        raise CommandError(errors.WRONGPASS)
    # Without requirepass the default user has no password: any one does.
    if required and password.decode("utf-8", "surrogateescape") != required:
        raise CommandError(errors.WRONGPASS)
    client.authenticated = True
    client.update_slowpath()


@command("auth", -2, "noscript loading stale fast no_auth", categories="@connection",
         since="1.0.0")
def auth(client, args):
    if len(args) > 3:
        raise CommandError(errors.SYNTAX)
    if len(args) == 2 and not client.core.config.requirepass:
        raise CommandError(errors.AUTH_NOT_CONFIGURED)
    if len(args) == 3:
        _check_password(client, args[1], args[2])
    else:
        _check_password(client, None, args[1])
    return OK


@command("hello", -1, "noscript loading stale fast no_auth", categories="@connection",
         since="6.0.0")
def hello(client, args):
    ver = None
    if len(args) >= 2:
        ver = to_int(args[1])
        if ver is None:
            raise CommandError("ERR Protocol version is not an integer or out of range")
        if ver < 2 or ver > 3:
            raise CommandError(errors.NOPROTO)
    name = None
    i = 2
    while i < len(args):
        opt = args[i].lower()
        more = len(args) - i - 1
        if opt == b"auth" and more >= 2:
            _check_password(client, args[i + 1], args[i + 2])
            i += 3
        elif opt == b"setname" and more >= 1:
            name = args[i + 1]
            validate_client_name(name)
            i += 2
        else:
            raise CommandError(f"ERR Syntax error in HELLO option '{args[i].decode('utf-8', 'replace')}'")
    if not client.authenticated:
        raise CommandError(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise "
            "the HELLO AUTH <user> <pass> option can be used to authenticate the client and "
            "select the RESP protocol version at the same time")
    if name is not None:
        client.name = name
    if ver is not None:
        client.resp = ver
    return {
        b"server": b"redis",
        b"version": REDIS_VERSION.encode(),
        b"proto": client.resp,
        b"id": client.id,
        b"mode": b"standalone",
        b"role": b"master",
        b"modules": [],
    }


def validate_client_name(name: bytes) -> None:
    """Names may not hold spaces or control characters (CLIENT SETNAME rules)."""
    for ch in name:
        if ch < 33 or ch > 126:
            raise CommandError(
                "ERR Client names cannot contain spaces, newlines or special characters.")


# Used by the pub/sub and blocking code for RESP2-compatible pushes.
__all__ = ["Push", "NULL_ARRAY", "Simple", "validate_client_name"]
