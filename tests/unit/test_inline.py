"""split_args against sdssplitargs's rules (inline commands, redis.conf
lines). The rows of TABLE above "more" were checked against real Redis 6.2
by sending ``RPUSH l <line>`` inline and reading the list back (None: Redis
answered "unbalanced quotes in request")."""

from __future__ import annotations

import pytest

from pyredis.protocol.inline import split_args

TABLE = [
    (b'a b c', [b'a', b'b', b'c']),
    (b'  a   b  ', [b'a', b'b']),
    (b'a\tb\rc\x0bd\x0ce', [b'a', b'b', b'c\x0bd\x0ce']),
    (b'"a b" c', [b'a b', b'c']),
    (b"'a b' c", [b'a b', b'c']),
    (b'"a\\nb"', [b'a\nb']),
    (b"'a\\nb'", [b'a\\nb']),
    (b'"\\x41\\x4a\\x4A\\xzz\\x4"', [b'AJJxzzx4']),
    (b'"\\X41"', [b'X41']),
    (b'"\\"q\\""', [b'"q"']),
    (b"'it\\'s'", [b"it's"]),
    (b"'\\\\'", None),
    (b'"\\\\"', [b'\\']),
    (b'""', [b'']),
    (b"''", [b'']),
    (b'"" ""', [b'', b'']),
    (b'a"b c"d', None),
    (b"a'b c'd", None),
    (b'"a"\x0bb', [b'a', b'b']),
    (b'"a"\x0cb', [b'a', b'b']),
    (b'"\\n\\r\\t\\b\\a\\v\\z"', [b'\n\r\t\x08\x07vz']),
    (b'x"y"', [b'xy']),
    (b"x'y'", [b'xy']),
    (b'\xff\xfe "\xc3\xa9"', [b'\xff\xfe', b'\xc3\xa9']),
    (b'"a\\', None),
    (b'"a"b', None),
    (b"'a'b", None),
    (b'"abc', None),
    (b"'abc", None),
    (b'a "b', None),
    (b'\x0b a', [b'a']),
    # more, from the same rules
    (b"", []),
    (b"   \t ", []),
    (b"GET k", [b"GET", b"k"]),
    (b'"a b"  "c"', [b"a b", b"c"]),
    (b'"\\x00"', [b"\x00"]),
    (b'"\\xff\\xFF"', [b"\xff\xff"]),
    (b'"a"\tb', [b"a", b"b"]),
    (b"'a'\rb", [b"a", b"b"]),
    (b"'a''b'", None),
    (b'"', None),
    (b"'", None),
]


@pytest.mark.parametrize("line,expected", TABLE, ids=[repr(r[0])[:30] for r in TABLE])
def test_split_args(line, expected):
    assert split_args(line) == expected


def test_nul_ends_the_line():
    # sdssplitargs reads a C string (redis.conf lines; the reader never
    # passes a line holding a NUL).
    assert split_args(b"a b\x00c d") == [b"a", b"b"]
    assert split_args(b'"a\x00" b') is None


def test_plain_lines_take_the_fast_way_with_the_same_result():
    line = b"SET key:1 value-with-no-quotes  \t extra"
    assert split_args(line) == [b"SET", b"key:1", b"value-with-no-quotes", b"extra"]
    assert split_args(line + b'"') is None
