"""Stream commands: XADD, XLEN, XRANGE/XREVRANGE, XDEL, XTRIM, XREAD and
XREADGROUP (blocking too), XGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM,
XINFO and XSETID, with Redis 6.2's replies, errors and effects.

Effects follow what Redis 6.2 propagates, so a replica or an AOF replay
ends with the same entries and groups:

* XADD leaves with the ID it generated; ``~`` trimming is rewritten to
  ``=`` with the length (MAXLEN) or first ID (MINID) it left, so a replica
  trims the same entries whatever its node layout (Redis keeps LIMIT in that
  rewrite and replicas ignore it; it is dropped here, as ``=`` refuses it).
* XREADGROUP and XCLAIM/XAUTOCLAIM leave as one ``XCLAIM key group consumer
  0 id TIME ms RETRYCOUNT n FORCE JUSTID LASTID last`` per entry they hand
  out; a NOACK read leaves as ``XGROUP SETID`` of the new last-delivered ID,
  preceded by ``XGROUP CREATECONSUMER`` when it created the consumer. Like
  Redis, reading a consumer's history changes delivery counters locally
  without an effect.

The structure itself is in :mod:`pyredis.types.stream`.
"""

from __future__ import annotations

from .. import errors
from ..blocking import KEEP_WAITING, block
from ..db import now_ms
from ..errors import CommandError
from ..notify import NOTIFY_STREAM, notify
from ..protocol import NULL_ARRAY, OK, ONE, ZERO, Raw, Simple
from ..protocol.encoder import encode
from ..types import digest as _digest
from ..types.stream import MASK64, MAX_ID, NACK, Stream, decode_fields, format_id
from .args import to_int
from .table import command

# Entries a blocked XREAD/XREADGROUP without COUNT gets at most
# (XREAD_BLOCKED_DEFAULT_COUNT).
_BLOCKED_DEFAULT_COUNT = 1000





def _changed_quietly(db, key) -> None:
    """A change Redis 6.2 makes without signalModifiedKey (consumer-group
    state, XSETID): a write for the dirty counter and the key's version,
    but WATCH does not see it."""
    ks = db.ks
    ks.dirty += 1
    if ks.versions is not None:
        ks.versions.bump(db.id, key)


def _no_effect(client) -> None:
    """Nothing changed: a lazy expiry during the lookup sent its own DEL and
    the argv must not follow it."""
    client.effects = []


# -- IDs ------------------------------------------------------------------


def _strtoull(b: bytes):
    """Redis's string2ull: string2ll for canonical input, else C's strtoull
    (leading blanks, a sign and leading zeros allowed; '-' wraps)."""
    v = to_int(b)
    if v is not None:
        return v if v >= 0 else None
    s = b.lstrip(b" \t\n\r\x0b\x0c")
    neg = s[:1] == b"-"
    if s[:1] in (b"+", b"-"):
        s = s[1:]
    if not s.isdigit():
        return None
    v = int(s)
    if v > MASK64:
        return None
    return -v & MASK64 if neg else v


def parse_id(a: bytes, missing_seq: int = 0, strict: bool = False) -> int:
    """A stream ID argument (streamGenericParseIDOrReply). ``ms`` alone
    takes ``missing_seq``; ``-`` and ``+`` are the extremes unless
    ``strict``."""
    if len(a) > 127:
        raise CommandError(errors.INVALID_STREAM_ID)
    if b"\0" in a:  # Redis reads the argument as a C string
        a = a[:a.index(b"\0")]
    if len(a) == 1:
        if a == b"-":
            if strict:
                raise CommandError(errors.INVALID_STREAM_ID)
            return 0
        if a == b"+":
            if strict:
                raise CommandError(errors.INVALID_STREAM_ID)
            return MAX_ID
    dash = a.find(b"-")
    if dash < 0:
        ms = _strtoull(a)
        seq = missing_seq
    else:
        ms = _strtoull(a[:dash])
        seq = _strtoull(a[dash + 1:])
    if ms is None or seq is None:
        raise CommandError(errors.INVALID_STREAM_ID)
    return ms << 64 | seq


def _parse_interval(a: bytes, missing_seq: int):
    """An XRANGE-style bound: ``(id`` is exclusive (Redis 6.2).
    Returns ``(id, exclusive)``."""
    if len(a) > 1 and a[0] == 40:  # '('
        return parse_id(a[1:], missing_seq, strict=True), True
    return parse_id(a, missing_seq), False


def _parse_range(start_arg: bytes, end_arg: bytes):
    start, ex = _parse_interval(start_arg, 0)
    if ex:
        if start == MAX_ID:
            raise CommandError(errors.INVALID_START_ID)
        start += 1
    end, ex = _parse_interval(end_arg, MASK64)
    if ex:
        if end == 0:
            raise CommandError(errors.INVALID_END_ID)
        end -= 1
    return start, end


