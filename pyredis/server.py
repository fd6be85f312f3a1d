"""The asyncio/uvloop shell: accept, read, dispatch, write.

One :class:`ClientConnection` (an ``asyncio.Protocol``) per client. Every
read is parsed into requests, each request runs to completion through
``executor.call``, and all replies of one read leave in one write, so
pipelined clients cost one syscall per batch. As in Redis's beforeSleep,
replies are held until the end of the event-loop turn
(:meth:`Server.flush_replies`): the AOF is written (and fsynced under
``appendfsync always``) once for all of them, then each client's bytes go
out. Only this module and the replication link code touch sockets.

Out-of-band output (pub/sub messages, MONITOR lines) leaves through
``ClientConnection._send``; inside a batch it queues behind the replies
before it, so a client that publishes to itself reads everything in order.
Every write checks the transport's backlog against the client's class in
``client-output-buffer-limit`` (Redis's normal/replica/pubsub classes): a
client over the hard limit, or over the soft limit for longer than its
seconds, is dropped at once with its pending output, so a subscriber that
stops reading cannot grow the server's memory without bound.
"""

from __future__ import annotations

import asyncio
import logging
import os
import select
import signal
import socket
import time

from .config import Config
from .core import Core
from .errors import NotDurable
from .executor import HELD, call, call_many
from . import errors
from .commands.admin import REPLY_SKIP, REPLY_SKIP_NEXT, protected_refusal
from .errors import sanitize
from .protocol.reader import RequestReader

log = logging.getLogger("pyredis")


# Client kind -> its class in client-output-buffer-limit (masters: none).
_LIMIT_CLASS = {"normal": "normal", "pubsub": "pubsub", "replica": "slave", "global": "slave"}


