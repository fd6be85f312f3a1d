"""The global replication link (pyredis.replication.glink): exact bytes of
each message, decoding split at every offset, malformed input, and the two
state machines wired back to back over real Cores without sockets."""

import tempfile

import pytest

from pyredis import executor
from pyredis.core import Core
from pyredis.replication import glink
from pyredis.replication.glink import (
    Ack, Decoder, Digest, DigestReq, Hello, KeyFetch, KeyValue, LinkProtocolError,
    LinkUsageError, Op, ReceiverLink, SlotKeys, SlotsReq, SnapBegin, SnapEnd, SnapKey, Stable,
    SourceLink, Synced, decode_body, encode)
from pyredis.replication.globallog import GlobalLog, KeyVersion, Record
from pyredis.replication.gmember import PRESENT, GlobalMember, KeyState

REC = Record(2, 7, (1_767_225_600_000 << 16) | 3, 0, [[b"SET", b"k", b"v"]],
             [KeyVersion(0, b"k", 5, 9)])

# (message, its exact bytes): type u8, body length u32 LE, body.
TABLE = [
    (Hello(3, {1: 5, 2: 0x0102}),
     b"\x01\x1a\x00\x00\x00" + b"\x03\x00" + b"\x02\x00\x00\x00"
     + b"\x01\x00" + (5).to_bytes(8, "little") + b"\x02\x00" + (0x0102).to_bytes(8, "little")),
    (Ack({}), b"\x03\x04\x00\x00\x00\x00\x00\x00\x00"),
    (KeyFetch(1, b"ab", 9), b"\x04\x0c\x00\x00\x00\x01\x00" + (9).to_bytes(8, "little") + b"ab"),
    (KeyValue(KeyState(0, b"k", 0x10, PRESENT, 77, b"PAY")),
     b"\x05\x1b\x00\x00\x00" + b"\x00\x00" + (0x10).to_bytes(8, "little") + b"\x01"
     + (77).to_bytes(8, "little") + b"\x01\x00\x00\x00" + b"k" + b"PAY"),
    (Synced(), b"\x06\x00\x00\x00\x00"),
    (DigestReq(), b"\x07\x00\x00\x00\x00"),
    (Digest([1], [2, 3]),
     b"\x08\x20\x00\x00\x00" + b"\x01\x00\x00\x00" + (1).to_bytes(8, "little")
     + b"\x02\x00\x00\x00" + (2).to_bytes(8, "little") + (3).to_bytes(8, "little")),
    (SlotsReq([4, 1023]), b"\x09\x0c\x00\x00\x00\x02\x00\x00\x00\x04\x00\x00\x00\xff\x03\x00\x00"),
    (SlotKeys([(1, b"x", 6)]),
     b"\x0a\x13\x00\x00\x00\x01\x00\x00\x00\x01\x00" + (6).to_bytes(8, "little")
     + b"\x01\x00\x00\x00x"),
    (SnapBegin({1: 2}, [0], 5, 7),
     b"\x0b\x2a\x00\x00\x00\x01\x00\x00\x00\x01\x00" + (2).to_bytes(8, "little")
     + b"\x01\x00\x00\x00" + bytes(8) + (5).to_bytes(8, "little") + (7).to_bytes(8, "little")),
    (Stable({1: 9}, {2: 3}, 4),
     b"\x10\x24\x00\x00\x00" + b"\x01\x00\x00\x00\x01\x00" + (9).to_bytes(8, "little")
     + b"\x01\x00\x00\x00\x02\x00" + (3).to_bytes(8, "little") + (4).to_bytes(8, "little")),
    (SnapKey(KeyState(2, b"", 1, 0, 0, b"")),
     b"\x0c\x17\x00\x00\x00\x02\x00" + (1).to_bytes(8, "little") + b"\x00" + bytes(8) + bytes(4)),
    (SnapEnd(), b"\x0d\x00\x00\x00\x00"),
]


@pytest.mark.parametrize("msg,data", TABLE, ids=[type(m).__name__ for m, _ in TABLE])
def test_exact_bytes_and_round_trip(msg, data):
    assert encode(msg) == data
    dec = Decoder()
    dec.feed(data)
    assert dec.next() == msg
    assert dec.next() is None


