"""The global replication link fed garbage as a peer would send it: its
``Decoder`` (framing), and a ``SourceLink`` and a ``ReceiverLink`` over an
in-process member. Only ``LinkProtocolError`` may come out (the driver then
closes the connection), within a time bound, with a buffer no larger than
what was fed (plus one bounded inflate step when the stream is compressed:
half the cases wrap the garbage in a zstd stream, valid or corrupt)."""

from __future__ import annotations

import hypothesis.strategies as st
import pytest
from hypothesis import given

from . import cases

FUZZ = cases.fuzz_settings(250)


@FUZZ
@given(rng=st.randoms(use_true_random=False))
def test_link_decoder_fed_garbage(rng):
    with cases.bounded(5):
        cases.decoder_case(rng)


@pytest.fixture(scope="module")
def link():
    f = cases.LinkFuzz()
    yield f
    f.close()


@FUZZ
@given(rng=st.randoms(use_true_random=False))
def test_link_ends_fed_garbage(link, rng):
    with cases.bounded(5):
        link.case(rng)


# -- what the fuzzer found: fields the member used unchecked --------------------------------


def _state(db: int):
    from pyredis.replication.gmember import KeyState
    return KeyState(db, b"k", 1 << 40, 0, 0, b"")


def _op(db: int = 0, ts: int = None, commands=None):
    from pyredis.replication.globallog import KeyVersion, Record
    from pyredis.replication.hlc import LOGICAL_BITS
    from pyredis.replication.gmember import EPOCH_MS
    if ts is None:
        ts = (EPOCH_MS + 1000) << LOGICAL_BITS
    return Record(9, 1, ts, db, commands or [[b"SET", b"k", b"v"]], [KeyVersion(db, b"k", 0, 0)])


def _bad_messages():
    from pyredis.replication import glink as g
    return {
        "KEYFETCH db 16": ("source", g.KeyFetch(16, b"k", 0)),
        "KEYFETCH db 65535": ("source", g.KeyFetch(65535, b"k", 0)),
        "KEYVALUE db 16": ("receiver", g.KeyValue(_state(16))),
        "SNAPKEY db 16": ("receiver", g.SnapKey(_state(16))),
        "SLOTKEYS db 16": ("receiver", g.SlotKeys([(16, b"k", 5)])),
        "OP db 16": ("receiver", g.Op(_op(db=16))),
        "OP ts beyond versions": ("receiver", g.Op(_op(ts=(1 << 64) - 1))),
        "OP SELECT x": ("receiver", g.Op(_op(commands=[[b"SELECT", b"x"], [b"FLUSHDB"]]))),
        "OP SELECT 99": ("receiver", g.Op(_op(commands=[[b"SELECT", b"99"], [b"FLUSHDB"]]))),
        "OP SELECT alone": ("receiver", g.Op(_op(commands=[[b"SELECT"], [b"FLUSHDB"]]))),
    }


@pytest.mark.parametrize("case", ["KEYFETCH db 16", "KEYFETCH db 65535", "KEYVALUE db 16",
                                  "SNAPKEY db 16", "SLOTKEYS db 16", "OP db 16",
                                  "OP ts beyond versions", "OP SELECT x", "OP SELECT 99",
                                  "OP SELECT alone"])
def test_out_of_range_fields_close_the_link(link, case):
    """A database index past the member's databases, an op timestamp no
    version can hold, a SELECT of no database: LinkProtocolError (the link
    closes), where the member used to fail with IndexError or ValueError
    half-way through."""
    from pyredis.replication import glink
    to, message = _bad_messages()[case]
    if to == "source":
        end = glink.SourceLink(link.member)
        data = glink.encode(glink.Hello(9, {}))
    else:
        end = link.receiver = link.receiver or glink.ReceiverLink(link.member)
        end.connect()
        data = b""
        if isinstance(message, glink.SnapKey):
            data = glink.encode(glink.SnapBegin({}, []))
    with pytest.raises(glink.LinkProtocolError):
        end.receive_data(data + glink.encode(message))
    if to == "source":
        end.close()
    else:
        end.disconnected()
