"""A fault-injecting loopback TCP proxy for the replication tests.

A :class:`FaultProxy` listens on ``127.0.0.1`` (a free port unless one is
given) and forwards every connection it accepts to a target ``(host,
port)``, both ways. Put it between a replica and its master (point the
replica's ``REPLICAOF`` at ``proxy.port``), or between two global-replication
members, and break the link from the test while both servers run::

    from faultproxy import FaultProxy

    with FaultProxy(("127.0.0.1", master.port)) as proxy:
        replica.client().replicaof(proxy.host, proxy.port)
        proxy.wait_for_connections(1)
        proxy.drop_at(1000)          # the full sync dies after 1000 bytes
        proxy.wait_for_connections(2)  # ...and the replica reconnects

Directions: ``"down"`` is target -> client (master -> replica), ``"up"`` is
client -> target; most controls also take ``"both"``.

The proxy runs in one daemon thread with :mod:`selectors` and non-blocking
sockets, not asyncio: the servers under test may run their own event loops
in threads of the same process, and the tests that drive it are plain
synchronous code. Every control may be called from any thread at any time;
it is handed to the proxy thread, which applies it between two rounds of
forwarding, and the call returns once it is applied (bounded by a timeout),
so ``proxy.cut()`` has cut the connections when it returns.

Controls:

* :meth:`delay` -- hold each chunk that long before forwarding it (order
  kept).
* :meth:`stall` / :meth:`resume` -- stop reading and writing in a direction,
  so the sender's socket buffers fill up as with a hung link; and go on.
* :meth:`cut` -- reset every current connection, both sides (RST).
* :meth:`refuse` -- accept new connections and reset them at once (a down
  peer).
* :meth:`drop_at` -- close a connection after exactly N bytes were forwarded
  in a direction; the bytes before are delivered, then both sides see EOF.
  :meth:`drop_each` arms one such drop for each of the next connections.
* :meth:`corrupt_at` -- overwrite the bytes at an offset of a direction.
* :meth:`set_target` -- forward new connections elsewhere.
* :meth:`heal` -- undo every fault that is still armed.

Counters: :attr:`connections`, :attr:`refused`, :attr:`active`,
:attr:`bytes_up`/:attr:`bytes_down` (all connections),
:attr:`conn_bytes_up`/:attr:`conn_bytes_down` (the newest connection), and
bounded waits on them (:meth:`wait_for_connections`, :meth:`wait_for_bytes`,
:meth:`wait_for_active`) that raise :class:`TimeoutError` with the counters
when the condition does not come true in time.
"""

from __future__ import annotations

import collections
import errno
import selectors
import socket
import struct
import threading
import time

__all__ = ["FaultProxy", "DIRECTIONS"]

DIRECTIONS = ("up", "down")

# How much one recv() takes; also bounds how much one chunk may be delayed as
# a unit.
_CHUNK = 65536
# Past this many bytes held for a direction (under delay() or while the
# receiver is slow) the proxy stops reading that direction, so a slow or
# delayed link pushes back on the sender instead of growing without bound.
_QUEUE_LIMIT = 1 << 20
# After drop_at() fires, each side gets a FIN and the proxy waits this long
# for the peer's own close before closing: closing a socket with unread
# incoming data makes Linux send RST and throw away what is not yet sent,
# which could lose bytes before the drop offset.
_LINGER = 2.0
_CONNECT_TIMEOUT = 5.0
_CALL_TIMEOUT = 5.0
_JOIN_TIMEOUT = 5.0
# The longest the proxy thread sleeps with nothing due; controls wake it at
# once anyway, this only bounds the damage of a missed wake-up.
_MAX_SLEEP = 0.5


def _directions(direction: str) -> tuple[str, ...]:
    if direction == "both":
        return DIRECTIONS
    if direction in DIRECTIONS:
        return (direction,)
    raise ValueError(f"direction must be 'up', 'down' or 'both', not {direction!r}")


