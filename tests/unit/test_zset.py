"""The sorted set structure (types/zset.py) without a server: sort keys
order entries as Redis does, the parsers read scores and range bounds the
way Redis's C code does (tables checked against redis-server 6.2), the
operations agree with a naive model under random sequences, lex ranges
follow the ziplist scan for mixed scores, and the digest matches values
taken from Redis's DEBUG DIGEST-VALUE."""

from __future__ import annotations

import math

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings

from pyredis.commands.zsets import digest_zset
from pyredis.types import digest as dg
from pyredis.types.zset import (LEX_MAX, LEX_MIN, LexRange, ZSet, entry_key, format_score,
                                parse_lex_bound, parse_range_bound, parse_score, score_key,
                                strtod)

INF = math.inf
SCORES = st.one_of(st.floats(allow_nan=False), st.sampled_from([0.0, -0.0, INF, -INF, 1.0, 2.0]))
MEMBERS = st.binary(max_size=6)


def redis_order(entries):
    """Redis's order: score (with -0 == 0), then member bytes."""
    return sorted(entries, key=lambda e: (e[0] + 0.0, e[1]))


# -- sort keys ----------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(SCORES, MEMBERS), max_size=30))
def test_entry_key_order_is_redis_order(entries):
    by_key = sorted(entries, key=lambda e: entry_key(*e))
    assert [(s + 0.0, m) for s, m in by_key] == [(s + 0.0, m) for s, m in redis_order(entries)]


def test_score_key_edges():
    values = [-INF, -1.7976931348623157e308, -1.0, -5e-324, 0.0, 5e-324, 1.0, 1e308, INF]
    keys = [score_key(v) for v in values]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert score_key(-0.0) == score_key(0.0)
    assert all(len(k) == 8 for k in keys)
    assert entry_key(1.0, b"a") < entry_key(1.0, b"a\x00") < entry_key(1.0, b"b")


# -- parsing (tables checked against redis-server 6.2.14) ----------------------


@pytest.mark.parametrize("text,value", [
    (b"1", 1.0), (b"-1.5", -1.5), (b".5", 0.5), (b"5.", 5.0), (b"+.5e1", 5.0), (b"0x10", 16.0),
    (b"0x1p3", 8.0), (b"inf", INF), (b"+inf", INF), (b"-Infinity", -INF), (b"4e-320", 4e-320),
    (b"-0", -0.0), (b"0e5", 0.0), (b"1e308", 1e308),
    (b"1e400", None), (b"-1e400", None), (b"1e-400", None), (b"nan", None), (b"1_0", None),
    (b" 1", None), (b"1 ", None), (b"", None), (b"1e", None), (b"0x", None), (b"abc", None),
    (b"1\x00", None), (b"\xd9\xa3", None), (b"0x1p99999", None),
    # Zeros of zeros only take a shortcut past strtod; the rest do not.
    (b"0", 0.0), (b"+0", 0.0), (b"0.0", 0.0), (b".0", 0.0), (b"-.0", -0.0), (b"00", 0.0),
    (b"-0.000", -0.0), (b"0x0", 0.0), (b"0e-999", 0.0), (b"+-0", None), (b"0..0", None),
    (b".", None), (b"-", None), (b"0 ", None), (b"0_0", None),
    # Plain digits take another shortcut (redis-benchmark's scores).
    (b"000000012345", 12345.0), (b"9007199254740993", 9007199254740992.0),
    (b"9" * 299, float(b"9" * 299)), (b"9" * 400, None)])
def test_parse_score(text, value):
    got = parse_score(text)
    if value is None:
        assert got is None
    else:
        assert got == value and math.copysign(1, got) == math.copysign(1, value)


@pytest.mark.parametrize("text,bound", [
    (b"1", (1.0, False)), (b"(1", (1.0, True)), (b"", (0.0, False)), (b"(", (0.0, True)),
    (b" 1", (1.0, False)), (b"( 1", (1.0, True)), (b"1e400", (INF, False)),
    (b"-inf", (-INF, False)), (b"1\x00junk", (1.0, False)),
    (b"  (1", None), (b"1 ", None), (b"(nan", None), (b"1x", None), (b"0x", None), (b"1e", None),
    (b" ", None)])
