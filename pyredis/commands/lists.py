"""List commands: pushes and pops at both ends, indexed access, ranges,
LINSERT/LREM/LTRIM, the moves between lists (RPOPLPUSH, LMOVE), LPOS, and
the blocking pops BLPOP/BRPOP/BRPOPLPUSH/BLMOVE.

A list is a ``collections.deque`` of bytes (Redis 6.2's quicklist; OBJECT
ENCODING reports "quicklist" whatever the size, as 6.2 does). Costs, as in
Redis:

* push and pop at either end, LLEN: O(1) per element;
* LINDEX, LSET: O(min(i, n - i)), a deque walks from its nearer end;
* LRANGE: O(s + m), s the distance of the range from the nearer end;
* LTRIM: O(removed) (or O(kept) when that is smaller);
* LINSERT, LREM, LPOS: O(n).

Blocking pops (blocking.py does the queueing, timers and fairness) pop
right away when a list has elements; otherwise the client waits and is
served after the top-level command that pushed. The effect of a pop that
happened is propagated as the plain pop (``LPOP key``, ``RPOPLPUSH src
dst``, ``LMOVE ...``), never as the blocking command.
"""

from __future__ import annotations

from collections import deque
from itertools import islice

from .. import errors
from ..blocking import block
from ..errors import CommandError
from ..notify import NOTIFY_GENERIC, NOTIFY_LIST, notify
from ..protocol import NULL_ARRAY, OK, Raw
from ..protocol.encoder import bulk_array
from ..types import digest as _digest
from ..types import longdouble
from .args import LLONG_MAX, LLONG_MIN, parse_int, to_int
from .table import command

_EMPTY = Raw(b"*0\r\n")






def _events(db, key, event: bytes, lst) -> None:
    """Keyspace events of a change to the list at ``key``: ``event``, then
    ``del`` if it emptied (callers test ``db.ks.notify_flags`` first)."""
    notify(db, NOTIFY_LIST, event, key)
    if not lst:
        notify(db, NOTIFY_GENERIC, b"del", key)


def _after_pop(db, key, lst, event: bytes) -> None:
    """Elements left the list at ``key``; an empty list disappears, as in
    Redis."""
    if lst:
        db.modified(key)
    else:
        db.delete(key)
    if db.ks.notify_flags:
        _events(db, key, event, lst)


# -- push and pop ----------------------------------------------------------


def _push(client, args, left: bool):
    """LPUSH/RPUSH: add the values at one end, creating the list if needed."""
    db = client.db
    key = args[1]
    lst = db.get_for_write(key)
    created = lst is None
    if created:
        lst = deque()
    elif type(lst) is not deque:
        raise CommandError(errors.WRONGTYPE)
    if len(args) == 3:
        (lst.appendleft if left else lst.append)(args[2])
    else:
        (lst.extendleft if left else lst.extend)(islice(args, 2, None))
    if created:
        db.set(key, lst)
    else:
        db.modified(key)
    if db.ks.notify_flags:
        notify(db, NOTIFY_LIST, b"lpush" if left else b"rpush", key)
    return len(lst)


def _push_handler(left: bool):
    """The LPUSH (``left``) or RPUSH handler. One element onto a list that
    exists, the common case, is done right here: a push is among the
    cheapest commands, so a call more or less is a good part of its cost,
    and each direction gets its own function rather than passing ``left``
    down. A new list, several elements, a wrong type and an expired key
    take :func:`_push`."""
    event = b"lpush" if left else b"rpush"

    def push(client, args):
        if len(args) != 3:
            return _push(client, args, left)
        db = client.db
        key = args[1]
        lst = db.get_for_write(key) if key in db.expires else db.data.get(key)
        if lst.__class__ is not deque:
            return _push(client, args, left)
        if left:
            lst.appendleft(args[2])
        else:
            lst.append(args[2])
        db.modified(key)
        if db.ks.notify_flags:
            notify(db, NOTIFY_LIST, event, key)
        return len(lst)

    push.__name__ = push.__qualname__ = event.decode()
    return push


lpush = command("lpush", -3, "write denyoom fast", (1, 1, 1), "@list", group="list",
                since="1.0.0")(_push_handler(True))
rpush = command("rpush", -3, "write denyoom fast", (1, 1, 1), "@list", group="list",
                since="1.0.0")(_push_handler(False))


