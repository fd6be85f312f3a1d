"""The replication backlog: the last ``repl-backlog-size`` bytes of the
replication stream, so a replica that lost its link can continue from its
offset instead of loading a whole snapshot (PSYNC's ``+CONTINUE``).

Offsets follow Redis: the stream's bytes are numbered from 1, the master's
``master_repl_offset`` is the number of bytes produced so far, and a
replica asks for the first byte it lacks (its processed offset + 1). The
backlog holds bytes ``first_byte_offset .. first_byte_offset + histlen - 1``.

No I/O: this is a byte buffer with arithmetic on offsets.
"""

from __future__ import annotations


class Backlog:
    __slots__ = ("size", "first_byte_offset", "_buf")

    def __init__(self, size: int, next_offset: int) -> None:
        """``next_offset``: the offset of the next byte that will be fed
        (master_repl_offset + 1 when the backlog is created)."""
        self.size = max(1, size)
        self.first_byte_offset = next_offset
        # bytearray deletes from its front in O(1) (it moves a start index),
        # so trimming the oldest bytes after each feed costs nothing per byte.
        self._buf = bytearray()

    @property
    def histlen(self) -> int:
        return len(self._buf)

    @property
    def end_offset(self) -> int:
        """The offset of the last byte held (first_byte_offset - 1 when empty)."""
        return self.first_byte_offset + len(self._buf) - 1

    def feed(self, data) -> None:
        buf = self._buf
        buf += data
        over = len(buf) - self.size
        if over > 0:
            del buf[:over]
            self.first_byte_offset += over

    def covers(self, offset: int) -> bool:
        """Whether a replica asking for ``offset`` (the first byte it lacks)
        can continue from here: the byte is held, or it is the next one."""
        return self.first_byte_offset <= offset <= self.end_offset + 1

    def read_from(self, offset: int) -> bytes:
        """The bytes from ``offset`` to the end; ``covers(offset)`` must hold."""
        if not self.covers(offset):
            raise ValueError(f"offset {offset} is not in the backlog")
        return bytes(self._buf[offset - self.first_byte_offset:])

    def resize(self, size: int) -> None:
        """CONFIG SET repl-backlog-size: keep the newest bytes that fit."""
        self.size = max(1, size)
        self.feed(b"")
