"""Pure data structures behind the Redis types and the keyspace (no I/O, no
commands): glob matching, SCAN cursors, per-key versions, number formats."""