def _pushx(client, args, left: bool):
    db = client.db
    key = args[1]
    lst = db.get_typed_for_write(key, deque)
    if lst is None:
        return 0
    if left:
        lst.extendleft(islice(args, 2, None))
    else:
        lst.extend(islice(args, 2, None))
    db.modified(key)
    notify(db, NOTIFY_LIST, b"lpush" if left else b"rpush", key)
    return len(lst)


@command("lpushx", -3, "write denyoom fast", (1, 1, 1), "@list", group="list", since="2.2.0")
def lpushx(client, args):
    return _pushx(client, args, True)


@command("rpushx", -3, "write denyoom fast", (1, 1, 1), "@list", group="list", since="2.2.0")
def rpushx(client, args):
    return _pushx(client, args, False)


def _pop(client, args, left: bool):
    n = len(args)
    if n > 3:
        raise CommandError(errors.wrong_arity("lpop" if left else "rpop"))
    count = None
    if n == 3:
        count = to_int(args[2])
        if count is None or count < 0:
            raise CommandError(errors.MUST_BE_POSITIVE)
    db = client.db
    key = args[1]
    lst = db.get_for_write(key)
    if lst is None:
        return None if count is None else NULL_ARRAY
    if type(lst) is not deque:
        raise CommandError(errors.WRONGTYPE)
    event = b"lpop" if left else b"rpop"
    if count is None:
        v = lst.popleft() if left else lst.pop()
        _after_pop(db, key, lst, event)
        return v
    if count == 0:
        return _EMPTY
    pop = lst.popleft if left else lst.pop
    out = [pop() for _ in range(min(count, len(lst)))]
    _after_pop(db, key, lst, event)
    return bulk_array(out)


def _pop_handler(left: bool):
    """The LPOP (``left``) or RPOP handler; the common form, one element
    and no count, is done right here (see :func:`_push_handler`), the
    rest by :func:`_pop`."""
    event = b"lpop" if left else b"rpop"

    def pop(client, args):
        if len(args) != 2:
            return _pop(client, args, left)
        db = client.db
        key = args[1]
        lst = db.get_for_write(key) if key in db.expires else db.data.get(key)
        if lst.__class__ is not deque:
            if lst is None:
                # No list: a nil reply, nothing changed (redis-benchmark's
                # LPOP test mostly pops a list that ran dry).
                return None
            return _pop(client, args, left)
        v = lst.popleft() if left else lst.pop()
        if lst:
            db.modified(key)
        else:
            db.delete(key)
        if db.ks.notify_flags:
            _events(db, key, event, lst)
        return v

    pop.__name__ = pop.__qualname__ = event.decode()
    return pop


lpop = command("lpop", -2, "write fast", (1, 1, 1), "@list", group="list",
               since="1.0.0")(_pop_handler(True))
rpop = command("rpop", -2, "write fast", (1, 1, 1), "@list", group="list",
               since="1.0.0")(_pop_handler(False))


# -- reads -----------------------------------------------------------------


@command("llen", 2, "readonly fast", (1, 1, 1), "@list", group="list", since="1.0.0")
def llen(client, args):
    lst = client.db.get_typed(args[1], deque)
    return 0 if lst is None else len(lst)


@command("lindex", 3, "readonly", (1, 1, 1), "@list", group="list", since="1.0.0")
def lindex(client, args):
    lst = client.db.get_typed(args[1], deque)
    if lst is None:
        return None
    i = parse_int(args[2])
    n = len(lst)
    if i < 0:
        i += n
    if 0 <= i < n:
        return lst[i]
    return None


def list_range(lst: deque, start: int, end: int) -> list:
    """Elements ``start..end`` (inclusive, negative from the end, clamped as
    LRANGE does), walking from whichever end of the deque is nearer."""
    n = len(lst)
    if start < 0:
        start += n
    if end < 0:
        end += n
    if start < 0:
        start = 0
    if start > end or start >= n:
        return []
    if end >= n:
        end = n - 1
    if start == 0 and end == n - 1:
        return list(lst)
    if start <= n - 1 - end:
        return list(islice(lst, start, end + 1))
    out = list(islice(reversed(lst), n - 1 - end, n - start))
    out.reverse()
    return out


