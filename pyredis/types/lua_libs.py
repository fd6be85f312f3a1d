"""The libraries Redis preloads into its Lua state that stock Lua 5.1 lacks:
``cjson`` (encode/decode, with ``cjson.null``), ``bit`` (LuaBitOp: 32-bit
operations on Lua numbers), ``cmsgpack`` (pack/unpack) and ``struct``
(pack/unpack/size, Roberto Ierusalimschy's format language). Written in
Python over lupa tables; the scripting engine (``pyredis.scripting``)
installs them read-only in the sandbox.
"""

from __future__ import annotations

import math
import re
import struct
import sys

import lupa.lua51 as _lupa


class LuaLibError(Exception):
    pass


# -- bit ------------------------------------------------------------------------


def _tobit(x) -> int:
    """LuaBitOp's argument normalisation: round to an integer (ties to even,
    as its 2^52+2^51 addition does), keep the low 32 bits, signed."""
    if type(x) is bytes:
        try:
            x = float(x)
        except ValueError:
            raise LuaLibError("bad argument (number expected)")
    if type(x) not in (int, float) or x != x or math.isinf(x):
        return 0 if type(x) in (int, float) else _bad()
    n = round(x) & 0xFFFFFFFF
    return n - 0x100000000 if n & 0x80000000 else n


def _bad():
    raise LuaLibError("bad argument (number expected)")


def _signed(n: int) -> int:
    n &= 0xFFFFFFFF
    return n - 0x100000000 if n & 0x80000000 else n


def _bit_functions() -> dict:
    def band(*a):
        r = -1
        for x in a:
            r &= _tobit(x)
        return _signed(r)

    def bor(*a):
        r = 0
        for x in a:
            r |= _tobit(x)
        return _signed(r)

    def bxor(*a):
        r = 0
        for x in a:
            r ^= _tobit(x)
        return _signed(r)

    def tohex(x, n=8):
        v = _tobit(x) & 0xFFFFFFFF
        n = _tobit(n)
        digits = "0123456789abcdef"
        if n < 0:
            n = -n
            digits = digits.upper()
        n = min(n, 8)
        out = []
        for _ in range(n):
            out.append(digits[v & 15])
            v >>= 4
        return "".join(reversed(out)).encode()

    def rol(x, n):
        v, n = _tobit(x) & 0xFFFFFFFF, _tobit(n) & 31
        return _signed((v << n) | (v >> (32 - n)))

    def ror(x, n):
        v, n = _tobit(x) & 0xFFFFFFFF, _tobit(n) & 31
        return _signed((v >> n) | (v << (32 - n)))

    def bswap(x):
        v = _tobit(x) & 0xFFFFFFFF
        return _signed(int.from_bytes(v.to_bytes(4, "little"), "big"))

    return {
        "tobit": lambda x: _tobit(x),
        "bnot": lambda x: _signed(~_tobit(x)),
        "band": band, "bor": bor, "bxor": bxor,
        "lshift": lambda x, n: _signed(_tobit(x) << (_tobit(n) & 31)),
        "rshift": lambda x, n: _signed((_tobit(x) & 0xFFFFFFFF) >> (_tobit(n) & 31)),
        "arshift": lambda x, n: _signed(_tobit(x) >> (_tobit(n) & 31)),
        "rol": rol, "ror": ror, "bswap": bswap, "tohex": tohex,
    }


_NO_VALUE = object()


def _numeric(b: bytes) -> bool:
    try:
        float(b)
        return True
    except ValueError:
        return False


def _lua_type_name(x) -> str:
    if x is _NO_VALUE:
        return "no value"
    if x is None:
        return "nil"
    if type(x) is bool:
        return "boolean"
    if type(x) is bytes:
        return "string"
    return _lupa.lua_type(x) or "userdata"


# -- cjson ------------------------------------------------------------------------

_ESCAPES = {i: "\\u%04x" % i for i in range(32)}
_ESCAPES.update({8: "\\b", 9: "\\t", 10: "\\n", 12: "\\f", 13: "\\r", 34: '\\"', 92: "\\\\",
                 47: "\\/"})


def _json_string(b: bytes) -> str:
    return '"' + b.decode("latin-1").translate(_ESCAPES) + '"'


