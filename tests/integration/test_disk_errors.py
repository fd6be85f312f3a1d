"""Disk errors (disk full, I/O errors) while writing the AOF, the global log
or a snapshot: the server stays up, refuses writes with a MISCONF error
while the file cannot be written, never acknowledges a write under an
``always`` fsync policy that did not reach the disk, and recovers by itself
when the disk takes writes again.

The errors are injected: ``os.write`` / ``os.fsync`` fail for the one file
descriptor under test (an in-process server, so the patch reaches it), as
ENOSPC would on a full disk.
"""

from __future__ import annotations

import errno
import os
import time

import pytest
import redis

from pyredis.persistence.aof import check_aof
from pyredis.testing import ServerThread

ENOSPC_TEXT = os.strerror(errno.ENOSPC)


class DiskFull:
    """Makes os.write (and, with ``fsync``, os.fsync) fail with ENOSPC for
    the file descriptor ``fd()`` returns, while ``on`` (``write=False``: only
    fsync fails, with EIO). With ``partial``, a
    write first lands that many bytes, then fails (a disk filling up in the
    middle of a write)."""

    def __init__(self, monkeypatch, fd, fsync: bool = False, partial: int = 0,
                 write: bool = True) -> None:
        self.fd, self.on, self.partial = fd, True, partial
        fail_writes = write
        real_write, real_fsync = os.write, os.fsync

        def write(f, data):
            if self.on and fail_writes and f == self.fd():
                if self.partial:
                    n, self.partial = self.partial, 0
                    return real_write(f, bytes(data[:n]))
                raise OSError(errno.ENOSPC, ENOSPC_TEXT)
            return real_write(f, data)

        def fake_fsync(f):
            if self.on and fsync and f == self.fd():
                raise OSError(errno.EIO, os.strerror(errno.EIO))
            return real_fsync(f)

        monkeypatch.setattr(os, "write", write)
        monkeypatch.setattr(os, "fsync", fake_fsync)


