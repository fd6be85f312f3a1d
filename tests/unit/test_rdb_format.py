"""RDB serializer/parser, LZF and CRC-64 without servers: byte-level
checks, round trips, the committed dump files of real Redis 6.2 and 7.0,
and damaged inputs."""

import io
import json
import math
import os
import random
import time
from collections import deque

import pytest

from pyredis.config import Config
from pyredis.db import Keyspace
from pyredis.persistence import lzf, rdb
from pyredis.persistence.crc64 import crc64
from pyredis.types.digest import dataset_digest
from pyredis.types.setobj import Set
from pyredis.types.stream import NACK, Stream
from pyredis.types.zset import ZSet
import pyredis.commands  # noqa: F401  (registers the digest hooks)

DATA = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data")
FIXTURES = ["redis-6.2", "redis-7.0"]


# -- CRC-64 -------------------------------------------------------------------------


def test_crc64_check_value():
    assert crc64(b"123456789") == 0xE9C6D914C4B8D9CA
    assert crc64(b"") == 0


def _crc64_by_the_book(data: bytes) -> int:
    """The definition, bit by bit: an independent reference for the check."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x95AC9329AC4BC9B5 if crc & 1 else crc >> 1
    return crc


def test_crc64_matches_the_definition_and_continues():
    data = random.Random(1).randbytes(20_011)
    whole = _crc64_by_the_book(data)
    assert crc64(data) == whole
    assert crc64(memoryview(data)) == crc64(bytearray(data)) == whole
    for cut in (0, 1, 7, 8, 63, 64, 10_000, 20_010):
        assert crc64(data[cut:], crc64(data[:cut])) == whole


# -- LZF --------------------------------------------------------------------------


@pytest.mark.parametrize("data", [
    b"a" * 1000, b"abc" * 300, b"hello world, hello world, hello!" * 9,
    bytes(range(256)) * 4, random.Random(2).randbytes(2000),
    bytes(random.Random(3).choice(b"ab") for _ in range(3000)),
    b"x" * 300 + random.Random(4).randbytes(40) + b"x" * 9000,
])
def test_lzf_round_trip(data):
    packed = lzf.compress(data)
    if packed is None:  # incompressible: only for the random input
        return
    assert len(packed) < len(data)
    assert lzf.decompress(packed, len(data)) == data


def test_lzf_known_stream():
    # A literal run of 3 then a back reference of length 6 at distance 3.
    stream = bytes([2]) + b"abc" + bytes([(6 - 2) << 5, 2])
    assert lzf.decompress(stream, 9) == b"abcabcabc"


def test_lzf_refuses_bad_input():
    with pytest.raises(lzf.LZFError):
        lzf.decompress(bytes([5]) + b"ab", 6)          # literal past the end
    with pytest.raises(lzf.LZFError):
        lzf.decompress(bytes([1 << 5, 10]), 3)        # reference before the start
    with pytest.raises(lzf.LZFError):
        lzf.decompress(bytes([2]) + b"abc", 5)        # wrong expanded size


# -- encodings ---------------------------------------------------------------------


def test_string_encodings():
    def enc(s, compress=True):
        e = rdb._Encoder(compress)
        e.string(s)
        return b"".join(e.out)

    assert enc(b"hello") == b"\x05hello"
    assert enc(b"12") == b"\xc0\x0c"
    assert enc(b"-300") == b"\xc1" + (-300 & 0xFFFF).to_bytes(2, "little")
    assert enc(b"100000") == b"\xc2" + (100000).to_bytes(4, "little")
    assert enc(b"012") == b"\x03012"              # not canonical: raw
    assert enc(b"12345678901") == b"\x0b12345678901"  # beyond int32: raw
    long = b"abcdefgh" * 40
    assert enc(long)[0] == 0xC3
    assert enc(long, compress=False) == b"\x41\x40" + long
    for s in (b"hello", b"12", b"-300", b"100000", b"012", long, b"x" * 70000):
        assert rdb._Parser(enc(s)).string() == s


@pytest.mark.parametrize("compress", [True, False])
@pytest.mark.parametrize("elems", [
    [b"element:%d" % i for i in range(50)],           # the joined fast path
    [b"m", b"x" * 20, b"-"],                           # '-' alone is no integer, still checked
    [b"a", b"12", b"b"], [b"a", b"", b"b"], [b"a", b"x" * 21, b"b"],
    [b"a", b"x" * 63], [b"a", b"x" * 64], [b"a", bytearray(b"ba"), b"0x"], [b"007", b"-1"],
    []])
def test_container_members_encode_as_one_by_one(elems, compress):
    """_Encoder.members (a joined blob when it can) writes the very bytes
    of string() per member, with and without scores."""
    def one_by_one(scores=None):
        e = rdb._Encoder(compress)
        for i, m in enumerate(elems):
            e.string(m)
            if scores is not None:
                e.out.append(rdb._pack_d(scores[i]))
        return b"".join(e.out)

    e = rdb._Encoder(compress)
    e.members(list(elems))
    assert b"".join(e.out) == one_by_one()
    scores = [(-0.0, 1.5, -2.0, float("inf"))[i % 4] for i in range(len(elems))]
    e = rdb._Encoder(compress)
    e.members(list(elems), iter(scores))
    assert b"".join(e.out) == one_by_one(scores)


def test_big_containers_round_trip():
    """Containers whose members take the joined path load back equal."""
    ks = Keyspace(1)
    db = ks.dbs[0]
    db.set(b"l", deque(b"element:%d" % i for i in range(3000)))
    db.set(b"h", {b"field:%d" % i: b"value:%d" % i for i in range(3000)})
    db.set(b"s", Set((b"member:%d" % i for i in range(3000)), 512))
    db.set(b"z", ZSet.from_pairs([(b"member:%d" % i, i * 1.5 - 10) for i in range(3000)]
                                 + [(b"zero", -0.0)]))
    buf = io.BytesIO()
    rdb.dump(ks, buf)
    back = Keyspace(1)
    rdb.load(io.BytesIO(buf.getvalue()), back)
    for key in (b"l", b"h", b"s"):
        assert back.dbs[0].data[key] == db.data[key]
    z = back.dbs[0].data[b"z"]
    assert z.items() == db.data[b"z"].items()
    assert math.copysign(1, z.scores[b"zero"]) == -1


@pytest.mark.parametrize("n", [0, 63, 64, 16383, 16384, 2 ** 32 - 1, 2 ** 32])
def test_lengths(n):
    p = rdb._Parser(rdb._len(n))
    assert p.len_() == n and p.pos == len(p.buf)


@pytest.mark.parametrize("s", [b"", b"a" * 63, b"a" * 64, b"b" * 4095, b"c" * 4096,
                               b"d" * 20000, b"0", b"127", b"128", b"-4096", b"4095",
                               b"32767", b"-8388608", b"2147483647", b"-9223372036854775808",
                               b"9223372036854775807", b"9223372036854775808", b"007"])
def test_listpack_elements_round_trip(s):
    lp = rdb._listpack([rdb._lp_elem(s), rdb._lp_elem(b"tail")])
    assert rdb._listpack_items(lp, 0) == [s, b"tail"]


# -- round trips -------------------------------------------------------------------


def _stream() -> Stream:
    s = Stream()
    for i in range(1, 8):
        s.append(i << 64 | i, (b"f", b"v%d" % i, b"n", b"%d" % i), 4096, 3)
    s.append(9 << 64, (b"other", b"x" * 200), 4096, 3)
    s.delete(3 << 64 | 3)
    g = s.create_group(b"g1", 5 << 64 | 5)
    alice, _ = g.consumer(b"alice", 1000)
    for id_ in (1 << 64 | 1, 4 << 64 | 4):
        g.pel[id_] = alice.pel[id_] = NACK(alice, 1234567, 2)
    g.consumer(b"idle", 2000)
    s.create_group(b"g2", 0)
    return s


def _keyspace() -> Keyspace:
    ks = Keyspace(16)
    d = ks.dbs[0]
    d.data.update({
        b"s": b"hello", b"i": b"-42", b"big": b"y" * 5000, b"bin": b"\x00\xff\r\n",
        b"l": deque([b"a", b"1", b"z" * 100]),
        b"h": {b"f": b"v", b"n": b"2"},
        b"set": Set([b"a", b"b"]), b"iset": Set([b"1", b"-5", b"100000", b"9" * 18]),
        b"z": ZSet.from_pairs([(b"a", 1.5), (b"b", float("inf")), (b"c", -0.0)]),
        b"st": _stream(), b"empty-stream": Stream(),
        b"ttl": b"v",
    })
    d.expires[b"ttl"] = int(time.time() * 1000) + 100_000
    ks.dbs[5].data[b"k5"] = b"v5"
    return ks


def _dump(ks, **kw) -> bytes:
    buf = io.BytesIO()
    rdb.dump(ks, buf, **kw)
    return buf.getvalue()


def _load(data: bytes) -> Keyspace:
    ks = Keyspace(16)
    rdb.install(rdb.parse(data, rdb.Limits(Config())), ks)
    return ks


def test_snapshot_round_trip():
    ks = _keyspace()
    data = _dump(ks)
    assert data.startswith(b"REDIS0009") and data[-9] == rdb.OP_EOF
    assert int.from_bytes(data[-8:], "little") == crc64(data[:-8])
    back = _load(data)
    assert dataset_digest(back, 0) == dataset_digest(ks, 0)
    st = back.dbs[0].data[b"st"]
    assert [g.name for g in st.sorted_groups()] == [b"g1", b"g2"]
    g1 = st.group(b"g1")
    assert g1.last_id == 5 << 64 | 5
    assert list(g1.pel) == [1 << 64 | 1, 4 << 64 | 4]
    assert g1.pel[1 << 64 | 1].consumer.name == b"alice"
    assert g1.pel[4 << 64 | 4].delivery_count == 2
    assert sorted(g1.consumers) == [b"alice", b"idle"]
    assert st.length == 7 and st.last_id == 9 << 64
    assert back.dbs[0].expires[b"ttl"] == ks.dbs[0].expires[b"ttl"]
    assert back.dbs[0].data[b"iset"].intset
    assert back.dbs[5].data == {b"k5": b"v5"}


def test_no_checksum_and_no_compression():
    ks = _keyspace()
    data = _dump(ks, checksum=False, compress=False)
    assert data[-8:] == bytes(8)
    assert b"y" * 5000 in data
    assert dataset_digest(_load(data), 0) == dataset_digest(ks, 0)


def test_expired_keys_are_skipped():
    ks = Keyspace(16)
    ks.dbs[0].data.update({b"gone": b"x", b"kept": b"y"})
    ks.dbs[0].expires[b"gone"] = 1000
    assert list(_load(_dump(ks)).dbs[0].data) == [b"kept"]


def test_dump_payload():
    payload = rdb.dump_payload(b"v")
    # Byte for byte what Redis 6.2 answers to DUMP of "v".
    assert payload == b"\x00\x01v\t\x00A\xfa\x9f~M\xbe\xe9\x7f"
    assert rdb.load_payload(payload) == b"v"
    z = ZSet.from_pairs([(b"m", 2.0)])
    assert rdb.load_payload(rdb.dump_payload(z)).items() == [(b"m", 2.0)]
    with pytest.raises(rdb.RDBError):
        rdb.load_payload(payload[:-1] + b"\x00")


def test_preamble_helpers():
    ks = _keyspace()
    data = _dump(ks) + b"*1\r\n$4\r\nPING\r\n"
    assert rdb.rdb_length(data) == len(data) - 14


# -- real Redis files ----------------------------------------------------------------


@pytest.mark.parametrize("name", FIXTURES)
def test_fixtures_load_with_redis_digest(name):
    with open(os.path.join(DATA, name + ".rdb"), "rb") as f:
        data = f.read()
    with open(os.path.join(DATA, name + ".json")) as f:
        expected = json.load(f)
    snap = rdb.parse(data, rdb.Limits(Config()))
    assert snap.version == (10 if "7.0" in name else 9)
    ks = Keyspace(16)
    rdb.install(snap, ks)
    assert dataset_digest(ks, 0).hex() == expected["digest"]
    for dbi, keys in expected["dbs"].items():
        assert sorted(k.hex() for k in ks.dbs[int(dbi)].data) == sorted(keys)
    # And what we write of it is read back the same.
    assert dataset_digest(_load(_dump(ks)), 0).hex() == expected["digest"]


# -- damaged input -----------------------------------------------------------------------


def _fixture() -> bytes:
    with open(os.path.join(DATA, "redis-6.2.rdb"), "rb") as f:
        return f.read()


def test_truncated_file_is_refused_naming_the_offset():
    data = _fixture()
    for cut in list(range(0, len(data), 37)) + [len(data) - 1]:
        with pytest.raises(rdb.RDBError, match=r"offset \d+"):
            rdb.parse(data[:cut])


def test_flipped_byte_is_caught_by_the_checksum():
    data = bytearray(_fixture())
    data[len(data) // 2] ^= 0x40
    with pytest.raises(rdb.RDBError, match=r"(checksum|offset)"):
        rdb.parse(bytes(data))


def test_bad_signature_version_and_type():
    with pytest.raises(rdb.RDBError, match="signature"):
        rdb.parse(b"RADIS0009\xff" + bytes(8))
    with pytest.raises(rdb.RDBError, match="version 99"):
        rdb.parse(b"REDIS0099\xff" + bytes(8))
    with pytest.raises(rdb.RDBError, match=r"unknown value type 99 \(at offset 9\)"):
        rdb.parse(b"REDIS0009" + bytes([99, 1]) + b"k" + b"\xff" + bytes(8))
    with pytest.raises(rdb.RDBError, match="trailing"):
        rdb.parse(b"REDIS0009\xff" + bytes(8) + b"x")


# -- RESTORE's effects ------------------------------------------------------------------


def test_restore_propagates_an_absolute_ttl_and_expired_restores_as_del():
    from pyredis.core import Core
    from pyredis.executor import call
    from pyredis.propagate import Recorder
    core = Core()
    rec = Recorder()
    core.funnel.subscribe(rec)
    c = core.new_client()
    payload = rdb.dump_payload(b"v")
    assert call(c, [b"RESTORE", b"k", b"100000", payload]) == b"+OK\r\n"
    when = core.ks.dbs[0].expires[b"k"]
    effects = [e for e in rec.effects if len(e) == 2]
    assert effects == [(0, [b"RESTORE", b"k", b"%d" % when, payload, b"ABSTTL"])]
    rec.effects.clear()
    assert call(c, [b"RESTORE", b"k", b"1", payload, b"ABSTTL", b"REPLACE"]) == b"+OK\r\n"
    assert [e for e in rec.effects if len(e) == 2] == [(0, [b"DEL", b"k"])]
    assert b"k" not in core.ks.dbs[0].data
    rec.effects.clear()
    call(c, [b"RESTORE", b"k2", b"1", payload, b"ABSTTL"])
    assert rec.effects == []


# -- encodings only older (or newer) Redis writes -----------------------------------------


def _zl_entry(prevlen: int, payload) -> bytes:
    head = bytes([prevlen]) if prevlen < 254 else b"\xfe" + prevlen.to_bytes(4, "little")
    if isinstance(payload, int):
        v = payload
        if 0 <= v <= 12:
            enc = bytes([0xF1 + v])
        elif -128 <= v <= 127:
            enc = b"\xfe" + (v & 0xFF).to_bytes(1, "little")
        elif -32768 <= v <= 32767:
            enc = b"\xc0" + (v & 0xFFFF).to_bytes(2, "little")
        elif -(1 << 23) <= v < (1 << 23):
            enc = b"\xf0" + (v & 0xFFFFFF).to_bytes(3, "little")
        elif -(1 << 31) <= v < (1 << 31):
            enc = b"\xd0" + (v & 0xFFFFFFFF).to_bytes(4, "little")
        else:
            enc = b"\xe0" + (v & (1 << 64) - 1).to_bytes(8, "little")
        return head + enc
    n = len(payload)
    if n < 64:
        enc = bytes([n])
    elif n < 16384:
        enc = bytes([0x40 | n >> 8, n & 0xFF])
    else:
        enc = b"\x80" + n.to_bytes(4, "big")
    return head + enc + payload


def _ziplist(items) -> bytes:
    body = b""
    prev = 0
    for it in items:
        e = _zl_entry(prev, it)
        body += e
        prev = len(e)
    total = 10 + len(body) + 1
    return total.to_bytes(4, "little") + (0).to_bytes(4, "little") + \
        len(items).to_bytes(2, "little") + body + b"\xff"


def _rdb(*records: bytes) -> bytes:
    body = b"REDIS0006" + b"".join(records) + b"\xff"
    return body + crc64(body).to_bytes(8, "little")


def _blob(b: bytes) -> bytes:
    return rdb._len(len(b)) + b


def test_ziplist_list_with_every_entry_encoding():
    items = [b"a", 7, -100, 1000, -70000, 1 << 30, -(1 << 40), b"x" * 300, b"y" * 20000, b"z"]
    snap = rdb.parse(_rdb(bytes([rdb.T_LIST_ZIPLIST]) + _blob(b"l") + _blob(_ziplist(items))))
    want = [x if isinstance(x, bytes) else b"%d" % x for x in items]
    assert list(snap.dbs[0][0][b"l"]) == want


def test_zipmap_hash_plain_list_and_string_double_zset():
    zipmap = b"\x02" + b"\x01f\x01\x00v" + b"\x02ff\x03\x02abc\x00\x00" + b"\xff"
    zset = _len_items(2) + _blob(b"a") + b"\x031.5" + _blob(b"b") + b"\xfe"
    data = _rdb(bytes([rdb.T_HASH_ZIPMAP]) + _blob(b"h") + _blob(zipmap),
                bytes([rdb.T_LIST]) + _blob(b"l") + _len_items(2) + _blob(b"p") + _blob(b"q"),
                bytes([rdb.T_ZSET]) + _blob(b"z") + zset,
                bytes([rdb.T_SET_LISTPACK]) + _blob(b"s") +
                _blob(rdb._listpack([rdb._lp_elem(b"m"), rdb._lp_elem(b"12")])))
    d = rdb.parse(data).dbs[0][0]
    assert d[b"h"] == {b"f": b"v", b"ff": b"abc"}
    assert list(d[b"l"]) == [b"p", b"q"]
    assert d[b"z"].items() == [(b"a", 1.5), (b"b", float("inf"))]
    assert d[b"s"] == {b"m", b"12"}


def _len_items(n: int) -> bytes:
    return rdb._len(n)
