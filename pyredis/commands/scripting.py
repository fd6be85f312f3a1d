"""Scripting commands: EVAL, EVALSHA, SCRIPT LOAD/EXISTS/FLUSH/KILL/DEBUG.

The Lua runtime, sandbox and conversions live in ``pyredis.scripting``;
these handlers parse arguments and hand over. EVAL is not a write command:
the executor never propagates its argv, and the writes a script makes leave
through the funnel one by one, inside the unit the engine opens. SCRIPT
LOAD and SCRIPT FLUSH are propagated as they are, as Redis 6.2 does.
"""

from __future__ import annotations

from .. import errors
from ..errors import CommandError
from ..protocol import OK
from ..scripting import engine
from .args import to_int
from .subcommands import Subcommands
from .table import command


def _eval_keys(args: list) -> list:
    """EVAL's keys (Redis's evalGetKeys: numkeys read with atoi; none when
    it is out of range)."""
    try:
        n = int(args[2])
    except ValueError:
        return []
    if n <= 0 or n > len(args) - 3:
        return []
    return args[3:3 + n]


def _feed_monitors(client, args: list) -> None:
    # EVAL is skip_monitor: as in Redis it shows before the commands its
    # script runs, not after them.
    if client.core.monitors:
        from ..executor import _feed_monitors as feed
        feed(client, args)


def _numkeys(args: list) -> int:
    n = to_int(args[2])
    if n is None:
        raise CommandError(errors.NOT_INTEGER)
    if n > len(args) - 3:
        raise CommandError(errors.EVAL_NUMKEYS_TOO_BIG)
    if n < 0:
        raise CommandError(errors.EVAL_NUMKEYS_NEGATIVE)
    return n


@command("eval", -3, "noscript skip_monitor may_replicate movablekeys", categories="@scripting",
         group="scripting", since="2.6.0", keys_fn=_eval_keys)
def eval_(client, args):
    _feed_monitors(client, args)
    n = _numkeys(args)
    e = engine(client.core)
    sha = e.load(args[1])
    return e.run(client, sha, args[3:3 + n], args[3 + n:])


@command("evalsha", -3, "noscript skip_monitor may_replicate movablekeys",
         categories="@scripting", group="scripting", since="2.6.0", keys_fn=_eval_keys)
def evalsha(client, args):
    _feed_monitors(client, args)
    sha = args[1]
    if len(sha) != 40:
        raise CommandError(errors.NOSCRIPT)
    n = _numkeys(args)
    e = engine(client.core)
    sha = sha.decode("latin-1").lower()
    if sha not in e.scripts:
        raise CommandError(errors.NOSCRIPT)
    return e.run(client, sha, args[3:3 + n], args[3 + n:])


SCRIPT = Subcommands("script")


@command("script", -2, "noscript may_replicate", categories="@scripting", group="scripting",
         since="2.6.0")
def script(client, args):
    if len(args) == 2 and args[1].lower() == b"help":
        return SCRIPT.help(["debug", "exists", "flush", "kill", "load"])
    return SCRIPT.dispatch(client, args)


@SCRIPT.add("load", 3, ("LOAD <script>",
                        "    Load a script into the scripts cache without executing it."))
def script_load(client, args):
    sha = engine(client.core).load(args[2]).encode()
    _force_propagation(client, args)
    return sha


def _force_propagation(client, args: list) -> None:
    """SCRIPT LOAD and FLUSH change no key yet reach replicas and the AOF,
    so a promoted replica answers EVALSHA as its master did (Redis's
    forceCommandPropagation); the executor, which propagates what changed
    the dataset, would not send them."""
    funnel = client.core.funnel
    if funnel.sinks:
        funnel.emit(client.db.id, list(args))


@SCRIPT.add("exists", -3, ("EXISTS <sha1> [<sha1> ...]",
                           "    Return information about the existence of the scripts in the "
                           "script cache."))
def script_exists(client, args):
    scripts = engine(client.core).scripts
    return [1 if a.decode("latin-1").lower() in scripts else 0 for a in args[2:]]


@SCRIPT.add("flush", -2, (
    "FLUSH [ASYNC|SYNC]",
    "    Flush the Lua scripts cache. Very dangerous on replicas.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the scripts cache.",
    "    * SYNC: Synchronously flush the scripts cache."))
def script_flush(client, args):
    if len(args) > 3 or (len(args) == 3 and args[2].lower() not in (b"sync", b"async")):
        raise CommandError(errors.SCRIPT_FLUSH_MODE)
    engine(client.core).flush()
    _force_propagation(client, args)
    return OK


@SCRIPT.add("kill", 2, ("KILL", "    Kill the currently executing Lua script."))
def script_kill(client, args):
    engine(client.core).kill()
    return OK


@SCRIPT.add("debug", 3, ("DEBUG (YES|SYNC|NO)",
                         "    Set the debug mode for subsequent scripts executed."))
def script_debug(client, args):
    mode = args[2].lower()
    if mode == b"no":
        return OK
    if mode in (b"yes", b"sync"):
        raise CommandError(errors.SCRIPT_NO_DEBUGGER)
    raise CommandError(errors.SCRIPT_DEBUG_MODE)
