"""Pub/sub: who listens to which channel or pattern, and message delivery.

One :class:`PubSub` per server (``core.pubsub``) keeps the server side of
every subscription; each client keeps its own side in ``client.channels`` /
``client.patterns`` (dicts used as ordered sets, so an UNSUBSCRIBE without
arguments answers in subscription order). Both sides change together, only
through this module.

Delivery follows Redis 6.2's PUBLISH: the channel's subscribers in the order
they subscribed, then every pattern that matches (Redis's glob), each with
its subscribers in order. A message is encoded once per protocol: an array
for RESP2 clients, a push (``>``) frame for RESP3 clients. Sending goes
through ``client.send``, whose owner (the server shell) applies the output
buffer limits.

INFO's ``pubsub_channels`` and ``pubsub_patterns`` are ``len(channels)`` and
``len(patterns)`` (Redis 6.2 counts distinct channels and patterns).
"""

from __future__ import annotations

from .types.glob import compile_pattern

_MESSAGE = b"$7\r\nmessage\r\n"
_PMESSAGE = b"$8\r\npmessage\r\n"


class PubSub:
    __slots__ = ("channels", "patterns")

    def __init__(self) -> None:
        # channel -> {client: None}, in subscription order.
        self.channels: dict = {}
        # pattern -> (matcher, {client: None}), in first-subscription order.
        self.patterns: dict = {}

    # -- subscriptions -----------------------------------------------------

    def subscribe(self, client, channel: bytes) -> bool:
        """Add ``channel`` to ``client``'s subscriptions; False if it was
        already there."""
        mine = client.channels
        if mine is None:
            mine = client.channels = {}
        elif channel in mine:
            return False
        mine[channel] = None
        subs = self.channels.get(channel)
        if subs is None:
            subs = self.channels[channel] = {}
        subs[client] = None
        _changed(client)
        return True

    def unsubscribe(self, client, channel: bytes) -> bool:
        mine = client.channels
        if not mine or channel not in mine:
            return False
        del mine[channel]
        subs = self.channels.get(channel)
        if subs is not None:
            subs.pop(client, None)
            if not subs:
                del self.channels[channel]
        _changed(client)
        return True

    def psubscribe(self, client, pattern: bytes) -> bool:
        mine = client.patterns
        if mine is None:
            mine = client.patterns = {}
        elif pattern in mine:
            return False
        mine[pattern] = None
        entry = self.patterns.get(pattern)
        if entry is None:
            entry = self.patterns[pattern] = (compile_pattern(pattern), {})
        entry[1][client] = None
        _changed(client)
        return True

    def punsubscribe(self, client, pattern: bytes) -> bool:
        mine = client.patterns
        if not mine or pattern not in mine:
            return False
        del mine[pattern]
        entry = self.patterns.get(pattern)
        if entry is not None:
            entry[1].pop(client, None)
            if not entry[1]:
                del self.patterns[pattern]
        _changed(client)
        return True

    def unsubscribe_all(self, client) -> None:
        """Drop every subscription of ``client`` without replying
        (disconnect, RESET)."""
        for channel in list(client.channels or ()):
            self.unsubscribe(client, channel)
        for pattern in list(client.patterns or ()):
            self.punsubscribe(client, pattern)

    # -- delivery ----------------------------------------------------------

    def publish(self, channel: bytes, message: bytes) -> int:
        """Deliver ``message`` on ``channel``; returns how many receivers
        (subscriptions) got it, as PUBLISH replies."""
        n = 0
        subs = self.channels.get(channel)
        tail = None
        if subs:
            tail = b"$%d\r\n%b\r\n$%d\r\n%b\r\n" % (len(channel), channel, len(message), message)
            r2 = b"*3\r\n" + _MESSAGE + tail
            r3 = None
            for c in subs:
                if c.resp == 2:
                    c.send(r2)
                else:
                    if r3 is None:
                        r3 = b">3\r\n" + _MESSAGE + tail
                    c.send(r3)
            n = len(subs)
        if self.patterns:
            for pattern, (match, psubs) in self.patterns.items():
                if not match(channel):
                    continue
                if tail is None:
                    tail = b"$%d\r\n%b\r\n$%d\r\n%b\r\n" % (
                        len(channel), channel, len(message), message)
                body = b"%b$%d\r\n%b\r\n%b" % (_PMESSAGE, len(pattern), pattern, tail)
                r2 = r3 = None
                for c in psubs:
                    if c.resp == 2:
                        if r2 is None:
                            r2 = b"*4\r\n" + body
                        c.send(r2)
                    else:
                        if r3 is None:
                            r3 = b">4\r\n" + body
                        c.send(r3)
                n += len(psubs)
        return n

    # -- introspection (PUBSUB, INFO) --------------------------------------

    def numsub(self, channel: bytes) -> int:
        subs = self.channels.get(channel)
        return len(subs) if subs else 0


def _changed(client) -> None:
    """A client's subscription count changed: its pub/sub state follows
    (the executor's RESP2 gate, and the client class for CLIENT LIST and
    the output buffer limits)."""
    if client.channels or client.patterns:
        if client.kind == "normal":
            client.kind = "pubsub"
    elif client.kind == "pubsub":
        client.kind = "normal"
    client.update_slowpath()
