"""Typed settings: the option table, ``redis.conf`` parsing, CONFIG GET/SET
and CONFIG REWRITE.

Each option is declared once in ``OPTIONS`` with its type, default, bounds
and whether CONFIG SET may change it at run time (the same split as Redis
6.2). ``Config`` holds the values as attributes named like the option with
``-`` turned into ``_`` (``config.maxmemory_policy``). Parts of the server
that must react to a change register a listener with
:meth:`Config.on_change`; parts that read the value where they use it need
nothing more.

A typical Redis 5/6 ``redis.conf`` loads: options pyredis implements take
effect; options that have no meaning here yet (cluster, lazy freeing,
defragmentation, ...) are accepted and stored so CONFIG GET shows them,
their doc says "accepted, no effect yet", and setting one to a value other
than its default at start-up is logged as a warning (``Config.warnings``)
rather than silently pretended. ``rename-command`` is applied to the
server's own command table; ``loadmodule`` and ``user`` are refused with a
clear error, because ignoring them would change what a client may do.

Values are stored parsed: numbers as ``int``, yes/no as ``bool``, enums as
their lower-case name, ``save`` as a list of ``(seconds, changes)`` pairs,
``client-output-buffer-limit`` as ``{class: (hard, soft, seconds)}``,
``oom-score-adj-values`` as a tuple of three ints, ``dir`` as an absolute
path, ``bind`` and ``notify-keyspace-events`` as their normalised text.
"""

from __future__ import annotations

import fnmatch
import os
import tempfile
from dataclasses import dataclass
from typing import Any, Callable

from .protocol.inline import quote as quote_bytes, split_args


class ConfigError(Exception):
    """A bad setting; ``args[0]`` is the reason as Redis words it (may be
    empty: CONFIG SET then says only ``Invalid argument``)."""

    @property
    def reason(self) -> str:
        return self.args[0] if self.args else ""


class UnknownOption(ConfigError):
    """No such option, or not one CONFIG SET may change."""


# -- value parsers -----------------------------------------------------------

_ULL_MAX = 2 ** 64 - 1
_INT_MIN = -2 ** 31
_INT_MAX = 2 ** 31 - 1
_UINT_MAX = 2 ** 32 - 1
_LL_MIN = -2 ** 63
_LL_MAX = 2 ** 63 - 1

_MEM_UNITS = {
    "": 1, "b": 1, "k": 1000, "kb": 1024, "m": 1000 ** 2, "mb": 1024 ** 2,
    "g": 1000 ** 3, "gb": 1024 ** 3,
}


def parse_memory(text: str) -> int:
    """Redis's memtoull: digits and an optional unit ('1gb', '100mb', '10k',
    '123'); no sign, no spaces. As in Redis 6.2, the digits saturate at
    2**63-1 and the product with the unit wraps around 64 bits (read as a
    signed number)."""
    i = 0
    n = len(text)
    while i < n and "0" <= text[i] <= "9":
        i += 1
    unit = text[i:].lower()
    if unit not in _MEM_UNITS or i >= 128:
        raise ConfigError("argument must be a memory value")
    value = min(int(text[:i]), _LL_MAX) if i else 0
    value = (value * _MEM_UNITS[unit]) & _ULL_MAX
    return value - 2 ** 64 if value > _LL_MAX else value


def parse_strict_int(text: str) -> int | None:
    """Redis's string2ll: optional '-', digits, no leading zeros, no '+' or
    spaces, within 64 bits. None if ``text`` is not such a number."""
    neg = text[:1] == "-"
    digits = text[1:] if neg else text
    if not digits or len(digits) > 20 or not digits.isascii() or not digits.isdigit():
        return None
    if digits[0] == "0" and (len(digits) > 1 or neg):
        return None
    value = int(text)
    return value if _LL_MIN <= value <= _LL_MAX else None


def _parse_bool(text: str) -> bool:
    t = text.lower()
    if t == "yes":
        return True
    if t == "no":
        return False
    raise ConfigError("argument must be 'yes' or 'no'")


def _parse_int(text: str) -> int:
    value = parse_strict_int(text)
    if value is None:
        raise ConfigError("argument couldn't be parsed into an integer")
    return value


def _parse_save(text: str) -> list:
    """``"3600 1 300 100"`` -> [(3600, 1), (300, 100)]; ``""`` -> [] (no
    save points)."""
    parts = text.split()
    if len(parts) % 2:
        raise ConfigError("Invalid save parameters")
    points = []
    for i in range(0, len(parts), 2):
        seconds, changes = parse_strict_int(parts[i]), parse_strict_int(parts[i + 1])
        if seconds is None or changes is None or seconds < 1 or changes < 0:
            raise ConfigError("Invalid save parameters")
        points.append((seconds, changes))
    return points


def _render_save(points: list) -> str:
    return " ".join(f"{s} {c}" for s, c in points)


# Keyspace notification classes, in the order Redis prints them.
_NOTIFY_CLASSES = "g$lshzxetd"
_NOTIFY_ALL = frozenset(_NOTIFY_CLASSES)


def _parse_notify(text: str) -> str:
    """Redis's keyspaceEventsStringToFlags + FlagsToString: the classes
    normalised ('KEA' -> 'AKE')."""
    flags = set()
    for ch in text:
        if ch == "A":
            flags |= _NOTIFY_ALL
        elif ch in _NOTIFY_CLASSES or ch in "KEm":
            flags.add(ch)
        else:
            raise ConfigError("Invalid event class character. Use 'g$lshzxeA'.")
    out = "A" if _NOTIFY_ALL <= flags else "".join(c for c in _NOTIFY_CLASSES if c in flags)
    return out + "".join(c for c in "KEm" if c in flags)


