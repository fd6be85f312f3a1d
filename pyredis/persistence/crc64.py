"""CRC-64/Jones, the checksum Redis puts at the end of RDB files and DUMP
payloads (the reveng catalogue's CRC-64/REDIS: polynomial
0xad93d23594c935a9, reflected input and output, initial value 0, no final
xor; the check value of b"123456789" is 0xe9c6d914c4b8d9ca).

The arithmetic is done by the ``anycrc`` package (C, table-driven): several
GB/s, where a pure-Python table loop manages a few MB/s, which would make
checksumming a large snapshot cost more than writing it.
"""

from __future__ import annotations

import anycrc

_MODEL = anycrc.Model("CRC64-REDIS")


def crc64(data, crc: int = 0) -> int:
    """The CRC of ``data`` (bytes-like), continuing from ``crc``."""
    return _MODEL.calc(data, crc)
