"""The command table: one declaration per command, next to its handler.

``@command(...)`` records name, arity (``-N`` means at least N arguments,
counting the name), flags, key positions (first, last, step; last ``-1``
means the final argument), ACL categories, group and the Redis version that
introduced it. COMMAND, key extraction (WATCH, replication, the read-only
gate) and the executor's policy all read this table; nothing else lists
commands.

Flags are Redis 6.2's: write, readonly, denyoom, admin, pubsub, noscript,
random, sort_for_script, loading, stale, skip_monitor, skip_slowlog, fast,
no_auth, may_replicate.

A handler is ``handler(client, args) -> reply`` where ``args`` is the full
argument list (``args[0]`` is the name as sent). It runs synchronously,
mutates through ``client.db`` and returns a typed reply value (see
``protocol.encoder``) or raises ``CommandError``.
"""

from __future__ import annotations

from typing import Callable

# Categories every command gets from its flags, as Redis 6.2 derives them.
_FLAG_CATEGORIES = {
    "write": "@write", "readonly": "@read", "admin": "@admin", "pubsub": "@pubsub",
    "fast": "@fast",
}
# COMMAND lists categories in the order of Redis's category table.
_CATEGORY_ORDER = [
    "@keyspace", "@read", "@write", "@set", "@sortedset", "@list", "@hash", "@string",
    "@bitmap", "@hyperloglog", "@geo", "@stream", "@pubsub", "@admin", "@fast", "@slow",
    "@blocking", "@dangerous", "@connection", "@transaction", "@scripting",
]


class Command:
    __slots__ = (
        "name", "handler", "arity", "flags", "first_key", "last_key", "key_step",
        "categories", "group", "since", "keys_fn", "subcommands",
        # Derived booleans the executor tests on every call.
        "is_write", "denyoom", "no_auth", "allowed_in_pubsub", "noscript", "loading_ok",
        "stale_ok", "skip_monitor", "skip_slowlog",
        # INFO commandstats.
        "calls", "usec", "failed_calls", "rejected_calls",
        # A gate for this command alone (Core.set_gate with commands), or None.
        "gate",
    )

    def __init__(self, name, handler, arity, flags, keys, categories, group, since, keys_fn):
        self.name = name
        self.handler = handler
        self.arity = arity
        self.flags = tuple(flags)
        self.first_key, self.last_key, self.key_step = keys
        cats = []
        for f in self.flags:
            c = _FLAG_CATEGORIES.get(f)
            if c and c not in cats:
                cats.append(c)
        if "admin" in self.flags and "@dangerous" not in cats:
            cats.append("@dangerous")
        for c in categories:
            if c not in cats:
                cats.append(c)
        if "fast" not in self.flags and "@slow" not in cats:
            cats.append("@slow")
        for c in cats:
            if c not in _CATEGORY_ORDER:
                raise ValueError(f"{name}: unknown ACL category {c}")
        self.categories = tuple(sorted(cats, key=_CATEGORY_ORDER.index))
        self.group = group
        self.since = since
        self.keys_fn = keys_fn
        self.subcommands = None
        self.is_write = "write" in self.flags
        self.denyoom = "denyoom" in self.flags
        self.no_auth = "no_auth" in self.flags
        self.allowed_in_pubsub = name in ("subscribe", "unsubscribe", "psubscribe",
                                          "punsubscribe", "ping", "quit", "reset")
        self.noscript = "noscript" in self.flags
        self.loading_ok = "loading" in self.flags
        self.stale_ok = "stale" in self.flags
        self.skip_monitor = "skip_monitor" in self.flags
        self.skip_slowlog = "skip_slowlog" in self.flags
        self.calls = self.usec = self.failed_calls = self.rejected_calls = 0
        self.gate = None

    def keys(self, args: list) -> list:
        """The key arguments of one call, from the declaration (Redis's
        getKeysFromCommand)."""
        if self.keys_fn is not None:
            return self.keys_fn(args)
        first = self.first_key
        if first == 0:
            return []
        last = self.last_key
        if last < 0:
            last = len(args) + last
        return args[first:last + 1:self.key_step]

    def info(self) -> list:
        """This command's row in COMMAND / COMMAND INFO (Redis 6.2 shape)."""
        from ..protocol import Simple
        return [self.name.encode(), self.arity, [Simple(f.encode()) for f in self.flags],
                self.first_key, self.last_key, self.key_step,
                [Simple(c.encode()) for c in self.categories]]


# The declarations: name (lower-case bytes) -> Command, also under the
# upper-case spelling of each name, so the common cases skip a .lower() on
# the hot path. A running server looks commands up in its own copy
# (server_table), which carries its statistics and renames.
TABLE: dict[bytes, Command] = {}
COMMANDS: dict[str, Command] = {}


def command(name: str, arity: int, flags: str = "", keys: tuple = (0, 0, 0),
            categories: str = "", group: str = "generic", since: str = "1.0.0",
            keys_fn: Callable | None = None):
    """Declare a command. ``flags`` and ``categories`` are space-separated."""

    def register(handler):
        if name in COMMANDS:
            raise ValueError(f"command {name!r} declared twice")
        cmd = Command(name, handler, arity, flags.split(), keys,
                      categories.split(), group, since, keys_fn)
        COMMANDS[name] = cmd
        TABLE[name.encode()] = cmd
        TABLE[name.upper().encode()] = cmd
        return handler

    return register


def server_table(renames=()) -> tuple[dict, dict]:
    """A server's own copy of the table: ``(by_name, by_wire_name)``.

    Each server counts its own statistics on its copies, and applies its
    ``rename-command`` lines (``(old, new)`` pairs, ``new`` empty to remove
    the command) to its own lookup; a renamed command keeps its name in
    replies and COMMAND output, as in Redis."""
    import copy
    by_name = {name: copy.copy(cmd) for name, cmd in COMMANDS.items()}
    wire = {name: by_name[name] for name in by_name}
    for old, new in renames:
        cmd = wire.pop(old.lower())
        if new:
            wire[new.lower()] = cmd
    by_wire: dict = {}
    for name, cmd in wire.items():
        by_wire[name.encode()] = cmd
        by_wire[name.upper().encode()] = cmd
    return by_name, by_wire


def lookup(name: bytes) -> Command | None:
    cmd = TABLE.get(name)
    if cmd is None:
        cmd = TABLE.get(name.lower())
    return cmd