class ClientConnection(asyncio.Protocol):
    __slots__ = ("server", "core", "transport", "client", "reader", "_backlog", "_backlog_bytes",
                 "_pending", "_soft_since")

    def __init__(self, server: "Server") -> None:
        self.server = server
        self.core = server.core
        self.transport = None
        self.client = None
        self.reader = None
        self._backlog = None
        self._backlog_bytes = 0
        # The replies of the batch being run, while one runs (see _send).
        self._pending = None
        # When the output backlog went over the soft limit (0: it is not).
        self._soft_since = 0.0

    def connection_made(self, transport) -> None:
        if isinstance(self.transport, _StandIn):
            # Accepted while a script blocked the loop: the loop's own
            # transport now takes over from the stand-in.
            self._adopt(transport)
            return
        self.transport = transport
        core = self.core
        if len(core.clients) >= core.config.maxclients:
            core.stats.rejected_connections += 1
            transport.write(b"-ERR max number of clients reached\r\n")
            transport.close()
            return
        sock = transport.get_extra_info("socket")
        peer = transport.get_extra_info("peername")
        if protected_refusal(core.config, peer):
            core.stats.rejected_connections += 1
            transport.write(errors.PROTECTED_MODE_DENIED.encode() + b"\r\n")
            transport.close()
            return
        local = transport.get_extra_info("sockname")
        fd = -1
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                _keepalive(sock, core.config.tcp_keepalive)
            except (OSError, AttributeError):
                pass
            fd = sock.fileno()
        self.client = core.new_client(
            addr=_fmt_addr(peer), laddr=_fmt_addr(local), fd=fd,
            send=self._send, close=self._close)
        self.client.on_unblocked = self._unblocked
        # resume_writing then means "drained", which keeps omem exact.
        transport.set_write_buffer_limits(high=65536, low=0)
        cfg = core.config
        self.reader = RequestReader(cfg.proto_max_bulk_len, cfg.client_query_buffer_limit)
        self.reader.auth_required = not self.client.authenticated

    def _adopt(self, transport) -> None:
        stand_in = self.transport
        self.transport = transport
        if stand_in.closed:  # closed meanwhile (QUIT, CLIENT KILL)
            transport.close()
            return
        transport.set_write_buffer_limits(high=65536, low=0)
        rest = stand_in.handed_over()
        if rest:
            transport.write(rest)

    def data_received(self, data: bytes) -> None:
        client = self.client
        if client is None:
            return
        reader = self.reader
        core = self.core
        core.stats.net_input_bytes += len(data)
        if client.raw is not None:
            client.raw(data)
            return
        if not client.authenticated:
            # Also after RESET: Redis sizes requests by the state before them.
            reader.auth_required = True
        reqs = reader.feed(data)
        client.last_interaction = time.monotonic()
        if reqs:
            if self._backlog is not None:
                # Blocked: keep reading (a disconnect must be seen) but hold
                # the requests, within the query buffer limit.
                self._backlog.extend(reqs)
                self._backlog_bytes += len(data)
                if self._backlog_bytes > core.config.client_query_buffer_limit:
                    log.warning("Closing client that reached max query buffer length: "
                                "id=%d addr=%s (blocked)", client.id, client.addr)
                    self.transport.close()
                return
            self._run(reqs)
            # Before AUTH the reader hands out one request at a time.
            while reader.auth_required and not client.closing:
                reader.auth_required = not client.authenticated
                if not reader.pending or reader.error is not None:
                    break
                reqs = reader.feed(b"")
                if not reqs:
                    break
                self._run(reqs)
        if reader.error is not None and not client.closing:
            msg = reader.error.args[0]
            if msg.startswith("Protocol error"):
                # latin-1: the error may quote one raw byte of the input.
                self._send(b"-ERR " + sanitize(msg).encode("latin-1") + b"\r\n")
                self._linger()
                return
            # Redis's log line (networking.c), e.g. for the query buffer limit.
            log.warning("%s: id=%d addr=%s", msg[:1].upper() + msg[1:], client.id, client.addr)
            client.closing = True
        if client.closing:
            self._close()

    def _linger(self) -> None:
        """Close after a protocol error without losing the error reply: the
        peer may still be sending (the rest of an oversized request), and
        closing with unread input makes our kernel answer with a reset that
        destroys the reply before the peer reads it. So send the reply and
        a FIN, drop what still arrives for up to a second, then close. The
        client is gone from the server at once."""
        self.server.flush_replies()
        self.core.remove_client(self.client)
        self.client = None  # data_received now drops input
        transport = self.transport
        if transport.can_write_eof():
            transport.write_eof()
        asyncio.get_running_loop().call_later(1.0, transport.close)

    def _run(self, reqs: list) -> None:
        client = self.client
        if len(reqs) == 1:
            out = call(client, reqs[0])
            if client.reply_mode:
                out = _reply_filter(client, out, reqs[0])
            if client.blocked is not None:
                # A held request (CLIENT PAUSE) runs again once released.
                self._block(reqs if out is HELD else [])
        else:
            parts = self._pending = []
            try:
                i = 0
                n = len(reqs)
                while i < n:
                    if not client.reply_mode:
                        # The batch's loop; it stops after a request that
                        # needs this shell's care, or before a held one.
                        i = call_many(client, reqs, i, parts)
                        if client.reply_mode:
                            # The last one was CLIENT REPLY OFF or SKIP.
                            parts[-1] = _reply_filter(client, parts[-1], reqs[i - 1])
                    else:
                        args = reqs[i]
                        out = call(client, args)
                        if client.reply_mode:
                            out = _reply_filter(client, out, args)
                        if out is not HELD:
                            parts.append(out)
                            i += 1
                    if client.closing:
                        break
                    if client.blocked is not None:
                        # A held request (CLIENT PAUSE) runs again once released.
                        self._block(reqs[i:])
                        break
            finally:
                self._pending = None
            out = b"".join(parts)
        if out:
            self._write(out)

    def _block(self, rest: list) -> None:
        """The client blocked: later requests wait until it is served."""
        self._backlog = rest
        self._backlog_bytes = 0

    def _unblocked(self) -> None:
        # Served from inside another client's command: run our backlog on
        # the next loop turn, not nested in that call.
        asyncio.get_running_loop().call_soon(self.resume)

    def resume(self) -> None:
        """Run what queued up while the client was blocked."""
        backlog, self._backlog = self._backlog, None
        if self.client is None or self.transport.is_closing():
            return
        if backlog:
            self._run(backlog)
        if self.client is not None and self.client.closing:
            self._close()

    def _send(self, data: bytes) -> None:
        if self._pending is not None:
            self._pending.append(data)
        elif self.transport is not None and not self.transport.is_closing():
            self._write(data)

    def _write(self, data: bytes) -> None:
        # Like Redis's beforeSleep: replies of one loop turn leave together
        # at its end, after one AOF write (and fsync under appendfsync
        # always) for all of them. Batching the socket writes this way also
        # costs less CPU per request than writing from each read callback.
        self.server.defer_reply(self, data)

    def _write_now(self, data: bytes) -> None:
        self.core.stats.net_output_bytes += len(data)
        transport = self.transport
        transport.write(data)
        # Usually the kernel took it all and the backlog is empty.
        if transport.get_write_buffer_size() or self._soft_since:
            self._check_output_limit()

    def _check_output_limit(self) -> None:
        """Redis's checkClientOutputBufferLimits, on the transport backlog."""
        client = self.client
        if client is None:
            return
        size = self.transport.get_write_buffer_size()
        client.output_pending = size
        limits = self.core.config.client_output_buffer_limit.get(_LIMIT_CLASS.get(client.kind))
        if limits is None:
            return
        hard, soft, seconds = limits
        over = bool(hard) and size >= hard
        if soft and size >= soft:
            now = time.monotonic()
            if not self._soft_since:
                self._soft_since = now
            elif now - self._soft_since > seconds:
                over = True
        else:
            self._soft_since = 0.0
        if over:
            log.warning("Client id=%d addr=%s scheduled to be closed ASAP for overcoming of "
                        "output buffer limits.", client.id, client.addr)
            client.output_pending = 0
            # abort, not close: close would keep the backlog until it drains.
            self.transport.abort()

    def pause_writing(self) -> None:
        pass

    def resume_writing(self) -> None:
        if self.client is not None:
            self.client.output_pending = 0

    def _close(self) -> None:
        if self.transport is not None:
            # Replies held for the AOF (a QUIT's +OK, a protocol error) go first.
            self.server.flush_replies()
            self.transport.close()

    def connection_lost(self, exc) -> None:
        if self.client is not None:
            self.core.remove_client(self.client)
            self.client = None


