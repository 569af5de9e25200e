"""pytest fixtures: a local S3 server with sample data, a latency proxy, an HTTP server.

Use from a test folder's ``conftest.py``::

    from tests.helpers.fixtures import *  # noqa: F401,F403

or register once for the whole suite in ``tests/conftest.py``::

    pytest_plugins = ["helpers.fixtures"]

Scopes: the moto server is started once per session (the first test that needs it starts it,
before ``conftest.no_leaked_processes`` takes its snapshot, since higher-scoped fixtures are set
up first), buckets, sample uploads, proxies and HTTP servers once per module. Every server is
stopped by its fixture: nothing listens on a port after the session.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from . import data
from .delay_proxy import DelayProxy
from .http_server import HTTPDirServer
from .s3server import MotoS3Server, create_bucket, s3fs_for, storage_options, upload

__all__ = [
    "DelayedS3",
    "HTTPSample",
    "S3Bucket",
    "aws_env_isolated",
    "delayed_s3",
    "http_dir_server",
    "http_sample",
    "s3_bucket",
    "s3_sample",
    "s3_server",
    "sample_dir",
]


@dataclass
class S3Bucket:
    """A bucket on the local S3 server (or reached through a delaying proxy)."""

    name: str
    endpoint_url: str
    storage_options: dict[str, Any]
    local: dict[str, Path] = field(default_factory=dict)  # sample name -> local source

    def url(self, key: str = "") -> str:
        """``s3://<bucket>/<key>``."""
        return f"s3://{self.name}/{key}".rstrip("/")

    def fs(self) -> Any:
        """A fresh ``s3fs.S3FileSystem`` for this endpoint."""
        return s3fs_for(self.storage_options)

    def upload(self, local: str | os.PathLike[str], key: str) -> str:
        """Upload a file or a directory tree (a zarr store) to ``key``; returns its URL."""
        return upload(self.storage_options, local, f"{self.name}/{key}")

    def via(self, endpoint_url: str) -> S3Bucket:
        """The same bucket reached through another endpoint (e.g. a :class:`DelayProxy`)."""
        return S3Bucket(self.name, endpoint_url, storage_options(endpoint_url), self.local)

    # the sample objects (present on ``s3_sample``)
    @property
    def zarr_url(self) -> str:
        return self.url(data.ZARR_NAME)

    @property
    def group_url(self) -> str:
        return self.url(data.ZARR_GROUP_NAME)

    @property
    def nc_url(self) -> str:
        return self.url(data.NC_NAME)


@dataclass
class HTTPSample:
    """The sample directory served over HTTP."""

    url: str  # http://127.0.0.1:<port>
    server: HTTPDirServer
    local: dict[str, Path]

    @property
    def zarr_url(self) -> str:
        return f"{self.url}/{data.ZARR_NAME}"

    @property
    def group_url(self) -> str:
        return f"{self.url}/{data.ZARR_GROUP_NAME}"

    @property
    def nc_url(self) -> str:
        return f"{self.url}/{data.NC_NAME}"


@dataclass
class DelayedS3:
    """An S3 endpoint behind a :class:`DelayProxy` adding ``latency_s`` per request."""

    latency_s: float
    proxy: DelayProxy
    endpoint_url: str
    storage_options: dict[str, Any]


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Local sample inputs: ``data.zarr`` (v3 array), ``group.zarr`` (v3 group), ``data.nc``."""
    return data.make_all(tmp_path_factory.mktemp("samples"))


@pytest.fixture(scope="session")
def s3_server() -> Iterator[MotoS3Server]:
    """moto's S3 server on 127.0.0.1 in a child process, for the whole session."""
    with MotoS3Server() as server:
        yield server


@pytest.fixture(scope="module")
def s3_bucket(s3_server: MotoS3Server) -> S3Bucket:
    """A new, empty bucket on the session's server (one per test module)."""
    opts = s3_server.storage_options()
    return S3Bucket(create_bucket(opts), s3_server.endpoint_url, opts)


@pytest.fixture(scope="module")
def s3_sample(s3_server: MotoS3Server, sample_dir: dict[str, Path]) -> S3Bucket:
    """A bucket holding the sample inputs under their names (see :mod:`helpers.data`)."""
    opts = s3_server.storage_options()
    bucket = S3Bucket(create_bucket(opts), s3_server.endpoint_url, opts, dict(sample_dir))
    for name, local in sample_dir.items():
        bucket.upload(local, name)
    return bucket


@pytest.fixture(scope="module")
def delayed_s3(s3_server: MotoS3Server) -> Iterator[Callable[[float], DelayedS3]]:
    """Factory: ``delayed_s3(0.02)`` starts a proxy to the S3 server adding 20 ms per request.

    Each call starts its own proxy; all are stopped at the end of the module.
    """
    proxies: list[DelayProxy] = []

    def make(latency_s: float) -> DelayedS3:
        proxy = DelayProxy(s3_server.port or 0, latency_s).start()
        proxies.append(proxy)
        return DelayedS3(latency_s, proxy, proxy.url, storage_options(proxy.url))

    try:
        yield make
    finally:
        for p in proxies:
            p.stop()


@pytest.fixture(scope="module")
def http_dir_server() -> Iterator[Callable[[str | os.PathLike[str]], HTTPDirServer]]:
    """Factory: ``http_dir_server(path)`` serves ``path`` over HTTP until the module ends."""
    servers: list[HTTPDirServer] = []

    def make(directory: str | os.PathLike[str]) -> HTTPDirServer:
        srv = HTTPDirServer(directory).start()
        servers.append(srv)
        return srv

    try:
        yield make
    finally:
        for s in servers:
            s.stop()


@pytest.fixture(scope="module")
def http_sample(sample_dir: dict[str, Path]) -> Iterator[HTTPSample]:
    """The sample inputs served over HTTP (with byte ranges) on 127.0.0.1."""
    root = next(iter(sample_dir.values())).parent
    with HTTPDirServer(root) as srv:
        yield HTTPSample(srv.url, srv, dict(sample_dir))


@pytest.fixture
def aws_env_isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No AWS credentials or config from the environment or ``~/.aws``, and no EC2 metadata
    look-up (botocore would otherwise try 169.254.169.254 when it finds no credentials)."""
    for k in list(os.environ):
        if k.startswith("AWS_"):
            monkeypatch.delenv(k)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
