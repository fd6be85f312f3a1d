"""The append-only file: a sink of the propagation funnel, loading at
start-up, background rewriting, and the file checker.

Format: what Redis 6.2 writes and reads, so either server loads the
other's file. Every effect is one RESP multi-bulk request; a ``SELECT``
goes before the first effect on another database; a funnel unit (MULTI/EXEC,
a script) is written between ``MULTI`` and ``EXEC``. A rewritten file may
start with an RDB image (``aof-use-rdb-preamble yes``: the file starts with
``REDIS``) followed by the requests that came in while the rewrite ran.

Durability. Effects are buffered in memory as they are emitted and leave
for the OS in one ``write`` before any reply does: the server shell calls
``core.before_reply()`` before writing to a socket (:meth:`Aof.flush`).
With ``appendfsync always`` that flush also fsyncs, so a reply never leaves
before its write is on disk; ``everysec`` fsyncs from a background thread
once a second, ``no`` leaves it to the OS. One write (and one fsync) covers
a whole pipelined batch.

Rewriting (BGREWRITEAOF, ``auto-aof-rewrite-*``, ``CONFIG SET appendonly
yes``) forks, as Redis does: the child writes the dataset to a temporary
file (an RDB preamble, or one command per key and chunk of 64 elements),
while the parent keeps appending to the old file and also keeps the new
effects in a rewrite buffer. When the child exits, the parent appends the
buffer to the temporary file, fsyncs it and renames it over the AOF.

Loading replays the requests through the executor with a client of its own
(so every command's semantics apply) while this sink is not subscribed. A
file that ends inside a request, or inside a MULTI without its EXEC, is
truncated to its last whole request when ``aof-load-truncated yes`` (else
the server refuses to start); bad bytes before the end are always fatal,
as in Redis. :func:`check_aof` is the offline checker behind ``pyredis
check-aof``.
"""

from __future__ import annotations

import logging
import os
import threading
import time

from .. import errors
from ..errors import NotDurable

log = logging.getLogger("pyredis")

# Elements per command when a rewrite writes a big value as commands
# (Redis's AOF_REWRITE_ITEMS_PER_CMD).
ITEMS_PER_CMD = 64
_SELECT = b"*2\r\n$6\r\nSELECT\r\n"
_MULTI = b"*1\r\n$5\r\nMULTI\r\n"
_EXEC = b"*1\r\n$4\r\nEXEC\r\n"


def encode_request(args) -> bytes:
    """One request as a RESP multi-bulk (what the AOF holds)."""
    n = len(args)
    try:
        # One format for the commonest shapes (SET k v, INCR k, ...).
        if n == 3:
            a, b, c = args
            return b"*3\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n" % (
                len(a), a, len(b), b, len(c), c)
        if n == 2:
            a, b = args
            return b"*2\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n" % (len(a), a, len(b), b)
    except TypeError:
        pass
    out = [b"*%d\r\n" % n]
    try:
        for a in args:
            out.append(b"$%d\r\n%b\r\n" % (len(a), a))
    except TypeError:  # an int or str argument: rare, so not on the fast path
        out = [b"*%d\r\n" % n]
        for a in args:
            if not isinstance(a, (bytes, bytearray, memoryview)):
                a = str(a).encode()
            out.append(b"$%d\r\n%b\r\n" % (len(a), a))
    return b"".join(out)


def _select(db: int) -> bytes:
    s = b"%d" % db
    return _SELECT + b"$%d\r\n%b\r\n" % (len(s), s)


# -- reading ------------------------------------------------------------------


class AofFormatError(Exception):
    """Bytes that are not a request (``offset`` is where the request that
    holds them starts)."""

    def __init__(self, offset: int, reason: str, at: int | None = None) -> None:
        super().__init__(reason)
        self.offset = offset
        # Where the bad bytes are (the start of their line).
        self.at = offset if at is None else at


class AofTruncated(Exception):
    """The data ends inside a request starting at ``offset``."""

    def __init__(self, offset: int, at: int) -> None:
        super().__init__("truncated")
        self.offset = offset
        # Where reading stopped: the start of an unfinished line, or the end.
        self.at = at


