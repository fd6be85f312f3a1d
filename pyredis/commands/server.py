"""Server commands: DBSIZE, FLUSHDB, FLUSHALL, SWAPDB, TIME, LASTSAVE,
SHUTDOWN, MONITOR and CONFIG (GET, SET, RESETSTAT, REWRITE, HELP).

INFO lives in ``info.py``, CLIENT in ``client_cmds.py``, COMMAND and DEBUG
in ``introspection.py``.

Persistence hooks: SHUTDOWN saves through ``core.save_on_shutdown`` (a
callable returning True on success) when the persistence layer installs
one; until then SHUTDOWN SAVE is refused ("Errors trying to SHUTDOWN"),
since there is nowhere to save to, and a plain SHUTDOWN stops without a
save, as the server has never written one.
"""

from __future__ import annotations

import logging
import time

from .. import errors
from ..config import ConfigError, UnknownOption, lookup_option
from ..errors import CommandError
from ..protocol import OK, Raw
from .args import to_int
from .subcommands import Subcommands
from .table import command

log = logging.getLogger("pyredis")


# -- keyspace-wide commands ------------------------------------------------------


@command("dbsize", 1, "readonly fast", categories="@keyspace", group="server", since="1.0.0")
def dbsize(client, args):
    return len(client.db.data)


def _flush_mode(args) -> None:
    """FLUSHDB/FLUSHALL [ASYNC|SYNC]: both run synchronously here (freeing is
    Python's garbage collection either way)."""
    if len(args) > 2 or (len(args) == 2 and args[1].lower() not in (b"async", b"sync")):
        raise CommandError(errors.SYNTAX)


def flush_all(core) -> int:
    """Empty every database; returns how many keys were removed."""
    return sum(db.flush() for db in core.ks.dbs)


@command("flushdb", -1, "write", categories="@keyspace @dangerous", group="server",
         since="1.0.0")
def flushdb(client, args):
    _flush_mode(args)
    removed = client.db.flush()
    # Propagate even an empty flush (as FLUSHALL always does), so a replica
    # that drifted is emptied as well.
    client.db.ks.dirty += removed + 1
    return OK


@command("flushall", -1, "write", categories="@keyspace @dangerous", group="server",
         since="1.0.0")
def flushall(client, args):
    _flush_mode(args)
    core = client.core
    removed = flush_all(core)
    core.ks.dirty += removed + 1
    return OK


def _db_index(arg: bytes, error: str) -> int:
    index = to_int(arg)
    if index is None or not -(2 ** 31) <= index < 2 ** 31:
        raise CommandError(error)
    return index


@command("swapdb", 3, "write fast", categories="@keyspace @dangerous", group="server",
         since="4.0.0")
def swapdb(client, args):
    a = _db_index(args[1], errors.INVALID_FIRST_DB)
    b = _db_index(args[2], errors.INVALID_SECOND_DB)
    ks = client.core.ks
    n = len(ks.dbs)
    if not (0 <= a < n and 0 <= b < n):
        raise CommandError(errors.DB_OUT_OF_RANGE)
    if a != b:
        ks.swap(a, b)
    ks.dirty += 1
    return OK


# -- clocks -----------------------------------------------------------------------


