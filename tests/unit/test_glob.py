"""Glob matching (pyredis.types.glob): Redis's stringmatchlen semantics.

The table's expectations were taken from real Redis 6.2 (KEYS / CONFIG GET);
tests/compat/test_keys.py keeps comparing random patterns with it."""

from __future__ import annotations

import random
import time

import pytest

from pyredis.types.glob import _STAR, compile_pattern, is_literal, match, tokenize

CASES = [
    # pattern, subject, matches
    (b"", b"", True),
    (b"", b"a", False),
    (b"*", b"", False),  # KEYS/SCAN special-case the lone "*" themselves
    (b"**", b"", False),
    (b"?", b"", False),
    (b"*", b"anything", True),
    (b"a*", b"a", True),
    (b"a*", b"abc", True),
    (b"*c", b"abc", True),
    (b"*b*", b"abc", True),
    (b"*b*", b"ac", False),
    (b"a*b*c", b"aXbYc", True),
    (b"a*b*c", b"aXcYb", False),
    (b"a?c", b"abc", True),
    (b"a?c", b"ac", False),
    (b"h[ae]llo", b"hello", True),
    (b"h[ae]llo", b"hillo", False),
    (b"h[^e]llo", b"hallo", True),
    (b"h[^e]llo", b"hello", False),
    (b"h[a-b]llo", b"hbllo", True),
    (b"h[b-a]llo", b"hallo", True),  # reversed range
    (b"h[a-b]llo", b"hcllo", False),
    (b"\\*", b"*", True),
    (b"\\*", b"a", False),
    (b"\\?", b"?", True),
    (b"a\\", b"a\\", True),  # trailing backslash is literal
    (b"\\", b"\\", True),
    (b"[", b"[", False),  # an open class with no members
    (b"[", b"a", False),
    (b"[^", b"x", True),  # open negated class: any byte
    (b"[ab", b"a", True),  # the class runs to the end
    (b"[ab", b"b", True),
    (b"[ab", b"ab", False),
    (b"[]", b"]", False),
    (b"[]a]", b"]", False),  # ']' closes at once; then 'a]' must follow
    (b"[]a]", b"a]", False),
    (b"[^]", b"x", True),
    (b"[^]", b"", False),
    (b"[\\]]", b"]", True),
    (b"[\\-]", b"-", True),
    (b"[a-]", b"]", True),  # range ']'..'a', class left open
    (b"[a-]", b"-", False),
    (b"[a-]x", b"]x", False),  # 'x' is one more class member
    (b"[a-]x", b"x", True),
    (b"[-a]", b"-", True),
    (b"[a-c-e]", b"-", True),
    (b"[a-c-e]", b"d", False),
    (b"[\\", b"\\", True),
    (b"[a-\xff]", b"b", False),  # signed chars: the range is -1..97
    (b"[a-\xff]", b"a", True),
    (b"[a-\xff]", b"\x00", True),
    (b"[a-\xff]", b"\xff", True),
    (b"[a-\xff]", b"\x80", False),
    (b"[\x80-\xff]", b"\x90", True),
    (b"[\x80-\xff]", b"a", False),
    (b"[\x00-\x7f]", b"\x80", False),
    (b"*\x00*", b"a\x00b", True),
    (b"?", b"\x00", True),
    (b"*?", b"a", True),
    (b"?*?", b"a", False),
    (b"a**b", b"ab", True),
    (b"*a*a*a*", b"aaa", True),
    (b"*a*a*a*", b"aa", False),
]


@pytest.mark.parametrize("pattern,subject,expected", CASES)
def test_cases(pattern, subject, expected):
    assert match(pattern, subject) is expected


NOCASE = [
    (b"MAXMEMORY", b"maxmemory", True),
    (b"maxmemory", b"MAXMEMORY", True),
    (b"[M]axmemory", b"maxmemory", True),
    (b"[\\M]axmemory", b"maxmemory", False),  # escaped class members are exact
    (b"[\\m]axmemory", b"maxmemory", True),
    (b"[L-N]axmemory", b"maxmemory", True),
    (b"[l-n]AXMEMORY", b"maxmemory", True),
    (b"\\MAX*", b"maxmemory", True),  # escapes outside a class ignore case
    (b"[^M]axmemory", b"maxmemory", False),
    (b"[A-z]", b"_", False),  # the ends are lowered: a..z
    (b"[Z-a]", b"a", False),  # lowered ends z..a: empty
]


@pytest.mark.parametrize("pattern,subject,expected", NOCASE)
def test_nocase(pattern, subject, expected):
    assert match(pattern, subject, nocase=True) is expected


def _oracle(tokens, s):
    """Plain recursive backtracking over the tokens (exponential, fine for
    the tiny inputs here), with Redis's empty-subject rule applied by the
    caller."""
    if not tokens:
        return not s
    t = tokens[0]
    if t is _STAR:
        return any(_oracle(tokens[1:], s[i:]) for i in range(len(s) + 1))
    if not s:
        return False
    ok = s[0] == t if isinstance(t, int) else bool(t[s[0]])
    return ok and _oracle(tokens[1:], s[1:])


@pytest.mark.parametrize("seed", range(4))
def test_segments_agree_with_backtracking(seed):
    rng = random.Random(seed)
    pieces = [b"a", b"b", b"*", b"?", b"[ab]", b"[^a]", b"\\*", b"*"]
    for _ in range(3000):
        pattern = b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 7)))
        subject = bytes(rng.choice(b"ab*") for _ in range(rng.randint(0, 8)))
        expected = (not pattern) if not subject else _oracle(tokenize(pattern), subject)
        assert match(pattern, subject) is expected, (pattern, subject)


def test_no_exponential_blowup():
    subject = b"a" * 5000
    t0 = time.perf_counter()
    for pattern in (b"a*" * 30 + b"b", b"*?" * 30 + b"b", b"*[a]" * 30 + b"*b",
                    b"*" + b"[ab]" * 40 + b"*c*", b"*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*" + b"b"):
        assert match(pattern, subject) is False
    assert time.perf_counter() - t0 < 2.0


def test_compiled_patterns_are_reused():
    assert compile_pattern(b"user:*") is compile_pattern(b"user:*")
    assert compile_pattern(b"x" * 1000 + b"*")(b"x" * 1000 + b"tail")


def test_is_literal():
    assert is_literal(b"plain:key")
    assert is_literal(b"")
    for p in (b"a*", b"a?", b"[a]", b"a\\b"):
        assert not is_literal(p)