def read_requests(data, pos: int = 0):
    """Yield ``(args, start, end)`` for every request in ``data`` from
    ``pos``. Raises AofTruncated at an incomplete last request and
    AofFormatError at bytes that are not a request."""
    n = len(data)
    while pos < n:
        start = pos
        nl = data.find(b"\r\n", pos)
        if nl < 0:
            raise AofTruncated(start, pos)
        if data[pos] != 42:  # '*'
            raise AofFormatError(start, "Expected prefix '*', got: '%c'" % data[pos])
        try:
            argc = int(data[pos + 1:nl])
        except ValueError:
            argc = 0
        if argc < 1:
            raise AofFormatError(start, "Invalid argument count", start)
        pos = nl + 2
        args = []
        for _ in range(argc):
            nl = data.find(b"\r\n", pos)
            if nl < 0:
                raise AofTruncated(start, pos)
            if data[pos] != 36:  # '$'
                raise AofFormatError(start, "Expected prefix '$', got: '%c'" % data[pos], pos)
            try:
                ln = int(data[pos + 1:nl])
            except ValueError:
                ln = -1
            if ln < 0:
                raise AofFormatError(start, "Invalid bulk length", pos)
            pos = nl + 2
            if pos + ln + 2 > n:
                raise AofTruncated(start, n)
            if data[pos + ln:pos + ln + 2] != b"\r\n":
                raise AofFormatError(start, "Expected \\r\\n after a bulk string", pos + ln)
            args.append(bytes(data[pos:pos + ln]))
            pos += ln + 2
        yield args, start, pos


def _rdb_module():
    """The RDB reader/writer, or None while it does not exist."""
    try:
        from . import rdb
    except ImportError:
        return None
    return rdb


def parse_preamble(data, config=None):
    """``(snapshot, length)`` of the RDB image ``data`` starts with, or
    ``(None, 0)`` without one. Raises AofFormatError if it cannot be read."""
    if data[:5] != b"REDIS":
        return None, 0
    rdb = _rdb_module()
    if rdb is None:
        raise AofFormatError(0, "the AOF starts with an RDB preamble, which this "
                                "pyredis cannot read (no RDB reader)")
    limits = rdb.Limits(config)
    try:
        snap = rdb.parse(data, limits, trailing=True)
        return snap, snap.end
    except TypeError:
        pass  # a reader without ``trailing``: find the end from its error
    except rdb.RDBError as e:
        raise AofFormatError(0, f"Bad RDB preamble: {e}", e.offset or 0) from None
    try:
        return rdb.parse(data, limits), len(data)
    except rdb.RDBError as e:
        # The usual case: the AOF tail follows the image.
        if not str(e).startswith("trailing data") or not e.offset:
            raise AofFormatError(0, f"Bad RDB preamble: {e}", e.offset or 0) from None
        n = e.offset
    try:
        return rdb.parse(bytes(data[:n]), limits), n
    except rdb.RDBError as e:  # pragma: no cover - it parsed once
        raise AofFormatError(0, f"Bad RDB preamble: {e}", e.offset or 0) from None


def preamble_length(data) -> int:
    """How many bytes of ``data`` an RDB preamble takes (0 without one)."""
    return parse_preamble(data)[1]


class CheckResult:
    """What :func:`check_aof` found: ``size``, ``ok_up_to`` (the offset of
    the end of the last whole request, or of the last whole MULTI/EXEC
    block), ``diff = size - ok_up_to`` and ``error`` (None when the file
    is valid, else the reason at ``ok_up_to``)."""

    def __init__(self, size: int, ok_up_to: int, error: str | None, truncated: bool,
                 at: int | None = None) -> None:
        self.size = size
        # Where reading stopped (the end for a truncated file).
        self.at = (size if truncated else ok_up_to) if at is None else at
        self.ok_up_to = ok_up_to
        self.diff = size - ok_up_to
        self.error = error
        self.truncated = truncated

    @property
    def ok(self) -> bool:
        return self.error is None