class _JsonSettings:
    """One cjson instance's options (cjson.new() makes another); they last
    across scripts, as in Redis, whose Lua state keeps them."""

    def __init__(self) -> None:
        self.sparse_convert = False
        self.sparse_ratio = 2
        self.sparse_safe = 10
        self.encode_max_depth = 1000
        self.decode_max_depth = 1000
        self.precision = 14
        self.keep_buffer = True
        self.encode_invalid = False  # False, True or "null"
        self.decode_invalid = True


def _json_number(x, settings: _JsonSettings) -> str:
    if type(x) is float and (x != x or math.isinf(x)):
        if settings.encode_invalid == "null":
            return "null"
        if not settings.encode_invalid:
            raise LuaLibError("Cannot serialise number: must not be NaN or Inf")
        return ("nan" if x != x else "inf" if x > 0 else "-inf")
    return "%.*g" % (settings.precision, x)


class _Encoder:
    def __init__(self, null, settings: _JsonSettings) -> None:
        self.null = null
        self.settings = settings

    def value(self, v, depth: int, out: list) -> None:
        t = type(v)
        # cjson.null is the one userdata a script can build.
        if v is None or (t not in (bytes, bool, int, float)
                         and _lupa.lua_type(v) == "userdata"):
            out.append("null")
        elif t is bool:
            out.append("true" if v else "false")
        elif t is int or t is float:
            out.append(_json_number(v, self.settings))
        elif t is bytes:
            out.append(_json_string(v))
        elif _lupa.lua_type(v) == "table":
            self.table(v, depth + 1, out)
        else:
            raise LuaLibError("Cannot serialise %s: type not supported" % _lupa.lua_type(v))

    def table(self, tbl, depth: int, out: list) -> None:
        st = self.settings
        if depth > st.encode_max_depth:
            raise LuaLibError("Cannot serialise, excessive nesting (%d)" % depth)
        items = list(tbl.items())
        max_index = 0
        is_array = True
        for k, _ in items:
            if type(k) in (int, float) and k == int(k) and k >= 1:
                max_index = max(max_index, int(k))
            else:
                is_array = False
                break
        if is_array and items and st.sparse_ratio > 0 and max_index > st.sparse_safe \
                and max_index > st.sparse_ratio * len(items):
            if not st.sparse_convert:
                raise LuaLibError("Cannot serialise table: excessively sparse array")
            is_array = False
        if is_array and items:
            out.append("[")
            for i in range(1, max_index + 1):
                if i > 1:
                    out.append(",")
                self.value(tbl[i], depth, out)
            out.append("]")
            return
        out.append("{")
        first = True
        for k, v in items:
            if type(k) is bytes:
                key = _json_string(k)
            elif type(k) in (int, float):
                key = '"' + _json_number(k, st) + '"'
            else:
                raise LuaLibError("Cannot serialise table: table key must be a number or string")
            if not first:
                out.append(",")
            first = False
            out.append(key + ":")
            self.value(v, depth, out)
        out.append("}")


_JSON_STRICT_NUMBER = re.compile(rb"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")


class _deep_recursion:
    """cjson nests 1000 levels deep; the Python walk needs a few frames
    per level."""

    def __enter__(self):
        self.old = sys.getrecursionlimit()
        if self.old < 10000:
            sys.setrecursionlimit(10000)

    def __exit__(self, *exc):
        sys.setrecursionlimit(self.old)
_JSON_NUMBER = re.compile(
    rb"[+-]?(?:0[xX][0-9a-fA-F]+|(?:inf(?:inity)?|nan)|(?:[0-9]+\.?[0-9]*|\.[0-9]+)"
    rb"(?:[eE][+-]?[0-9]+)?)", re.IGNORECASE)
_JSON_SIMPLE = {b"{": "T_OBJ_BEGIN", b"}": "T_OBJ_END", b"[": "T_ARR_BEGIN", b"]": "T_ARR_END",
                b",": "T_COMMA", b":": "T_COLON"}
_JSON_ESCAPES = {b'"': b'"', b"\\": b"\\", b"/": b"/", b"b": b"\b", b"f": b"\f", b"n": b"\n",
                 b"r": b"\r", b"t": b"\t"}


