"""The Lua scripting engine behind EVAL/EVALSHA/SCRIPT: one Lua 5.1 state
per server (lupa), its sandbox, the script cache, the Lua <-> RESP
conversions, the redis.* API and the slow-script (BUSY / SCRIPT KILL)
machinery. No commands here (see ``commands/scripting.py``).

How a script runs, as Redis 6.2 runs it:

* The body is compiled once, as its own chunk named ``@user_script`` (so
  error positions read ``user_script:1:``), cached by SHA1, and called
  with ``xpcall`` and an error handler (chunk ``@err_handler_def``) that
  prefixes the position of the failing frame, which gives Redis's doubled
  ``@user_script:1: user_script:1: ...`` texts. The API functions written
  in Lua here are C in Redis; see ``untail_api_calls`` for why a return
  into them is rewritten.
* The sandbox is a table of read-only proxies: the globals (reading a
  missing global and writing any raise Redis's errors), ``string``,
  ``table``, ``math``, ``coroutine``, ``redis``, ``cjson``, ``bit``,
  ``cmsgpack``, ``struct`` (the last four from ``types.lua_libs``); its
  global names are exactly Redis 6.2.14's. There is no ``os``, ``io``,
  ``debug``, ``package``/``require``, ``loadfile`` or ``dofile``, and no
  function environment hands out the host's globals.
  ``rawset``/``setmetatable`` on a proxy raise; ``pairs``, ``next``,
  ``ipairs`` and ``rawget`` see through proxies. ``math.random`` is
  Redis's rand48, reseeded with 0 before every script.
* ``redis.call`` runs a command through the server's command table and
  ``executor.run`` on a script client that shares the caller's database
  (blocking denied), after Redis's script-call checks. The reply, encoded
  RESP, is parsed into Lua values. Writes propagate one by one from
  ``run`` inside one funnel unit opened by the command, so replicas, the
  AOF and the global log see ``MULTI``/the writes/``EXEC`` and never Lua.
* A count hook checks the time: past ``lua-time-limit`` the script is
  *timed out*: a gate answers BUSY to every other command but SCRIPT KILL,
  SHUTDOWN NOSAVE and a few connection commands, and the hook lets the
  server shell read other clients and accept new connections
  (``core.process_events_while_blocked``) so a SCRIPT KILL can arrive; a kill request stops the script at the next
  hook, and from then on the hook runs at every line of the script and
  raises again, so a ``pcall`` that catches the kill cannot keep it
  alive (as Redis). SHUTDOWN NOSAVE and SIGTERM/SIGINT stop even a
  script that wrote (``Engine.stop``).

Known differences from Redis 6.2: keys do not expire at the script's start
time (Redis freezes the clock for a script); a script whose write commands
change nothing sends no empty MULTI/EXEC; redis.set_repl's AOF-only and
replica-only flags act as REPL_ALL (one funnel feeds both); no Lua
debugger (SCRIPT DEBUG YES/SYNC).
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import time

from . import errors
from .errors import CommandError
from .executor import run
from .protocol.encoder import Raw, format_double

log = logging.getLogger("pyredis")

# Lua VM instructions between two checks of the time limit.
HOOK_INSTRUCTIONS = 100_000

# redis.set_repl() flags, as Redis numbers them.
REPL_NONE, REPL_AOF, REPL_REPLICA, REPL_ALL = 0, 1, 2, 3

_LLONG_MIN = -(1 << 63)
_LLONG_MAX = (1 << 63) - 1

# Commands a timed-out script still lets other clients run (Redis 6.2's
# processCommand list, plus QUIT, which Redis handles before any check);
# SHUTDOWN and SCRIPT only as SHUTDOWN NOSAVE / SCRIPT KILL.
_BUSY_ALLOWED = frozenset(("auth", "hello", "replconf", "multi", "discard", "watch", "unwatch",
                           "reset", "quit"))


def sha1hex(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def lua_number_to_int(n) -> int:
    """(long long) of a Lua number: truncation toward zero; what C gives
    for NaN and out-of-range values on x86-64 (LLONG_MIN)."""
    if type(n) is int:
        return n if _LLONG_MIN <= n <= _LLONG_MAX else _LLONG_MIN
    if n != n or not (-9.223372036854775808e18 <= n < 9.223372036854775808e18):
        return _LLONG_MIN
    return int(n)


def format_lua_number(n) -> bytes:
    """A Lua number given as a command argument (``%.17g``, as Redis)."""
    if type(n) is int:
        return b"%d" % n
    if math.isinf(n):
        return b"inf" if n > 0 else b"-inf"
    if n != n:
        return b"nan" if math.copysign(1.0, n) > 0 else b"-nan"
    return b"%.17g" % n


# -- tail calls into the API -----------------------------------------------------
# Redis's redis.* functions (and cjson, bit, cmsgpack...) are C, so
# ``return redis.call(...)`` keeps the script's frame and error texts name
# its line. Ours are Lua functions, which such a return would tail-call
# (the frame, and the line, would be gone): the body is compiled with
# those returns written ``return __redis__tail(1, redis.call(...))``, where
# ``__redis__tail`` is ``select`` (a name no script shadows, resolved by the
# globals proxy and not listed in _G): the same values, all of them, with a
# tail call into C instead. Only the bytes of the return change; lines
# stay where they are.

_LONG_BRACKET = re.compile(rb"\[(=*)\[")
# The API functions written in Lua.
_API_CALL = re.compile(rb"return(\s+)(?:(?:redis|cjson|bit|cmsgpack|struct)\s*\.\s*[A-Za-z_]\w*|math\s*\.\s*"
                       rb"random(?:seed)?|coroutine\s*\.\s*(?:create|wrap)|setmetatable|getmetatable|rawset|rawget|getfenv|"
                       rb"setfenv|loadstring|load|pairs|ipairs|next)\s*\(")
_STATEMENT_END = re.compile(rb"\s*(;|end\b|else\b|elseif\b|until\b|$)")


def _skip_string_or_comment(body: bytes, i: int) -> int:
    """If a string or comment starts at ``i``, the index after it; else ``i``."""
    c = body[i:i + 1]
    if c in (b"'", b'"'):
        j = i + 1
        while j < len(body):
            if body[j:j + 1] == b"\\":
                j += 2
                continue
            if body[j:j + 1] == c or body[j:j + 1] == b"\n":
                return j + 1
            j += 1
        return j
    if body.startswith(b"--", i):
        m = _LONG_BRACKET.match(body, i + 2)
        if m:
            end = body.find(b"]" + m.group(1) + b"]", m.end())
            return len(body) if end < 0 else end + len(m.group(1)) + 2
        end = body.find(b"\n", i)
        return len(body) if end < 0 else end
    if c == b"[":
        m = _LONG_BRACKET.match(body, i)
        if m:
            end = body.find(b"]" + m.group(1) + b"]", m.end())
            return len(body) if end < 0 else end + len(m.group(1)) + 2
    return i


def untail_api_calls(body: bytes) -> bytes:
    """``body`` with every ``return redis.x(...)`` (and the other API
    functions above) that ends its block written
    ``return __redis__tail(1, redis.x(...))``."""
    if b"return" not in body:
        return body
    out = []
    i = last = 0
    n = len(body)
    while i < n:
        j = _skip_string_or_comment(body, i)
        if j != i:
            i = j
            continue
        m = _API_CALL.match(body, i) if body[i:i + 1] == b"r" else None
        if m and (i == 0 or not (body[i - 1:i].isalnum() or body[i - 1:i] == b"_")):
            depth = 1
            k = m.end()
            while k < n and depth:
                j = _skip_string_or_comment(body, k)
                if j != k:
                    k = j
                    continue
                ch = body[k:k + 1]
                if ch == b"(":
                    depth += 1
                elif ch == b")":
                    depth -= 1
                k += 1
            if depth == 0 and _STATEMENT_END.match(body, k):
                start = i + 6 + len(m.group(1))
                out.append(body[last:start])
                out.append(b"__redis__tail(1, ")
                out.append(body[start:k])
                out.append(b")")
                last = i = k
                continue
        i += 1
    if not out:
        return body
    out.append(body[last:])
    return b"".join(out)


# -- rand48: math.random as Redis seeds and computes it ---------------------

class Rand48:
    """The rand48 generator Redis's math.random uses (redisLrand48), reseeded
    with 0 before every script so scripts see the same sequence."""

    __slots__ = ("x",)
    _A = 0x5DEECE66D
    _MASK = (1 << 48) - 1
    MAX = (1 << 31) - 1

    def __init__(self) -> None:
        self.seed(0)

    def seed(self, s: int) -> None:
        self.x = (((s & 0xFFFFFFFF) << 16) | 0x330E) & self._MASK

    def next31(self) -> int:
        self.x = (self._A * self.x + 0xB) & self._MASK
        return self.x >> 17


# -- the Lua side -------------------------------------------------------------
# Chunk "@redis_internal": frames from it are skipped by the error handler,
# as Redis's own API functions are C and leave no Lua frame.

_BOOT = r"""
local py, libs = ...
local debug, setfenv, getfenv, setmetatable, getmetatable = debug, setfenv, getfenv, setmetatable, getmetatable
local rawset, rawget, next, pairs, ipairs, error, tostring, type, select = rawset, rawget, next, pairs, ipairs, error, tostring, type, select
local unpack, xpcall, loadstring, load = unpack, xpcall, loadstring, load
local READONLY = 'Attempt to modify a readonly table'

