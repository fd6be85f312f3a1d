"""Input generators for the fuzzers, all driven by one ``random.Random`` so
that a case is replayed exactly from its seed (hypothesis hands the tests a
``Random`` it controls; the long runner seeds one per case).

Byte inputs come in three kinds, as the issue lists them: well-formed
frames (multibulk and inline requests with awkward payloads: CRLF, NUL,
invalid UTF-8, empty), hostile frames (huge declared lengths and counts,
deep ``*`` nesting, negative and non-canonical numbers, long lines,
foreign RESP types) and mutations of either (bytes replaced, inserted,
deleted, duplicated, a number swapped for a huge one, a cut). A stream is
a few of them back to back, delivered in reads split at random offsets.
"""

from __future__ import annotations

import random

# Payload bytes that matter to a RESP parser, and text that is not UTF-8.
AWKWARD = [b"", b"\r\n", b"\r", b"\n", b"\x00", b"*", b"$", b"\xff\xfe", b"\xc3\x28",
           b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b'"', b"'", b"\\", b" ", b"\t", b"-1", b"0",
           b"+OK", b"-ERR", b":1", b"*1\r\n$1\r\nx\r\n"]
NAMES = [b"PING", b"ping", b"ECHO", b"GET", b"SET", b"DEL", b"INCR", b"LPUSH", b"HSET",
         b"EXISTS", b"NOSUCH", b"\xff", b""]
# Numbers for headers: edges of the parsers' integer rules and limits.
COUNTS = [b"0", b"1", b"2", b"-1", b"-2", b"01", b"+1", b" 1", b"1 ", b"1048576", b"1048577",
          b"2147483647", b"2147483648", b"4294967295", b"4294967296", b"9223372036854775807",
          b"9223372036854775808", b"-9223372036854775808", b"99999999999999999999",
          b"536870912", b"536870913", b"1073741824", b"", b"x", b"1x", b"0x10", b"\xff",
          b"1\x002", b"-0"]
SPECIAL = b"*$\r\n\x00+:-0123456789 \"'\\x\xff"
FOREIGN = [b"+", b"-", b":", b"_", b",", b"#", b"(", b"=", b"~", b"%", b">", b"|", b"!"]


def payload(rng: random.Random) -> bytes:
    r = rng.random()
    if r < 0.35:
        return rng.choice(AWKWARD)
    if r < 0.7:
        return rng.randbytes(rng.randrange(0, 24))
    if r < 0.95:
        return bytes(rng.choice(b"abcxyz0123456789:-_") for _ in range(rng.randrange(1, 16)))
    # Now and then a value too big for one read.
    return rng.randbytes(rng.choice((70_000, 200_000)))


def multibulk(args: list) -> bytes:
    return b"".join([b"*%d\r\n" % len(args)] + [b"$%d\r\n%b\r\n" % (len(a), a) for a in args])


def good_frame(rng: random.Random) -> bytes:
    args = [rng.choice(NAMES)] + [payload(rng) for _ in range(rng.randrange(0, 5))]
    return multibulk(args)


def inline_frame(rng: random.Random) -> bytes:
    words = []
    for _ in range(rng.randrange(0, 5)):
        w = rng.choice([b"PING", b"ECHO", b"GET", b"k", b'"a b"', b"'c'", b'"\\x41"', b'"x',
                        b"y'", b'"\\', b"\xff", b"\t", rng.randbytes(rng.randrange(0, 6))])
        words.append(w.replace(b"\n", b""))
    return b" ".join(words) + rng.choice([b"\r\n", b"\n", b"\r\r\n"])


def hostile_frame(rng: random.Random) -> bytes:
    kind = rng.randrange(9)
    if kind == 0:    # a declared bulk length, huge or malformed, maybe some of its bytes
        return (b"*2\r\n$3\r\nSET\r\n$" + rng.choice(COUNTS) + b"\r\n"
                + rng.randbytes(rng.randrange(0, 64)))
    if kind == 1:    # a declared count, huge or malformed
        return b"*" + rng.choice(COUNTS) + b"\r\n" + good_frame(rng)[4:]
    if kind == 2:    # nesting: arrays inside arrays
        depth = rng.choice((1, 2, 8, 100, 10_000))
        return (b"*" + rng.choice((b"1", b"2", b"1048576", b"2147483647")) + b"\r\n") * depth
    if kind == 3:    # a foreign RESP type where a bulk must be
        return b"*2\r\n$4\r\nECHO\r\n" + rng.choice(FOREIGN) + b"3\r\nabc\r\n"
    if kind == 4:    # a header or inline line that never ends
        return rng.choice((b"*", b"$", b"", b"*1\r\n$")) + b"9" * rng.choice((100, 70_000))
    if kind == 5:    # binary noise
        return rng.randbytes(rng.randrange(1, 256))
    if kind == 6:    # a NUL hiding a line end, or a lone CR
        return rng.choice((b"PING\x00\r\n", b"*1\r\n$4\x00\r\nPING\r\n", b"*1\r$4\rPING\r",
                           b"\x00\r\n", b"*1\r\n$4\r\nPINGxx"))
    if kind == 7:    # many tiny requests
        return (b"*1\r\n$4\r\nPING\r\n" if rng.random() < 0.5 else b"PING\r\n") * rng.randrange(
            1, 300)
    # empty and null multibulks, blank lines
    return rng.choice((b"*0\r\n", b"*-1\r\n", b"\r\n", b"\n", b"*-5\r\n", b"  \r\n"))


def mutate(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randrange(1, 4)):
        op = rng.randrange(6)
        i = rng.randrange(0, len(out) + 1)
        if op == 0 and i < len(out):
            out[i] = rng.choice(SPECIAL)
        elif op == 1:
            out[i:i] = bytes([rng.choice(SPECIAL)])
        elif op == 2 and i < len(out):
            del out[i:i + rng.randrange(1, 4)]
        elif op == 3 and out:
            j = rng.randrange(0, len(out))
            out[i:i] = out[min(i, j):max(i, j)][:64]
        elif op == 4:
            # A number after a type byte becomes another (huge, negative...).
            at = [k for k in range(len(out) - 1)
                  if out[k] in b"*$" and out[k + 1] in b"-0123456789"]
            if at:
                k = rng.choice(at) + 1
                e = k
                while e < len(out) and out[e] in b"-0123456789":
                    e += 1
                out[k:e] = rng.choice(COUNTS)
        else:
            del out[i:]
    return bytes(out)


def frame(rng: random.Random) -> bytes:
    r = rng.random()
    if r < 0.3:
        return good_frame(rng)
    if r < 0.45:
        return inline_frame(rng)
    if r < 0.7:
        return hostile_frame(rng)
    return mutate(rng, good_frame(rng) if rng.random() < 0.7 else inline_frame(rng))


def frames(rng: random.Random, most: int = 6) -> list:
    return [frame(rng) for _ in range(rng.randrange(1, most + 1))]


def splits(rng: random.Random, data: bytes) -> list:
    """``data`` cut into reads at random offsets (sometimes byte by byte
    for a short stretch, as a slow client sends)."""
    if not data:
        return [b""]
    n = len(data)
    cuts = sorted(set(rng.randrange(1, n + 1) for _ in range(rng.randrange(0, 6))) | {n})
    if n < 400 and rng.random() < 0.2:
        cuts = list(range(1, n + 1))
    out, prev = [], 0
    for c in cuts:
        out.append(data[prev:c])
        prev = c
    return out