class _JsonDecoder:
    """Lua cjson 2.1's decoder: its tokens, its error texts (token names
    as T_...), and its lenient numbers (strtod: hex, inf, nan, leading
    zeros)."""

    def __init__(self, data: bytes, to_lua, settings: _JsonSettings) -> None:
        self.data = data
        self.pos = 0
        self.depth = 0
        self.to_lua = to_lua
        self.settings = settings

    def token(self):
        """(type, value, index) of the next token."""
        data = self.data
        n = len(data)
        while self.pos < n and data[self.pos] in b" \t\n\r":
            self.pos += 1
        start = self.pos
        if start >= n:
            return "T_END", None, start
        ch = data[start:start + 1]
        if ch in _JSON_SIMPLE:
            self.pos += 1
            return _JSON_SIMPLE[ch], None, start
        if ch == b'"':
            return self.string(start)
        for word, kind, value in ((b"true", "T_BOOLEAN", True), (b"false", "T_BOOLEAN", False),
                                  (b"null", "T_NULL", None)):
            if data.startswith(word, start):
                self.pos += len(word)
                return kind, value, start
        if ch in b"-0123456789iInN":
            m = _JSON_NUMBER.match(data, start)
            if m and not self.settings.decode_invalid and not _JSON_STRICT_NUMBER.fullmatch(
                    m.group(0)):
                m = None
            if m:
                self.pos = m.end()
                text = m.group(0)
                try:
                    value = float(int(text, 16)) if b"x" in text.lower() else float(text)
                except ValueError:
                    value = float(text.lower().replace(b"infinity", b"inf"))
                return "T_NUMBER", value, start
            return "T_ERROR", "invalid number", start
        return "T_ERROR", "invalid token", start

    def string(self, start: int):
        data = self.data
        out = bytearray()
        i = start + 1
        while True:
            if i >= len(data):
                self.pos = i
                return "T_ERROR", "unexpected end of string", i
            c = data[i:i + 1]
            if c == b'"':
                self.pos = i + 1
                return "T_STRING", bytes(out), start
            if c == b"\\":
                e = data[i + 1:i + 2]
                if e == b"u":
                    cp, i2 = self.unicode(i)
                    if cp is None:
                        self.pos = i
                        return "T_ERROR", "invalid unicode escape code", i
                    out += chr(cp).encode("utf-8", "surrogatepass")
                    i = i2
                    continue
                if e not in _JSON_ESCAPES:
                    self.pos = i
                    return "T_ERROR", "invalid escape code", i
                out += _JSON_ESCAPES[e]
                i += 2
                continue
            out += c
            i += 1

    def unicode(self, i: int):
        def hex4(j):
            h = self.data[j:j + 4]
            if len(h) != 4 or not all(x in b"0123456789abcdefABCDEF" for x in h):
                return None
            return int(h, 16)
        cp = hex4(i + 2)
        if cp is None:
            return None, i
        if 0xD800 <= cp <= 0xDBFF:
            if self.data[i + 6:i + 8] != b"\\u":
                return None, i
            low = hex4(i + 8)
            if low is None or not 0xDC00 <= low <= 0xDFFF:
                return None, i
            return 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00), i + 12
        if 0xDC00 <= cp <= 0xDFFF:
            return None, i
        return cp, i + 6

    @staticmethod
    def fail(expected: str, tok) -> None:
        kind, value, index = tok
        found = value if kind == "T_ERROR" else kind
        raise LuaLibError("Expected %s but found %s at character %d" % (expected, found, index + 1))

    def value(self, tok):
        kind, value, index = tok
        if kind in ("T_STRING", "T_NUMBER", "T_BOOLEAN"):
            return value
        if kind == "T_NULL":
            return self.to_lua(None)
        if kind in ("T_OBJ_BEGIN", "T_ARR_BEGIN"):
            self.depth += 1
            if self.depth > self.settings.decode_max_depth:
                raise LuaLibError("Found too many nested data structures (%d) at character %d"
                                  % (self.depth, index + 1))
            v = self.object() if kind == "T_OBJ_BEGIN" else self.array()
            self.depth -= 1
            return v
        self.fail("value", tok)

    def object(self):
        t = self.to_lua({})
        tok = self.token()
        if tok[0] == "T_OBJ_END":
            return t
        while True:
            if tok[0] != "T_STRING":
                self.fail("object key string", tok)
            key = tok[1]
            tok = self.token()
            if tok[0] != "T_COLON":
                self.fail("colon", tok)
            t[key] = self.value(self.token())
            tok = self.token()
            if tok[0] == "T_OBJ_END":
                return t
            if tok[0] != "T_COMMA":
                self.fail("comma or object end", tok)
            tok = self.token()

    def array(self):
        t = self.to_lua([])
        tok = self.token()
        if tok[0] == "T_ARR_END":
            return t
        i = 1
        while True:
            t[i] = self.value(tok)
            i += 1
            tok = self.token()
            if tok[0] == "T_ARR_END":
                return t
            if tok[0] != "T_COMMA":
                self.fail("comma or array end", tok)
            tok = self.token()

    def decode(self):
        v = self.value(self.token())
        tok = self.token()
        if tok[0] != "T_END":
            self.fail("the end", tok)
        return v


