"""The HyperLogLog structure (pyredis.types.hll) without a server: register
packing against the bit-by-bit definition, sparse edits against a plain
register array, promotion to dense, the estimator's error, and corrupt
inputs. Byte-compatibility with Redis is checked in tests/compat/test_hll.py."""

from __future__ import annotations

import math
import random

import pytest

from pyredis.types import hll


def naive_get(dense: bytes, i: int) -> int:
    """Register i of a dense body: 6 bits from bit 6*i, LSB first."""
    bits = int.from_bytes(dense, "little")
    return (bits >> (6 * i)) & 63


def naive_pack(regs) -> bytes:
    bits = 0
    for i, r in enumerate(regs):
        bits |= r << (6 * i)
    return bits.to_bytes(hll.DENSE_SIZE - hll.HDR, "little")


def random_registers(rng, top=63) -> bytes:
    return bytes(rng.choice([0, 0, 0, 1, 2, 3, rng.randrange(top + 1)])
                 for _ in range(hll.REGISTERS))


def test_pack_and_unpack_match_the_bit_layout():
    rng = random.Random(1)
    regs = random_registers(rng)
    body = hll.pack_registers(regs)
    assert body == naive_pack(regs)
    h = bytearray(b"HYLL\x00" + bytes(11)) + body
    assert hll.dense_registers(h) == regs
    for i in (0, 1, 2, 3, 4, 16382, 16383):
        assert naive_get(body, i) == regs[i]


def test_dense_set_only_raises():
    rng = random.Random(2)
    h = bytearray(b"HYLL\x00" + bytes(11) + bytes(12288))
    regs = [0] * hll.REGISTERS
    for _ in range(5000):
        i, v = rng.randrange(hll.REGISTERS), rng.randrange(1, 64)
        changed = hll.dense_set(h, i, v)
        assert changed == (v > regs[i])
        regs[i] = max(regs[i], v)
    for i in (0, 16383):
        hll.dense_set(h, i, 63)
        regs[i] = 63
    assert hll.dense_registers(h) == bytes(regs)


def test_max_registers():
    rng = random.Random(3)
    a, b = random_registers(rng), random_registers(rng)
    assert hll.max_registers(a, b) == bytes(max(x, y) for x, y in zip(a, b))
    assert hll.max_registers(a, a) == a


def sparse_walk(h):
    """(offset, first register, span) of every opcode, the slow way."""
    out = []
    p, first = hll.HDR, 0
    while p < len(h):
        b = h[p]
        if b < 0x40:
            span, size = b + 1, 1
        elif b < 0x80:
            span, size = (((b & 0x3F) << 8) | h[p + 1]) + 1, 2
        else:
            span, size = (b & 3) + 1, 1
        out.append((p, first, span))
        p += size
        first += span
    return out


@pytest.mark.parametrize("seed", range(4))
def test_sparse_edits_keep_the_registers(seed):
    rng = random.Random(seed)
    h = hll.new()
    regs = [0] * hll.REGISTERS
    # crowd a few areas so that runs of VALs and short ZEROs appear
    spots = [rng.randrange(hll.REGISTERS - 300) for _ in range(4)]
    for step in range(700):
        i = rng.choice(spots) + rng.randrange(300) if rng.random() < 0.8 \
            else rng.randrange(hll.REGISTERS)
        v = rng.choice([1, 1, 2, 3, rng.randrange(1, 33)])
        changed = hll.sparse_set(h, i, v, 100_000)
        assert changed == (v > regs[i])
        regs[i] = max(regs[i], v)
        if step % 50 == 0:
            walk = sparse_walk(h)
            for p, first, span in walk[::7]:
                for r in (first, first + span - 1):
                    got = hll._locate(h, r)
                    assert got[:3] == (p, first, span)
    assert h[4] == hll.SPARSE
    assert hll.sparse_registers(h) == bytes(regs)
    # no two adjacent VALs that Redis's merge would have joined remain near edits,
    # and the string is exactly what its opcodes say
    assert sum(span for _, _, span in sparse_walk(h)) == hll.REGISTERS
    dense = bytearray(h)
    assert hll.to_dense(dense)
    assert len(dense) == hll.DENSE_SIZE and dense[:4] == b"HYLL" and dense[4] == hll.DENSE
    assert dense[5:16] == h[5:16]
    assert hll.dense_registers(dense) == bytes(regs)
    assert hll.count(dense) == hll.count(h)
    assert not hll.to_dense(dense)


