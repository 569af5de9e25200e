"""A delaying TCP proxy: forwards 127.0.0.1:<free port> to an upstream and adds latency per request.

HTTP clients (s3fs/aiobotocore, aiohttp, requests) keep connections alive and send many
requests over one connection, so a delay per *connection* would be paid once and then vanish.
This proxy delays per *request*: on each connection, the first bytes the client sends after the
server has answered (or the first bytes on a new connection) are held for ``latency_s`` before
they are forwarded. Later bytes of the same request (more header or body segments) pass
without another delay, because the server has not spoken in between. With HTTP/1.1 and no
pipelining (what these clients do), that is exactly one delay per request/response exchange,
i.e. an added round-trip time of ``latency_s``.

moto's server (werkzeug) answers every request with ``Connection: close``, so against moto
each request is also a new connection; the per-request rule is what keeps the delay right
against servers that keep connections alive (``HTTPDirServer(keep_alive=True)``, real S3).

One caveat: a request sent with ``Expect: 100-continue`` is two exchanges (headers, then body
after the server's ``100 Continue``) and pays the delay twice. botocore uses it for large
uploads only; reads (GET with a Range header, HEAD, LIST) pay it once.

The proxy runs an asyncio loop in one daemon thread. :meth:`DelayProxy.stop` closes the
listening socket and every open connection, stops the loop and joins the thread.
``latency_s`` may be changed while it runs; new requests see the new value.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any

HOST = "127.0.0.1"
_BUF = 256 * 1024


class DelayProxy:
    """Forward ``127.0.0.1:<port>`` to ``upstream_host:upstream_port`` with per-request delay.

    >>> with DelayProxy(upstream_port=9000, latency_s=0.02) as p:  # doctest: +SKIP
    ...     url = p.url  # http://127.0.0.1:<port>
    """

    def __init__(self, upstream_port: int, latency_s: float = 0.0,
                 upstream_host: str = HOST) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.latency_s = float(latency_s)
        self.port: int | None = None
        self.requests = 0  # delayed client messages seen so far (≈ HTTP requests)
        self.connections = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("DelayProxy is not running; call start() first")
        return f"http://{HOST}:{self.port}"

    def start(self) -> DelayProxy:
        if self._thread is not None:
            return self
        self._thread = threading.Thread(target=self._run, name=f"delay-proxy-{id(self):x}",
                                        daemon=True)
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None or self.port is None:
            self.stop()
            raise RuntimeError(f"delay proxy did not start: {self._error!r}")
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            fut = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
            with contextlib.suppress(Exception):
                fut.result(timeout=10)
            loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(timeout=10)
        self._thread = None

    def __enter__(self) -> DelayProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- inside the loop thread -------------------------------------------------------------

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            self._server = loop.run_until_complete(
                asyncio.start_server(self._handle, HOST, 0, reuse_address=True))
            self.port = self._server.sockets[0].getsockname()[1]
        except BaseException as e:  # reported by start()
            self._error = e
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            # connections accepted while stopping start handlers after _shutdown's snapshot:
            # finish every task here, or one is collected after the loop closed (an error
            # pytest then pins on whichever test runs next)
            pending = asyncio.all_tasks(loop)
            for t in pending:
                t.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for w in list(self._writers):
            w.close()
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _handle(self, c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(c_writer)
        self.connections += 1
        u_writer: asyncio.StreamWriter | None = None
        try:
            u_reader, u_writer = await asyncio.open_connection(*self.upstream)
            self._writers.add(u_writer)
            # True when the server has sent bytes since the client last did: the next
            # client bytes start a new request and are delayed.
            state = {"server_spoke": True}
            up = asyncio.ensure_future(self._client_to_server(c_reader, u_writer, state))
            down = asyncio.ensure_future(self._server_to_client(u_reader, c_writer, state))
            try:
                await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
                if up.done() and not down.done() and up.exception() is None:
                    # the client half-closed: pass the EOF on, let the answer come back
                    if u_writer.can_write_eof():
                        u_writer.write_eof()
                    await down
            finally:
                for t in (up, down):
                    t.cancel()
                await asyncio.gather(up, down, return_exceptions=True)
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            for w in (c_writer, u_writer):
                if w is not None:
                    self._writers.discard(w)
                    w.close()
                    with contextlib.suppress(Exception):
                        await w.wait_closed()
            self._tasks.discard(task)

    async def _client_to_server(self, reader: asyncio.StreamReader,
                                writer: asyncio.StreamWriter, state: dict[str, bool]) -> None:
        while data := await reader.read(_BUF):
            if state["server_spoke"]:
                state["server_spoke"] = False
                self.requests += 1
                if self.latency_s > 0:
                    await asyncio.sleep(self.latency_s)
            writer.write(data)
            await writer.drain()

    async def _server_to_client(self, reader: asyncio.StreamReader,
                                writer: asyncio.StreamWriter, state: dict[str, bool]) -> None:
        while data := await reader.read(_BUF):
            state["server_spoke"] = True
            writer.write(data)
            await writer.drain()