# -- cmsgpack ----------------------------------------------------------------------

_MSGPACK_MAX_NESTING = 16  # deeper tables pack as nil, as lua-cmsgpack does


def _mp_int(n: int, out: bytearray) -> None:
    if n >= 0:
        if n <= 127:
            out.append(n)
        elif n <= 0xFF:
            out += b"\xcc" + struct.pack(">B", n)
        elif n <= 0xFFFF:
            out += b"\xcd" + struct.pack(">H", n)
        elif n <= 0xFFFFFFFF:
            out += b"\xce" + struct.pack(">I", n)
        else:
            out += b"\xcf" + struct.pack(">Q", n & 0xFFFFFFFFFFFFFFFF)
    elif n >= -32:
        out.append(n & 0xFF)
    elif n >= -128:
        out += b"\xd0" + struct.pack(">b", n)
    elif n >= -32768:
        out += b"\xd1" + struct.pack(">h", n)
    elif n >= -(1 << 31):
        out += b"\xd2" + struct.pack(">i", n)
    else:
        out += b"\xd3" + struct.pack(">q", max(n, -(1 << 63)))


def _mp_len(n: int, fix: int, fixmax: int, c16: bytes, c32: bytes, out: bytearray) -> None:
    if n <= fixmax:
        out.append(fix | n)
    elif n <= 0xFFFF:
        out += c16 + struct.pack(">H", n)
    else:
        out += c32 + struct.pack(">I", n)


def _mp_pack(v, out: bytearray, level: int) -> None:
    t = type(v)
    if v is None:
        out.append(0xC0)
    elif t is bool:
        out.append(0xC3 if v else 0xC2)
    elif t is int or t is float:
        if v == v and not math.isinf(v) and v == int(v) and -(1 << 63) <= v < (1 << 64):
            _mp_int(int(v), out)
        elif struct.unpack(">f", struct.pack(">f", v))[0] == v or v != v:
            out += b"\xca" + struct.pack(">f", v)
        else:
            out += b"\xcb" + struct.pack(">d", v)
    elif t is bytes:
        n = len(v)
        if n < 32:
            out.append(0xA0 | n)
        elif n <= 0xFF:
            out += b"\xd9" + struct.pack(">B", n)
        elif n <= 0xFFFF:
            out += b"\xda" + struct.pack(">H", n)
        else:
            out += b"\xdb" + struct.pack(">I", n)
        out += v
    elif _lupa.lua_type(v) == "table":
        if level >= _MSGPACK_MAX_NESTING:
            out.append(0xC0)
            return
        items = list(v.items())
        n = len(items)
        if n and all(type(k) in (int, float) and k == int(k) and k >= 1 for k, _ in items) \
                and max(int(k) for k, _ in items) == n:
            _mp_len(n, 0x90, 15, b"\xdc", b"\xdd", out)
            for i in range(1, n + 1):
                _mp_pack(v[i], out, level + 1)
        else:
            _mp_len(n, 0x80, 15, b"\xde", b"\xdf", out)
            for k, x in items:
                _mp_pack(k, out, level + 1)
                _mp_pack(x, out, level + 1)
    else:
        out.append(0xC0)  # functions, userdata: nil