def test_sparse_promotion():
    h = hll.new()
    hll.sparse_set(h, 5, 3, 3000)
    assert hll.sparse_set(h, 9, 33, 3000) == 1       # past VAL's 32: dense
    assert h[4] == hll.DENSE
    regs = hll.dense_registers(h)
    assert regs[5] == 3 and regs[9] == 33 and sum(regs) == 36
    small = hll.new()
    for i in range(0, 2000, 100):
        if small[4] == hll.SPARSE:
            hll.sparse_set(small, i, 1, 40)
            assert len(small) <= 40 or small[4] == hll.DENSE
        else:
            hll.dense_set(small, i, 1)
    assert small[4] == hll.DENSE
    assert sorted(i for i, r in enumerate(hll.dense_registers(small)) if r) == \
        list(range(0, 2000, 100))


def test_merge_into_sparse_and_dense():
    rng = random.Random(5)
    regs = bytearray(hll.REGISTERS)
    for _ in range(300):
        regs[rng.randrange(hll.REGISTERS)] = rng.randrange(1, 20)
    h = hll.new()
    hll.merge_into(h, bytes(regs), 3000)
    assert h[4] == hll.SPARSE and hll.registers(h) == bytes(regs)
    hll.merge_into(h, bytes(regs), 3000)
    assert hll.registers(h) == bytes(regs)
    tight = hll.new()
    hll.merge_into(tight, bytes(regs), 200)              # runs out of room: dense
    assert tight[4] == hll.DENSE and hll.registers(tight) == bytes(regs)


def test_estimates_are_close():
    # PFSELFTEST's bound: within 6 standard errors (1.04/sqrt(m)), sparse
    # and dense agreeing while both exist.
    rng = random.Random(6)
    sparse, dense = hll.new(), hll.new()
    hll.to_dense(dense)
    rel = 1.04 / math.sqrt(hll.REGISTERS)
    n = 0
    for checkpoint in (1, 10, 100, 1000, 10000, 60000):
        while n < checkpoint:
            n += 1
            e = rng.getrandbits(64).to_bytes(8, "little")
            hll.add(dense, e, 3000)
            hll.add(sparse, e, 3000)
        got = hll.count(dense)
        assert got == hll.count(sparse)
        assert abs(got - n) <= max(1, math.ceil(rel * 6 * n)), (n, got)


def test_estimator_edges():
    assert hll.count(hll.new()) == 0
    assert hll.count_registers(bytes(hll.REGISTERS)) == 0
    assert hll.count_registers(bytes([40]) * hll.REGISTERS) == 12994641697113596
    # past what llroundl can hold: LLONG_MIN's bits, as Redis on x86
    for top in (50, 51):
        card = hll.count_registers(bytes([top]) * hll.REGISTERS)
        assert card == 1 << 63 and hll.signed(card) == -(1 << 63)
    # values past Q+1 count for nothing (a dense string may hold up to 63)
    assert hll.count_registers(bytes([63]) * 8 + bytes(hll.REGISTERS - 8)) == \
        hll.estimate([hll.REGISTERS - 8] + [0] * 51)


def test_pattern_is_the_first_one_bit():
    for i in range(2000):
        e = b"%d" % i
        h = hll.murmurhash64a(e)
        index, count = hll.pattern(e)
        assert index == h & 16383
        rest = h >> 14
        expected = next(k for k in range(1, 52) if k == 51 or rest >> (k - 1) & 1)
        assert count == expected


def test_corrupt_sparse():
    for body in (b"\x7f\xfe", b"\x7f\xff\x00", b"", b"\x80"):
        h = bytearray(b"HYLL\x01" + bytes(11)) + body
        with pytest.raises(hll.Corrupt):
            hll.count(h)
        with pytest.raises(hll.Corrupt):
            hll.registers(h)
    # a VAL running past the end right after 16384 registers is read as valid
    # by Redis's merge and conversion, but not by its count
    h = bytearray(b"HYLL\x01" + bytes(11)) + b"\x7f\xff\x80"
    assert hll.registers(h) == bytes(hll.REGISTERS)
    with pytest.raises(hll.Corrupt):
        hll.count(h)
    short = bytearray(b"HYLL\x01" + bytes(11)) + b"\x00"
    with pytest.raises(hll.Corrupt):
        hll.sparse_set(short, 5000, 1, 3000)


def test_validity():
    assert hll.is_valid(hll.new())
    d = hll.new()
    hll.to_dense(d)
    assert hll.is_valid(d) and not hll.is_valid(d[:-1]) and not hll.is_valid(d + b"\x00")
    assert not hll.is_valid(b"HYLL\x02" + bytes(11))
    assert not hll.is_valid(b"HYLL\x01" + bytes(10))


def test_decode():
    h = hll.new()
    assert hll.decode(h) == b"Z:16384"
    hll.sparse_set(h, 1000, 2, 3000)
    hll.sparse_set(h, 1020, 3, 3000)
    hll.sparse_set(h, 1021, 3, 3000)
    # the example of Redis's format description
    assert hll.decode(h) == b"Z:1000 v:2,1 z:19 v:3,2 Z:15362"
    assert hll.cached_card(h) is None
    hll.set_card(h, 3)
    assert hll.cached_card(h) == 3
