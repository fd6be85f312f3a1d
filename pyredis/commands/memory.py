"""MEMORY: USAGE, STATS, DOCTOR, MALLOC-STATS, PURGE, HELP (Redis 4.0's
command with Redis 6.2's replies and errors).

Every number comes from pyredis's own memory accounting (eviction.py):
MEMORY USAGE is the cost the accounting charges for a key, measured with
the SAMPLES count asked for, so it agrees with what maxmemory compares;
MEMORY STATS and INFO memory read the same totals. The numbers are not
Redis's (Python objects are bigger than Redis's encodings), but they move
as Redis's do: a bigger value reports more.
"""

from __future__ import annotations

import struct
import sys

from .. import errors
from ..errors import CommandError
from ..eviction import DICT_ENTRY, EXPIRE_ENTRY, key_cost
from ..protocol import OK, Verbatim
from .args import to_int
from .subcommands import Subcommands
from .table import command

MEMORY = Subcommands("memory")

# Redis's OBJ_COMPUTE_SIZE_DEF_SAMPLES.
_DEFAULT_SAMPLES = 5

_HELP_ORDER = ["doctor", "malloc-stats", "purge", "stats", "usage"]


def _memory_keys(args: list) -> list:
    """Redis's memoryGetKeys: only MEMORY USAGE names a key."""
    if len(args) >= 3 and args[1].lower() == b"usage":
        return [args[2]]
    return []


@command("memory", -2, "readonly random movablekeys", group="server", since="4.0.0",
         keys_fn=_memory_keys)
def memory_(client, args):
    return MEMORY.dispatch(client, args)


@MEMORY.add("help", 2)
def memory_help(client, args):
    return MEMORY.help(_HELP_ORDER)


@MEMORY.add("usage", -3, help=(
        "USAGE <key> [SAMPLES <count>]",
        "    Return memory in bytes used by <key> and its value. Nested values are",
        "    sampled up to <count> times (default: 5)."))
def memory_usage(client, args):
    samples = _DEFAULT_SAMPLES
    n = len(args)
    j = 3
    while j < n:
        if args[j].lower() == b"samples" and j + 1 < n:
            samples = to_int(args[j + 1])
            if samples is None:
                raise CommandError(errors.NOT_INTEGER)
            if samples < 0:
                raise CommandError(errors.SYNTAX)
            if samples == 0:
                samples = sys.maxsize  # every element
            j += 2
        else:
            raise CommandError(errors.SYNTAX)
    db = client.db
    key = args[2]
    # As Redis: a plain dictionary lookup (no expiry, no hit/miss counted).
    value = db.data.get(key)
    if value is None:
        return None
    # The accounting's own per-key cost (key, dict slot, value, TTL entry).
    return key_cost(db, key, value, samples)


def _f32(x: float) -> float:
    """Redis keeps these ratios in C floats: the same rounding here."""
    return struct.unpack("f", struct.pack("f", x))[0]


