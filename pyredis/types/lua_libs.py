"""The libraries Redis preloads into its Lua state that stock Lua 5.1 lacks:
``cjson`` (encode/decode, with ``cjson.null``) and ``bit`` (LuaBitOp: 32-bit
operations on Lua numbers). Written in Python over lupa tables; the
scripting engine (``pyredis.scripting``) installs them read-only in the
sandbox. ``struct`` and ``cmsgpack`` are not provided.
"""

from __future__ import annotations

import json
import math

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


def _json_number(x) -> str:
    if type(x) is float and (x != x or math.isinf(x)):
        raise LuaLibError("Cannot serialise number: must not be NaN or Inf")
    if type(x) is int:
        return "%d" % x if abs(x) < 1e14 else "%.14g" % x
    return "%.14g" % x


class _Encoder:
    def __init__(self, null) -> None:
        self.null = null

    def value(self, v, depth: int, out: list) -> None:
        t = type(v)
        # cjson.null is the one userdata a script can build.
        if v is None or (t not in (bytes, bool, int, float)
                         and _lupa.lua_type(v) == "userdata"):
            out.append("null")
        elif t is bool:
            out.append("true" if v else "false")
        elif t is int or t is float:
            out.append(_json_number(v))
        elif t is bytes:
            out.append(_json_string(v))
        elif _lupa.lua_type(v) == "table":
            self.table(v, depth + 1, out)
        else:
            raise LuaLibError("Cannot serialise %s: type not supported" % _lupa.lua_type(v))

    def table(self, tbl, depth: int, out: list) -> None:
        if depth > 1000:
            raise LuaLibError("Cannot serialise, excessive nesting (1001)")
        items = list(tbl.items())
        max_index = 0
        is_array = True
        for k, _ in items:
            if type(k) in (int, float) and k == int(k) and k >= 1:
                max_index = max(max_index, int(k))
            else:
                is_array = False
                break
        if is_array and items:
            if max_index > 10 and max_index > 2 * len(items):
                raise LuaLibError("Cannot serialise table: excessively sparse array")
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
                key = '"' + _json_number(k) + '"'
            else:
                raise LuaLibError("Cannot serialise table: table key must be a number or string")
            if not first:
                out.append(",")
            first = False
            out.append(key + ":")
            self.value(v, depth, out)
        out.append("}")


def make_libs(lua) -> dict:
    """name -> Lua table for each library, built in ``lua`` (a lupa runtime
    with ``encoding=None``)."""
    null = lua.eval("newproxy()")

    def encode(*args):
        if len(args) != 1:
            return None, b"bad argument #1 to 'encode' (expected 1 argument)"
        out: list = []
        try:
            _Encoder(null).value(args[0], 0, out)
        except LuaLibError as e:
            return None, str(e).encode()
        return "".join(out).encode("latin-1"), None

    def to_lua(v):
        if v is None:
            return null
        if type(v) is str:
            return v.encode("utf-8", "surrogatepass")
        if type(v) is list:
            return lua.table_from([to_lua(x) for x in v])
        if type(v) is dict:
            t = lua.table_from({})
            for k, x in v.items():
                t[k.encode("utf-8", "surrogatepass")] = to_lua(x)
            return t
        return v

    def decode(*args):
        if len(args) != 1 or type(args[0]) is not bytes:
            return None, b"bad argument #1 to 'decode' (string expected)"
        try:
            v = json.loads(args[0].decode("utf-8", "surrogateescape"),
                           parse_float=float, parse_int=float)
        except (ValueError, RecursionError) as e:
            return None, ("Expected value but found invalid token at character %d"
                          % (getattr(e, "pos", 0) + 1)).encode()
        return to_lua(v), None

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
    cjson = lua.table_from({})
    cjson[b"encode"] = wrap(encode)
    cjson[b"decode"] = wrap(decode)
    cjson[b"null"] = null

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

    bit = lua.table_from({})
    for name, fn in _bit_functions().items():
        required = 0 if name in ("band", "bor", "bxor") else 2 if name in (
            "lshift", "rshift", "arshift", "rol", "ror") else 1
        bit[name.encode()] = bit_wrap(name, fn, max(required, 1))
    return {"cjson": cjson, "bit": bit}