-- proxy -> the table it shows
local backing = setmetatable({}, {__mode = 'k'})

local function deny() error(READONLY, 2) end

local function readonly(t)
  local proxy = {}
  backing[proxy] = t
  setmetatable(proxy, {__index = t, __newindex = deny, __metatable = false})
  return proxy
end

local real = {}
for _, name in ipairs({'assert', 'collectgarbage', 'error', 'gcinfo',
                       'newproxy', 'pcall', 'print', 'rawequal', 'select', 'tonumber', 'tostring', 'type', 'unpack', 'xpcall', '_VERSION'}) do
  real[name] = _G[name]
end
real.getmetatable = function(t)
  if backing[t] then return nil end
  return getmetatable(t)
end
real.setmetatable = function(t, mt)
  if backing[t] then error(READONLY, 0) end
  return setmetatable(t, mt)
end
real.rawset = function(t, k, v)
  if backing[t] then error(READONLY, 0) end
  return rawset(t, k, v)
end
real.rawget = function(t, k)
  local b = backing[t]
  if b then return rawget(b, k) end
  return rawget(t, k)
end
real.next = function(t, k)
  return next(backing[t] or t, k)
end
real.pairs = function(t)
  local b = backing[t]
  if b then return next, b, nil end
  return pairs(t)