def check_data(data, progress=None) -> CheckResult:
    """Check AOF bytes the way redis-check-aof does: every request whole,
    MULTI/EXEC balanced. ``progress(offset)`` is called now and then."""
    size = len(data)
    try:
        pos = preamble_length(data)
    except AofFormatError as e:
        return CheckResult(size, 0, str(e), False)
    ok_up_to = pos
    in_multi = False
    multi_start = 0
    count = 0
    try:
        for args, start, end in read_requests(data, pos):
            name = args[0].lower()
            if name == b"multi":
                if in_multi:
                    return CheckResult(size, multi_start, "Unexpected MULTI", False, end)
                in_multi, multi_start = True, start
            elif name == b"exec":
                if not in_multi:
                    return CheckResult(size, start, "Unexpected EXEC", False, end)
                in_multi = False
            if not in_multi:
                ok_up_to = end
            count += 1
            if progress is not None and count % 4096 == 0:
                progress(end)
    except AofTruncated as e:
        return CheckResult(size, multi_start if in_multi else e.offset,
                           "Reached EOF before reading a whole request", True, e.at)
    except AofFormatError as e:
        return CheckResult(size, multi_start if in_multi else e.offset, str(e), False, e.at)
    if in_multi:
        return CheckResult(size, multi_start, "Reached EOF before reading EXEC for MULTI", True)
    return CheckResult(size, ok_up_to, None, False)


# -- loading ------------------------------------------------------------------


class AofLoadError(Exception):
    """The AOF cannot be loaded; the server must not start."""


def load_file(core, path: str) -> int:
    """Replay the AOF at ``path`` into ``core`` (the AOF sink must not be
    subscribed). Returns the number of requests replayed. A truncated tail
    is cut off (aof-load-truncated yes) or refused (AofLoadError)."""
    with open(path, "rb") as f:
        data = f.read()
    if not data:
        return 0
    count = 0
    from ..client import Client
    from ..executor import call
    client = Client(core, 0)
    client.authenticated = True
    client.kind = "aof"
    saved_gate, core.gate = core.gate, None
    client.update_slowpath()
    table = core.table
    try:
        snap, pos = parse_preamble(data, core.config)
        if snap is not None:
            log.info("Reading RDB preamble from AOF file...")
            _rdb_module().install(snap, core.ks)
        good_before_multi = pos
        try:
            for args, start, end in read_requests(data, pos):
                cmd = table.get(args[0]) or table.get(args[0].lower())
                if cmd is None:
                    raise AofLoadError(
                        "Unknown command '%s' reading the append only file"
                        % args[0].decode("utf-8", "replace"))
                if cmd.name == "multi":
                    good_before_multi = start
                call(client, args)
                count += 1
            if client.in_multi:
                log.warning("Revert incomplete MULTI/EXEC transaction in AOF file")
                raise AofTruncated(good_before_multi, len(data))
        except AofTruncated as e:
            valid = good_before_multi if client.in_multi else e.offset
            if not core.config.aof_load_truncated:
                raise AofLoadError(
                    "Unexpected end of file reading the append only file. You can: 1) Make a "
                    "backup of your AOF file, then use ./redis-check-aof --fix <filename>. 2) "
                    "Alternatively you can set the 'aof-load-truncated' configuration option "
                    "to yes and restart the server.") from None
            log.warning("!!! Warning: short read while loading the AOF file %s!!!", path)
            log.warning("!!! Truncating the AOF at offset %d !!!", valid)
            os.truncate(path, valid)
            log.warning("AOF loaded anyway because aof-load-truncated is enabled")
    except AofFormatError:
        raise AofLoadError("Bad file format reading the append only file: make a backup of "
                           "your AOF file, then use ./redis-check-aof --fix <filename>") from None
    finally:
        core.gate = saved_gate
        # Replay is not traffic: INFO commandstats start from zero.
        for c in core.commands.values():
            c.calls = c.usec = c.failed_calls = c.rejected_calls = 0
        core.stats.error_replies.clear()
        core.stats.total_error_replies = 0
    return count


