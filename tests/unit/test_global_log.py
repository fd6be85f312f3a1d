"""The global log (pyredis.replication.globallog): the record codec split
at every offset, start-up recovery from torn tails and corruption, segment
roll and retention, reading from an LSN and from a version vector, and the
fsync contract. Files live in tmp_path only."""

import os
import random
import struct

import pytest
from hypothesis import given, settings, strategies as st

from pyredis.replication import globallog as gl
from pyredis.replication.globallog import (
    CorruptLogError, CorruptRecord, FullSyncNeeded, GlobalLog, KeyVersion,
    Record, RecordDecoder, decode_header, decode_record, encode_header,
    encode_record, segment_name)


def op(origin, opid, ts=None, db=0, value=b"v" * 10, key=None):
    """A one-command record, SET of a key named after the op."""
    key = key if key is not None else b"k:%d:%d" % (origin, opid)
    return Record(origin, opid, ts if ts is not None else 1000 + opid, db,
                  [[b"SET", key, value]], [KeyVersion(db, key, 0, opid)])


def body(rec):
    """A record's fields without the LSN, to compare what was written with
    what was read back."""
    return rec._replace(lsn=0)


def files(path):
    return sorted(n for n in os.listdir(path) if n.endswith(".glog"))


# -- the record codec ------------------------------------------------------------

SAMPLES = [
    Record(1, 1, 0, 0, [[b"PING"]], [], 1),
    op(7, 42),
    Record(65535, (1 << 64) - 1, (1 << 64) - 1, 65535,
           [[b"MULTI"], [b"SET", b"a", b""], [b"SELECT", b"3"], [b"DEL", b"\x00\r\n"], [b"EXEC"]],
           [KeyVersion(0, b"a", 0, 5), KeyVersion(3, b"\x00\r\n", 9, 0)], (1 << 64) - 1),
    Record(2, 3, 4, 1, [[b"MOVE", b"k", b"2"]],
           [KeyVersion(1, b"k", 7, 0), KeyVersion(2, b"k", 0, 8)], 17),
    Record(3, 9, 10, 0, [[b"SET", b"big", bytes(range(256)) * 300]], [], 5),
]


@pytest.mark.parametrize("rec", SAMPLES)
def test_record_round_trip(rec):
    data = encode_record(rec)
    assert decode_record(data) == (rec, len(data))
    # The same bytes at an offset inside a bigger buffer.
    assert decode_record(b"xyz" + data + b"tail", 3) == (rec, 3 + len(data))


def test_layout_is_little_endian_fixed_width_with_crc32_over_length_and_body():
    rec = Record(0x0102, 0x0A0B0C0D, 0x1122, 5, [[b"GET", b"k"]], [KeyVersion(5, b"k", 1, 2)], 9)
    data = encode_record(rec)
    n, crc = struct.unpack_from("<II", data)
    assert n == len(data) - 8
    import zlib
    assert crc == zlib.crc32(data[:4] + data[8:])
    lsn, origin, db, opid, ts, ncmds, nkeys = struct.unpack_from("<QHHQQII", data, 8)
    assert (lsn, origin, db, opid, ts, ncmds, nkeys) == (9, 0x0102, 5, 0x0A0B0C0D, 0x1122, 1, 1)
    # command: nargs, then (len, bytes) per argument; then the key version.
    assert data[44:48] == struct.pack("<I", 2)
    assert data[48:55] == struct.pack("<I", 3) + b"GET"
    assert data[55:60] == struct.pack("<I", 1) + b"k"
    assert data[60:] == struct.pack("<HQQI", 5, 1, 2, 1) + b"k"


def test_encode_with_an_lsn_overrides_the_records():
    rec = op(1, 1)
    assert decode_record(encode_record(rec, 77))[0].lsn == 77


@pytest.mark.parametrize("bad", [
    Record(0, 1, 0, 0, [[b"PING"]]),            # ServerID 0 is not a member
    Record(65536, 1, 0, 0, [[b"PING"]]),
    Record(1, 0, 0, 0, [[b"PING"]]),            # op ids start at 1
    Record(1, 1 << 64, 0, 0, [[b"PING"]]),
    Record(1, 1, 1 << 64, 0, [[b"PING"]]),
    Record(1, 1, 0, 65536, [[b"PING"]]),
    Record(1, 1, 0, 0, []),                     # no effect
    Record(1, 1, 0, 0, [[]]),                   # an empty command
    Record(1, 1, 0, 0, [[b"PING"]], [KeyVersion(0, b"k", -1, 0)]),
])
def test_encode_refuses_fields_out_of_range(bad):
    with pytest.raises(ValueError):
        encode_record(bad)


@pytest.mark.parametrize("rec", SAMPLES[:4])
def test_every_prefix_is_incomplete_not_corrupt(rec):
    data = encode_record(rec)
    for cut in range(len(data)):
        assert decode_record(data[:cut]) is None


@pytest.mark.parametrize("rec", SAMPLES[:4])
def test_stream_decoder_split_at_every_offset(rec):
    data = encode_record(rec) + encode_record(op(9, 9, value=b"second"), 2)
    for cut in range(len(data) + 1):
        dec = RecordDecoder()
        got = []
        for piece in (data[:cut], data[cut:]):
            dec.feed(piece)
            got += list(dec)
        assert got == [rec, op(9, 9, value=b"second")._replace(lsn=2)]
        assert dec.pending == 0


def test_stream_decoder_byte_by_byte():
    recs = [encode_record(r) for r in SAMPLES[:4]]
    dec = RecordDecoder()
    got = []
    for b in b"".join(recs):
        dec.feed(bytes([b]))
        r = dec.next()
        if r is not None:
            got.append(r)
    assert got == SAMPLES[:4]


