"""Argument parsing shared by handlers, with Redis's error texts.

Integers follow Redis's string2ll (no spaces, no '+', no leading zeros,
64-bit range); floats follow strtod as Redis uses it (no spaces, 'inf'
allowed, NaN refused).
"""

from __future__ import annotations

import math

from ..errors import NOT_FLOAT, NOT_INTEGER, SYNTAX, CommandError

LLONG_MIN = -(2 ** 63)
LLONG_MAX = 2 ** 63 - 1


def to_int(b: bytes) -> int | None:
    """Redis's string2ll: the value, or None if ``b`` is not a canonical
    64-bit integer."""
    n = len(b)
    if n == 0 or n > 20:
        return None
    if b.isdigit():
        if b[0] == 48 and n > 1:
            return None
        v = int(b)
        return v if v <= LLONG_MAX else None
    if b[0] == 45 and n > 1 and b[1:].isdigit() and b[1] != 48:
        v = int(b)
        return v if v >= LLONG_MIN else None
    return None


def parse_int(b: bytes, error: str = NOT_INTEGER) -> int:
    v = to_int(b)
    if v is None:
        raise CommandError(error)
    return v


def to_float(b: bytes) -> float | None:
    """strtod as Redis's getDoubleFromObject accepts it, or None."""
    if not b or b[0] in b" \t\n\r\x0b\x0c" or b[-1] in b" \t\n\r\x0b\x0c":
        return None
    try:
        v = float(b)
    except ValueError:
        return None
    if math.isnan(v) or b"_" in b:
        return None
    return v


def parse_float(b: bytes, error: str = NOT_FLOAT) -> float:
    v = to_float(b)
    if v is None:
        raise CommandError(error)
    return v


def syntax_error() -> CommandError:
    return CommandError(SYNTAX)
