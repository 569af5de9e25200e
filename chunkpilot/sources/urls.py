"""Edge: source URLs (``s3://``, ``gs://``, ``az://``, ``http(s)://``; any fsspec protocol).

Parses and validates a URL: a protocol fsspec knows, its package installed (the error names
the chunkpilot extra that installs it), a path after it. Shown through :func:`display_url`.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chunkpilot.errors import InvalidArgumentError, MissingDependencyError
from chunkpilot.sources.storage_options import StorageOptions, display_url

URL_RE = re.compile(r"^(?P<protocol>[A-Za-z][A-Za-z0-9+.\-]*)://(?P<path>.*)$")
#: A ``pathlib.Path`` made from a URL loses one slash: ``Path("s3://b/x")`` is ``s3:/b/x``.
MANGLED_RE = re.compile(r"^(s3|s3a|gs|gcs|az|abfs|abfss|adl|https?|file):/[^/]")
#: Protocol -> (package fsspec needs, chunkpilot extra that installs it).
PROTOCOL_PACKAGES = {
    "s3": ("s3fs", "cloud"), "s3a": ("s3fs", "cloud"),
    "http": ("aiohttp", "cloud"), "https": ("aiohttp", "cloud"),
    "gs": ("gcsfs", "gcs"), "gcs": ("gcsfs", "gcs"),
    "az": ("adlfs", "azure"), "abfs": ("adlfs", "azure"), "abfss": ("adlfs", "azure"),
    "adl": ("adlfs", "azure"),
}
#: Protocols whose first path segment is a bucket / container.
BUCKET_PROTOCOLS = ("s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl")


@dataclass(frozen=True, slots=True)
class RemoteURL:
    """A parsed source URL."""

    url: str
    """The URL as given (may carry a query string; never printed)."""
    protocol: str
    """fsspec protocol, lower case (``s3``, ``https``, ...)."""
    path: str
    """The part after ``PROTOCOL://``."""

    @property
    def display(self) -> str:
        """The URL without user info or query string."""
        return display_url(self.url)

    @property
    def bucket(self) -> str | None:
        """The bucket (container) of an object-store URL, else ``None``."""
        if self.protocol not in BUCKET_PROTOCOLS:
            return None
        return self.path.split("/", 1)[0].split("@", 1)[0] or None


def is_url(source: Any) -> bool:
    """True for a string ``PROTOCOL://...`` (a local path is not a URL)."""
    return isinstance(source, str) and URL_RE.match(source.strip()) is not None


def expand_home(source: Any) -> Any:
    """A local path with ``~`` or ``~user`` expanded, as xarray, zarr and fsspec open it (a
    quoted ``"~/data.zarr"`` reaches us unexpanded by the shell); anything else unchanged.

    >>> import os; expand_home("~/x.zarr") == os.path.join(os.path.expanduser("~"), "x.zarr")
    True
    >>> expand_home("s3://b/~x"), expand_home("data/~x.zarr")
    ('s3://b/~x', 'data/~x.zarr')
    """
    if not isinstance(source, (str, os.PathLike)) or is_url(source):
        return source
    text = os.fspath(source)
    if not isinstance(text, str) or not text.startswith("~"):
        return source
    expanded = os.path.expanduser(text)
    return expanded if isinstance(source, str) else Path(expanded)


def mangled_url(source: Any) -> str | None:
    """The URL a ``pathlib.Path`` was made from (``s3:/b/x`` -> ``s3://b/x``), if it looks so."""
    text = str(source)
    if MANGLED_RE.match(text) is None:
        return None
    proto, _, rest = text.partition(":/")
    return f"{proto}://{rest}"


def parse_url(url: str) -> RemoteURL:
    """Validate a source URL (protocol known and installed, a path after it)."""
    m = URL_RE.match(url.strip())
    if m is None:
        raise InvalidArgumentError(
            f"Expected a URL like s3://BUCKET/PATH. Got {display_url(url)!r} instead.")
    protocol, path = m.group("protocol").lower(), m.group("path")
    check_protocol(protocol, url)
    parsed = RemoteURL(url.strip(), protocol, path)
    if not path.strip("/") or (protocol in ("http", "https") and not path.split("/")[0]):
        what = "BUCKET/PATH" if protocol in BUCKET_PROTOCOLS else "HOST/PATH"
        raise InvalidArgumentError(
            f"Expected a URL like {protocol}://{what}. Got {parsed.display!r} instead.")
    return parsed


def check_protocol(protocol: str, url: str = "") -> None:
    """Raise for an unknown protocol, or a known one whose package is not installed."""
    import fsspec

    if protocol not in fsspec.available_protocols():
        raise InvalidArgumentError(
            f"Expected a URL with a protocol fsspec knows (s3://, gs://, az://, https://, "
            f"file://, ...). Got {protocol}:// in {display_url(url)!r} instead.")
    package, extra = PROTOCOL_PACKAGES.get(protocol, (None, None))
    try:
        if package is not None:
            importlib.import_module(package)
        fsspec.get_filesystem_class(protocol)
    except ImportError as e:
        name = package or getattr(e, "name", None) or "its package"
        how = f'pip install "chunkpilot[{extra}]"' if extra else f"pip install {name}"
        raise MissingDependencyError(
            f"Expected {name} to read {protocol}:// URLs. Got no {name} installed: {how}") from None


def endpoint_of(parsed: RemoteURL, opts: StorageOptions) -> str:
    """Where requests go (for messages): ``endpoint_url``, the HTTP host, or the default."""
    ep = opts.get("endpoint_url") or (opts.get("client_kwargs") or {}).get("endpoint_url")
    if ep:
        return display_url(str(ep))
    if parsed.protocol in ("http", "https"):
        return f"{parsed.protocol}://{parsed.path.split('/')[0].rpartition('@')[2]}"
    return f"the default {parsed.protocol}:// endpoint"


def reader_modules(url: str) -> tuple[str, ...]:
    """The modules a process imports to read ``url`` (chunkpilot's readers and the fsspec
    filesystem's package), for a sandbox spawner to import once for all its samples.

    Examples
    --------
    >>> reader_modules("s3://bucket/a.zarr")
    ('chunkpilot.sources.array_readers', 's3fs')
    """
    from fsspec.registry import known_implementations

    impl = known_implementations.get(parse_url(url).protocol, {})
    package = str(impl.get("class", "")).rpartition(".")[0].split(".")[0]
    return ("chunkpilot.sources.array_readers",) + ((package,) if package else ())


#: Modules a process imports to read a local store (``import zarr`` took 0.13-0.35 s).
STORE_READERS = {"zarr": ("zarr",), "hdf5": ("h5py",)}


def reader_preload(source: Mapping[str, Any]) -> tuple[str, ...]:
    """The modules a sandbox spawner imports once for all the samples of ``source`` (a
    ``sources.describe`` reference): its URL's readers, or its local store's package.

    Examples
    --------
    >>> reader_preload({"kind": "zarr", "path": "a.zarr"})
    ('zarr',)
    >>> reader_preload({"kind": "synthetic"})
    ()
    """
    if source.get("kind") == "remote":
        return reader_modules(source["url"])
    return STORE_READERS.get(str(source.get("kind")), ())
