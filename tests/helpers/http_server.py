"""Serve a directory over HTTP on 127.0.0.1:<free port>, with byte-range support.

``http.server.SimpleHTTPRequestHandler`` ignores ``Range`` headers and always answers with the
whole file; fsspec's HTTP file objects read with range requests (and refuse a server that
answers a range with a longer body), so h5py over HTTP needs ranges. :class:`RangeRequestHandler`
adds single ranges (``bytes=a-b``, ``bytes=a-``, ``bytes=-n``) answered with ``206`` and
``Content-Range``; ``416`` for ranges past the end; anything else (several ranges) falls back
to the whole file, which HTTP allows.

The server is a ``ThreadingHTTPServer`` in a daemon thread. By default it speaks HTTP/1.0 (the
connection closes after each answer), so no handler thread outlives :meth:`HTTPDirServer.stop`,
which shuts the server down, closes the socket and joins every handler thread. With
``keep_alive=True`` it speaks HTTP/1.1 and keeps connections open between requests (as S3 and
most HTTP servers do); an idle connection is then closed by the server after
``idle_timeout`` seconds, which bounds how long ``stop()`` waits for a client that still holds
one open.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HOST = "127.0.0.1"
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class RangeRequestHandler(SimpleHTTPRequestHandler):
    """``SimpleHTTPRequestHandler`` plus single byte ranges; logs nothing.

    Nagle's algorithm is off (as in real servers): the headers and the body are two writes,
    and on a kept-alive connection the body would otherwise wait for the client's delayed ACK
    (~40 ms on Linux), a latency no test injected.
    """

    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def send_head(self):  # type: ignore[no-untyped-def]
        self._range: tuple[int, int] | None = None
        header = self.headers.get("Range")
        path = self.translate_path(self.path)
        if header is None or os.path.isdir(path):
            return super().send_head()
        m = _RANGE.match(header.strip())
        if not m or (m.group(1) == "" and m.group(2) == ""):
            return super().send_head()  # several ranges or junk: the whole file is allowed
        try:
            f = open(path, "rb")  # noqa: SIM115 - returned to the caller, closed by do_GET
        except OSError:
            self.send_error(HTTPStatus.NOT_FOUND, "File not found")
            return None
        size = os.fstat(f.fileno()).st_size
        first, last = m.group(1), m.group(2)
        if first == "":  # suffix: the last n bytes
            start, end = max(0, size - int(last)), size - 1
        else:
            start, end = int(first), (size - 1 if last == "" else min(int(last), size - 1))
        if start >= size or start > end:
            f.close()
            self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        self.send_response(HTTPStatus.PARTIAL_CONTENT)
        self.send_header("Content-Type", self.guess_type(path))
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        self._range = (start, end)
        return f

    def end_headers(self) -> None:
        self.send_header("Accept-Ranges", "bytes")  # on every answer, errors included: harmless
        super().end_headers()

    def copyfile(self, source, outputfile):  # type: ignore[no-untyped-def]
        rng = getattr(self, "_range", None)
        if rng is None:
            return shutil.copyfileobj(source, outputfile)
        start, end = rng
        source.seek(start)
        left = end - start + 1
        while left > 0:
            buf = source.read(min(left, 1 << 16))
            if not buf:
                break
            outputfile.write(buf)
            left -= len(buf)
        return None


class _Server(ThreadingHTTPServer):
    # server_close() joins the handler threads, but socketserver tracks only non-daemon ones
    # (``_Threads.append`` drops daemon threads): with daemon handlers a thread could still be
    # finishing its request after stop() (CI saw one in test_servers_stop_cleanly). A handler
    # ends when its connection closes, or after ``idle_timeout`` on a kept-alive one.
    daemon_threads = False
    block_on_close = True
    # socketserver's default backlog is 5: zarr fetches a dozen chunks at once, the kernel
    # drops the SYNs past the backlog and the client retries them a second later
    request_queue_size = 128


class HTTPDirServer:
    """Serve ``directory`` at ``http://127.0.0.1:<port>/``.

    >>> with HTTPDirServer("/some/dir") as srv:  # doctest: +SKIP
    ...     fsspec.open(srv.url + "/data.nc", "rb")
    """

    def __init__(self, directory: str | os.PathLike[str], keep_alive: bool = False,
                 idle_timeout: float = 2.0) -> None:
        self.directory = os.fspath(directory)
        self.keep_alive = keep_alive
        self.idle_timeout = idle_timeout
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("HTTPDirServer is not running; call start() first")
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> HTTPDirServer:
        if self._server is not None:
            return self
        cls: type[RangeRequestHandler] = RangeRequestHandler
        if self.keep_alive:
            cls = type("KeepAliveRangeRequestHandler", (RangeRequestHandler,),
                       {"protocol_version": "HTTP/1.1", "timeout": self.idle_timeout})
        handler = partial(cls, directory=self.directory)
        self._server = _Server((HOST, 0), handler)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name=f"http-dir-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=10)

    def __enter__(self) -> HTTPDirServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