def overhead_data(core) -> dict:
    """Redis's getMemoryOverheadData, from pyredis's accounting."""
    from .info import memory_fields
    m = memory_fields(core)
    total, peak, startup, rss = (m["used_memory"], m["used_memory_peak"],
                                 m["used_memory_startup"], m["used_memory_rss"])
    slaves = normal = 0
    nclients = nslaves = 0
    for c in core.clients.values():
        buffers = c.query_pending + c.output_pending
        if c.kind == "replica":
            slaves += buffers
            nslaves += 1
        else:
            normal += buffers
            nclients += 1
    aof = getattr(core, "aof", None)
    aof_buffer = 0
    if aof is not None:
        aof_buffer = sum(map(len, aof.buf)) + sum(map(len, aof.rewrite_buf or ()))
    engine = getattr(core, "lua_engine", None)
    lua = nscripts = 0
    if engine is not None:
        nscripts = len(engine.scripts)
        lua = sys.getsizeof(engine.scripts) + sum(
            sys.getsizeof(sha) + sys.getsizeof(body) for sha, (body, _f) in
            engine.scripts.items())
    # pyredis keeps no replication backlog of its own yet: nothing to count.
    backlog = 0
    overhead = startup + backlog + slaves + normal + aof_buffer + lua
    dbs = []
    keys = 0
    for db in core.ks.dbs:
        n = len(db.data)
        if not n:
            continue
        keys += n
        # What the accounting charges per key for the main dict's slot
        # and per TTL for the expires entry.
        main = n * DICT_ENTRY
        expires = len(db.expires) * EXPIRE_ENTRY
        overhead += main + expires
        dbs.append((db.id, main, expires))
    overhead += core.memory.overhead_bytes()
    net = total - startup if total > startup else 1
    dataset = max(total - overhead, 0)
    return {
        "peak": peak, "total": total, "startup": startup, "backlog": backlog,
        "slaves": slaves, "normal": normal, "nslaves": nslaves, "nclients": nclients,
        "aof": aof_buffer, "lua": lua, "scripts": nscripts, "dbs": dbs,
        "overhead": overhead, "keys": keys, "bytes_per_key": net // keys if keys else 0,
        "dataset": dataset, "dataset_perc": _f32(dataset * 100 / net),
        "peak_perc": _f32(total * 100 / peak) if peak else 0.0, "rss": rss,
    }


@MEMORY.add("stats", 2, help=(
        "STATS",
        "    Return information about the memory usage of the server."))
def memory_stats(client, args):
    mh = overhead_data(client.core)
    total, rss = mh["total"], mh["rss"]
    out = {
        b"peak.allocated": mh["peak"],
        b"total.allocated": total,
        b"startup.allocated": mh["startup"],
        b"replication.backlog": mh["backlog"],
        b"clients.slaves": mh["slaves"],
        b"clients.normal": mh["normal"],
        b"aof.buffer": mh["aof"],
        b"lua.caches": mh["lua"],
    }
    for dbid, main, expires in mh["dbs"]:
        out[b"db.%d" % dbid] = {b"overhead.hashtable.main": main,
                                b"overhead.hashtable.expires": expires}
    out.update({
        b"overhead.total": mh["overhead"],
        b"keys.count": mh["keys"],
        b"keys.bytes-per-key": mh["bytes_per_key"],
        b"dataset.bytes": mh["dataset"],
        b"dataset.percentage": mh["dataset_perc"],
        b"peak.percentage": mh["peak_perc"],
    })
    # Python's allocator reports nothing, so these are what Redis shows
    # without jemalloc: allocated = the accounting's total, active and
    # resident = the process's RSS (shared by every server in one process),
    # hence allocator-rss and rss-overhead are 1 and 0 bytes.
    out.update({
        b"allocator.allocated": total,
        b"allocator.active": rss,
        b"allocator.resident": rss,
        b"allocator-fragmentation.ratio": _f32(rss / total) if total else 0.0,
        b"allocator-fragmentation.bytes": rss - total,
        b"allocator-rss.ratio": 1.0,
        b"allocator-rss.bytes": 0,
        b"rss-overhead.ratio": 1.0,
        b"rss-overhead.bytes": 0,
        b"fragmentation": _f32(rss / total) if total else 0.0,
        b"fragmentation.bytes": rss - total,
    })
    return out


# -- DOCTOR ---------------------------------------------------------------------------
# Redis's report texts.

_DOCTOR_OK = ("Hi Sam, I can't find any memory issue in your instance. "
              "I can only account for what occurs on this base.\n")
_DOCTOR_EMPTY = (
    "Hi Sam, this instance is empty or is using very little memory, my issues detector "
    "can't be used in these conditions. Please, leave for your mission on Earth and fill it "
    "with some data. The new Sam and I will be back to our programming as soon as I finished "
    "rebooting.\n")
_DOCTOR_HEAD = "Sam, I detected a few issues in this Redis instance memory implants:\n\n"
_DOCTOR_TAIL = "I'm here to keep you safe, Sam. I want to help you.\n"
_DOCTOR_PEAK = (
    " * Peak memory: In the past this instance used more than 150% the memory that is "
    "currently using. The allocator is normally not able to release memory after a peak, so "
    "you can expect to see a big fragmentation ratio, however this is actually harmless and "
    "is only due to the memory peak, and if the Redis instance Resident Set Size (RSS) is "
    "currently bigger than expected, the memory will be used as soon as you fill the Redis "
    "instance with more data. If the memory peak was only occasional and you want to try to "
    "reclaim memory, please try the MEMORY PURGE command, otherwise the only other option is "
    "to shutdown and restart the instance.\n\n")
