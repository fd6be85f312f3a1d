"""The stream type: entries ordered by ID, consumer groups, and a model of
Redis's macro nodes.

An entry ID is two unsigned 64-bit integers, ``ms-seq``; here it is one
Python int ``ms << 64 | seq``, so IDs compare and sort as plain ints.

Entries live in *nodes*, the way Redis keeps them in listpacks hung on a
radix tree: a node is opened by its first entry (its *master* ID, the rax
key) and takes further entries until it is full. Redis decides "full" from
the listpack's byte size (``stream-node-max-bytes``) and its entry count,
deleted entries included (``stream-node-max-entries``), and trims with
``~`` only whole nodes; so that ``XLEN`` after an approximate trim, and
``XINFO STREAM``'s ``radix-tree-keys``/``radix-tree-nodes``, come out as in
Redis 6.2, this module keeps the same node boundaries and computes each
node's listpack size exactly (:func:`_elem_size` follows listpack's
encodings) without building the bytes. Deleted entries stay in their node as
tombstones (``None`` values) until the node goes, as in Redis.

Each entry is kept as the RESP a reply sends for it, ``[id, [field, value,
...]]`` (:func:`encode_entry`): one object per entry, and a range reply is
a concatenation; :func:`decode_fields` gives the fields and values back.

Complexity (n entries, N = n / node size nodes):

* append (XADD): O(1) amortised, plus the size of the entry.
* range (XRANGE/XREVRANGE/XREAD): O(log N + log node + m) for m entries.
* delete one ID (XDEL): O(log N + node size).
* trim (XTRIM, XADD MAXLEN/MINID): O(N) list shifting per removed node
  (pointer moves, cheap) plus the entries marked deleted.
* ``radix-tree-nodes``: O(N) when the node set changed, then cached.

Consumer groups keep a last-delivered ID, a PEL (pending entries list, an
ordered map ID -> :class:`NACK`) and consumers, each with its own PEL
sharing the same NACK objects, as Redis does.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right

from sortedcontainers import SortedDict

MASK64 = (1 << 64) - 1
MAX_ID = (1 << 128) - 1

# Redis's limit on one listpack (STREAM_LISTPACK_MAX_SIZE), used when
# stream-node-max-bytes is 0 or above it.
LISTPACK_MAX_SIZE = 1 << 30

# Entry flags in the listpack (STREAM_ITEM_FLAG_*): only their encoded size
# matters here, and every combination fits the 1-byte small-int encoding.
_FLAGS_SIZE = 2
# An empty listpack: 4-byte total size + 2-byte count, and the end byte.
_LP_EMPTY = 7


def make_id(ms: int, seq: int) -> int:
    return ms << 64 | seq


def format_id(i: int) -> bytes:
    return b"%d-%d" % (i >> 64, i & MASK64)


# -- listpack sizes -----------------------------------------------------------


def _int_size(v: int) -> int:
    """Bytes one integer element takes in a listpack (encoding + backlen)."""
    if 0 <= v <= 127:
        return 2
    if -4096 <= v <= 4095:
        return 3
    if -32768 <= v <= 32767:
        return 4
    if -8388608 <= v <= 8388607:
        return 5
    if -2147483648 <= v <= 2147483647:
        return 6
    return 10


def _backlen_size(n: int) -> int:
    if n <= 127:
        return 1
    if n < 16383:
        return 2
    if n < 2097151:
        return 3
    if n < 268435455:
        return 4
    return 5


def _as_int64(b: bytes):
    """listpack's lpStringToInt64 (string2ll): the value of a canonical
    64-bit decimal integer, else None."""
    if b.isdigit():
        if b[0] == 48 and len(b) > 1:
            return None
        v = int(b)
        return v if v < 1 << 63 else None
    if len(b) > 1 and b[0] == 45 and b[1] != 48 and b[1:].isdigit():
        v = int(b)
        return v if v >= -(1 << 63) else None
    return None


def _elem_size(b: bytes) -> int:
    """Bytes a string element takes: listpack stores strings that read as
    canonical 64-bit integers as integers."""
    n = len(b)
    if 0 < n <= 20:
        v = _as_int64(b)
        if v is not None:
            return _int_size(v)
    if n < 64:
        enc = 1 + n
    elif n < 4096:
        enc = 2 + n
    else:
        enc = 5 + n
    return enc + _backlen_size(enc)


def _delta(a: int, b: int) -> int:
    """a - b as the int64 Redis stores for an ID delta (uint64 wrap-around)."""
    d = (a - b) & MASK64
    return d - (1 << 64) if d >> 63 else d


# -- entry values -------------------------------------------------------------


def encode_entry(id_: int, fv) -> bytes:
    """An entry as replies carry it, [id, [field, value, ...]], in RESP
    (the same in RESP2 and RESP3)."""
    idb = b"%d-%d" % (id_ >> 64, id_ & MASK64)
    return (b"*2\r\n$%d\r\n%b\r\n*%d\r\n" % (len(idb), idb, len(fv))
            + b"".join([b"$%d\r\n%b\r\n" % (len(x), x) for x in fv]))


def decode_fields(enc: bytes) -> list:
    """The fields and values of an entry kept by :func:`encode_entry`."""
    pos = enc.index(b"\r\n", 4) + 2           # past "*2" and the ID's length
    pos = enc.index(b"\r\n", pos) + 2         # past the ID
    nl = enc.index(b"\r\n", pos)
    n = int(enc[pos + 1:nl])
    pos = nl + 2
    out = []
    for _ in range(n):
        nl = enc.index(b"\r\n", pos)
        ln = int(enc[pos + 1:nl])
        pos = nl + 2
        out.append(enc[pos:pos + ln])
        pos += ln + 2
    return out


# -- nodes --------------------------------------------------------------------


class _Node:
    """One macro node: a listpack in Redis.

    ``ids`` holds every entry appended (sorted), ``values`` each one
    encoded (:func:`encode_entry`), or None once deleted. ``base`` is the
    listpack size without the two counters of the master entry (live and
    deleted entries), whose encoded size changes as they do."""

    __slots__ = ("master", "fields", "ids", "values", "live", "deleted", "base")

    def __init__(self, master: int, fields: tuple) -> None:
        self.master = master
        self.fields = fields
        self.ids: list[int] = []
        self.values: list = []
        self.live = 0
        self.deleted = 0
        # Header and end byte, the master entry's field count, fields and
        # terminating 0.
        self.base = (_LP_EMPTY + _int_size(len(fields))
                     + sum(map(_elem_size, fields)) + 2)

    def nbytes(self) -> int:
        return self.base + _int_size(self.live) + _int_size(self.deleted)

    def entry_size(self, id_: int, fv: tuple) -> int:
        """Bytes the entry will add; also says whether it reuses the master
        fields (the SAMEFIELDS flag), which the caller needs to know."""
        master = self.master
        size = (_FLAGS_SIZE + _int_size(_delta(id_ >> 64, master >> 64))
                + _int_size(_delta(id_ & MASK64, master & MASK64)))
        nfields = len(fv) // 2
        if fv[0::2] == self.fields:
            size += sum(map(_elem_size, fv[1::2]))
            lp_count = nfields + 3
        else:
            size += _int_size(nfields) + sum(map(_elem_size, fv))
            lp_count = 2 * nfields + 4
        return size + _int_size(lp_count)

    def add(self, id_: int, fv: tuple) -> None:
        self.base += self.entry_size(id_, fv)
        self.ids.append(id_)
        self.values.append(encode_entry(id_, fv))
        self.live += 1

    def last_id(self) -> int:
        """The ID of the last entry appended, deleted or not (what Redis's
        MINID trim reads at the end of the listpack)."""
        return self.ids[-1]

    def copy(self) -> "_Node":
        n = _Node.__new__(_Node)
        n.master = self.master
        n.fields = self.fields
        n.ids = list(self.ids)
        n.values = list(self.values)
        n.live = self.live
        n.deleted = self.deleted
        n.base = self.base
        return n


# -- consumer groups ----------------------------------------------------------


class NACK:
    """A delivered, not yet acknowledged entry."""

    __slots__ = ("consumer", "delivery_time", "delivery_count")

    def __init__(self, consumer, delivery_time: int, delivery_count: int = 1) -> None:
        self.consumer = consumer
        self.delivery_time = delivery_time
        self.delivery_count = delivery_count


class Consumer:
    __slots__ = ("name", "seen_time", "pel")

    def __init__(self, name: bytes, now: int) -> None:
        self.name = name
        self.seen_time = now
        self.pel = SortedDict()


class Group:
    __slots__ = ("name", "last_id", "pel", "consumers")

    def __init__(self, name: bytes, last_id: int) -> None:
        self.name = name
        self.last_id = last_id
        self.pel = SortedDict()
        self.consumers: dict[bytes, Consumer] = {}

    def consumer(self, name: bytes, now: int, create: bool = True):
        """Look up a consumer, refreshing its seen-time; create it if
        missing and ``create``. Returns ``(consumer, created)``."""
        c = self.consumers.get(name)
        if c is not None:
            c.seen_time = now
            return c, False
        if not create:
            return None, False
        c = self.consumers[name] = Consumer(name, now)
        return c, True

    def sorted_consumers(self) -> list:
        # Redis keeps consumers in a rax: listed in byte order of the name.
        return [self.consumers[k] for k in sorted(self.consumers)]

    def delete_consumer(self, name: bytes) -> int:
        """Drop a consumer and its pending entries; returns how many it had."""
        c = self.consumers.pop(name, None)
        if c is None:
            return 0
        for id_ in c.pel:
            del self.pel[id_]
        return len(c.pel)

    def ack(self, id_: int) -> bool:
        nack = self.pel.pop(id_, None)
        if nack is None:
            return False
        del nack.consumer.pel[id_]
        return True

    def assign(self, id_: int, nack: NACK, consumer: Consumer) -> None:
        """Move ``nack`` (already in the group PEL) to ``consumer``."""
        old = nack.consumer
        if old is not consumer:
            if old is not None:
                del old.pel[id_]
            consumer.pel[id_] = nack
            nack.consumer = consumer


# -- the stream ---------------------------------------------------------------


class Stream:
    """A stream value in the keyspace."""

    TYPE_NAME = "stream"
    encoding = "stream"

    __slots__ = ("nodes", "masters", "length", "last_id", "groups", "signal", "_rax_nodes")

    def __init__(self) -> None:
        self.nodes: list[_Node] = []
        # The master ID of each node, for bisecting.
        self.masters: list[int] = []
        self.length = 0
        self.last_id = 0
        # name -> Group; None until the first group (most streams have none).
        self.groups: dict | None = None
        # Bumped when Redis signals the key ready (XADD, XGROUP DESTROY):
        # blocked readers look again then, not on any change.
        self.signal = 0
        self._rax_nodes = None

    def __len__(self) -> int:
        return self.length

    # -- adding -------------------------------------------------------------

    def next_id(self, now_ms: int) -> int | None:
        """The ID ``*`` gives now, or None if the last possible ID is used."""
        last = self.last_id
        if last == MAX_ID:
            return None
        ms = last >> 64
        if now_ms > ms:
            return now_ms << 64
        # Same (or an earlier) millisecond: next sequence, carrying into ms.
        return last + 1

    def append(self, id_: int, fv: tuple, max_bytes: int, max_entries: int) -> None:
        """Add an entry; ``id_`` must be greater than :attr:`last_id`.
        ``fv`` is the flat tuple field1, value1, field2, value2..."""
        nodes = self.nodes
        node = nodes[-1] if nodes else None
        if node is not None:
            limit = max_bytes if 0 < max_bytes <= LISTPACK_MAX_SIZE else LISTPACK_MAX_SIZE
            # Redis checks the node's size plus the raw lengths of the new
            # fields and values before appending.
            if node.nbytes() + sum(map(len, fv)) >= limit:
                node = None
            elif max_entries and node.live + node.deleted >= max_entries:
                node = None
        if node is None:
            node = _Node(id_, fv[0::2])
            nodes.append(node)
            self.masters.append(id_)
            self._rax_nodes = None
        node.add(id_, fv)
        self.length += 1
        self.last_id = id_
        self.signal += 1

    # -- lookup -------------------------------------------------------------

    def _node_index(self, id_: int) -> int:
        """Index of the node that would hold ``id_`` (the last whose master
        is <= id_), or 0."""
        i = bisect_right(self.masters, id_) - 1
        return i if i > 0 else 0

    def get(self, id_: int):
        """A live entry, encoded, or None."""
        if not self.nodes:
            return None
        node = self.nodes[self._node_index(id_)]
        j = bisect_left(node.ids, id_)
        if j < len(node.ids) and node.ids[j] == id_:
            return node.values[j]
        return None

    def range(self, start: int, end: int, count: int = 0, rev: bool = False) -> list:
        """Live entries with start <= id <= end as ``(id, encoded entry)``, in
        order (reversed if ``rev``), at most ``count`` of them (0: all)."""
        out = []
        if start > end or not self.nodes:
            return out
        nodes = self.nodes
        if not rev:
            i = self._node_index(start)
            j = bisect_left(nodes[i].ids, start)
            while i < len(nodes):
                node = nodes[i]
                ids, values = node.ids, node.values
                n = len(ids)
                while j < n:
                    id_ = ids[j]
                    if id_ > end:
                        return out
                    v = values[j]
                    if v is not None:
                        out.append((id_, v))
                        if len(out) == count:
                            return out
                    j += 1
                i += 1
                j = 0
        else:
            i = bisect_right(self.masters, end) - 1
            if i < 0:
                return out
            j = bisect_right(nodes[i].ids, end) - 1
            while i >= 0:
                node = nodes[i]
                ids, values = node.ids, node.values
                while j >= 0:
                    id_ = ids[j]
                    if id_ < start:
                        return out
                    v = values[j]
                    if v is not None:
                        out.append((id_, v))
                        if len(out) == count:
                            return out
                    j -= 1
                i -= 1
                if i >= 0:
                    j = len(nodes[i].ids) - 1
        return out

    def first_entry(self):
        r = self.range(0, MAX_ID, 1)
        return r[0] if r else None

    def last_entry(self):
        r = self.range(0, MAX_ID, 1, rev=True)
        return r[0] if r else None

    def last_valid_id(self) -> int:
        """The ID of the last live entry (0 when empty)."""
        e = self.last_entry()
        return e[0] if e else 0

    def first_valid_id(self) -> int:
        """The ID of the first live entry, or the maximum ID when empty
        (Redis's streamGetEdgeID)."""
        e = self.first_entry()
        return e[0] if e else MAX_ID

    # -- removing -----------------------------------------------------------

    def _drop_node(self, i: int) -> None:
        del self.nodes[i]
        del self.masters[i]
        self._rax_nodes = None

    def delete(self, id_: int) -> bool:
        """XDEL of one ID: True if a live entry was deleted."""
        if not self.nodes:
            return False
        i = self._node_index(id_)
        node = self.nodes[i]
        j = bisect_left(node.ids, id_)
        if j == len(node.ids) or node.ids[j] != id_ or node.values[j] is None:
            return False
        self.length -= 1
        if node.live == 1:
            # The last live entry: Redis frees the whole node.
            self._drop_node(i)
            return True
        node.values[j] = None
        node.live -= 1
        node.deleted += 1
        return True

    def trim_maxlen(self, maxlen: int, approx: bool, limit: int) -> int:
        """Trim to ``maxlen`` entries from the head; with ``approx`` only
        whole nodes go. ``limit`` (0: none) caps the entries removed in
        whole nodes. Returns how many entries were deleted."""
        deleted = 0
        nodes = self.nodes
        while nodes and self.length > maxlen:
            node = nodes[0]
            entries = node.live
            if limit and deleted + entries > limit:
                break
            if self.length - entries >= maxlen:
                self._drop_node(0)
                self.length -= entries
                deleted += entries
                continue
            if approx:
                break
            deleted += self._delete_head(node, self.length - maxlen)
            break
        return deleted

    def _delete_head(self, node: _Node, k: int) -> int:
        """Mark the first ``k`` live entries of ``node`` deleted."""
        values = node.values
        done = 0
        for j in range(len(values)):
            if done == k:
                break
            if values[j] is not None:
                values[j] = None
                done += 1
        node.live -= done
        node.deleted += done
        self.length -= done
        return done

    def trim_minid(self, minid: int, approx: bool, limit: int) -> int:
        """Remove entries with an ID below ``minid``; with ``approx`` only
        whole nodes. Returns how many entries were deleted."""
        deleted = 0
        nodes = self.nodes
        while nodes:
            node = nodes[0]
            entries = node.live
            if limit and deleted + entries > limit:
                break
            if node.last_id() < minid:
                self._drop_node(0)
                self.length -= entries
                deleted += entries
                continue
            if approx:
                break
            # Mark what is below minid in this node; the rest stays.
            values = node.values
            done = 0
            for j, id_ in enumerate(node.ids):
                if id_ >= minid:
                    break
                if values[j] is not None:
                    values[j] = None
                    done += 1
            node.live -= done
            node.deleted += done
            self.length -= done
            deleted += done
            break
        return deleted

    # -- introspection ------------------------------------------------------

    def rax_nodes(self) -> int:
        """``radix-tree-nodes``: the node count of Redis's rax holding these
        master IDs as 16-byte big-endian keys. Rax keeps its tree in the
        canonical compressed form, whose nodes are the root, each key, each
        branching prefix and each child of a branching prefix; in sorted
        order the branching prefixes are the common prefixes of neighbours."""
        n = self._rax_nodes
        if n is None:
            keys = [m.to_bytes(16, "big") for m in self.masters]
            prefixes = {b""}
            prefixes.update(keys)
            for a, b in zip(keys, keys[1:]):
                lcp = 0
                while a[lcp] == b[lcp]:
                    lcp += 1
                prefixes.add(a[:lcp])
                prefixes.add(a[:lcp + 1])
                prefixes.add(b[:lcp + 1])
            n = self._rax_nodes = len(prefixes)
        return n

    def entries(self):
        """Every live entry in order, as ``(id, encoded entry)``."""
        for node in self.nodes:
            for id_, v in zip(node.ids, node.values):
                if v is not None:
                    yield id_, v

    def copy(self) -> "Stream":
        """An independent copy with the same nodes, groups, PELs and
        consumers (Redis's streamDup, used by COPY)."""
        new = Stream()
        new.nodes = [n.copy() for n in self.nodes]
        new.masters = list(self.masters)
        new.length = self.length
        new.last_id = self.last_id
        new._rax_nodes = self._rax_nodes
        if self.groups is not None:
            new.groups = {}
            for name, g in self.groups.items():
                ng = new.groups[name] = Group(name, g.last_id)
                for cname, c in g.consumers.items():
                    ng.consumers[cname] = Consumer(cname, c.seen_time)
                for id_, nack in g.pel.items():
                    owner = ng.consumers[nack.consumer.name]
                    nn = ng.pel[id_] = NACK(owner, nack.delivery_time, nack.delivery_count)
                    owner.pel[id_] = nn
        return new

    # -- groups -------------------------------------------------------------

    def group(self, name: bytes):
        g = self.groups
        return g.get(name) if g else None

    def create_group(self, name: bytes, last_id: int):
        """A new group, or None if the name is taken."""
        if self.groups is None:
            self.groups = {}
        elif name in self.groups:
            return None
        g = self.groups[name] = Group(name, last_id)
        return g

    def destroy_group(self, name: bytes) -> bool:
        g = self.groups
        if g and name in g:
            del g[name]
            return True
        return False

    def sorted_groups(self) -> list:
        g = self.groups
        return [g[k] for k in sorted(g)] if g else []