def test_op_carries_the_log_record_unchanged():
    from pyredis.replication.globallog import encode_record
    data = encode(Op(REC))
    body = encode_record(REC)
    assert data == b"\x02" + len(body).to_bytes(4, "little") + body
    dec = Decoder()
    dec.feed(data)
    assert dec.next() == Op(REC)


def test_a_stream_split_at_every_offset_decodes_the_same():
    msgs = [m for m, _ in TABLE] + [Op(REC)]
    stream = b"".join(encode(m) for m in msgs)
    for cut in range(len(stream) + 1):
        dec = Decoder()
        got = []
        for piece in (stream[:cut], stream[cut:]):
            dec.feed(piece)
            while (m := dec.next()) is not None:
                got.append(m)
        assert got == msgs, cut
    # And one byte at a time.
    dec = Decoder()
    got = []
    for i in range(len(stream)):
        dec.feed(stream[i:i + 1])
        while (m := dec.next()) is not None:
            got.append(m)
    assert got == msgs


@pytest.mark.parametrize("data", [
    b"\x63\x00\x00\x00\x00",                       # unknown type
    b"\x06\x01\x00\x00\x00\x00",                   # SYNCED with a stray byte
    b"\x01\x01\x00\x00\x00\x00",                   # HELLO cut short
    b"\x09\x04\x00\x00\x00\x05\x00\x00\x00",       # SLOTSREQ claims 5 slots, has none
    b"\x02\x05\x00\x00\x00abcde",                  # OP that is no record
    b"\x04\xff\xff\xff\x7f",                       # length past the limit
])
def test_malformed_input_is_the_peers_error(data):
    dec = Decoder()
    dec.feed(data)
    with pytest.raises(LinkProtocolError):
        dec.next()


def test_a_corrupt_op_checksum_is_refused():
    data = bytearray(encode(Op(REC)))
    data[-1] ^= 1
    with pytest.raises(LinkProtocolError):
        decode_body(glink.OP, bytes(data[5:]))


def test_encoding_something_else_is_a_usage_error():
    with pytest.raises(LinkUsageError):
        encode(("not", "a", "message"))


# -- the two ends back to back ---------------------------------------------------------

WALL = [1_767_225_600_000]


def _member(sid, tmp):
    core = Core()
    log = GlobalLog(tmp + "/m%d" % sid, fsync="no")
    gm = GlobalMember(core, sid, log, lambda: WALL[0])
    return core, gm, core.new_client()


def _pump(rl, sl):
    """Moves bytes both ways until both ends are quiet."""
    for _ in range(100):
        a = rl.data_to_send() + rl.ack()
        if a:
            sl.receive_data(a)
        b = sl.data_to_send()
        if b:
            rl.receive_data(b)
        if not a and not b:
            return
    raise AssertionError("the link does not settle")


def test_backlog_then_live_ops_then_conflict_fetch():
    tmp = tempfile.mkdtemp()
    c1, m1, k1 = _member(1, tmp)
    c2, m2, k2 = _member(2, tmp)
    executor.call(k1, [b"SET", b"a", b"1"])
    executor.call(k1, [b"RPUSH", b"l", b"x"])
    rl, sl = ReceiverLink(m2), SourceLink(m1)
    sl.receive_data(rl.connect())
    _pump(rl, sl)
    assert rl.state == "synced" and sl.partial_syncs == 1
    assert executor.call(k2, [b"LRANGE", b"l", b"0", b"-1"]) == b"*1\r\n$1\r\nx\r\n"
    # Live op.
    executor.call(k1, [b"INCR", b"a"])
    _pump(rl, sl)
    assert executor.call(k2, [b"GET", b"a"]) == b"$1\r\n2\r\n"
    # Concurrent writes: m2 writes later (its clock is ahead), m1's RPUSH
    # cannot be recomputed on m2's list: the newer state stays on m2.
    WALL[0] += 10
    executor.call(k1, [b"RPUSH", b"l", b"y"])
    WALL[0] += 10
    executor.call(k2, [b"RPUSH", b"l", b"z"])
    _pump(rl, sl)
    assert executor.call(k2, [b"LRANGE", b"l", b"0", b"-1"]) == \
        b"*2\r\n$1\r\nx\r\n$1\r\nz\r\n"
    assert m2.conflicts == 1
    # The other way round: m1's newer RPUSH wins on m2 through a fetch.
    WALL[0] += 10
    executor.call(k1, [b"RPUSH", b"l", b"w"])
    _pump(rl, sl)
    assert executor.call(k2, [b"LRANGE", b"l", b"0", b"-1"]) == \
        b"*3\r\n$1\r\nx\r\n$1\r\ny\r\n$1\r\nw\r\n"
    assert m2.version_of(0, b"l") == m1.version_of(0, b"l")
    assert sl.acked == m2.vector