def test_parse_range_bound(text, bound):
    assert parse_range_bound(text) == bound


@pytest.mark.parametrize("text,bound", [
    (b"-", (LEX_MIN, True)), (b"+", (LEX_MAX, True)), (b"[a", ((0, b"a"), False)),
    (b"(a", ((0, b"a"), True)), (b"[", ((0, b""), False)), (b"+\x00x", (LEX_MAX, True)),
    (b"", None), (b"a", None), (b"-x", None), (b"++", None)])
def test_parse_lex_bound(text, bound):
    assert parse_lex_bound(text) == bound


def test_strtod_reports_where_it_stopped():
    assert strtod(b"12abc") == (12.0, 2, False)
    assert strtod(b"  -3e2x")[:2] == (-300.0, 6)
    assert strtod(b"x") == (0.0, 0, False)
    assert strtod(b"1e999") == (INF, 5, True)
    assert strtod(b"1e-999") == (0.0, 6, True)


def test_format_score():
    assert format_score(1.1) == b"1.1000000000000001"
    assert format_score(-0.0) == b"-0"
    assert format_score(INF) == b"inf" and format_score(-INF) == b"-inf"
    assert format_score(4e-320) == b"3.999955468730732e-320"
    assert format_score(1e16) == b"10000000000000000"


# -- operations against a model ---------------------------------------------------

OPS = st.lists(st.one_of(
    st.tuples(st.just("add"), MEMBERS, SCORES),
    st.tuples(st.just("rem"), MEMBERS, st.none()),
    st.tuples(st.just("pop"), st.booleans(), st.none()),
    st.tuples(st.just("cut"), st.integers(0, 8), st.integers(0, 8))), max_size=40)


@settings(max_examples=200, deadline=None)
@given(OPS)
def test_operations_match_a_model(ops):
    z = ZSet()
    model: dict = {}
    for op, a, b in ops:
        if op == "add":
            if a in model:
                z.update(a, model[a], b)
            else:
                z.insert(a, b)
            model[a] = b
        elif op == "rem":
            assert z.remove(a) == (a in model)
            model.pop(a, None)
        elif op == "pop" and model:
            ordered = redis_order([(s, m) for m, s in model.items()])
            want = ordered[-1] if a else ordered[0]
            assert z.pop(a) == (want[1], want[0])
            del model[want[1]]
        elif op == "cut":
            ordered = redis_order([(s, m) for m, s in model.items()])
            lo, hi = min(a, len(ordered)), min(b, len(ordered))
            assert z.delete_slice(lo, hi) == max(0, hi - lo)
            for _, m in ordered[lo:hi]:
                del model[m]
        ordered = redis_order([(s, m) for m, s in model.items()])
        assert [(m, s) for s, m in ordered] == z.items()
        assert len(z) == len(model) == len(z.order)
    for rank, (s, m) in enumerate(redis_order([(s, m) for m, s in model.items()])):
        assert z.rank(m) == rank
        assert z.at(rank) == (model[m], m)


BIG_OPS = st.lists(st.one_of(
    st.tuples(st.just("set"), st.integers(0, 200), st.integers(-50, 50)),
    st.tuples(st.just("rem"), st.integers(0, 200), st.none()),
    st.tuples(st.just("rank"), st.integers(0, 200), st.none())), min_size=50, max_size=400)


@settings(max_examples=100, deadline=None)
@given(BIG_OPS)
def test_update_across_sublists_matches_a_model(ops):
    """ZSet.update works on the sorted list's sublists itself when no merge,
    split or positional index is involved: with a load factor of 8 sublists
    split and merge all the time, and ranks build the index in between."""
    z = ZSet()
    z.order._reset(8)
    model: dict = {}
    for op, i, score in ops:
        m = b"m%d" % i
        if op == "set":
            if m in model:
                z.update(m, model[m], float(score))
            else:
                z.insert(m, float(score))
            model[m] = float(score)
        elif op == "rem":
            assert z.remove(m) == (m in model)
            model.pop(m, None)
        elif m in model:
            want = redis_order([(s, k) for k, s in model.items()]).index((model[m], m))
            assert z.rank(m) == want
    z.order._check()
    assert [(m, s) for s, m in redis_order([(s, m) for m, s in model.items()])] == z.items()
    assert len(z.order) == len(model)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(MEMBERS, st.sampled_from([-INF, -1.0, 0.0, -0.0, 0.5, 1.0, 2.0, INF]),
                       max_size=12),
       st.sampled_from([-INF, -1.0, 0.0, 0.5, 1.0, 2.0, INF]), st.booleans(),
       st.sampled_from([-INF, -1.0, 0.0, 0.5, 1.0, 2.0, INF]), st.booleans())
