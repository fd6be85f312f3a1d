"""Dispatch for container commands (CONFIG, CLIENT, DEBUG, COMMAND...).

A container command is declared once in the command table; its
subcommands live in a :class:`Subcommands` registry, each with an arity
counted like Redis counts it (the whole argv, command name included: ``3``
is exactly three arguments, ``-3`` at least three). Any module may add a
subcommand to a registry it imports, so a later feature (``CLIENT
UNBLOCK`` with blocking, ``DEBUG RELOAD`` with persistence) plugs in
without editing the module that owns the command.

An unknown subcommand, or a known one with the wrong number of
arguments, gets Redis 6.2's reply: ``ERR Unknown subcommand or wrong
number of arguments for 'x'. Try CMD HELP.``
"""

from __future__ import annotations

from typing import Callable

from .. import errors
from ..errors import CommandError
from ..protocol import Simple


class Subcommands:
    __slots__ = ("command", "table", "help_head", "help_tail")

    def __init__(self, command: str) -> None:
        self.command = command.upper()
        # name (lower-case bytes) -> (arity, handler, help lines)
        self.table: dict[bytes, tuple[int, Callable, tuple]] = {}
        self.help_head = (f"{self.command} <subcommand> [<arg> [value] [opt] ...]. "
                          "Subcommands are:")
        self.help_tail = ("HELP", "    Prints this help.")

    def add(self, name: str, arity: int, help: tuple = ()):
        """Decorator: register ``handler(client, args)`` for ``name``.
        ``help`` holds this subcommand's lines of the HELP reply."""

        def register(handler):
            self.table[name.lower().encode()] = (arity, handler, tuple(help))
            return handler

        return register

    def help(self, order: list[str] | None = None) -> list:
        """The HELP reply: head line, each subcommand's lines, HELP itself."""
        names = [n.encode() for n in order] if order else list(self.table)
        lines = [self.help_head]
        for n in names:
            entry = self.table.get(n)
            if entry is not None:
                lines.extend(entry[2])
        lines.extend(self.help_tail)
        return [Simple(line.encode()) for line in lines]

    def dispatch(self, client, args: list):
        sub = args[1]
        entry = self.table.get(sub) or self.table.get(sub.lower())
        if entry is not None:
            arity = entry[0]
            n = len(args)
            if (arity >= 0 and n == arity) or (arity < 0 and n >= -arity):
                return entry[1](client, args)
        raise CommandError(errors.unknown_subcommand(
            sub.decode("utf-8", "surrogateescape"), self.command))
