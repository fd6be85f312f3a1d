"""The dump file: SAVE, BGSAVE, the ``save <seconds> <changes>`` rules,
loading at start-up, and the state INFO persistence reports.

One :class:`Snapshots` per server (``core.rdb``, made by :func:`of`). Files
are written to ``temp-<pid>.rdb`` in ``dir``, flushed, fsynced and renamed
over ``dbfilename``, so a crash never leaves a half-written dump behind.

BGSAVE forks: the child inherits a copy-on-write image of the keyspace,
writes it and exits (``os._exit``, so nothing of the parent's event loop or
threads runs in it), while the parent goes on serving; the periodic tick
reaps the child and records the result. Where ``os.fork`` is missing the
snapshot is written in-process (the server pauses for its duration).

Start-up loading is a coroutine the shell awaits after it listens: the
file is parsed in steps that yield to the event loop, so clients are
answered -LOADING meanwhile (commands flagged ``loading`` run), INFO shows
``loading:1`` with progress, and the log shows percent and keys/s. The
keyspace is filled only after the whole file parsed: a damaged file is
refused with the offset of the damage, the server stops, and the file is
left as it is.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time

from .. import errors
from . import rdb

log = logging.getLogger("pyredis")

# As Redis: after a failed background save, wait before trying a rule again.
BGSAVE_RETRY_DELAY = 5


async def startup(core) -> None:
    """Called by the server shell once it listens: hook SHUTDOWN's save and
    the periodic work, then (with the AOF off) load the dump file. Raises
    rdb.RDBError on a damaged file."""
    snaps = of(core)
    core.save_on_shutdown = snaps.on_shutdown
    snaps.start_timer()
    if not core.config.appendonly:
        await snaps.load_at_startup()


def of(core) -> "Snapshots":
    """The server's snapshot state, made on first use."""
    s = getattr(core, "rdb", None)
    if s is None:
        s = core.rdb = Snapshots(core)
    return s