class _NilKey(Exception):
    pass


class _MpReader:
    def __init__(self, lua, data: bytes) -> None:
        self.lua = lua
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise LuaLibError("Missing bytes in input.")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def num(self, fmt: str, n: int):
        return struct.unpack(fmt, self.take(n))[0]

    def value(self):
        c = self.take(1)[0]
        if c <= 0x7F:
            return c
        if c >= 0xE0:
            return c - 0x100
        if 0xA0 <= c <= 0xBF:
            return self.take(c & 0x1F)
        if 0x90 <= c <= 0x9F:
            return self.array(c & 0x0F)
        if 0x80 <= c <= 0x8F:
            return self.map(c & 0x0F)
        simple = {0xC0: None, 0xC2: False, 0xC3: True}
        if c in simple:
            return simple[c]
        fixed = {0xCC: (">B", 1), 0xCD: (">H", 2), 0xCE: (">I", 4), 0xCF: (">Q", 8),
                 0xD0: (">b", 1), 0xD1: (">h", 2), 0xD2: (">i", 4), 0xD3: (">q", 8),
                 0xCA: (">f", 4), 0xCB: (">d", 8)}
        if c in fixed:
            v = self.num(*fixed[c])
            return float(v) if c in (0xCF, 0xD3) and abs(v) >= 1 << 53 else v
        sized = {0xD9: (">B", 1), 0xDA: (">H", 2), 0xDB: (">I", 4),
                 0xC4: (">B", 1), 0xC5: (">H", 2), 0xC6: (">I", 4)}
        if c in sized:
            return self.take(self.num(*sized[c]))
        if c in (0xDC, 0xDD):
            return self.array(self.num(">H", 2) if c == 0xDC else self.num(">I", 4))
        if c in (0xDE, 0xDF):
            return self.map(self.num(">H", 2) if c == 0xDE else self.num(">I", 4))
        raise LuaLibError("Bad data format in input.")

    def array(self, n: int):
        t = self.lua.table_from({})
        for i in range(1, n + 1):
            t[i] = self.value()
        return t

    def map(self, n: int):
        t = self.lua.table_from({})
        for _ in range(n):
            k = self.value()
            v = self.value()
            if k is None:
                raise _NilKey()
            t[k] = v
        return t


# -- struct ----------------------------------------------------------------------

_STRUCT_SIZES = {"b": 1, "B": 1, "h": 2, "H": 2, "l": 8, "L": 8, "T": 8, "f": 4, "d": 8,
                 "x": 1}
_STRUCT_MAXINT = 32
_STRUCT_MAXALIGN = 8


class _StructFormat:
    """Walks a struct format: ``options()`` yields (option, size) for each
    data option, after applying the endianness and alignment options it
    passes; ``padding(size, pos)`` is the alignment before an item."""

    def __init__(self, fmt: bytes, fn: str) -> None:
        self.fmt = fmt.decode("latin-1")
        self.fn = fn
        self.little = True
        self.align = 1

    def _num(self, i: int, default: int) -> tuple[int, int]:
        j = i
        while j < len(self.fmt) and self.fmt[j].isdigit():
            j += 1
        return (int(self.fmt[i:j]) if j > i else default), j

    def options(self):
        fmt = self.fmt
        i = 0
        while i < len(fmt):
            opt = fmt[i]
            i += 1
            if opt in _STRUCT_SIZES:
                size = _STRUCT_SIZES[opt]
            elif opt in "iI":
                size, i = self._num(i, 4)
                if size > _STRUCT_MAXINT:
                    raise LuaLibError("integral size %d is larger than limit of %d"
                                      % (size, _STRUCT_MAXINT))
            elif opt == "c":
                size, i = self._num(i, 1)
            elif opt == "s":
                size = 0
            elif opt == " ":
                continue
            elif opt in "<>=":
                self.little = opt != ">"
                continue
            elif opt == "!":
                a, i = self._num(i, _STRUCT_MAXALIGN)
                if a & (a - 1):
                    raise LuaLibError("alignment %d is not a power of 2" % a)
                self.align = a
                continue
            else:
                raise LuaLibError("bad argument #1 to '%s' (invalid format option '%s')"
                                  % (self.fn, opt))
            yield opt, size

    def padding(self, opt: str, size: int, pos: int) -> int:
        if size <= 1 or self.align <= 1 or opt in "cs":
            return 0
        a = min(size, self.align)
        return (a - (pos & (a - 1))) & (a - 1)