end
real.ipairs = function(t)
  return ipairs(backing[t] or t)
end

local function copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end
real.string = readonly(copy(string))
real.table = readonly(copy(table))
real.math = readonly(copy(math))
real.coroutine = readonly(copy(coroutine))
for name, lib in pairs(libs) do real[name] = readonly(lib) end
debug.getmetatable('').__index = real.string

local G = {}
backing[G] = real
real._G = G
setmetatable(G, {
  __index = function(_, name)
    local v = real[name]
    if v == nil and name == '__redis__tail' then return select end
    if v == nil then
      error("Script attempted to access nonexistent global variable '" .. tostring(name) .. "'", 2)
    end
    return v
  end,
  __newindex = deny,
  __metatable = false,
})
-- Chunks made by loadstring/load inside scripts see the sandbox too, and
-- no function environment gives the host's globals away.
local host = getfenv(0)
real.loadstring = function(src, name)
  local f, e = loadstring(src, name)
  if f then setfenv(f, G) end
  return f, e
end
real.load = function(fn, name)
  local f, e = load(fn, name)
  if f then setfenv(f, G) end
  return f, e
end
real.getfenv = function(f)
  local env = getfenv(f == nil and 2 or (type(f) == 'number' and f > 0 and f + 1) or f)
  if env == host then return G end
  return env
end
real.setfenv = function(f, t)
  if f == 0 then error(READONLY, 0) end
  return setfenv(type(f) == 'number' and f + 1 or f, t)
end

local getinfo = debug.getinfo
local sethook = debug.sethook
local hook_check = py.hook
local KILLED = 'Script killed by user with SCRIPT KILL...'
-- Set once the running script is stopped (SCRIPT KILL, SHUTDOWN NOSAVE, a
-- signal); engine.run clears it.
local killed = false
-- True while engine.run runs a script (only then can the hook stop it).
local running = false
local function hook()
  if not running then return end
  if not killed then
    if not hook_check() then return end
    killed = true
    -- As Redis: from now on the hook runs at every line and raises again,
    -- so a pcall that catches the kill cannot keep the script running.
    sethook(hook, 'l')
  end
  -- Raise in the script's own code only. Our API functions are C in
  -- Redis (no lines); engine.run must get past xpcall to reset the hook;
  -- and raising inside the error handler would turn the kill into "error
  -- in error handling". The script's next line raises instead.
  local source = getinfo(2, 'S').source
  if source == '@redis_internal' or source == '@err_handler_def' then return end
  error(KILLED, 0)
end