@command("time", 1, "random loading stale fast", group="server", since="2.6.0")
def time_(client, args):
    ns = time.time_ns()
    return [b"%d" % (ns // 1_000_000_000), b"%d" % (ns // 1000 % 1_000_000)]


@command("lastsave", 1, "random loading stale fast", categories="@admin @dangerous",
         group="server", since="1.0.0")
def lastsave(client, args):
    return client.core.last_save


# -- SHUTDOWN and MONITOR -------------------------------------------------------


@command("shutdown", -1, "admin noscript loading stale", group="server", since="1.0.0")
def shutdown(client, args):
    if len(args) > 2:
        raise CommandError(errors.SYNTAX)
    mode = args[1].lower() if len(args) == 2 else None
    if mode not in (None, b"save", b"nosave"):
        raise CommandError(errors.SYNTAX)
    core = client.core
    save = getattr(core, "save_on_shutdown", None)
    if mode == b"save" or (mode is None and save is not None and core.config.save):
        if save is None:
            log.warning("SHUTDOWN SAVE refused: this server has no persistence yet, "
                        "there is nowhere to save the dataset")
            raise CommandError(errors.SHUTDOWN_FAILED)
        if not save():
            log.warning("Error trying to save the DB, can't exit.")
            raise CommandError(errors.SHUTDOWN_FAILED)
    log.warning("User requested shutdown...")
    if core.shutdown_hook is not None:
        core.shutdown_hook()
    # Like Redis, the client gets no reply: the connection just closes.
    client.closing = True
    return Raw(b"")


@command("monitor", 1, "admin noscript loading stale", group="server", since="1.0.0")
def monitor(client, args):
    if client.deny_blocking:
        raise CommandError(errors.MONITOR_DENY_BLOCKING)
    core = client.core
    if client.monitor:
        return OK
    client.monitor = True
    core.monitors.append(client)
    core.update_observed()
    return OK


# -- CONFIG ---------------------------------------------------------------------------

CONFIG = Subcommands("config")

_CONFIG_HELP_ORDER = ["get", "set", "resetstat", "rewrite"]


@command("config", -2, "admin noscript loading stale", group="server", since="2.0.0")
def config_(client, args):
    return CONFIG.dispatch(client, args)


@CONFIG.add("help", 2)
def config_help(client, args):
    return CONFIG.help(_CONFIG_HELP_ORDER)


@CONFIG.add("get", 3, help=(
        "GET <pattern>",
        "    Return parameters matching the glob-like <pattern> and their values."))
def config_get(client, args):
    pattern = args[2].decode("utf-8", "surrogateescape")
    out = {}
    for name, value in client.core.config.matching(pattern):
        out[name.encode()] = value.encode("utf-8", "surrogateescape")
    return out


@CONFIG.add("set", 4, help=(
        "SET <directive> <value>",
        "    Set the configuration <directive> to <value>."))
def config_set(client, args):
    name = args[2].decode("utf-8", "surrogateescape")
    value = args[3].decode("utf-8", "surrogateescape")
    config = client.core.config
    # Redis quotes both with %s: a NUL ends them in its errors.
    shown_name, shown_value = name.split("\x00", 1)[0], value.split("\x00", 1)[0]
    try:
        config.set(name, value)
    except UnknownOption:
        raise CommandError(f"ERR Unsupported CONFIG parameter: {shown_name}") from None
    except ConfigError as e:
        opt = lookup_option(name)
        msg = f"ERR Invalid argument '{shown_value}' for CONFIG SET '{shown_name}'"
        if opt is not None and opt.set_reason and e.reason:
            msg += f" - {e.reason}"
        if opt is not None and opt.name == "dir":
            msg = f"ERR {e.reason}"
        raise CommandError(msg) from None
    _apply(client, name)
    return OK


def _apply(client, name: str) -> None:
    """What the running server does at once after CONFIG SET, besides the
    parts that read the option where they use it."""
    opt = lookup_option(name)
    core = client.core
    if opt.name == "requirepass":
        # Redis turns the default user's password on or off: existing
        # connections stay authenticated, and with no password nobody needs
        # to authenticate any more.
        if not core.config.requirepass:
            for c in core.clients.values():
                if not c.authenticated:
                    c.authenticated = True
                    c.update_slowpath()


@CONFIG.add("resetstat", 2, help=(
        "RESETSTAT",
        "    Reset statistics reported by the INFO command."))
def config_resetstat(client, args):
    reset_stats(client.core)
    return OK


def reset_stats(core) -> None:
    """CONFIG RESETSTAT: zero INFO's counters and the command statistics."""
    stats = core.stats
    for name in ("total_connections_received", "rejected_connections", "net_input_bytes",
                 "net_output_bytes", "evicted_keys", "total_error_replies"):
        setattr(stats, name, 0)
    for cmd in core.commands.values():
        cmd.calls = cmd.usec = cmd.failed_calls = cmd.rejected_calls = 0
    stats._last_sample_ops = 0
    stats.ops_samples = [0] * len(stats.ops_samples)
    ks = core.ks
    ks.hits = ks.misses = ks.expired_keys = 0
    stats.error_replies.clear()


@CONFIG.add("rewrite", 2, help=(
        "REWRITE",
        "    Rewrite the configuration file."))
def config_rewrite(client, args):
    config = client.core.config
    if not config.config_file:
        raise CommandError(errors.NO_CONFIG_FILE)
    try:
        config.rewrite()
    except OSError as e:
        log.warning("CONFIG REWRITE failed: %s", e.strerror)
        raise CommandError(f"ERR Rewriting config file: {e.strerror}") from None
    log.info("CONFIG REWRITE executed with success.")
    return OK