def test_stream_decoder_refuses_a_length_over_its_limit_without_waiting():
    dec = RecordDecoder(max_body=100)
    dec.feed(encode_record(op(1, 1, value=b"x" * 200))[:8])
    with pytest.raises(CorruptRecord):
        dec.next()


@pytest.mark.parametrize("rec", SAMPLES[:4])
def test_a_flipped_byte_anywhere_never_decodes_to_a_record(rec):
    data = encode_record(rec)
    for i in range(len(data)):
        bad = bytearray(data)
        bad[i] ^= 0x5A
        try:
            got = decode_record(bytes(bad))
        except CorruptRecord:
            continue
        # A grown length field makes the record look incomplete: also fine.
        assert got is None, i


def test_crc_valid_body_with_inconsistent_counts_is_corrupt():
    import zlib
    rec = op(1, 1)
    data = bytearray(encode_record(rec))
    struct.pack_into("<I", data, 8 + 28, 5)  # claims five commands
    struct.pack_into("<I", data, 4, zlib.crc32(bytes(data[8:]), zlib.crc32(bytes(data[:4]))))
    with pytest.raises(CorruptRecord):
        decode_record(bytes(data))


_args = st.lists(st.binary(max_size=40), min_size=1, max_size=5)
_records = st.builds(
    Record,
    origin=st.integers(1, 65535),
    opid=st.integers(1, (1 << 64) - 1),
    ts=st.integers(0, (1 << 64) - 1),
    db=st.integers(0, 65535),
    commands=st.lists(_args, min_size=1, max_size=4),
    keys=st.lists(st.builds(KeyVersion, st.integers(0, 65535), st.binary(max_size=20),
                            st.integers(0, (1 << 64) - 1), st.integers(0, (1 << 64) - 1)),
                  max_size=4),
    lsn=st.integers(0, (1 << 64) - 1),
)


@given(st.lists(_records, min_size=1, max_size=5), st.data())
def test_hypothesis_round_trip_through_the_stream_decoder(recs, data):
    stream = b"".join(encode_record(r) for r in recs)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    dec = RecordDecoder()
    got = []
    prev = 0
    for c in cuts + [len(stream)]:
        dec.feed(stream[prev:c])
        prev = c
        got += list(dec)
    assert got == recs


def test_segment_header_round_trip_and_checks():
    h = encode_header(12345, 99, {3: 7, 1: 2**64 - 1, 65535: 1})
    assert decode_header(h) == (12345, 99, {1: 2**64 - 1, 3: 7, 65535: 1}, len(h))
    assert len(h) == 36 + 10 * 3 + 4
    assert decode_header(h[:-1]) is None
    assert decode_header(h[:10]) is None
    bad = bytearray(h)
    bad[20] ^= 1
    with pytest.raises(CorruptRecord):
        decode_header(bytes(bad))
    with pytest.raises(CorruptRecord):
        decode_header(b"NOTALOG!" + h[8:])
    assert segment_name(1) == "00000000000000000001.glog"
    assert segment_name((1 << 64) - 1) == "18446744073709551615.glog"


# -- appending, reading, reopening --------------------------------------------------


