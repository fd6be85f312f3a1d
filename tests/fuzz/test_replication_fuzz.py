"""The replication codecs fed garbage: the classic replica handshake (a
hostile or broken master) and the global log's RecordDecoder (the global
link's own codec is in test_glink_fuzz.py). Only their documented events
and errors may come out, within a time bound, with buffers no larger than
what was fed."""

from __future__ import annotations

import hypothesis.strategies as st
import pytest
from hypothesis import given

from . import cases

FUZZ = cases.fuzz_settings(400)


@FUZZ
@given(rng=st.randoms(use_true_random=False))
def test_handshake_fed_garbage(rng):
    with cases.bounded(5):
        cases.handshake_case(rng)


@FUZZ
@given(rng=st.randoms(use_true_random=False))
def test_record_decoder_fed_garbage(rng):
    with cases.bounded(5):
        cases.record_case(rng)


def test_record_decoder_waits_for_a_huge_record_without_allocating():
    from pyredis.replication.globallog import CorruptRecord, RecordDecoder
    dec = RecordDecoder()
    dec.feed((1 << 31).to_bytes(4, "little") + b"\x00" * 4)
    assert dec.next() is None and dec.pending == 8
    small = RecordDecoder(max_body=1 << 20)
    small.feed((1 << 31).to_bytes(4, "little") + b"\x00" * 4)
    with pytest.raises(CorruptRecord):
        small.next()