def _entries_reply(entries) -> Raw:
    """[[id, [field, value, ...]], ...]: the stream keeps each entry encoded."""
    return Raw(b"*%d\r\n" % len(entries) + b"".join([e for _i, e in entries]))


def _parse_ll(a: bytes, error: str = errors.NOT_INTEGER) -> int:
    v = to_int(a)
    if v is None:
        raise CommandError(error)
    return v


# -- XADD / XTRIM -----------------------------------------------------------


class _TrimArgs:
    """What streamParseAddOrTrimArgsOrReply finds in XADD/XTRIM arguments."""

    __slots__ = ("pos", "strategy", "approx", "maxlen", "minid", "limit", "arg_idx",
                 "limit_idx", "nomkstream", "id")

    def __init__(self) -> None:
        self.strategy = None  # b"maxlen" / b"minid"
        self.approx = False
        self.maxlen = -1
        self.minid = 0
        self.limit = 0
        self.arg_idx = 0      # index of the MAXLEN count / MINID id argument
        self.limit_idx = 0    # index of the LIMIT keyword, 0 if none
        self.nomkstream = False
        self.id = None        # XADD: the explicit ID, None for '*'


def _parse_trim(client, args: list, xadd: bool) -> _TrimArgs:
    t = _TrimArgs()
    n = len(args)
    limit_given = False
    i = 2
    while i < n:
        a = args[i]
        if xadd and a == b"*":
            break
        more = n - 1 - i
        opt = a.lower()
        if opt == b"maxlen" and more:
            if t.strategy is not None:
                raise CommandError(errors.MAXLEN_AND_MINID)
            t.approx = False
            nxt = args[i + 1]
            if more >= 2 and nxt == b"~":
                t.approx = True
                i += 1
            elif more >= 2 and nxt == b"=":
                i += 1
            t.maxlen = _parse_ll(args[i + 1])
            if t.maxlen < 0:
                raise CommandError(errors.MAXLEN_NEGATIVE)
            i += 1
            t.strategy = b"maxlen"
            t.arg_idx = i
        elif opt == b"minid" and more:
            if t.strategy is not None:
                raise CommandError(errors.MAXLEN_AND_MINID)
            t.approx = False
            nxt = args[i + 1]
            if more >= 2 and nxt == b"~":
                t.approx = True
                i += 1
            elif more >= 2 and nxt == b"=":
                i += 1
            t.minid = parse_id(args[i + 1], 0, strict=True)
            i += 1
            t.strategy = b"minid"
            t.arg_idx = i
        elif opt == b"limit" and more:
            t.limit = _parse_ll(args[i + 1])
            if t.limit < 0:
                raise CommandError(errors.LIMIT_NEGATIVE)
            limit_given = True
            t.limit_idx = i
            i += 1
        elif xadd and opt == b"nomkstream":
            t.nomkstream = True
        elif xadd:
            t.id = parse_id(a, 0, strict=True)
            break
        else:
            raise CommandError(errors.SYNTAX)
        i += 1
    t.pos = i
    if t.limit and t.strategy is None:
        raise CommandError(errors.LIMIT_WITHOUT_STRATEGY)
    if not xadd and t.strategy is None:
        raise CommandError(errors.XTRIM_WITHOUT_STRATEGY)
    if limit_given:
        if not t.approx:
            raise CommandError(errors.LIMIT_WITHOUT_APPROX)
    elif t.approx:
        # At most 100 nodes' worth per call; 6.2 has no floor or cap, so
        # stream-node-max-entries 0 means no limit.
        t.limit = 100 * client.core.config.stream_node_max_entries
    else:
        t.limit = 0
    return t


def _trim(s: Stream, t: _TrimArgs) -> int:
    if t.strategy == b"maxlen":
        return s.trim_maxlen(t.maxlen, t.approx, t.limit)
    return s.trim_minid(t.minid, t.approx, t.limit)


def _exact_trim_effect(args: list, s: Stream, t: _TrimArgs) -> list:
    """The argv with ``~`` made ``=`` at what the trim left (and LIMIT
    dropped), so a replica trims the same entries (Redis's
    streamRewriteApproxSpecifier + streamRewriteTrimArgument)."""
    out = list(args)
    out[t.arg_idx - 1] = b"="
    if t.strategy == b"maxlen":
        out[t.arg_idx] = b"%d" % s.length
    else:
        out[t.arg_idx] = format_id(s.first_valid_id())
    if t.limit_idx:
        del out[t.limit_idx:t.limit_idx + 2]
    return out


@command("xadd", -5, "write denyoom random fast", (1, 1, 1), "@stream", group="stream",
         since="5.0.0")
