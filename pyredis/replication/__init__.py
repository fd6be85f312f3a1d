"""Replication: classic (master, replica, backlog) and global (log, channel
codec, conflict rules, channel manager). Not written yet; the per-key
version table it will use is pyredis.types.versions."""