# Their confirmations are pushes, which Redis 6.2.14 sends even with replies off.
_PUSH_REPLIES = frozenset((b"subscribe", b"unsubscribe", b"psubscribe", b"punsubscribe"))


def _reply_filter(client, out: bytes, args: list) -> bytes:
    """CLIENT REPLY OFF / SKIP: what the client gets of one reply."""
    if out is HELD:  # not run yet: decided when it runs
        return out
    mode = client.reply_mode
    if mode == REPLY_SKIP_NEXT:
        # This was CLIENT REPLY SKIP itself: the next reply is dropped.
        client.reply_mode = REPLY_SKIP
        return out
    if mode == REPLY_SKIP:
        client.reply_mode = 0
    if out[:1] != b"-" and args[0].lower() in _PUSH_REPLIES:
        return out
    return b""


def _keepalive(sock, interval: int) -> None:
    """tcp-keepalive as Redis applies it: probes after ``interval`` idle
    seconds, then every interval/3, dropping the peer after 3 misses."""
    if interval <= 0:
        return
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    if hasattr(socket, "TCP_KEEPIDLE"):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, interval)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, max(1, interval // 3))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 3)


def _fmt_addr(addr) -> str:
    if not addr:
        return ""
    if isinstance(addr, tuple):
        return f"{addr[0]}:{addr[1]}"
    return str(addr)


class Server:
    """A pyredis server: a Core plus listening sockets and a periodic tick."""

    def __init__(self, config: Config | None = None) -> None:
        self.config = config or Config()
        self.core = Core(self.config)
        self.core.shutdown_hook = self.request_shutdown
        self._servers: list = []
        self._stopped: asyncio.Event | None = None
        self._tick_handle = None
        # A former member's list of keys changed without global replication
        # (_watch_former_member), closed at stop.
        self._change_journal = None
        self.port = self.config.port
        # (connection, bytes) replies waiting for this loop turn's AOF write.
        self._replies: list = []
        self._replies_scheduled = False
        # Stand-ins of connections accepted meanwhile, not yet adopted.
        self._stand_ins: set = set()
        # A SIGINT/SIGTERM arrived and the loop has not handled it yet.
        self.signal_pending = False

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        cfg = self.config
        _load_persistence(self.core)
        hosts = cfg.bind.split() or ["127.0.0.1"]
        for host in hosts:
            host = host.lstrip("-")
            # Redis's wildcards: "*" any IPv4 address, "::*" any IPv6 one.
            host = {"*": "0.0.0.0", "::*": "::"}.get(host, host)
            srv = await loop.create_server(
                lambda: ClientConnection(self), host=host, port=cfg.port,
                backlog=cfg.tcp_backlog, reuse_address=True)
            self._servers.append(srv)
            if cfg.port == 0:
                # Asked for any free port: all binds share the first one.
                cfg.port = srv.sockets[0].getsockname()[1]
        self.port = self.core.port = cfg.port
        self.core.call_later = loop.call_later
        self.core.process_events_while_blocked = self._process_events_while_blocked
        self._schedule_tick()
        log.info("Server initialized")
        await _load_snapshot(self.core)
        if cfg.global_server_id:
            _start_global(self.core)
        else:
            self._change_journal = _watch_former_member(self.core)
        log.info("Ready to accept connections")
        # replicaof in the config: connect once the dataset is loaded.
        from .replication.replica import startup as start_replica
        start_replica(self.core)

    def _schedule_tick(self) -> None:
        hz = max(1, min(self.config.hz or 10, 500))
        loop = asyncio.get_running_loop()
        self._tick_handle = loop.call_later(1.0 / hz, self._tick)

    def _tick(self) -> None:
        try:
            self.core.cron()
            self._close_idle_clients()
        except Exception:
            log.exception("error in periodic task")
        self._schedule_tick()

    def _close_idle_clients(self) -> None:
        timeout = self.config.timeout
        if not timeout:
            return
        deadline = time.monotonic() - timeout
        for c in list(self.core.clients.values()):
            if (c.last_interaction < deadline and c.kind == "normal" and c.blocked is None
                    and not c.channels and not c.patterns):
                c.kill()

    def defer_reply(self, conn: ClientConnection, data: bytes) -> None:
        """Hold a reply until the end of this loop turn (see flush_replies)."""
        self._replies.append((conn, data))
        if not self._replies_scheduled:
            self._replies_scheduled = True
            asyncio.get_running_loop().call_soon(self.flush_replies)

    def flush_replies(self) -> None:
        """Write the AOF once, then every held reply, in order."""
        self._replies_scheduled = False
        if not self._replies:
            return
        replies, self._replies = self._replies, []
        before = self.core.before_reply
        if before is not None:
            try:
                before()
            except NotDurable:
                # A write of this turn is not on disk although the policy
                # (appendfsync / global-log-fsync always) says a reply means
                # it is. The replies cannot be taken back from a read either
                # (it may show that write), so every client of the turn is
                # disconnected without them: to it the outcome is unknown,
                # as after a timeout. Later writes get -MISCONF until the
                # file can be written again.
                for conn, _data in replies:
                    if conn.transport is not None and not conn.transport.is_closing():
                        conn.transport.close()
                return
        for conn, data in replies:
            if conn.transport is not None and not conn.transport.is_closing():
                conn._write_now(data)

    def _process_events_while_blocked(self, busy_client) -> None:
        """Serve other clients while a script runs past lua-time-limit
        (Redis's processEventsWhileBlocked). The loop is blocked inside the
        script, so this reads what other clients' sockets already hold,
        without waiting, and runs it as the loop would; the scripting
        engine's gate answers BUSY to all but SCRIPT KILL, SHUTDOWN NOSAVE
        and a few connection commands. The script's own client is not read
        (Redis protects it). New connections are accepted too, as Redis
        does: without that, a client that was not connected before the
        script could never send SCRIPT KILL, and any new client (a health
        check, redis-cli) would hang for as long as the script runs."""
        conns = {}
        for c in list(self.core.clients.values()):
            if c is busy_client or c.fd < 0:
                continue
            conn = getattr(c.send, "__self__", None)
            if (isinstance(conn, ClientConnection) and conn.transport is not None
                    and not conn.transport.is_closing()):
                conns[c.fd] = conn
        listeners = self._listeners()
        try:
            ready, _, _ = select.select(list(conns) + listeners, [], [], 0)
        except (OSError, ValueError):
            return
        for fd in ready:
            if fd in listeners:
                self._accept_while_blocked(fd)
                continue
            try:
                data = os.read(fd, 65536)
            except OSError:  # nothing after all, or reset: the loop sees it later
                continue
            if data:  # at EOF the loop reports the disconnect once it runs
                conns[fd].data_received(data)
        for stand_in in list(self._stand_ins):
            stand_in.flush()
        # The loop is stuck in the script: BUSY replies cannot wait for its turn.
        self.flush_replies()

    def _listeners(self) -> list:
        """The fds of the listening sockets."""
        fds = []
        for srv in self._servers:
            for s in srv.sockets:
                try:
                    fds.append(s.fileno())
                except OSError:
                    pass
        return fds

    def _accept_while_blocked(self, fd: int) -> None:
        loop = asyncio.get_running_loop()
        # The loop's socket objects cannot accept: a socket object of our
        # own on the same listening socket, for this call only.
        try:
            listener = socket.socket(fileno=os.dup(fd))
        except OSError:
            return
        try:
            listener.setblocking(False)
            # Bounded: a flood of connections must not keep the script waiting.
            for _ in range(16):
                try:
                    sock, _addr = listener.accept()
                except OSError:  # none left (EAGAIN), or the peer already gone
                    return
                sock.setblocking(False)
                conn = ClientConnection(self)
                stand_in = _StandIn(self, conn, sock)
                conn.connection_made(stand_in)
                if conn.client is None:  # refused (maxclients, protected mode)
                    continue
                self._stand_ins.add(stand_in)
                loop.create_task(self._hand_over(conn, stand_in))
        finally:
            listener.close()

    async def _hand_over(self, conn: ClientConnection, stand_in: "_StandIn") -> None:
        """Once the loop turns again, give a connection accepted while a
        script blocked it to the loop (connect_accepted_socket calls
        connection_made, which adopts the loop's transport)."""
        if stand_in.closed:
            return
        stand_in.handing_over = True
        try:
            await asyncio.get_running_loop().connect_accepted_socket(lambda: conn,
                                                                     stand_in.sock)
        except Exception as e:  # pragma: no cover - a socket gone bad meanwhile
            log.warning("Could not adopt a client accepted during a busy script: %s", e)
            stand_in.handing_over = False
            if stand_in.closed:
                stand_in.sock.close()
            else:
                stand_in.close()

    def request_shutdown(self) -> None:
        if self._stopped is not None:
            self._stopped.set()

    async def serve_until_stopped(self) -> None:
        await self._stopped.wait()
        await self.stop()

    async def stop(self) -> None:
        if self._tick_handle is not None:
            self._tick_handle.cancel()
        core = self.core
        aof_whole = core.aof is not None and core.aof.state == "on" \
            and core.aof.write_error is None
        if core.aof is not None:
            core.aof.stop()
        if self._change_journal is not None:
            # Every change is in the AOF (just flushed) or in the dump file
            # (nothing changed since the last save): the member may write
            # the noted keys back from it.
            self._change_journal.close(
                aof_whole or core.ks.dirty == core.dirty_at_last_save)
            self._change_journal = None
        self.core.repl.master_side.stop()
        if self.core.global_repl is not None:
            self.core.global_repl.stop()
        from .replication.replica import shutdown as stop_replica
        stop_replica(self.core)
        for srv in self._servers:
            srv.close()
        for c in list(self.core.clients.values()):
            c.kill()
        for srv in self._servers:
            try:
                await asyncio.wait_for(srv.wait_closed(), 2)
            except (asyncio.TimeoutError, Exception):
                pass
        self._servers = []


class _StandIn:
    """The transport of a connection accepted while a script blocks the
    loop, until the loop adopts the socket (Server._hand_over): writes go
    straight to the non-blocking socket, what does not fit waits here and
    is retried at each pump; reads are the pump's own (os.read on the fd,
    as for every other client then)."""

    def __init__(self, server: Server, conn: ClientConnection, sock) -> None:
        self.server = server
        self.conn = conn
        self.sock = sock
        self.closed = False
        self.handing_over = False
        self._out = bytearray()
        self._eof = False

    def get_extra_info(self, name, default=None):
        try:
            if name == "socket":
                return self.sock
            if name == "peername":
                return self.sock.getpeername()
            if name == "sockname":
                return self.sock.getsockname()
        except OSError:
            pass
        return default

    def set_write_buffer_limits(self, high=None, low=None) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return len(self._out)

    def is_closing(self) -> bool:
        return self.closed

    def write(self, data) -> None:
        if self.closed:
            return
        self._out += data
        self.flush()

    def flush(self) -> None:
        out = self._out
        while out and not self.closed:
            try:
                n = self.sock.send(out)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # the peer is gone: drop it as the loop would
                self.abort()
                return
            del out[:n]
        if not out and self._eof and not self.closed:
            try:
                self.sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self._eof = True
        self.flush()

    def close(self) -> None:
        if self.closed:
            return
        self.flush()  # a last reply (QUIT's +OK) if the socket takes it
        self.abort()

    def abort(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.server._stand_ins.discard(self)
        if not self.handing_over:
            self.sock.close()
        # As asyncio transports do: the protocol hears of it on the next turn.
        asyncio.get_running_loop().call_soon(self.conn.connection_lost, None)

    def handed_over(self) -> bytes:
        """The loop's transport took the socket: what is still unsent."""
        self.closed = True
        self.server._stand_ins.discard(self)
        rest, self._out = bytes(self._out), bytearray()
        return rest


def _load_persistence(core: Core) -> None:
    """Load the dataset from disk before listening (the AOF when
    appendonly is yes) and start the AOF."""
    from .persistence.aof import AofLoadError, startup
    try:
        startup(core)
    except AofLoadError as e:
        log.warning("%s", e)
        raise SystemExit(1) from None


async def _load_snapshot(core: Core) -> None:
    """Once listening: with the AOF off, load the dump file (clients are
    answered -LOADING meanwhile); a damaged file stops the server."""
    from .persistence.rdb import RDBError
    from .persistence.snapshot import startup
    try:
        await startup(core)
    except RDBError:
        raise SystemExit(1) from None


def _watch_former_member(core: Core):
    """A server without global replication that finds a member's global log
    where ``global-log-dir`` points was a member (global-server-id taken out
    of its config). Its writes go to the dump file and the AOF, not into
    that log; a member rebuilds its dataset from its checkpoint and log, so
    if global replication is turned back on with that log, those changes
    are not in the dataset. Said now, while the operator can still choose;
    and every key changed is noted in the log's directory, so that the
    member restarted there writes them back as its own ops, after keeping
    a copy of the file that holds them (gcheckpoint.recover)."""
    from .replication.globallog import ChangeJournal, holds_log, log_directory
    cfg = core.config
    path = log_directory(cfg.dir, cfg.global_log_dir)
    if holds_log(path):
        log.warning(
            "%s holds a global replication log, but global replication is off "
            "(no global-server-id): writes made now are not logged there, and a "
            "member restarted with that log rebuilds its dataset from it, without "
            "them. To pause a member, keep global-server-id and stop its links "
            "(GLOBAL LINK STOP) or refuse writes (global-role readonly).", path)
        journal = ChangeJournal(path, core.commands)
        core.funnel.subscribe(journal)
        return journal
    return None


def _start_global(core: Core) -> None:
    """Open the global log (a damaged one stops the server, naming the file
    and offset) and start the links."""
    from .replication.gdriver import GlobalReplication
    from .replication.globallog import CorruptLogError
    try:
        GlobalReplication(core).start()
    except (CorruptLogError, OSError, ValueError) as e:
        log.warning("Can't start global replication: %s. Exiting.", e)
        raise SystemExit(1) from None


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop when available, else the default asyncio loop."""
    try:
        import uvloop
        return uvloop.new_event_loop()
    except ImportError:  # pragma: no cover - uvloop is a dependency on POSIX
        return asyncio.new_event_loop()


def run(config: Config) -> None:
    """Run a server in this process until SHUTDOWN or a signal."""
    loop = new_event_loop()
    asyncio.set_event_loop(loop)
    server = Server(config)

    async def main() -> None:
        await server.start()
        if config.pidfile:
            with open(config.pidfile, "w") as f:
                f.write(f"{os.getpid()}\n")
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, _on_signal, server, sig)
            _also_stop_scripts(server, sig)
        await server.serve_until_stopped()

    try:
        loop.run_until_complete(main())
    finally:
        if config.pidfile:
            try:
                os.unlink(config.pidfile)
            except OSError:
                pass
        log.warning("Redis is now ready to exit, bye bye...")
        loop.close()


def _also_stop_scripts(server: Server, sig: int) -> None:
    """The loop runs add_signal_handler callbacks (_on_signal) on its own
    turn, which never comes while a script blocks it. Its Python-level
    handler, which only records the signal, still runs at the next Python
    bytecode, and a running script calls into Python at every hook: chain
    one there that stops the script (even one that wrote, as SHUTDOWN
    NOSAVE does), so the loop turns and _on_signal shuts down; with save
    points it saves what the script wrote so far, which the AOF and the
    replicas already hold (writes leave as they run). A second
    signal while the first still waits for the loop exits at once (Redis
    does so for a second SIGINT): nothing else can end a server stuck in
    something that is not a script."""
    inner = signal.getsignal(sig)

    def handler(signum, frame):
        if server.signal_pending:
            log.warning("You insist... exiting now.")
            os._exit(1)
        server.signal_pending = True
        engine = getattr(server.core, "lua_engine", None)
        if engine is not None:
            engine.stop()
        if callable(inner):
            inner(signum, frame)

    signal.signal(sig, handler)


def _on_signal(server: Server, sig: int) -> None:
    server.signal_pending = False
    name = "SIGINT" if sig == signal.SIGINT else "SIGTERM"
    log.warning("Received %s scheduling shutdown...", name)
    # As Redis: with save points configured, save first; if that fails,
    # keep running rather than lose the changes.
    core = server.core
    save = getattr(core, "save_on_shutdown", None)
    if save is not None and core.config.save and not save():
        log.warning("%s received but errors trying to shut down the server, check the logs "
                    "for more information", name)
        return
    server.request_shutdown()