-- Hooks belong to a thread: a coroutine a script creates installs the
-- time-limit hook as it starts, so a loop inside it can be killed too.
do
  local colib = backing[real.coroutine]
  local create, wrap = coroutine.create, coroutine.wrap
  local function hooked(f)
    return function(...)
      sethook(hook, '', HOOK_N)
      return f(...)
    end
  end
  local function check(f, name)
    if type(f) ~= 'function' or getinfo(f, 'S').what == 'C' then
      error("bad argument #1 to '" .. name .. "' (Lua function expected)", 3)
    end
  end
  colib.create = function(f)
    check(f, 'create')
    return create(hooked(f))
  end
  colib.wrap = function(f)
    check(f, 'wrap')
    return wrap(hooked(f))
  end
end

local handler = loadstring([[
local getinfo, internal = ...
local function position(err)
  local level = 2
  local i = getinfo(level, 'nSl')
  if i and i.what == 'C' then level = level + 1 i = getinfo(level, 'nSl') end
  while i and i.source == internal do level = level + 1 i = getinfo(level, 'nSl') end
  if not i then return err end
  local where = i.source .. ':' .. i.currentline .. ': '
  return where .. err
end
return position
]], '@err_handler_def')(getinfo, '@redis_internal')
real.__redis__err__handler = handler

-- luaPushError: the message with the position of the API's caller.
local function positioned(msg, level)
  local i = getinfo(level or 3, 'Sl')
  if i then return i.source .. ': ' .. i.currentline .. ': ' .. msg end
  return msg
end

local py_call = py.call
local function api_call(raise, ...)
  local kind, v = py_call(raise, ...)
  if kind == 0 then return v end
  if kind == 2 then v = positioned(v, 4) end
  if raise then error(v, 0) end
  return {err = v}
end

local redis = libs.redis
-- Not tail calls: the error handler and positioned() count these frames.
redis.call = function(...) local r = api_call(true, ...) return r end
redis.pcall = function(...) local r = api_call(false, ...) return r end
-- Wrong arguments give an error table back, not a raised error (as Redis).
redis.error_reply = function(...)
  local e = ...
  if select('#', ...) ~= 1 or type(e) ~= 'string' then
    return {err = positioned('wrong number or type of arguments')}
  end
  return {err = e}
end
redis.status_reply = function(...)
  local s = ...
  if select('#', ...) ~= 1 or type(s) ~= 'string' then
    return {err = positioned('wrong number or type of arguments')}
  end
  return {ok = s}
end
redis.sha1hex = function(...)
  if select('#', ...) ~= 1 then error('wrong number of arguments', 0) end
  return py.sha1hex(...)
