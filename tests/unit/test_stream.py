"""The stream structure (pyredis.types.stream) on its own: IDs, listpack
sizes, node boundaries, ranges over nodes and tombstones, deletion, the two
trim strategies, radix-tree node counts and consumer-group bookkeeping.
Compatibility with Redis itself is checked in tests/compat/test_streams.py."""

from __future__ import annotations

import random

import pytest

from pyredis.types.stream import (MASK64, MAX_ID, NACK, Group, Stream, _elem_size, _int_size,
                                  decode_fields, format_id, make_id)


def ids(entries) -> list:
    return [format_id(i) for i, _ in entries]


def filled(n: int, max_entries: int = 100, max_bytes: int = 4096, fv=(b"f", b"v")) -> Stream:
    s = Stream()
    for i in range(1, n + 1):
        s.append(make_id(i, 0), fv, max_bytes, max_entries)
    return s


# -- IDs and sizes ---------------------------------------------------------------------


def test_ids():
    assert make_id(5, 7) == 5 << 64 | 7
    assert format_id(make_id(5, 7)) == b"5-7"
    assert format_id(MAX_ID) == b"18446744073709551615-18446744073709551615"
    assert make_id(1, 0) > make_id(0, MASK64)


@pytest.mark.parametrize("value,size", [
    (b"", 2), (b"a", 3), (b"a" * 63, 65), (b"a" * 64, 67), (b"a" * 125, 128), (b"a" * 126, 130),
    (b"a" * 4095, 4099), (b"a" * 4096, 4103), (b"0", 2), (b"127", 2), (b"128", 3), (b"-1", 3),
    (b"-4096", 3), (b"4095", 3), (b"4096", 4), (b"32767", 4), (b"32768", 5), (b"-8388608", 5),
    (b"8388608", 6), (b"2147483647", 6), (b"2147483648", 10), (b"9223372036854775807", 10),
    (b"9223372036854775808", 21), (b"01", 4), (b"-0", 4), (b"+1", 4), (b" 1", 4), (b"1.5", 5),
])
def test_listpack_element_sizes(value, size):
    assert _elem_size(value) == size


def test_integer_sizes():
    assert [_int_size(v) for v in (0, 127, 128, -4096, 4095, -32769, 2 ** 23, -2 ** 31, 2 ** 31)] \
        == [2, 2, 3, 3, 3, 5, 6, 6, 10]


def test_next_id():
    s = Stream()
    assert s.next_id(1000) == make_id(1000, 0)
    s.append(make_id(1000, 0), (b"f", b"v"), 4096, 100)
    assert s.next_id(1000) == make_id(1000, 1)
    assert s.next_id(999) == make_id(1000, 1)       # the clock went back
    assert s.next_id(1001) == make_id(1001, 0)
    s.append(make_id(1000, MASK64), (b"f", b"v"), 4096, 100)
    assert s.next_id(1000) == make_id(1001, 0)
    s.append(MAX_ID, (b"f", b"v"), 4096, 100)
    assert s.next_id(5) is None


# -- nodes --------------------------------------------------------------------------------


def test_entry_count_limit_opens_nodes():
    s = filled(7, max_entries=3)
    assert [len(n.ids) for n in s.nodes] == [3, 3, 1]
    assert s.masters == [make_id(1, 0), make_id(4, 0), make_id(7, 0)]
    assert len(s) == 7


def test_deleted_entries_count_towards_the_limit():
    s = filled(2, max_entries=3)
    assert s.delete(make_id(2, 0))
    s.append(make_id(3, 0), (b"f", b"v"), 4096, 3)
    s.append(make_id(4, 0), (b"f", b"v"), 4096, 3)
    assert [len(n.ids) for n in s.nodes] == [3, 1]
    assert ids(s.entries()) == [b"1-0", b"3-0", b"4-0"]


def test_byte_limit_opens_nodes():
    big = (b"f", b"x" * 3000)
    s = Stream()
    for i in range(1, 4):
        s.append(make_id(i, 0), big, 4096, 100)
    # Redis adds the raw field and value lengths to the node size before
    # appending: 3000-byte values never share a 4096-byte node.
    assert len(s.nodes) == 3
    small = Stream()
    for i in range(1, 200):
        small.append(make_id(i, 0), (b"field", b"x" * 20), 4096, 0)
    sizes = [n.nbytes() for n in small.nodes]
    assert all(size < 4096 + 40 for size in sizes) and len(sizes) > 1


def test_node_size_of_the_first_entry():
    s = Stream()
    s.append(make_id(5, 3), (b"name", b"abc"), 4096, 100)
    node = s.nodes[0]
    # header 6 + end 1; master: count 1, deleted 0, 1 field, "name", 0;
    # entry: flags, ms-diff 0, seq-diff 0, "abc", lp-count 4.
    assert node.nbytes() == 7 + (2 + 2 + 2 + 6 + 2) + (2 + 2 + 2 + 5 + 2)


