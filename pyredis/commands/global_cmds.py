"""GLOBAL: the administration of global replication, and INFO's Global
section. The work is in ``replication.gdriver`` (``core.global_repl``).

* ``GLOBAL STATUS``: this member and every link, each a map of fields
  (peer, direction, state, sync progress, lag in ms and ops, last applied op
  id per origin, bytes in/out on the wire and before compression, the
  compression ratio, full/partial syncs, last error).
* ``GLOBAL PEER ADD|REMOVE host port``: the ``global-peer`` list, live
  (CONFIG GET/REWRITE see it).
* ``GLOBAL LINK STOP|START host port``: pause or resume one outgoing link.
* ``GLOBAL ROLE [master|readonly]``: show or set ``global-role``.
* ``GLOBAL DIGEST``: start an anti-entropy round on every link and return
  this member's digest of its key versions (equal on converged members).
* ``GLOBAL SYNC <server-id>``: the link handshake a peer's driver sends;
  the connection then speaks the link protocol.
"""

from __future__ import annotations

import logging

from ..errors import CommandError
from ..protocol import OK, Simple
from .args import to_int
from .info import section
from .subcommands import Subcommands
from .table import command

log = logging.getLogger("pyredis")

GLOBAL = Subcommands("global")

OFF = "ERR global replication is off (set global-server-id to turn it on)"
_HELP_ORDER = ["status", "peer", "link", "role", "digest", "sync"]


def _gr(client):
    gr = getattr(client.core, "global_repl", None)
    if gr is None:
        raise CommandError(OFF)
    return gr


def _peer(args: list, at: int) -> tuple:
    port = to_int(args[at + 1])
    if port is None or not 0 < port < 65536:
        raise CommandError("ERR Invalid port")
    return (args[at].decode("utf-8", "replace"), port)


@command("global", -2, "admin noscript loading stale", group="server", since="0.1.0")
def global_(client, args):
    return GLOBAL.dispatch(client, args)


@GLOBAL.add("help", 2)
def global_help(client, args):
    return GLOBAL.help(_HELP_ORDER)


@GLOBAL.add("status", 2, help=(
        "STATUS",
        "    This member and each of its links: state, lag, op ids, bytes, compression, syncs."))
def global_status(client, args):
    gr = _gr(client)
    m = gr.member
    return {
        b"server_id": m.server_id,
        b"role": gr.core.config.global_role.encode(),
        b"vector": " ".join(f"{o}:{i}" for o, i in sorted(m.vector.items())).encode(),
        b"conflicts": m.conflicts,
        b"links": [_encode_map(link.status()) for link in gr.links.values()]
        + [_encode_map(il.status()) for il in gr.inlinks],
    }


def _encode_map(d: dict) -> dict:
    return {k.encode(): (v.encode() if isinstance(v, str) else v) for k, v in d.items()}


def _change_peers(client, args, add: bool):
    gr = _gr(client)
    peer = _peer(args, 3)
    cfg = gr.core.config
    peers = [tuple(p) for p in cfg.global_peer]
    if add and peer not in peers:
        peers.append(peer)
    elif not add:
        if peer not in peers:
            raise CommandError("ERR no such peer")
        peers.remove(peer)
    cfg.set("global-peer", " ".join(f"{h}:{p}" for h, p in peers))
    return OK


@GLOBAL.add("peer", 5, help=(
        "PEER ADD|REMOVE <host> <port>",
        "    Start or end pulling ops from a member (the global-peer list)."))
def global_peer(client, args):
    op = args[2].lower()
    if op not in (b"add", b"remove"):
        raise CommandError("ERR PEER wants ADD or REMOVE")
    return _change_peers(client, args, op == b"add")


@GLOBAL.add("link", 5, help=(
        "LINK STOP|START <host> <port>",
        "    Stop a link (it stays stopped until START) or start it again."))
def global_link(client, args):
    gr = _gr(client)
    op = args[2].lower()
    link = gr.links.get(_peer(args, 3))
    if link is None:
        raise CommandError("ERR no such peer")
    if op == b"stop":
        link.stop("GLOBAL LINK STOP")
    elif op == b"start":
        link.start()
    else:
        raise CommandError("ERR LINK wants STOP or START")
    return OK


@GLOBAL.add("role", -2, help=(
        "ROLE [master|readonly]",
        "    Show the member's role, or set it (readonly: clients cannot write)."))
def global_role(client, args):
    gr = _gr(client)
    cfg = gr.core.config
    if len(args) == 2:
        return Simple(cfg.global_role.encode())
    if len(args) != 3 or args[2].lower() not in (b"master", b"readonly"):
        raise CommandError("ERR ROLE wants master or readonly")
    cfg.set("global-role", args[2].lower().decode())
    return OK


@GLOBAL.add("digest", 2, help=(
        "DIGEST",
        "    Compare key versions with every peer and repair (anti-entropy); returns",
        "    this member's digest, equal on members holding the same data."))
def global_digest(client, args):
    gr = _gr(client)
    if not gr.member.verify_digests():
        log.warning("Global replication: the kept slot digests differed from the keys "
                    "(recounted; anti-entropy repairs what differs from the peers)")
    for link in gr.links.values():
        link.rl.request_digest()
    return gr.digest().encode()


@GLOBAL.add("sync", 3, help=(
        "SYNC <server-id>",
        "    Used by a member's link: the connection then speaks the link protocol."))
def global_sync(client, args):
    gr = _gr(client)
    peer_id = to_int(args[2])
    if peer_id is None or not 0 < peer_id < 65536:
        raise CommandError("ERR invalid ServerID")
    from ..protocol.encoder import Raw
    return Raw(gr.accept(client, peer_id))


@section("global")
def _global_info(core):
    gr = getattr(core, "global_repl", None)
    return None if gr is None else gr.info_fields()
