"""The endpoint's router: an asyncio HTTP/1.1 proxy from the endpoint's port to its instances.

It used to be a Starlette app doing one httpx request per call: well over a millisecond of the
router's CPU per request (ASGI scopes, httpx's request and response models, its pool's locks), so
a 1-instance endpoint served a tenth of what the same model server serves directly, and more
instances did not help because the router was the limit. Here the work per request is a few
Python calls around two reads and two writes (about 25 us of CPU on the bench's machine):

- httptools (uvicorn's parser) parses the client's requests and the instances' responses;
- everything runs in protocol callbacks: no task, future or timer per request (timeouts and idle
  connections are swept once a second);
- the router keeps a pool of kept-alive connections to each instance, one request in flight on
  each, over a Unix socket where there is one (Linux: the kernel's share of a round trip is
  cheaper than over loopback TCP; the instance's TCP port stays for everyone else); a request
  goes to the variant's instance with the fewest in flight (ties in turn);
- a request's body is read whole (capped at the variants' largest payload limit), because a
  request an instance dropped without answering is sent again to another (up to 3 tries); a
  response is passed on whole in one write, or as it arrives once its head is sent when it is
  large, always with Content-Length;
- data capture copies nothing unless the capture samples that request.

Client side: keep-alive, pipelining (answered in order), chunked request bodies, ``Expect:
100-continue``. What the router answers itself is JSON: 400 for a malformed request or an unknown
target variant, 401 without the endpoint's token, 405, 413, 431, and 503 when no instance of the
endpoint (or the targeted variant) is healthy or none answered; anything an instance answers,
errors included, is passed back with its status, body and content type.
"""

from __future__ import annotations

import asyncio
import hmac
import socket
import time
from collections import deque
from http import HTTPStatus
from typing import Protocol, cast

import httptools
import orjson

from mlyard.serving.auth import unauthorized_body
from mlyard.serving.capture import DataCapture

__all__ = ["Pool", "Proxy", "Routes", "Target"]

# Request headers an instance sees (besides Host, Content-Length and the router's own token).
FORWARD = frozenset({b"content-type", b"accept", b"x-amzn-sagemaker-custom-attributes",
                     b"x-amzn-sagemaker-target-model", b"x-amzn-sagemaker-inference-id"})
METHODS = frozenset({b"GET", b"POST", b"PUT", b"DELETE"})
MAX_HEADERS = 64 * 1024
STREAM_ABOVE = 64 * 1024  # responses larger than this are passed on as they arrive
POOL_IDLE_S = 4.0  # below uvicorn's 5 s keep-alive, so the router rarely reuses a connection being closed
CLIENT_IDLE_S = 75.0
LINGER_S = 2.0
TRIES = 3
_REASONS = {s.value: s.phrase.encode() for s in HTTPStatus}


class Pool:
    """One instance's idle kept-alive connections (the most recently used first out)."""

    def __init__(self) -> None:
        self.idle: list[_Upstream] = []

    def get(self, port: int) -> _Upstream | None:
        now = time.monotonic()
        while self.idle:
            conn = self.idle.pop()
            if conn.port == port and not conn.closed and now - conn.used < POOL_IDLE_S:
                return conn
            conn.close()
        return None

    def put(self, conn: _Upstream) -> None:
        conn.used = time.monotonic()
        self.idle.append(conn)

    def discard(self, conn: _Upstream) -> None:
        if conn in self.idle:
            self.idle.remove(conn)

    def close(self) -> None:
        idle, self.idle = self.idle, []
        for conn in idle:
            conn.close()


class Target(Protocol):
    """An instance as the router sees it (the endpoint runner's ``Instance``)."""

    variant: str
    host: str  # its address: loopback, or its node's on a cluster
    port: int | None
    unix_socket: str | None  # '@name' (abstract namespace) or a path; else the port, on loopback TCP
    healthy: bool
    inflight: int
    pool: Pool