# -- rewriting -----------------------------------------------------------------


def _chunks(items, head: list, write) -> None:
    """``head + items`` in commands of at most ITEMS_PER_CMD elements
    (``items`` is a flat list whose elements may be pairs)."""
    for i in range(0, len(items), ITEMS_PER_CMD):
        args = list(head)
        for x in items[i:i + ITEMS_PER_CMD]:
            if x.__class__ is tuple:
                args.extend(x)
            else:
                args.append(x)
        write(encode_request(args))


def _score(s: float) -> bytes:
    if s != s:
        return b"nan"
    if s in (float("inf"), float("-inf")):
        return b"inf" if s > 0 else b"-inf"
    return repr(s).encode()


def _id(i: int) -> bytes:
    return b"%d-%d" % (i >> 64, i & 0xFFFFFFFFFFFFFFFF)


def rewrite_key(key: bytes, value, write) -> None:
    """The commands that rebuild one key (no expiry)."""
    from collections import deque
    from ..types.stream import Stream, decode_fields
    from ..types.zset import ZSet
    t = value.__class__
    if t is bytes or t is bytearray:
        write(encode_request([b"SET", key, value]))
    elif t is deque:
        _chunks(list(value), [b"RPUSH", key], write)
    elif t is dict:
        _chunks(list(value.items()), [b"HMSET", key], write)
    elif isinstance(value, (set, frozenset)):
        _chunks(list(value), [b"SADD", key], write)
    elif isinstance(value, ZSet):
        _chunks([(_score(s), m) for m, s in value.items()], [b"ZADD", key], write)
    elif isinstance(value, Stream):
        _rewrite_stream(key, value, write, decode_fields)
    else:
        raise TypeError(f"cannot rewrite a value of type {t.__name__}")


def _rewrite_stream(key: bytes, s, write, decode_fields) -> None:
    empty = True
    for id_, enc in s.entries():
        empty = False
        write(encode_request([b"XADD", key, _id(id_), *decode_fields(enc)]))
    if empty:
        # XADD then trim to nothing creates the empty stream (as Redis does).
        write(encode_request([b"XADD", key, b"MAXLEN", b"0", _id(s.last_id), b"x", b"y"]))
    write(encode_request([b"XSETID", key, _id(s.last_id)]))
    for g in s.sorted_groups():
        write(encode_request([b"XGROUP", b"CREATE", key, g.name, _id(g.last_id)]))
        for id_, nack in g.pel.items():
            write(encode_request([
                b"XCLAIM", key, g.name, nack.consumer.name, b"0", _id(id_),
                b"TIME", b"%d" % nack.delivery_time, b"RETRYCOUNT", b"%d" % nack.delivery_count,
                b"JUSTID", b"FORCE"]))


def write_dataset(core, write, preamble: bool) -> None:
    """The whole dataset, as an RDB preamble or as commands, through
    ``write(bytes)``."""
    rdb = _rdb_module() if preamble else None
    if rdb is not None:
        rdb.dump(core, _Stream(write), preamble=True)
        return
    from ..db import now_ms
    now = now_ms()
    for db in core.ks.dbs:
        if not db.data:
            continue
        write(_select(db.id))
        expires = db.expires
        for key, value in db.data.items():
            when = expires.get(key)
            if when is not None and when <= now:
                continue
            rewrite_key(key, value, write)
            if when is not None:
                write(encode_request([b"PEXPIREAT", key, b"%d" % when]))


class _Stream:
    """A file-like face (``write``) on a write callable."""

    def __init__(self, write) -> None:
        self.write = write