def wait_for(pred, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def set_ok(r, key, value) -> bool:
    try:
        return bool(r.set(key, value))
    except redis.ResponseError:
        return False


def aof_text(srv) -> bytes:
    with open(srv.core.aof.path, "rb") as f:
        return f.read()


def test_aof_everysec_write_error_refuses_writes_and_recovers(monkeypatch):
    with ServerThread(appendonly="yes", appendfsync="everysec") as srv:
        r = srv.client()
        assert r.set("before", "1")
        disk = DiskFull(monkeypatch, lambda: srv.core.aof.fd)
        # As Redis under everysec: the write that met the error is answered
        # (its bytes stay buffered), the next ones are refused.
        assert r.set("k1", "v1")
        with pytest.raises(redis.ResponseError) as e:
            r.set("k2", "v2")
        assert str(e.value) == f"MISCONF Errors writing to the AOF file: {ENOSPC_TEXT}"
        assert r.get("k1") == b"v1"  # reads go on
        assert r.info("persistence")["aof_last_write_status"] == "err"
        disk.on = False
        # The cron retries the buffered bytes; writes are accepted again.
        wait_for(lambda: set_ok(r, "k3", "v3"))
        assert r.info("persistence")["aof_last_write_status"] == "ok"
        data = aof_text(srv)
        assert b"k1" in data and b"k3" in data and b"k2" not in data
        assert check_aof(srv.core.aof.path).ok


def test_aof_partial_write_is_taken_back(monkeypatch):
    with ServerThread(appendonly="yes", appendfsync="everysec") as srv:
        r = srv.client()
        assert r.set("before", "1")
        size = len(aof_text(srv))
        disk = DiskFull(monkeypatch, lambda: srv.core.aof.fd, partial=7)
        assert r.set("k1", "v" * 100)
        # The 7 bytes that landed were cut off again.
        assert len(aof_text(srv)) == size
        disk.on = False
        wait_for(lambda: set_ok(r, "k2", "v2"))
        assert check_aof(srv.core.aof.path).ok
        assert aof_text(srv).count(b"k1") == 1


def test_aof_always_never_acknowledges_a_write_not_on_disk(monkeypatch):
    with ServerThread(appendonly="yes", appendfsync="always") as srv:
        r = srv.client()
        assert r.set("before", "1")
        disk = DiskFull(monkeypatch, lambda: srv.core.aof.fd)
        # No OK for a write that is not on disk: the connection is closed
        # without a reply (Redis exits here; pyredis stays up).
        with pytest.raises(redis.ConnectionError):
            redis.Redis(port=srv.port, retry_on_error=[], retry=None).set("k1", "v1")
        r2 = srv.client()
        assert r2.ping()
        with pytest.raises(redis.ResponseError, match="^MISCONF Errors writing to the AOF"):
            r2.set("k2", "v2")
        disk.on = False
        wait_for(lambda: set_ok(r2, "k3", "v3"))
        data = aof_text(srv)
        assert b"k1" in data and b"k3" in data
        assert check_aof(srv.core.aof.path).ok


def test_aof_always_fsync_error_is_not_acknowledged(monkeypatch):
    with ServerThread(appendonly="yes", appendfsync="always") as srv:
        disk = DiskFull(monkeypatch, lambda: srv.core.aof.fd, fsync=True, write=False)
        with pytest.raises(redis.ConnectionError):
            redis.Redis(port=srv.port, retry_on_error=[], retry=None).set("k1", "v1")
        r = srv.client()
        with pytest.raises(redis.ResponseError, match="^MISCONF Errors writing to the AOF file: "
                                                     + os.strerror(errno.EIO)):
            r.set("k2", "v2")
        disk.on = False
        wait_for(lambda: set_ok(r, "k3", "v3"))


@pytest.mark.parametrize("policy", ["always", "everysec"])
def test_global_log_write_error_refuses_writes_and_recovers(monkeypatch, policy):
    with ServerThread(global_server_id=1, global_log_fsync=policy) as srv:
        gr = srv.core.global_repl
        r = srv.client()
        assert r.set("before", "1")
        disk = DiskFull(monkeypatch, lambda: gr.log._fd)
        c = redis.Redis(port=srv.port, retry_on_error=[], retry=None)
        if policy == "always":
            # Not logged, so not acknowledged; the server stays up.
            with pytest.raises(redis.ConnectionError):
                c.set("k1", "v1")
        else:
            assert c.set("k1", "v1")
        r = srv.client()
        with pytest.raises(redis.ResponseError) as e:
            r.set("k2", "v2")
        assert str(e.value) == f"MISCONF Errors writing to the global log: {ENOSPC_TEXT}"
        assert r.get("before") == b"1"
        disk.on = False
        # The timer writes the buffered records; writes are accepted again.
        wait_for(lambda: set_ok(r, "k3", "v3"))
        assert gr.write_error is None
        assert gr.log.durable_lsn == gr.log.last_lsn or policy != "always"


def test_global_log_roll_failure_keeps_appending(tmp_path, monkeypatch):
    from pyredis.replication.globallog import GlobalLog, Record
    lg = GlobalLog(str(tmp_path), fsync="always", segment_bytes=4096)
    real_open = os.open

    def no_new_files(path, *a, **kw):
        if str(path).startswith(str(tmp_path)):
            raise OSError(errno.ENOSPC, ENOSPC_TEXT)
        return real_open(path, *a, **kw)

    monkeypatch.setattr(os, "open", no_new_files)
    recs = [Record(origin=1, opid=i, ts=i << 16, db=0, commands=[[b"SET", b"k", b"x" * 200]])
            for i in range(1, 60)]
    for rec in recs:
        lg.append(rec)  # past the segment size: the roll fails, no raise
    lg.flush()
    assert len(lg.segment_paths) == 1
    monkeypatch.setattr(os, "open", real_open)
    lg.append(Record(origin=1, opid=60, ts=60 << 16, db=0, commands=[[b"SET", b"k", b"y"]]))
    assert len(lg.segment_paths) == 2
    lg.close()


def test_rdb_bgsave_error_misconf_then_recovers(tmp_path):
    with ServerThread(dir=str(tmp_path), save="3600 1") as srv:
        r = srv.client()
        assert r.set("k", "v")
        bad = tmp_path / "gone"
        bad.mkdir()
        r.config_set("dir", str(bad))
        bad.rmdir()
        r.bgsave()
        wait_for(lambda: r.info("persistence")["rdb_last_bgsave_status"] == "err")
        with pytest.raises(redis.ResponseError, match="^MISCONF Redis is configured to save"):
            r.set("k", "v2")
        # Space (here: the directory) comes back: the next save succeeds and
        # writes are accepted again.
        r.config_set("dir", str(tmp_path))
        r.bgsave()
        wait_for(lambda: r.info("persistence")["rdb_last_bgsave_status"] == "ok")
        assert r.set("k", "v3")


def test_aof_everysec_background_fsync_error_refuses_writes(monkeypatch):
    # As Redis's aof_bio_fsync_status: the once-a-second fsync failing
    # refuses writes until it succeeds again.
    with ServerThread(appendonly="yes", appendfsync="everysec") as srv:
        r = srv.client()
        disk = DiskFull(monkeypatch, lambda: srv.core.aof.fd, fsync=True, write=False)
        assert r.set("k1", "v1")
        wait_for(lambda: not set_ok(r, "k2", "v2"), timeout=5)
        with pytest.raises(redis.ResponseError, match="^MISCONF Errors writing to the AOF file: "
                                                     + os.strerror(errno.EIO)):
            r.set("k2", "v2")
        disk.on = False
        wait_for(lambda: set_ok(r, "k3", "v3"), timeout=5)
