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
    # The kept digests still count it: GLOBAL DIGEST recounts them first.
    assert m2.verify_digests() is False
    assert m2.digest_recounts_differed == 1
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


# -- compression of the source's stream ------------------------------------------------

import zstandard  # noqa: E402

from pyredis.replication.glink import HELLO_ZSTD, Compress  # noqa: E402

OLD_HELLO = TABLE[0][1]


def test_hello_flags_follow_the_old_body_and_compress_is_one_byte():
    # Without flags, HELLO is the body older members send and accept.
    assert encode(Hello(3, {1: 5, 2: 0x0102})) == OLD_HELLO
    with_flags = encode(Hello(3, {1: 5, 2: 0x0102}, HELLO_ZSTD))
    assert with_flags == b"\x01\x1e" + OLD_HELLO[2:] + b"\x01\x00\x00\x00"
    assert encode(Compress()) == b"\x11\x01\x00\x00\x00\x01"
    for data, msg in ((OLD_HELLO, Hello(3, {1: 5, 2: 0x0102}, 0)),
                      (with_flags, Hello(3, {1: 5, 2: 0x0102}, HELLO_ZSTD)),
                      # Flags this member does not know are ignored.
                      (encode(Hello(3, {}, 0xFFFFFFFF)), Hello(3, {}, 0xFFFFFFFF))):
        dec = Decoder()
        dec.feed(data)
        assert dec.next() == msg


@pytest.mark.parametrize("data", [
    encode(Compress()),                                # not asked for (no accept_compress)
    b"\x01\x1b" + OLD_HELLO[2:] + b"\x01",             # HELLO flags cut short
    b"\x01\x1f" + OLD_HELLO[2:] + b"\x01\x00\x00\x00\x00",   # a stray byte after them
])
def test_malformed_hello_and_compress_are_the_peers_error(data):
    dec = Decoder()
    dec.feed(data)
    with pytest.raises(LinkProtocolError):
        dec.next()


def _zstream(msgs, *, batches=3, head=True):
    """What a compressing source sends: COMPRESS, then the messages as one
    zstd stream flushed at the end of each batch."""
    z = zstandard.ZstdCompressor(level=1).compressobj()
    data = [encode(m) for m in msgs]
    out = [encode(Compress())] if head else []
    for i in range(batches):
        part = b"".join(data[i::batches])
        out.append(z.compress(part) + z.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK))
    return b"".join(out), [m for i in range(batches) for m in msgs[i::batches]]


def test_a_compressed_stream_split_at_every_offset_decodes_the_same():
    msgs = [m for m, _ in TABLE] + [Op(REC)] * 5
    stream, order = _zstream(msgs)
    assert stream[6:10] == b"\x28\xb5\x2f\xfd"        # the zstd frame's magic
    want = [Compress()] + order
    for cut in range(len(stream) + 1):
        dec = Decoder(accept_compress=True)
        got = []
        for piece in (stream[:cut], stream[cut:]):
            dec.feed(piece)
            while (m := dec.next()) is not None:
                got.append(m)
        assert got == want, cut
        assert dec.compressed and dec.plain == sum(len(encode(m)) for m in want)
    dec = Decoder(accept_compress=True)
    got = []
    for i in range(len(stream)):
        dec.feed(stream[i:i + 1])
        while (m := dec.next()) is not None:
            got.append(m)
    assert got == want


def _corrupt_streams():
    msgs = [Op(REC)] * 20
    good, _ = _zstream(msgs, batches=1)
    flipped = bytearray(good)
    flipped[6 + 6] |= 0x06     # the first block's type: 3, reserved
    ended = encode(Compress()) + zstandard.ZstdCompressor(level=1).compress(encode(Synced()))
    huge_window = encode(Compress()) + zstandard.ZstdCompressor(
        compression_params=zstandard.ZstdCompressionParameters(window_log=27)
    ).compressobj().compress(b"x" * (1 << 20))
    again, _ = _zstream([Synced(), Compress()], batches=1)
    return {"garbage after COMPRESS": encode(Compress()) + b"this is not zstd at all",
            "a reserved block type": bytes(flipped),
            "a frame that ends": ended,
            "a window past the limit": huge_window,
            "a second COMPRESS": again}


@pytest.mark.parametrize("case", ["garbage after COMPRESS", "a reserved block type",
                                  "a frame that ends",
                                  "a window past the limit", "a second COMPRESS"])
def test_a_corrupt_compressed_stream_is_the_peers_error(case):
    data = _corrupt_streams()[case]
    dec = Decoder(accept_compress=True)
    dec.feed(data)
    with pytest.raises(LinkProtocolError):
        while dec.next() is not None:
            pass


def test_a_byte_flipped_anywhere_in_a_compressed_stream():
    """zstd has no checksum per block: a flip may decode to other bytes.
    Whatever it does, only LinkProtocolError comes out, or messages that
    decode whole (the OP records' CRC refuses altered ones)."""
    good, order = _zstream([Op(REC)] * 8 + [Synced()], batches=2)
    raised = 0
    for i in range(6, len(good)):
        for bit in (0x01, 0x80):
            data = bytearray(good)
            data[i] ^= bit
            dec = Decoder(accept_compress=True)
            dec.feed(bytes(data))
            try:
                while (m := dec.next()) is not None:
                    assert m in order or m == Compress()
            except LinkProtocolError:
                raised += 1
    assert raised > len(good)


def _rle_bomb(byte: int, blocks: int) -> bytes:
    """A hand-made zstd frame of RLE blocks: 4 bytes in, 128 KB out each
    (the largest ratio zstd has)."""
    frame = b"\x28\xb5\x2f\xfd" + b"\x00" + bytes([(17 - 10) << 3])   # no size, 128 KB window
    block = ((128 << 10) << 3) | (1 << 1)                                # RLE, not last
    return frame + (block.to_bytes(3, "little") + bytes([byte])) * blocks


