"""The replica's link state machine (replication/handshake.py) on byte
tables: every script is fed whole, split in two at every offset, and byte
by byte, and must give the same events and the same bytes to send."""

from __future__ import annotations

import pytest

from pyredis.persistence.aof import encode_request
from pyredis.replication.handshake import (
    NEED_DATA, Command, Continue, FullResync, Handshake, KeepAlive, LinkError, Log,
    PayloadData, PayloadEnd, PayloadStart, Settings, State)

RID = "a" * 40
RID2 = "b" * 40
MARK = b"0123456789abcdef0123456789abcdef01234567"


def run(settings: Settings, chunks: list):
    """Feed ``chunks`` in order; return (events, bytes sent, final state).
    PayloadData events are merged (their split depends on the reads)."""
    hs = Handshake(settings)
    sent = [hs.start()]
    events: list = []
    for chunk in chunks:
        hs.receive_data(chunk)
        while True:
            ev = hs.next_event()
            if ev is NEED_DATA:
                break
            if isinstance(ev, PayloadData) and events and isinstance(events[-1], PayloadData):
                events[-1] = PayloadData(events[-1].data + ev.data)
            else:
                events.append(ev)
            sent.append(hs.data_to_send())
            if isinstance(ev, LinkError):
                break
        if events and isinstance(events[-1], LinkError):
            break
    return events, b"".join(sent), hs.state


def splits(data: bytes):
    yield [data]
    for i in range(1, len(data)):
        yield [data[:i], data[i:]]
    yield [data[i:i + 1] for i in range(len(data))]


def check_all_splits(settings: Settings, data: bytes):
    expected = run(settings, [data])
    for chunks in splits(data):
        assert run(settings, chunks) == expected, chunks
    return expected


HANDSHAKE_REPLIES = b"+PONG\r\n+OK\r\n+OK\r\n"
REQUESTS = (encode_request([b"PING"])
            + encode_request([b"REPLCONF", b"listening-port", b"6380"])
            + encode_request([b"REPLCONF", b"capa", b"eof", b"capa", b"psync2"]))


def test_full_sync_with_length_payload_then_stream():
    rdb = b"REDIS0009\xff" + bytes(range(256)) * 3
    set_cmd = encode_request([b"SET", b"k", b"v\r\n"])
    select = encode_request([b"SELECT", b"3"])
    data = (HANDSHAKE_REPLIES + b"\n\n+FULLRESYNC %s 1234\r\n" % RID.encode()
            + b"\n\n$%d\r\n" % len(rdb) + rdb + select + b"\n" + set_cmd + b"*0\r\n")
    events, sent, state = check_all_splits(Settings(6380), data)
    assert sent == REQUESTS + encode_request([b"PSYNC", b"?", b"-1"])
    assert events == [
        Log("notice", "Master replied to PING, replication can continue..."),
        Log("notice", "Partial resynchronization not possible (no cached master)"),
        KeepAlive(), KeepAlive(),
        FullResync(RID, 1234),
        KeepAlive(), KeepAlive(),
        PayloadStart(len(rdb)), PayloadData(rdb), PayloadEnd(),
        Command([b"SELECT", b"3"], select),
        # The newline counts with the request after it, as Redis's reploff.
        Command([b"SET", b"k", b"v\r\n"], b"\n" + set_cmd),
    ]
    # The trailing empty multibulk waits to be counted with a later request.
    assert state is State.CONNECTED


def test_diskless_payload_with_eof_mark():
    rdb = b"REDIS0009" + MARK[:39] + b"x" + MARK[1:] + b"\xff" + b"\0" * 8
    ping = encode_request([b"PING"])
    data = (HANDSHAKE_REPLIES + b"+FULLRESYNC %s 0\r\n" % RID.encode()
            + b"$EOF:" + MARK + b"\r\n" + rdb + MARK + ping)
    events, _, _ = check_all_splits(Settings(6380), data)
    assert events[3:] == [PayloadStart(None), PayloadData(rdb), PayloadEnd(),
                          Command([b"PING"], ping)]


def test_empty_payload():
    data = HANDSHAKE_REPLIES + b"+FULLRESYNC %s 7\r\n$0\r\n" % RID.encode()
    events, _, state = check_all_splits(Settings(1), data)
    assert events[-2:] == [PayloadStart(0), PayloadEnd()]
    assert state is State.CONNECTED


def test_auth_announce_ip_and_cached_master():
    s = Settings(7000, announce_ip="10.0.0.9", masteruser="repl", masterauth="pw",
                 cached=(RID, 99))
    data = b"-NOAUTH Authentication required.\r\n+OK\r\n+OK\r\n+OK\r\n+OK\r\n+CONTINUE\r\n"
    events, sent, state = check_all_splits(s, data)
    assert sent == (encode_request([b"PING"])
                    + encode_request([b"AUTH", b"repl", b"pw"])
                    + encode_request([b"REPLCONF", b"listening-port", b"7000"])
                    + encode_request([b"REPLCONF", b"ip-address", b"10.0.0.9"])
                    + encode_request([b"REPLCONF", b"capa", b"eof", b"capa", b"psync2"])
                    + encode_request([b"PSYNC", RID.encode(), b"100"]))
    assert events[1:] == [
        Log("notice", f"Trying a partial resynchronization (request {RID}:100)."),
        Continue(None)]
    assert state is State.CONNECTED


def test_continue_with_new_id_and_stream():
    cmd = encode_request([b"DEL", b"x"])
    data = HANDSHAKE_REPLIES + b"+CONTINUE %s\r\n" % RID2.encode() + cmd
    events, _, _ = check_all_splits(Settings(1, cached=(RID, 5)), data)
    assert events[-2:] == [Continue(RID2), Command([b"DEL", b"x"], cmd)]