def _struct_int(n, size: int, little: bool) -> bytes:
    value = (int(n) if n == n and not math.isinf(n) else 0) & 0xFFFFFFFFFFFFFFFF
    out = bytearray()
    for _ in range(size):
        out.append(value & 0xFF)
        value >>= 8
    return bytes(out if little else reversed(out))


def _struct_pack(fmt, args) -> bytes:
    if type(fmt) in (int, float):
        fmt = b"%.14g" % fmt
    if type(fmt) is not bytes:
        raise LuaLibError("bad argument #1 to 'pack' (string expected, got no value)")
    out = bytearray()
    arg = 0
    walker = _StructFormat(fmt, "pack")
    for opt, size in walker.options():
        out += b"\0" * walker.padding(opt, size, len(out))
        if opt == "x":
            out += b"\0"
            continue
        a = args[arg] if arg < len(args) else None
        narg = arg + 2
        arg += 1
        if opt in "cs":
            if type(a) in (int, float):
                a = b"%.14g" % a
            if type(a) is not bytes:
                raise LuaLibError("bad argument #%d to 'pack' (string expected, got %s)"
                                  % (narg, _lua_type_name(a)))
            if opt == "s":
                out += a + b"\0"
            else:
                n = size or len(a)
                if len(a) < n:
                    # struct.c names the argument after the string.
                    raise LuaLibError("bad argument #%d to 'pack' (string too short)" % (narg + 1))
                out += a[:n]
            continue
        if type(a) is bytes and _numeric(a):
            a = float(a)
        if type(a) not in (int, float):
            raise LuaLibError("bad argument #%d to 'pack' (number expected, got %s)"
                              % (narg, _lua_type_name(a)))
        if opt in "fd":
            out += struct.pack(("<" if walker.little else ">") + opt, a)
        else:
            out += _struct_int(a, size, walker.little)
    return bytes(out)


def _struct_unpack(lua, fmt, data, init):
    if type(fmt) is not bytes:
        raise LuaLibError("bad argument #1 to 'unpack' (string expected, got %s)"
                          % _lua_type_name(fmt))
    if type(data) is not bytes:
        raise LuaLibError("bad argument #2 to 'unpack' (string expected, got %s)"
                          % _lua_type_name(data))
    pos = 0
    if init is not None and init is not _NO_VALUE:
        pos = int(init) - 1
        if pos < 0:
            raise LuaLibError("bad argument #3 to 'unpack' (offset must be 1 or greater)")
    values = []
    walker = _StructFormat(fmt, "unpack")
    for opt, size in walker.options():
        pos += walker.padding(opt, size, pos)
        if opt != "s" and pos + size > len(data):
            raise LuaLibError("bad argument #2 to 'unpack' (data string too short)")
        if opt == "x":
            pos += 1
        elif opt == "s":
            end = data.find(b"\0", pos)
            if end < 0:
                raise LuaLibError("unfinished string in data")
            values.append(data[pos:end])
            pos = end + 1
        elif opt == "c":
            if size == 0:
                # The count comes from the number unpacked just before.
                if not values or type(values[-1]) not in (int, float):
                    raise LuaLibError("bad argument #1 to 'unpack' (format 'c0' needs a "
                                      "previous size)")
                size = int(values.pop())
                if pos + size > len(data):
                    raise LuaLibError("bad argument #2 to 'unpack' (data string too short)")
            values.append(data[pos:pos + size])
            pos += size
        elif opt in "fd":
            values.append(struct.unpack(("<" if walker.little else ">") + opt,
                                        data[pos:pos + size])[0])
            pos += size
        else:
            raw = data[pos:pos + size]
            if walker.little:
                raw = raw[::-1]
            v = 0
            for byte in raw:  # a 64-bit accumulator, as struct.c's
                v = ((v << 8) | byte) & 0xFFFFFFFFFFFFFFFF
            if opt.islower():
                bits = min(size, 8) * 8
                if v >> (bits - 1) & 1:
                    v -= 1 << bits
            values.append(v if abs(v) < 1 << 53 else float(v))
            pos += size
    values.append(pos + 1)
    return values