def test_entries_with_other_fields_carry_them():
    s = Stream()
    s.append(make_id(1, 0), (b"a", b"1"), 4096, 100)
    before = s.nodes[0].nbytes()
    s.append(make_id(2, 0), (b"b", b"1"), 4096, 100)
    # flags, ms-diff 1, seq-diff 0, numfields 1, "b" (a string), "1", lp-count 6
    assert s.nodes[0].nbytes() - before == 2 + 2 + 2 + 2 + 3 + 2 + 2


# -- ranges ---------------------------------------------------------------------------------


def test_ranges_cross_nodes_and_skip_tombstones():
    s = filled(20, max_entries=4)
    for i in (3, 4, 9, 10, 11, 12):
        assert s.delete(make_id(i, 0))
    assert len(s) == 14
    everything = [b"%d-0" % i for i in range(1, 21) if i not in (3, 4, 9, 10, 11, 12)]
    assert ids(s.range(0, MAX_ID)) == everything
    assert ids(s.range(0, MAX_ID, rev=True)) == everything[::-1]
    assert ids(s.range(make_id(3, 0), make_id(13, 0), 3)) == [b"5-0", b"6-0", b"7-0"]
    assert ids(s.range(make_id(2, 0), make_id(13, 0), 3, rev=True)) == [b"13-0", b"8-0", b"7-0"]
    assert ids(s.range(make_id(9, 0), make_id(12, 0))) == []
    assert ids(s.range(make_id(9, 0), make_id(9, 0), rev=True)) == []
    assert s.range(make_id(5, 0), make_id(4, 0)) == []
    assert s.get(make_id(9, 0)) is None and decode_fields(s.get(make_id(8, 0))) == [b"f", b"v"]
    assert s.first_entry()[0] == make_id(1, 0) and s.last_entry()[0] == make_id(20, 0)


def test_range_matches_a_plain_list_model():
    rng = random.Random(3)
    s = Stream()
    model = []
    next_id = 1
    for _ in range(600):
        if rng.random() < 0.7:
            next_id += rng.choice([1, 1, 2, 1 << 64])
            s.append(next_id, (b"f", b"%d" % next_id), 4096, rng.choice([3, 5]))
            model.append(next_id)
        elif model:
            victim = rng.choice(model)
            model.remove(victim)
            assert s.delete(victim)
            assert not s.delete(victim)
    assert len(s) == len(model)
    for _ in range(200):
        a, b = sorted((rng.randint(0, next_id + 2), rng.randint(0, next_id + 2)))
        count = rng.choice([0, 1, 5])
        want = [i for i in model if a <= i <= b]
        got = [i for i, _ in s.range(a, b, count)]
        assert got == (want[:count] if count else want)
        got = [i for i, _ in s.range(a, b, count, rev=True)]
        assert got == (want[::-1][:count] if count else want[::-1])


# -- deleting and trimming -----------------------------------------------------------------


def test_deleting_the_last_live_entry_drops_the_node():
    s = filled(6, max_entries=3)
    assert s.delete(make_id(4, 0)) and s.delete(make_id(6, 0))
    assert len(s.nodes) == 2
    assert s.delete(make_id(5, 0))
    assert len(s.nodes) == 1 and s.masters == [make_id(1, 0)]
    assert not s.delete(make_id(5, 0)) and not s.delete(make_id(99, 0))
    assert s.last_id == make_id(6, 0)                # deleting never lowers it
    assert s.last_valid_id() == make_id(3, 0)


def test_trim_maxlen_exact_and_approx():
    s = filled(10, max_entries=3)
    assert s.trim_maxlen(8, approx=True, limit=0) == 0     # would cut into the first node
    assert s.trim_maxlen(7, approx=True, limit=0) == 3
    assert s.trim_maxlen(5, approx=False, limit=0) == 2
    assert ids(s.entries())[0] == b"6-0" and len(s) == 5
    assert s.nodes[0].deleted == 2                          # tombstones stay in the node
    assert s.trim_maxlen(0, approx=True, limit=3) == 1     # whole nodes up to the limit
    assert s.trim_maxlen(0, approx=True, limit=3) == 3
    assert s.trim_maxlen(0, approx=True, limit=0) == 1
    assert len(s) == 0 and s.nodes == []


def test_trim_minid():
    s = filled(10, max_entries=3)
    assert s.trim_minid(make_id(5, 0), approx=True, limit=0) == 3
    assert s.trim_minid(make_id(5, 0), approx=False, limit=0) == 1
    assert ids(s.entries())[0] == b"5-0"
    s.delete(make_id(6, 0))
    # The node's last entry (6-0) is deleted but still bounds the node.
    assert s.trim_minid(make_id(7, 0), approx=True, limit=0) == 1
    assert ids(s.entries())[0] == b"7-0"
    assert s.first_valid_id() == make_id(7, 0)
    s.trim_minid(MAX_ID, approx=False, limit=0)
    assert len(s) == 0 and s.first_valid_id() == MAX_ID