def test_a_zstd_bomb_is_inflated_a_bounded_step_at_a_time():
    # 4 GB of zero bytes in 128 KB of input: the first message (type 0)
    # is refused after one step, with a buffer of at most a step's output.
    dec = Decoder(accept_compress=True)
    dec.feed(encode(Compress()) + _rle_bomb(0, 32 << 10))
    assert dec.next() == Compress()
    with pytest.raises(LinkProtocolError, match="unknown message type 0"):
        dec.next()
    assert len(dec._buf) <= glink._INFLATE_STEP * glink._ZSTD_MAX_RATIO
    # A message declared larger than MAX_MESSAGE is refused at its header.
    dec = Decoder(accept_compress=True)
    z = zstandard.ZstdCompressor(level=1).compressobj()
    dec.feed(encode(Compress()) + z.compress(b"\x05" + (glink.MAX_MESSAGE + 1).to_bytes(4, "little")
                                              + b"\x00" * (64 << 20))
             + z.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK))
    assert dec.next() == Compress()
    with pytest.raises(LinkProtocolError, match="too large"):
        dec.next()
    assert len(dec._buf) <= glink._INFLATE_STEP * glink._ZSTD_MAX_RATIO


def test_many_small_messages_are_inflated_as_they_are_read():
    # 64 MB of PINGs in a few KB: reading a few of them inflates only a
    # step or two, not the whole stream.
    n = 13 << 20
    z = zstandard.ZstdCompressor(level=1).compressobj()
    data = encode(Compress()) + z.compress(encode(glink.Ping()) * n) + z.flush(
        zstandard.COMPRESSOBJ_FLUSH_BLOCK)
    assert len(data) < (1 << 20)
    dec = Decoder(accept_compress=True)
    dec.feed(data)
    assert dec.next() == Compress()
    for _ in range(1000):
        assert dec.next() == glink.Ping()
    assert dec.plain < 5 * n // 2
    assert len(dec._buf) <= glink._INFLATE_STEP * glink._ZSTD_MAX_RATIO


def _linked(tmp, *, ask, give, values=200):
    c1, m1, k1 = _member(1, tmp)
    c2, m2, k2 = _member(2, tmp)
    for i in range(values):
        executor.call(k1, [b"SET", b"user:%d" % i, b"name-%d;" % i + b"profile " * 20])
    m1.log.flush()
    rl, sl = ReceiverLink(m2), SourceLink(m1, compress=give)
    hello = rl.connect(ask)
    sl.receive_data(hello)
    return (c1, m1, k1), (c2, m2, k2), rl, sl, hello


@pytest.mark.parametrize("ask,give", [(True, True), (True, False), (False, True),
                                      (False, False)])
def test_both_ends_must_agree_to_compress(ask, give):
    tmp = tempfile.mkdtemp()
    (c1, m1, k1), (c2, m2, k2), rl, sl, hello = _linked(tmp, ask=ask, give=give)
    first = sl.data_to_send()
    rl.receive_data(first)
    _pump(rl, sl)
    on = ask and give
    assert rl.compressed == sl.compressed == on
    assert first.startswith(encode(Compress())) == on
    assert rl.state == "synced" and m2.vector == m1.vector
    assert m2.slot_digests() == m1.slot_digests()
    # Live ops after the backlog, compressed or not.
    executor.call(k1, [b"SET", b"live", b"1"])
    _pump(rl, sl)
    assert executor.call(k2, [b"GET", b"live"]) == b"$1\r\n1\r\n"
    assert sl.bytes_raw == rl.bytes_plain and sl.bytes_wire == rl.bytes_in
    if on:
        assert sl.bytes_raw > 3 * sl.bytes_wire
    else:
        assert sl.bytes_raw == sl.bytes_wire
    # The receiver -> source direction stays plain: its bytes decode as is.
    dec = Decoder()
    dec.feed(hello)
    assert dec.next().flags == (HELLO_ZSTD if ask else 0)


def test_an_older_receiver_gets_a_plain_stream():
    """A receiver of the old format sends the HELLO without flags (exact
    bytes); a source willing to compress then streams plain."""
    tmp = tempfile.mkdtemp()
    c1, m1, k1 = _member(1, tmp)
    executor.call(k1, [b"SET", b"a", b"1"])
    m1.log.flush()
    sl = SourceLink(m1, compress=True)
    sl.receive_data(b"\x01\x06\x00\x00\x00\x02\x00\x00\x00\x00\x00")   # HELLO 2, {}
    data = sl.data_to_send()
    assert not sl.compressed
    dec = Decoder()
    dec.feed(data)
    assert type(dec.next()) is Op


def test_compression_is_per_connection():
    """A reconnect may change the choice (the setting applies to links
    (re)connecting); the receiver's byte counts run on over connections."""
    tmp = tempfile.mkdtemp()
    (c1, m1, k1), (c2, m2, k2), rl, sl, _ = _linked(tmp, ask=True, give=True)
    _pump(rl, sl)
    assert rl.compressed
    plain, wire = rl.bytes_plain, rl.bytes_in
    sl.close()
    rl.disconnected()
    for i in range(50):
        executor.call(k1, [b"SET", b"more:%d" % i, b"x" * 100])
    sl = SourceLink(m1, compress=True)
    sl.receive_data(rl.connect(False))
    _pump(rl, sl)
    assert not rl.compressed and not sl.compressed
    assert m2.vector == m1.vector
    assert rl.bytes_plain - plain == rl.bytes_in - wire == sl.bytes_wire
