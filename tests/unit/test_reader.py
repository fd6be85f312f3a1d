"""RequestReader as byte tables: every input is also fed split at every
offset and byte by byte, and must give the same requests and error.

The expected values were checked against real Redis 6.2 (the compat twin of
this file is tests/compat/test_protocol.py)."""

from __future__ import annotations

import os
import random
import time

import pytest

from pyredis.protocol.reader import INLINE_MAX, MULTIBULK_MAX, RequestReader


def enc(*args) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, str):
            a = a.encode()
        out.append(b"$%d\r\n%b\r\n" % (len(a), a))
    return b"".join(out)


def run(chunks, reader=None):
    """Feed ``chunks``; return (requests, error text or None, pending bytes)."""
    r = reader or RequestReader()
    reqs = []
    for c in chunks:
        reqs += r.feed(c)
    return reqs, (r.error.args[0] if r.error else None), r.pending


def splits(data: bytes, every: int = 1):
    """The whole input, then every two-way split, then byte by byte."""
    yield [data]
    for i in range(1, len(data), every):
        yield [data[:i], data[i:]]
    if len(data) <= 4096:
        yield [data[i:i + 1] for i in range(len(data))]
    rnd = random.Random(len(data))
    for _ in range(5):
        cuts = sorted(rnd.sample(range(1, len(data)), min(4, len(data) - 1))) if len(data) > 1 else []
        bounds = [0, *cuts, len(data)]
        yield [data[a:b] for a, b in zip(bounds, bounds[1:])]


def check_all_splits(data, expected_reqs, expected_error=None, every=1, make=RequestReader):
    for chunks in splits(data, every):
        reqs, err, _ = run(chunks, make())
        where = [len(c) for c in chunks][:8]
        assert reqs == expected_reqs, f"split {where}: {reqs!r}"
        assert err == expected_error, f"split {where}: {err!r}"


# -- well-formed input -------------------------------------------------------

GOOD = [
    # multibulk
    (enc("PING"), [[b"PING"]]),
    (enc("SET", "k", "v"), [[b"SET", b"k", b"v"]]),
    (enc("SET", "k", ""), [[b"SET", b"k", b""]]),
    (enc("SET", "k", b"a\r\nb\x00c*$+\n"), [[b"SET", b"k", b"a\r\nb\x00c*$+\n"]]),
    (b"*0\r\n", []),
    (b"*-1\r\n", []),
    (b"*-5\r\n", []),
    (b"*0\r\n" + enc("PING") + b"*-1\r\n" + enc("ECHO", "x"), [[b"PING"], [b"ECHO", b"x"]]),
    # the byte after a header's \r and the two after a payload are not checked
    (b"*1\rx$4\r\nPING\r\n", [[b"PING"]]),
    (b"*1\r\n$4\rxPING\r\n", [[b"PING"]]),
    (b"*1\r\n$1\r\nabcPING\r\n", [[b"a"], [b"PING"]]),
    (b"*1\r\n$1\r\naXY", [[b"a"]]),
    # inline
    (b"PING\r\n", [[b"PING"]]),
    (b"PING\n", [[b"PING"]]),
    (b"SET k v\r\n", [[b"SET", b"k", b"v"]]),
    (b"  SET \t k   v  \r\n", [[b"SET", b"k", b"v"]]),
    (b"\r\n", []),
    (b"\n\n\r\n   \r\n", []),
    (b"PI\rNG\r\n", [[b"PI", b"NG"]]),
    (b'SET k "a b"\r\n', [[b"SET", b"k", b"a b"]]),
    (b'SET k "\\x41\\n\\t\\r\\b\\a\\\\\\"z"\r\n', [[b"SET", b"k", b'A\n\t\r\x08\x07\\"z']]),
    (b'ECHO "\\X41"\r\n', [[b"ECHO", b"X41"]]),
    (b'ECHO "\\x4"\r\n', [[b"ECHO", b"x4"]]),
    (b"SET k 'it\\'s'\r\n", [[b"SET", b"k", b"it's"]]),
    (b"SET k 'a\\nb'\r\n", [[b"SET", b"k", b"a\\nb"]]),
    (b'ECHO ""\r\n', [[b"ECHO", b""]]),
    (b"ECHO ''\r\n", [[b"ECHO", b""]]),
    (b'ECHO a"b c"\r\n', [[b"ECHO", b"ab c"]]),
    (b"ECHO a\x0bb\r\n", [[b"ECHO", b"a\x0bb"]]),
    (b'ECHO "a"\x0bb\r\n', [[b"ECHO", b"a", b"b"]]),
    (b"*\xff", []),  # unfinished header: waits
    # pipelined mixes
    (enc("SET", "k", "v") + b"GET k\r\n" + enc("GET", "k") + b"\r\n" + b"PING\n",
     [[b"SET", b"k", b"v"], [b"GET", b"k"], [b"GET", b"k"], [b"PING"]]),
    (b"PING\r\n" * 3 + enc("PING") * 3, [[b"PING"]] * 6),
    (enc("MSET", *["k%d" % i for i in range(50)]), [[b"MSET"] + [b"k%d" % i for i in range(50)]]),
]


