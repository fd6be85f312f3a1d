"""Replication, at two levels (see DESIGN.md).

Classic replication, wire-compatible with real Redis:

* ``state``     -- the replication id/offset, the backlog and the stream
                   (``core.repl``); a funnel sink on a master.
* ``backlog``   -- the circular buffer partial resyncs are served from.
* ``master``    -- the master side: SYNC/PSYNC, snapshots for replicas,
                   WAIT, min-replicas, keep-alives.
* ``handshake`` -- the replica's side of the link as a sans-IO state
                   machine (bytes in, events and bytes out).
* ``replica``   -- the asyncio driver of a replica's link to its master.

Global replication (multi-master groups across regions):

* ``hlc``       -- the hybrid logical clock behind op timestamps.
* ``globallog`` -- the durable global log: record codec and segment files
                   (format: docs/global-log-format.md).

The sans-IO cores take time and randomness as inputs and do no I/O, so the
deterministic simulation in tests/ drives the same code as the server.
"""
