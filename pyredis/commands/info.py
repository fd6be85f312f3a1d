"""INFO: the server's state as Redis 6.2 formats it.

``INFO [section]``: no argument or ``default`` gives the default sections,
``all`` adds Commandstats, ``everything`` adds module details too (there
are none), a section name (any case) gives that section, anything else an
empty string; more than one argument is a syntax error (Redis 6.2). The
text is ``# Name\\r\\nfield:value\\r\\n...`` per section, sections joined by
an empty line, and goes out as a verbatim string in RESP3.

Sections are a registry (:func:`section`): the replication and persistence
layers replace ``replication`` and ``persistence`` with their own, and new
sections (global replication) are added the same way. Field names are
Redis's; a field is reported only when pyredis knows its true value (a
field about a mechanism pyredis lacks is omitted, or reports the state
that is true, e.g. ``aof_enabled:0``). One field is pyredis's own:
``pyredis_version`` in Server.

Memory: ``used_memory`` is what maxmemory is compared with: the start-up
footprint (``used_memory_startup``, the process's RSS when the server
modules loaded) plus the dataset as pyredis accounts for it (see
``pyredis/eviction.py``: exact per-key accounting while maxmemory or an
LRU/LFU policy is set, else an estimate from ``sys.getsizeof`` of a sample
of keys scaled to the key count) plus the accounting's own tables.
``used_memory_rss`` is the process's resident set size, read from
``/proc/self/statm`` (``getrusage``'s peak where /proc is missing);
in-process test servers share one process and so one RSS.
"""

from __future__ import annotations

import itertools
import os
import platform
import resource
import sys
import time
from typing import Callable

from .. import REDIS_VERSION, __version__, errors
from ..errors import CommandError
from ..protocol import Verbatim
from .table import command

# name -> (title, fn(core) -> list of (field, value) or lines, in default?)
_SECTIONS: dict[str, tuple[str, Callable, bool]] = {}


def section(name: str, title: str | None = None, default: bool = True):
    """Decorator: register (or replace, keeping its place) the INFO section
    ``name``; ``fn(core)`` returns ``(field, value)`` pairs or ready lines."""

    def register(fn):
        _SECTIONS[name] = (title or name.capitalize(), fn, default)
        return fn

    return register


def render(core, which: str = "default") -> str:
    """The INFO text for ``which`` (a section name, default, all, everything)."""
    which = which.lower()
    if which in ("default", "all", "everything"):
        names = [n for n, (_, _, d) in _SECTIONS.items() if d or which != "default"]
    elif which in _SECTIONS:
        names = [which]
    else:
        return ""
    parts = []
    for name in names:
        title, fn, _ = _SECTIONS[name]
        items = fn(core)
        if items is None:  # a section with nothing true to say is left out
            continue
        lines = [f"# {title}"]
        for item in items:
            if isinstance(item, tuple):
                lines.append(f"{item[0]}:{item[1]}")
            else:
                lines.append(item)
        parts.append("\r\n".join(lines) + "\r\n")
    return "\r\n".join(parts)


@command("info", -1, "random loading stale", categories="@dangerous", group="server",
         since="1.0.0")
def info(client, args):
    if len(args) > 2:
        raise CommandError(errors.SYNTAX)
    which = args[1].decode("utf-8", "replace") if len(args) == 2 else "default"
    return Verbatim(render(client.core, which).encode())


# -- helpers -------------------------------------------------------------------------


def bytes_to_human(n: int) -> str:
    """Redis's bytesToHuman: 0B, 917.41K, 4.25M, 23.54G..."""
    if n < 1024:
        return f"{n}B"
    for unit, scale in (("K", 1024), ("M", 1024 ** 2), ("G", 1024 ** 3), ("T", 1024 ** 4),
                        ("P", 1024 ** 5)):
        if n < scale * 1024 or unit == "P":
            return "%.2f%s" % (n / scale, unit)
    return f"{n}B"  # pragma: no cover


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_bytes() -> int:
    """The process's resident set size now."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return peak_rss_bytes()


def peak_rss_bytes() -> int:
    """The largest resident set size the process has had."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return peak if sys.platform == "darwin" else peak * 1024