_OBUF_CLASSES = ("normal", "slave", "pubsub")
_OBUF_DEFAULT = {"normal": (0, 0, 0), "slave": (256 * 1024 ** 2, 64 * 1024 ** 2, 60),
                 "pubsub": (32 * 1024 ** 2, 8 * 1024 ** 2, 60)}


def _parse_obuf(text: str, current: dict | None = None) -> dict:
    """``<class> <hard> <soft> <seconds>`` groups; classes not named keep
    their current limits."""
    parts = text.split()
    if not parts or len(parts) % 4:
        raise ConfigError("Wrong number of arguments in buffer limit configuration.")
    out = dict(current or _OBUF_DEFAULT)
    for i in range(0, len(parts), 4):
        cls = parts[i].lower()
        if cls == "replica":
            cls = "slave"
        if cls not in _OBUF_CLASSES:
            raise ConfigError("Unrecognized client limit class: the user specified an invalid "
                              "one, or 'master' which has no buffer limits.")
        try:
            hard, soft = parse_memory(parts[i + 1]), parse_memory(parts[i + 2])
        except ConfigError:
            raise ConfigError("Error in hard, soft or soft_seconds setting in buffer limit "
                              "configuration.") from None
        secs = parse_strict_int(parts[i + 3])
        if secs is None or secs < 0:
            raise ConfigError("Error in hard, soft or soft_seconds setting in buffer limit "
                              "configuration.")
        out[cls] = (hard, soft, secs)
    return out


def _render_obuf(limits: dict) -> str:
    return " ".join(f"{c} {' '.join(str(x) for x in limits[c])}" for c in _OBUF_CLASSES)


def _parse_oom_values(text: str) -> tuple:
    parts = text.split()
    values = [parse_strict_int(p) for p in parts]
    if len(parts) != 3 or any(v is None or not -2000 <= v <= 2000 for v in values):
        raise ConfigError("Invalid oom-score-adj-values, please use 3 values between "
                          "-2000 and 2000.")
    return tuple(values)


def _parse_dbfilename(text: str) -> str:
    if "/" in text:
        raise ConfigError("dbfilename can't be a path, just a filename")
    return text


def _parse_logfile(text: str) -> str:
    if text:
        # As redis-server does, find out now rather than at the first log line.
        try:
            open(text, "a").close()
        except OSError as e:
            raise ConfigError(f"Can't open the log file: {e.strerror}") from None
    return text


def _parse_bind(text: str) -> str:
    addrs = text.split()
    if len(addrs) > 16:
        raise ConfigError("Too many bind addresses specified.")
    return " ".join(addrs)


def _parse_replicaof(text: str) -> str:
    parts = text.split()
    if not parts or (len(parts) == 2 and parts[0].lower() == "no"
                     and parts[1].lower() == "one"):
        return ""
    if len(parts) != 2 or parse_strict_int(parts[1]) is None:
        raise ConfigError("Bad directive or wrong number of arguments")
    return f"{parts[0]} {parts[1]}"


def _parse_peers(text: str) -> list:
    """``global-peer``: ``host:port`` items (space separated), each checked."""
    peers = []
    for item in text.split():
        host, sep, port = item.rpartition(":")
        p = parse_strict_int(port) if sep else None
        if not host or p is None or not 0 < p < 65536:
            raise ConfigError(f"global-peer wants host:port, got '{item}'")
        if (host, p) not in peers:
            peers.append((host, p))
    return peers


def _render_peers(peers: list) -> str:
    return " ".join(f"{h}:{p}" for h, p in peers)


# -- the option table --------------------------------------------------------

_NO_EFFECT = " Accepted, no effect yet."


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
    # special kinds: parse(text) -> value and render(value) -> text.
    parser: Callable[[str], Any] | None = None
    renderer: Callable[[Any], str] | None = None
    # False: pyredis stores the value but nothing uses it yet.
    effect: bool = True
    # How many arguments a config-file line takes: 1, or None for "one or
    # more, joined by spaces" (bind, save, client-output-buffer-limit...).
    nargs: int | None = 1
    # Clamp applied after a successful parse (hz, repl-backlog-size).
    clamp: tuple | None = None
    # Whether CONFIG SET's error names the reason (Redis 6.2 gives only
    # "Invalid argument" for save, notify-keyspace-events and a few more).
    set_reason: bool = True

    def __post_init__(self) -> None:
        if not self.effect and not self.doc.endswith(_NO_EFFECT):
            self.doc += _NO_EFFECT

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
            if self.clamp is not None:
                v = max(self.clamp[0], min(self.clamp[1], v))
            return v
        if self.kind == "enum":
            t = text.lower()
            if t not in self.choices:
                raise ConfigError(
                    f"argument must be one of the following: {', '.join(self.choices)}")
            return t
        if self.parser is not None:
            return self.parser(text)
        return text

    def render(self, value: Any) -> str:
        if self.kind == "bool":
            return "yes" if value else "no"
        if self.renderer is not None:
            return self.renderer(value)
        return str(value)


def _opts(*options: Option) -> dict[str, Option]:
    return {o.name: o for o in options}


_POLICIES = ("volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl",
             "allkeys-lru", "allkeys-lfu", "allkeys-random", "noeviction")