class Snapshots:
    def __init__(self, core) -> None:
        self.core = core
        self.child_pid = 0
        self.child_started = 0.0
        self.child_dirty = 0          # dirty counter when the child forked
        self.scheduled = False        # BGSAVE SCHEDULE waiting for the AOF child
        self.last_status_ok = True
        self.last_bgsave_time = -1
        self.last_try = 0.0
        self.loading = False
        self.load_start = 0
        self.load_total = 0
        self.load_done = 0
        self.load_keys = 0
        core.dirty_at_last_save = 0
        self._gate_installed = False
        # The AUX fields of the file loaded at start-up (a replica continues
        # the history its repl-id / repl-offset record).
        self.aux: dict = {}

    # -- paths ---------------------------------------------------------------

    def path(self) -> str:
        cfg = self.core.config
        return os.path.join(cfg.dir or ".", cfg.dbfilename)

    def _temp(self, pid: int) -> str:
        return os.path.join(self.core.config.dir or ".", "temp-%d.rdb" % pid)

    # -- saving --------------------------------------------------------------

    def write_file(self, pid: int | None = None) -> None:
        """Write the dataset to the dump file (temp file, fsync, rename).
        Raises OSError."""
        tmp = self._temp(pid or os.getpid())
        try:
            with open(tmp, "wb") as f:
                rdb.dump(self.core, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path())
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise

    def save(self) -> bool:
        """SAVE: write in the foreground. True on success."""
        core = self.core
        dirty = core.ks.dirty
        try:
            self.write_file()
        except OSError as e:
            # As Redis's rdbSave, a failed foreground save leaves the
            # background-save status (and so stop-writes) alone.
            log.warning("Failed saving the DB (%s): %s", self.path(), e.strerror or e)
            return False
        log.info("DB saved on disk")
        core.dirty_at_last_save = dirty
        core.last_save = int(time.time())
        self.last_status_ok = True
        self._update_gate()
        return True

    def bgsave(self) -> bool:
        """Start a background save; False if one could not start."""
        core = self.core
        self.last_try = time.time()
        if not hasattr(os, "fork"):
            ok = self.save()
            if not ok:
                self.last_status_ok = False
                self._update_gate()
            return ok
        dirty = core.ks.dirty
        try:
            pid = os.fork()
        except OSError as e:
            log.warning("Can't save in background: fork: %s", e.strerror)
            self.last_status_ok = False
            self._update_gate()
            return False
        if pid == 0:
            code = 1
            try:
                self.write_file(os.getpid())
                code = 0
            except BaseException:  # the child must never return into the loop
                pass
            os._exit(code)
        self.child_pid = pid
        self.child_started = time.time()
        self.child_dirty = dirty
        log.info("Background saving started by pid %d", pid)
        return True

    def reap(self) -> None:
        """Collect a finished BGSAVE child (called from the tick)."""
        if not self.child_pid:
            return
        try:
            pid, status = os.waitpid(self.child_pid, os.WNOHANG)
        except ChildProcessError:
            pid, status = self.child_pid, 1 << 8
        if pid == 0:
            return
        self._finished(os.waitstatus_to_exitcode(status) == 0)

    def wait_child(self) -> None:
        """Block until a running BGSAVE child ends (SHUTDOWN, DEBUG RELOAD)."""
        if self.child_pid:
            try:
                _, status = os.waitpid(self.child_pid, 0)
                ok = os.waitstatus_to_exitcode(status) == 0
            except ChildProcessError:
                ok = False
            self._finished(ok)

    def kill_child(self) -> None:
        if self.child_pid:
            try:
                os.kill(self.child_pid, 9)
            except OSError:
                pass
            self.wait_child()
            try:
                os.unlink(self._temp(self.child_pid))
            except OSError:
                pass

    def _finished(self, ok: bool) -> None:
        core = self.core
        pid = self.child_pid
        self.child_pid = 0
        self.last_bgsave_time = int(time.time() - self.child_started)
        if ok:
            log.info("Background saving terminated with success")
            core.dirty_at_last_save = self.child_dirty
            core.last_save = int(time.time())
            self.last_status_ok = True
        else:
            log.warning("Background saving error (child %d)", pid)
            self.last_status_ok = False
            try:
                os.unlink(self._temp(pid))
            except OSError:
                pass
        self._update_gate()

    def start_timer(self) -> None:
        """Run :meth:`cron` ten times a second on the shell's loop."""
        call_later = self.core.call_later
        if call_later is None:
            return

        def tick():
            try:
                self.cron()
            except Exception:
                log.exception("error in the RDB periodic task")
            call_later(0.1, tick)

        call_later(0.1, tick)

    def other_child(self) -> bool:
        """Whether another forked child (an AOF rewrite) is running."""
        aof = getattr(self.core, "aof", None)
        return bool(getattr(aof, "child", 0))

    def cron(self) -> None:
        """Reap the child; start a BGSAVE when one is scheduled or a save
        rule is due (never beside another child, as Redis)."""
        self.reap()
        if self.child_pid or self.loading or self.other_child():
            return
        if self.scheduled:
            self.scheduled = False
            self.bgsave()
            return
        core = self.core
        points = core.config.save
        if not points:
            return
        changes = core.ks.dirty - core.dirty_at_last_save
        now = time.time()
        for seconds, needed in points:
            if changes >= needed and now - core.last_save > seconds and (
                    self.last_status_ok or now - self.last_try > BGSAVE_RETRY_DELAY):
                log.info("%d changes in %d seconds. Saving...", needed, seconds)
                self.bgsave()
                break

    def on_shutdown(self) -> bool:
        """SHUTDOWN's save: stop a running BGSAVE, then save in the foreground."""
        self.kill_child()
        # Notice level, as Redis's prepareForShutdown; save() says "DB saved
        # on disk" once, as rdbSave does.
        log.info("Saving the final RDB snapshot before exiting.")
        return self.save()

    # -- gates -----------------------------------------------------------------

    def _update_gate(self) -> None:
        """Install the LOADING/MISCONF gate while one of them can refuse
        (the executor's fast path stays free of it otherwise)."""
        needed = self.loading or not self.last_status_ok
        if needed == self._gate_installed:
            return
        self._gate_installed = needed
        fn = self._gate if needed else None
        try:
            self.core.set_gate(fn, "rdb")
        except TypeError:  # a core with a single, unnamed gate
            self.core.set_gate(fn)

    def _gate(self, client, cmd, args):
        if self.loading and not cmd.loading_ok:
            return errors.LOADING
        cfg = self.core.config
        if (not self.last_status_ok and cmd.is_write and cfg.save
                and cfg.stop_writes_on_bgsave_error and client.kind != "master"):
            return errors.MISCONF
        return None

    # -- loading -----------------------------------------------------------------

    def read_file(self) -> bytes | None:
        try:
            with open(self.path(), "rb") as f:
                return f.read()
        except FileNotFoundError:
            return None

    def load_now(self, data: bytes) -> int:
        """Parse ``data`` and replace the dataset (DEBUG RELOAD). RDBError
        leaves the dataset as it was."""
        snap = rdb.parse(data, rdb.Limits(self.core.config))
        return rdb.install(snap, self.core.ks)

    async def load_at_startup(self) -> None:
        """Load the dump file if there is one, yielding to the loop between
        steps. Raises rdb.RDBError (logged) on a bad file."""
        data = self.read_file()
        if data is None:
            return
        core = self.core
        self.loading = True
        self._update_gate()
        self.load_start = int(time.time())
        self.load_total = len(data)
        self.load_done = 0
        t0 = time.monotonic()
        last_log = t0
        try:
            snap = None
            for step in rdb.iter_parse(data, rdb.Limits(core.config)):
                if isinstance(step, rdb.Snapshot):
                    snap = step
                    break
                self.load_done, _, self.load_keys = step
                now = time.monotonic()
                if now - last_log >= 1:
                    last_log = now
                    log.info("Loading RDB: %d%% (%d keys, %d keys/s)",
                             100 * self.load_done // max(1, self.load_total),
                             self.load_keys, self.load_keys / max(now - t0, 1e-6))
                await asyncio.sleep(0)
            aux = self.aux = snap.aux
            if b"redis-ver" in aux:
                log.info("Loading RDB produced by version %s", aux[b"redis-ver"].decode(
                    "utf-8", "replace"))
            n = rdb.install(snap, core.ks)
            self.load_done = self.load_total
            dt = time.monotonic() - t0
            log.info("DB loaded from disk: %.3f seconds (%d keys, %d keys/s)", dt, n,
                     n / max(dt, 1e-6))
            core.dirty_at_last_save = core.ks.dirty
            core.last_save = int(time.time())
        except rdb.RDBError as e:
            log.warning("Fatal error loading the DB (%s): %s. Exiting.", self.path(), e)
            raise
        finally:
            self.loading = False
            self._update_gate()

    # -- INFO ----------------------------------------------------------------------

    def info(self) -> list:
        core = self.core
        fields = [("loading", int(self.loading))]
        if self.loading:
            elapsed = max(0, int(time.time()) - self.load_start)
            perc = 100.0 * self.load_done / max(1, self.load_total)
            eta = int(elapsed * (self.load_total - self.load_done) / self.load_done) \
                if self.load_done else 1
            fields += [("loading_start_time", self.load_start),
                       ("loading_total_bytes", self.load_total),
                       ("loading_rdb_used_mem", 0),
                       ("loading_loaded_bytes", self.load_done),
                       ("loading_loaded_perc", "%.2f" % perc),
                       ("loading_eta_seconds", eta)]
        fields += [
            ("rdb_changes_since_last_save", core.ks.dirty - core.dirty_at_last_save),
            ("rdb_bgsave_in_progress", int(bool(self.child_pid))),
            ("rdb_last_save_time", core.last_save),
            ("rdb_last_bgsave_status", "ok" if self.last_status_ok else "err"),
            ("rdb_last_bgsave_time_sec", self.last_bgsave_time),
            ("rdb_current_bgsave_time_sec",
             int(time.time() - self.child_started) if self.child_pid else -1),
        ]
        return fields