def xadd(client, args):
    t = _parse_trim(client, args, True)
    field_pos = t.pos + 1
    nfields = len(args) - field_pos
    if nfields < 2 or nfields % 2:
        raise CommandError(errors.XADD_ARITY)
    if t.id == 0:
        raise CommandError(errors.XADD_ID_ZERO)
    db = client.db
    key = args[1]
    s = client.db.get_typed_for_write(key, Stream)
    if s is None:
        if t.nomkstream:
            _no_effect(client)
            return None
        s = Stream()
        db.set(key, s)
    if s.last_id == MAX_ID:
        raise CommandError(errors.STREAM_EXHAUSTED)
    if t.id is None:
        id_ = s.next_id(now_ms())
    else:
        id_ = t.id
        if id_ <= s.last_id:
            raise CommandError(errors.XADD_ID_TOO_SMALL)
    cfg = client.core.config
    s.append(id_, tuple(args[field_pos:]), cfg.stream_node_max_bytes,
             cfg.stream_node_max_entries)
    db.modified(key)
    notify(db, NOTIFY_STREAM, b"xadd", key)
    effect = args
    if t.strategy is not None:
        if _trim(s, t):
            notify(db, NOTIFY_STREAM, b"xtrim", key)
        if t.approx:
            effect = _exact_trim_effect(args, s, t)
    if effect is args:
        effect = list(args)
    # The ID in the effect is the one given to the entry, spelled in full.
    effect[t.pos - (len(args) - len(effect))] = format_id(id_)
    client.rewrite(*effect)
    return format_id(id_)


@command("xtrim", -4, "write random", (1, 1, 1), "@stream", group="stream", since="5.0.0")
def xtrim(client, args):
    t = _parse_trim(client, args, False)
    s = client.db.get_typed_for_write(args[1], Stream)
    if s is None:
        _no_effect(client)
        return 0
    deleted = _trim(s, t)
    if not deleted:
        _no_effect(client)
        return 0
    client.db.modified(args[1])
    notify(client.db, NOTIFY_STREAM, b"xtrim", args[1])
    if t.approx:
        client.rewrite(*_exact_trim_effect(args, s, t))
    return deleted


# -- XLEN XRANGE XREVRANGE XDEL XSETID ---------------------------------------------


@command("xlen", 2, "readonly fast", (1, 1, 1), "@stream", group="stream", since="5.0.0")
def xlen(client, args):
    s = client.db.get_typed(args[1], Stream)
    return 0 if s is None else s.length


def _xrange(client, args, rev: bool):
    if rev:
        start, end = _parse_range(args[3], args[2])
    else:
        start, end = _parse_range(args[2], args[3])
    count = -1
    j = 4
    n = len(args)
    while j < n:
        if args[j].lower() == b"count" and j + 1 < n:
            count = _parse_ll(args[j + 1])
            if count < 0:
                count = 0
            j += 2
        else:
            raise CommandError(errors.SYNTAX)
    s = client.db.get_typed(args[1], Stream)
    if s is None:
        return []
    if count == 0:
        return NULL_ARRAY
    return _entries_reply(s.range(start, end, max(count, 0), rev))


@command("xrange", -4, "readonly", (1, 1, 1), "@stream", group="stream", since="5.0.0")
def xrange(client, args):
    return _xrange(client, args, False)


@command("xrevrange", -4, "readonly", (1, 1, 1), "@stream", group="stream", since="5.0.0")
def xrevrange(client, args):
    return _xrange(client, args, True)


@command("xdel", -3, "write fast", (1, 1, 1), "@stream", group="stream", since="5.0.0")
def xdel(client, args):
    s = client.db.get_typed_for_write(args[1], Stream)
    if s is None:
        _no_effect(client)
        return 0
    ids = [parse_id(a, 0, strict=True) for a in args[2:]]
    deleted = 0
    for id_ in ids:
        if s.delete(id_):
            deleted += 1
    if deleted:
        client.db.modified(args[1])
        notify(client.db, NOTIFY_STREAM, b"xdel", args[1])
    else:
        _no_effect(client)
    return deleted


@command("xsetid", 3, "write denyoom fast", (1, 1, 1), "@stream", group="stream",
         since="5.0.0")
def xsetid(client, args):
    s = client.db.get_typed_for_write(args[1], Stream)
    if s is None:
        raise CommandError(errors.NO_SUCH_KEY)
    id_ = parse_id(args[2], 0, strict=True)
    if s.length and id_ < s.last_valid_id():
        raise CommandError(errors.XSETID_TOO_SMALL)
    s.last_id = id_
    _changed_quietly(client.db, args[1])
    notify(client.db, NOTIFY_STREAM, b"xsetid", args[1])
    return OK


# -- XREAD XREADGROUP -------------------------------------------------------------------