def test_the_receivers_own_ops_never_come_back():
    tmp = tempfile.mkdtemp()
    c1, m1, k1 = _member(1, tmp)
    c2, m2, k2 = _member(2, tmp)
    # Two-way: each pulls the other.
    r12, s12 = ReceiverLink(m2), SourceLink(m1)
    r21, s21 = ReceiverLink(m1), SourceLink(m2)
    s12.receive_data(r12.connect())
    s21.receive_data(r21.connect())
    executor.call(k2, [b"SET", b"mine", b"1"])
    _pump(r21, s21)
    # m1 forwarded m2's op into its log; it must not go back to m2.
    assert any(r.origin == 2 for r in m1.log.read_from(1))
    _pump(r12, s12)
    assert s12.ops_sent == 0
    assert m2.applied_ops == 0


def test_resume_sends_only_what_the_receiver_lacks():
    tmp = tempfile.mkdtemp()
    c1, m1, k1 = _member(1, tmp)
    c2, m2, k2 = _member(2, tmp)
    for i in range(5):
        executor.call(k1, [b"SET", b"k%d" % i, b"v"])
    rl, sl = ReceiverLink(m2), SourceLink(m1)
    sl.receive_data(rl.connect())
    _pump(rl, sl)
    sl.close()
    rl.disconnected()
    for i in range(5, 8):
        executor.call(k1, [b"SET", b"k%d" % i, b"v"])
    sl = SourceLink(m1)
    sl.receive_data(rl.connect())
    _pump(rl, sl)
    assert sl.ops_sent == 3
    assert m2.vector[1] == 8


def test_full_sync_when_the_log_no_longer_covers_the_receiver():
    tmp = tempfile.mkdtemp()
    c1 = Core()
    log1 = GlobalLog(tmp + "/a", fsync="no", segment_bytes=200)
    m1 = GlobalMember(c1, 1, log1, lambda: WALL[0])
    k1 = c1.new_client()
    c2, m2, k2 = _member(2, tmp)
    for i in range(20):
        executor.call(k1, [b"SET", b"k%d" % (i % 4), b"v%d" % i])
    executor.call(k1, [b"DEL", b"k0"])
    # Retention drops the oldest segments.
    log1.flush()
    assert log1.enforce_limits(max_bytes=400)
    # The receiver has a newer key of its own: the snapshot must not undo it.
    WALL[0] += 100
    executor.call(k2, [b"SET", b"k1", b"mine"])
    rl, sl = ReceiverLink(m2), SourceLink(m1)
    sl.receive_data(rl.connect())
    _pump(rl, sl)
    assert sl.full_syncs == 1 and rl.full_syncs == 1
    # The snapshot announced its 4 versioned keys (k0's tombstone too) and
    # all were installed: the driver shows this as sync progress.
    assert rl.snap_total == rl.snap_done == 4
    assert m2.vector[1] == m1.vector[1]
    assert executor.call(k2, [b"GET", b"k1"]) == b"$4\r\nmine\r\n"
    assert executor.call(k2, [b"EXISTS", b"k0"]) == b":0\r\n"
    assert m2.version_of(0, b"k0") == m1.version_of(0, b"k0")
    for k in (b"k2", b"k3"):
        assert executor.call(k2, [b"GET", k]) == executor.call(k1, [b"GET", k])
    # Then the stream goes on live.
    executor.call(k1, [b"SET", b"k2", b"live"])
    _pump(rl, sl)
    assert executor.call(k2, [b"GET", b"k2"]) == b"$4\r\nlive\r\n"


def test_anti_entropy_repairs_a_key_no_op_brought():
    tmp = tempfile.mkdtemp()
    c1, m1, k1 = _member(1, tmp)
    c2, m2, k2 = _member(2, tmp)
    rl, sl = ReceiverLink(m2), SourceLink(m1)
    sl.receive_data(rl.connect())
    _pump(rl, sl)
    # Damage m2 behind replication's back: drop a key and its version.
    executor.call(k1, [b"HSET", b"h", b"f", b"v"])
    _pump(rl, sl)
    c2.ks.dbs[0].data.pop(b"h")
    m2.versions.remove(0, b"h")
    rl.request_digest()
    _pump(rl, sl)
    assert executor.call(k2, [b"HGET", b"h", b"f"]) == b"$1\r\nv\r\n"
    assert m2.slot_digests() == m1.slot_digests()