def _one_direction(direction: str) -> str:
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be 'up' or 'down', not {direction!r}")
    return direction


def _abort(sock: socket.socket) -> None:
    """Close with SO_LINGER 0, so the peer gets a RST rather than a FIN: the
    abrupt end of a crashed peer or a broken link."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


class _Flow:
    """One direction of one connection: what was read from ``src`` and waits
    to be written to ``dst``, and the faults armed on it."""

    __slots__ = ("src", "dst", "queue", "queued", "read", "sent", "eof", "shut",
                 "drop_at", "corrupts")

    def __init__(self, src: socket.socket, dst: socket.socket) -> None:
        self.src, self.dst = src, dst
        # [release time, memoryview] in arrival order; the head is written
        # only once its release time has passed, which keeps the order even
        # when the delay changes.
        self.queue: collections.deque[list] = collections.deque()
        self.queued = 0
        self.read = 0
        self.sent = 0
        self.eof = False
        self.shut = False
        self.drop_at: int | None = None
        self.corrupts: list[tuple[int, bytes]] = []

    def due(self, now: float) -> bool:
        return bool(self.queue) and self.queue[0][0] <= now


class _Conn:
    """One accepted client socket and its socket to the target."""

    def __init__(self, number: int, client: socket.socket, target: socket.socket) -> None:
        self.number = number
        self.client, self.target = client, target
        self.flows = {"up": _Flow(client, target), "down": _Flow(target, client)}
        self.connecting = True
        self.connect_deadline = time.monotonic() + _CONNECT_TIMEOUT
        # "open" forwards; "lingering" waits for the peers to close after
        # drop_at(); "closed" is gone.
        self.state = "open"
        self.lingering: set[socket.socket] = set()
        self.linger_deadline = 0.0


class FaultProxy:
    """A loopback TCP proxy to ``target`` whose link the test can break.

    ``target`` is ``(host, port)`` (or a bare port on 127.0.0.1); ``port`` 0
    picks a free port when the proxy starts. Use it as a context manager, or
    call :meth:`start` and :meth:`close` (both idempotent).
    """

    def __init__(self, target: tuple[str, int] | int, *, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        self._target = self._address(target)
        self._bind = (host, port)
        self._address_bound: tuple[str, int] | None = None
        self._listener: socket.socket | None = None
        self._sel: selectors.BaseSelector | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._started = False
        self._closing = False
        self._closed = False
        self._error: BaseException | None = None

        # Controls reach the proxy thread through this queue; the lock also
        # guards _loop_alive so a control never lands in a queue nobody will
        # run (it then runs in the caller's thread, the loop being gone).
        self._cmd_lock = threading.Lock()
        self._commands: collections.deque = collections.deque()
        self._loop_alive = False
        # Notified after every round of the proxy thread, for the waits.
        self._cond = threading.Condition()

        # Everything below is touched only by the proxy thread (or by a
        # control run inline when that thread is not running).
        self._conns: list[_Conn] = []
        self._current: _Conn | None = None
        self._interest: dict[socket.socket, int] = {}
        self._delay = {"up": 0.0, "down": 0.0}
        self._stalled = {"up": False, "down": False}
        self._refusing = False
        self._pending_drop: dict[str, int | None] = {"up": None, "down": None}
        # drop_each(): offsets for the next connections, one each, in order.
        self._drop_queue: dict[str, collections.deque] = {
            "up": collections.deque(), "down": collections.deque()}
        self._pending_corrupts: dict[str, list[tuple[int, bytes]]] = {"up": [], "down": []}
        self._totals = {"up": 0, "down": 0}
        self._accepted = 0
        self._refused = 0
        self._failed = 0

    @staticmethod
    def _address(target) -> tuple[str, int]:
        if isinstance(target, int):
            return ("127.0.0.1", target)
        host, port = target
        return (str(host), int(port))

    # -- life cycle -----------------------------------------------------------

    def start(self) -> "FaultProxy":
        """Bind, listen and start the proxy thread; a second call does
        nothing. A closed proxy cannot be started again (make a new one)."""
        if self._closed:
            raise RuntimeError("FaultProxy is closed; create a new one")
        if self._started:
            return self
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            # A fixed port may still have connections in TIME_WAIT from a
            # previous proxy of the same test.
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(self._bind)
            listener.listen(128)
            listener.setblocking(False)
        except OSError:
            listener.close()
            raise
        self._listener = listener
        self._address_bound = listener.getsockname()[:2]
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._sel = selectors.DefaultSelector()
        self._sel.register(listener, selectors.EVENT_READ, "listen")
        self._sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._loop_alive = True
        self._started = True
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"faultproxy-{self._address_bound[1]}")
        self._thread.start()
        return self

    def close(self) -> None:
        """Reset every forwarded connection, stop listening and end the
        thread (bounded); a second call does nothing. Raises if the proxy
        thread failed, so a bug in the proxy does not pass unnoticed."""
        if self._closed:
            return
        self._closed = True
        if not self._started:
            return
        self._closing = True
        self._wake()
        self._thread.join(_JOIN_TIMEOUT)
        if self._thread.is_alive():
            raise RuntimeError(f"FaultProxy thread did not end within {_JOIN_TIMEOUT}s")
        if self._error is not None:
            error, self._error = self._error, None
            raise RuntimeError("FaultProxy thread failed") from error

    def __enter__(self) -> "FaultProxy":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        where = f"{self.host}:{self.port}" if self._address_bound else "not started"
        return (f"<FaultProxy {where} -> {self._target[0]}:{self._target[1]} "
                f"connections={self._accepted} active={self.active} "
                f"up={self._totals['up']} down={self._totals['down']}>")

    # -- addresses --------------------------------------------------------------

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` clients should connect to."""
        if self._address_bound is None:
            raise RuntimeError("FaultProxy is not started")
        return self._address_bound

    @property
    def host(self) -> str:
        return self.address[0]

    @property
    def port(self) -> int:
        return self.address[1]

    @property
    def target(self) -> tuple[str, int]:
        return self._target

    # -- controls ---------------------------------------------------------------

    def delay(self, seconds: float, direction: str = "both") -> None:
        """Hold every chunk read from now on for ``seconds`` before it is
        forwarded (0 turns it off). Order is kept: a chunk never overtakes
        one read before it, even when the delay is lowered."""
        if seconds < 0:
            raise ValueError("delay must be >= 0")
        dirs = _directions(direction)

        def apply():
            for d in dirs:
                self._delay[d] = float(seconds)
        self._call(apply)

    def stall(self, direction: str = "both") -> None:
        """Stop forwarding in ``direction`` on every connection, current and
        new. The proxy stops *reading* too (it buffers nothing more), so the
        sender's socket buffers fill and its writes block, as on a hung link;
        what was already read is held back, and so is an EOF."""
        dirs = _directions(direction)

        def apply():
            for d in dirs:
                self._stalled[d] = True
        self._call(apply)

    def resume(self, direction: str = "both") -> None:
        """Forward again after :meth:`stall`: everything held is delivered,
        in order."""
        dirs = _directions(direction)

        def apply():
            for d in dirs:
                self._stalled[d] = False
        self._call(apply)

    def cut(self) -> int:
        """Reset every current connection at once, both sides (RST, data
        still held is lost); returns how many. New connections are still
        accepted."""
        def apply():
            conns = [c for c in self._conns if c.state != "closed"]
            for conn in conns:
                self._close_conn(conn, abort=True)
            return len(conns)
        return self._call(apply)

    def refuse(self, on: bool = True) -> None:
        """While on, accept each new connection and reset it at once, as a
        peer that is down would; current connections are untouched."""
        def apply():
            self._refusing = bool(on)
        self._call(apply)

    def drop_at(self, offset: int, direction: str = "down", *, new_only: bool = False) -> None:
        """Close a connection after exactly ``offset`` bytes were forwarded
        in ``direction`` (counted from the start of that connection): those
        bytes are delivered, then both sides get a FIN.

        It applies to the newest open connection if that one has not
        forwarded more than ``offset`` bytes yet in ``direction`` (and
        ``new_only`` is false), otherwise to the next connection accepted.
        It fires once; one drop is armed per direction, a new call replaces
        it."""
        d = _one_direction(direction)
        if offset < 0:
            raise ValueError("offset must be >= 0")

        def apply():
            conn = self._open_current()
            if not new_only and conn is not None and conn.flows[d].sent <= offset:
                conn.flows[d].drop_at = offset
                self._pending_drop[d] = None
            else:
                self._pending_drop[d] = offset
        self._call(apply)

    def drop_after(self, more: int, direction: str = "down") -> None:
        """Close the newest open connection once ``more`` bytes beyond what
        it has forwarded so far in ``direction`` went through, counted in
        the proxy's own thread: unlike ``drop_at(conn_bytes_down + n)``, no
        byte sent between reading the count and arming the drop (a PING, an
        expired key's DEL) can push the drop to a connection not made yet.
        With no open connection, it applies to the next one accepted,
        ``more`` bytes into it."""
        d = _one_direction(direction)
        if more < 1:
            raise ValueError("more must be >= 1")

        def apply():
            conn = self._open_current()
            if conn is not None:
                conn.flows[d].drop_at = conn.flows[d].sent + more
                self._pending_drop[d] = None
            else:
                self._pending_drop[d] = more
        self._call(apply)

    def drop_each(self, offsets, direction: str = "down") -> None:
        """Arm one drop per new connection: the next connection accepted is
        cut after ``offsets[0]`` bytes in ``direction``, the one after it at
        ``offsets[1]``, and so on (a peer that reconnects at once cannot
        race the test arming the next drop). A pending :meth:`drop_at`
        goes first."""
        d = _one_direction(direction)
        offsets = [int(o) for o in offsets]
        if any(o < 0 for o in offsets):
            raise ValueError("offsets must be >= 0")

        def apply():
            self._drop_queue[d].extend(offsets)
        self._call(apply)

    def corrupt_at(self, offset: int, data: bytes, direction: str = "down", *,
                   new_only: bool = False) -> None:
        """Overwrite the bytes at ``offset`` (counted from the start of the
        connection) in ``direction`` with ``data``, same length, so the
        stream stays in step. Like :meth:`drop_at` it applies to the newest
        open connection if it has not read past ``offset`` yet, otherwise to
        the next one; several may be armed."""
        d = _one_direction(direction)
        if offset < 0:
            raise ValueError("offset must be >= 0")
        patch = bytes(data)

        def apply():
            conn = self._open_current()
            if not new_only and conn is not None and conn.flows[d].read <= offset:
                conn.flows[d].corrupts.append((offset, patch))
            else:
                self._pending_corrupts[d].append((offset, patch))
        self._call(apply)

    def set_target(self, target: tuple[str, int] | int) -> None:
        """Forward connections accepted from now on to ``target``; current
        ones stay where they are."""
        address = self._address(target)

        def apply():
            self._target = address
        self._call(apply)

    def heal(self) -> None:
        """Turn off delay, stall and refuse, and disarm every drop and
        corruption not yet fired (current connections' included)."""
        def apply():
            for d in DIRECTIONS:
                self._delay[d] = 0.0
                self._stalled[d] = False
                self._pending_drop[d] = None
                self._drop_queue[d].clear()
                self._pending_corrupts[d] = []
                for conn in self._conns:
                    conn.flows[d].drop_at = None
                    conn.flows[d].corrupts = []
            self._refusing = False
        self._call(apply)

    # -- counters ---------------------------------------------------------------

    @property
    def connections(self) -> int:
        """Connections accepted so far, refused ones included."""
        return self._accepted

    @property
    def refused(self) -> int:
        """Connections reset at once because of :meth:`refuse`."""
        return self._refused

    @property
    def failed(self) -> int:
        """Connections closed because the target could not be reached."""
        return self._failed

    @property
    def active(self) -> int:
        """Connections currently forwarding."""
        return sum(1 for c in list(self._conns) if c.state == "open")

    @property
    def bytes_up(self) -> int:
        return self._totals["up"]

    @property
    def bytes_down(self) -> int:
        return self._totals["down"]

    @property
    def conn_bytes_up(self) -> int:
        return self.forwarded("up", current=True)

    @property
    def conn_bytes_down(self) -> int:
        return self.forwarded("down", current=True)

    def forwarded(self, direction: str = "down", *, current: bool = False) -> int:
        """Bytes written out in ``direction``: over all connections, or over
        the newest one (which keeps its count after it closes, until the
        next connection is accepted)."""
        d = _one_direction(direction)
        if not current:
            return self._totals[d]
        conn = self._current
        return conn.flows[d].sent if conn is not None else 0

    def wait_for_connections(self, n: int, timeout: float = 5.0) -> bool:
        """Wait until at least ``n`` connections were accepted in all."""
        return self._wait(lambda: self._accepted >= n, timeout, f"{n} connections")

    def wait_for_active(self, n: int, timeout: float = 5.0) -> bool:
        """Wait until exactly ``n`` connections are forwarding."""
        return self._wait(lambda: self.active == n, timeout, f"{n} active connections")

    def wait_for_bytes(self, n: int, direction: str = "down", timeout: float = 5.0, *,
                       current: bool = False) -> bool:
        """Wait until at least ``n`` bytes were forwarded in ``direction``
        (see :meth:`forwarded`)."""
        d = _one_direction(direction)
        return self._wait(lambda: self.forwarded(d, current=current) >= n, timeout,
                          f"{n} bytes {d}")

    def _wait(self, predicate, timeout: float, what: str) -> bool:
        with self._cond:
            if self._cond.wait_for(predicate, timeout):
                return True
        raise TimeoutError(f"{what} not reached within {timeout}s: {self!r}")

    # -- handing controls to the proxy thread -----------------------------------

    def _call(self, fn):
        """Run ``fn`` in the proxy thread between two rounds and return its
        result; inline when that thread is not running."""
        done = threading.Event()
        box: list = []
        with self._cmd_lock:
            if not self._loop_alive:
                return fn()
            self._commands.append((fn, done, box))
        self._wake()
        if not done.wait(_CALL_TIMEOUT):
            raise TimeoutError(f"FaultProxy thread did not apply a control within {_CALL_TIMEOUT}s")
        if isinstance(box[0], BaseException):
            raise box[0]
        return box[0]

    def _run_commands(self) -> None:
        while True:
            with self._cmd_lock:
                if not self._commands:
                    return
                fn, done, box = self._commands.popleft()
            try:
                box.append(fn())
            except BaseException as exc:  # handed back to the caller
                box.append(exc)
            done.set()

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"x")
        except (BlockingIOError, OSError):
            # A full wake pipe already guarantees a wake-up; a closed one
            # means the thread is gone.
            pass

    # -- the proxy thread ---------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                self._run_commands()
                if self._closing:
                    break
                timeout = self._service(time.monotonic())
                # Waiters are told before sleeping, so they see what the
                # last events and this round's forwarding changed at once.
                with self._cond:
                    self._cond.notify_all()
                for key, mask in self._sel.select(timeout):
                    self._on_event(key, mask)
        except BaseException as exc:  # reported by close()
            self._error = exc
        finally:
            self._teardown()
            with self._cmd_lock:
                self._loop_alive = False
            # Controls queued while the loop was ending still get an answer.
            self._run_commands()
            with self._cond:
                self._cond.notify_all()

    def _teardown(self) -> None:
        for conn in list(self._conns):
            self._close_conn(conn, abort=True)
        for sock in (self._listener, self._wake_r, self._wake_w):
            try:
                sock.close()
            except OSError:
                pass
        self._sel.close()

    def _open_current(self) -> _Conn | None:
        conn = self._current
        return conn if conn is not None and conn.state == "open" else None

    def _set_interest(self, sock: socket.socket, mask: int, conn: _Conn) -> None:
        old = self._interest.get(sock, 0)
        if mask == old:
            return
        if mask == 0:
            self._sel.unregister(sock)
            del self._interest[sock]
        elif old == 0:
            self._sel.register(sock, mask, (conn, sock))
            self._interest[sock] = mask
        else:
            self._sel.modify(sock, mask, (conn, sock))
            self._interest[sock] = mask

    def _forget(self, sock: socket.socket) -> None:
        if self._interest.pop(sock, 0):
            self._sel.unregister(sock)

    def _close_conn(self, conn: _Conn, *, abort: bool) -> None:
        for sock in (conn.client, conn.target):
            if sock.fileno() < 0:
                continue
            self._forget(sock)
            if abort:
                _abort(sock)
            else:
                sock.close()
        conn.state = "closed"
        conn.lingering.clear()
        for flow in conn.flows.values():
            flow.queue.clear()
            flow.queued = 0
        if conn in self._conns:
            self._conns.remove(conn)

    def _drop_conn(self, conn: _Conn, now: float) -> None:
        """drop_at() fired: FIN both sides now (after what was written), and
        close each once its peer closed or the linger time ran out."""
        conn.state = "lingering"
        conn.linger_deadline = now + _LINGER
        for flow in conn.flows.values():
            flow.queue.clear()
            flow.queued = 0
        for sock in (conn.client, conn.target):
            try:
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            conn.lingering.add(sock)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                # e.g. the client reset before accept(): nothing to forward.
                return
            self._accepted += 1
            if self._refusing:
                self._refused += 1
                _abort(client)
                continue
            client.setblocking(False)
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            target = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            target.setblocking(False)
            target.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = _Conn(self._accepted, client, target)
            for d in DIRECTIONS:
                if self._pending_drop[d] is None and self._drop_queue[d]:
                    self._pending_drop[d] = self._drop_queue[d].popleft()
                conn.flows[d].drop_at, self._pending_drop[d] = self._pending_drop[d], None
                conn.flows[d].corrupts, self._pending_corrupts[d] = self._pending_corrupts[d], []
            self._conns.append(conn)
            self._current = conn
            err = target.connect_ex(self._target)
            if err == 0:
                conn.connecting = False
            elif err not in (errno.EINPROGRESS, errno.EWOULDBLOCK):
                self._failed += 1
                self._close_conn(conn, abort=True)

    def _on_event(self, key, mask: int) -> None:
        if key.data == "wake":
            try:
                while self._wake_r.recv(4096):
                    pass
            except (BlockingIOError, InterruptedError):
                pass
            return
        if key.data == "listen":
            self._accept()
            return
        conn, sock = key.data
        if conn.state == "closed":
            return
        if conn.state == "lingering":
            self._linger_read(conn, sock)
            return
        if conn.connecting:
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                self._failed += 1
                self._close_conn(conn, abort=True)
            else:
                conn.connecting = False
            return
        if mask & selectors.EVENT_READ:
            d = "up" if sock is conn.client else "down"
            self._read(conn, d)
        # Writable sockets are written by the next _service(), which runs
        # before the next select anyway.

    def _linger_read(self, conn: _Conn, sock: socket.socket) -> None:
        try:
            data = sock.recv(_CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if data:
            return  # thrown away: the connection is being dropped
        self._forget(sock)
        sock.close()
        conn.lingering.discard(sock)
        if not conn.lingering:
            self._close_conn(conn, abort=False)

    def _read(self, conn: _Conn, d: str) -> None:
        flow = conn.flows[d]
        try:
            data = flow.src.recv(_CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            # A reset from one peer is passed on as a reset to the other.
            self._close_conn(conn, abort=True)
            return
        if not data:
            flow.eof = True
            return
        if flow.corrupts:
            data = self._corrupt(flow, data)
        flow.read += len(data)
        flow.queue.append([time.monotonic() + self._delay[d], memoryview(data)])
        flow.queued += len(data)

    @staticmethod
    def _corrupt(flow: _Flow, data: bytes) -> bytes:
        start, end = flow.read, flow.read + len(data)
        buf = None
        left = []
        for offset, patch in flow.corrupts:
            lo, hi = max(offset, start), min(offset + len(patch), end)
            if lo < hi:
                if buf is None:
                    buf = bytearray(data)
                buf[lo - start:hi - start] = patch[lo - offset:hi - offset]
            if offset + len(patch) > end:
                left.append((offset, patch))  # the rest lands in a later chunk
        flow.corrupts = left
        return bytes(buf) if buf is not None else data

    def _flush(self, conn: _Conn, d: str, now: float) -> None:
        flow = conn.flows[d]
        while flow.due(now):
            entry = flow.queue[0]
            data = entry[1]
            if flow.drop_at is not None:
                room = flow.drop_at - flow.sent
                if room <= 0:
                    return
                data = data[:room]
            try:
                n = flow.dst.send(data)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self._close_conn(conn, abort=True)
                return
            flow.sent += n
            flow.queued -= n
            self._totals[d] += n
            if n == len(entry[1]):
                flow.queue.popleft()
            else:
                entry[1] = entry[1][n:]
            if n < len(data):
                return  # the kernel buffer is full: wait for writable

    def _service(self, now: float) -> float:
        """Forward what is due, carry out drops, EOFs and deadlines, set each
        socket's interest; return how long select may sleep."""
        timeout = _MAX_SLEEP
        for conn in list(self._conns):
            if conn.state == "lingering":
                if now >= conn.linger_deadline:
                    self._close_conn(conn, abort=False)
                    continue
                timeout = min(timeout, conn.linger_deadline - now)
                for sock in conn.lingering:
                    self._set_interest(sock, selectors.EVENT_READ, conn)
                continue
            if conn.connecting:
                if now >= conn.connect_deadline:
                    self._failed += 1
                    self._close_conn(conn, abort=True)
                    continue
                timeout = min(timeout, conn.connect_deadline - now)
                self._set_interest(conn.target, selectors.EVENT_WRITE, conn)
                continue
            for d in DIRECTIONS:
                if conn.state == "open" and not self._stalled[d]:
                    self._flush(conn, d, now)
            if conn.state != "open":
                continue
            if any(f.drop_at is not None and f.sent >= f.drop_at for f in conn.flows.values()):
                self._drop_conn(conn, now)
                for sock in conn.lingering:
                    self._set_interest(sock, selectors.EVENT_READ, conn)
                timeout = min(timeout, _LINGER)
                continue
            for d in DIRECTIONS:
                flow = conn.flows[d]
                if flow.eof and not flow.queue and not flow.shut and not self._stalled[d]:
                    try:
                        flow.dst.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                    flow.shut = True
            if all(f.shut for f in conn.flows.values()):
                # Both peers said EOF and everything was delivered.
                self._close_conn(conn, abort=False)
                continue
            masks = {conn.client: 0, conn.target: 0}
            for d in DIRECTIONS:
                flow = conn.flows[d]
                if self._stalled[d]:
                    continue
                if not flow.eof and flow.queued < _QUEUE_LIMIT:
                    masks[flow.src] |= selectors.EVENT_READ
                if flow.queue:
                    wait = flow.queue[0][0] - now
                    if wait <= 0:
                        # Still due after _flush: the socket is full.
                        masks[flow.dst] |= selectors.EVENT_WRITE
                    else:
                        timeout = min(timeout, wait)
            for sock, mask in masks.items():
                self._set_interest(sock, mask, conn)
        return max(timeout, 0.0)