def test_non_critical_replconf_errors_are_logged():
    data = b"+PONG\r\n-ERR unknown command\r\n-ERR unknown command\r\n+FULLRESYNC %s 1\r\n" \
        % RID.encode()
    events, _, _ = check_all_splits(Settings(1), data)
    assert events[1:] == [
        Log("notice", "(Non critical) Master does not understand REPLCONF listening-port: "
                      "-ERR unknown command"),
        Log("notice", "(Non critical) Master does not understand REPLCONF capa: "
                      "-ERR unknown command"),
        Log("notice", "Partial resynchronization not possible (no cached master)"),
        FullResync(RID, 1)]


@pytest.mark.parametrize("data, text, discard", [
    (b"-ERR nope\r\n", "Error reply to PING from master: '-ERR nope'", False),
    (b"hello\r\n", "Error reply to PING from master: 'hello'", False),
    (b"+PONG\r\n+OK\r\n+OK\r\n-NOMASTERLINK Can't SYNC while not connected with my "
     b"master\r\n", "Master is currently unable to PSYNC but should be in the future: "
     "-NOMASTERLINK Can't SYNC while not connected with my master", False),
    (b"+PONG\r\n+OK\r\n+OK\r\n-LOADING Redis is loading\r\n",
     "Master is currently unable to PSYNC but should be in the future: "
     "-LOADING Redis is loading", False),
    (b"+PONG\r\n+OK\r\n+OK\r\n-ERR unknown command 'PSYNC'\r\n",
     "Master does not support PSYNC or is in error state (reply: "
     "-ERR unknown command 'PSYNC')", True),
    (b"+PONG\r\n+OK\r\n+OK\r\n-NOAUTH Authentication required.\r\n",
     "Unexpected reply to PSYNC from master: -NOAUTH Authentication required.", True),
    (b"+PONG\r\n+OK\r\n+OK\r\n+FULLRESYNC abc 1\r\n",
     "Master replied with wrong +FULLRESYNC syntax.", True),
    (b"+PONG\r\n+OK\r\n+OK\r\n+FULLRESYNC " + RID.encode() + b" 1\r\n-ERR oops\r\n",
     "MASTER aborted replication with an error: ERR oops", False),
    (b"+PONG\r\n+OK\r\n+OK\r\n+FULLRESYNC " + RID.encode() + b" 1\r\n+OK\r\n",
     "Bad protocol from MASTER, the first byte is not '$' (we received '+OK'), are you "
     "sure the host and port are right?", False),
    (b"+PONG\r\n+OK\r\n+OK\r\n+FULLRESYNC " + RID.encode() + b" 1\r\n$x1\r\n",
     "Bad protocol from MASTER, invalid bulk length '$x1'", False),
])
def test_handshake_errors(data, text, discard):
    events, _, state = check_all_splits(Settings(1), data)
    assert events[-1] == LinkError(text, discard)
    assert state is State.CONNECT


def test_auth_error():
    data = b"+PONG\r\n-WRONGPASS invalid username-password pair\r\n"
    events, _, _ = check_all_splits(Settings(1, masterauth="x"), data)
    assert events[-1] == LinkError(
        "Unable to AUTH to MASTER: -WRONGPASS invalid username-password pair")


STREAM_HEAD = HANDSHAKE_REPLIES + b"+CONTINUE\r\n"


@pytest.mark.parametrize("stream, text", [
    (b"SET a b\r\n", "WARNING: Receiving inline protocol from master, master stream "
                     "corruption? Closing the master connection and discarding the cached "
                     "master."),
    (b"*x\r\n", "Protocol error: invalid multibulk length"),
    (b"*01\r\n", "Protocol error: invalid multibulk length"),
    (b"*1\r\n:1\r\n", "Protocol error: expected '$', got ':'"),
    (b"*1\r\n$-1\r\n", "Protocol error: invalid bulk length"),
    (b"*1\r\n$3\r\nabcXY", "Protocol error: bulk data not terminated by CRLF"),
    (b"\rX", "Protocol error: bad line ending in the master stream"),
])
def test_stream_protocol_errors(stream, text):
    good = encode_request([b"PING"])
    events, _, state = check_all_splits(Settings(1, cached=(RID, 0)),
                                        STREAM_HEAD + good + stream)
    # What came before the damage is applied; nothing of the damaged request.
    assert events[-2:] == [Command([b"PING"], good), LinkError(text, True)]
    assert state is State.CONNECT


def test_stream_raw_bytes_add_up():
    reqs = [encode_request([b"MULTI"]), encode_request([b"INCR", b"n"]),
            encode_request([b"SET", b"big", b"x" * 70000]), encode_request([b"EXEC"])]
    stream = b"\r\n".join(reqs)
    hs = Handshake(Settings(1, cached=(RID, 0)))
    hs.start()
    hs.receive_data(STREAM_HEAD)
    while hs.next_event() is not NEED_DATA:
        pass
    total = 0
    # Fed in small reads, as a socket would.
    for i in range(0, len(stream), 1000):
        hs.receive_data(stream[i:i + 1000])
        while (ev := hs.next_event()) is not NEED_DATA:
            assert isinstance(ev, Command)
            total += len(ev.raw)
    assert total == len(stream)


def test_ack_and_role_names():
    assert Handshake.ack(42) == b"*3\r\n$8\r\nREPLCONF\r\n$3\r\nACK\r\n$2\r\n42\r\n"
    assert State.RECEIVE_PING_REPLY.role_name == "handshake"
    assert State.RECEIVE_PSYNC_REPLY.role_name == "handshake"
    assert State.TRANSFER.role_name == "sync"
    assert State.CONNECTED.role_name == "connected"
    assert State.CONNECT.role_name == "connect"
    assert State.CONNECTING.role_name == "connecting"