@pytest.mark.parametrize("data,expected", GOOD, ids=[repr(d[:24]) for d, _ in GOOD])
def test_good(data, expected):
    check_all_splits(data, expected)


def test_large_bulk():
    value = bytes(range(256)) * 800  # 200 KiB, holds every byte incl. \r \n * $
    data = enc("SET", "k", value) + b"GET k\r\n" + enc("PING")
    check_all_splits(data, [[b"SET", b"k", value], [b"GET", b"k"], [b"PING"]], every=997)
    for size in (65536, 1024 * 1024):
        check_all_splits(enc("SET", "k", b"x" * size), [[b"SET", b"k", b"x" * size]],
                         every=size // 7)


def test_many_arguments():
    args = [b"%d" % i for i in range(20000)]
    reqs, err, _ = run([enc("RPUSH", *args)])
    assert reqs == [[b"RPUSH"] + args] and err is None


def test_pending_counts_unfinished_bytes():
    r = RequestReader()
    assert r.feed(enc("PING") + b"*2\r\n$3\r\nGET") == [[b"PING"]]
    assert r.pending == len(b"*2\r\n$3\r\nGET")
    assert r.feed(b"\r\n$1\r\nk\r\n") == [[b"GET", b"k"]]
    assert r.pending == 0


def test_nul_hides_the_end_of_line():
    # Redis finds line ends with strchr: a NUL before the end means "not yet".
    for data in (b"PING\x00x\r\n", b"*1\x00\r\n$4\r\nPING\r\n", b"*1\r\n$\x004\r\nPING\r\n"):
        for chunks in splits(data):
            assert run(chunks)[:2] == ([], None)
    # ...until the line is too long to wait for
    assert run([b"PING\x00" + b"x" * INLINE_MAX + b"\r\n"])[1] == "Protocol error: too big inline request"


# -- malformed input -----------------------------------------------------------

P = "Protocol error: "
PING = [[b"PING"]]

BAD = [
    (b"*abc\r\n", [], "invalid multibulk length"),
    (b"*\r\n", [], "invalid multibulk length"),
    (b"* 1\r\n", [], "invalid multibulk length"),
    (b"*1 \r\n", [], "invalid multibulk length"),
    (b"*+1\r\n", [], "invalid multibulk length"),
    (b"*01\r\n", [], "invalid multibulk length"),
    (b"*-0\r\n", [], "invalid multibulk length"),
    (b"*1\n\r\n", [], "invalid multibulk length"),
    (b"*99999999999999999999\r\n", [], "invalid multibulk length"),
    (b"*%d\r\n" % (MULTIBULK_MAX + 1), [], "invalid multibulk length"),
    (enc("PING") + b"*%d\r\n" % (MULTIBULK_MAX + 1), PING, "invalid multibulk length"),
    (b"*1\r\n$-1\r\n", [], "invalid bulk length"),
    (b"*1\r\n$\r\n", [], "invalid bulk length"),
    (b"*1\r\n$01\r\na\r\n", [], "invalid bulk length"),
    (b"*1\r\n$+1\r\na\r\n", [], "invalid bulk length"),
    (b"*1\r\n$ 1\r\na\r\n", [], "invalid bulk length"),
    (b"*1\r\n$1 \r\na\r\n", [], "invalid bulk length"),
    (b"*1\r\n$abc\r\n", [], "invalid bulk length"),
    (b"*1\r\n$99999999999999999999999\r\n", [], "invalid bulk length"),
    (enc("PING") + b"*1\r\n$\r\n", PING, "invalid bulk length"),
    (b"*2\r\n$3\r\nGET\r\n:1\r\n", [], "expected '$', got ':'"),
    (b"*1\r\n+PING\r\n", [], "expected '$', got '+'"),
    (b"*1\r\n(12\r\n", [], "expected '$', got '('"),
    (b"*1\r\n=8\r\ntxt:PING\r\n", [], "expected '$', got '='"),
    (b"*1\r\n*1\r\n$4\r\nPING\r\n", [], "expected '$', got '*'"),
    (b"*1\r\n%1\r\n$1\r\na\r\n$1\r\nb\r\n", [], "expected '$', got '%'"),
    (b"*1\r\n_\r\n", [], "expected '$', got '_'"),
    (b"*1\r\n\r\n", [], "expected '$', got '\r'"),
    (b"*1\r\n\xff\r\n", [], "expected '$', got '\xff'"),
    (enc("PING") + b"*1\r\n+PING\r\n", PING, "expected '$', got '+'"),
    (b'SET k "abc\r\n', [], "unbalanced quotes in request"),
    (b"SET k 'abc\r\n", [], "unbalanced quotes in request"),
    (b'ECHO "a"b\r\n', [], "unbalanced quotes in request"),
    (b"ECHO 'a'b\r\n", [], "unbalanced quotes in request"),
    (b'ECHO "abc\\"\r\n', [], "unbalanced quotes in request"),
    (b'ECHO "abc\\\r\n', [], "unbalanced quotes in request"),
    (enc("SET", "k", "v") + b"GET k\r\n" + b'ECHO "x\r\n' + enc("PING"),
     [[b"SET", b"k", b"v"], [b"GET", b"k"]], "unbalanced quotes in request"),
]


@pytest.mark.parametrize("data,before,error", BAD, ids=[repr(d[:24]) for d, _, _ in BAD])
def test_bad(data, before, error):
    check_all_splits(data, before, P + error)


def test_after_an_error_nothing_more_is_read():
    r = RequestReader()
    assert r.feed(b"*1\r\n$x\r\n") == []
    assert r.error.args[0] == P + "invalid bulk length"
    assert r.feed(enc("PING")) == []


def test_the_fast_path_only_accepts_requests():
    # hiredis parses replies: top-level sets, pushes and attributes, and
    # strings of other types, must not pass for requests.
    for data, reqs, err in [
        (enc("PING") + b"~1\r\n$4\r\nPING\r\n", [[b"PING"], [b"~1"], [b"$4"], [b"PING"]], None),
        (enc("PING") + b">1\r\n$4\r\nPING\r\n", [[b"PING"], [b">1"], [b"$4"], [b"PING"]], None),
        (enc("PING") + b"|1\r\n+a\r\n+b\r\n", [[b"PING"], [b"|1"], [b"+a"], [b"+b"]], None),
        (enc("PING") + b"+PING\r\n", [[b"PING"], [b"+PING"]], None),
        (enc("PING") + b":1\r\n", [[b"PING"], [b":1"]], None),
        (enc("PING") + b"-ERR x\r\n", [[b"PING"], [b"-ERR", b"x"]], None),
        (enc("PING") + b"_\r\n", [[b"PING"], [b"_"]], None),
    ]:
        check_all_splits(data, reqs, err)


# -- limits ----------------------------------------------------------------------


def test_too_big_inline_request():
    ok = b"x" * INLINE_MAX
    assert run([ok])[:2] == ([], None)
    assert run([ok + b"\r\n"])[:2] == ([[ok]], None)
    for chunks in ([ok + b"x"], [ok, b"x"], [b"PING\r\n" + ok + b"x"]):
        reqs, err, _ = run(chunks)
        assert err == P + "too big inline request"
        assert reqs == ([[b"PING"]] if chunks[0].startswith(b"PING") else [])


def test_too_big_mbulk_count_string():
    head = b"*" + b"1" * (INLINE_MAX - 1)
    assert run([head])[:2] == ([], None)
    assert run([head + b"1"])[1] == P + "too big mbulk count string"
    assert run([head[:1000], head[1000:], b"1"])[1] == P + "too big mbulk count string"
    # with its \r there it is just a bad number
    assert run([head + b"\r\n"])[1] == P + "invalid multibulk length"


def test_too_big_bulk_count_string():
    head = b"*1\r\n$" + b"1" * (INLINE_MAX - 1)
    assert run([head])[:2] == ([], None)
    assert run([head + b"1"])[1] == P + "too big bulk count string"
    assert run([enc("PING"), head, b"1"])[:2] == (PING, P + "too big bulk count string")


def test_proto_max_bulk_len():
    limit = 1024 * 1024

    def make():
        return RequestReader(max_bulk_len=limit)

    ok = enc("SET", "k", b"x" * limit)
    check_all_splits(ok, [[b"SET", b"k", b"x" * limit]], every=limit // 3, make=make)
    bad = enc("PING") + enc("SET", "k", b"x" * (limit + 1))
    check_all_splits(bad, PING, P + "invalid bulk length", every=limit // 3, make=make)
    # refused from the header alone, before the payload arrives
    assert run([b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$%d\r\n" % (limit + 1)], make())[1] == \
        P + "invalid bulk length"


def test_query_buffer_limit():
    limit = 1024 * 1024
    msg = "closing client that reached max query buffer length"
    # an unfinished request may not hold more than the limit
    head = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$%d\r\n" % (3 * limit)
    r = RequestReader(max_query_buffer=limit)
    assert r.feed(head) == [] and r.error is None
    chunk = b"x" * 65536
    fed = len(head)
    while r.error is None and fed < 2 * limit:
        assert r.feed(chunk) == []
        fed += len(chunk)
    assert r.error is not None and r.error.args[0] == msg
    assert limit < fed <= limit + len(chunk) + len(head)
    # so may an unfinished inline line ...
    r = RequestReader(max_query_buffer=100)
    assert r.feed(b"x" * 101)[:1] == [] and r.error.args[0] == msg
    # ... but complete requests never count, however many arrive at once
    r = RequestReader(max_query_buffer=limit)
    many = enc("SET", "k", b"v" * 1000) * 3000
    assert len(r.feed(many)) == 3000 and r.error is None


def test_unauthenticated_multibulk_length():
    def make():
        r = RequestReader()
        r.auth_required = True
        return r

    ten = enc(*["x"] * 10)
    eleven = enc(*["x"] * 11)
    check_all_splits(ten, [[b"x"] * 10], make=make)
    check_all_splits(eleven, [], P + "unauthenticated multibulk length", make=make)
    # long inline commands are not limited
    check_all_splits(b"x " * 20 + b"\r\n", [[b"x"] * 20], make=make)
    # one request per feed while unauthenticated: the caller runs it (maybe
    # AUTH) and says whether the next may be large
    r = make()
    assert r.feed(enc("AUTH", "pw") + eleven) == [[b"AUTH", b"pw"]]
    r.auth_required = False
    assert r.feed(b"") == [[b"x"] * 11] and r.error is None
    r = make()
    assert r.feed(enc("AUTH", "bad") + eleven) == [[b"AUTH", b"bad"]]
    assert r.feed(b"") == [] and r.error.args[0] == P + "unauthenticated multibulk length"


# -- cost -------------------------------------------------------------------------


def test_big_value_in_many_chunks_is_scanned_once(monkeypatch):
    """A 10 MB frame fed in 4 KiB chunks: every chunk but the last returns
    nothing, quickly, without running the parser again."""
    size = 10 * 1024 * 1024
    frame = enc("SET", "k", b"v" * size)
    calls = 0
    real = RequestReader._slow

    def counting(self, reqs):
        nonlocal calls
        calls += 1
        return real(self, reqs)

    monkeypatch.setattr(RequestReader, "_slow", counting)
    r = RequestReader()
    step = 4096
    worst = 0.0
    t_all = time.perf_counter()
    for i in range(0, len(frame) - 1, step):
        t0 = time.perf_counter()
        assert r.feed(frame[i:min(i + step, len(frame) - 1)]) == []
        worst = max(worst, time.perf_counter() - t0)
    elapsed = time.perf_counter() - t_all
    assert r.pending == len(frame) - 1
    assert calls <= 3, f"parser ran {calls} times for {len(frame) // step} chunks"
    assert worst < 0.05 and elapsed < 2.0, (worst, elapsed)
    reqs = r.feed(frame[-1:])
    assert len(reqs) == 1 and len(reqs[0][2]) == size and r.pending == 0


def test_big_value_byte_by_byte_is_linear():
    value = b"v" * 200_000
    frame = enc("SET", "k", value)
    r = RequestReader()
    t0 = time.perf_counter()
    out = []
    for i in range(len(frame)):
        out += r.feed(frame[i:i + 1])
    assert out == [[b"SET", b"k", value]]
    assert time.perf_counter() - t0 < 3.0


def test_many_arguments_in_many_reads_is_linear():
    """A request of 200,000 arguments arriving in 4 KiB reads resumes where
    the last read stopped: it used to be reparsed from its start on every
    read (30 s of one core, with the server deaf meanwhile)."""
    n = 200_000
    frame = b"*%d\r\n$4\r\nSADD\r\n" % (n + 1) + b"$1\r\nx\r\n" * n
    r = RequestReader()
    out = []
    t0 = time.perf_counter()
    for i in range(0, len(frame), 4096):
        out += r.feed(frame[i:i + 4096])
    assert time.perf_counter() - t0 < 3.0
    assert len(out) == 1 and len(out[0]) == n + 1 and out[0][-1] == b"x"


def _vm_size() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise KeyError("VmSize")


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs /proc")
@pytest.mark.parametrize("data", [b"*2147483647\r\n", b"*4294967295\r\n",
                                  b"*1\r\n$3\r\nGET\r\n*2\r\n*2147483647\r\n",
                                  b"*1\r\n*1048576\r\n"])
def test_huge_declared_count_allocates_nothing(data):
    """hiredis allocates a list of a declared array size on reading its
    header: such counts must never reach it (16 GiB of address space and
    seconds of CPU per 14-byte request)."""
    before = _vm_size()
    t0 = time.perf_counter()
    for _ in range(3):
        r = RequestReader()
        r.feed(data)
        assert r.error is not None and r.error.args[0].startswith("Protocol error: ")
    assert time.perf_counter() - t0 < 0.5
    assert _vm_size() - before < 64 * 1024 * 1024


def test_foreign_type_after_unchecked_trailer_bytes():
    """The two bytes after a payload are skipped unchecked; a status line
    right after them (here ``\\n*`` then ``+1``) is not an argument, in a
    small read as in a big one (the fuzzer found hiredis's fast path
    taking it for one)."""
    data = b"*3\r\n$0\r\n\r\n$4\r\n\xf4  \r\n*+1\r\n$3\r\nSET\r\n"
    for chunks in [*splits(data), [data + b"x" * 300_000]]:
        reqs, err, _ = run(chunks)
        assert reqs == [] and err == "Protocol error: expected '$', got '+'", chunks[:1]


def test_many_short_arguments_take_the_scan_and_keep_its_checks():
    """Requests of many short arguments (MSET's, over 256 bytes each) are
    checked by the one scan rather than the header walk; a foreign type
    among their arguments is still a protocol error, in one read or many."""
    args = [b"MSET"] + [x for i in range(10) for x in (b"key:%012d" % i, b"xxx")]
    good = b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%b\r\n" % (len(a), a) for a in args)
    assert len(good) > 256
    reqs, err, _ = run([good * 16])
    assert reqs == [args] * 16 and err is None
    for foreign, byte in [(b":7\r\n", "':'"), (b"+ok\r\n", "'+'"), (b"*1\r\n$1\r\nx\r\n", "'*'")]:
        bad = good.replace(b"$3\r\nxxx\r\n", foreign, 1)
        for chunks, before in (([good * 3 + bad], 3), ([good, bad[:100], bad[100:]], 1)):
            reqs, err, _ = run(chunks)
            assert reqs == [args] * before
            assert err == f"Protocol error: expected '$', got {byte}"


def test_type_bytes_in_payloads_are_arguments():
    """Payloads holding the type bytes hiredis reads as strings or lists
    (``+ ( = ~ |``, ``>``) fail the memchr test and take the regex scan;
    requests are the same either way, and a foreign header next to them is
    still refused."""
    plain = [[b"SET", b"key:1", b"xxx"], [b"INCR", b"counter:7"]] * 8
    odd = [[b"SET", b"k+(=~|>", b"\r\n+x\r\n~1\r\n|"], [b"GET", b"=>"]] * 8
    for reqs in (plain, odd, plain + odd):
        data = b"".join(enc(*r) for r in reqs)
        got, err, _ = run([data])
        assert got == reqs and err is None
    forged = enc("SET", "a+", "b") + b"*2\r\n$3\r\nGET\r\n+a\r\n"
    got, err, _ = run([forged])
    assert got == [[b"SET", b"a+", b"b"]]
    assert err == "Protocol error: expected '$', got '+'"