@command("lrange", 4, "readonly", (1, 1, 1), "@list", group="list", since="1.0.0")
def lrange(client, args):
    start = parse_int(args[2])
    end = parse_int(args[3])
    lst = client.db.get_typed(args[1], deque)
    if lst is None:
        return _EMPTY
    return bulk_array(list_range(lst, start, end))


@command("lpos", -3, "readonly", (1, 1, 1), "@list", group="list", since="6.0.6")
def lpos(client, args):
    rank = 1
    count = None
    maxlen = 0
    i = 3
    n = len(args)
    while i < n:
        opt = args[i].lower()
        if i + 1 >= n:
            raise CommandError(errors.SYNTAX)
        val = args[i + 1]
        if opt == b"rank":
            rank = parse_int(val)
            if rank == 0:
                raise CommandError(errors.LPOS_RANK_ZERO)
        elif opt == b"count":
            count = to_int(val)
            if count is None or count < 0:
                raise CommandError(errors.LPOS_COUNT_NEGATIVE)
        elif opt == b"maxlen":
            maxlen = to_int(val)
            if maxlen is None or maxlen < 0:
                raise CommandError(errors.LPOS_MAXLEN_NEGATIVE)
        else:
            raise CommandError(errors.SYNTAX)
        i += 2
    lst = client.db.get_typed(args[1], deque)
    if lst is None:
        return _EMPTY if count is not None else None
    element = args[2]
    size = len(lst)
    limit = count or 0
    if rank == LLONG_MIN:
        # Redis negates the rank in a C long: LONG_MIN stays negative, so
        # every match from the tail counts and COUNT's test overflows and
        # never stops the walk.
        from_tail, skip, limit = True, 0, 0
    elif rank < 0:
        from_tail, skip = True, -rank - 1
    else:
        from_tail, skip = False, rank - 1
    it = reversed(lst) if from_tail else iter(lst)
    if maxlen:
        it = islice(it, maxlen)
    found = []
    for idx, v in enumerate(it):
        if v == element:
            if skip:
                skip -= 1
                continue
            pos = size - 1 - idx if from_tail else idx
            if count is None:
                return pos
            found.append(pos)
            if limit and len(found) >= limit:
                break
    if count is None:
        return None
    return found


# -- in-place edits --------------------------------------------------------


@command("lset", 4, "write denyoom", (1, 1, 1), "@list", group="list", since="1.0.0")
def lset(client, args):
    db = client.db
    key = args[1]
    lst = db.get_typed_for_write(key, deque)
    if lst is None:
        raise CommandError(errors.NO_SUCH_KEY)
    i = parse_int(args[2])
    n = len(lst)
    if i < 0:
        i += n
    if not 0 <= i < n:
        raise CommandError(errors.INDEX_OUT_OF_RANGE)
    lst[i] = args[3]
    db.modified(key)
    notify(db, NOTIFY_LIST, b"lset", key)
    return OK


@command("linsert", 5, "write denyoom", (1, 1, 1), "@list", group="list", since="2.2.0")
def linsert(client, args):
    where = args[2].lower()
    if where == b"after":
        after = True
    elif where == b"before":
        after = False
    else:
        raise CommandError(errors.SYNTAX)
    db = client.db
    key = args[1]
    lst = db.get_typed_for_write(key, deque)
    if lst is None:
        return 0
    try:
        i = lst.index(args[3])
    except ValueError:
        return -1
    lst.insert(i + 1 if after else i, args[4])
    db.modified(key)
    notify(db, NOTIFY_LIST, b"linsert", key)
    return len(lst)


@command("lrem", 4, "write", (1, 1, 1), "@list", group="list", since="1.0.0")
def lrem(client, args):
    count = parse_int(args[2])
    db = client.db
    key = args[1]
    lst = db.get_typed_for_write(key, deque)
    if lst is None:
        return 0
    element = args[3]
    if count == 0:
        kept = [v for v in lst if v != element]
    else:
        # Remove the first |count| matches from the head (count > 0) or
        # the tail (count < 0) in one pass.
        left = abs(count)
        kept = []
        for v in (lst if count > 0 else reversed(lst)):
            if left and v == element:
                left -= 1
            else:
                kept.append(v)
        if count < 0:
            kept.reverse()
    removed = len(lst) - len(kept)
    if removed:
        lst.clear()
        lst.extend(kept)
        _after_pop(db, key, lst, b"lrem")
    return removed


