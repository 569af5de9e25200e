"""Edge: filesystems and zarr stores for source URLs, read-only, with clear errors.

Turns a URL and ``storage_options`` into an fsspec filesystem or zarr's ``FsspecStore``; the
first look at a store fails fast (one attempt per request) and says whether the bucket or
the path is missing. URL parsing lives in :mod:`chunkpilot.sources.urls`, error translation
in :mod:`chunkpilot.sources.remote_errors`.
"""

from __future__ import annotations

import contextlib
from typing import Any

from chunkpilot.errors import ChunkpilotError, StoreNotFoundError
from chunkpilot.sources.remote_errors import connection_cause, remote_errors, translate
from chunkpilot.sources.storage_options import StorageOptions, display_url
from chunkpilot.sources.urls import (
    RemoteURL,
    endpoint_of,
    is_url,
    mangled_url,
    parse_url,
)
from chunkpilot.types import ArraySpec, SourceRef

__all__ = ["RemoteURL", "close_sessions", "filesystem", "is_url", "mangled_url", "open_zarr",
           "parse_url", "remote_errors", "remote_ref", "translate"]

#: For the first (metadata) requests of s3: fail in ~0.5 s on a dead endpoint instead of
#: botocore's and s3fs's retries with backoff (5-7 s).
FAIL_FAST_S3 = {"retries": {"max_attempts": 1}, "connect_timeout": 10}


def fail_fast(parsed: RemoteURL, opts: StorageOptions) -> StorageOptions:
    """``opts`` with one attempt per request for s3 (first look at a store; errors come fast)."""
    if parsed.protocol not in ("s3", "s3a"):
        return opts
    config = dict(opts.get("config_kwargs") or {})
    for k, v in FAIL_FAST_S3.items():
        config.setdefault(k, v)
    return opts.with_options(config_kwargs=config)


def filesystem(parsed: RemoteURL, opts: StorageOptions, *, fast: bool = False) -> Any:
    """A fresh fsspec filesystem for ``parsed`` (its own connections; not fsspec's cache)."""
    import fsspec

    use = fail_fast(parsed, opts) if fast else opts
    with remote_errors(parsed, opts):
        return fsspec.filesystem(parsed.protocol, skip_instance_cache=True, **use.as_dict())


def fs_path(parsed: RemoteURL) -> str:
    """The path the filesystem takes (no protocol; HTTP keeps the whole URL)."""
    return parsed.url if parsed.protocol in ("http", "https") else parsed.path.rstrip("/")


def check_exists(fs: Any, parsed: RemoteURL, opts: StorageOptions) -> dict[str, Any]:
    """``fs.info`` of the URL's object or prefix; a missing bucket or path is a clear error."""
    with remote_errors(parsed, opts):
        try:
            return dict(fs.info(fs_path(parsed)))
        except FileNotFoundError as e:
            if connection_cause(e) is not None:
                raise
            raise missing(fs, parsed, opts, e) from None


def missing(fs: Any, parsed: RemoteURL, opts: StorageOptions, error: BaseException | None = None
            ) -> ChunkpilotError:
    """The error for "nothing at this URL": the bucket is missing, or the path in it."""
    bucket = parsed.bucket
    text = str(error or "")
    no_bucket = "bucket does not exist" in text
    if bucket and not no_bucket:
        with contextlib.suppress(Exception):
            no_bucket = not fs.exists(bucket)
    if bucket and no_bucket:
        return StoreNotFoundError(
            f"Expected an existing bucket {bucket!r} for {parsed.display}. Got no such bucket "
            f"at {endpoint_of(parsed, opts)}.")
    return StoreNotFoundError(
        f"Expected a zarr store or an HDF5/netCDF4 file at {parsed.display}. Got nothing there "
        "(no object, and no zarr.json/.zarray/.zgroup).")


#: Metadata documents a zarr store has at its root (v3; v2 group; v2 array).
ZARR_METADATA = ("zarr.json", ".zgroup", ".zarray")