def _xread_keys(args: list) -> list:
    """The keys of an XREAD/XREADGROUP call: the first half of the
    arguments after STREAMS (Redis's xreadGetKeys)."""
    n = len(args)
    i = 1
    streams = -1
    while i < n:
        a = args[i].lower()
        if a in (b"block", b"count"):
            i += 2
        elif a == b"group":
            i += 3
        elif a == b"noack":
            i += 1
        elif a == b"streams":
            streams = i
            break
        else:
            break
    num = n - streams - 1
    if streams < 0 or num == 0 or num % 2:
        return []
    return args[streams + 1:streams + 1 + num // 2]


def _streams_reply(client, pairs: list):
    """XREAD's reply: [[key, entries], ...], a map in RESP3 (keys may
    repeat, which a dict cannot hold)."""
    if client.resp == 2:
        return [[k, e] for k, e in pairs]
    return Raw(b"%%%d\r\n" % len(pairs)
               + b"".join(encode(k, True) + encode(e, True) for k, e in pairs))


def _claim_effect(key, groupname, group, id_arg: bytes, nack) -> list:
    """streamPropagateXCLAIM: an XCLAIM that recreates this PEL entry."""
    return [b"XCLAIM", key, groupname, nack.consumer.name, b"0", id_arg,
            b"TIME", b"%d" % nack.delivery_time, b"RETRYCOUNT", b"%d" % nack.delivery_count,
            b"FORCE", b"JUSTID", b"LASTID", format_id(group.last_id)]


def _deliver_new(s: Stream, key, groupname, group, consumer, start: int, count: int,
                 noack: bool, now: int, effects: list) -> list:
    """Hand entries from ``start`` on to ``consumer`` (``>`` reads): move the
    group's last-delivered ID, add them to the PELs unless NOACK, record the
    effects. Returns the entries."""
    entries = s.range(start, MAX_ID, count)
    propagate_last = False
    pel = group.pel
    for id_, _fv in entries:
        if id_ > group.last_id:
            group.last_id = id_
            if noack:
                propagate_last = True
        if noack:
            continue
        nack = pel.get(id_)
        if nack is None:
            nack = pel[id_] = NACK(consumer, now, 1)
            consumer.pel[id_] = nack
        else:
            # Already pending (the group's ID was moved back): it goes to
            # this consumer as a first delivery.
            group.assign(id_, nack, consumer)
            nack.delivery_time = now
            nack.delivery_count = 1
        effects.append(_claim_effect(key, groupname, group, format_id(id_), nack))
    if propagate_last:
        effects.append([b"XGROUP", b"SETID", key, groupname, format_id(group.last_id)])
    return _entries_reply(entries)


def _deliver_history(s: Stream, consumer, start: int, count: int, now: int) -> list:
    """A consumer's own pending entries from ``start`` (XREADGROUP with an
    ID): entries deleted since are given as [id, nil]."""
    out = []
    for id_ in consumer.pel.irange(minimum=start):
        if count and len(out) >= count:
            break
        enc = s.get(id_)
        if enc is None:
            out.append([format_id(id_), NULL_ARRAY])
        else:
            nack = consumer.pel[id_]
            nack.delivery_time = now
            nack.delivery_count += 1
            out.append(Raw(enc))
    return out


class _Waiter:
    """What a blocked reader remembers per key: the ID it waits past (XREAD)
    and the stream object and append counter it last looked at, since Redis
    re-examines a blocked reader only when an entry is appended (or the key
    is created)."""

    __slots__ = ("gt", "obj", "signal")

    def __init__(self, gt: int, obj) -> None:
        self.gt = gt
        self.obj = obj
        self.signal = obj.signal if obj is not None else -1


def _xread_server(waiters: dict, count: int, groupname, consumer_name, noack: bool):
    def serve(client, key):
        w = waiters[key]
        db = client.db
        s = db.get_for_write(key)
        if type(s) is not Stream:
            return KEEP_WAITING
        if s is w.obj and s.signal == w.signal:
            return KEEP_WAITING
        w.obj = s
        w.signal = s.signal
        if groupname is None:
            if s.last_id <= w.gt:
                return KEEP_WAITING
            entries = _entries_reply(s.range(w.gt + 1, MAX_ID, count))
            return _streams_reply(client, [(key, entries)]), []
        group = s.group(groupname)
        if group is None:
            return CommandError(errors.NOGROUP_BLOCKED), []
        if s.last_id <= group.last_id:
            return KEEP_WAITING
        now = now_ms()
        effects: list = []
        consumer, created = group.consumer(consumer_name, now)
        if created and noack:
            effects.append([b"XGROUP", b"CREATECONSUMER", key, groupname, consumer_name])
        entries = _deliver_new(s, key, groupname, group, consumer, group.last_id + 1, count,
                               noack, now, effects)
        _changed_quietly(db, key)
        return _streams_reply(client, [(key, entries)]), effects

    return serve


def _xread(client, args, xreadgroup: bool):
    n = len(args)
    timeout = -1
    count = 0
    streams_arg = 0
    groupname = consumer_name = None
    noack = False
    i = 1
    while i < n:
        more = n - i - 1
        opt = args[i].lower()
        if opt == b"block" and more:
            i += 1
            timeout = to_int(args[i])
            if timeout is None:
                raise CommandError(errors.TIMEOUT_NOT_INTEGER)
            if timeout < 0:
                raise CommandError(errors.TIMEOUT_NEGATIVE)
        elif opt == b"count" and more:
            i += 1
            count = _parse_ll(args[i])
            if count < 0:
                count = 0
        elif opt == b"streams" and more:
            streams_arg = i + 1
            if (n - streams_arg) % 2:
                raise CommandError(errors.XREAD_UNBALANCED)
            break
        elif opt == b"group" and more >= 2:
            if not xreadgroup:
                raise CommandError(errors.XREAD_GROUP_OPTION)
            groupname, consumer_name = args[i + 1], args[i + 2]
            i += 2
        elif opt == b"noack":
            if not xreadgroup:
                raise CommandError(errors.XREAD_NOACK_OPTION)
            noack = True
        else:
            raise CommandError(errors.SYNTAX)
        i += 1
    if not streams_arg:
        raise CommandError(errors.SYNTAX)
    if xreadgroup and groupname is None:
        raise CommandError(errors.XREADGROUP_NO_GROUP)
    nstreams = (n - streams_arg) // 2
    keys = args[streams_arg:streams_arg + nstreams]
    db = client.db

    # Resolve IDs (and groups) for every stream before serving any.
    ids = []
    groups = []
    for key, a in zip(keys, args[streams_arg + nstreams:]):
        s = db.get(key)
        if s is not None and type(s) is not Stream:
            raise CommandError(errors.WRONGTYPE)
        if groupname is not None:
            group = s.group(groupname) if s is not None else None
            if group is None:
                raise CommandError(errors.nogroup_xreadgroup(key, groupname))
            groups.append(group)
        if a == b"$":
            if xreadgroup:
                raise CommandError(errors.XREADGROUP_DOLLAR_ID)
            ids.append(s.last_id if s is not None else 0)
        elif a == b">":
            if not xreadgroup:
                raise CommandError(errors.XREAD_GT_ID)
            ids.append(None)
        else:
            ids.append(parse_id(a, 0, strict=True))

    pairs = []
    effects: list = []
    now = now_ms() if xreadgroup else 0
    for k, key in enumerate(keys):
        s = db.get(key)
        if s is None:
            continue
        gt = ids[k]
        history = False
        if xreadgroup:
            group = groups[k]
            if gt is not None:
                history = True
            elif s.length and s.last_valid_id() > group.last_id:
                gt = group.last_id
            else:
                continue
        elif not s.length or s.last_valid_id() <= gt:
            continue
        start = gt + 1 if gt < MAX_ID else gt
        if not xreadgroup:
            pairs.append((key, _entries_reply(s.range(start, MAX_ID, count))))
            continue
        consumer, created = group.consumer(consumer_name, now)
        if created and noack:
            effects.append([b"XGROUP", b"CREATECONSUMER", key, groupname, consumer_name])
        if history:
            entries = _deliver_history(s, consumer, start, count, now)
        else:
            entries = _deliver_new(s, key, groupname, group, consumer, start, count, noack, now,
                                   effects)
        _changed_quietly(db, key)
        pairs.append((key, entries))
    if xreadgroup:
        # Only the recorded effects leave, never the XREADGROUP itself.
        client.effects = effects
    if pairs:
        return _streams_reply(client, pairs)
    if timeout < 0 or client.deny_blocking:
        return NULL_ARRAY
    waiters = {}
    for key, gt in zip(keys, ids):
        if key not in waiters:  # a key named twice waits past its first ID
            s = db.get_for_write(key)
            waiters[key] = _Waiter(gt if gt is not None else 0,
                                   s if type(s) is Stream else None)
    serve = _xread_server(waiters, count or _BLOCKED_DEFAULT_COUNT, groupname, consumer_name,
                          noack)
    return block(client, keys, timeout / 1000.0, serve, NULL_ARRAY)


@command("xread", -4, "readonly movablekeys", (0, 0, 0), "@stream @blocking", group="stream",
         since="5.0.0", keys_fn=_xread_keys)
def xread(client, args):
    return _xread(client, args, False)


@command("xreadgroup", -7, "write movablekeys", (0, 0, 0), "@stream @blocking",
         group="stream", since="5.0.0", keys_fn=_xread_keys)
def xreadgroup(client, args):
    return _xread(client, args, True)


# -- XGROUP -------------------------------------------------------------------------------


_XGROUP_HELP = [Simple(line) for line in (
    b"XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    b"CREATE <key> <groupname> <id|$> [option]",
    b"    Create a new consumer group. Options are:",
    b"    * MKSTREAM",
    b"      Create the empty stream if it does not exist.",
    b"CREATECONSUMER <key> <groupname> <consumer>",
    b"    Create a new consumer in the specified group.",
    b"DELCONSUMER <key> <groupname> <consumer>",
    b"    Remove the specified consumer.",
    b"DESTROY <key> <groupname>    Remove the specified group.",
    b"SETID <key> <groupname> <id|$>",
    b"    Set the current group ID.",
    b"HELP",
    b"    Prints this help.",
)]


def _subcommand_error(args) -> CommandError:
    return CommandError(errors.unknown_subcommand(
        args[1].decode("utf-8", "surrogateescape"), args[0].decode("utf-8", "surrogateescape")))


@command("xgroup", -2, "write denyoom", (2, 2, 1), "@stream", group="stream", since="5.0.0")
def xgroup(client, args):
    n = len(args)
    opt = args[1].lower()
    mkstream = False
    if n == 6 and opt == b"create":
        if args[5].lower() != b"mkstream":
            raise _subcommand_error(args)
        mkstream = True
    s = group = None
    key = args[2] if n >= 3 else None
    if n >= 4:
        s = client.db.get_typed_for_write(key, Stream)
        groupname = args[3]
        if not mkstream:
            if s is None:
                raise CommandError(errors.XGROUP_NEEDS_KEY)
            group = s.group(groupname)
            if group is None and opt in (b"setid", b"createconsumer", b"delconsumer"):
                raise CommandError(errors.nogroup_for_key(groupname, key))
    db = client.db
    if n == 2 and opt == b"help":
        return _XGROUP_HELP
    if opt == b"create" and n in (5, 6):
        if args[4] == b"$":
            id_ = s.last_id if s is not None else 0
        else:
            id_ = parse_id(args[4], 0, strict=True)
        if s is None:
            s = Stream()
            db.set(key, s)
        if s.create_group(groupname, id_) is None:
            raise CommandError(errors.BUSYGROUP)
        _changed_quietly(db, key)
        notify(db, NOTIFY_STREAM, b"xgroup-create", key)
        return OK
    if opt == b"setid" and n == 5:
        id_ = s.last_id if args[4] == b"$" else parse_id(args[4], 0)
        group.last_id = id_
        _changed_quietly(db, key)
        notify(db, NOTIFY_STREAM, b"xgroup-setid", key)
        return OK
    if opt == b"destroy" and n == 4:
        if group is None:
            return ZERO
        s.destroy_group(groupname)
        _changed_quietly(db, key)
        notify(db, NOTIFY_STREAM, b"xgroup-destroy", key)
        # Readers blocked on that group get their NOGROUP error now.
        s.signal += 1
        if db.blocked and key in db.blocked:
            db.ks.ready[(db, key)] = None
        return ONE
    if opt == b"createconsumer" and n == 5:
        if args[4] in group.consumers:
            return ZERO
        group.consumer(args[4], now_ms())
        _changed_quietly(db, key)
        notify(db, NOTIFY_STREAM, b"xgroup-createconsumer", key)
        return ONE
    if opt == b"delconsumer" and n == 5:
        pending = group.delete_consumer(args[4])
        # Redis propagates DELCONSUMER even for a consumer it did not have.
        _changed_quietly(db, key)
        notify(db, NOTIFY_STREAM, b"xgroup-delconsumer", key)
        return pending
    raise _subcommand_error(args)


# -- XACK XPENDING XCLAIM XAUTOCLAIM -------------------------------------------------------


@command("xack", -4, "write random fast", (1, 1, 1), "@stream", group="stream", since="5.0.0")
def xack(client, args):
    s = client.db.get_typed_for_write(args[1], Stream)
    group = s.group(args[2]) if s is not None else None
    if group is None:
        _no_effect(client)
        return 0
    ids = [parse_id(a, 0, strict=True) for a in args[3:]]
    acked = 0
    for id_ in ids:
        if group.ack(id_):
            acked += 1
    if acked:
        _changed_quietly(client.db, args[1])
    else:
        _no_effect(client)
    return acked


@command("xpending", -3, "readonly random", (1, 1, 1), "@stream", group="stream",
         since="5.0.0")
def xpending(client, args):
    n = len(args)
    if n != 3 and not 6 <= n <= 9:
        raise CommandError(errors.SYNTAX)
    consumer_name = None
    minidle = 0
    if n >= 6:
        idx = 3
        if args[3].lower() == b"idle":
            minidle = _parse_ll(args[4])
            if n < 8:
                raise CommandError(errors.SYNTAX)
            idx += 2
        count = _parse_ll(args[idx + 2])
        if count < 0:
            count = 0
        start, end = _parse_range(args[idx], args[idx + 1])
        if idx + 3 < n:
            consumer_name = args[idx + 3]
    s = client.db.get_typed(args[1], Stream)
    group = s.group(args[2]) if s is not None else None
    if group is None:
        raise CommandError(errors.nogroup_key(args[1], args[2]))
    pel = group.pel
    if n == 3:
        if not pel:
            return [0, None, None, NULL_ARRAY]
        owners = [[c.name, b"%d" % len(c.pel)] for c in group.sorted_consumers() if c.pel]
        return [len(pel), format_id(pel.peekitem(0)[0]), format_id(pel.peekitem(-1)[0]),
                owners]
    if consumer_name is not None:
        consumer = group.consumers.get(consumer_name)
        if consumer is None:
            return []
        pel = consumer.pel
    now = now_ms()
    out = []
    if start > end:
        return out
    for id_ in pel.irange(start, end):
        if not count:
            break
        nack = pel[id_]
        idle = now - nack.delivery_time
        if minidle and idle < minidle:
            continue
        out.append([format_id(id_), nack.consumer.name, max(idle, 0), nack.delivery_count])
        count -= 1
    return out


def _claim(group, consumer, id_: int, nack, delivery_time: int, retrycount: int,
           justid: bool) -> None:
    """Give a pending entry to ``consumer`` as XCLAIM/XAUTOCLAIM do."""
    old = nack.consumer
    if old is not consumer and old is not None:
        del old.pel[id_]
    nack.delivery_time = delivery_time
    if retrycount >= 0:
        nack.delivery_count = retrycount
    elif not justid:
        nack.delivery_count += 1
    if old is not consumer:
        consumer.pel[id_] = nack
        nack.consumer = consumer


def _claimed_reply(s: Stream, id_: int, justid: bool):
    if justid:
        return format_id(id_)
    enc = s.get(id_)
    return None if enc is None else Raw(enc)


@command("xclaim", -6, "write random fast", (1, 1, 1), "@stream", group="stream",
         since="5.0.0")
def xclaim(client, args):
    key, groupname = args[1], args[2]
    s = client.db.get_typed_for_write(key, Stream)
    group = s.group(groupname) if s is not None else None
    if group is None:
        raise CommandError(errors.nogroup_key(key, groupname))
    minidle = _parse_ll(args[4], errors.XCLAIM_MIN_IDLE)
    if minidle < 0:
        minidle = 0
    n = len(args)
    ids = []
    j = 5
    while j < n:
        try:
            ids.append((parse_id(args[j], 0, strict=True), args[j]))
        except CommandError:
            break
        j += 1
    now = now_ms()
    delivery_time = -1
    retrycount = -1
    force = justid = False
    last_id = 0
    while j < n:
        more = n - 1 - j
        opt = args[j].lower()
        if opt == b"force":
            force = True
        elif opt == b"justid":
            justid = True
        elif opt == b"idle" and more:
            j += 1
            delivery_time = now - _parse_ll(args[j], errors.XCLAIM_IDLE)
        elif opt == b"time" and more:
            j += 1
            delivery_time = _parse_ll(args[j], errors.XCLAIM_TIME)
        elif opt == b"retrycount" and more:
            j += 1
            retrycount = _parse_ll(args[j], errors.XCLAIM_RETRYCOUNT)
        elif opt == b"lastid" and more:
            j += 1
            last_id = parse_id(args[j], 0, strict=True)
        else:
            raise CommandError(errors.xclaim_option(args[j]))
        j += 1
    changed = propagate_last = False
    if last_id > group.last_id:
        group.last_id = last_id
        propagate_last = changed = True
    if delivery_time < 0 or delivery_time > now:
        # Bogus or missing IDLE/TIME: delivered now (Redis does not fail).
        delivery_time = now
    effects = []
    out = []
    consumer = None
    pel = group.pel
    for id_, arg in ids:
        nack = pel.get(id_)
        if nack is None:
            # FORCE creates the pending entry, if the entry exists at all.
            if not force or s.get(id_) is None:
                continue
            nack = pel[id_] = NACK(None, now, 1)
        elif minidle and nack.consumer is not None and now - nack.delivery_time < minidle:
            continue
        if consumer is None:
            consumer = group.consumer(args[3], now)[0]
        _claim(group, consumer, id_, nack, delivery_time, retrycount, justid)
        out.append(_claimed_reply(s, id_, justid))
        effects.append(_claim_effect(key, groupname, group, arg, nack))
        propagate_last = False  # the XCLAIMs carry LASTID
        changed = True
    if propagate_last:
        effects.append([b"XGROUP", b"SETID", key, groupname, format_id(group.last_id)])
    if changed:
        _changed_quietly(client.db, key)
    client.effects = effects
    return out


@command("xautoclaim", -6, "write random fast", (1, 1, 1), "@stream", group="stream",
         since="6.2.0")
def xautoclaim(client, args):
    key, groupname = args[1], args[2]
    minidle = _parse_ll(args[4], errors.XAUTOCLAIM_MIN_IDLE)
    if minidle < 0:
        minidle = 0
    start, ex = _parse_interval(args[5], 0)
    if ex:
        if start == MAX_ID:
            raise CommandError(errors.INVALID_START_ID)
        start += 1
    count = 100
    justid = False
    n = len(args)
    j = 6
    while j < n:
        more = n - 1 - j
        opt = args[j].lower()
        if opt == b"count" and more:
            count = to_int(args[j + 1])
            if count is None or not 1 <= count < 1 << 63:
                raise CommandError(errors.XAUTOCLAIM_COUNT)
            j += 1
        elif opt == b"justid":
            justid = True
        else:
            raise CommandError(errors.SYNTAX)
        j += 1
    s = client.db.get_typed_for_write(key, Stream)
    group = s.group(groupname) if s is not None else None
    if group is None:
        raise CommandError(errors.nogroup_key(key, groupname))
    now = now_ms()
    attempts = count * 10
    pel = group.pel
    out = []
    effects = []
    consumer = None
    it = pel.irange(minimum=start)
    next_id = 0
    for id_ in it:
        if not attempts or not count:
            next_id = id_
            break
        attempts -= 1
        nack = pel[id_]
        if minidle and now - nack.delivery_time < minidle:
            continue
        if consumer is None:
            consumer = group.consumer(args[3], now)[0]
        _claim(group, consumer, id_, nack, now, -1, justid)
        out.append(_claimed_reply(s, id_, justid))
        count -= 1
        effects.append(_claim_effect(key, groupname, group, format_id(id_), nack))
    if effects:
        _changed_quietly(client.db, key)
    client.effects = effects
    return [format_id(next_id), out]


# -- XINFO --------------------------------------------------------------------------------


_XINFO_HELP = [Simple(line) for line in (
    b"XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    b"CONSUMERS <key> <groupname>",
    b"    Show consumers of <groupname>.",
    b"GROUPS <key>",
    b"    Show the stream consumer groups.",
    b"STREAM <key> [FULL [COUNT <count>]",
    b"    Show information about the stream.",
    b"HELP",
    b"    Prints this help.",
)]


def _entry_or_none(e):
    return None if e is None else Raw(e[1])


@command("xinfo", -2, "readonly random", (2, 2, 1), "@stream", group="stream",
         since="5.0.0")
def xinfo(client, args):
    n = len(args)
    opt = args[1].lower()
    if opt == b"help":
        return _XINFO_HELP
    if n < 3:
        raise _subcommand_error(args)
    key = args[2]
    s = client.db.get_typed(key, Stream)
    if s is None:
        raise CommandError(errors.NO_SUCH_KEY)
    if opt == b"consumers" and n == 4:
        group = s.group(args[3])
        if group is None:
            raise CommandError(errors.nogroup_for_key(args[3], key))
        now = now_ms()
        return [{b"name": c.name, b"pending": len(c.pel), b"idle": max(now - c.seen_time, 0)}
                for c in group.sorted_consumers()]
    if opt == b"groups" and n == 3:
        return [{b"name": g.name, b"consumers": len(g.consumers), b"pending": len(g.pel),
                 b"last-delivered-id": format_id(g.last_id)} for g in s.sorted_groups()]
    if opt == b"stream":
        return _xinfo_stream(args, s)
    raise _subcommand_error(args)


def _xinfo_stream(args, s: Stream):
    rest = args[3:]
    full = bool(rest)
    count = 10
    if rest:
        if len(rest) not in (1, 3) or rest[0].lower() != b"full":
            raise _subcommand_error(args)
        if len(rest) == 3:
            if rest[1].lower() != b"count":
                raise _subcommand_error(args)
            count = _parse_ll(rest[2])
            if count < 0:
                count = 10
    info = {
        b"length": s.length,
        b"radix-tree-keys": len(s.nodes),
        b"radix-tree-nodes": s.rax_nodes(),
        b"last-generated-id": format_id(s.last_id),
    }
    if not full:
        info[b"groups"] = len(s.groups) if s.groups else 0
        info[b"first-entry"] = _entry_or_none(s.first_entry())
        info[b"last-entry"] = _entry_or_none(s.last_entry())
        return info
    info[b"entries"] = _entries_reply(s.range(0, MAX_ID, count))
    groups = []
    for g in s.sorted_groups():
        pending = []
        for id_, nack in g.pel.items():
            if count and len(pending) >= count:
                break
            pending.append([format_id(id_), nack.consumer.name, nack.delivery_time,
                            nack.delivery_count])
        consumers = []
        for c in g.sorted_consumers():
            cpending = []
            for id_, nack in c.pel.items():
                if count and len(cpending) >= count:
                    break
                cpending.append([format_id(id_), nack.delivery_time, nack.delivery_count])
            consumers.append({b"name": c.name, b"seen-time": c.seen_time,
                              b"pel-count": len(c.pel), b"pending": cpending})
        groups.append({b"name": g.name, b"last-delivered-id": format_id(g.last_id),
                       b"pel-count": len(g.pel), b"pending": pending, b"consumers": consumers})
    info[b"groups"] = groups
    return info


# -- DEBUG DIGEST -------------------------------------------------------------------------


def digest_stream(digest: bytes, s: Stream) -> bytes:
    """DEBUG DIGEST hook: mix a stream into a key's running digest as Redis
    6.2's xorObjectDigest does for OBJ_STREAM (after the type id): each
    entry's ID as ``ms.seq``, then its fields and values. Consumer groups
    are not part of Redis's digest."""
    mix = _digest.mix
    for id_, enc in s.entries():
        digest = mix(digest, b"%d.%d" % (id_ >> 64, id_ & MASK64))
        for x in decode_fields(enc):
            digest = mix(digest, x)
    return digest


_digest.register(Stream, 6, digest_stream)  # OBJ_STREAM
