"""Persistence: RDB snapshots and the append-only file, over file-like
objects only (issue: persistence). Not written yet."""