class _FileWriter:
    """Buffered writes to a file descriptor in big chunks, fsynced every
    32 MB when ``incremental`` (aof-rewrite-incremental-fsync)."""

    def __init__(self, fd: int, incremental: bool = False) -> None:
        self.fd = fd
        self.parts: list = []
        self.size = 0
        self.incremental = incremental
        self.unsynced = 0

    def __call__(self, data: bytes) -> None:
        self.parts.append(data)
        self.size += len(data)
        if self.size >= 1 << 20:
            self.flush()

    def flush(self) -> None:
        if self.parts:
            _write_all(self.fd, b"".join(self.parts))
            self.unsynced += self.size
            self.parts = []
            self.size = 0
            if self.incremental and self.unsynced >= 32 << 20:
                os.fsync(self.fd)
                self.unsynced = 0


def _write_all(fd: int, data) -> None:
    n = os.write(fd, data)
    if n == len(data):
        return
    view = memoryview(data)[n:]
    while view:
        n = os.write(fd, view)
        view = view[n:]


def rewrite_to(core, path: str, preamble: bool) -> None:
    """Write the dataset to ``path`` (fsynced)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        w = _FileWriter(fd, core.config.aof_rewrite_incremental_fsync)
        write_dataset(core, w, preamble)
        w.flush()
        os.fsync(fd)
    finally:
        os.close(fd)


# -- the sink and its manager ---------------------------------------------------


class Aof:
    """The AOF of one server (``core.aof``): the funnel sink, the flush
    before replies, the fsync thread, rewrites and INFO fields.

    States: ``off``; ``on`` (appending to ``fd``); ``wait_rewrite`` (just
    enabled at run time: only the rewrite buffer grows until the first
    rewrite creates the file)."""

    def __init__(self, core) -> None:
        self.core = core
        self.config = core.config
        self.state = "off"
        self.fd = -1
        # Encoded effects not yet written to the file.
        self.buf: list = []
        # Database the file's last SELECT chose (-1: next effect selects).
        self.selected = -1
        self.lock = threading.Lock()
        self.unsynced = False
        self._fsync_thread = None
        self._stop = threading.Event()
        self.current_size = 0
        self.base_size = 0
        # Rewrite in progress: child pid, temp path, buffer of new effects.
        self.child = 0
        self.child_path = ""
        self.rewrite_buf: list | None = None
        self.rewrite_started = 0.0
        self.rewrite_scheduled = False
        self.last_rewrite_time = -1
        self.last_bgrewrite_status = "ok"
        self.last_write_status = "ok"
        # strerror of the failing AOF write / background fsync, or None; while
        # either is set, writes are refused (-MISCONF) through _gate.
        self.write_error: str | None = None
        self.fsync_error: str | None = None
        # Entries of buf that a failed write already covered: more than
        # that at the next failure means this turn added writes.
        self._failed_len = 0
        self._gate_on = None
        self.delayed_fsync = 0
        self.fsync_count = 0
        core.config.on_change("appendonly", self._on_appendonly)

    @property
    def path(self) -> str:
        return os.path.join(self.config.dir, self.config.appendfilename)

    # -- the funnel sink ------------------------------------------------------

    def effect(self, db: int, args: list) -> None:
        if db != self.selected:
            self.selected = db
            self._add(_select(db))
        if self.state == "on" and self.rewrite_buf is None:
            self.buf.append(encode_request(args))  # the usual case, inlined
        else:
            self._add(encode_request(args))

    def unit(self, begin: bool) -> None:
        self._add(_MULTI if begin else _EXEC)

    def _add(self, data: bytes) -> None:
        if self.state == "on":
            self.buf.append(data)
        if self.rewrite_buf is not None:
            self.rewrite_buf.append(data)

    # -- flushing -------------------------------------------------------------

    def flush(self) -> None:
        """Write the buffered effects (and fsync them under ``always``):
        the server shell calls this before any reply leaves.

        A write or fsync error (disk full, I/O error) keeps the effects
        buffered for the next try (the cron retries), and writes are
        refused with Redis's ``-MISCONF Errors writing to the AOF file``
        until one succeeds. Under ``always`` it also raises NotDurable when
        the failed bytes include this turn's writes, so their replies are
        never sent (Redis exits there; pyredis stays up)."""
        buf = self.buf
        if self.fd < 0 or not (buf or self.write_error):
            return
        new = len(buf) > self._failed_len
        if buf:
            data = b"".join(buf) if len(buf) > 1 else buf[0]
            view, done = memoryview(data), 0
            try:
                while done < len(data):
                    done += os.write(self.fd, view[done:])
            except OSError as e:
                if done:
                    # As Redis: take a partial write back, so the retry does
                    # not leave half a command in the file; if the file
                    # cannot be cut, keep only the bytes that did not land.
                    try:
                        os.ftruncate(self.fd, self.current_size)
                        done = 0
                    except OSError:
                        self.current_size += done
                buf[:] = [data[done:]]
                self._failed(e, new)
                return
            buf.clear()
            self.current_size += len(data)
        if (self.config.appendfsync == "always" and not self._fsync_paused()) \
                or self.write_error:
            try:
                os.fsync(self.fd)
            except OSError as e:
                self._failed(e, new)
                return
            self.fsync_count += 1
            # A good fsync also clears the background thread's error (it no
            # longer retries once the policy is not everysec).
            self.fsync_error = None
        else:
            self.unsynced = True
        if self.write_error:
            log.warning("AOF write error looks solved, Redis can write again.")
            self.write_error = None
            self._failed_len = 0
            self._update_gate()
        self.last_write_status = "ok"

    def _failed(self, e: OSError, new: bool) -> None:
        """A write or fsync of the AOF failed: refuse writes until one
        succeeds; under ``always``, withhold this turn's replies."""
        if self.write_error is None:
            log.warning("Error writing to the AOF file: %s", e.strerror or e)
        self.write_error = e.strerror or str(e)
        self.last_write_status = "err"
        self._failed_len = len(self.buf)
        self._update_gate()
        if new and self.config.appendfsync == "always":
            raise NotDurable(self.write_error)

    def _update_gate(self) -> None:
        """Install the -MISCONF gate while the AOF (or its background fsync)
        is failing, and only then (the executor's fast path stays free)."""
        err = self.write_error or self.fsync_error
        want = self._gate if err and self.state != "off" else None
        if (want is None) != (self._gate_on is None):
            self._gate_on = want
            self.core.set_gate(want, "aof")

    def _gate(self, client, cmd, args):
        if cmd.is_write and client.kind != "master":
            return errors.MISCONF_AOF.format(self.write_error or self.fsync_error)
        return None

    def _fsync_paused(self) -> bool:
        # no-appendfsync-on-rewrite: leave the disk to the rewriting child.
        return bool(self.child) and self.config.no_appendfsync_on_rewrite

    def _fsync_loop(self) -> None:
        """everysec: fsync once a second when something was written."""
        stop = self._stop
        while not stop.wait(1.0):
            if (self.unsynced and self.config.appendfsync == "everysec"
                    and not self._fsync_paused()):
                self.unsynced = False
                with self.lock:
                    if self.fd >= 0:
                        try:
                            os.fsync(self.fd)
                            self.fsync_count += 1
                            self.fsync_error = None
                        except OSError as e:
                            # As Redis's bio fsync status: writes are refused
                            # (the cron installs the gate on the loop) and the
                            # fsync is tried again next second.
                            self.fsync_error = e.strerror or str(e)
                            self.unsynced = True

    # -- starting and stopping ------------------------------------------------

    def start(self, load: bool = True) -> int:
        """At start-up with appendonly yes: load the file (creating it if
        missing), then append to it. Returns requests replayed."""
        count = 0
        path = self.path
        if load and os.path.exists(path):
            t0 = time.monotonic()
            count = load_file(self.core, path)
            log.info("DB loaded from append only file: %.3f seconds", time.monotonic() - t0)
            self.core.ks.dirty = 0
        self._open(path)
        self.base_size = self.current_size
        self.state = "on"
        self._attach()
        return count

    def _open(self, path: str) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        with self.lock:
            old, self.fd = self.fd, fd
        if old >= 0:
            os.close(old)
        self.current_size = os.fstat(fd).st_size
        self.selected = -1

    def _attach(self) -> None:
        core = self.core
        if self not in core.funnel.sinks:
            core.funnel.subscribe(self)
        core.set_before_reply(self.flush, "aof")
        if self._fsync_thread is None:
            self._stop = threading.Event()
            self._fsync_thread = threading.Thread(target=self._fsync_loop, name="aof-fsync",
                                                  daemon=True)
            self._fsync_thread.start()

    def stop(self) -> None:
        """Turn the AOF off: flush, fsync, close (CONFIG SET appendonly no,
        shutdown)."""
        core = self.core
        if self.state == "on":
            self.flush()
            try:
                os.fsync(self.fd)
            except OSError:
                pass
        self._kill_child()
        if self in core.funnel.sinks:
            core.funnel.unsubscribe(self)
        core.set_before_reply(None, "aof")
        self._stop.set()
        self._fsync_thread = None
        with self.lock:
            fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)
        self.buf.clear()
        self.state = "off"
        # An AOF that is off refuses nothing.
        self.write_error = self.fsync_error = None
        self._failed_len = 0
        self._update_gate()

    def _on_appendonly(self, value: bool) -> None:
        if value and self.state == "off":
            # As Redis: the file is made by a rewrite of the dataset; until it
            # is done, only the rewrite buffer grows.
            self.state = "wait_rewrite"
            self._attach()
            self._kill_child()
            if not self.rewrite():
                self.state = "off"
                self.stop()
        elif not value and self.state != "off":
            self.stop()

    # -- rewriting ------------------------------------------------------------

    def rewrite(self) -> bool:
        """Start a background rewrite; False if one runs already or the
        fork failed."""
        if self.child:
            return False
        core = self.core
        self.flush()
        tmp = os.path.join(self.config.dir, "temp-rewriteaof-bg-%d.aof" % os.getpid())
        preamble = self.config.aof_use_rdb_preamble
        self.rewrite_buf = []
        # Both streams start with a SELECT for their next effect.
        self.selected = -1
        try:
            pid = os.fork()
        except OSError as e:
            log.warning("Can't rewrite append only file in background: fork: %s", e.strerror)
            self.rewrite_buf = None
            self.last_bgrewrite_status = "err"
            return False
        if pid == 0:  # pragma: no cover - the child
            code = 1
            try:
                rewrite_to(core, tmp, preamble)
                code = 0
            finally:
                os._exit(code)
        self.child = pid
        self.child_path = tmp
        self.rewrite_started = time.monotonic()
        self.rewrite_scheduled = False
        log.info("Background append only file rewriting started by pid %d", pid)
        return True

    def _kill_child(self) -> None:
        if self.child:
            try:
                os.kill(self.child, 9)
                os.waitpid(self.child, 0)
            except OSError:
                pass
            self._cleanup_child()

    def _cleanup_child(self) -> None:
        try:
            os.unlink(self.child_path)
        except OSError:
            pass
        self.child = 0
        self.child_path = ""
        self.rewrite_buf = None

    def wait_rewrite(self, timeout: float = 30.0) -> bool:
        """Block until a running rewrite is done and installed (tests,
        DEBUG); True when there is none left."""
        deadline = time.monotonic() + timeout
        while self.child and time.monotonic() < deadline:
            pid, status = os.waitpid(self.child, 0)
            self._child_done(status)
        return not self.child

    def _child_done(self, status: int) -> None:
        took = time.monotonic() - self.rewrite_started
        if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
            try:
                self._install_rewrite()
                self.last_bgrewrite_status = "ok"
                log.info("Background AOF rewrite finished successfully")
            except OSError as e:
                log.warning("Error installing the rewritten AOF: %s", e)
                self.last_bgrewrite_status = "err"
        else:
            log.warning("Background AOF rewrite terminated with error")
            self.last_bgrewrite_status = "err"
        self.last_rewrite_time = int(took)
        self._cleanup_child()

    def _install_rewrite(self) -> None:
        tmp = self.child_path
        fd = os.open(tmp, os.O_WRONLY | os.O_APPEND)
        try:
            _write_all(fd, b"".join(self.rewrite_buf))
            os.fsync(fd)
        finally:
            os.close(fd)
        self.rewrite_buf = None
        if self.state == "on":
            # What the old file got since the fork is in the new one already.
            self.buf.clear()
        os.replace(tmp, self.path)
        if self.state == "off":
            return  # BGREWRITEAOF with the AOF off: only the file is made
        self._open(self.path)
        self.base_size = self.current_size
        if self.state == "wait_rewrite":
            self.state = "on"
        log.info("Background AOF rewrite terminated with success")

    def cron(self) -> None:
        """Retry a failed AOF write; reap a finished rewrite; start one when
        the file grew enough (auto-aof-rewrite-percentage / -min-size) or one
        was scheduled."""
        if self.write_error:
            try:
                self.flush()
            except NotDurable:
                pass  # those replies were withheld when the write failed
        # The fsync thread cannot touch the gate (it is not on the loop).
        self._update_gate()
        if self.child:
            try:
                pid, status = os.waitpid(self.child, os.WNOHANG)
            except ChildProcessError:
                pid, status = self.child, 1 << 8
            if pid:
                self._child_done(status)
            return
        if self.rewrite_scheduled and not bgsave_running(self.core):
            self.rewrite()
            return
        if self.state == "off":
            return
        cfg = self.config
        pct = cfg.auto_aof_rewrite_percentage
        if self.state == "on" and pct and self.current_size > cfg.auto_aof_rewrite_min_size:
            base = self.base_size or 1
            growth = (self.current_size * 100 // base) - 100
            if growth >= pct:
                log.info("Starting automatic rewriting of AOF on %d%% growth", growth)
                self.rewrite()

    def info(self) -> list:
        """The aof_* fields of INFO persistence (Redis 6.2's names)."""
        fields = [
            ("aof_enabled", int(self.state != "off")),
            ("aof_rewrite_in_progress", int(bool(self.child))),
            ("aof_rewrite_scheduled", int(self.rewrite_scheduled)),
            ("aof_last_rewrite_time_sec", self.last_rewrite_time),
            ("aof_current_rewrite_time_sec",
             int(time.monotonic() - self.rewrite_started) if self.child else -1),
            ("aof_last_bgrewrite_status", self.last_bgrewrite_status),
            ("aof_last_write_status", self.last_write_status),
        ]
        if self.state == "on":
            fields += [
                ("aof_current_size", self.current_size),
                ("aof_base_size", self.base_size),
                ("aof_pending_rewrite", int(self.rewrite_scheduled)),
                ("aof_buffer_length", sum(len(b) for b in self.buf)),
                ("aof_rewrite_buffer_length",
                 sum(len(b) for b in self.rewrite_buf) if self.rewrite_buf else 0),
                ("aof_pending_bio_fsync", 0),
                ("aof_delayed_fsync", self.delayed_fsync),
            ]
        return fields


def bgsave_running(core) -> bool:
    """Whether a BGSAVE child runs (a rewrite then waits, as in Redis)."""
    snaps = getattr(core, "rdb", None)
    return bool(getattr(snaps, "child_pid", 0))


def aof_of(core) -> Aof:
    """The server's Aof, created on first use."""
    aof = getattr(core, "aof", None)
    if aof is None:
        aof = core.aof = Aof(core)
    return aof


def startup(core) -> int:
    """Called by the server shell before it listens: with appendonly yes,
    load the AOF and start appending. Returns requests replayed (-1 when
    the AOF is off). Raises AofLoadError when the file cannot be loaded."""
    aof = aof_of(core)
    if not core.config.appendonly:
        return -1
    return aof.start()


def check_aof(path: str, fix: bool = False, progress=None) -> CheckResult:
    """``pyredis check-aof``: check the file and, with ``fix``, truncate it
    to its last whole request (only for a truncated tail)."""
    with open(path, "rb") as f:
        data = f.read()
    res = check_data(data, progress)
    if fix and not res.ok:
        os.truncate(path, res.ok_up_to)
    return res
