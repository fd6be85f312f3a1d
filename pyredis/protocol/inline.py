"""Shell-like argument splitting, as Redis's sdssplitargs does it.

Used for inline commands (what telnet and ``redis-cli`` in some modes send)
and for the lines of a ``redis.conf`` file. :func:`quote` is the inverse,
Redis's sdscatrepr: MONITOR lines, config files and command lines use it.

Rules: arguments are separated by whitespace; ``"..."`` understands the
escapes ``\\n \\r \\t \\b \\a`` and ``\\xHH`` (lower-case ``x`` only), any other
backslashed character stands for itself; ``'...'`` understands only
``\\'``; a closing quote must be followed by whitespace or the end. Unbalanced
quotes make the whole line invalid (``None``).
"""

from __future__ import annotations

_SPACE = b" \n\r\t\x0b\x0c"
_TOKEN_END = b" \n\r\t"
_ESCAPES = {ord("n"): 10, ord("r"): 13, ord("t"): 9, ord("b"): 8, ord("a"): 7}
_HEX = b"0123456789abcdefABCDEF"
_SLOW_CHARS = (b'"', b"'", b"\x00", b"\x0b", b"\x0c")


def split_args(line: bytes) -> list[bytes] | None:
    """Split one line into arguments; None if its quotes are unbalanced."""
    for c in _SLOW_CHARS:
        if c in line:
            break
    else:
        return line.split()
    nul = line.find(b"\x00")
    if nul >= 0:
        # Redis reads the line as a C string: a NUL ends it.
        line = line[:nul]
    out: list[bytes] = []
    i = 0
    n = len(line)
    while True:
        while i < n and line[i] in _SPACE:
            i += 1
        if i >= n:
            return out
        cur = bytearray()
        inq = insq = False
        while True:
            if inq:
                if i >= n:
                    return None
                c = line[i]
                if (c == 92 and i + 3 < n and line[i + 1] == 120
                        and line[i + 2] in _HEX and line[i + 3] in _HEX):
                    cur.append(int(line[i + 2:i + 4], 16))
                    i += 3
                elif c == 92 and i + 1 < n:
                    i += 1
                    e = line[i]
                    cur.append(_ESCAPES.get(e, e))
                elif c == 34:  # closing "
                    if i + 1 < n and line[i + 1] not in _SPACE:
                        return None
                    i += 1
                    break
                else:
                    cur.append(c)
            elif insq:
                if i >= n:
                    return None
                c = line[i]
                if c == 92 and i + 1 < n and line[i + 1] == 39:
                    i += 1
                    cur.append(39)
                elif c == 39:  # closing '
                    if i + 1 < n and line[i + 1] not in _SPACE:
                        return None
                    i += 1
                    break
                else:
                    cur.append(c)
            else:
                if i >= n:
                    break
                c = line[i]
                if c in _TOKEN_END:
                    break
                if c == 34:
                    inq = True
                elif c == 39:
                    insq = True
                else:
                    cur.append(c)
            i += 1
        out.append(bytes(cur))


_REPR_ESCAPES = {92: "\\\\", 34: '\\"', 10: "\\n", 13: "\\r", 9: "\\t", 7: "\\a", 8: "\\b"}


def quote(arg: bytes) -> str:
    """``arg`` double-quoted with C escapes, as Redis's sdscatrepr writes it
    (printable ASCII as is, ``\\n``-style escapes, ``\\xHH`` for the rest);
    :func:`split_args` reads it back."""
    out = ['"']
    for b in arg:
        e = _REPR_ESCAPES.get(b)
        if e is not None:
            out.append(e)
        elif 32 <= b < 127:
            out.append(chr(b))
        else:
            out.append("\\x%02x" % b)
    out.append('"')
    return "".join(out)