# Measured once, when the first server module loads: the interpreter and
# pyredis itself before any data (Redis's used_memory_startup).
_STARTUP_RSS = rss_bytes()


def total_system_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def _value_size(value) -> int:
    """An estimate of one value's memory: the container plus its elements
    (sampling the first 16 and scaling for big containers)."""
    size = sys.getsizeof(value)
    t = type(value)
    if t is bytes or t is bytearray:
        return size
    items = value.items() if t is dict else value
    try:
        n = len(value)
        sample = list(itertools.islice(iter(items), 16))
    except TypeError:
        return size
    if not sample:
        return size
    getsize = sys.getsizeof
    if t is dict:
        per = sum(getsize(k) + getsize(v) for k, v in sample) / len(sample)
    else:
        per = sum(getsize(x) if not isinstance(x, tuple) else sum(map(getsize, x))
                  for x in sample) / len(sample)
    return size + int(per * n)


# Bytes a dict entry costs beyond its key and value objects (CPython's
# compact dict: one 24-byte entry plus index slack).
_DICT_ENTRY = 40


def dataset_estimate(core) -> int:
    """Estimated bytes held by keys and values: the average size of up to
    32 keys per database (their names, values and dict entries), times the
    number of keys."""
    total = 0
    getsize = sys.getsizeof
    for db in core.ks.dbs:
        n = len(db.data)
        if not n:
            continue
        sample = list(itertools.islice(db.data.items(), 32))
        per = sum(getsize(k) + _value_size(v) + _DICT_ENTRY for k, v in sample) / len(sample)
        total += int(per * n) + len(db.expires) * (_DICT_ENTRY + 32)
    return total


def memory_fields(core) -> dict:
    """The numbers behind the Memory section: used_memory is the accounting
    maxmemory is compared with (eviction.py), RSS the process's."""
    memory = core.memory
    used = memory.used_memory()
    return {"used_memory": used, "used_memory_rss": rss_bytes(),
            "used_memory_peak": max(memory.peak, used), "used_memory_startup": memory.startup,
            "used_memory_dataset": memory.dataset_bytes()}


def _executable() -> str:
    argv0 = sys.argv[0] if sys.argv else ""
    return os.path.abspath(argv0) if argv0 and os.path.exists(argv0) else sys.executable


def _multiplexing_api() -> str:
    try:
        import uvloop  # noqa: F401 - the server shell's loop when installed
    except ImportError:  # pragma: no cover
        return "asyncio"
    return "uvloop"


_MULTIPLEXING_API = _multiplexing_api()


# -- the sections, in Redis's order ---------------------------------------------------


