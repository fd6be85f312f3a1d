"""The x87 long double emulation behind INCRBYFLOAT: parsing (strtold as
Redis accepts it), rounding, addition and "%.17Lf" printing, checked
against exact rational arithmetic and known values of the real FPU."""

from __future__ import annotations

import random
from fractions import Fraction

import pytest

from pyredis.types import longdouble as ld


def exact(v) -> Fraction:
    n, e = v
    return Fraction(n) * Fraction(2) ** e


@pytest.mark.parametrize("text,expected", [
    (b"10.5", b"10.5"), (b"0.1", b"0.1"), (b"-0", b"0"), (b"1e3", b"1000"), (b"5.0e3", b"5000"),
    (b"0x1p3", b"8"), (b"0X.8", b"0.5"), (b"0x1.", b"1"), (b".5", b"0.5"), (b"5.", b"5"),
    (b"+5", b"5"), (b"-.5e-1", b"-0.05"), (b"1E+2", b"100"), (b"00012", b"12"),
    (b"1e-20", b"0"), (b"-1e-20", b"0"), (b"0.000003814697265625", b"0.00000381469726562"),
    (b"0.000011444091796875", b"0.00001144409179688"),
    (b"9223372036854775807", b"9223372036854775807"),
    # 2**64 + 1 needs 65 bits: the tie goes to the even significand.
    (b"18446744073709551617", b"18446744073709551616"),
    (b"18446744073709551619", b"18446744073709551620"),
])
def test_parse_and_format(text, expected):
    assert ld.format_human(ld.parse(text)) == expected


@pytest.mark.parametrize("text", [
    b"", b" 1", b"1 ", b"\t1", b"1\x00", b"\x00", b"1_0", b"0x", b"0xp1", b"1e", b"1e+", b".",
    b"e5", b"nan", b"NaN", b"nan(1)", b"infinit", b"abc", b"1e5000", b"-1e5000", b"1e-5000",
    b"1.2e4932", b"0x1p16384", b"0x1p-16446", b"1e-4951", b"1" * 5120, b"++1", b"--1", b"1.2.3",
])
def test_parse_refuses(text):
    assert ld.parse(text) is None


def test_parse_infinities():
    for t in (b"inf", b"-inf", b"+INF", b"Infinity", b"-infinity"):
        assert ld.parse(t) is ld.INF


def test_range_edges():
    smallest = ld.parse(b"0x1p-16445")
    assert smallest == (1, -16445)
    assert ld.parse(b"0x1.8p-16446") == (1, -16445)  # 0.75 of the smallest: rounds up
    assert ld.parse(b"4e-4951") == (1, -16445)
    biggest = ld.parse(b"0x1.fffffffffffffffep16383")
    assert exact(biggest) == Fraction(2 ** 64 - 1) * 2 ** (16383 - 63)
    assert ld.add(biggest, biggest) is ld.INF
    assert ld.add(biggest, (-1, 0)) == biggest
    assert ld.parse(b"0." + b"1" * 5117) is not None
    assert ld.parse(b"0." + b"1" * 5118) is None  # 5120 characters: too long
    assert ld.parse(b"1e4932") is not None


def test_add_rounds_to_nearest_even():
    one = ld.parse(b"1")
    tiny = (1, -64)          # half an ulp of 1.0
    assert exact(ld.add(one, tiny)) == 1
    assert exact(ld.add(ld.add(one, (1, -63)), tiny)) == 1 + Fraction(2, 2 ** 63)
    just_over = (3, -65)     # 0.75 ulp
    assert exact(ld.add(one, just_over)) == 1 + Fraction(1, 2 ** 63)
    three_halves_ulp = (3, -64)
    assert exact(ld.add(one, three_halves_ulp)) == 1 + Fraction(2, 2 ** 63)
    assert ld.add((5, 0), (-5, 0)) == (0, 0)
    assert ld.add(ld.INF, (1, 0)) is ld.INF


def test_ten_point_five_plus_point_one():
    # The case a 53-bit double gets wrong (10.59999999999999964).
    total = ld.add(ld.parse(b"10.5"), ld.parse(b"0.1"))
    assert ld.format_human(total) == b"10.6"
    assert ld.format_human(ld.add(ld.parse(b"0.1"), ld.parse(b"0.2"))) == b"0.3"


def test_random_rounding_is_exact():
    rng = random.Random(1)
    for _ in range(2000):
        p = rng.getrandbits(rng.randint(1, 200)) + 1
        q = rng.getrandbits(rng.randint(1, 200)) + 1
        v = ld.round_ratio(False, p, q)
        n, e = v
        assert n.bit_length() <= 64
        # Nearest: no neighbour on the grid is closer.
        x = Fraction(p, q)
        err = abs(exact(v) - x)
        ulp = Fraction(2) ** e
        assert err <= ulp / 2
        if err == ulp / 2:
            assert n % 2 == 0


def test_random_parse_matches_fraction():
    rng = random.Random(2)
    for _ in range(1000):
        digits = rng.randint(1, 10 ** rng.randint(1, 40))
        exp = rng.randint(-60, 60)
        text = b"%de%d" % (digits, exp)
        v = ld.parse(text)
        x = Fraction(digits) * Fraction(10) ** exp
        err = abs(exact(v) - x)
        assert err <= Fraction(2) ** v[1] / 2


def test_format_rounds_half_even_and_strips():
    assert ld.format_human((1, -18)) == b"0.00000381469726562"   # exact tie: down to even
    assert ld.format_human((3, -18)) == b"0.00001144409179688"   # exact tie: up to even
    assert ld.format_human((-5, -1)) == b"-2.5"
    assert ld.format_human((-1, -100)) == b"0"
    assert ld.format_human((0, 0)) == b"0"
    assert ld.format_human((7, 0)) == b"7"
    big = ld.format_human((1, 16000))
    assert len(big) == 4817 and big.startswith(b"3019") and big.endswith(b"9376")


def test_huge_digits_beyond_python_limit():
    v = ld.parse(b"1" * 4900)
    text = ld.format_human(v)
    assert len(text) == 4900 and text.startswith(b"11111111111111111111")
    v = ld.parse(b"0x1.fffffffffffffffep16383")
    assert len(ld.format_human(v)) == 4933