def test_append_assigns_lsns_and_reads_back(tmp_path):
    g = GlobalLog(tmp_path)
    recs = [op(1 + i % 3, 1 + i // 3) for i in range(30)]
    assert [g.append(r) for r in recs] == list(range(1, 31))
    assert (g.first_lsn, g.last_lsn, g.next_lsn) == (1, 30, 31)
    got = list(g.read_from(1))
    assert [r.lsn for r in got] == list(range(1, 31))
    assert [body(r) for r in got] == recs
    assert [r.lsn for r in g.read_from(17, end_lsn=20)] == [17, 18, 19, 20]
    assert list(g.read_from(31)) == []
    g.close()


def test_reader_stops_where_it_was_asked_despite_later_appends(tmp_path):
    g = GlobalLog(tmp_path)
    for i in range(1, 6):
        g.append(op(1, i))
    it = g.read_from(1)
    first = next(it)
    g.append(op(1, 6))
    assert [first.lsn] + [r.lsn for r in it] == [1, 2, 3, 4, 5]
    g.close()


def test_append_refuses_an_op_id_not_after_the_origins_last(tmp_path):
    g = GlobalLog(tmp_path)
    g.append(op(1, 5))
    g.append(op(2, 1))  # another origin has its own sequence
    for opid in (5, 4):
        with pytest.raises(ValueError):
            g.append(op(1, opid))
    assert g.last_lsn == 2
    g.append(op(1, 7))  # gaps are allowed; order is what matters
    g.close()


def test_reopen_resumes_lsn_op_ids_clock_and_bytes(tmp_path):
    g = GlobalLog(tmp_path, segment_bytes=500)
    for i in range(1, 40):
        g.append(op(1 + i % 2, i, ts=5000 + i))
    nbytes, vector = g.nbytes, g.vector
    g.close()
    assert sum(os.path.getsize(tmp_path / n) for n in files(tmp_path)) == nbytes
    g = GlobalLog(tmp_path, segment_bytes=500)
    assert g.tail_cut is None
    assert (g.first_lsn, g.last_lsn, g.nbytes) == (1, 39, nbytes)
    # Odd i went to origin 2, even i to origin 1.
    assert g.vector == vector == {1: 38, 2: 39}
    assert (g.last_opid(1), g.last_opid(2), g.last_opid(3)) == (38, 39, 0)
    assert (g.first_opid(1), g.first_opid(2), g.first_opid(3)) == (2, 1, 0)
    assert g.max_ts == 5039
    assert g.append(op(1, 40)) == 40
    g.close()
    g = GlobalLog(tmp_path, segment_bytes=500)
    assert [r.lsn for r in g.read_from(35)] == [35, 36, 37, 38, 39, 40]
    assert g.last_opid(1) == 40
    g.close()


def test_an_empty_directory_starts_an_empty_log(tmp_path):
    d = tmp_path / "new" / "glog"
    g = GlobalLog(d)
    assert (g.first_lsn, g.last_lsn, g.vector, g.max_ts) == (1, 0, {}, 0)
    assert files(d) == [segment_name(1)]
    assert g.nbytes == os.path.getsize(d / segment_name(1))
    g.close()
    g = GlobalLog(d)
    assert (g.first_lsn, g.last_lsn) == (1, 0)
    g.close()


def test_other_files_in_the_directory_are_ignored(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "1.glog").write_bytes(b"not twenty digits")
    g = GlobalLog(tmp_path)
    g.append(op(1, 1))
    g.close()
    with GlobalLog(tmp_path) as g:
        assert g.last_lsn == 1


def test_segments_roll_at_the_configured_size(tmp_path):
    g = GlobalLog(tmp_path, segment_bytes=1000)
    size = len(encode_record(op(1, 1), 1))
    for i in range(1, 101):
        g.append(op(1, i))
    g.flush()
    names = files(tmp_path)
    assert len(names) > 5
    firsts = [int(n[:-5]) for n in names]
    assert firsts[0] == 1 and firsts == sorted(firsts)
    for n in names:
        assert os.path.getsize(tmp_path / n) <= 1000
    # Each sealed segment is full: one more record would have passed the size.
    for n in names[:-1]:
        assert os.path.getsize(tmp_path / n) + size > 1000
    assert [r.opid for r in g.read_from(1)] == list(range(1, 101))
    # Segment names are their first LSNs, and each header says the same.
    for n, first in zip(names, firsts):
        assert decode_header((tmp_path / n).read_bytes())[0] == first
    g.close()


def test_a_record_bigger_than_a_segment_gets_a_segment_of_its_own(tmp_path):
    g = GlobalLog(tmp_path, segment_bytes=200)
    g.append(op(1, 1))
    g.append(op(1, 2, value=b"x" * 1000))
    g.append(op(1, 3))
    g.close()
    assert len(files(tmp_path)) == 3
    g = GlobalLog(tmp_path, segment_bytes=200)
    assert [len(r.commands[0][2]) for r in g.read_from(1)] == [10, 1000, 10]
    g.close()


def test_sparse_index_start_points_for_every_lsn(tmp_path):
    g = GlobalLog(tmp_path, segment_bytes=2000, index_every=4)
    for i in range(1, 120):
        g.append(op(1, i, value=b"v" * (i % 17)))
    g.flush()
    for start in range(1, 120):
        assert [r.lsn for r in g.read_from(start, start + 2)] == \
            list(range(start, min(start + 2, 119) + 1))
    g.close()


def test_buffer_is_written_out_before_it_grows_past_its_bound(tmp_path, monkeypatch):
    monkeypatch.setattr(gl, "_MAX_BUFFER", 1000)
    g = GlobalLog(tmp_path, fsync="no")
    for i in range(1, 30):
        g.append(op(1, i))
    assert 0 < g.written_lsn < 29
    g.close()


# -- durability --------------------------------------------------------------------


class FsyncCounter:
    def __init__(self, monkeypatch):
        self.calls = 0
        real = os.fsync

        def fsync(fd):
            self.calls += 1
            real(fd)
        monkeypatch.setattr(os, "fsync", fsync)


def test_fsync_always_syncs_once_per_flush_for_a_whole_batch(tmp_path, monkeypatch):
    g = GlobalLog(tmp_path, fsync="always")
    counter = FsyncCounter(monkeypatch)
    for i in range(1, 11):
        g.append(op(1, i))
    assert counter.calls == 0            # append only buffers
    assert (g.written_lsn, g.durable_lsn) == (0, 0)
    g.flush()                            # before the turn's replies
    assert counter.calls == 1
    assert (g.written_lsn, g.durable_lsn) == (10, 10)
    g.flush()                            # nothing new: no fsync
    assert counter.calls == 1
    g.append(op(1, 11))
    g.flush()
    assert counter.calls == 2
    assert os.path.getsize(tmp_path / segment_name(1)) == g.nbytes
    g.close()


def test_fsync_everysec_flush_writes_and_sync_fsyncs(tmp_path, monkeypatch):
    g = GlobalLog(tmp_path, fsync="everysec")
    counter = FsyncCounter(monkeypatch)
    g.append(op(1, 1))
    g.flush()
    assert counter.calls == 0
    assert (g.written_lsn, g.durable_lsn) == (1, 0)
    assert os.path.getsize(tmp_path / segment_name(1)) == g.nbytes  # with the OS
    assert g.sync() is True
    assert counter.calls == 1 and g.durable_lsn == 1
    assert g.sync() is False              # the timer finds nothing to do
    assert counter.calls == 1
    g.append(op(1, 2))
    assert g.sync() is True               # sync writes what is buffered too
    assert counter.calls == 2 and g.durable_lsn == 2
    g.flush(durable=True)                 # nothing new
    assert counter.calls == 2
    g.close()


def test_fsync_no_never_syncs_on_flush(tmp_path, monkeypatch):
    g = GlobalLog(tmp_path, fsync="no")
    counter = FsyncCounter(monkeypatch)
    for i in range(1, 5):
        g.append(op(1, i))
        g.flush()
    assert counter.calls == 0 and g.written_lsn == 4
    g.flush(durable=True)                 # the owner can still ask for one
    assert counter.calls == 1
    g.close()


def test_sealing_a_segment_fsyncs_it_whatever_the_policy(tmp_path, monkeypatch):
    g = GlobalLog(tmp_path, fsync="no", segment_bytes=300)
    counter = FsyncCounter(monkeypatch)
    g.append(op(1, 1))
    g.append(op(1, 2))
    before = counter.calls
    for i in range(3, 6):
        g.append(op(1, i))
    assert counter.calls > before and len(files(tmp_path)) > 1
    assert g.durable_lsn >= 2
    g.close()


def test_unknown_fsync_policy_is_refused(tmp_path):
    with pytest.raises(ValueError):
        GlobalLog(tmp_path, fsync="sometimes")


def test_a_failed_write_keeps_the_records_for_the_next_flush(tmp_path, monkeypatch):
    g = GlobalLog(tmp_path, fsync="no")
    g.append(op(1, 1))
    g.append(op(1, 2))
    real = os.write
    calls = []

    def write(fd, data):
        # write(2) semantics: a short count when part fits, then an error
        # with nothing written.
        calls.append(len(data))
        if len(calls) == 1:
            return real(fd, bytes(data[:10]))
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real(fd, data)
    monkeypatch.setattr(os, "write", write)
    with pytest.raises(OSError):
        g.flush()
    assert g.written_lsn == 0
    g.flush()
    assert g.written_lsn == 2
    monkeypatch.undo()
    g.close()
    with GlobalLog(tmp_path) as g:
        assert [r.opid for r in g.read_from(1)] == [1, 2]


def test_a_failed_roll_leaves_the_old_segment_active(tmp_path, monkeypatch):
    g = GlobalLog(tmp_path, segment_bytes=300)
    g.append(op(1, 1))
    g.append(op(1, 2))
    real = os.open

    def no_new_files(path, flags, *args):
        if flags & os.O_CREAT:
            raise OSError(28, "No space left on device")
        return real(path, flags, *args)
    monkeypatch.setattr(os, "open", no_new_files)
    # append never raises for it: the op is already applied to the data by
    # then, so it must be in the log (it stays in the active segment).
    for i in range(3, 10):
        g.append(op(1, i))
    assert len(files(tmp_path)) == 1
    monkeypatch.undo()
    n = g.last_lsn
    g.append(op(1, 20))                   # the roll is tried again and works
    assert len(files(tmp_path)) == 2
    g.close()
    with GlobalLog(tmp_path) as g:
        assert [r.opid for r in g.read_from(1)][-1] == 20
        assert g.last_lsn == n + 1


# -- start-up recovery ----------------------------------------------------------------


def _build(path, n, **kw):
    """A closed log of ``n`` ops alternating between origins 1 and 2;
    returns the records and the start offset of each in the single segment."""
    g = GlobalLog(path, **kw)
    recs = [op(1 + i % 2, 1 + i // 2) for i in range(n)]
    for r in recs:
        g.append(r)
    g.close()
    data = (path / segment_name(1)).read_bytes()
    offsets = []
    pos = decode_header(data)[3]
    while pos < len(data):
        offsets.append(pos)
        pos = decode_record(data, pos)[1]
    return recs, offsets, data


def test_torn_tail_at_every_offset_of_the_last_record(tmp_path):
    src = tmp_path / "src"
    recs, offsets, data = _build(src, 4)
    last = offsets[-1]
    for cut in range(last, len(data)):
        d = tmp_path / ("cut%d" % cut)
        d.mkdir()
        (d / segment_name(1)).write_bytes(data[:cut])
        g = GlobalLog(d)
        if cut == last:
            assert g.tail_cut is None     # a clean end between records
        else:
            assert g.tail_cut is not None
            assert (g.tail_cut.offset, g.tail_cut.removed_bytes) == (last, cut - last)
            assert g.tail_cut.path.endswith(segment_name(1))
        assert os.path.getsize(d / segment_name(1)) == last
        assert [body(r) for r in g.read_from(1)] == recs[:3]
        assert g.vector == {1: 2, 2: 1}
        # The log goes on from the cut, and the next start is clean.
        assert g.append(recs[3]) == 4
        g.close()
        g = GlobalLog(d)
        assert g.tail_cut is None
        assert [body(r) for r in g.read_from(1)] == recs
        g.close()


def test_torn_tail_followed_by_zeros_is_cut(tmp_path):
    # Some file systems extend a file before its data lands: zeros after
    # the last write.
    recs, offsets, data = _build(tmp_path, 4)
    p = tmp_path / segment_name(1)
    p.write_bytes(data[:offsets[-1] + 11] + bytes(5000))
    g = GlobalLog(tmp_path)
    assert g.tail_cut.offset == offsets[-1]
    assert g.last_lsn == 3
    g.close()


def test_a_flipped_byte_in_the_last_record_is_cut(tmp_path):
    src = tmp_path / "src"
    recs, offsets, data = _build(src, 4)
    for i in range(offsets[-1], len(data)):
        d = tmp_path / ("flip%d" % i)
        d.mkdir()
        bad = bytearray(data)
        bad[i] ^= 0xFF
        (d / segment_name(1)).write_bytes(bytes(bad))
        g = GlobalLog(d)
        assert g.tail_cut is not None and g.tail_cut.offset == offsets[-1], i
        assert [body(r) for r in g.read_from(1)] == recs[:3]
        g.close()


def test_a_flipped_byte_in_a_middle_record_stops_start_up(tmp_path):
    src = tmp_path / "src"
    recs, offsets, data = _build(src, 4)
    mid = offsets[1]
    for i in range(mid, offsets[2]):
        d = tmp_path / ("flip%d" % i)
        d.mkdir()
        bad = bytearray(data)
        bad[i] ^= 0xFF
        path = d / segment_name(1)
        path.write_bytes(bytes(bad))
        with pytest.raises(CorruptLogError) as e:
            GlobalLog(d)
        assert e.value.path == str(path) and e.value.offset == mid, i
        assert str(path) in str(e.value) and f"offset {mid}" in str(e.value)
        # Nothing was cut: the file is as it was, for the operator to see.
        assert path.read_bytes() == bytes(bad)


def test_repair_cuts_at_a_middle_corruption_when_asked(tmp_path):
    recs, offsets, data = _build(tmp_path, 4)
    bad = bytearray(data)
    bad[offsets[1] + 20] ^= 1
    (tmp_path / segment_name(1)).write_bytes(bytes(bad))
    g = GlobalLog(tmp_path, repair=True)
    assert g.tail_cut.offset == offsets[1]
    assert [body(r) for r in g.read_from(1)] == recs[:1]
    g.close()


def test_corruption_in_a_sealed_segment_stops_start_up_even_at_its_end(tmp_path):
    g = GlobalLog(tmp_path, segment_bytes=400)
    for i in range(1, 20):
        g.append(op(1, i))
    g.close()
    names = files(tmp_path)
    first = tmp_path / names[0]
    data = bytearray(first.read_bytes())
    data[-1] ^= 1  # the last byte of a sealed segment's last record
    first.write_bytes(bytes(data))
    with pytest.raises(CorruptLogError) as e:
        GlobalLog(tmp_path, segment_bytes=400)
    assert e.value.path == str(first) and "sealed" in str(e.value)
    # A sealed segment cut short is damage too, not a torn write.
    first.write_bytes(bytes(data[:-1]))
    with pytest.raises(CorruptLogError):
        GlobalLog(tmp_path, segment_bytes=400)


def test_a_missing_segment_stops_start_up(tmp_path):
    g = GlobalLog(tmp_path, segment_bytes=400)
    for i in range(1, 30):
        g.append(op(1, i))
    g.close()
    names = files(tmp_path)
    os.unlink(tmp_path / names[1])
    with pytest.raises(CorruptLogError) as e:
        GlobalLog(tmp_path)
    assert "missing" in str(e.value) and names[2] in str(e.value)


def test_a_segment_named_against_its_header_stops_start_up(tmp_path):
    g = GlobalLog(tmp_path)
    g.append(op(1, 1))
    g.close()
    os.rename(tmp_path / segment_name(1), tmp_path / segment_name(5))
    with pytest.raises(CorruptLogError):
        GlobalLog(tmp_path)


def test_a_torn_new_segment_header_is_removed_and_made_again(tmp_path):
    g = GlobalLog(tmp_path, segment_bytes=400)
    for i in range(1, 10):
        g.append(op(1, i))
    g.close()
    names = files(tmp_path)
    last = tmp_path / names[-1]
    header = encode_header(10, g.max_ts, g.vector)
    for cut in range(0, len(header)):
        # A crash while the next segment was being created.
        nxt = tmp_path / segment_name(10)
        nxt.write_bytes(header[:cut])
        g = GlobalLog(tmp_path, segment_bytes=400)
        assert g.tail_cut is not None and "header" in g.tail_cut.reason
        assert (g.last_lsn, g.vector) == (9, {1: 9})
        assert decode_header(nxt.read_bytes())[:3] == (10, g.max_ts, {1: 9})
        g.close()
        os.unlink(nxt)
    assert last.exists()


def test_a_log_whose_only_file_is_a_torn_header_starts_at_its_name(tmp_path):
    (tmp_path / segment_name(5)).write_bytes(encode_header(5, 0, {})[:17])
    with GlobalLog(tmp_path) as g:
        assert g.tail_cut is not None
        assert (g.first_lsn, g.next_lsn) == (5, 5)
        assert g.append(op(1, 1)) == 5
    assert files(tmp_path) == [segment_name(5)]


def test_a_foreign_or_newer_format_file_is_never_deleted(tmp_path):
    g = GlobalLog(tmp_path)
    g.close()
    path = tmp_path / segment_name(1)
    newer = bytearray(path.read_bytes())
    newer[8] = 2  # format version 2
    path.write_bytes(bytes(newer))
    with pytest.raises(CorruptLogError):
        GlobalLog(tmp_path)
    assert path.read_bytes() == bytes(newer)
    path.write_bytes(b"some other program's file, longer than a header" * 3)
    with pytest.raises(CorruptLogError):
        GlobalLog(tmp_path)


def test_a_crc_valid_record_out_of_lsn_order_is_corruption(tmp_path):
    recs, offsets, data = _build(tmp_path, 3)
    # Record 2 replaced by a valid encoding that claims LSN 7.
    fake = encode_record(recs[1], 7)
    assert len(fake) == offsets[2] - offsets[1]
    data = data[:offsets[1]] + fake + data[offsets[2]:]
    (tmp_path / segment_name(1)).write_bytes(data)
    with pytest.raises(CorruptLogError) as e:
        GlobalLog(tmp_path)
    assert e.value.offset == offsets[1]


# -- retention ---------------------------------------------------------------------------


def _segmented(path, n, **kw):
    g = GlobalLog(path, segment_bytes=400, **kw)
    for i in range(1, n + 1):
        # Record i is stamped at wall time 1_000_000 + i seconds.
        g.append(op(1 + i % 3, 1 + (i - 1) // 3, ts=((1_000_000 + i) * 1000) << 16))
    g.flush()
    return g


def test_truncate_before_drops_only_whole_acknowledged_segments(tmp_path):
    g = _segmented(tmp_path, 60)
    segs_before = g.segment_paths
    rep = g.truncate_before(1)
    assert not rep and rep.paths == []
    rep = g.truncate_before(20)
    assert rep and rep.reason == "acknowledged"
    assert rep.first_lsn == 1 and rep.last_lsn < 20
    assert g.first_lsn == rep.last_lsn + 1
    assert rep.paths == segs_before[:len(rep.paths)]
    assert all(not os.path.exists(p) for p in rep.paths)
    assert [r.lsn for r in g.read_from(g.first_lsn)] == list(range(g.first_lsn, 61))
    assert g.nbytes == sum(os.path.getsize(p) for p in g.segment_paths)
    # The dropped vector: per origin, the highest op id no longer held.
    dropped = {}
    for lsn in range(1, rep.last_lsn + 1):
        o = 1 + lsn % 3
        dropped[o] = 1 + (lsn - 1) // 3
    assert rep.vector == g.base_vector == dropped
    # Everything acknowledged: the active segment still stays.
    g.truncate_before(10**9)
    assert len(g.segment_paths) == 1 and g.last_lsn == 60
    g.close()


def test_enforce_limits_by_size_drops_oldest_until_under(tmp_path):
    g = _segmented(tmp_path, 60)
    total = g.nbytes
    rep = g.enforce_limits(max_bytes=total // 2)
    assert rep.reason == "size" and g.nbytes <= total // 2
    assert g.nbytes + rep.nbytes == total
    assert g.first_lsn == rep.last_lsn + 1
    assert not g.enforce_limits(max_bytes=total // 2)  # nothing more to do
    g.close()
    g = GlobalLog(tmp_path, segment_bytes=400)
    assert g.first_lsn == rep.last_lsn + 1 and g.base_vector == rep.vector
    g.close()


def test_enforce_limits_by_age_uses_the_callers_clock(tmp_path):
    g = _segmented(tmp_path, 60)
    now = 1_000_000 + 60 + 5
    rep = g.enforce_limits(max_age_seconds=30, now=now)
    assert rep.reason == "age"
    # Dropped segments are wholly older than 30 s; the first kept one is not.
    assert 1_000_000 + rep.last_lsn < now - 30
    second = g.segment_paths[1]
    kept_newest = int(os.path.basename(second)[:20]) - 1
    assert 1_000_000 + kept_newest >= now - 30
    assert not g.enforce_limits(max_age_seconds=0, now=now + 10**6)  # 0 = no limit
    assert not g.enforce_limits(max_bytes=0)
    g.close()


def test_the_active_segment_is_never_dropped(tmp_path):
    g = _segmented(tmp_path, 60)
    g.enforce_limits(max_bytes=1, max_age_seconds=1, now=10**12)
    assert len(g.segment_paths) == 1 and g.last_lsn == 60
    assert list(g.read_from(g.first_lsn))[-1].lsn == 60
    g.close()


def test_retention_keeps_op_ids_across_a_restart_with_nothing_left(tmp_path):
    g = _segmented(tmp_path, 30)
    g.roll()
    g.truncate_before(10**9)
    assert g.first_lsn == 31 and g.last_lsn == 30
    vector = g.vector
    g.close()
    g = GlobalLog(tmp_path, segment_bytes=400)
    # Nothing is held, but the op ids seen and the LSN go on.
    assert (g.first_lsn, g.last_lsn, g.vector, g.base_vector) == (31, 30, vector, vector)
    assert g.first_opid(1) == 0 and g.last_opid(1) == vector[1]
    with pytest.raises(ValueError):
        g.append(op(1, vector[1]))
    assert g.append(op(1, vector[1] + 1)) == 31
    assert g.max_ts == ((1_000_000 + 30) * 1000) << 16
    g.close()


# -- reading for a receiver --------------------------------------------------------------


def _brute_force(recs, vector, exclude):
    return [r for r in recs if r.origin != exclude and r.opid > vector.get(r.origin, 0)]


def test_ops_missing_for_matches_a_brute_force_filter(tmp_path):
    rnd = random.Random(11)
    g = GlobalLog(tmp_path, segment_bytes=3000, index_every=4)
    last = {}
    for _ in range(600):
        # Origins of very different rates, ops of each in order.
        o = rnd.choices([1, 2, 3, 4, 5], weights=[50, 20, 5, 1, 1])[0]
        last[o] = last.get(o, 0) + rnd.randint(1, 2)
        g.append(op(o, last[o]))
    recs = list(g.read_from(1))
    for trial in range(200):
        vector = {o: rnd.randint(0, m + 1) for o, m in last.items() if rnd.random() < 0.8}
        if rnd.random() < 0.2:
            vector[9] = 5  # an origin this log never saw
        exclude = rnd.choice([0, 1, 2, 3, 9])
        got = list(g.ops_missing_for(vector, exclude))
        assert got == _brute_force(recs, vector, exclude), (vector, exclude)
        # The same ops as the log's framed bytes: each equal to the record
        # encoded again, with its origin and op id.
        frames = list(g.ops_missing_for(vector, exclude, frames=True))
        assert frames == [(r.origin, r.opid, encode_record(r)) for r in got], (vector, exclude)
    # A receiver that has everything gets nothing; one with nothing, all
    # but its own.
    assert list(g.ops_missing_for(dict(last))) == []
    assert list(g.ops_missing_for({}, 1)) == [r for r in recs if r.origin != 1]
    g.close()


def test_frames_are_the_records_bytes_and_are_checked(tmp_path):
    g = GlobalLog(tmp_path, segment_bytes=2000, index_every=4)
    for i in range(1, 121):
        g.append(op(1 + i % 3, i, value=b"x" * (i % 50)))
    recs = list(g.read_from(1))
    assert [(lsn, o, i, d) for lsn, o, i, d in g.read_frames_from(7, 90)] == \
        [(r.lsn, r.origin, r.opid, encode_record(r)) for r in recs if 7 <= r.lsn <= 90]
    # Buffered appends are read too.
    g.append(op(1, 500))
    assert list(g.read_frames_from(g.last_lsn))[0][2] == 500
    g.close()
    # Damage is reported as the decoding reader reports it.
    path = g.segment_paths[-1]
    data = bytearray(open(path, "rb").read())
    data[-3] ^= 0xFF
    open(path, "wb").write(bytes(data))
    with pytest.raises(CorruptRecord):
        list(g.read_frames_from(g.last_lsn))


def test_ops_missing_for_starts_near_the_first_needed_op(tmp_path, monkeypatch):
    # Not a scan from the beginning: the checkpoints and the sparse index
    # put the start within index_every ops of the first one needed.
    g = GlobalLog(tmp_path, segment_bytes=4000, index_every=8)
    for i in range(1, 2001):
        g.append(op(1, i))
    decoded = []
    real = gl.decode_record

    def counting(buf, pos=0, max_body=gl.MAX_BODY):
        got = real(buf, pos, max_body)
        if got is not None:
            decoded.append(got[0].lsn)
        return got
    monkeypatch.setattr(gl, "decode_record", counting)
    got = [r.opid for r in g.ops_missing_for({1: 1990})]
    assert got == list(range(1991, 2001))
    assert len(decoded) <= 10 + 2 * 8
    g.close()


def test_ops_missing_for_a_rare_origin_scans_one_segment_not_the_log(tmp_path, monkeypatch):
    # Origin 2 writes once at the start and once near the end; its two ops
    # are consecutive checkpoints far apart, so only the segments' base
    # vectors keep the scan short.
    g = GlobalLog(tmp_path, segment_bytes=2000, index_every=8)
    g.append(op(2, 1))
    for i in range(1, 3001):
        g.append(op(1, i))
        if i == 2900:
            g.append(op(2, 2))
    per_segment = 2000 // len(encode_record(op(1, 1), 1)) + 1
    decoded = []
    real = gl.decode_record

    def counting(buf, pos=0, max_body=gl.MAX_BODY):
        got = real(buf, pos, max_body)
        if got is not None:
            decoded.append(got[0].lsn)
        return got
    monkeypatch.setattr(gl, "decode_record", counting)
    got = [(r.origin, r.opid) for r in g.ops_missing_for({1: 3000, 2: 1})]
    assert got == [(2, 2)]
    assert len(decoded) <= 2 * per_segment
    g.close()


def test_ops_missing_for_after_truncation_and_the_full_sync_signal(tmp_path):
    g = _segmented(tmp_path, 90)
    recs = list(g.read_from(1))
    rep = g.truncate_before(40)
    dropped = rep.vector
    assert dropped
    # A receiver at or past what was dropped is served from the log.
    ok = {o: v for o, v in dropped.items()}
    assert g.covers(ok)
    assert list(g.ops_missing_for(ok)) == _brute_force(recs, ok, 0)
    # One origin behind what was dropped: full sync, named in the signal.
    behind = dict(ok)
    behind[2] = dropped[2] - 1
    assert not g.covers(behind)
    with pytest.raises(FullSyncNeeded) as e:
        g.ops_missing_for(behind)
    assert (e.value.origin, e.value.have, e.value.dropped) == (2, dropped[2] - 1, dropped[2])
    # ... unless the lagging origin is the receiver itself.
    assert g.covers(behind, exclude_origin=2)
    assert list(g.ops_missing_for(behind, 2)) == _brute_force(recs, behind, 2)
    # A brand-new receiver cannot be served either.
    with pytest.raises(FullSyncNeeded):
        g.ops_missing_for({})
    # Reading by a dropped LSN is the same signal.
    with pytest.raises(FullSyncNeeded):
        g.read_from(1)
    g.close()


def test_an_open_reader_survives_a_drop_of_the_segment_it_reads(tmp_path):
    g = _segmented(tmp_path, 60)
    it = g.read_from(1)
    assert next(it).lsn == 1
    g.truncate_before(10**9)
    # Already open: POSIX keeps the file for the reader.
    got = [next(it).lsn]
    assert got == [2]
    # The next segment is gone: the reader learns it must full-sync.
    with pytest.raises(FullSyncNeeded):
        list(it)
    g.close()


def test_reset_after_a_full_sync(tmp_path):
    g = _segmented(tmp_path, 30)
    ts = g.max_ts
    rep = g.reset({1: 100, 7: 3}, base_ts=5)
    assert rep.reason == "reset" and rep.last_lsn == 30
    assert (g.first_lsn, g.last_lsn, g.vector, g.base_vector) == (31, 30, {1: 100, 7: 3},
                                                                 {1: 100, 7: 3})
    assert g.max_ts == ts
    assert files(tmp_path) == [segment_name(31)]
    assert not g.covers({1: 99})
    assert g.append(op(7, 4)) == 31
    g.close()
    g = GlobalLog(tmp_path)
    assert g.vector == {1: 100, 7: 4} and g.first_opid(7) == 4
    # A reset of a log whose active segment is empty reuses its name.
    g.roll()
    assert g.segment_paths[-1].endswith(segment_name(32))
    g.reset({1: 200})
    assert files(tmp_path) == [segment_name(32)]
    g.close()
    with GlobalLog(tmp_path) as g:
        assert g.vector == {1: 200}


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["append", "flush", "roll", "truncate",
                                           "reopen", "limit"]),
                          st.integers(1, 4), st.integers(0, 50)), max_size=60))
def test_random_operations_agree_with_a_model(tmp_path_factory, steps):
    d = tmp_path_factory.mktemp("model")
    g = GlobalLog(d, segment_bytes=300, index_every=3)
    model = []          # records held, in order
    last = {}
    first = 1
    for kind, origin, n in steps:
        if kind == "append":
            last[origin] = last.get(origin, 0) + 1
            rec = op(origin, last[origin], value=b"x" * n)
            model.append(rec._replace(lsn=g.append(rec)))
        elif kind == "flush":
            g.flush()
        elif kind == "roll":
            g.roll()
        elif kind == "truncate":
            g.truncate_before(first + n)
        elif kind == "limit":
            g.enforce_limits(max_bytes=n * 40)
        else:
            g.close()
            g = GlobalLog(d, segment_bytes=300, index_every=3)
        first = g.first_lsn
        model = [r for r in model if r.lsn >= first]
        assert g.last_lsn == (model[-1].lsn if model else first - 1)
        assert g.vector == last
    assert list(g.read_from(first)) == model
    for o in range(1, 5):
        vector = {x: max(0, last.get(x, 0) - 2) for x in range(1, 5)}
        if g.covers(vector, o):
            assert list(g.ops_missing_for(vector, o)) == _brute_force(model, vector, o)
    g.flush()
    assert g.nbytes == sum(os.path.getsize(p) for p in g.segment_paths)
    g.close()


# -- the format document ----------------------------------------------------------------

DOC = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "global-log-format.md")


def _doc():
    with open(DOC, encoding="utf-8") as f:
        return f.read()


def test_the_documented_reader_reads_what_the_log_wrote(tmp_path):
    import re
    code = re.search(r"```python\n(.*?)```", _doc(), re.S).group(1)
    ns = {}
    exec(code, ns)
    g = GlobalLog(tmp_path, segment_bytes=400)
    for i in range(1, 30):
        g.append(op(1 + i % 2, i))
    g.append(SAMPLES[2]._replace(origin=3))
    g.close()
    got = list(ns["read_log"](str(tmp_path)))
    with GlobalLog(tmp_path) as g:
        want = [(r.lsn, r.origin, r.opid, r.ts, r.db, r.commands, [tuple(k) for k in r.keys])
                for r in g.read_from(1)]
    assert got == want and len(got) == 30


def _hex_block(after):
    """The bytes of the first hex dump after the line containing ``after``."""
    import re
    text = _doc()
    block = text[text.index(after):].split("```")[1]
    out = bytearray()
    for line in block.strip().splitlines():
        line = re.sub(r"^[0-9a-f]{4}  ", "", line.strip())
        for tok in line.split():
            if not re.fullmatch(r"[0-9a-f]{2}", tok):
                break
            out.append(int(tok, 16))
    return bytes(out)


def test_the_documented_examples_are_what_the_code_writes():
    rec = Record(3, 7, (1700000000000 << 16) | 2, 0, [[b"SET", b"k", b"v"]],
                 [KeyVersion(0, b"k", 0, 0x0001000000000003)], 42)
    assert _hex_block("Example: LSN 42") == encode_record(rec)
    assert _hex_block("A fresh log's first header") == encode_header(1, 0, {})


# -- the list of keys a server changed without global replication ---------------


def test_the_change_journal_reads_back_what_was_noted(tmp_path):
    from pyredis.replication.globallog import (
        ALL_DBS, CHANGED_WITHOUT_GLOBAL, WHOLE_DB, ChangeJournal, holds_log,
        read_changed_without_global)
    assert read_changed_without_global(str(tmp_path)) is None
    assert not holds_log(str(tmp_path)) and not holds_log(str(tmp_path / "none"))
    j = ChangeJournal(str(tmp_path))
    for db, key in [(0, b"k"), (0, b"k"), (0, b"\x00 \n*bin"), (3, b""), (2, b"a"),
                    (2, WHOLE_DB), (2, b"b"), (5, b"x")]:
        j.add(db, key)
    j.close(persisted=True)
    since, changed, persisted = read_changed_without_global(str(tmp_path))
    assert persisted
    assert since.endswith("Z") and len(since) == 20
    assert changed == {0: {b"k", b"\x00 \n*bin"}, 3: {b""}, 2: WHOLE_DB, 5: {b"x"}}
    # A run that changes nothing leaves the list as it is.
    ChangeJournal(str(tmp_path)).close(persisted=True)
    assert read_changed_without_global(str(tmp_path)) == (since, changed, True)
    # Another run appends to the same list (the first change's time stays)
    # and crashes: not persisted; a line cut short by the crash is skipped.
    j = ChangeJournal(str(tmp_path))
    j.add(ALL_DBS, WHOLE_DB)
    j.add(1, b"y")          # covered by the line above: not written
    j.close()
    with open(tmp_path / CHANGED_WITHOUT_GLOBAL, "ab") as f:
        f.write(b"7 61")     # "7 6162" (b"ab") when whole: not b"a"
    again, changed, persisted = read_changed_without_global(str(tmp_path))
    assert again == since and not persisted
    assert changed[ALL_DBS] is WHOLE_DB and 1 not in changed and 7 not in changed


def test_a_change_journal_that_missed_a_change_is_never_persisted(tmp_path):
    """Once a change could not be noted (the disk full, say), the list is
    incomplete: the member must not write back from it, so the stop does
    not mark it persisted."""
    from pyredis.core import Core
    from pyredis.replication.globallog import ChangeJournal, read_changed_without_global
    j = ChangeJournal(str(tmp_path), Core().commands)
    j.effect(0, [b"SET", b"a", b"1"])
    good, j._fd = j._fd, os.open(os.devnull, os.O_RDONLY)   # writes now fail
    try:
        j.effect(0, [b"SET", b"b", b"1"])
        assert j.failed
        j.effect(0, [b"SET", b"c", b"1"])             # no more tries
        j.close(persisted=True)
    finally:
        os.close(good)
    _since, changed, persisted = read_changed_without_global(str(tmp_path))
    assert changed == {0: {b"a"}} and not persisted
