"""Edge: describe a dataset inside an HDF5 / netCDF4 file with h5py, read-only."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from chunkpilot.dtypes import check_dtype, is_data
from chunkpilot.errors import (
    InvalidArgumentError,
    StoreNotFoundError,
    StoreReadError,
)
from chunkpilot.sources.cf import decoded_dtype
from chunkpilot.sources.optional import import_optional
from chunkpilot.sources.remote import (
    RemoteURL,
    check_exists,
    filesystem,
    fs_path,
    parse_url,
    remote_errors,
    remote_ref,
)
from chunkpilot.sources.storage_options import StorageOptions
from chunkpilot.types import ArraySpec

#: File name endings read as HDF5 (netCDF4 files are HDF5 files).
HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf", ".he5", ".nc", ".nc4", ".netcdf")
#: HDF5 superblock signature; it sits at offset 0, 512, 1024, 2048, ... (user block).
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def import_h5py() -> Any:
    """``h5py``, or a :class:`MissingDependencyError` with the install command."""
    return import_optional("h5py", "to read HDF5/netCDF4 files", "hdf5")


def looks_like_hdf5(path: Path) -> bool:
    """True for an HDF5-suffixed path or a file with the HDF5 signature (no h5py needed)."""
    if path.suffix.lower() in HDF5_SUFFIXES:
        return True
    if not path.is_file():
        return False
    with path.open("rb") as f:
        head = f.read(4096)
    return any(head[o:o + 8] == HDF5_SIGNATURE for o in (0, 512, 1024, 2048))


def _check_signature(path: Path) -> None:
    with path.open("rb") as f:
        check_head(f.read(4096), str(path))


def check_head(head: bytes, where: str) -> None:
    """Raise :class:`StoreReadError` unless ``head`` (a file's first 4 KiB) is HDF5's."""
    if head[:3] == b"CDF":
        raise StoreReadError(
            f"Expected an HDF5-based file (netCDF4) at {where!r}. Got a netCDF3 classic file, "
            "which h5py cannot read: open it with xarray and pass the DataArray instead."
        )
    if not any(head[o:o + 8] == HDF5_SIGNATURE for o in (0, 512, 1024, 2048)):
        raise StoreReadError(
            f"Expected an HDF5/netCDF4 file at {where!r}. Got a file without the HDF5 "
            f"signature (starts with {head[:8]!r})."
        )


def _is_data(obj: Any, h5py: Any) -> bool:
    """A numeric dataset with data that is not a netCDF dimension / coordinate scale."""
    if not isinstance(obj, h5py.Dataset) or not is_data(obj.dtype, obj.shape):
        return False
    cls = obj.attrs.get("CLASS")
    return (cls.decode() if isinstance(cls, bytes) else str(cls)) != "DIMENSION_SCALE"


def list_datasets(f: Any) -> list[str]:
    """Names of the numeric data variables of an open file (dimension scales left out)."""
    h5py = import_h5py()
    names: list[str] = []
    f.visititems(lambda name, obj: names.append(name) if _is_data(obj, h5py) else None)
    return sorted(names)


def dataset_dims(dset: Any) -> tuple[str, ...] | None:
    """netCDF4 dimension names from attached dimension scales (or labels), if every axis has one."""
    out = []
    for dim in dset.dims:
        scales = list(dim.values())
        name = scales[0].name.rsplit("/", 1)[-1] if scales else dim.label
        if not name:
            return None
        out.append(name)
    return tuple(out)


def compression_of(dset: Any) -> str | None:
    """``"gzip 4"``, ``"lzf"``, ``"shuffle+gzip 4"``, a filter id, or ``None`` when uncompressed."""
    parts = ["shuffle"] if dset.shuffle else []
    if dset.compression:
        opts = dset.compression_opts
        parts.append(f"{dset.compression} {opts}" if isinstance(opts, int)
                     else str(dset.compression))
    else:
        plist = dset.id.get_create_plist()
        filters = [plist.get_filter(i)[0] for i in range(plist.get_nfilters())]
        parts += [f"filter {fid}" for fid in filters if fid not in (1, 2)]  # 1 gzip, 2 shuffle
    return "+".join(parts) or None


def describe_hdf5(path: Path, name: str | None) -> tuple[ArraySpec, dict[str, Any]]:
    """Shape, dtype, storage chunks (``None``: contiguous), dims and compression of one dataset."""
    if not path.exists():
        raise StoreNotFoundError(
            f"Expected a path to an HDF5/netCDF4 file. Got {str(path)!r}, which does not exist."
        )
    if path.is_dir():
        raise StoreNotFoundError(f"Expected an HDF5/netCDF4 file. Got a directory {str(path)!r}.")
    _check_signature(path)
    h5py = import_h5py()
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise StoreReadError(f"Expected a readable HDF5 file at {str(path)!r}. Got {e}") from e
    with f:
        spec, name, compression, astype = describe_open_file(f, name, str(path),
                                                             f"hdf5:{path}")
    layout = (f"chunked {spec.storage_chunks}, compression {compression or 'none'}"
              if spec.storage_chunks else "contiguous (no storage chunks to align with)")
    read = f"Samples were read from {path}:/{name} ({layout})"
    if astype:  # what xarray gives, and the apply line opens it with xarray
        read += f", cast to {astype}: the dtype xarray decodes it to (CF mask and scale)"
    note = f"{read}; the timed load includes HDF5 decompression." if compression else f"{read}."
    ref = {"kind": "hdf5", "path": str(path), "array": name, "compression": compression,
           "notes": (note,)}
    return spec, ({**ref, "astype": astype} if astype else ref)


def describe_open_file(f: Any, name: str | None, where: str, source: str
                       ) -> tuple[ArraySpec, str, str | None, str | None]:
    """(spec, dataset name, compression, the dtype samples are cast to) of one dataset of an
    open ``h5py.File``: a netCDF variable's decoded dtype (``sources.cf``) when it differs."""
    h5py = import_h5py()
    names = list_datasets(f)
    if name is None:
        if len(names) != 1:
            every: list[str] = []
            f.visititems(lambda k, obj: every.append(k) if isinstance(obj, h5py.Dataset) else None)
            raise InvalidArgumentError(
                f"Expected --variable NAME for {where!r}, which holds {names}."
                if names else f"Expected a data variable (numeric, not 0-d, empty or a "
                f"coordinate) in {where!r}. Got {f'only {sorted(every)}' if every else 'none'}; "
                "name one with --variable NAME to use it anyway.")
        name = names[0]
    name = name.strip("/")
    obj = f.get(name)
    if not isinstance(obj, h5py.Dataset):
        raise InvalidArgumentError(
            f"Expected a dataset of {where!r} ({names}). Got {name!r} instead.")
    check_dtype(obj.dtype)
    dims = dataset_dims(obj)
    # a netCDF variable is applied through xarray, which decodes it (mask and scale)
    dt = decoded_dtype(obj.dtype, obj.attrs) if dims is not None else np.dtype(obj.dtype)
    spec = ArraySpec(tuple(obj.shape), dt.str if dt.names else dt.name,
                     storage_chunks=tuple(obj.chunks) if obj.chunks else None,
                     dims=dims, source=source, name=name)
    return spec, name, compression_of(obj), (dt.name if dt != obj.dtype else None)


def describe_hdf5_url(url: str, opts: StorageOptions | None, name: str | None
                      ) -> tuple[ArraySpec, dict[str, Any]]:
    """One dataset of an HDF5/netCDF4 file at a URL, read through an fsspec file object."""
    parsed = parse_url(url)
    opts = opts or StorageOptions()
    check_exists(filesystem(parsed, opts, fast=True), parsed, opts)
    with _remote_hdf5(parsed, opts) as f:
        spec, name, compression, astype = describe_open_file(
            f, name, parsed.display, f"hdf5:{parsed.display}")
    cast = {"astype": astype} if astype else {}
    return spec, remote_ref("hdf5", url, name, opts, spec, compression=compression, **cast)


def remote_dataset_names(url: str, opts: StorageOptions | None) -> list[str]:
    """The data variables of an HDF5/netCDF4 file at a URL (``list_datasets``: what a local
    file's check goes through); a file that is not HDF5 raises as :func:`describe_hdf5_url`."""
    with _remote_hdf5(parse_url(url), opts or StorageOptions()) as f:
        return list_datasets(f)


@contextlib.contextmanager
def _remote_hdf5(parsed: RemoteURL, opts: StorageOptions) -> Iterator[Any]:
    """The open ``h5py.File`` at a URL, its head checked first; the store's errors as ours."""
    h5py = import_h5py()
    with remote_errors(parsed, opts), open_remote_file(parsed, opts) as fobj:
        check_head(fobj.read(4096), parsed.display)
        fobj.seek(0)
        with h5py.File(fobj, "r") as f:
            yield f


def open_remote_file(parsed: RemoteURL, opts: StorageOptions) -> Any:
    """A read-only fsspec file object for ``parsed`` (h5py reads through it)."""
    return filesystem(parsed, opts).open(fs_path(parsed), "rb")