# The order is the README's: networking and limits, general, persistence,
# memory, replication, the rest; Redis's own option names, types, bounds,
# defaults and CONFIG SET mutability (6.2).
OPTIONS: dict[str, Option] = _opts(
    # -- network and clients
    Option("port", "int", 6379, False, 0, 65535, doc="TCP port to listen on (0: any free port)."),
    Option("bind", "special", "127.0.0.1", False, parser=_parse_bind, nargs=None,
           doc="Addresses to listen on, space separated (a leading '-' is accepted and "
               "ignored)."),
    Option("tcp-backlog", "int", 511, False, 0, _INT_MAX, doc="listen() backlog."),
    Option("unixsocket", "string", "", False, effect=False,
           doc="Unix socket path (pyredis listens on TCP only)."),
    Option("unixsocketperm", "int", 0, False, 0, 0o777, effect=False,
           doc="Unix socket permissions."),
    Option("timeout", "int", 0, True, 0, _INT_MAX,
           doc="Close clients idle this many seconds (0: never)."),
    Option("tcp-keepalive", "int", 300, True, 0, _INT_MAX,
           doc="TCP keepalive interval in seconds for new connections (0: off)."),
    Option("protected-mode", "bool", True, True,
           doc="Refuse non-loopback clients when no password is set."),
    Option("maxclients", "int", 10000, True, 1, _UINT_MAX, doc="Most clients connected at once."),
    Option("requirepass", "string", "", doc="Password clients must AUTH with (empty: none)."),
    Option("proto-max-bulk-len", "memory", 512 * 1024 ** 2, True, 1024 ** 2, _LL_MAX,
           doc="Largest bulk string a request may carry (read by new connections)."),
    Option("client-query-buffer-limit", "memory", 1024 ** 3, True, 1024 ** 2, _LL_MAX,
           doc="Largest pending request per client (read by new connections)."),
    Option("client-output-buffer-limit", "special", _OBUF_DEFAULT, True, parser=_parse_obuf,
           renderer=_render_obuf, nargs=None, set_reason=False,
           doc="Output buffer limits per class (normal, replica, pubsub): "
               "`<class> <hard> <soft> <seconds>`; a client past them is disconnected."),
    Option("acllog-max-len", "int", 128, True, 0, _LL_MAX, effect=False,
           doc="ACL log length."),
    Option("aclfile", "string", "", False, effect=False, doc="ACL users file."),
    Option("acl-pubsub-default", "enum", "allchannels", True,
           choices=("allchannels", "resetchannels"), effect=False,
           doc="Default pub/sub permissions of new ACL users."),
    Option("tracking-table-max-keys", "int", 1000000, True, 0, _LL_MAX, effect=False,
           doc="Keys tracked for client-side caching."),
    # -- general
    Option("databases", "int", 16, False, 1, _INT_MAX, doc="Number of databases."),
    Option("hz", "int", 10, True, 0, _INT_MAX, clamp=(1, 500),
           doc="Background task frequency (expiry, idle timeouts), clamped to 1..500."),
    Option("dynamic-hz", "bool", True, True, effect=False,
           doc="Raise hz with the number of clients."),
    Option("loglevel", "enum", "notice", True, choices=("debug", "verbose", "notice", "warning"),
           doc="Log verbosity."),
    Option("logfile", "special", "", False, parser=_parse_logfile, doc="Log file (empty: standard output)."),
    Option("syslog-enabled", "bool", False, False, effect=False, doc="Log to syslog."),
    Option("syslog-ident", "string", "redis", False, effect=False, doc="Syslog identity."),
    Option("syslog-facility", "enum", "local0", False,
           choices=("user", "local0", "local1", "local2", "local3", "local4", "local5",
                    "local6", "local7"), effect=False, doc="Syslog facility."),
    Option("daemonize", "bool", False, False,
           doc="Detach from the terminal and run in the background."),
    Option("supervised", "enum", "no", False, choices=("upstart", "systemd", "auto", "no"),
           effect=False, doc="Supervision interaction (upstart/systemd)."),
    Option("pidfile", "string", "", False, doc="Write the process id to this file."),
    Option("dir", "special", ".", True,
           doc="Working directory for persistence files (shown as an absolute path)."),
    Option("always-show-logo", "bool", False, False, effect=False, doc="Show the ASCII logo."),
    Option("set-proc-title", "bool", True, False, effect=False, doc="Set the process title."),
    Option("proc-title-template", "string", "{title} {listen-addr} {server-mode}", True,
           effect=False, doc="Process title template."),
    Option("crash-log-enabled", "bool", True, True, effect=False, doc="Log crash reports."),
    Option("crash-memcheck-enabled", "bool", True, True, effect=False,
           doc="Memory check on crash."),
    Option("use-exit-on-panic", "bool", False, True, effect=False, doc="exit() on panic."),
    Option("disable-thp", "bool", True, True, effect=False,
           doc="Disable transparent huge pages."),
    Option("oom-score-adj", "enum", "no", True, choices=("no", "yes", "relative", "absolute"),
           effect=False, doc="Adjust the process's OOM score."),
    Option("oom-score-adj-values", "special", (0, 200, 800), True, parser=_parse_oom_values,
           renderer=lambda v: " ".join(str(x) for x in v), nargs=None, effect=False,
           set_reason=False, doc="OOM score adjustments for master, replica, background child."),
    Option("io-threads", "int", 1, False, 1, 128, effect=False, doc="I/O threads."),
    Option("io-threads-do-reads", "bool", False, False, effect=False,
           doc="Use I/O threads for reads."),
    Option("server_cpulist", "string", "", False, effect=False, doc="CPU affinity."),
    Option("bio_cpulist", "string", "", False, effect=False, doc="CPU affinity."),
    Option("aof_rewrite_cpulist", "string", "", False, effect=False, doc="CPU affinity."),
    Option("bgsave_cpulist", "string", "", False, effect=False, doc="CPU affinity."),
    Option("ignore-warnings", "string", "", True, effect=False,
           doc="Start-up warnings to silence."),
    Option("jemalloc-bg-thread", "bool", True, True, effect=False,
           doc="jemalloc background thread."),
    Option("watchdog-period", "int", 0, True, 0, _INT_MAX, effect=False,
           set_reason=False, doc="Software watchdog period (ms)."),
    Option("gopher-enabled", "bool", False, True, effect=False, doc="Gopher protocol."),
    # -- persistence (implemented by the persistence layer)
    Option("save", "special", [(3600, 1), (300, 100), (60, 10000)], True, parser=_parse_save,
           renderer=_render_save, nargs=None,
           set_reason=False, doc="RDB save points: `<seconds> <changes>` pairs; `\"\"` disables."),
    Option("dbfilename", "special", "dump.rdb", True, parser=_parse_dbfilename,
           doc="RDB file name."),
    Option("rdbcompression", "bool", True, True, doc="LZF-compress RDB strings."),
    Option("rdbchecksum", "bool", True, False, doc="CRC64 in RDB files."),
    Option("rdb-del-sync-files", "bool", False, True, effect=False,
           doc="Delete RDB files used only for replication."),
    Option("rdb-save-incremental-fsync", "bool", True, True, effect=False,
           doc="fsync the RDB every 32 MB."),
    Option("rdb-key-save-delay", "int", 0, True, _INT_MIN, _INT_MAX, effect=False,
           doc="Testing: delay per key saved (us)."),
    Option("key-load-delay", "int", 0, True, _INT_MIN, _INT_MAX, effect=False,
           doc="Testing: delay per key loaded (us)."),
    Option("stop-writes-on-bgsave-error", "bool", True, True,
           doc="Refuse writes after a failed background save."),
    Option("sanitize-dump-payload", "enum", "no", True, choices=("no", "yes", "clients"),
           effect=False, doc="Deep-check RESTORE payloads."),
    Option("appendonly", "bool", False, True,
           doc="Log every write to the append-only file and load it at start-up; "
               "set at run time, the file is first written by a rewrite."),
    Option("appendfilename", "string", "appendonly.aof", False,
           doc="AOF file name."),
    Option("appendfsync", "enum", "everysec", True, choices=("everysec", "always", "no"),
           doc="AOF fsync policy: always (before the reply), everysec (once a "
               "second, from a background thread), no (left to the OS)."),
    Option("no-appendfsync-on-rewrite", "bool", False, True,
           doc="Skip fsync during rewrites."),
    Option("auto-aof-rewrite-percentage", "int", 100, True, 0, _INT_MAX,
           doc="AOF growth that triggers a rewrite (%)."),
    Option("auto-aof-rewrite-min-size", "memory", 64 * 1024 ** 2, True, 0, _LL_MAX,
           doc="Smallest AOF to rewrite automatically."),
    Option("aof-load-truncated", "bool", True, True,
           doc="Load an AOF whose last request is cut off (truncating it "
               "there) instead of refusing to start."),
    Option("aof-use-rdb-preamble", "bool", True, True,
           doc="RDB preamble in rewritten AOFs."),
    Option("aof-rewrite-incremental-fsync", "bool", True, True,
           doc="fsync the AOF rewrite every 32 MB."),
    # -- memory
    Option("maxmemory", "memory", 0, True, 0, _LL_MAX,
           doc="Memory limit for the dataset (0: none)."),
    Option("maxmemory-policy", "enum", "noeviction", True, choices=_POLICIES,
           doc="What to evict at maxmemory."),
    Option("maxmemory-samples", "int", 5, True, 1, _INT_MAX,
           doc="Keys sampled per eviction."),
    Option("maxmemory-eviction-tenacity", "int", 10, True, 0, 100,
           doc="Eviction effort per command."),
    Option("lfu-log-factor", "int", 10, True, 0, _INT_MAX,
           doc="LFU counter logarithm factor."),
    Option("lfu-decay-time", "int", 1, True, 0, _INT_MAX,
           doc="LFU counter decay (minutes)."),
    Option("active-expire-effort", "int", 1, True, 1, 10, effect=False,
           doc="Active expiry effort."),
    Option("lazyfree-lazy-eviction", "bool", False, True, effect=False,
           doc="Free evicted values in the background."),
    Option("lazyfree-lazy-expire", "bool", False, True, effect=False,
           doc="Free expired values in the background."),
    Option("lazyfree-lazy-server-del", "bool", False, True, effect=False,
           doc="Free implicitly deleted values in the background."),
    Option("lazyfree-lazy-user-del", "bool", False, True, effect=False,
           doc="DEL behaves like UNLINK."),
    Option("lazyfree-lazy-user-flush", "bool", False, True, effect=False,
           doc="FLUSHDB/FLUSHALL default to ASYNC."),
    Option("activerehashing", "bool", True, True, effect=False,
           doc="Incremental rehashing of the main dictionary."),
    Option("activedefrag", "bool", False, True, effect=False, doc="Active defragmentation."),
    Option("active-defrag-ignore-bytes", "memory", 100 * 1024 ** 2, True, 0, _LL_MAX,
           effect=False, doc="Defragmentation threshold (bytes)."),
    Option("active-defrag-threshold-lower", "int", 10, True, 0, 1000, effect=False,
           doc="Defragmentation threshold (%)."),
    Option("active-defrag-threshold-upper", "int", 100, True, 0, 1000, effect=False,
           doc="Defragmentation maximum effort threshold (%)."),
    Option("active-defrag-cycle-min", "int", 1, True, 1, 99, effect=False,
           doc="Defragmentation minimal CPU effort (%)."),
    Option("active-defrag-cycle-max", "int", 25, True, 1, 99, effect=False,
           doc="Defragmentation maximal CPU effort (%)."),
    Option("active-defrag-max-scan-fields", "int", 1000, True, 1, _LL_MAX, effect=False,
           doc="Fields scanned per defragmentation step."),
    # -- data structure encodings (what OBJECT ENCODING reports)
    Option("hash-max-ziplist-entries", "int", 512, True, 0, _LL_MAX,
           doc="Hashes with more fields than this use the hashtable encoding."),
    Option("hash-max-ziplist-value", "memory", 64, True, 0, _LL_MAX,
           doc="Hashes with a longer field or value use the hashtable encoding."),
    Option("list-max-ziplist-size", "int", -2, True, _INT_MIN, _INT_MAX,
           effect=False, doc="List node size (pyredis lists are deques: nothing to size)."),
    Option("list-compress-depth", "int", 0, True, 0, _INT_MAX,
           effect=False, doc="List node compression depth."),
    Option("set-max-intset-entries", "int", 512, True, 0, _LL_MAX,
           doc="Integer sets up to this size use the intset encoding."),
    Option("zset-max-ziplist-entries", "int", 128, True, 0, _LL_MAX,
           doc="Sorted sets up to this size use the ziplist encoding."),
    Option("zset-max-ziplist-value", "memory", 64, True, 0, _LL_MAX,
           doc="Sorted sets with shorter members use the ziplist encoding."),
    Option("hll-sparse-max-bytes", "memory", 3000, True, 0, _LL_MAX,
           doc="HyperLogLog sparse representation limit."),
    Option("stream-node-max-bytes", "memory", 4096, True, 0, _LL_MAX,
           doc="Stream node size limit."),
    Option("stream-node-max-entries", "int", 100, True, 0, _LL_MAX,
           doc="Stream node entries limit."),
    # -- events, scripting, slow log, latency
    Option("notify-keyspace-events", "special", "", True, parser=_parse_notify,
           set_reason=False, doc="Keyspace notification classes (`KEA`, `Ex`, ...)."),
    Option("lua-time-limit", "int", 5000, True, 0, _LL_MAX,
           doc="Script time before other clients get BUSY and SCRIPT KILL works (ms; 0: none)."),
    Option("lua-max-memory", "memory", 1024 ** 3, True, 0, _LL_MAX,
           doc="pyredis only: the Lua heap's limit; a script that allocates past it fails "
               "with 'not enough memory' (0: no limit, as in Redis)."),
    Option("lua-replicate-commands", "bool", True, True,
           doc="no: refuse writes after a non-deterministic command in a script, as "
               "Redis 6.2 does (scripts always replicate as the writes they made)."),
    Option("slowlog-log-slower-than", "int", 10000, True, -1, _LL_MAX,
           doc="Log commands slower than this many microseconds."),
    Option("slowlog-max-len", "int", 128, True, 0, _LL_MAX,
           doc="Slow log length."),
    Option("latency-monitor-threshold", "int", 0, True, 0, _LL_MAX,
           doc="Latency monitor threshold (ms)."),
    # -- replication (implemented by the replication layer)
    Option("replicaof", "special", "", False, parser=_parse_replicaof, nargs=None,
           doc="`<host> <port>` of the master to replicate from start-up (REPLICAOF "
               "changes it at run time)."),
    Option("masterauth", "string", "", True,
           doc="Password a replica sends with AUTH to its master."),
    Option("masteruser", "string", "", True,
           doc="User name a replica sends with AUTH to its master (with masterauth)."),
    Option("replica-serve-stale-data", "bool", True, True,
           doc="With `no`, a replica whose link is down answers -MASTERDOWN to every "
               "command not flagged `stale`."),
    Option("replica-read-only", "bool", True, True,
           doc="A replica refuses writes from its clients with -READONLY."),
    Option("replica-ignore-maxmemory", "bool", True, True,
           doc="Replicas do not evict."),
    Option("replica-lazy-flush", "bool", False, True, effect=False,
           doc="Flush asynchronously before a full sync."),
    Option("replica-priority", "int", 100, True, 0, _INT_MAX,
           doc="Promotion priority, shown by INFO (for Sentinel)."),
    Option("replica-announce-ip", "string", "", True,
           doc="Address a replica announces to its master (REPLCONF ip-address)."),
    Option("replica-announce-port", "int", 0, True, 0, 65535,
           doc="Port a replica announces to its master (0: its own port)."),
    Option("replica-announced", "bool", True, True,
           doc="Shown by INFO (replica_announced, for Sentinel)."),
    Option("repl-diskless-sync", "bool", False, True,
           doc="A master streams the RDB of a full sync to the replicas' sockets from the "
               "snapshot process (`$EOF:` framing; replicas must announce `capa eof`) "
               "instead of writing a temporary file first."),
    Option("repl-diskless-sync-delay", "int", 5, True, 0, _INT_MAX,
           doc="Seconds a diskless full sync waits for more replicas to share it."),
    Option("repl-diskless-load", "enum", "disabled", True,
           choices=("disabled", "on-empty-db", "swapdb"),
           doc="`swapdb` (or `on-empty-db` with an empty dataset): a replica keeps the "
               "master's RDB in memory instead of a temp file. Either way it is parsed once "
               "complete and replaces the dataset only if valid."),
    Option("repl-ping-replica-period", "int", 10, True, 1, _INT_MAX,
           doc="A master sends PING through the stream this often (s)."),
    Option("repl-timeout", "int", 60, True, 1, _INT_MAX,
           doc="A replica drops its link after this long without data from the master "
               "(s)."),
    Option("repl-disable-tcp-nodelay", "bool", False, True,
           doc="A master turns TCP_NODELAY off on a replica's socket once it syncs (fewer, "
               "larger packets; more lag)."),
    Option("repl-backlog-size", "memory", 1024 ** 2, True, 1, _LL_MAX, clamp=(16384, _LL_MAX),
           doc="Bytes of the replication stream kept for partial resyncs (at least 16384); "
               "CONFIG SET resizes the live backlog."),
    Option("repl-backlog-ttl", "int", 3600, True, 0, _LL_MAX,
           doc="A master frees its backlog after this long without replicas (s; 0: never)."),
    Option("min-replicas-to-write", "int", 0, True, 0, _INT_MAX,
           doc="A master refuses writes with -NOREPLICAS while fewer replicas than this "
               "acknowledged within min-replicas-max-lag (0: off)."),
    Option("min-replicas-max-lag", "int", 10, True, 0, _INT_MAX,
           doc="Seconds since its last acknowledgement for a replica to count as good."),
    # -- global replication (pyredis/replication/gdriver.py)
    Option("global-server-id", "int", 0, False, 0, 65535,
           doc="This member's ServerID, unique in its group (1..65535); global replication "
               "is off while it is 0."),
    Option("global-log-dir", "string", "globallog", False,
           doc="Directory of the global log's segment files (relative to `dir`)."),
    Option("global-log-max-size", "memory", 1024 ** 3, True, 1, _LL_MAX,
           doc="The global log drops its oldest segments past this size, even if a link "
               "still needs them (that link then gets a full sync), once a checkpoint "
               "covers them (one is started as needed)."),
    Option("global-log-max-age", "int", 7 * 24 * 3600, True, 0, _LL_MAX,
           doc="...and segments older than this many seconds (0: no age limit)."),
    Option("global-log-segment-size", "memory", 64 * 1024 ** 2, False, 4096, _LL_MAX,
           doc="The global log starts a new segment file past this size (retention "
               "drops whole segments)."),
    Option("global-log-fsync", "enum", "everysec", True, choices=("always", "everysec", "no"),
           doc="When the global log reaches the disk: before each reply (`always`), once a "
               "second, or when the OS decides."),
    Option("global-peer", "special", [], True, parser=_parse_peers, renderer=_render_peers,
           nargs=None,
           doc="`host:port` of a member whose ops this member pulls (one-way link); repeat "
               "the line (or list several) for more. CONFIG SET replaces the list live."),
    Option("global-peer-auth", "string", "", True,
           doc="Password sent with AUTH on links to peers (their `requirepass`)."),
    Option("global-role", "enum", "master", True, choices=("master", "readonly"),
           doc="`readonly`: clients' writes get -READONLY; links still apply."),
    Option("global-link-compression", "bool", True, True,
           doc="Links compress the source's stream with zstd when both ends agree (`no` "
               "on either end keeps it plain); applies to links (re)connecting after a "
               "change."),
    # -- cluster (pyredis runs standalone)
    Option("cluster-enabled", "bool", False, False, effect=False, doc="Cluster mode."),
    Option("cluster-node-timeout", "int", 15000, True, 0, _LL_MAX, effect=False,
           doc="Cluster node timeout (ms)."),
    Option("cluster-migration-barrier", "int", 1, True, 0, _INT_MAX, effect=False,
           doc="Cluster migration barrier."),
    Option("cluster-allow-replica-migration", "bool", True, True, effect=False,
           doc="Cluster replica migration."),
    Option("cluster-replica-validity-factor", "int", 10, True, 0, _INT_MAX, effect=False,
           doc="Cluster replica validity factor."),
    Option("cluster-require-full-coverage", "bool", True, True, effect=False,
           doc="Cluster full coverage."),
    Option("cluster-replica-no-failover", "bool", False, True, effect=False,
           doc="Cluster replica failover."),
    Option("cluster-allow-reads-when-down", "bool", False, True, effect=False,
           doc="Cluster reads when down."),
    Option("cluster-announce-ip", "string", "", True, effect=False, doc="Cluster address."),
    Option("cluster-announce-port", "int", 0, True, 0, 65535, effect=False,
           doc="Cluster port."),
    Option("cluster-announce-tls-port", "int", 0, True, 0, 65535, effect=False,
           doc="Cluster TLS port."),
    Option("cluster-announce-bus-port", "int", 0, True, 0, 65535, effect=False,
           doc="Cluster bus port."),
)