def test_score_span(scores, lo, lo_ex, hi, hi_ex):
    z = ZSet.from_pairs(scores.items())
    i, j = z.score_span(lo, lo_ex, hi, hi_ex)
    got = [m for _, m in z.slice(i, j)]
    want = [m for s, m in redis_order([(s, m) for m, s in scores.items()])
            if (s > lo if lo_ex else s >= lo) and (s < hi if hi_ex else s <= hi)]
    assert got == want


LEX_BOUNDS = st.one_of(st.sampled_from([(LEX_MIN, True), (LEX_MAX, True)]),
                       st.tuples(st.tuples(st.just(0), MEMBERS), st.booleans()))


def _in_lex(r: LexRange, m: bytes) -> bool:
    return r.gte_min(m) and r.lte_max(m)


@settings(max_examples=300, deadline=None)
@given(st.sets(MEMBERS, max_size=12), LEX_BOUNDS, LEX_BOUNDS, st.booleans())
def test_lex_span_equal_scores(members, lo, hi, big):
    z = ZSet.from_pairs((m, 0.0) for m in members)
    z.big = big
    r = LexRange(lo[0], lo[1], hi[0], hi[1])
    i, j = z.lex_span(r)
    assert [m for _, m in z.slice(i, j)] == [m for m in sorted(members) if _in_lex(r, m)]


def test_lex_with_mixed_scores_follows_the_ziplist_scan():
    z = ZSet.from_pairs([(b"d", 1.0), (b"a", 2.0), (b"c", 3.0), (b"b", 4.0), (b"e", 5.0)])
    # Order: d a c b e. [b, [d: the first member >= b is d (rank 0), then the
    # walk goes while members are <= d: d, a, c, b.
    r = LexRange((0, b"b"), False, (0, b"d"), False)
    assert z.lex_span(r) == (0, 4)
    assert z.lex_first(r) == 0 and z.lex_last(r) == 3
    # The last member must reach min, the first stay under max.
    assert z.lex_first(LexRange((0, b"f"), False, LEX_MAX, True)) is None
    assert z.lex_span(LexRange(LEX_MIN, True, (0, b"c"), True)) == (0, 0)


def test_fit_and_encoding():
    z = ZSet.from_pairs([(b"a", 1.0)], entries=128, value=64)
    assert z.encoding == "ziplist"
    z = ZSet.from_pairs([(b"x" * 65, 1.0)], entries=128, value=64)
    assert z.encoding == "skiplist"
    z = ZSet.from_pairs([(b"a", 1.0), (b"b", 2.0)], entries=1, value=64)
    assert z.encoding == "skiplist"
    assert ZSet.from_pairs([(b"a", 1.0), (b"a", 3.0)]).items() == [(b"a", 3.0)]


# -- digest -----------------------------------------------------------------------


@pytest.mark.parametrize("pairs,hexdigest", [
    ([(b"a", 1.0)], "430190c6ed5abafff87d97b4f51a92796ed05895"),
    ([(b"a", 1.5), (b"b", 2.0)], "445b877af3c3ec83af30529ddbbdda3185172254"),
    ([(b"x", INF)], "170da0f6086ebb4e5fdb1597d0346b8fc8e0775c"),
])
def test_digest_matches_redis(pairs, hexdigest):
    z = ZSet.from_pairs(pairs)
    start = dg.mix(dg.ZERO, (3).to_bytes(4, "big"))
    assert digest_zset(start, z).hex() == hexdigest
    assert dg.value_digest(z, False).hex() == hexdigest