_DOCTOR_REPLICA_BUFFERS = (
    " * Big replica buffers: The replica output buffers in this instance are greater than "
    "10MB for each replica (on average). This likely means that there is some replica "
    "instance that is struggling receiving data, either because it is too slow or because of "
    "networking issues. As a result, data piles on the master output buffers. Please try to "
    "identify what replica is not receiving data correctly and why. You can use the INFO "
    "output in order to check the replicas delays and the CLIENT LIST command to check the "
    "output buffers of each replica.\n\n")
_DOCTOR_CLIENT_BUFFERS = (
    " * Big client buffers: The clients output buffers in this instance are greater than "
    "200K per client (on average). This may result from different causes, like Pub/Sub "
    "clients subscribed to channels bot not receiving data fast enough, so that data piles "
    "on the Redis instance output buffer, or clients sending commands with large replies or "
    "very large sequences of commands in the same pipeline. Please use the CLIENT LIST "
    "command in order to investigate the issue if it causes problems in your instance, or to "
    "understand better why certain clients are using a big amount of memory.\n\n")
_DOCTOR_SCRIPTS = (
    " * Many scripts: There seem to be many cached scripts in this instance (more than "
    "1000). This may be because scripts are generated and `EVAL`ed, instead of being "
    "parameterized (with KEYS and ARGV), `SCRIPT LOAD`ed and `EVALSHA`ed. Unless `SCRIPT "
    "FLUSH` is called periodically, the scripts' caches may end up consuming most of your "
    "memory.\n\n")

# Redis calls an instance under 5MB in total "empty"; its start-up
# footprint is under 1MB, an interpreter's is tens of MB, so here the
# threshold applies to what was allocated since start-up.
_EMPTY_BYTES = 5 * 1024 * 1024


def doctor_report(core) -> str:
    """Redis's memory doctor, on the checks that mean something here. The
    allocator checks (fragmentation, allocator and process RSS overhead)
    are left out: Python's allocator gives no such numbers, and the RSS is
    the whole process's, shared by every server it runs."""
    mh = overhead_data(core)
    if mh["total"] - mh["startup"] < _EMPTY_BYTES:
        return _DOCTOR_EMPTY
    issues = []
    if mh["total"] and mh["peak"] / mh["total"] > 1.5:
        issues.append(_DOCTOR_PEAK)
    if mh["nslaves"] and mh["slaves"] / mh["nslaves"] > 10 * 1024 * 1024:
        issues.append(_DOCTOR_REPLICA_BUFFERS)
    if mh["nclients"] and mh["normal"] // mh["nclients"] > 200 * 1024:
        issues.append(_DOCTOR_CLIENT_BUFFERS)
    if mh["scripts"] > 1000:
        issues.append(_DOCTOR_SCRIPTS)
    if not issues:
        return _DOCTOR_OK
    return _DOCTOR_HEAD + "".join(issues) + _DOCTOR_TAIL


@MEMORY.add("doctor", 2, help=(
        "DOCTOR",
        "    Return memory problems reports."))
def memory_doctor(client, args):
    return Verbatim(doctor_report(client.core).encode())


@MEMORY.add("malloc-stats", 2, help=(
        # One line in Redis's help (a missing comma in its source).
        "MALLOC-STATS    Return internal statistics report from the memory allocator.",))
def memory_malloc_stats(client, args):
    # Redis's reply when built without jemalloc.
    return b"Stats not supported for the current allocator"


@MEMORY.add("purge", 2, help=(
        "PURGE",
        "    Attempt to purge dirty pages for reclamation by the allocator."))
def memory_purge(client, args):
    # Only jemalloc purges in Redis; Python's allocator has nothing to ask.
    return OK