# -- radix tree nodes ------------------------------------------------------------------------


def canonical_rax_nodes(keys: list) -> int:
    """Brute force: root, keys, branching prefixes and their children."""
    nodes = {b""}
    children: dict = {}
    for k in keys:
        nodes.add(k)
        for i in range(len(k)):
            children.setdefault(k[:i], set()).add(k[i])
    for p, cs in children.items():
        if len(cs) > 1:
            nodes.add(p)
            nodes.update(p + bytes([c]) for c in cs)
    return len(nodes)


def test_rax_nodes_count():
    rng = random.Random(5)
    s = Stream()
    assert s.rax_nodes() == 1
    last = 0
    for _ in range(300):
        last += rng.choice([1, 300, 1 << 20, 1 << 64, 1 << 90])
        s.append(last, (b"f", b"v"), 4096, 1)
        if rng.random() < 0.2:
            victim = rng.choice(list(s.masters))
            s.delete(victim)
        keys = [m.to_bytes(16, "big") for m in s.masters]
        assert s.rax_nodes() == canonical_rax_nodes(keys)


# -- groups --------------------------------------------------------------------------------


def test_group_bookkeeping():
    s = filled(5)
    g = s.create_group(b"g", 0)
    assert s.create_group(b"g", 0) is None and s.group(b"g") is g
    alice, created = g.consumer(b"alice", 100)
    assert created and alice.seen_time == 100
    bob, _ = g.consumer(b"bob", 200)
    assert g.consumer(b"alice", 300) == (alice, False) and alice.seen_time == 300
    assert g.consumer(b"nobody", 1, create=False) == (None, False)
    for i in (1, 2, 3):
        nack = g.pel[make_id(i, 0)] = NACK(alice, 100)
        alice.pel[make_id(i, 0)] = nack
    g.assign(make_id(2, 0), g.pel[make_id(2, 0)], bob)
    assert list(alice.pel) == [make_id(1, 0), make_id(3, 0)] and list(bob.pel) == [make_id(2, 0)]
    assert g.ack(make_id(3, 0)) and not g.ack(make_id(3, 0))
    assert list(g.pel) == [make_id(1, 0), make_id(2, 0)]
    assert g.delete_consumer(b"alice") == 1 and g.delete_consumer(b"alice") == 0
    assert list(g.pel) == [make_id(2, 0)]
    assert [c.name for c in g.sorted_consumers()] == [b"bob"]
    s.create_group(b"a", 5)
    assert [x.name for x in s.sorted_groups()] == [b"a", b"g"]
    assert s.destroy_group(b"g") and not s.destroy_group(b"g")
    assert isinstance(s.group(b"a"), Group)


def test_copy_is_independent():
    s = filled(7, max_entries=3)
    s.delete(make_id(2, 0))
    g = s.create_group(b"g", make_id(3, 0))
    c, _ = g.consumer(b"c", 50)
    nack = g.pel[make_id(1, 0)] = NACK(c, 60, 3)
    c.pel[make_id(1, 0)] = nack
    t = s.copy()
    assert [n.ids for n in t.nodes] == [n.ids for n in s.nodes] and t.masters == s.masters
    assert (len(t), t.last_id, t.rax_nodes()) == (len(s), s.last_id, s.rax_nodes())
    tg = t.group(b"g")
    assert tg.last_id == make_id(3, 0) and tg.consumers[b"c"].seen_time == 50
    tn = tg.pel[make_id(1, 0)]
    assert (tn.consumer is tg.consumers[b"c"], tn.delivery_time, tn.delivery_count) == (True, 60, 3)
    assert tg.consumers[b"c"].pel[make_id(1, 0)] is tn
    t.delete(make_id(1, 0))
    t.append(make_id(9, 0), (b"f", b"v"), 4096, 3)
    tg.ack(make_id(1, 0))
    assert ids(s.entries()) == [b"1-0", b"3-0", b"4-0", b"5-0", b"6-0", b"7-0"]
    assert make_id(1, 0) in g.pel and make_id(1, 0) in c.pel
    assert Stream().copy().groups is None


@pytest.mark.parametrize("fv", [(b"f", b"v"), (b"", b""), (b"a\r\nb", b"\x00" * 300, b"k", b"12")])
def test_fields_are_kept_encoded(fv):
    s = Stream()
    s.append(make_id(1, 0), fv, 4096, 100)
    enc = s.get(make_id(1, 0))
    assert enc.startswith(b"*2\r\n$3\r\n1-0\r\n*%d\r\n" % len(fv))
    assert decode_fields(enc) == list(fv)