@command("ltrim", 4, "write", (1, 1, 1), "@list", group="list", since="1.0.0")
def ltrim(client, args):
    start = parse_int(args[2])
    end = parse_int(args[3])
    db = client.db
    key = args[1]
    lst = db.get_typed_for_write(key, deque)
    if lst is None:
        return OK
    n = len(lst)
    if start < 0:
        start += n
    if end < 0:
        end += n
    if start < 0:
        start = 0
    if start > end or start >= n:
        lst.clear()
        _after_pop(db, key, lst, b"ltrim")
        return OK
    if end >= n:
        end = n - 1
    drop_left = start
    drop_right = n - 1 - end
    if drop_left + drop_right > end - start + 1:
        kept = list_range(lst, start, end)
        lst.clear()
        lst.extend(kept)
    else:
        for _ in range(drop_left):
            lst.popleft()
        for _ in range(drop_right):
            lst.pop()
    # (even when nothing was trimmed, as Redis signals the key)
    _after_pop(db, key, lst, b"ltrim")
    return OK


# -- moves between lists ---------------------------------------------------


def _where(arg: bytes) -> bool:
    """LEFT -> True, RIGHT -> False (LMOVE's wherefrom/whereto)."""
    a = arg.lower()
    if a == b"left":
        return True
    if a == b"right":
        return False
    raise CommandError(errors.SYNTAX)


def _move(db, src, dst, lst, from_left: bool, to_left: bool):
    """Pop from ``lst`` (the list at ``src``) and push onto ``dst``, whose
    type the caller checked. Returns the moved element."""
    v = lst.popleft() if from_left else lst.pop()
    pop_event = b"lpop" if from_left else b"rpop"
    if dst == src:
        if to_left:
            lst.appendleft(v)
        else:
            lst.append(v)
        db.modified(src)
        if db.ks.notify_flags:
            notify(db, NOTIFY_LIST, b"lpush" if to_left else b"rpush", dst)
            notify(db, NOTIFY_LIST, pop_event, src)
        return v
    target = db.get_for_write(dst)
    if target is None:
        db.set(dst, deque((v,)))
    else:
        if to_left:
            target.appendleft(v)
        else:
            target.append(v)
        db.modified(dst)
    # Redis reports the push on the destination before the pop on the source.
    notify(db, NOTIFY_LIST, b"lpush" if to_left else b"rpush", dst)
    _after_pop(db, src, lst, pop_event)
    return v


def _move_now(client, args, from_left: bool, to_left: bool):
    """RPOPLPUSH/LMOVE, and the non-blocking path of their blocking forms."""
    db = client.db
    src, dst = args[1], args[2]
    lst = db.get_typed_for_write(src, deque)
    if lst is None:
        return None
    db.get_typed_for_write(dst, deque)
    return _move(db, src, dst, lst, from_left, to_left)


@command("rpoplpush", 3, "write denyoom", (1, 2, 1), "@list", group="list", since="1.2.0")
def rpoplpush(client, args):
    return _move_now(client, args, False, True)


@command("lmove", 5, "write denyoom", (1, 2, 1), "@list", group="list", since="6.2.0")
def lmove(client, args):
    from_left = _where(args[3])
    to_left = _where(args[4])
    return _move_now(client, args, from_left, to_left)


# -- blocking pops ---------------------------------------------------------


def parse_timeout(raw: bytes) -> float:
    """A blocking command's timeout in seconds (0: wait forever), read as
    Redis 6.2 does: a long double times 1000, truncated to whole
    milliseconds in a C long long (so 0.0001 means forever, and values
    past the range, like inf, come out negative)."""
    v = longdouble.parse(raw)
    if v is None:
        raise CommandError(errors.TIMEOUT_NOT_FLOAT)
    ms = LLONG_MIN
    if v is not longdouble.INF:
        n, e = v
        # ftval * 1000.0 rounds to a long double before the cast truncates.
        if e >= 0:
            prod = longdouble.round_ratio(n < 0, abs(n) * 1000 << e, 1)
        else:
            prod = longdouble.round_ratio(n < 0, abs(n) * 1000, 1 << -e)
        if prod is not longdouble.INF:
            pn, pe = prod
            t = abs(pn) << pe if pe >= 0 else abs(pn) >> -pe
            t = -t if pn < 0 else t
            if LLONG_MIN <= t <= LLONG_MAX:
                ms = t
    if ms < 0:
        raise CommandError(errors.TIMEOUT_NEGATIVE)
    # Past about three years the deadline overflows or no timer is worth
    # arming: wait forever, as Redis does once now + timeout overflows.
    if ms > 10 ** 11:
        return 0.0
    return ms / 1000.0


