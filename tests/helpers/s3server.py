"""A real S3-compatible server for tests: moto's standalone server in a child process.

Why a child process and not ``moto.server.ThreadedMotoServer`` in this process (both shut
down cleanly; werkzeug answers every request with ``Connection: close``, so no handler thread
waits on a kept-alive socket): moto's request handling is CPU-bound Python, and in this
process it would compete for the GIL with the code under test (latency probes, the benchmark's
scheduler); moto's in-process state would also be shared with any ``moto.mock_aws`` a test
uses. A child process costs about half a second once per session.

Shutdown protocol: the child serves until its stdin reaches EOF; :meth:`MotoS3Server.stop`
closes the pipe (and the child also exits if the test process dies, since the pipe closes
then too), then waits; ``terminate``/``kill`` are fallbacks only.

Credentials are fake: moto accepts any key/secret. Pass them explicitly with
:meth:`MotoS3Server.storage_options` rather than through the environment, so a test never
depends on (or leaks into) ``AWS_*`` variables or ``~/.aws``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
FAKE_KEY = "chunkpilot-test-key"
FAKE_SECRET = "chunkpilot-test-secret"

# Run in the child: start moto on a free port, print it, serve until stdin closes, then exit
# at once (exit code 0); the OS closes the listening socket and any open connection. (A
# graceful ThreadedMotoServer.stop() would wait up to werkzeug's 0.5 s poll interval.)
_CHILD = r"""
import logging, os, sys
logging.getLogger("werkzeug").setLevel(logging.ERROR)
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address=sys.argv[1], port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
sys.stdin.read()  # EOF: the parent closed the pipe (stop) or died
os._exit(0)
"""


def storage_options(endpoint_url: str, **extra: Any) -> dict[str, Any]:
    """s3fs ``storage_options`` for a moto (or moto-behind-a-proxy) endpoint.

    The minimal set: fake ``key``/``secret`` and a top-level ``endpoint_url`` (s3fs also
    accepts ``client_kwargs={"endpoint_url": ...}``; both work with s3fs 2026.x). No region:
    botocore then signs for us-east-1, which moto accepts.
    """
    opts: dict[str, Any] = {"key": FAKE_KEY, "secret": FAKE_SECRET, "endpoint_url": endpoint_url}
    opts.update(extra)
    return opts


def port_is_open(port: int, host: str = HOST) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def wait_port_closed(port: int, timeout: float = 5.0) -> bool:
    """Wait until nothing listens on ``port``; True if it closed within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while port_is_open(port):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


class MotoS3Server:
    """moto's S3 server on 127.0.0.1:<free port> in a child process.

    >>> server = MotoS3Server()  # doctest: +SKIP
    >>> with server:  # doctest: +SKIP
    ...     s3fs.S3FileSystem(**server.storage_options()).mkdir("bucket")
    """

    def __init__(self, startup_timeout: float = 60.0) -> None:
        self.startup_timeout = startup_timeout
        self.port: int | None = None
        self._proc: subprocess.Popen[str] | None = None
        self._log: Any = None
        self.returncode: int | None = None  # the child's exit code after stop(); 0 = clean

    @property
    def endpoint_url(self) -> str:
        if self.port is None:
            raise RuntimeError("MotoS3Server is not running; call start() first")
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def storage_options(self, **extra: Any) -> dict[str, Any]:
        return storage_options(self.endpoint_url, **extra)

    def start(self) -> MotoS3Server:
        if self._proc is not None:
            return self
        # the server's stderr goes to a temp file, shown if it fails to start
        self._log = tempfile.TemporaryFile(mode="w+", prefix="moto-server-")  # noqa: SIM115 - closed by stop()
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _CHILD, HOST],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log,
            text=True, env=env, close_fds=True,
        )
        line = _readline_with_timeout(self._proc, self.startup_timeout)
        if not line.strip().isdigit():
            self.stop()
            raise RuntimeError(f"moto server did not start: {line!r}\n{self._read_log()}")
        self.port = int(line)
        return self

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                if proc.stdin is not None:
                    proc.stdin.close()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.terminate()
                    try:
                        proc.wait(timeout=5)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()
                self.returncode = proc.returncode
            finally:
                if proc.stdout is not None:
                    proc.stdout.close()
        if self._log is not None:
            self._log.close()
            self._log = None
        _clear_s3fs_cache()

    def reset(self) -> None:
        """Drop every bucket and object (moto's ``/moto-api/reset``)."""
        import urllib.request

        req = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(req, timeout=10) as resp:
            resp.read()

    def _read_log(self) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read()[-4000:]

    def __enter__(self) -> MotoS3Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _readline_with_timeout(proc: subprocess.Popen[str], timeout: float) -> str:
    """First stdout line of ``proc``, or '' if it exits or stays silent for ``timeout`` s."""
    import selectors

    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            return ""
    return proc.stdout.readline()


def _clear_s3fs_cache() -> None:
    """Forget cached s3fs instances: their pooled connections point at a server now gone."""
    mod = sys.modules.get("s3fs")
    if mod is not None:
        mod.S3FileSystem.clear_instance_cache()


def new_bucket_name(prefix: str = "cp") -> str:
    """A unique, valid S3 bucket name (lower case, 3-63 chars)."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def s3fs_for(opts: dict[str, Any]) -> Any:
    """A fresh (uncached) ``s3fs.S3FileSystem`` for ``opts``."""
    import s3fs

    return s3fs.S3FileSystem(skip_instance_cache=True, **opts)


def create_bucket(opts: dict[str, Any], name: str | None = None) -> str:
    """Create a bucket on the endpoint in ``opts``; returns its name."""
    name = name or new_bucket_name()
    # not fs.mkdir: it sends the client's region as LocationConstraint, and S3 (and moto)
    # reject LocationConstraint=us-east-1 when a region is configured in the environment
    fs = s3fs_for(opts)
    fs.call_s3("create_bucket", Bucket=name)
    fs.invalidate_cache()
    return name


def upload(opts: dict[str, Any], local: str | os.PathLike[str], remote: str) -> str:
    """Upload a file or a whole directory tree (e.g. a zarr store) to ``bucket/key``.

    Returns the ``s3://bucket/key`` URL. Directories are copied file by file, keeping the
    relative layout, so a zarr v3 store arrives with ``zarr.json`` and ``c/...`` keys intact.
    """
    fs = s3fs_for(opts)
    local = Path(local)
    remote = remote.removeprefix("s3://").rstrip("/")
    if local.is_dir():
        files = sorted(p for p in local.rglob("*") if p.is_file())
        fs.put([str(p) for p in files],
               [f"{remote}/{p.relative_to(local).as_posix()}" for p in files])
    else:
        fs.put_file(str(local), remote)
    return f"s3://{remote}"
