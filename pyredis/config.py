"""Typed settings: the option table, ``redis.conf`` parsing, CONFIG GET/SET.

Each option is declared once in ``OPTIONS`` with its type, default and
whether CONFIG SET may change it at run time. ``Config`` holds the values as
attributes named like the option with ``-`` turned into ``_``
(``config.maxmemory_policy``). Parts of the server that must react to a
change register a listener with :meth:`Config.on_change`.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass
from typing import Any, Callable

from .protocol.inline import split_args


class ConfigError(Exception):
    """A bad setting; ``args[0]`` is the reason as Redis words it."""


_MEM_UNITS = {
    "": 1, "b": 1, "k": 1000, "kb": 1024, "m": 1000 ** 2, "mb": 1024 ** 2,
    "g": 1000 ** 3, "gb": 1024 ** 3,
}


def parse_memory(text: str) -> int:
    """Redis's memtoll: '1gb', '100mb', '10k', '123'."""
    t = text.strip().lower()
    i = len(t)
    while i and t[i - 1].isalpha():
        i -= 1
    num, unit = t[:i], t[i:]
    if unit not in _MEM_UNITS or not num or not num.lstrip("-").isdigit():
        raise ConfigError("argument must be a memory value")
    return int(num) * _MEM_UNITS[unit]


def _parse_bool(text: str) -> bool:
    t = text.lower()
    if t == "yes":
        return True
    if t == "no":
        return False
    raise ConfigError("argument must be 'yes' or 'no'")


def _parse_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ConfigError("argument couldn't be parsed into an integer") from None


@dataclass
class Option:
    name: str
    kind: str            # int, memory, bool, string, enum, special
    default: Any
    mutable: bool = True
    lo: int | None = None
    hi: int | None = None
    choices: tuple = ()
    doc: str = ""

    @property
    def attr(self) -> str:
        return self.name.replace("-", "_")

    def parse(self, text: str) -> Any:
        if self.kind == "bool":
            return _parse_bool(text)
        if self.kind in ("int", "memory"):
            v = parse_memory(text) if self.kind == "memory" else _parse_int(text)
            if (self.lo is not None and v < self.lo) or (self.hi is not None and v > self.hi):
                raise ConfigError(f"argument must be between {self.lo} and {self.hi} inclusive")
            return v
        if self.kind == "enum":
            t = text.lower()
            if t not in self.choices:
                raise ConfigError(f"argument(s) must be one of the following: {', '.join(self.choices)}")
            return t
        return text

    def render(self, value: Any) -> str:
        if self.kind == "bool":
            return "yes" if value else "no"
        return str(value)


_INT_MAX = 2 ** 31 - 1
_LL_MAX = 2 ** 63 - 1

OPTIONS: dict[str, Option] = {o.name: o for o in [
    Option("port", "int", 6379, False, 0, 65535, doc="TCP port to listen on."),
    Option("bind", "string", "127.0.0.1", False, doc="Addresses to listen on, space separated."),
    Option("tcp-backlog", "int", 511, False, 0, _INT_MAX, doc="listen() backlog."),
    Option("databases", "int", 16, False, 1, _INT_MAX, doc="Number of databases."),
    Option("requirepass", "string", "", doc="Password clients must AUTH with (empty: none)."),
    Option("maxclients", "int", 10000, True, 1, _INT_MAX, doc="Most clients connected at once."),
    Option("timeout", "int", 0, True, 0, _INT_MAX, doc="Close clients idle this many seconds (0: never)."),
    Option("tcp-keepalive", "int", 300, True, 0, _INT_MAX, doc="TCP keepalive interval in seconds."),
    Option("hz", "int", 10, True, 0, _INT_MAX, doc="Background task frequency (expiry, timeouts)."),
    Option("proto-max-bulk-len", "memory", 512 * 1024 * 1024, True, 1024 * 1024, _LL_MAX,
           doc="Largest bulk string a request may carry."),
    Option("client-query-buffer-limit", "memory", 1024 * 1024 * 1024, True, 1024 * 1024, _LL_MAX,
           doc="Largest pending request per client."),
    Option("loglevel", "enum", "notice", True, choices=("debug", "verbose", "notice", "warning"),
           doc="Log verbosity."),
    Option("logfile", "string", "", False, doc="Log file (empty: standard output)."),
    Option("dir", "special", ".", True, doc="Working directory for persistence files."),
    Option("dbfilename", "string", "dump.rdb", True, doc="RDB file name."),
    Option("save", "special", "3600 1 300 100 60 10000", True, doc="RDB save points."),
    Option("appendonly", "bool", False, True, doc="Enable the append-only file."),
    Option("appendfilename", "string", "appendonly.aof", False, doc="AOF file name."),
    Option("appendfsync", "enum", "everysec", True, choices=("always", "everysec", "no"),
           doc="AOF fsync policy."),
    Option("maxmemory", "memory", 0, True, 0, _LL_MAX, doc="Memory limit for the dataset (0: none)."),
    Option("maxmemory-policy", "enum", "noeviction", True,
           choices=("volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl",
                    "allkeys-lru", "allkeys-lfu", "allkeys-random", "noeviction"),
           doc="What to evict at maxmemory."),
    Option("maxmemory-samples", "int", 5, True, 1, _INT_MAX, doc="Keys sampled per eviction."),
    Option("slowlog-log-slower-than", "int", 10000, True, -1, _LL_MAX,
           doc="Log commands slower than this many microseconds."),
    Option("slowlog-max-len", "int", 128, True, 0, _LL_MAX, doc="Slow log length."),
    Option("notify-keyspace-events", "string", "", True, doc="Keyspace notification classes."),
    Option("daemonize", "bool", False, False, doc="Accepted for compatibility; pyredis stays in the foreground."),
    Option("pidfile", "string", "", False, doc="Write the process id to this file."),
    Option("protected-mode", "bool", True, True, doc="Refuse non-loopback clients without a password."),
    Option("lua-time-limit", "int", 5000, True, 0, _LL_MAX, doc="Script time before BUSY replies (ms)."),
    Option("hash-max-ziplist-entries", "int", 512, True, 0, _LL_MAX,
           doc="Hashes with more fields than this use the hashtable encoding."),
    Option("hash-max-ziplist-value", "memory", 64, True, 0, _LL_MAX,
           doc="Hashes with a longer field or value use the hashtable encoding."),
    Option("list-max-ziplist-size", "int", -2, True, -2 ** 31, _INT_MAX,
           doc="Accepted for compatibility (list node size); lists are deques."),
    Option("list-compress-depth", "int", 0, True, 0, _INT_MAX,
           doc="Accepted for compatibility (list node compression); not used."),
]}