class Routes(Protocol):
    """What the router asks the endpoint runner."""

    name: str
    capture: DataCapture | None

    def pick(self, target: str | None) -> Target | None: ...

    def has_variant(self, name: str) -> bool: ...

    def any_healthy(self) -> bool: ...


def _json(status: int, error: str, message: str, extra: bytes = b"", close: bool = False) -> bytes:
    body = orjson.dumps({"error": error, "message": message})
    return (b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n%s%s\r\n"
            % (status, _REASONS.get(status, b""), len(body), extra, b"connection: close\r\n" if close else b"")
            + body)


class _Request:
    __slots__ = ("method", "target", "headers", "body", "keep_alive", "path", "variant", "content_type",
                 "inference_id", "local", "close")

    def __init__(self) -> None:
        self.method = b""
        self.target = b""  # path and query, as sent upstream
        self.path = b""
        self.headers: list[bytes] = []  # forwarded header lines
        self.body = b""
        self.keep_alive = True
        self.variant: str | None = None
        self.content_type: bytes | None = None
        self.inference_id: bytes | None = None
        self.local: bytes | None = None  # the router's own answer, if it answers itself
        self.close = False  # close the connection after answering


class Proxy:
    """Serves the endpoint's port: ``loop.create_server(proxy.connection, sock=...)``."""

    def __init__(self, routes: Routes, token: str | None, instance_token: str | None, max_body: int,
                 timeout: float = 60.0) -> None:
        self.routes = routes
        self.expected = f"Bearer {token}".encode() if token else None
        self.upstream_auth = f"authorization: Bearer {instance_token}\r\n".encode() if instance_token else b""
        self.max_body = max_body
        self.timeout = timeout
        self.clients: set[_Client] = set()
        self.connecting: set[asyncio.Task[None]] = set()
        self.closing = False
        self._sweeper: asyncio.TimerHandle | None = None

    def connection(self) -> _Client:
        return _Client(self)

    def start(self) -> None:
        self._sweep()

    def _sweep(self) -> None:
        """Once a second: time out requests instances sit on, close idle client connections."""
        now = time.monotonic()
        for client in list(self.clients):
            ex = client.exchange
            if ex is not None and now - ex.started > self.timeout:
                ex.timed_out()
            elif ex is None and not client.pending and now - client.active > CLIENT_IDLE_S:
                client.close()
        self._sweeper = asyncio.get_running_loop().call_later(1.0, self._sweep)

    async def shutdown(self, server: asyncio.AbstractServer, grace: float = 10.0) -> None:
        """Stop accepting; let requests in progress finish (``grace`` seconds at most); close."""
        self.closing = True
        server.close()
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            for client in list(self.clients):
                if client.exchange is None and not client.pending:
                    client.close()
            if not self.clients:
                break
            await asyncio.sleep(0.05)
        for client in list(self.clients):
            client.abort()
        if self._sweeper is not None:
            self._sweeper.cancel()


class _Reject(Exception):
    """Raised in a parser callback: answer this, then close the connection."""

    def __init__(self, answer: bytes) -> None:
        super().__init__("rejected")
        self.answer = answer


