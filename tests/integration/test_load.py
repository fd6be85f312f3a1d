"""The load run of stress/load.py, small enough for CI: 200 concurrent
clients for 3 seconds of mixed commands (MULTI-EXEC included) against a
pyredis process whose maxclients is 200. Every reply must be the one the
client's model of its keys predicts, and client 201 must get Redis's exact
refusal. (``python -m stress.load`` is the full run, 1,000 clients for a
minute, beside redis-server.)"""

from __future__ import annotations

import asyncio

from stress import common
from stress.load import MAXCLIENTS_ERROR, run_load

CLIENTS = 200


def test_200_clients_mixed_workload_every_reply_right_and_maxclients_refuses():
    common.raise_nofile(CLIENTS + 256)
    proc = common.pyredis("load-ci", maxclients=CLIENTS)
    try:
        res = asyncio.run(run_load(proc.port, CLIENTS, 3.0, seed=7))
        # The server is still fine after the run.
        assert proc.client().ping()
    finally:
        proc.stop()
    assert res["connected"] == CLIENTS
    assert res["extra_client_got"] == MAXCLIENTS_ERROR.decode()
    assert res["wrong_replies"] == 0, res["first_errors"]
    # Every client got through many operations, not just a few.
    assert res["ops"] > CLIENTS * 5
