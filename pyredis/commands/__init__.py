"""Command handlers, one module per group. Importing this package fills the
command table (``commands.table``)."""

import importlib

from .table import COMMANDS, TABLE, Command, command, lookup, server_table

# Each module declares its commands with @command when imported.
_MODULES = ("connection", "strings", "bits", "keys", "server", "transactions", "lists", "hashes",
            "sets", "hyperloglog", "pubsub", "zsets", "geo", "streams", "info", "client_cmds",
            "introspection", "admin", "aof", "sort", "persistence", "scripting", "memory",
            "replication", "sync", "global_cmds")

for _m in _MODULES:
    try:
        importlib.import_module(f"{__name__}.{_m}")
    except ModuleNotFoundError as e:  # a group not written yet
        if e.name != f"{__name__}.{_m}":
            raise

__all__ = ["COMMANDS", "TABLE", "Command", "command", "lookup", "server_table"]
