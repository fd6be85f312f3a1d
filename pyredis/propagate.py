"""The single funnel for write effects.

The executor hands every effect of a write command here, as a database index
and an argument list that replays deterministically (``SET k v PXAT <abs>``,
not ``SET k v EX 10``). Sinks subscribe: the AOF, the classic replication
stream, the global log, or a test recorder. Handlers never talk to a sink.

Commands that ran in one MULTI/EXEC (or one script) leave as one unit:
:meth:`Funnel.begin_unit` / :meth:`Funnel.end_unit` bracket them, and sinks
that care (replication, AOF) wrap the unit in MULTI/EXEC. A unit opens
towards the sinks only with its first effect, so one that wrote nothing
sends nothing (as Redis propagates MULTI only before the first write).
"""

from __future__ import annotations

from typing import Protocol


class Sink(Protocol):
    def effect(self, db: int, args: list) -> None: ...
    def unit(self, begin: bool) -> None: ...


class Funnel:
    __slots__ = ("sinks", "_depth", "_opened", "_last")

    def __init__(self) -> None:
        self.sinks: list[Sink] = []
        self._depth = 0
        # Whether the current unit has told the sinks it began: only once it
        # has an effect, so a read-only transaction propagates nothing.
        self._opened = False
        # How many sinks at the end of the list were subscribed ``last``.
        self._last = 0

    def subscribe(self, sink: Sink, last: bool = False) -> None:
        """Add a sink. Sinks see each effect in subscription order, except
        that those subscribed with ``last`` always come after the others
        (the global member: it may describe an effect in the classic
        replication stream, which must carry the effect first)."""
        if last:
            self.sinks.append(sink)
            self._last += 1
        else:
            self.sinks.insert(len(self.sinks) - self._last, sink)

    def unsubscribe(self, sink: Sink) -> None:
        i = self.sinks.index(sink)
        if i >= len(self.sinks) - self._last:
            self._last -= 1
        del self.sinks[i]

    @property
    def in_unit(self) -> bool:
        """Whether sinks were told a unit began and not yet that it ended."""
        return self._opened

    def emit(self, db: int, args: list) -> None:
        if self._depth and not self._opened:
            self._opened = True
            for s in self.sinks:
                s.unit(True)
        for s in self.sinks:
            s.effect(db, args)

    def begin_unit(self) -> None:
        self._depth += 1

    def end_unit(self) -> None:
        self._depth -= 1
        if self._depth == 0 and self._opened:
            self._opened = False
            for s in self.sinks:
                s.unit(False)


class Recorder:
    """A sink that keeps every effect in memory: ``(db, [args...])`` tuples,
    with ``("MULTI",)``/``("EXEC",)`` markers around units. For tests and
    for observing what a command propagates."""

    def __init__(self) -> None:
        self.effects: list = []

    def effect(self, db: int, args: list) -> None:
        self.effects.append((db, list(args)))

    def unit(self, begin: bool) -> None:
        self.effects.append(("MULTI",) if begin else ("EXEC",))