# Old names Redis still accepts; CONFIG GET lists both spellings.
ALIASES: dict[str, str] = {
    "slaveof": "replicaof",
    "slave-serve-stale-data": "replica-serve-stale-data",
    "slave-read-only": "replica-read-only",
    "slave-ignore-maxmemory": "replica-ignore-maxmemory",
    "slave-lazy-flush": "replica-lazy-flush",
    "slave-priority": "replica-priority",
    "slave-announce-ip": "replica-announce-ip",
    "slave-announce-port": "replica-announce-port",
    "repl-ping-slave-period": "repl-ping-replica-period",
    "min-slaves-to-write": "min-replicas-to-write",
    "min-slaves-max-lag": "min-replicas-max-lag",
    "cluster-slave-validity-factor": "cluster-replica-validity-factor",
    "cluster-slave-no-failover": "cluster-replica-no-failover",
}

# Names CONFIG GET * shows: Redis lists replicaof only under its old name.
_GET_HIDDEN = frozenset(("replicaof",))

# Config-file directives that are not options (no CONFIG GET/SET).
_DIRECTIVES = ("include", "rename-command", "user", "loadmodule")

# Options that Redis deprecated and ignores when read from a file.
_DEPRECATED = {"list-max-ziplist-entries": 1, "list-max-ziplist-value": 1}


