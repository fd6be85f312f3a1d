"""CLIENT: ID, SETNAME, GETNAME, LIST, INFO, KILL, SETINFO, UNBLOCK,
GETREDIR, TRACKINGINFO, HELP.

CLIENT LIST / CLIENT INFO lines carry Redis 6.2's fields in its order (id
addr laddr fd name age idle flags db sub psub multi qbuf qbuf-free argv-mem
obl oll omem tot-mem events cmd user redir), then ``lib-name`` and
``lib-ver`` as Redis 7.2 reports what CLIENT SETINFO set (redis-py 5+ sends
it after connecting). Memory fields are what pyredis knows: the pending
query bytes, the transport's pending output, the arguments of the command
running now.

PAUSE/UNPAUSE and REPLY are added to ``CLIENT`` (a :class:`Subcommands`
registry) by commands/admin.py. Not offered yet: TRACKING/CACHING.
"""

from __future__ import annotations

import sys
import time

from .. import errors
from ..blocking import unblock
from ..errors import CommandError
from ..protocol import OK, Verbatim, encode
from .args import to_int
from .connection import validate_client_name
from .subcommands import Subcommands
from .table import command

CLIENT = Subcommands("client")

_HELP_ORDER = ["getredir", "getname", "id", "info", "kill", "list", "unpause", "pause", "reply",
               "setinfo", "setname", "trackinginfo", "unblock"]


@command("client", -2, "admin noscript random loading stale", categories="@connection",
         group="server", since="2.4.0")
def client_(client, args):
    return CLIENT.dispatch(client, args)


@CLIENT.add("help", 2)
def client_help(client, args):
    return CLIENT.help(_HELP_ORDER)


# -- describing clients -----------------------------------------------------------


def client_type(c) -> str:
    """Redis's getClientType name: normal, master, replica or pubsub."""
    if c.kind in ("master", "replica"):
        return c.kind
    if c.kind == "pubsub" or c.channels or c.patterns:
        return "pubsub"
    return "normal"


def _flags(c) -> str:
    f = ""
    kind = c.kind
    if kind == "replica":
        f += "S"
    elif kind == "master":
        f += "M"
    if c.monitor:
        f += "O"
    if c.in_multi:
        f += "x"
    if c.blocked is not None:
        f += "b"
    if c.watch_dirty:
        f += "d"
    if c.closing:
        f += "c"
    if c.channels or c.patterns:
        f += "P"
    return f or "N"


def client_line(c, now: float, current_args=None) -> str:
    """One CLIENT LIST line (without its newline). ``current_args`` are the
    arguments of the command ``c`` runs right now (the caller of CLIENT)."""
    argv_mem = sum(len(a) for a in current_args) if current_args else 0
    if current_args:
        cmd = current_args[0].decode("utf-8", "replace").lower()
    else:
        last = c.last_cmd
        # Redis prints NULL before a client's first command.
        cmd = "NULL" if last is None else last if isinstance(last, str) else last.name
    qbuf = c.query_pending
    omem = c.output_pending
    tot = sys.getsizeof(c) + qbuf + omem + argv_mem
    multi = len(c.multi_queue or ()) if c.in_multi else -1
    name = c.name.decode("utf-8", "replace")
    return (f"id={c.id} addr={c.addr} laddr={c.laddr} fd={c.fd} name={name} "
            f"age={int(now - c.created)} idle={int(now - c.last_interaction)} "
            f"flags={_flags(c)} db={c.db.id} sub={len(c.channels or ())} "
            f"psub={len(c.patterns or ())} multi={multi} qbuf={qbuf} qbuf-free=0 "
            f"argv-mem={argv_mem} obl=0 oll=0 omem={omem} tot-mem={tot} "
            f"events={'rw' if omem else 'r'} cmd={cmd} user=default redir=-1 "
            f"lib-name={c.lib_name.decode('utf-8', 'replace')} "
            f"lib-ver={c.lib_ver.decode('utf-8', 'replace')}")


_TYPES = {"normal": "normal", "master": "master", "replica": "replica", "slave": "replica",
          "pubsub": "pubsub"}


def _parse_type(arg: bytes) -> str:
    t = _TYPES.get(arg.decode("utf-8", "replace").lower())
    if t is None:
        raise CommandError(errors.unknown_client_type(arg.decode("utf-8", "replace")))
    return t


# -- subcommands ------------------------------------------------------------------------


@CLIENT.add("id", 2, help=("ID", "    Return the ID of the current connection."))
def client_id(client, args):
    return client.id


@CLIENT.add("getname", 2, help=("GETNAME", "    Return the name of the current connection."))
def client_getname(client, args):
    return client.name or None


@CLIENT.add("setname", 3, help=("SETNAME <name>",
                                "    Assign the name <name> to the current connection."))
def client_setname(client, args):
    validate_client_name(args[2])
    client.name = args[2]
    return OK


@CLIENT.add("setinfo", 4, help=(
        "SETINFO <LIB-NAME|LIB-VER> <value>",
        "    Set the client library name or version (reported by CLIENT LIST)."))
def client_setinfo(client, args):
    attr = args[2].decode("utf-8", "replace").lower()
    value = args[3]
    if attr not in ("lib-name", "lib-ver"):
        raise CommandError(f"ERR Unrecognized option '{args[2].decode('utf-8', 'replace')}'")
    for ch in value:
        if ch < 33 or ch > 126:
            raise CommandError(f"ERR {attr} cannot contain spaces, newlines or special "
                               "characters.")
    if attr == "lib-name":
        client.lib_name = value
    else:
        client.lib_ver = value
    return OK


