"""The RESP request reader under random, mutated and hostile frames
(bounded for CI; ``python -m tests.fuzz.run --frames N`` for long runs).
See :mod:`.cases` for the properties checked."""

from __future__ import annotations

import os
import time

import hypothesis.strategies as st
import pytest
from hypothesis import given

from pyredis.protocol.reader import RequestReader

from . import cases, gen

fuzz = cases.fuzz_settings


@fuzz(400)
@given(rng=st.randoms(use_true_random=False))
def test_generated_streams(rng):
    with cases.bounded(5):
        cases.reader_case(rng, gen.frames(rng))


@fuzz(300)
@given(pieces=st.lists(st.one_of(st.binary(max_size=40),
                                 st.sampled_from(gen.AWKWARD + [b"*1\r\n", b"$4\r\n", b"PING",
                                                               b"*2\r\n$3\r\nGET\r\n"])),
                       min_size=1, max_size=12),
       rng=st.randoms(use_true_random=False))
def test_binary_pieces(pieces, rng):
    with cases.bounded(5):
        cases.reader_case(rng, pieces)


def _rss() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise KeyError("VmRSS")


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs /proc")
def test_declared_gigabyte_bulk_allocates_only_what_arrives():
    """A bulk declared at 1 GB (accepted: the limit is raised past it) costs
    the bytes that came, not the bytes announced; so does a count of
    1,048,576 arguments."""
    readers = []
    before = _rss()
    for header in (b"*2\r\n$3\r\nSET\r\n$1073741824\r\n", b"*1048576\r\n$3\r\nSET\r\n",
                   b"*1\r\n$1073741824\r\n"):
        for _ in range(20):
            r = RequestReader(max_bulk_len=2 << 30, max_query_buffer=4 << 30)
            assert r.feed(header + b"x" * 1000) == [] and r.error is None
            assert r.pending == len(header) + 1000
            readers.append(r)
    assert _rss() - before < 32 * 1024 * 1024
    # And at the default limit a gigabyte is refused outright.
    r = RequestReader()
    r.feed(b"*2\r\n$3\r\nSET\r\n$1073741824\r\n")
    assert r.error.args[0] == "Protocol error: invalid bulk length"


def test_deep_nesting_is_refused_at_once():
    for depth in (2, 8, 1000, 100_000):
        for count in (b"1", b"2", b"1048576"):
            t0 = time.perf_counter()
            r = RequestReader()
            assert r.feed((b"*" + count + b"\r\n") * depth) == []
            assert r.error.args[0] == "Protocol error: expected '$', got '*'", (depth, count)
            assert time.perf_counter() - t0 < 0.5


def test_reader_keeps_serving_after_every_kind_of_garbage():
    """A fresh reader per connection: after garbage on one, the next
    connection's requests read as ever (no state shared between readers)."""
    import random
    rng = random.Random(12)
    for _ in range(200):
        cases.read_all(gen.splits(rng, gen.hostile_frame(rng)))
        assert cases.read_all([b"*1\r\n$4\r\nPING\r\nPING\r\n"]) == ([[b"PING"], [b"PING"]],
                                                                      None, 0)
