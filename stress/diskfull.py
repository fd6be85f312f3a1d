"""Disk-full run: a pyredis server whose ``dir`` is a small tmpfs (1 MB) is
written to until the disk is full, while it keeps an AOF, a global log or
RDB snapshots. Checked: writes are then refused with a MISCONF error (the
exact text is printed), the server keeps answering reads and PING, and when
space comes back (a filler file is deleted) writes are accepted again by
themselves; then the server is killed with SIGKILL and restarted, and every
write that was acknowledged is there.

    sudo python -m stress.diskfull        # mounting a tmpfs needs root

The tests in tests/integration/test_disk_errors.py check the same with
injected write errors, without root.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import redis

from . import common

TARGETS = {
    "aof-always": {"appendonly": "yes", "appendfsync": "always"},
    "aof-everysec": {"appendonly": "yes", "appendfsync": "everysec"},
    "glog-always": {"global_server_id": 1, "global_log_fsync": "always",
                    "global_log_segment_size": "64kb"},
    "rdb": {"save": "1 1", "stop_writes_on_bgsave_error": "yes"},
}
FILLER = "filler.bin"


def run_target(name: str, options: dict, size_kb: int) -> dict:
    mnt = tempfile.mkdtemp(prefix=f"stress-diskfull-{name}-")
    logdir = tempfile.mkdtemp(prefix=f"stress-diskfull-{name}-log-")
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", mnt], check=True)
    out = {"target": name}
    proc = None
    try:
        # The server's files go to the small disk, its log file does not.
        argv = [sys.executable, "-m", "pyredis", "--port", str(common.free_port()),
                "--bind", common.HOST, "--dir", mnt, "--save", options.get("save", "")]
        for k, v in options.items():
            if k != "save":
                argv += [f"--{k.replace('_', '-')}", str(v)]
        proc = common.Proc(name, argv, int(argv[4]), logdir)
        r = proc.client()
        save = options.get("save")
        # A filler takes most of the space, so the disk fills soon.
        with open(os.path.join(mnt, FILLER), "wb") as f:
            f.write(b"\0" * (size_kb * 1024 * 6 // 10))
        acked, refused, i = [], None, 0
        t0 = time.monotonic()
        while time.monotonic() - t0 < 60 and refused is None:
            # Random bytes: an RDB compresses repeated ones to nothing.
            value = os.urandom(1000)
            key = f"k{i}"
            i += 1
            try:
                redis.Redis(host=common.HOST, port=proc.port, socket_timeout=10, retry=None,
                            retry_on_error=[]).set(key, value)
                acked.append(key)
                last_value = value
            except redis.ResponseError as e:
                refused = str(e)
            except redis.ConnectionError as e:
                out.setdefault("closed_without_reply", 0)
                out["closed_without_reply"] += 1
                if out["closed_without_reply"] > 100:
                    refused = f"connection closed: {e}"
            if save and not i % 20:
                time.sleep(0.2)  # let the save rule fire as the data grows
        out["acked_before_refusal"] = len(acked)
        out["refusal"] = refused
        out["ping_while_full"] = r.ping()
        out["read_while_full"] = r.get(acked[-1]) == last_value if acked else None
        # Space comes back.
        os.unlink(os.path.join(mnt, FILLER))
        t1 = time.monotonic()
        recovered = None
        while time.monotonic() - t1 < 30:
            try:
                r.set("after", "1")
                recovered = round(time.monotonic() - t1, 2)
                acked.append("after")
                break
            except redis.ResponseError:
                time.sleep(0.1)
        out["writes_accepted_again_after_s"] = recovered
        if save:
            # A save of everything acknowledged, once the running one is done.
            while r.info("persistence")["rdb_bgsave_in_progress"]:
                time.sleep(0.05)
            r.save()
        proc.kill()
        proc.start()
        r = proc.client()
        got = r.mget(acked) if acked else []
        out["missing_after_kill_9"] = sum(1 for v in got if v is None)
        out["server_log_tail"] = proc.log_tail(600)
    finally:
        if proc is not None:
            proc.stop()
        subprocess.run(["umount", mnt], check=False)
        os.rmdir(mnt)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--targets", default=",".join(TARGETS))
    ap.add_argument("--size-kb", type=int, default=1024)
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        sys.exit("stress.diskfull mounts a tmpfs: run it as root")
    results = {}
    for name in args.targets.split(","):
        res = results[name] = run_target(name, TARGETS[name], args.size_kb)
        print(f"{name}: {res['acked_before_refusal']} writes acknowledged, then "
              f"{res['refusal']!r}; PING {res['ping_while_full']}, reads "
              f"{res['read_while_full']}; writes accepted again "
              f"{res['writes_accepted_again_after_s']} s after space came back; "
              f"missing after kill -9 and restart: {res['missing_after_kill_9']}"
              + (f"; closed without reply: {res['closed_without_reply']}"
                 if res.get("closed_without_reply") else ""), flush=True)
    ok = all(r["refusal"] and r["refusal"].startswith("MISCONF")
             and r["writes_accepted_again_after_s"] is not None
             and r["missing_after_kill_9"] == 0 for r in results.values())
    path = common.save_result("diskfull", {"results": results, "ok": ok})
    print(f"{'PASS' if ok else 'FAIL'}; figures in {path}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