@CLIENT.add("info", 2, help=("INFO", "    Return information about the current client "
                                     "connection."))
def client_info(client, args):
    return Verbatim((client_line(client, time.monotonic(), args) + "\n").encode())


@CLIENT.add("list", -2, help=(
        "LIST [options ...]",
        "    Return information about client connections. Options:",
        "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
        "      Return clients of specified type.",
        "    * ID <id> [<id> ...]",
        "      Return clients with the given IDs."))
def client_list(client, args):
    core = client.core
    if len(args) == 2:
        chosen = list(core.clients.values())
    elif len(args) == 4 and args[2].lower() == b"type":
        t = _parse_type(args[3])
        chosen = [c for c in core.clients.values() if client_type(c) == t]
    elif len(args) >= 4 and args[2].lower() == b"id":
        chosen = []
        for a in args[3:]:
            cid = to_int(a)
            if cid is None:
                raise CommandError(errors.INVALID_CLIENT_ID)
            c = core.clients.get(cid)
            if c is not None:
                chosen.append(c)
    else:
        raise CommandError(errors.SYNTAX)
    now = time.monotonic()
    text = "".join(client_line(c, now, args if c is client else None) + "\n" for c in chosen)
    return Verbatim(text.encode())


@CLIENT.add("kill", -2, help=(
        "KILL <ip:port>",
        "    Kill connection made from <ip:port>.",
        "KILL <option> <value> [<option> <value> [...]]",
        "    Kill connections. Options are:",
        "    * ADDR (<ip:port>|<unixsocket>:0)",
        "      Kill connections made from the specified address",
        "    * LADDR (<ip:port>|<unixsocket>:0)",
        "      Kill connections made to specified local address",
        "    * TYPE (normal|master|replica|pubsub)",
        "      Kill connections by type.",
        "    * USER <username>",
        "      Kill connections authenticated by <username>.",
        "    * SKIPME (YES|NO)",
        "      Skip killing current connection (default: yes)."))
def client_kill(client, args):
    core = client.core
    if len(args) == 2:
        raise CommandError(errors.SYNTAX)
    if len(args) == 3:
        # Old form: CLIENT KILL addr, an error when nobody matches.
        addr = args[2].decode("utf-8", "replace")
        for c in list(core.clients.values()):
            if c.addr == addr:
                _kill(client, c)
                return OK
        raise CommandError(errors.NO_SUCH_CLIENT)
    if len(args) % 2:
        raise CommandError(errors.SYNTAX)
    cid = addr = laddr = ctype = None
    skipme = True
    for i in range(2, len(args), 2):
        opt, val = args[i].lower(), args[i + 1]
        if opt == b"id":
            cid = to_int(val)
            if cid is None:
                raise CommandError(errors.NOT_INTEGER)
        elif opt == b"type":
            ctype = _parse_type(val)
        elif opt == b"addr":
            addr = val.decode("utf-8", "replace")
        elif opt == b"laddr":
            laddr = val.decode("utf-8", "replace")
        elif opt == b"user":
            if val != b"default":
                raise CommandError(f"ERR No such user '{val.decode('utf-8', 'replace')}'")
        elif opt == b"skipme":
            v = val.lower()
            if v == b"yes":
                skipme = True
            elif v == b"no":
                skipme = False
            else:
                raise CommandError(errors.SYNTAX)
        else:
            raise CommandError(errors.SYNTAX)
    killed = 0
    for c in list(core.clients.values()):
        if cid is not None and c.id != cid:
            continue
        if addr is not None and c.addr != addr:
            continue
        if laddr is not None and c.laddr != laddr:
            continue
        if ctype is not None and client_type(c) != ctype:
            continue
        if c is client and skipme:
            continue
        _kill(client, c)
        killed += 1
    return killed


def _kill(caller, c) -> None:
    if c is caller:
        # Close once this reply is out, as Redis's CLIENT_CLOSE_AFTER_REPLY.
        c.closing = True
    else:
        c.kill()


@CLIENT.add("unblock", -3, help=(
        "UNBLOCK <clientid> [TIMEOUT|ERROR]",
        "    Unblock the specified blocked client."))
def client_unblock(client, args):
    if len(args) > 4:
        raise CommandError(errors.unknown_subcommand(
            args[1].decode("utf-8", "replace"), "client"))
    cid = to_int(args[2])
    if cid is None:
        raise CommandError(errors.NOT_INTEGER)
    error = False
    if len(args) == 4:
        how = args[3].lower()
        if how == b"error":
            error = True
        elif how != b"timeout":
            raise CommandError("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
    target = client.core.clients.get(cid)
    state = target.blocked if target is not None else None
    if state is None or getattr(state, "held", False):
        # Not blocked, or held by CLIENT PAUSE (only the pause's end frees it).
        return 0
    unblock(target)
    reply = (CommandError("UNBLOCKED client unblocked via CLIENT UNBLOCK") if error
             else state.timeout_reply)
    target.send(encode(reply, target.resp == 3))
    if target.on_unblocked is not None:
        target.on_unblocked()
    return 1


@CLIENT.add("getredir", 2, help=(
        "GETREDIR",
        "    Return the client ID we are redirecting to when tracking is enabled."))
def client_getredir(client, args):
    # Client-side caching is not offered: tracking is always off.
    return -1


@CLIENT.add("trackinginfo", 2, help=(
        "TRACKINGINFO",
        "    Report tracking status for the current connection."))
def client_trackinginfo(client, args):
    return {b"flags": [b"off"], b"redirect": -1, b"prefixes": []}