@section("server")
def _server(core):
    cfg = core.config
    uptime = core.uptime()
    uname = platform.uname()
    now_us = time.time_ns() // 1000
    api = _MULTIPLEXING_API
    return [
        ("redis_version", REDIS_VERSION),
        ("redis_git_sha1", "00000000"),
        ("redis_git_dirty", 0),
        ("redis_build_id", "0"),
        ("redis_mode", "standalone"),
        ("os", f"{uname.system} {uname.release} {uname.machine}"),
        ("arch_bits", 64 if sys.maxsize > 2 ** 32 else 32),
        ("multiplexing_api", api),
        ("process_id", os.getpid()),
        ("process_supervised", "no"),
        ("run_id", core.run_id),
        ("tcp_port", core.port),
        ("server_time_usec", now_us),
        ("uptime_in_seconds", uptime),
        ("uptime_in_days", uptime // 86400),
        ("hz", cfg.hz),
        ("configured_hz", cfg.hz),
        ("lru_clock", (now_us // 1_000_000) & ((1 << 24) - 1)),
        ("executable", _executable()),
        ("config_file", cfg.config_file or ""),
        ("io_threads_active", 0),
        ("pyredis_version", __version__),
    ]


@section("clients")
def _clients(core):
    clients = core.clients.values()
    normal = [c for c in clients if c.kind != "replica"]
    return [
        ("connected_clients", len(normal)),
        ("cluster_connections", 0),
        ("maxclients", core.config.maxclients),
        ("client_recent_max_input_buffer", max((c.query_pending for c in clients), default=0)),
        ("client_recent_max_output_buffer", max((c.output_pending for c in clients),
                                                default=0)),
        ("blocked_clients", sum(1 for c in clients if c.blocked is not None)),
        ("tracking_clients", 0),
    ]


@section("memory")
def _memory(core):
    m = memory_fields(core)
    cfg = core.config
    used, rss, peak = m["used_memory"], m["used_memory_rss"], m["used_memory_peak"]
    startup, dataset = m["used_memory_startup"], m["used_memory_dataset"]
    dataset = min(dataset, max(used - startup, 0)) if used > startup else dataset
    overhead = max(used - dataset, 0)
    net = used - startup
    system = total_system_memory()
    return [
        ("used_memory", used),
        ("used_memory_human", bytes_to_human(used)),
        ("used_memory_rss", rss),
        ("used_memory_rss_human", bytes_to_human(rss)),
        ("used_memory_peak", peak),
        ("used_memory_peak_human", bytes_to_human(peak)),
        ("used_memory_peak_perc", "%.2f%%" % (used * 100 / peak if peak else 0)),
        ("used_memory_overhead", overhead),
        ("used_memory_startup", startup),
        ("used_memory_dataset", dataset),
        ("used_memory_dataset_perc", "%.2f%%" % (dataset * 100 / net if net > 0 else 0)),
        ("total_system_memory", system),
        ("total_system_memory_human", bytes_to_human(system)),
        ("maxmemory", cfg.maxmemory),
        ("maxmemory_human", bytes_to_human(cfg.maxmemory)),
        ("maxmemory_policy", cfg.maxmemory_policy),
        ("mem_fragmentation_ratio", "%.2f" % (rss / used if used else 0)),
        ("mem_fragmentation_bytes", rss - used),
        ("mem_allocator", "pymalloc"),
        ("lazyfree_pending_objects", 0),
    ]


@section("persistence")
def _persistence(core):
    dirty_at_save = getattr(core, "dirty_at_last_save", 0)
    return [
        ("loading", 0),
        ("rdb_changes_since_last_save", core.ks.dirty - dirty_at_save),
        ("rdb_bgsave_in_progress", 0),
        ("rdb_last_save_time", core.last_save),
        ("rdb_last_bgsave_status", "ok"),
        ("rdb_last_bgsave_time_sec", -1),
        ("rdb_current_bgsave_time_sec", -1),
    ] + _aof_fields(core)


def _aof_fields(core) -> list:
    """The aof_* fields (persistence.aof owns them)."""
    from ..persistence.aof import aof_of
    return aof_of(core).info()


def _pubsub_counts(core) -> tuple[int, int]:
    pubsub = core.pubsub
    return len(pubsub.channels), len(pubsub.patterns)


@section("stats")
def _stats(core):
    s = core.stats
    ks = core.ks
    channels, patterns = _pubsub_counts(core)
    return [
        ("total_connections_received", s.total_connections_received),
        ("total_commands_processed", s.total_commands_processed),
        ("instantaneous_ops_per_sec", s.instantaneous_ops_per_sec),
        ("total_net_input_bytes", s.net_input_bytes),
        ("total_net_output_bytes", s.net_output_bytes),
        ("rejected_connections", s.rejected_connections),
        ("sync_full", core.repl.sync_full),
        ("sync_partial_ok", core.repl.sync_partial_ok),
        ("sync_partial_err", core.repl.sync_partial_err),
        ("expired_keys", ks.expired_keys),
        ("evicted_keys", s.evicted_keys),
        ("keyspace_hits", ks.hits),
        ("keyspace_misses", ks.misses),
        ("pubsub_channels", channels),
        ("pubsub_patterns", patterns),
        ("latest_fork_usec", 0),
        ("total_forks", 0),
        ("total_error_replies", s.total_error_replies),
    ]


@section("replication")
def _replication(core):
    repl = core.repl
    repl.flush_stream()  # the backlog fields count this turn's bytes too
    fields = [("role", "master" if repl.master is None else "slave")]
    if repl.master is not None:
        # master_host .. replica_announced, from the replica side.
        fields += repl.master.info_fields()
    cfg = core.config
    if cfg.min_replicas_to_write and cfg.min_replicas_max_lag:
        fields.append(("min_slaves_good_slaves", repl.good_replicas()))
    fields.append(("connected_slaves", len(repl.replicas)))
    for i, r in enumerate(repl.replicas):
        fields.append(("slave%d" % i, r.info_line()))
    backlog = repl.backlog
    fields += [
        ("master_failover_state", "no-failover"),
        ("master_replid", repl.replid),
        ("master_replid2", repl.replid2),
        ("master_repl_offset", repl.master_repl_offset),
        ("second_repl_offset", repl.second_repl_offset),
        ("repl_backlog_active", int(backlog is not None)),
        ("repl_backlog_size", cfg.repl_backlog_size),
        ("repl_backlog_first_byte_offset", backlog.first_byte_offset if backlog else 0),
        ("repl_backlog_histlen", backlog.histlen if backlog else 0),
    ]
    return fields


def _cpu_time(t: float) -> str:
    return "%.6f" % t


@section("cpu", "CPU")
def _cpu(core):
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = [
        ("used_cpu_sys", _cpu_time(me.ru_stime)),
        ("used_cpu_user", _cpu_time(me.ru_utime)),
        ("used_cpu_sys_children", _cpu_time(kids.ru_stime)),
        ("used_cpu_user_children", _cpu_time(kids.ru_utime)),
    ]
    rusage_thread = getattr(resource, "RUSAGE_THREAD", None)
    if rusage_thread is not None:
        # INFO runs on the server's event-loop thread: its own CPU use.
        th = resource.getrusage(rusage_thread)
        out.append(("used_cpu_sys_main_thread", _cpu_time(th.ru_stime)))
        out.append(("used_cpu_user_main_thread", _cpu_time(th.ru_utime)))
    return out


@section("modules")
def _modules(core):
    return []


@section("commandstats", default=False)
def _commandstats(core):
    out = []
    for cmd in core.commands.values():
        if not (cmd.calls or cmd.failed_calls or cmd.rejected_calls):
            continue
        usec = cmd.usec // 1000  # counted in nanoseconds
        per_call = usec / cmd.calls if cmd.calls else 0.0
        out.append(f"cmdstat_{cmd.name}:calls={cmd.calls},usec={usec},"
                   f"usec_per_call={per_call:.2f},rejected_calls={cmd.rejected_calls},"
                   f"failed_calls={cmd.failed_calls}")
    return out


@section("errorstats")
def _errorstats(core):
    # Redis keeps them in a radix tree: listed in prefix order.
    return [f"errorstat_{prefix}:count={n}"
            for prefix, n in sorted(core.stats.error_replies.items())]


@section("cluster")
def _cluster(core):
    return [("cluster_enabled", 0)]


def _avg_ttl(db, now_ms: int) -> int:
    """Average remaining TTL (ms) over a sample of up to 64 volatile keys
    (Redis keeps a running estimate from its expiry cycle instead)."""
    sample = [w - now_ms for w in itertools.islice(db.expires.values(), 64) if w > now_ms]
    return sum(sample) // len(sample) if sample else 0


@section("keyspace")
def _keyspace(core):
    now = time.time_ns() // 1_000_000
    out = []
    for db in core.ks.dbs:
        if db.data:
            out.append(f"db{db.id}:keys={len(db.data)},expires={len(db.expires)},"
                       f"avg_ttl={_avg_ttl(db, now)}")
    return out

