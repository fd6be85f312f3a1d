"""Pub/sub commands: SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE,
PUBLISH and PUBSUB CHANNELS/NUMSUB/NUMPAT/HELP, with Redis 6.2's replies.

(P)(UN)SUBSCRIBE answer once per channel or pattern, each confirmation
carrying the client's running subscription count; as in Redis these are
arrays for RESP2 clients and push frames for RESP3 clients, so a handler
returns them pre-encoded (several replies for one command). The registry
and delivery live in ``pyredis.pubsub``; the executor keeps a subscribed
RESP2 client to the commands Redis allows in that context.
"""

from __future__ import annotations

from .. import errors
from ..errors import CommandError
from ..protocol import Raw, Simple
from ..types.glob import compile_pattern
from .table import command

_SUBSCRIBE = b"$9\r\nsubscribe\r\n"
_UNSUBSCRIBE = b"$11\r\nunsubscribe\r\n"
_PSUBSCRIBE = b"$10\r\npsubscribe\r\n"
_PUNSUBSCRIBE = b"$12\r\npunsubscribe\r\n"


def _confirm(client, kind: bytes, name: bytes | None) -> bytes:
    """One (un)subscribe confirmation: kind, channel or pattern, count."""
    resp3 = client.resp == 3
    head = b">3\r\n" if resp3 else b"*3\r\n"
    if name is None:
        item = b"_\r\n" if resp3 else b"$-1\r\n"
    else:
        item = b"$%d\r\n%b\r\n" % (len(name), name)
    return b"%b%b%b:%d\r\n" % (head, kind, item, client.subscriptions)


def _subscribe(client, names, add, kind: bytes) -> Raw:
    """(P)SUBSCRIBE: one confirmation per name, with the running count."""
    out = []
    for name in names:
        add(client, name)
        out.append(_confirm(client, kind, name))
    return Raw(b"".join(out))


def _unsubscribe(client, names, current, remove, kind: bytes) -> Raw:
    """(P)UNSUBSCRIBE: the names given, else every current one; with none
    at all, one confirmation with a nil name."""
    names = names or list(current or ())
    if not names:
        return Raw(_confirm(client, kind, None))
    out = []
    for name in names:
        remove(client, name)
        out.append(_confirm(client, kind, name))
    return Raw(b"".join(out))


@command("subscribe", -2, "pubsub noscript loading stale", group="pubsub", since="2.0.0")
def subscribe(client, args):
    return _subscribe(client, args[1:], client.core.pubsub.subscribe, _SUBSCRIBE)


@command("unsubscribe", -1, "pubsub noscript loading stale", group="pubsub", since="2.0.0")
def unsubscribe(client, args):
    return _unsubscribe(client, args[1:], client.channels, client.core.pubsub.unsubscribe,
                        _UNSUBSCRIBE)


@command("psubscribe", -2, "pubsub noscript loading stale", group="pubsub", since="2.0.0")
def psubscribe(client, args):
    return _subscribe(client, args[1:], client.core.pubsub.psubscribe, _PSUBSCRIBE)


@command("punsubscribe", -1, "pubsub noscript loading stale", group="pubsub", since="2.0.0")
def punsubscribe(client, args):
    return _unsubscribe(client, args[1:], client.patterns, client.core.pubsub.punsubscribe,
                        _PUNSUBSCRIBE)


@command("publish", 3, "pubsub loading stale fast may_replicate", group="pubsub",
         since="2.0.0")
def publish(client, args):
    # Redis also propagates PUBLISH to replicas (not to the AOF), so their
    # subscribers hear it; the replication layer adds that.
    return client.core.pubsub.publish(args[1], args[2])


_PUBSUB_HELP = (
    "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CHANNELS [<pattern>]",
    "    Return the currently active channels matching a <pattern> (default: '*').",
    "NUMPAT",
    "    Return number of subscriptions to patterns.",
    "NUMSUB [<channel> ...]",
    "    Return the number of subscribers for the specified channels, excluding",
    "    pattern subscriptions(default: no channels).",
    "HELP",
    "    Prints this help.",
)


@command("pubsub", -2, "pubsub random loading stale", group="pubsub", since="2.8.0")
def pubsub(client, args):
    sub = args[1].lower()
    n = len(args)
    registry = client.core.pubsub
    if sub == b"channels" and n <= 3:
        channels = registry.channels
        if n == 2:
            return list(channels)
        match = compile_pattern(args[2])
        return [ch for ch in channels if match(ch)]
    if sub == b"numsub":
        out = []
        for ch in args[2:]:
            out.append(ch)
            out.append(registry.numsub(ch))
        return out
    if sub == b"numpat" and n == 2:
        return len(registry.patterns)
    if sub == b"help" and n == 2:
        return [Simple(line.encode()) for line in _PUBSUB_HELP]
    raise CommandError(errors.unknown_subcommand(
        args[1].decode("utf-8", "surrogateescape"), "pubsub"))
