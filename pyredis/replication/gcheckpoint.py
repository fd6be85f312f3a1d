"""Checkpoint files of a global replication member, so that after any
restart (kill -9 included) its dataset and its log positions agree (G5).

The checkpoint's content is the member's own (``GlobalMember.checkpoint``:
every key with its value, TTL and version, the tombstones, the flush
versions, the version vector, the HLC and the log LSN it covers). This
module gives it a file, ``checkpoint.bin`` in the global log's directory,
written by a forked child as BGSAVE writes a dump, so the member's clients
and links are served meanwhile; through a temporary file, fsync and
rename, so a crash leaves the previous checkpoint whole.

Start-up (:func:`recover`): restore the checkpoint if there is one, then
replay every record of the log after its LSN through the member's receive
rule (``GlobalMember.replay``); with no checkpoint, replay the whole log on
an empty dataset. The result holds exactly the ops the durable files hold,
whether or not the AOF or a dump file exist: those are not what global
replication trusts. Only a new member (no checkpoint, an empty log) keeps
what its dump file or AOF loaded; the driver then writes a checkpoint of it
and logs its keys (``GlobalReplication._version_preexisting``). When a
server ran on this log without global replication and changed its dataset
(``globallog.CHANGED_WITHOUT_GLOBAL`` lists the keys), the dump file or AOF
holds changes the log does not: a copy of that file is kept, and named in
a warning, and the databases it loaded are handed to the driver, which
writes the listed keys back as ops once the dataset is rebuilt
(``GlobalReplication._write_back_changes``). If
retention dropped history that no checkpoint covers (the driver avoids it:
segments go only below the checkpoint's LSN), the member claims only its
own op ids and lets anti-entropy bring the rest.
"""

from __future__ import annotations

import logging
import os
import shutil
import time

from .globallog import CHANGED_WITHOUT_GLOBAL, read_changed_without_global
from .gmember import CheckpointError

log = logging.getLogger("pyredis")

NAME = "checkpoint.bin"