def lookup_option(name: str) -> Option | None:
    """The option called ``name`` (any case, old names too), or None."""
    n = name.lower()
    opt = OPTIONS.get(n)
    if opt is None and n in ALIASES:
        opt = OPTIONS[ALIASES[n]]
    return opt


class Config:
    """Current values of every option, plus change listeners."""

    def __init__(self) -> None:
        self._listeners: dict[str, list[Callable[[Any], None]]] = {}
        for opt in OPTIONS.values():
            value = opt.default
            if isinstance(value, (list, dict)):
                value = type(value)(value)
            setattr(self, opt.attr, value)
        self.dir = os.getcwd()
        # The file this configuration was read from (CONFIG REWRITE's target).
        self.config_file: str | None = None
        # rename-command lines, in order: (old name, new name or "" to remove).
        self.renamed_commands: list[tuple[str, str]] = []
        # True when this process runs one server (the CLI): then ``dir``
        # changes the process's working directory, as in redis-server.
        # In-process test servers share a process and only store it.
        self.chdir = False
        # Start-up notes about options set to a value pyredis stores but does
        # not act on yet; the CLI logs them.
        self.warnings: list[str] = []

    def on_change(self, name: str, fn: Callable[[Any], None]) -> None:
        """Call ``fn(new_value)`` after every successful set of ``name``."""
        opt = lookup_option(name)
        if opt is None:
            raise KeyError(f"no config option {name!r}")
        self._listeners.setdefault(opt.name, []).append(fn)

    def get(self, name: str) -> Any:
        return getattr(self, lookup_option(name).attr)

    def render(self, name: str) -> str:
        opt = lookup_option(name)
        return opt.render(getattr(self, opt.attr))

    def set(self, name: str, text: str, startup: bool = False) -> None:
        """Set one option from its textual value; raises ConfigError
        (UnknownOption for no such option, or an immutable one at run time)."""
        opt = lookup_option(name)
        if opt is None or (not startup and not opt.mutable):
            raise UnknownOption(f"Unsupported CONFIG parameter: {name}")
        if opt.name == "dir":
            value = self._set_dir(text, startup)
        elif opt.name == "client-output-buffer-limit":
            value = _parse_obuf(text, getattr(self, opt.attr))
        else:
            value = opt.parse(text)
        setattr(self, opt.attr, value)
        if startup and not opt.effect and value and value != opt.default:
            self.warnings.append(
                f"'{opt.name}' is set to '{opt.render(value)}', but pyredis does not act on "
                "it yet")
        for fn in self._listeners.get(opt.name, ()):
            fn(value)

    def _set_dir(self, text: str, startup: bool) -> str:
        path = os.path.abspath(os.path.expanduser(text))
        if not os.path.isdir(path):
            err = os.strerror(2 if not os.path.exists(path) else 20)
            if startup:
                raise ConfigError(f"Can't chdir to '{text}': {err}")
            raise ConfigError(f"Changing directory: {err}")
        if self.chdir:
            os.chdir(path)
        return path

    def matching(self, pattern: str) -> list[tuple[str, str]]:
        """(name, rendered value) for CONFIG GET ``pattern`` (a glob, any
        case; an exact name matches even where ``*`` would not list it)."""
        pat = pattern.lower()
        out = []
        exact = lookup_option(pat)
        if exact is not None and not any(c in pat for c in "*?["):
            return [(pat, exact.render(getattr(self, exact.attr)))]
        for opt in OPTIONS.values():
            if opt.name not in _GET_HIDDEN and fnmatch.fnmatchcase(opt.name, pat):
                out.append((opt.name, opt.render(getattr(self, opt.attr))))
        for alias, real in ALIASES.items():
            if fnmatch.fnmatchcase(alias, pat):
                opt = OPTIONS[real]
                out.append((alias, opt.render(getattr(self, opt.attr))))
        return out

    # -- files and flags ---------------------------------------------------

    def load_file(self, path: str) -> None:
        """Read a redis.conf-style file and remember it for CONFIG REWRITE."""
        with open(path) as f:
            text = f.read()
        self.config_file = os.path.abspath(path)
        self.load_text(text)

    def load_text(self, text: str, source: str = "") -> None:
        """Apply redis.conf-style lines, as redis-server reads its file plus
        its command-line options. Raises ConfigFileError naming the line."""
        save_seen = False
        for lineno, raw in enumerate(text.split("\n"), 1):
            line = raw.strip(" \t\r\n")
            if not line or line.startswith("#"):
                continue
            args = split_args(line.encode("utf-8", "surrogateescape"))
            if args is None:
                raise ConfigFileError(lineno, line, "Unbalanced quotes in configuration line")
            if not args:
                continue
            name = args[0].decode("utf-8", "surrogateescape").lower()
            values = [a.decode("utf-8", "surrogateescape") for a in args[1:]]
            try:
                if name == "save" and not save_seen:
                    # The first save line replaces the defaults; later ones add.
                    save_seen = True
                    self.save = []
                self._apply_line(name, values)
            except IncludeError:
                raise
            except ConfigError as e:
                raise ConfigFileError(lineno, line, e.reason) from None

    def _rename_command(self, old: str, new: str) -> None:
        """Record ``rename-command old new``, checked against the names the
        renames so far leave, as Redis checks against its live table."""
        from .commands import COMMANDS
        names = set(COMMANDS)
        for o, n in self.renamed_commands:
            names.discard(o.lower())
            if n:
                names.add(n.lower())
        if old.lower() not in names:
            raise ConfigError("No such command in rename-command")
        if new and new.lower() in names - {old.lower()}:
            raise ConfigError("Target command name already exists")
        self.renamed_commands = self.renamed_commands + [(old, new)]

    def _apply_line(self, name: str, values: list[str]) -> None:
        if name == "include":
            if len(values) != 1:
                raise ConfigError("Bad directive or wrong number of arguments")
            try:
                with open(values[0]) as f:
                    text = f.read()
            except OSError as e:
                raise IncludeError(values[0], e.strerror) from None
            self.load_text(text, values[0])
            return
        if name == "rename-command":
            if len(values) != 2:
                raise ConfigError("Bad directive or wrong number of arguments")
            self._rename_command(values[0], values[1])
            return
        if name == "loadmodule":
            raise ConfigError("Redis modules cannot be loaded into pyredis")
        if name == "user":
            raise ConfigError("ACL users are not supported by pyredis yet; use requirepass")
        if name in _DEPRECATED:
            if len(values) != _DEPRECATED[name]:
                raise ConfigError("Bad directive or wrong number of arguments")
            return
        opt = lookup_option(name)
        if opt is None:
            raise ConfigError("Bad directive or wrong number of arguments")
        if opt.name == "save":
            if not values or values == [""]:
                self.save = []
                return
            self.save = self.save + _parse_save(" ".join(values))
            return
        if opt.name == "global-peer":
            # Repeatable: each line (or --global-peer flag) adds peers.
            added = [p for p in _parse_peers(" ".join(values)) if p not in self.global_peer]
            self.set(opt.name, _render_peers(self.global_peer + added), startup=True)
            return
        if opt.nargs is None:
            if not values:
                raise ConfigError("Bad directive or wrong number of arguments")
            text = " ".join(values)
        else:
            if len(values) != opt.nargs:
                raise ConfigError("wrong number of arguments")
            text = values[0]
        self.set(opt.name, text, startup=True)

    # -- CONFIG REWRITE ------------------------------------------------------

    def option_lines(self, opt: Option) -> list[str]:
        """The config-file lines that set ``opt`` to its current value."""
        value = getattr(self, opt.attr)
        if opt.name == "save":
            return [f"save {s} {c}" for s, c in value] or ['save ""']
        if opt.name == "client-output-buffer-limit":
            return [f"client-output-buffer-limit {c} {' '.join(str(x) for x in value[c])}"
                    for c in _OBUF_CLASSES]
        if opt.name == "replicaof":
            return [f"replicaof {value}"] if value else []
        if opt.name == "global-peer":
            return [f"global-peer {h}:{p}" for h, p in value]
        text = opt.render(value)
        if opt.nargs is None and text:
            return [f"{opt.name} {text}"]
        return [f"{opt.name} {quote(text)}"]

    def _is_default(self, opt: Option) -> bool:
        value = getattr(self, opt.attr)
        if opt.name == "dir":
            return False
        return value == opt.default

    def rewrite(self, path: str | None = None) -> None:
        """CONFIG REWRITE: rewrite the config file so it states the current
        configuration. Comments, blank lines, directives (include, ...) and
        lines pyredis does not know stay as they are; each option's line is
        updated in place (extra lines for it are dropped); options changed
        from their defaults that the file did not mention are appended after
        a ``# Generated by CONFIG REWRITE`` line."""
        path = path or self.config_file
        if not path:
            raise ConfigError("The server is running without a config file")
        path = os.path.realpath(path)
        try:
            with open(path) as f:
                old = f.read().split("\n")
        except FileNotFoundError:
            old = []
        if old and old[-1] == "":
            old.pop()
        out: list[str | None] = []
        where: dict[str, list[int]] = {}
        has_tail = False
        for raw in old:
            line = raw.strip(" \t\r\n")
            if line == _SIGNATURE:
                # What follows was appended by an earlier rewrite; new
                # options go after it too, without a second signature.
                has_tail = True
            args = split_args(line.encode("utf-8", "surrogateescape")) if line else None
            if args and not line.startswith("#"):
                opt = lookup_option(args[0].decode("utf-8", "surrogateescape"))
                if opt is not None:
                    where.setdefault(opt.name, []).append(len(out))
            out.append(raw)
        appended: list[str] = []
        for opt in OPTIONS.values():
            slots = where.get(opt.name)
            if not slots and self._is_default(opt):
                continue
            lines = self.option_lines(opt)
            if not slots:
                appended.extend(lines)
                continue
            # The option's first line gets its lines; later lines go.
            out[slots[0]] = "\n".join(lines) if lines else None
            for i in slots[1:]:
                out[i] = None
        text_lines = [x for x in out if x is not None]
        while text_lines and not text_lines[-1].strip():
            text_lines.pop()
        if appended:
            if not has_tail:
                text_lines.append(_SIGNATURE)
            text_lines.extend(appended)
        data = "\n".join(text_lines) + "\n"
        fd, tmp = tempfile.mkstemp(prefix=".pyredis-rewrite-", dir=os.path.dirname(path))
        try:
            with os.fdopen(fd, "w") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            try:
                os.chmod(tmp, os.stat(path).st_mode & 0o7777)
            except FileNotFoundError:
                os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise


_SIGNATURE = "# Generated by CONFIG REWRITE"


def quote(text: str) -> str:
    """A value as a config-file token: bare when it is one plain word,
    else double-quoted with Redis's escapes."""
    if text and all(33 <= ord(c) < 127 and c not in "\"'\\" for c in text):
        return text
    return quote_bytes(text.encode("utf-8", "surrogateescape"))


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


class IncludeError(ConfigError):
    """An ``include`` names a file that cannot be read. redis-server stops
    with "Fatal error, can't open config file" rather than the line report."""

    def __init__(self, path: str, strerror: str) -> None:
        super().__init__(f"Fatal error, can't open config file '{path}': {strerror}")
        self.path = path
        self.strerror = strerror
