"""The reply encoder: each typed value to its exact RESP2 and RESP3 bytes
(the table in protocol/encoder.py's docstring)."""

from __future__ import annotations

import math

import pytest

from pyredis.errors import CommandError
from pyredis.protocol import (EMPTY_ARRAY, NULL_ARRAY, OK, ONE, PONG, QUEUED, ZERO, Push, Raw,
                              Simple, Verbatim, encode, error_bytes, format_double)

# value, RESP2, RESP3
TABLE = [
    (b"abc", b"$3\r\nabc\r\n", b"$3\r\nabc\r\n"),
    (b"", b"$0\r\n\r\n", b"$0\r\n\r\n"),
    (b"a\r\nb", b"$4\r\na\r\nb\r\n", b"$4\r\na\r\nb\r\n"),
    (bytearray(b"xy"), b"$2\r\nxy\r\n", b"$2\r\nxy\r\n"),
    (memoryview(b"xy"), b"$2\r\nxy\r\n", b"$2\r\nxy\r\n"),
    (0, b":0\r\n", b":0\r\n"),
    (-42, b":-42\r\n", b":-42\r\n"),
    (2 ** 63 - 1, b":9223372036854775807\r\n", b":9223372036854775807\r\n"),
    (True, b":1\r\n", b":1\r\n"),
    (None, b"$-1\r\n", b"_\r\n"),
    (NULL_ARRAY, b"*-1\r\n", b"_\r\n"),
    ([], b"*0\r\n", b"*0\r\n"),
    ((), b"*0\r\n", b"*0\r\n"),
    ([b"a", 1, None], b"*3\r\n$1\r\na\r\n:1\r\n$-1\r\n", b"*3\r\n$1\r\na\r\n:1\r\n_\r\n"),
    ([[b"a"], [], [NULL_ARRAY]], b"*3\r\n*1\r\n$1\r\na\r\n*0\r\n*1\r\n*-1\r\n",
     b"*3\r\n*1\r\n$1\r\na\r\n*0\r\n*1\r\n_\r\n"),
    ({}, b"*0\r\n", b"%0\r\n"),
    ({b"k": b"v", b"n": 2}, b"*4\r\n$1\r\nk\r\n$1\r\nv\r\n$1\r\nn\r\n:2\r\n",
     b"%2\r\n$1\r\nk\r\n$1\r\nv\r\n$1\r\nn\r\n:2\r\n"),
    ({b"m": {b"x": [b"y"]}}, b"*2\r\n$1\r\nm\r\n*2\r\n$1\r\nx\r\n*1\r\n$1\r\ny\r\n",
     b"%1\r\n$1\r\nm\r\n%1\r\n$1\r\nx\r\n*1\r\n$1\r\ny\r\n"),
    ({b"a"}, b"*1\r\n$1\r\na\r\n", b"~1\r\n$1\r\na\r\n"),
    (frozenset(), b"*0\r\n", b"~0\r\n"),
    (1.5, b"$3\r\n1.5\r\n", b",1.5\r\n"),
    (1e30, b"$5\r\n1e+30\r\n", b",1e+30\r\n"),
    (0.1, b"$19\r\n0.10000000000000001\r\n", b",0.10000000000000001\r\n"),
    (1e-05, b"$22\r\n1.0000000000000001e-05\r\n", b",1.0000000000000001e-05\r\n"),
    (123456789012345678.0, b"$22\r\n1.2345678901234568e+17\r\n", b",1.2345678901234568e+17\r\n"),
    (3.0, b"$1\r\n3\r\n", b",3\r\n"),
    (-0.0, b"$2\r\n-0\r\n", b",-0\r\n"),
    (math.inf, b"$3\r\ninf\r\n", b",inf\r\n"),
    (-math.inf, b"$4\r\n-inf\r\n", b",-inf\r\n"),
    (math.nan, b"$3\r\nnan\r\n", b",nan\r\n"),
    (Simple(b"OK"), b"+OK\r\n", b"+OK\r\n"),
    (Simple(b"QUEUED"), b"+QUEUED\r\n", b"+QUEUED\r\n"),
    (Verbatim(b"# Server\r\nx:1\r\n"), b"$15\r\n# Server\r\nx:1\r\n\r\n",
     b"=19\r\ntxt:# Server\r\nx:1\r\n\r\n"),
    (Push([b"message", b"ch", b"hi"]), b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n",
     b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n"),
    (Raw(b"+whatever\r\n"), b"+whatever\r\n", b"+whatever\r\n"),
    (OK, b"+OK\r\n", b"+OK\r\n"),
    (PONG, b"+PONG\r\n", b"+PONG\r\n"),
    (QUEUED, b"+QUEUED\r\n", b"+QUEUED\r\n"),
    (ZERO, b":0\r\n", b":0\r\n"),
    (ONE, b":1\r\n", b":1\r\n"),
    (EMPTY_ARRAY, b"*0\r\n", b"*0\r\n"),
    (CommandError("ERR syntax error"), b"-ERR syntax error\r\n", b"-ERR syntax error\r\n"),
    # errors inside arrays (EXEC results) and raw pieces inside arrays
    ([OK, CommandError("WRONGTYPE x"), 5], b"*3\r\n+OK\r\n-WRONGTYPE x\r\n:5\r\n",
     b"*3\r\n+OK\r\n-WRONGTYPE x\r\n:5\r\n"),
    ([None, NULL_ARRAY, 1.5], b"*3\r\n$-1\r\n*-1\r\n$3\r\n1.5\r\n", b"*3\r\n_\r\n_\r\n,1.5\r\n"),
]


@pytest.mark.parametrize("value,resp2,resp3", TABLE, ids=[repr(v)[:30] for v, _, _ in TABLE])
def test_encode(value, resp2, resp3):
    assert encode(value) == resp2
    assert encode(value, resp3=False) == resp2
    assert encode(value, resp3=True) == resp3
    # the same value nested one level down
    assert encode([value]) == b"*1\r\n" + resp2
    assert encode([value], True) == b"*1\r\n" + resp3


def test_set_order_is_kept():
    items = {b"%d" % i for i in range(20)}
    body = b"".join(b"$%d\r\n%b\r\n" % (len(x), x) for x in items)
    assert encode(items, True) == b"~20\r\n" + body


def test_error_lines_are_one_line():
    assert error_bytes("ERR a\r\nb\nc") == b"-ERR a  b c\r\n"
    assert encode(CommandError("ERR x\ny")) == b"-ERR x y\r\n"
    assert error_bytes("ERR caf\u00e9") == "-ERR caf\u00e9\r\n".encode()
    # raw input bytes quoted in an error go out as they came in
    assert error_bytes(b"ERR `\xff\xc3\xa9`".decode("utf-8", "surrogateescape")) == \
        b"-ERR `\xff\xc3\xa9`\r\n"
    assert error_bytes("ERR \ud800") == b"-ERR ?\r\n"


def test_format_double():
    assert format_double(1.5) == b"1.5"
    assert format_double(1e30) == b"1e+30"
    assert format_double(math.inf) == b"inf"
    assert format_double(-math.inf) == b"-inf"
    assert format_double(10.0) == b"10"
    assert format_double(2.0 ** 70) == b"1.1805916207174113e+21"


def test_unknown_types_are_refused():
    with pytest.raises(TypeError):
        encode(object())
    with pytest.raises(TypeError):
        encode([1, object()], True)


def test_bulks_of_one_length_and_of_mixed_lengths_encode_alike():
    # Arrays whose bulks all have one length take a one-join path; lists the
    # length sample lets through but that are mixed (the odd one out between
    # the sampled first, middle and last) must not.
    from pyredis.protocol.encoder import bulk_array, encode_bulks

    def plain(items):
        return b"".join(b"$%d\r\n%b\r\n" % (len(x), x) for x in items)

    cases = [[b"xxx"] * 100, [b""] * 7, [b"a"], [b"y" * 5000] * 3, [b"y" * 4095] * 2,
             [b"ab", b"c", b"ab", b"ab", b"ab"], [b"ab", b"ab", b"ab", b"c", b"ab"],
             [b"element:%d" % i for i in range(100)], [b"x" * i for i in range(50)],
             [b"\r\n$3\r\n"] * 4]
    for items in cases:
        assert encode_bulks(items) == plain(items), items[:5]
        assert bulk_array(items) == b"*%d\r\n" % len(items) + plain(items)