def _struct_size(fmt) -> int:
    if type(fmt) is not bytes:
        raise LuaLibError("bad argument #1 to 'size' (string expected, got %s)"
                          % _lua_type_name(fmt))
    total = 0
    walker = _StructFormat(fmt, "size")
    for opt, size in walker.options():
        if opt == "s" or (opt == "c" and size == 0):
            raise LuaLibError("bad argument #1 to 'size' (option '%s' has no fixed size)"
                              % ("s" if opt == "s" else "c0"))
        total += walker.padding(opt, size, total) + size
    return total


def make_libs(lua) -> dict:
    """name -> Lua table for each library, built in ``lua`` (a lupa runtime
    with ``encoding=None``)."""
    null = lua.eval("newproxy()")

    # Python signals errors by returning (nil, message); the Lua wrappers
    # raise them, so scripts see ordinary Lua errors.
    # Compiled as "@redis_internal", whose frames error positions skip.
    wrap = lua.eval("function(src) return assert(loadstring(src, '@redis_internal'))() end")(b"""
        return function(f)
            return function(...)
                local v, e = f(...)
                if e then error(e, 2) end
                return v
            end
        end""")
    # Many results: (error, count, table of values); a count of -1 with an
    # error raises it without a position.
    wrap_many = lua.eval("function(src) return assert(loadstring(src, '@redis_internal'))() end")(b"""
        return function(f)
            return function(...)
                local e, n, t = f(...)
                if e then error(e, n < 0 and 0 or 2) end
                return unpack(t, 1, n)
            end
        end""")

    def to_lua(v):
        if v is None:
            return null
        if type(v) is list:
            return lua.table_from(v)
        return lua.table_from({})

    def make_cjson():
        st = _JsonSettings()

        def encode(*args):
            if len(args) != 1:
                return None, b"bad argument #1 to 'encode' (expected 1 argument)"
            out: list = []
            try:
                with _deep_recursion():
                    _Encoder(null, st).value(args[0], 0, out)
            except LuaLibError as e:
                return None, str(e).encode()
            return "".join(out).encode("latin-1"), None

        def decode(*args):
            if len(args) != 1:
                return None, b"bad argument #1 to 'decode' (expected 1 argument)"
            data = args[0]
            if type(data) in (int, float):
                data = b"%.14g" % data
            if type(data) is not bytes:
                return None, (b"bad argument #1 to 'decode' (string expected, got %s)"
                              % _lua_type_name(data).encode())
            try:
                with _deep_recursion():
                    return _JsonDecoder(data, to_lua, st).decode(), None
            except LuaLibError as e:
                return None, str(e).encode()

        def option(name, attrs, kinds):
            """A configuration function: with arguments, set; always return
            the settings (cjson's json_*_option)."""
            def call(*args):
                for i, (attr, kind, a) in enumerate(zip(attrs, kinds, args)):
                    if a is None:
                        continue
                    if kind == "bool":
                        ok = type(a) is bool or a in (b"on", b"off")
                        if name == "encode_invalid_numbers" and a == b"null":
                            value = "null"
                        elif not ok:
                            return (b"bad argument #%d to '%s' (invalid option '%s')"
                                    % (i + 1, name.encode(), _lua_type_name(a).encode()
                                       if type(a) is not bytes else a)), 0, None
                        else:
                            value = a if type(a) is bool else a == b"on"
                    else:
                        lo, hi = kind
                        if type(a) not in (int, float) or not lo <= a <= hi:
                            return (b"bad argument #%d to '%s' (expected integer between "
                                    b"%d and %d)" % (i + 1, name.encode(), lo, hi)), 0, None
                        value = int(a)
                    setattr(st, attr, value)
                values = [getattr(st, a) for a in attrs]
                values = [v.encode() if type(v) is str else v for v in values]
                return None, len(values), lua.table_from(values)
            return wrap_many(call)

        big = 2 ** 31 - 1
        t = lua.table_from({})
        t[b"encode"] = wrap(encode)
        t[b"decode"] = wrap(decode)
        t[b"null"] = null
        t[b"encode_sparse_array"] = option(
            "encode_sparse_array", ("sparse_convert", "sparse_ratio", "sparse_safe"),
            ("bool", (0, big), (0, big)))
        t[b"encode_max_depth"] = option("encode_max_depth", ("encode_max_depth",), ((1, big),))
        t[b"decode_max_depth"] = option("decode_max_depth", ("decode_max_depth",), ((1, big),))
        t[b"encode_number_precision"] = option("encode_number_precision", ("precision",),
                                               ((1, 14),))
        t[b"encode_keep_buffer"] = option("encode_keep_buffer", ("keep_buffer",), ("bool",))
        t[b"encode_invalid_numbers"] = option("encode_invalid_numbers", ("encode_invalid",),
                                              ("bool",))
        t[b"decode_invalid_numbers"] = option("decode_invalid_numbers", ("decode_invalid",),
                                              ("bool",))
        t[b"new"] = wrap(lambda *a: (make_cjson(), None))
        t[b"_NAME"] = b"cjson"
        t[b"_VERSION"] = b"2.1.0"
        return t

    cjson = make_cjson()

    def bit_wrap(name, fn, required):
        def call(*a):
            # luaL_checknumber's message, naming the first bad argument.
            for i in range(max(required, len(a))):
                x = a[i] if i < len(a) else _NO_VALUE
                if type(x) in (int, float) or (type(x) is bytes and _numeric(x)):
                    continue
                if x is _NO_VALUE and i >= required:
                    continue
                return None, ("bad argument #%d to '%s' (number expected, got %s)"
                              % (i + 1, name, _lua_type_name(x))).encode()
            return fn(*a), None
        return wrap(call)

    def mp_pack(*args):
        if not args:
            return b"bad argument #0 to 'pack' (MessagePack pack needs input.)", 0, None
        out = bytearray()
        for a in args:
            _mp_pack(a, out, 0)
        return None, 1, lua.table_from([bytes(out)])

    def mp_unpack(*args):
        data = args[0] if args else _NO_VALUE
        if type(data) in (int, float):
            data = (b"%.14g" % data)
        if type(data) is not bytes:
            return (b"bad argument #1 to 'unpack' (string expected, got %s)"
                    % _lua_type_name(data).encode()), 0, None
        r = _MpReader(lua, data)
        values = lua.table_from({})
        n = 0
        try:
            while r.pos < len(r.data):
                n += 1
                values[n] = r.value()
        except _NilKey:
            # lua_settable's own error, which carries no position.
            return b"table index is nil", -1, None
        except LuaLibError as e:
            return str(e).encode(), 0, None
        return None, n, values

    cmsgpack = lua.table_from({})
    cmsgpack[b"pack"] = wrap_many(mp_pack)
    cmsgpack[b"unpack"] = wrap_many(mp_unpack)

    def guarded(fn):
        def call(*a):
            try:
                values = fn(*a)
            except LuaLibError as e:
                return str(e.args[0]).encode(), 0, None
            return None, len(values), lua.table_from(values)
        return wrap_many(call)

    struct_lib = lua.table_from({})
    struct_lib[b"pack"] = guarded(lambda fmt=_NO_VALUE, *args: [_struct_pack(fmt, args)])
    struct_lib[b"unpack"] = guarded(
        lambda fmt=_NO_VALUE, data=_NO_VALUE, init=_NO_VALUE: _struct_unpack(lua, fmt, data, init))
    struct_lib[b"size"] = guarded(lambda fmt=_NO_VALUE: [_struct_size(fmt)])

    bit = lua.table_from({})
    for name, fn in _bit_functions().items():
        required = 0 if name in ("band", "bor", "bxor") else 2 if name in (
            "lshift", "rshift", "arshift", "rol", "ror") else 1
        bit[name.encode()] = bit_wrap(name, fn, max(required, 1))
    return {"cjson": cjson, "bit": bit, "cmsgpack": cmsgpack, "struct": struct_lib}