class _Client(asyncio.Protocol):
    """One client connection: parses its requests and answers them in order."""

    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.pending: deque[_Request] = deque()
        self.exchange: _Exchange | None = None
        self.req = _Request()
        self.url = b""
        self.auth = b""
        self.wants_continue = False
        self.declared_body = False
        self.header_bytes = 0
        self.body: list[bytes] = []
        self.body_size = 0
        self.active = time.monotonic()
        self.reading = True
        self.ended = False  # no more requests are read from this connection
        self.linger = False  # a request was refused unread: close gently

    # -- asyncio.Protocol --------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        self.proxy.clients.add(self)

    def data_received(self, data: bytes) -> None:
        if self.ended:
            return
        self.active = time.monotonic()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            cause = exc.__context__
            self._end(cause.answer if isinstance(cause, _Reject) else
                      _json(500, "InternalError", f"the endpoint's router failed: {cause!r}", close=True))
        except httptools.HttpParserUpgrade:
            # An offer to switch protocols (h2c, websocket): declined; a request without a body is
            # answered over HTTP/1.1 (as uvicorn does), then the connection closed (the parser stops
            # there). The parser leaves a body of such a request unread: that one is refused.
            if self.pending and self.pending[-1] is self.req and not self.declared_body:
                self.req.keep_alive = False
                self.ended = True
            else:
                if self.pending and self.pending[-1] is self.req:
                    self.pending.pop()
                self._end(_json(400, "BadRequest", "a request offering a protocol upgrade (Upgrade: ...) may not "
                                "have a body here; send it without the Upgrade header", close=True))
        except httptools.HttpParserError as exc:
            self._end(_json(400, "BadRequest", f"not a valid HTTP/1.1 request: {exc}", close=True))
        self._next()
        if self.reading and len(self.pending) > 16 and self.transport is not None:
            self.reading = False  # a client pipelining far ahead waits for answers
            self.transport.pause_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.ended = True
        self.pending.clear()
        if self.exchange is None:  # else kept until it ends: the sweep still times it out
            self.proxy.clients.discard(self)

    def pause_writing(self) -> None:
        if self.exchange is not None:
            self.exchange.pause_upstream(True)

    def resume_writing(self) -> None:
        if self.exchange is not None:
            self.exchange.pause_upstream(False)

    # -- httptools callbacks ------------------------------------------------------------------------
    def on_message_begin(self) -> None:
        self.req = _Request()
        self.url, self.auth, self.wants_continue, self.declared_body = b"", b"", False, False
        self.header_bytes, self.body, self.body_size = 0, [], 0

    def on_url(self, url: bytes) -> None:
        self.url += url
        self._count(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value))
        name = name.lower()
        req = self.req
        if name in FORWARD:
            req.headers.append(b"%s: %s\r\n" % (name, value))
            if name == b"content-type":
                req.content_type = value
            elif name == b"x-amzn-sagemaker-inference-id":
                req.inference_id = value
        elif name == b"x-amzn-sagemaker-target-variant":
            req.variant = value.decode("latin-1")
        elif name == b"authorization":
            self.auth = value
        elif name == b"content-length":
            if value.strip().isdigit():
                self.declared_body = int(value) > 0
                if int(value) > self.proxy.max_body:
                    raise _Reject(self._too_large(int(value)))
        elif name == b"transfer-encoding":
            self.declared_body = True
        elif name == b"expect":
            self.wants_continue = value.lower() == b"100-continue"

    def on_headers_complete(self) -> None:
        req, proxy = self.req, self.proxy
        req.method = self.parser.get_method()
        req.keep_alive = self.parser.should_keep_alive()
        try:
            url = httptools.parse_url(self.url)
        except httptools.HttpParserInvalidURLError:
            raise _Reject(_json(400, "BadRequest", "the request's target is not a valid URL", close=True)) from None
        req.path = url.path or b"/"
        req.target = req.path + b"?" + url.query if url.query else req.path
        if req.path == b"/ping" and req.method in (b"GET", b"HEAD"):
            req.local = (b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n" if proxy.routes.any_healthy() else
                         b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n")
        elif proxy.expected is not None and not hmac.compare_digest(self.auth, proxy.expected):
            body = unauthorized_body(self.auth, "endpoint")
            req.local = (b"HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
                         b'www-authenticate: Bearer realm="mlyard-endpoint"\r\n\r\n%s' % (len(body), body))
        elif req.method not in METHODS:
            req.local = _json(405, "MethodNotAllowed", f"{req.method.decode('latin-1')} is not served here; "
                              "POST /invocations (and GET, POST, PUT or DELETE to the model server's other routes)",
                              b"allow: GET, POST, PUT, DELETE\r\n")
        elif self.wants_continue and self.exchange is None and not self.pending and self.transport is not None:
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        if self.req.local is not None:
            return  # answered without it
        self.body_size += len(body)
        if self.body_size > self.proxy.max_body:
            raise _Reject(self._too_large(self.body_size))
        self.body.append(body)

    def on_message_complete(self) -> None:
        req = self.req
        req.body = self.body[0] if len(self.body) == 1 else b"".join(self.body)
        self.body = []
        self.pending.append(req)

    def _count(self, n: int) -> None:
        self.header_bytes += n
        if self.header_bytes > MAX_HEADERS:
            raise _Reject(_json(431, "RequestHeaderFieldsTooLarge",
                                f"the request's target and headers exceed {MAX_HEADERS} bytes", close=True))

    def _too_large(self, size: int) -> bytes:
        return _json(413, "PayloadTooLarge", f"the request is {size} bytes; the limit is {self.proxy.max_body} "
                     "bytes (SAGEMAKER_MAX_PAYLOAD_IN_MB): send fewer rows per request", close=True)

    # -- answering ------------------------------------------------------------------------------------
    def _end(self, answer: bytes) -> None:
        """Read no more: answer the requests before, then with ``answer``, and close."""
        self.ended = True
        self.linger = True
        req = _Request()
        req.local, req.close = answer, True
        self.pending.append(req)

    def _next(self) -> None:
        while self.exchange is None and self.pending:
            req = self.pending.popleft()
            if req.local is not None:
                self.write(req.local, req.close or not req.keep_alive)
            else:
                self.exchange = exchange = _Exchange(self, req)
                exchange.start()
        if not self.reading and len(self.pending) <= 4 and not self.ended and self.transport is not None:
            self.reading = True
            self.transport.resume_reading()

    def write(self, data: bytes, close: bool = False) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        transport.write(data)
        if close:
            self.ended = True
            self.pending.clear()
            if self.linger and transport.can_write_eof():
                # The client may still be sending what was refused: closing now would reset the
                # connection, and the client could lose the answer. Send EOF, drop what comes, close
                # a little later (or when the client does).
                transport.write_eof()
                asyncio.get_running_loop().call_later(LINGER_S, self.close)
            else:
                transport.close()

    def finished(self, exchange: _Exchange) -> None:
        if self.exchange is not exchange:
            return
        self.exchange = None
        self.active = time.monotonic()
        if self.transport is not None and self.transport.is_closing():
            self.proxy.clients.discard(self)
        elif self.proxy.closing and not self.pending:
            self.close()
        else:
            self._next()

    def close(self) -> None:
        self.ended = True
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def abort(self) -> None:
        self.ended = True
        if self.transport is not None:
            self.transport.abort()


class _Exchange:
    """One request on its way through an instance (tried again on another one if dropped)."""

    __slots__ = ("client", "req", "started", "tries", "attempts", "inst", "conn", "sampled", "status",
                 "content_type", "chunks", "streaming", "done")

    def __init__(self, client: _Client, req: _Request) -> None:
        self.client = client
        self.req = req
        self.started = time.monotonic()
        self.tries = 0  # failures that count: an instance refused or dropped a fresh connection
        self.attempts = 0
        self.inst: Target | None = None
        self.conn: _Upstream | None = None
        self.sampled = False
        self.status = 0
        self.content_type: bytes | None = None
        self.chunks: list[bytes] = []
        self.streaming = False
        self.done = False

    def start(self) -> None:
        capture = self.client.proxy.routes.capture
        self.sampled = capture is not None and self.req.path == b"/invocations" and capture.sample()
        self._try()

    def _try(self) -> None:
        routes = self.client.proxy.routes
        self.attempts += 1
        inst = routes.pick(self.req.variant)
        port = inst.port if inst is not None else None
        if inst is None or port is None:
            target = self.req.variant
            what = f"variant {target!r}" if target else "instance"
            message = f"no healthy {what} of endpoint {routes.name!r} right now"
            if target is not None and not routes.has_variant(target):
                self._answer(_json(400, "ValidationException", message))
            else:
                self._answer(_json(503, "ServiceUnavailable", message))
            return
        self.inst = inst
        inst.inflight += 1
        self.status, self.content_type, self.chunks = 0, None, []
        conn = inst.pool.get(port)
        if conn is not None:
            self._send(conn, port)
        else:
            proxy = self.client.proxy
            # The address is the one picked: an instance restarted meanwhile is not sent this request
            # before its health check says it is ready.
            task = asyncio.get_running_loop().create_task(self._connect(inst, port, inst.host, inst.unix_socket))
            proxy.connecting.add(task)
            task.add_done_callback(proxy.connecting.discard)

    async def _connect(self, inst: Target, port: int, host: str, unix_socket: str | None) -> None:
        try:
            conn = await asyncio.wait_for(_open(inst.pool, host, port, unix_socket), 5.0)
        except (OSError, asyncio.TimeoutError):
            if self.done:
                return
            if inst.port == port:
                inst.healthy = False  # until the health check sees it answer again (or restarts it)
            inst.inflight -= 1
            self.tries += 1
            self._again()
            return
        if self.done:  # timed out meanwhile
            inst.pool.put(conn)
            return
        self._send(conn, port)

    def _send(self, conn: _Upstream, port: int) -> None:
        req = self.req
        head = b"%s %s HTTP/1.1\r\nhost: 127.0.0.1:%d\r\ncontent-length: %d\r\n%s%s\r\n" % (
            req.method, req.target, port, len(req.body), b"".join(req.headers), self.client.proxy.upstream_auth)
        self.conn = conn
        conn.exchange = self
        if len(req.body) > STREAM_ABOVE:
            conn.write(head)
            conn.write(req.body)
        else:
            conn.write(head + req.body)

    def _again(self) -> None:
        if self.tries >= TRIES or self.attempts >= 2 * TRIES + 2:
            self._answer(_json(503, "ServiceUnavailable", "the endpoint's instances did not answer"))
        else:
            self._try()

    def _answer(self, answer: bytes) -> None:
        self.done = True
        self.client.write(answer, not self.req.keep_alive)
        self.client.finished(self)

    def _head(self, length: int) -> bytes:
        assert self.inst is not None
        return b"HTTP/1.1 %d %s\r\n%scontent-length: %d\r\nx-amzn-invoked-production-variant: %s\r\n%s\r\n" % (
            self.status, _REASONS.get(self.status, b""),
            b"content-type: %s\r\n" % self.content_type if self.content_type is not None else b"", length,
            self.inst.variant.encode(), b"" if self.req.keep_alive else b"connection: close\r\n")

    # -- from the instance's connection -----------------------------------------------------------
    def on_head(self, status: int, content_type: bytes | None, length: int | None) -> None:
        self.status, self.content_type = status, content_type
        if length is not None and length > STREAM_ABOVE and not self.sampled:
            self.streaming = True
            self.client.write(self._head(length))

    def on_body(self, chunk: bytes) -> None:
        if self.streaming:
            self.client.write(chunk)
        else:
            self.chunks.append(chunk)

    def on_complete(self) -> None:
        if self.done:
            return
        self.done = True
        inst, self.conn = self.inst, None
        assert inst is not None
        inst.inflight -= 1
        client, req = self.client, self.req
        body = b""
        if self.streaming:
            if not req.keep_alive:
                client.close()
        else:
            body = self.chunks[0] if len(self.chunks) == 1 else b"".join(self.chunks)
            if len(body) > STREAM_ABOVE:
                client.write(self._head(len(body)))
                client.write(body, not req.keep_alive)
            else:
                client.write(self._head(len(body)) + body, not req.keep_alive)
        capture = client.proxy.routes.capture
        if self.sampled and capture is not None:
            capture.record(inst.variant, req.body, _text(req.content_type), body, _text(self.content_type),
                           _text(req.inference_id))
        client.finished(self)

    def on_lost(self, conn: _Upstream) -> None:
        """The instance's connection closed (or sent nonsense) before the response was complete."""
        if self.done:
            return
        inst, self.conn = self.inst, None
        assert inst is not None
        inst.inflight -= 1
        if self.streaming:  # part of the answer is out: the client's connection cannot be used any more
            self.done = True
            self.client.abort()
            self.client.finished(self)
            return
        if not conn.reused:
            self.tries += 1
            if inst.port == conn.port:
                inst.healthy = False
        # A kept-alive connection the instance was closing: try again, counting no failure.
        self._again()

    def timed_out(self) -> None:
        if self.done:
            return
        self.done = True
        conn, self.conn = self.conn, None
        if self.inst is not None:
            self.inst.inflight -= 1
        if conn is not None:
            conn.exchange = None
            conn.abort()
        if self.streaming:
            self.client.abort()
        else:
            timeout = self.client.proxy.timeout
            self.client.write(_json(424, "ModelError", f"the instance did not answer within {timeout:g} s "
                                    "(MLYARD_ENDPOINT_TIMEOUT)"), not self.req.keep_alive)
        self.client.finished(self)

    def pause_upstream(self, pause: bool) -> None:
        if self.conn is not None:
            self.conn.pause(pause)


async def _open(pool: Pool, host: str, port: int, name: str | None) -> _Upstream:
    loop = asyncio.get_running_loop()
    if name is None:
        _, conn = await loop.create_connection(lambda: _Upstream(pool, port), host, port)
        return conn
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.setblocking(False)
        await loop.sock_connect(sock, "\0" + name[1:] if name.startswith("@") else name)
        _, conn = await loop.create_unix_connection(lambda: _Upstream(pool, port), sock=sock)
    except BaseException:
        sock.close()
        raise
    return conn


def _text(value: bytes | None) -> str | None:
    return value.decode("latin-1") if value is not None else None


class _Upstream(asyncio.Protocol):
    """A kept-alive connection to one instance, one request at a time."""

    def __init__(self, pool: Pool, port: int) -> None:
        self.pool = pool
        self.port = port
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.exchange: _Exchange | None = None
        self.closed = False
        self.reused = False  # has answered a request before
        self.used = 0.0
        self.complete = False
        self.keep_alive = True
        self.content_type: bytes | None = None
        self.length: int | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses

    def write(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.abort()  # connection_lost tells the exchange
            return
        if self.complete:
            self.complete = False
            exchange, self.exchange = self.exchange, None
            self.reused = True
            if self.keep_alive and not self.closed:
                self.pool.put(self)
            else:
                self.close()
            if exchange is not None:
                exchange.on_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool.discard(self)
        exchange, self.exchange = self.exchange, None
        if exchange is not None:
            exchange.on_lost(self)

    # -- httptools callbacks ------------------------------------------------------------------------
    def on_message_begin(self) -> None:
        self.content_type, self.length = None, None

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name == b"content-type":
            self.content_type = value
        elif name == b"content-length":
            self.length = int(value)

    def on_headers_complete(self) -> None:
        self.keep_alive = self.parser.should_keep_alive()
        if self.exchange is not None:
            self.exchange.on_head(self.parser.get_status_code(), self.content_type, self.length)

    def on_body(self, body: bytes) -> None:
        if self.exchange is not None:
            self.exchange.on_body(body)

    def on_message_complete(self) -> None:
        self.complete = True

    def pause(self, pause: bool) -> None:
        if self.transport is not None and not self.closed:
            if pause:
                self.transport.pause_reading()
            else:
                self.transport.resume_reading()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()
