"""LZF, the compression Redis uses for long strings in RDB files.

The format (public, from liblzf): a sequence of runs, each opened by a
control byte ``ctrl``:

* ``ctrl < 32``: a literal run of ``ctrl + 1`` bytes follows;
* otherwise a back reference: length ``(ctrl >> 5) + 2``, where a length
  field of 7 means one more byte follows and is added; the offset is
  ``((ctrl & 0x1f) << 8) + next byte + 1`` bytes back from the end of the
  output so far (at most 8192). A reference may overlap its own output.

The compressor is a greedy one keyed on 3-byte prefixes (the newest
position of each prefix, within the 8 KB window) that steps faster through
input that keeps not matching; any valid stream is accepted by every LZF
decoder, so its output need not match liblzf's byte for byte. It runs at a
few MB/s in CPython (see ``rdb._Encoder.string`` for when it is tried).
"""

from __future__ import annotations

_MAX_OFF = 1 << 13
_MAX_REF = (1 << 8) + (1 << 3)  # 264: longest back reference
_MAX_LIT = 1 << 5


class LZFError(ValueError):
    pass


def decompress(data, expected: int) -> bytes:
    """Expand ``data``; the result must be ``expected`` bytes long."""
    out = bytearray()
    i = 0
    n = len(data)
    try:
        while i < n:
            ctrl = data[i]
            i += 1
            if ctrl < 32:
                ln = ctrl + 1
                if i + ln > n:
                    raise LZFError("literal run past the end of the input")
                out += data[i:i + ln]
                i += ln
                continue
            ln = ctrl >> 5
            if ln == 7:
                ln += data[i]
                i += 1
            ln += 2
            ref = len(out) - ((ctrl & 0x1F) << 8) - data[i] - 1
            i += 1
            if ref < 0:
                raise LZFError("back reference before the start of the output")
            if ref + ln <= len(out):
                out += out[ref:ref + ln]
            else:
                # Overlapping: the pattern repeats with period len(out) - ref.
                period = out[ref:]
                reps, rest = divmod(ln, len(period))
                out += period * reps + period[:rest]
    except IndexError:
        raise LZFError("truncated input") from None
    if len(out) != expected:
        raise LZFError(f"expanded to {len(out)} bytes, expected {expected}")
    return bytes(out)


def compress(data: bytes) -> bytes | None:
    """Compress ``data``; None when the result would not be smaller."""
    n = len(data)
    if n < 4:
        return None
    limit = n - 1  # give up once the output is not smaller than the input
    out = bytearray()
    table: dict = {}
    lit_start = 0
    i = 0
    end = n - 2
    misses = 0
    while i < end:
        key = data[i:i + 3]
        ref = table.get(key)
        table[key] = i
        if ref is not None and i - ref <= _MAX_OFF:
            misses = 0
            # Extend the match, 8 bytes at a time while they agree.
            maxlen = min(_MAX_REF, n - i)
            ln = 3
            while ln + 8 <= maxlen and data[ref + ln:ref + ln + 8] == data[i + ln:i + ln + 8]:
                ln += 8
            while ln < maxlen and data[ref + ln] == data[i + ln]:
                ln += 1
            _literals(out, data, lit_start, i)
            off = i - ref - 1
            code = ln - 2
            if code < 7:
                out.append((code << 5) | (off >> 8))
            else:
                out.append((7 << 5) | (off >> 8))
                out.append(code - 7)
            out.append(off & 0xFF)
            if len(out) >= limit:
                return None
            # Index the positions inside the match sparsely (their first
            # and last few), as a speed/ratio compromise.
            stop = i + ln
            for j in (i + 1, i + 2, stop - 2, stop - 1):
                if i < j < end:
                    table[data[j:j + 3]] = j
            i = stop
            lit_start = i
        else:
            # Step faster through data that keeps not matching (as LZ4's
            # acceleration): incompressible input costs fewer turns.
            i += 1 + (misses >> 4)
            misses += 1
    _literals(out, data, lit_start, n)
    if len(out) >= limit:
        return None
    return bytes(out)


def _literals(out: bytearray, data: bytes, start: int, stop: int) -> None:
    while start < stop:
        ln = min(_MAX_LIT, stop - start)
        out.append(ln - 1)
        out += data[start:start + ln]
        start += ln