def _pop_server(left: bool):
    name = b"LPOP" if left else b"RPOP"
    event = b"lpop" if left else b"rpop"

    def serve(client, key):
        db = client.db
        lst = db.get_for_write(key)
        if type(lst) is not deque:
            return None
        v = lst.popleft() if left else lst.pop()
        _after_pop(db, key, lst, event)
        return [key, v], [[name, key]]

    return serve


_SERVE_LPOP = _pop_server(True)
_SERVE_RPOP = _pop_server(False)


def _bpop(client, args, left: bool):
    timeout = parse_timeout(args[-1])
    db = client.db
    keys = args[1:-1]
    for key in keys:
        lst = db.get_for_write(key)
        if lst is None:
            continue
        if type(lst) is not deque:
            raise CommandError(errors.WRONGTYPE)
        v = lst.popleft() if left else lst.pop()
        _after_pop(db, key, lst, b"lpop" if left else b"rpop")
        client.rewrite(b"LPOP" if left else b"RPOP", key)
        return [key, v]
    if client.deny_blocking:
        return NULL_ARRAY
    return block(client, keys, timeout, _SERVE_LPOP if left else _SERVE_RPOP, NULL_ARRAY)


@command("blpop", -3, "write noscript", (1, -2, 1), "@list @blocking", group="list",
         since="2.0.0")
def blpop(client, args):
    return _bpop(client, args, True)


@command("brpop", -3, "write noscript", (1, -2, 1), "@list @blocking", group="list",
         since="2.0.0")
def brpop(client, args):
    return _bpop(client, args, False)


def _move_server(dst: bytes, from_left: bool, to_left: bool, effect_tail: list):
    def serve(client, key):
        db = client.db
        lst = db.get_for_write(key)
        if type(lst) is not deque:
            return None
        target = db.get_for_write(dst)
        if target is not None and type(target) is not deque:
            # Redis gives up on this client with WRONGTYPE; the element stays.
            return CommandError(errors.WRONGTYPE), []
        v = _move(db, key, dst, lst, from_left, to_left)
        return v, [[effect_tail[0], key, dst, *effect_tail[1:]]]

    return serve


def _bmove(client, args, from_left: bool, to_left: bool, timeout: float, effect: list):
    db = client.db
    src, dst = args[1], args[2]
    lst = db.get_typed_for_write(src, deque)
    if lst is not None:
        db.get_typed_for_write(dst, deque)
        v = _move(db, src, dst, lst, from_left, to_left)
        client.rewrite(effect[0], src, dst, *effect[1:])
        return v
    if client.deny_blocking:
        return None
    return block(client, [src], timeout, _move_server(dst, from_left, to_left, effect),
                 NULL_ARRAY)


@command("brpoplpush", 4, "write denyoom noscript", (1, 2, 1), "@list @blocking",
         group="list", since="2.2.0")
def brpoplpush(client, args):
    timeout = parse_timeout(args[3])
    return _bmove(client, args, False, True, timeout, [b"RPOPLPUSH"])


@command("blmove", 6, "write denyoom noscript", (1, 2, 1), "@list @blocking",
         group="list", since="6.2.0")
def blmove(client, args):
    from_left = _where(args[3])
    to_left = _where(args[4])
    timeout = parse_timeout(args[5])
    effect = [b"LMOVE", b"left" if from_left else b"right", b"left" if to_left else b"right"]
    return _bmove(client, args, from_left, to_left, timeout, effect)


# -- OBJECT ENCODING and DEBUG DIGEST --------------------------------------


def _register() -> None:
    try:
        from .keys import register_encoding
    except ImportError:  # the keyspace group is not there (minimal builds)
        return
    register_encoding(deque, lambda value: "quicklist")


_register()


def digest_list(digest: bytes, lst) -> bytes:
    """DEBUG DIGEST hook: mix a list's elements into a key's running digest,
    head to tail, as Redis 6.2's xorObjectDigest does for OBJ_LIST."""
    mix = _digest.mix
    for v in lst:
        digest = mix(digest, v)
    return digest


_digest.register(deque, 1, digest_list)  # OBJ_LIST