end
redis.log = function(...)
  local n = select('#', ...)
  if n < 2 then error('redis.log() requires two arguments or more.', 0) end
  local level = ...
  if type(level) ~= 'number' then error('First argument must be a number (log level).', 0) end
  if level < 0 or level > 3 then error('Invalid debug level.', 0) end
  local parts = {}
  for i = 2, n do
    local a = select(i, ...)
    if type(a) == 'string' or type(a) == 'number' then parts[#parts + 1] = tostring(a) end
  end
  py.log(level, parts)
end
redis.setresp = function(...)
  if select('#', ...) ~= 1 then error('redis.setresp() requires one argument.', 0) end
  local v = ...
  if v ~= 2 and v ~= 3 then error('RESP version must be 2 or 3.', 0) end
  py.setresp(v)
end
redis.replicate_commands = function() return py.replicate_commands() end
redis.set_repl = function(...)
  if select('#', ...) ~= 1 then error('redis.set_repl() requires two arguments.', 0) end
  local e = py.set_repl(...)
  if e then error(e, 0) end
end
redis.breakpoint = function() return false end
redis.debug = function() end
redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL = 0, 1, 2, 2, 3

local mathlib = backing[real.math]
mathlib.random = function(...)
  local r = py.random()
  local n = select('#', ...)
  if n == 0 then return r end
  local m, u = ...
  if n == 1 then
    if m < 1 then error("bad argument #1 to 'random' (interval is empty)", 2) end
    return math.floor(r * m) + 1
  end
  if n == 2 then
    if m > u then error("bad argument #2 to 'random' (interval is empty)", 2) end
    return math.floor(r * (u - m + 1)) + m
  end
  error('wrong number of arguments', 2)
end
mathlib.randomseed = function(s)
  py.randomseed(s)
end

-- The time-limit hook stays installed: it costs one call every
-- HOOK_N instructions, and the engine answers at once outside scripts.
sethook(hook, '', HOOK_N)

local engine = {}

-- Compile a script body (as its own chunk, as Redis 6.2.14 does); returns
-- the function, or nil and the error.
function engine.compile(name, body)
  local f, err = loadstring(body, '@user_script')
  if not f then return nil, err end
  setfenv(f, G)
  return f, false
end

-- Run a compiled script; the first nkeys arguments are KEYS, the rest ARGV.
-- Returns ok, result.
function engine.run(f, nkeys, ...)
  local keys, argv = {...}, {}
  for i = nkeys + 1, #keys do
    argv[i - nkeys] = keys[i]
    keys[i] = nil
  end
  real.KEYS = keys
  real.ARGV = argv
  -- A killed script leaves the line hook behind: back to the count hook.
  killed = false
  sethook(hook, '', HOOK_N)
  running = true
  local ok, v = xpcall(f, handler)
  running = false
  return ok, v
end

return engine
"""


class Engine:
    """One server's Lua state, script cache and the running script's state."""

    def __init__(self, core) -> None:
        import lupa.lua51 as lupa_lua
        from .client import Client
        self.core = core
        self.lupa = lupa_lua
        # A bounded heap: a script allocating without end fails with Lua's
        # "not enough memory" instead of taking the server's memory (the
        # time limit alone would let it grow by gigabytes first).
        self.lua = lupa_lua.LuaRuntime(encoding=None, register_eval=False,
                                       register_builtins=False, unpack_returned_tuples=True,
                                       max_memory=core.config.lua_max_memory)
        core.config.on_change("lua-max-memory", self.lua.set_max_memory)
        self.scripts: dict[str, tuple[bytes, object]] = {}
        self.rand = Rand48()
        # The script client: shares the caller's database; never registered
        # as a connection (Redis's lua_client).
        c = self.client = Client(core, 0)
        c.authenticated = True
        c.deny_blocking = True
        c.kind = "lua"
        # The running script, if any.
        self.caller = None
        self.running_sha = ""
        self.start = 0.0
        self.timed_out = False
        self.kill_requested = False
        self.write_dirty = False
        self.random_dirty = False
        self.replicate_commands = True
        self.repl_flags = REPL_ALL
        self._saved_gate = None
        from .types.lua_libs import make_libs
        libs = self.lua.table_from({})
        for name, tbl in make_libs(self.lua).items():
            libs[name.encode()] = tbl
        libs[b"redis"] = self.lua.table_from({})
        py = self.lua.table_from({})
        py[b"call"] = self._api_call
        py[b"hook"] = self._hook
        py[b"sha1hex"] = self._api_sha1hex
        py[b"log"] = self._api_log
        py[b"setresp"] = self._api_setresp
        py[b"replicate_commands"] = self._api_replicate_commands
        py[b"set_repl"] = self._api_set_repl
        py[b"random"] = self._api_random
        py[b"randomseed"] = self._api_randomseed
        boot = _BOOT.replace("HOOK_N", str(HOOK_INSTRUCTIONS))
        loader = self.lua.eval("function(src) return assert(loadstring(src, '@redis_internal')) end")
        self.api = loader(boot.encode())(py, libs)

    # -- the script cache ----------------------------------------------------

    def load(self, body: bytes) -> str:
        """Compile and cache ``body``; returns its SHA1. Raises CommandError
        with Redis's compile error."""
        sha = sha1hex(body)
        if sha not in self.scripts:
            f, err = self.api.compile(b"f_" + sha.encode(), untail_api_calls(body))
            if f is None:
                msg = err.decode("utf-8", "surrogateescape") if isinstance(err, bytes) else str(err)
                raise CommandError(errors.LUA_COMPILE.format(msg))
            self.scripts[sha] = (body, f)
        return sha

    def flush(self) -> None:
        self.scripts.clear()

    # -- running ---------------------------------------------------------------

    def run(self, caller, sha: str, keys: list, argv: list):
        """Run the cached script ``sha`` for ``caller``; returns its reply
        (encoded for the caller, as a Raw) or raises CommandError."""
        f = self.scripts[sha][1]
        core = self.core
        config = core.config
        sc = self.client
        sc.db = caller.db
        sc.resp = 2
        self.caller = caller
        self.running_sha = sha
        self.timed_out = False
        self.kill_requested = False
        self.write_dirty = False
        self.random_dirty = False
        self.replicate_commands = bool(config.lua_replicate_commands)
        self.repl_flags = REPL_ALL
        # The server-wide gates, without the busy gate this run may add.
        self._saved_gate = core.gate
        self.rand.seed(0)
        self.start = time.monotonic()
        funnel = core.funnel
        funnel.begin_unit()
        try:
            ok, value = self.api.run(f, len(keys), *keys, *argv)
            if not ok:
                msg = value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) \
                    else str(value)
                # addReplyErrorFormat trims the CR/LF that end a message.
                raise CommandError(errors.LUA_RUNTIME.format(sha, msg).rstrip("\r\n"))
            out: list = []
            self._encode(value, out, caller.resp == 3, True)
            return Raw(b"".join(out))
        finally:
            funnel.end_unit()
            if self.timed_out:
                core.set_gate(None, "script-busy")
                log.warning("Slow script finished: %s", sha)
            self._saved_gate = None
            self.caller = None
            self.running_sha = ""
            self.timed_out = False
            self.kill_requested = False
            sc.db = core.ks.dbs[0]

    @property
    def busy(self) -> bool:
        """A script is running past lua-time-limit (other clients get BUSY)."""
        return self.timed_out

    def kill(self) -> None:
        """SCRIPT KILL: raises NOTBUSY / UNKILLABLE, else stops the script at
        its next hook."""
        if not self.timed_out:
            raise CommandError(errors.NOTBUSY)
        if self.write_dirty:
            raise CommandError(errors.UNKILLABLE)
        self.kill_requested = True

    def stop(self) -> None:
        """Stop the running script, if any, at its next hook, whatever it
        wrote: SHUTDOWN NOSAVE and SIGTERM/SIGINT end even a script SCRIPT
        KILL may not (Redis exits from inside it)."""
        if self.caller is not None:
            self.kill_requested = True

    def _hook(self):
        """Called every HOOK_INSTRUCTIONS Lua instructions; True stops the script."""
        core = self.core
        if self.caller is None:  # Lua run by the engine itself, not a script
            return False
        if not self.kill_requested and not self.timed_out:
            limit = core.config.lua_time_limit
            elapsed = (time.monotonic() - self.start) * 1000
            if limit <= 0 or elapsed < limit:
                return False
            log.warning("Lua slow script detected: still in execution after %d milliseconds. "
                        "You can try killing the script using the SCRIPT KILL command. "
                        "Script SHA1 is: %s", elapsed, self.running_sha)
            self.timed_out = True
            # Last in the chain: Redis checks OOM, read-only and the rest
            # before the busy script.
            core.set_gate(self._busy_gate, "script-busy")
        # A signal may ask to stop before the time limit (see stop): no pump then.
        pump = getattr(core, "process_events_while_blocked", None)
        if pump is not None and self.timed_out and not self.kill_requested:
            pump(self.caller)
        if self.kill_requested:
            log.warning("Lua script killed by user with SCRIPT KILL.")
            return True
        return False

    def _busy_gate(self, client, cmd, args):
        name = cmd.name
        if name in _BUSY_ALLOWED:
            pass
        elif name == "shutdown" and len(args) == 2 and args[1][:1] in (b"n", b"N"):
            # Redis exits from inside the script; here the script stops at
            # its next hook and the shell then shuts down.
            self.stop()
        elif name == "script" and len(args) == 2 and args[1][:1] in (b"k", b"K"):
            pass
        else:
            return errors.BUSY_SCRIPT
        return None

    # -- redis.call ------------------------------------------------------------

    def _api_call(self, raise_error, *args):
        """redis.call / redis.pcall: returns (0, value), (1, error text) or
        (2, error text that gets the caller's position)."""
        if not args:
            return 2, b"Please specify at least one argument for redis.call()"
        argv = []
        for a in args:
            t = type(a)
            if t is bytes:
                argv.append(a)
            elif t is int or t is float:
                argv.append(format_lua_number(a))
            else:
                return 2, b"Lua redis() command arguments must be strings or integers"
        core = self.core
        sc = self.client
        cmd = sc.table.get(argv[0])
        if cmd is None:
            cmd = sc.table.get(argv[0].lower())
        if cmd is None:
            return 2, b"Unknown Redis command called from Lua script"
        arity = cmd.arity
        if (arity > 0 and len(argv) != arity) or len(argv) < -arity:
            return 2, b"Wrong number of args calling Redis command From Lua script"
        if cmd.noscript:
            return 2, b"This Redis command is not allowed from scripts"
        if cmd.is_write:
            if self.random_dirty and not self.replicate_commands:
                return 2, errors.LUA_WRITE_AFTER_RANDOM.encode()
        if cmd.name in ("xread", "xreadgroup") and _blocks(argv):
            # The stream commands' own refusal for script clients (Redis
            # checks CLIENT_LUA in xreadCommand).
            return 1, b"ERR %b command is not allowed with BLOCK option from scripts" % (
                cmd.name.encode())
        for gate in (self._saved_gate, cmd.gate):
            if gate is None:
                continue
            refused = gate(sc, cmd, argv)
            # A held reply (CLIENT PAUSE) does not apply inside a script that
            # already runs; OOM only refuses before the script's first write
            # command, as in Redis.
            if type(refused) is str and not (refused.startswith("OOM ") and self.write_dirty):
                # Redis pushes its shared reply object, "-" and CRLF included.
                return 2, b"-%b\r\n" % refused.encode("utf-8", "surrogateescape")
        if "random" in cmd.flags:
            self.random_dirty = True
        if cmd.is_write:
            self.write_dirty = True
        if self.repl_flags == REPL_NONE:
            funnel = core.funnel
            sinks, funnel.sinks = funnel.sinks, []
            try:
                reply = run(sc, cmd, argv)
            finally:
                funnel.sinks = sinks
        else:
            reply = run(sc, cmd, argv)
        value, pos = self._parse(reply, 0)
        if type(value) is _Err:
            return 1, value.msg
        if not self.replicate_commands and "sort_for_script" in cmd.flags \
                and reply[:1] == b"*" and reply[1:2] != b"-":
            # Whole-script replication needs the same order on every
            # replica: Redis sorts these replies (its luaSortArray).
            items = list(value.values())
            if all(type(x) is bytes for x in items):
                value = self.lua.table_from(sorted(items))
        return 0, value

    def _parse(self, data: bytes, pos: int):
        """One RESP reply at ``pos`` -> (Lua value, next pos), as Redis
        converts replies for scripts (RESP2 or, after redis.setresp(3), RESP3)."""
        t = data[pos]
        nl = data.index(b"\r\n", pos)
        line = data[pos + 1:nl]
        pos = nl + 2
        lua = self.lua
        if t == 36:  # $
            n = int(line)
            if n < 0:
                return False, pos
            return data[pos:pos + n], pos + n + 2
        if t == 58:  # :
            return int(line), pos
        if t == 43:  # +
            return lua.table_from({b"ok": line}), pos
        if t == 45:  # -
            return _Err(line), pos
        if t == 42 or t == 126 or t == 62:  # * ~ >
            n = int(line)
            if n < 0:
                return False, pos
            items = []
            for _ in range(n):
                v, pos = self._parse(data, pos)
                if type(v) is _Err:
                    v = lua.table_from({b"err": v.msg})
                items.append(v)
            if t == 126:
                s = lua.table_from({})
                for v in items:
                    s[v] = True
                return lua.table_from({b"set": s}), pos
            return lua.table_from(items), pos
        if t == 37:  # %
            m = lua.table_from({})
            for _ in range(int(line)):
                k, pos = self._parse(data, pos)
                v, pos = self._parse(data, pos)
                m[k] = v
            return lua.table_from({b"map": m}), pos
        if t == 95:  # _
            return None, pos
        if t == 35:  # #
            return line == b"t", pos
        if t == 44:  # ,
            return lua.table_from({b"double": float(line)}), pos
        if t == 40:  # (
            return lua.table_from({b"big_number": line}), pos
        if t == 61:  # =
            n = int(line)
            s = data[pos:pos + n]
            v = lua.table_from({b"format": s[:3], b"string": s[4:]})
            return lua.table_from({b"verbatim_string": v}), pos + n + 2
        raise ValueError("unexpected reply type %r" % chr(t))

    # -- a script's result ----------------------------------------------------

    def _encode(self, v, out: list, resp3: bool, top: bool) -> None:
        """A Lua value as Redis replies it (luaReplyToRedisReply)."""
        t = type(v)
        if t is bytes:
            out.append(b"$%d\r\n%b\r\n" % (len(v), v))
        elif t is bool:
            if self.client.resp == 3:
                # addReplyBool: RESP2 callers get 1 / 0.
                if resp3:
                    out.append(b"#t\r\n" if v else b"#f\r\n")
                else:
                    out.append(b":1\r\n" if v else b":0\r\n")
            elif v:
                out.append(b":1\r\n")
            else:
                out.append(b"_\r\n" if resp3 else b"$-1\r\n")
        elif t is int or t is float:
            out.append(b":%d\r\n" % lua_number_to_int(v))
        elif v is None:
            out.append(b"_\r\n" if resp3 else b"$-1\r\n")
        elif self.lupa.lua_type(v) == "table":
            self._encode_table(v, out, resp3, top)
        else:
            out.append(b"_\r\n" if resp3 else b"$-1\r\n")

    def _encode_table(self, tbl, out: list, resp3: bool, top: bool) -> None:
        err = tbl[b"err"]
        if type(err) is bytes:
            # Trailing CR/LF trimmed, others made spaces (addReplyErrorFormat).
            msg = err.rstrip(b"\r\n").replace(b"\r", b" ").replace(b"\n", b" ")
            if top:
                raise CommandError(msg.decode("utf-8", "surrogateescape"))
            out.append(b"-%b\r\n" % msg)
            return
        ok = tbl[b"ok"]
        if type(ok) is bytes:
            out.append(b"+%b\r\n" % ok.replace(b"\r", b" ").replace(b"\n", b" "))
            return
        d = tbl[b"double"]
        if type(d) is int or type(d) is float:
            d = float(d)
            text = b"nan" if d != d else format_double(d)
            out.append(b",%b\r\n" % text if resp3 else b"$%d\r\n%b\r\n" % (len(text), text))
            return
        big = tbl[b"big_number"]
        if type(big) is bytes:
            big = big.replace(b"\r", b" ").replace(b"\n", b" ")
            out.append(b"(%b\r\n" % big if resp3 else b"$%d\r\n%b\r\n" % (len(big), big))
            return
        m = tbl[b"map"]
        if m is not None and self.lupa.lua_type(m) == "table":
            pairs = list(m.items())
            out.append((b"%%%d\r\n" if resp3 else b"*%d\r\n") % (len(pairs) * (1 if resp3 else 2)))
            for k, x in pairs:
                self._encode(k, out, resp3, False)
                self._encode(x, out, resp3, False)
            return
        s = tbl[b"set"]
        if s is not None and self.lupa.lua_type(s) == "table":
            keys = list(s.keys())
            out.append((b"~%d\r\n" if resp3 else b"*%d\r\n") % len(keys))
            for k in keys:
                self._encode(k, out, resp3, False)
            return
        items = []
        j = 1
        while True:
            x = tbl[j]
            if x is None:
                break
            items.append(x)
            j += 1
        out.append(b"*%d\r\n" % len(items))
        for x in items:
            self._encode(x, out, resp3, False)

    # -- the rest of the redis.* API ---------------------------------------------

    def _api_sha1hex(self, s):
        if type(s) is not bytes:
            # Lua's own number-to-string (%.14g).
            s = (b"%.14g" % s) if type(s) in (int, float) else b""
        return hashlib.sha1(s).hexdigest().encode()

    def _api_log(self, level, parts):
        level = int(level)
        if not 0 <= level <= 3:
            return
        text = b" ".join(parts.values()).decode("utf-8", "replace")
        log.log((logging.DEBUG, logging.DEBUG, logging.INFO, logging.WARNING)[level], "%s", text)

    def _api_setresp(self, v):
        self.client.resp = int(v)

    def _api_replicate_commands(self):
        # Effects replication is how pyredis always replicates scripts; the
        # call only lifts the write-after-random-command rule.
        self.replicate_commands = True
        return True

    def _api_set_repl(self, flags):
        if not self.replicate_commands:
            return (b"You can set the replication behavior only after turning on single "
                    b"commands replication with redis.replicate_commands().")
        if type(flags) not in (int, float) or flags != int(flags) or not 0 <= flags <= 3:
            return b"Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE."
        self.repl_flags = int(flags)
        return None

    def _api_random(self):
        return (self.rand.next31() % Rand48.MAX) / Rand48.MAX

    def _api_randomseed(self, s):
        self.rand.seed(lua_number_to_int(s) & 0xFFFFFFFF)


def _blocks(argv: list) -> bool:
    """XREAD/XREADGROUP argv with a BLOCK option (before STREAMS)."""
    for a in argv[1:]:
        low = a.lower()
        if low == b"streams":
            return False
        if low == b"block":
            return True
    return False


class _Err:
    """An error reply met while converting a command's reply."""

    __slots__ = ("msg",)

    def __init__(self, msg: bytes) -> None:
        self.msg = msg


def engine(core) -> Engine:
    """The server's engine, created on first use."""
    e = getattr(core, "lua_engine", None)
    if e is None:
        e = core.lua_engine = Engine(core)
    return e
