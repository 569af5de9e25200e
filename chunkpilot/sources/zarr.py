"""Edge: describe a zarr array or store path (v2 or v3), opened read-only."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from chunkpilot.dtypes import check_dtype, is_data
from chunkpilot.errors import InvalidArgumentError, StoreNotFoundError, StoreReadError
from chunkpilot.sources.cf import decoded_dtype
from chunkpilot.sources.remote import (
    fsspec_store_url,
    open_zarr,
    parse_url,
    remote_errors,
    remote_ref,
)
from chunkpilot.sources.storage_options import StorageOptions, display_url
from chunkpilot.types import ArraySpec, SourceRef


def describe_zarr_path(path: Path, array: str | None) -> tuple[ArraySpec, SourceRef]:
    """The array at a zarr store path (``array`` names one inside a group)."""
    if not path.exists():
        raise StoreNotFoundError(
            f"Expected a path to a zarr store. Got {str(path)!r}, which does not exist.")
    try:
        node = zarr.open(str(path), mode="r")
    except FileNotFoundError as e:  # zarr says this for a directory without metadata
        raise StoreNotFoundError(
            f"Expected a zarr store at {str(path)!r}. Got a path with no zarr metadata "
            "(.zarray/.zgroup/zarr.json)."
        ) from e
    except Exception as e:  # corrupt metadata: zarr raises many types here
        raise StoreReadError(f"Expected a readable zarr store at {str(path)!r}. "
                             f"Got {type(e).__name__}: {e}") from e
    node, array = pick_array(node, array, str(path))
    spec, ref = describe_zarr(node, source=f"zarr:{path}")  # a local store: a "zarr" ref
    return spec, {**ref, "path": str(path), "array": array}


def describe_zarr_url(url: str, opts: StorageOptions | None, array: str | None
                      ) -> tuple[ArraySpec, SourceRef]:
    """The array of a zarr store at a URL (zarr's FsspecStore), opened read-only."""
    parsed = parse_url(url)
    opts = opts or StorageOptions()
    node = open_zarr(parsed, opts)
    with remote_errors(parsed, opts):
        node, array = pick_array(node, array, parsed.display)
        spec, ref = describe_zarr(node, source=f"zarr:{parsed.display}")
    cast = {"astype": ref["astype"]} if "astype" in ref else {}
    return spec, remote_ref("zarr", url, array, opts, spec,
                            zarr_format=node.metadata.zarr_format, **cast)


def pick_array(node: Any, array: str | None, where: str) -> tuple[Any, str | None]:
    """The array ``array`` names in a group, at any depth (``"model/run1/tas"``), or the only
    data array when not named (``group_data_arrays``); ``node`` itself for an array."""
    if isinstance(node, zarr.Group):
        every = group_arrays(node)  # one listing: nested groups of a remote store cost reads
        if array is None:
            data = _data_arrays(node, every)
            if len(data) != 1:
                raise InvalidArgumentError(
                    f"Expected an array name (array= / --array NAME) for the group at {where!r},"
                    f" which holds arrays {data}." if data else
                    f"Expected a data array (numeric, not 0-d, empty or a coordinate) in the "
                    f"group at {where!r}. Got {f'only {every}' if every else 'no arrays'}.")
            array = data[0]
        array = array.strip("/")
        if array not in every:
            raise InvalidArgumentError(f"Expected an array of the group at {where!r} "
                                       f"({every}). Got {array!r} instead.")
        return node[array], array
    if array is not None:
        raise InvalidArgumentError(
            f"Expected a group for array= / --array {array!r}. Got an array at {where!r}.")
    return node, None


def group_arrays(group: Any) -> list[str]:
    """Paths of every array in ``group``, nested groups included."""
    return sorted(k for k, v in group.members(max_depth=None) if isinstance(v, zarr.Array))


def group_data_arrays(group: Any) -> list[str]:
    """Paths of a group's data arrays at any depth, as HDF5's ``list_datasets``: numeric, with
    at least one axis and data, not a coordinate (an xarray dimension's own array): the
    scalar ``crs`` or ``time_bnds`` strings an xarray store often holds are left out."""
    return _data_arrays(group, group_arrays(group))


def _data_arrays(group: Any, paths: list[str]) -> list[str]:
    return [k for k in paths if _is_data(group[k], k.rpartition("/")[2])]


def _is_data(a: Any, name: str) -> bool:
    return is_data(a.dtype, a.shape) and zarr_dims(a) != (name,)


def describe_zarr(z: Any, source: str | None = None) -> tuple[ArraySpec, SourceRef]:
    """An open zarr array; a store on disk is referenced by path so samples read it."""
    check_dtype(z.dtype)
    shards = getattr(z, "shards", None)
    path = _local_path(z)
    name = str(getattr(z, "path", "") or "") or None
    dims = zarr_dims(z)
    # an array with dimension names in a group is applied through xarray too, which decodes
    # it (xarray opens groups: a lone array is applied with da.from_zarr, as stored)
    dt = decoded_dtype(z.dtype, z.attrs) if dims is not None and name else np.dtype(z.dtype)
    cast = {"astype": dt.name} if dt != z.dtype else {}
    spec = ArraySpec(tuple(z.shape), dt.name, storage_chunks=tuple(z.chunks),
                     shards=tuple(shards) if shards else None, dims=dims,
                     source=source or (f"zarr:{path}" if path else "zarr"), name=name)
    if path is not None:
        return spec, {"kind": "zarr", "path": path, "array": name, **cast}
    remote = fsspec_store_url(getattr(z, "store", None))
    if remote is not None:  # an array opened from a URL: sandboxes and workers re-open it
        url, opts = remote
        spec = dataclasses.replace(spec, source=source or f"zarr:{display_url(url)}")
        return spec, remote_ref("zarr", url, name, opts, spec, zarr_format=z.metadata.zarr_format,
                                **cast)
    return spec, {"kind": "numpy", "array": z}  # in-memory store: slice it in the parent


def zarr_dims(z: Any) -> tuple[str, ...] | None:
    """Dimension names: zarr v3 ``dimension_names`` or xarray's v2 ``_ARRAY_DIMENSIONS``."""
    names = getattr(getattr(z, "metadata", None), "dimension_names", None)
    names = names or z.attrs.get("_ARRAY_DIMENSIONS")
    if not names or len(names) != z.ndim or any(n is None for n in names):
        return None
    return tuple(str(n) for n in names)


def _local_path(z: Any) -> str | None:
    store = getattr(z, "store", None)
    root = getattr(store, "root", None) or getattr(store, "path", None)
    return str(root) if root is not None and os.path.isdir(str(root)) else None