def test_keys_from_before_global_replication_reach_a_peer_through_the_log():
    tmp = tempfile.mkdtemp()
    core = Core()
    plain = core.new_client()
    for i in range(20):
        executor.call(plain, [b"SET", b"old%d" % i, b"v%d" % i])
    # Global replication turned on over that dataset.
    m1 = GlobalMember(core, 1, GlobalLog(tmp + "/m1", fsync="no"), lambda: WALL[0])
    c2, m2, k2 = _member(2, tmp)
    assert m1.log_unversioned(batch_keys=8) == 20
    executor.call(plain, [b"SET", b"new", b"1"])
    rl, sl = ReceiverLink(m2), SourceLink(m1)
    sl.receive_data(rl.connect())
    _pump(rl, sl)
    # The three ops of the older keys and the SET came as the backlog.
    assert rl.state == "synced" and rl.ops_received == 4 and m2.vector == {1: 4}
    assert executor.call(k2, [b"DEBUG", b"DIGEST"]) == executor.call(plain, [b"DEBUG", b"DIGEST"])
    assert m2.slot_digests() == m1.slot_digests()


def test_retention_dropping_the_segment_a_backlog_reads_means_a_full_sync():
    tmp = tempfile.mkdtemp()
    core = Core()
    m1 = GlobalMember(core, 1, GlobalLog(tmp + "/m1", fsync="no", segment_bytes=4096),
                      lambda: WALL[0])
    k1 = core.new_client()
    c2, m2, k2 = _member(2, tmp)
    for i in range(300):
        executor.call(k1, [b"SET", b"k%d" % i, b"v" * 50])
    m1.log.flush()
    rl, sl = ReceiverLink(m2), SourceLink(m1)
    sl.receive_data(rl.connect())
    # Part of the backlog leaves; then retention drops every sealed
    # segment, the one being read included.
    rl.receive_data(sl.data_to_send(2000))
    assert sl.backlog_pending and m1.log.truncate_before(m1.log.last_lsn + 1)
    for _ in range(200):
        a = rl.data_to_send() + rl.ack()
        if a:
            sl.receive_data(a)
        b = sl.data_to_send(2000)
        if b:
            rl.receive_data(b)
        if not a and not b:
            break
    assert sl.full_syncs == 1 and rl.full_syncs == 1
    assert executor.call(k2, [b"DEBUG", b"DIGEST"]) == executor.call(k1, [b"DEBUG", b"DIGEST"])


def test_receive_before_connect_is_a_usage_error():
    tmp = tempfile.mkdtemp()
    _, m2, _ = _member(2, tmp)
    with pytest.raises(LinkUsageError):
        ReceiverLink(m2).receive_data(b"")


def test_a_long_backlog_streams_in_budgeted_pieces_then_synced():
    tmp = tempfile.mkdtemp()
    c1, m1, k1 = _member(1, tmp)
    c2, m2, k2 = _member(2, tmp)
    for i in range(2000):
        executor.call(k1, [b"SET", b"k%d" % i, b"v" * 50])
    m1.log.flush()
    rl, sl = ReceiverLink(m2), SourceLink(m1)
    sl.receive_data(rl.connect())
    pieces = []
    while sl.backlog_pending:
        data = sl.data_to_send(4096)
        assert len(data) < 4096 + 200  # a budget, overshot by one record at most
        pieces.append(data)
        # Ops logged meanwhile are streamed before SYNCED, in order.
        if len(pieces) == 10:
            executor.call(k1, [b"SET", b"late", b"1"])
            m1.log.flush()
    assert len(pieces) > 20
    for data in pieces:
        rl.receive_data(data)
    assert rl.state == "synced"
    assert executor.call(k2, [b"GET", b"late"]) == b"$1\r\n1\r\n"
    assert m2.vector == m1.vector
    # Live ops follow.
    executor.call(k1, [b"SET", b"live", b"1"])
    _pump(rl, sl)
    assert executor.call(k2, [b"GET", b"live"]) == b"$1\r\n1\r\n"