class Checkpoints:
    """Background checkpoints of one member (``gr.checkpoints``)."""

    def __init__(self, gr) -> None:
        self.gr = gr
        self.path = os.path.join(gr.log.directory, NAME)
        self.lsn = 0              # the LSN the checkpoint on disk covers
        self.child = 0
        self._child_lsn = 0
        self._mark = 0
        self._tmp = ""
        # INFO global: checkpoints written, and whether the last one worked.
        self.count = 0
        self.last_status_ok = True
        # When the last one started (monotonic s) and how long the last
        # finished one took: the driver spaces them by it.
        self.started_at = 0.0
        self.duration = 0.0

    def start(self) -> bool:
        """Fork a child writing a checkpoint of now; False if one runs."""
        if self.child:
            return False
        gr = self.gr
        # Never cover an op the log could still lose.
        gr.log.flush(durable=True)
        lsn = gr.log.last_lsn
        self._mark = gr.member.checkpoint_mark()
        tmp = self._tmp = self.path + ".tmp-%d" % os.getpid()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                data = gr.member.checkpoint()
                with open(tmp, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, self.path)
                dfd = os.open(os.path.dirname(self.path), os.O_RDONLY)
                try:
                    os.fsync(dfd)
                finally:
                    os.close(dfd)
                code = 0
            except BaseException:  # the child never returns into the loop
                pass
            os._exit(code)
        self.child = pid
        self._child_lsn = lsn
        self.started_at = time.monotonic()
        return True

    def poll(self, block: bool = False) -> None:
        """Reap a finished child (the driver's timer, or shutdown)."""
        if not self.child:
            return
        try:
            pid, status = os.waitpid(self.child, 0 if block else os.WNOHANG)
        except ChildProcessError:
            pid, status = self.child, 1 << 8
        if pid == 0:
            return
        self.child = 0
        self.duration = time.monotonic() - self.started_at
        self.last_status_ok = os.waitstatus_to_exitcode(status) == 0
        if self.last_status_ok:
            self.lsn = self._child_lsn
            self.count += 1
            self.gr.member.checkpoint_done(self._mark)
        else:
            log.warning("Global replication: writing the checkpoint failed")
            try:
                os.unlink(self._tmp)
            except OSError:
                pass

    def load(self) -> int | None:
        """Restore the checkpoint on disk into the member (its keyspace is
        emptied first); returns the LSN it covers, None when there is none
        (a checkpoint may cover LSN 0: the one written at the first start
        over a dump file's keys). Raises ValueError naming the file when it
        is damaged."""
        try:
            with open(self.path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return None
        for d in self.gr.core.ks.dbs:
            d.flush()
        try:
            lsn = self.gr.member.restore_checkpoint(data)
        except CheckpointError as e:
            raise ValueError(f"global checkpoint {self.path}: {e}") from None
        self.lsn = lsn
        return lsn


def recover(gr) -> None:
    """Rebuild the member's dataset from its own durable files (see the
    module doc). Other funnel sinks (the AOF, classic replicas) do not see
    the replay: it restores state, it is not new writes."""
    core = gr.core
    member = gr.member
    lg = gr.log
    cp = gr.checkpoints
    sinks = [s for s in core.funnel.sinks if s is not member]
    for s in sinks:
        core.funnel.unsubscribe(s)
    listeners, member.listeners = member.listeners, []
    hook, member.on_applied = member.on_applied, None
    gr.dataset_from_dump = False
    gr.changed_without_global = None
    changed = read_changed_without_global(lg.directory)
    try:
        had_data = any(d.data for d in core.ks.dbs)
        if changed is not None and not (lg.last_lsn == 0 and not lg.base_vector):
            # Before anything replaces the dataset the file loaded: a copy
            # of that file, and the loaded databases themselves (flush()
            # gives a database new dicts), whose changed keys the driver
            # writes back once the log's dataset is rebuilt.
            since, keys, persisted = changed
            if _keep_changed_file(core, since):
                if persisted:
                    gr.changed_without_global = (
                        since, keys, [(d.data, d.expires) for d in core.ks.dbs])
                else:
                    log.warning("Global replication: the keys changed without global "
                                "replication are not written back: that server stopped "
                                "without all of its changes saved (or crashed), so the "
                                "file may hold older states of some of them")
            if gr.changed_without_global is None:
                forget_changed_without_global(lg.directory)
        lsn = cp.load()
        if lsn is None:
            if lg.last_lsn == 0 and not lg.base_vector:
                # A new member: whatever the dump/AOF held stays (the driver
                # checkpoints it and logs its keys next).
                gr.dataset_from_dump = had_data
                forget_changed_without_global(lg.directory)
                return
            for d in core.ks.dbs:
                d.flush()
            lsn = 0
        if had_data:
            log.info("Global replication: the dataset comes from the global log "
                     "(checkpoint and log), not from the dump file or AOF")
        start = max(lsn + 1, lg.first_lsn)
        if lsn + 1 < lg.first_lsn and (lsn or lg.base_vector):
            # History neither the checkpoint nor the log holds: claim only
            # our own ops and let anti-entropy bring the rest.
            log.warning("Global replication: the log lost history no checkpoint covers "
                        "(LSNs %d..%d); peers will repair it", lsn + 1, lg.first_lsn - 1)
            own = member.server_id
            member.vector.clear()
            member.vector[own] = lg.last_opid(own)
        replayed = 0
        if lg.last_lsn >= start:
            for rec in lg.read_from(start):
                member.replay(rec)
                replayed += 1
        log.info("Global replication: recovered from the checkpoint (LSN %d) and %d log "
                 "records", lsn, replayed)
    finally:
        member.listeners = listeners
        member.on_applied = hook
        for s in sinks:
            core.funnel.subscribe(s)


def _keep_changed_file(core, since: str) -> bool:
    """A server ran on this log without global replication and changed its
    dataset (since ``since``): the dump file or AOF it left holds changes
    the log does not, and recovery is about to rebuild the dataset without
    them. Keep a copy of that file next to it, and say so; False when there
    is no such file. Raises OSError when the copy cannot be made: the
    server stops rather than go on to overwrite the only copy."""
    cfg = core.config
    name = cfg.appendfilename if cfg.appendonly else cfg.dbfilename
    path = os.path.join(cfg.dir or ".", name)
    if not os.path.exists(path):
        log.warning("Global replication: a server ran without global replication on this "
                    "log (changes since %s), and left no %s: its changes are not kept",
                    since, name)
        return False
    kept = "%s.without-global-%s" % (path, time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()))
    try:
        shutil.copy2(path, kept)
    except OSError as e:
        raise OSError(f"could not keep a copy of {path} (changed without global "
                      f"replication since {since}) as {kept}: {e}") from None
    log.warning("Global replication: a server ran without global replication on this log "
                "and changed its dataset (first change %s); the file that holds those "
                "changes was kept as %s", since, kept)
    return True


def forget_changed_without_global(directory: str) -> None:
    """The changes were acted on (written back as ops and made durable, or
    the dataset kept as loaded): the list goes."""
    try:
        os.remove(os.path.join(directory, CHANGED_WITHOUT_GLOBAL))
    except FileNotFoundError:
        pass