class Config:
    """Current values of every option, plus change listeners."""

    def __init__(self) -> None:
        self._listeners: dict[str, list[Callable[[Any], None]]] = {}
        for opt in OPTIONS.values():
            setattr(self, opt.attr, opt.default)
        self.config_file: str | None = None

    def on_change(self, name: str, fn: Callable[[Any], None]) -> None:
        self._listeners.setdefault(name, []).append(fn)

    def get(self, name: str) -> Any:
        return getattr(self, OPTIONS[name].attr)

    def set(self, name: str, text: str, startup: bool = False) -> None:
        """Set one option from its textual value; raises ConfigError."""
        opt = OPTIONS.get(name.lower())
        if opt is None:
            raise ConfigError("Bad directive or wrong number of arguments")
        if not startup and not opt.mutable:
            raise ConfigError(f"Unsupported CONFIG parameter: {name}")
        if opt.name == "dir":
            if not startup or os.path.isdir(text):
                try:
                    os.chdir(text)
                except OSError as e:
                    raise ConfigError(e.strerror) from None
            value = os.getcwd()
        else:
            value = opt.parse(text)
        setattr(self, opt.attr, value)
        for fn in self._listeners.get(opt.name, ()):
            fn(value)

    def matching(self, pattern: str) -> list[tuple[str, str]]:
        """(name, rendered value) for CONFIG GET ``pattern``."""
        out = []
        for opt in OPTIONS.values():
            if fnmatch.fnmatchcase(opt.name, pattern.lower()):
                out.append((opt.name, opt.render(getattr(self, opt.attr))))
        return out

    # -- files and flags ---------------------------------------------------

    def load_text(self, text: str, source: str = "") -> None:
        """Apply redis.conf-style lines. Raises ConfigError with the line."""
        for lineno, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            args = split_args(line.encode())
            if args is None:
                raise ConfigFileError(lineno, raw, "Unbalanced quotes in configuration line")
            if not args:
                continue
            name = args[0].decode().lower()
            values = [a.decode() for a in args[1:]]
            try:
                if name == "include":
                    if len(values) != 1:
                        raise ConfigError("Bad directive or wrong number of arguments")
                    with open(values[0]) as f:
                        self.load_text(f.read(), values[0])
                    continue
                opt = OPTIONS.get(name)
                if opt is None or (opt.kind != "special" and opt.name != "bind" and len(values) != 1):
                    raise ConfigError("Bad directive or wrong number of arguments")
                self.set(name, " ".join(values), startup=True)
            except ConfigError as e:
                raise ConfigFileError(lineno, raw, e.args[0]) from None
            except OSError as e:
                raise ConfigFileError(lineno, raw, f"Can't open the include file: {e.strerror}") from None


class ConfigFileError(Exception):
    """A bad line in the configuration; formatted like redis-server's message."""

    def __init__(self, lineno: int, line: str, reason: str) -> None:
        super().__init__(reason)
        self.lineno, self.line, self.reason = lineno, line, reason

    def __str__(self) -> str:
        from . import REDIS_VERSION
        return (f"\n*** FATAL CONFIG FILE ERROR (Redis {REDIS_VERSION}) ***\n"
                f"Reading the configuration file, at line {self.lineno}\n"
                f">>> '{self.line.strip()}'\n{self.reason}")