def check_zarr_metadata(fs: Any, parsed: RemoteURL, opts: StorageOptions) -> str:
    """The first zarr metadata document at ``parsed``, read one at a time with a plain
    filesystem: access and connection errors come out clean here, before zarr's concurrent
    requests (whose abandoned siblings would print tracebacks at exit)."""
    root = fs_path(parsed)
    with remote_errors(parsed, opts):
        for name in ZARR_METADATA:
            try:
                fs.cat_file(f"{root}/{name}", start=0, end=1)
                return name
            except FileNotFoundError as e:
                if connection_cause(e) is not None:
                    raise
    raise missing(fs, parsed, opts)


def import_zarr_store() -> Any:
    """zarr's ``FsspecStore`` class."""
    from zarr.storage import FsspecStore

    return FsspecStore


def open_zarr(parsed: RemoteURL, opts: StorageOptions, zarr_format: int | None = None) -> Any:
    """The zarr node (array or group) at ``parsed``, read-only, through zarr's FsspecStore
    (``zarr_format`` known: no round trips looking for the other format's metadata)."""
    import zarr
    from zarr.errors import ArrayNotFoundError, GroupNotFoundError, NodeNotFoundError

    with remote_errors(parsed, opts):
        store = import_zarr_store().from_url(parsed.url, storage_options=opts.as_dict(),
                                             read_only=True)
        try:
            return zarr.open(store=store, mode="r", zarr_format=zarr_format)
        except (ArrayNotFoundError, GroupNotFoundError, NodeNotFoundError, FileNotFoundError) as e:
            if connection_cause(e) is not None:
                raise
            raise missing(store.fs, parsed, opts) from None


def fsspec_store_url(store: Any) -> tuple[str, StorageOptions] | None:
    """(URL, options) of a zarr ``FsspecStore`` over a remote filesystem, else ``None``."""
    fs = getattr(store, "fs", None)
    if fs is None or type(store).__name__ != "FsspecStore":
        return None
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    if protocol in ("file", "local", "memory"):
        return None
    opts = {k: v for k, v in (fs.storage_options or {}).items()
            if k not in ("asynchronous", "loop")}
    return fs.unstrip_protocol(store.path), StorageOptions(opts)


def remote_ref(fmt: str, url: str, array: str | None, opts: StorageOptions, spec: ArraySpec,
               **extra: Any) -> SourceRef:
    """The sample-block reference of a store at a URL (read by sandboxes and workers)."""
    layout = (f"storage chunks {spec.storage_chunks}" if spec.storage_chunks else "contiguous")
    note = f"Samples were cut from {display_url(url)} ({layout}), read through fsspec."
    return {"kind": "remote", "format": fmt, "url": url, "array": array,
            "storage_options": opts, "notes": (note,), **extra}


def close_sessions() -> None:
    """Close the client sessions of fsspec's cached asynchronous filesystems: zarr's
    FsspecStore makes them on zarr's event loop and nothing closes them, so each would report
    itself as an "Unclosed client session" on stderr at exit. Only filesystems already
    imported can hold one: importing s3fs (botocore) just to look took 0.3 s of every CLI
    call, a one-line error included."""
    from fsspec.registry import registry  # the filesystem classes imported so far

    for protocol in ("s3", "http", "gs", "az"):
        cls = registry.get(protocol)
        if cls is None:
            continue
        for fs in list(getattr(cls, "_cache", {}).values()):
            if getattr(fs, "asynchronous", False):
                with contextlib.suppress(Exception):
                    _close_async_session(fs)
        cls.clear_instance_cache()


def _close_async_session(fs: Any) -> None:
    from zarr.core.sync import sync

    s3 = getattr(fs, "_s3", None)
    if s3 is not None:
        sync(s3.__aexit__(None, None, None))
        fs._s3 = None
    session = getattr(fs, "_session", None)
    if session is not None and not session.closed:
        sync(session.close())
