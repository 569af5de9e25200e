"""``chunkpilot.check``: find the chunks a source has, run the pure checks (``core.lint``)."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zarr

from chunkpilot import config
from chunkpilot.cluster.resources import resolve_resources
from chunkpilot.core.chunk_axes import extent
from chunkpilot.core.given_chunks import normalize_given_chunks
from chunkpilot.core.lint import (
    ERROR,
    Problem,
    find_problems,
    latency_problems,
    overhead_seconds,
    suggest_chunk_shape,
)
from chunkpilot.core.store import StoreModel
from chunkpilot.errors import InvalidArgumentError, InvalidArgumentTypeError
from chunkpilot.measure.store import probe_store_for
from chunkpilot.report.notebook import check_html
from chunkpilot.sources.describe import describe, remote_array_names
from chunkpilot.sources.hdf5 import import_h5py, list_datasets, looks_like_hdf5
from chunkpilot.sources.remote import is_url
from chunkpilot.sources.urls import expand_home
from chunkpilot.sources.xarray import data_variables, describe_xarray, is_dataset, is_xarray
from chunkpilot.sources.zarr import group_data_arrays
from chunkpilot.types import ArraySpec, Chunks, Resources
from chunkpilot.units import SizeLike, format_bytes, plural


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The problems of one array's chunking."""

    name: str | None
    """Variable / array name inside a Dataset, group or file; ``None`` for a lone array."""
    spec: ArraySpec
    """The array checked."""
    chunks: Chunks
    """The chunks checked."""
    chunks_origin: str
    """Where the chunks came from: current dask chunks, given, storage chunks or dask auto."""
    problems: tuple[Problem, ...]
    """Problems found, errors first; empty when the chunking is fine."""
    suggested_chunk_shape: tuple[int, ...]
    """A chunk shape without these problems (the fixes quote it)."""

    @property
    def chunk_shape(self) -> tuple[int, ...]:
        """Largest checked chunk per axis."""
        return tuple(max(ax) for ax in self.chunks)

    @property
    def chunks_by_dim(self) -> dict[str, int] | None:
        """Largest checked chunk per dimension name, else ``None``."""
        return dict(zip(self.spec.dims, self.chunk_shape, strict=True)) if self.spec.dims else None

    @property
    def suggested_chunks_by_dim(self) -> dict[str, int] | None:
        """The suggested chunk shape by dimension name, else ``None``."""
        dims = self.spec.dims
        return dict(zip(dims, self.suggested_chunk_shape, strict=True)) if dims else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "source": self.spec.source, "shape": list(self.spec.shape),
            "dtype": self.spec.dtype, "dims": list(self.spec.dims) if self.spec.dims else None,
            "storage_chunks": list(self.spec.storage_chunks) if self.spec.storage_chunks else None,
            "chunk_shape": list(self.chunk_shape),
            "chunks": [list(ax) for ax in self.chunks], "chunks_by_dim": self.chunks_by_dim,
            "chunks_origin": self.chunks_origin,
            "tasks": math.prod(len(ax) for ax in self.chunks),
            "problems": [p.to_dict() for p in self.problems],
            "suggested_chunk_shape": list(self.suggested_chunk_shape),
            "suggested_chunks_by_dim": self.suggested_chunks_by_dim,
        }


@dataclass(frozen=True, slots=True)
class CheckReport:
    """Every array checked, on the resources it will run on."""

    resources: Resources
    """Workers, threads and memory the chunks were checked against."""
    results: tuple[CheckResult, ...]
    """One result per array (per data variable for a Dataset or multi-array file)."""
    store: StoreModel | None = None
    """The object store as probed (URL sources), else ``None``."""

    @property
    def problems(self) -> list[Problem]:
        return [p for r in self.results for p in r.problems]

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        """Human-readable report: one header per array, then its problems and fixes."""
        res = self.resources
        out = [f"Checked against {plural(res.workers, 'worker')} x "
               f"{plural(res.threads_per_worker, 'thread')}, "
               f"{format_bytes(res.memory_limit_bytes)} per worker, scheduler '{res.scheduler}'."]
        if self.store is not None:
            st = self.store
            rate = format_bytes(int(st.stream_bytes_per_second))
            out.append(f"Store probed ({st.where}): {st.latency_seconds * 1e3:.0f} ms to first "
                       "byte, " + (f"transfer too small to show (taken as {rate}/s)"
                                   if st.throughput_lower_bound else f"{rate}/s per stream")
                       + f", {st.effective_concurrency(16):.1f} of 16 concurrent requests overlap.")
        for r in self.results:
            s, tasks = r.spec, math.prod(len(ax) for ax in r.chunks)
            shape = tuple(extent(ax)[0] for ax in r.chunks)
            out.append(
                f"{r.name + ': ' if r.name else ''}{s.shape} {s.dtype} ({s.source}), "
                f"chunks {shape} ({r.chunks_origin}): {plural(tasks, 'task')} of up to "
                f"{format_bytes(math.prod(shape) * s.itemsize)}"
                + (f", storage chunks {s.storage_chunks}" if s.storage_chunks else "") + "."
            )
            out += [f"  {p.severity.upper()} {p.code}: {p.message}\n    fix: {p.fix}"
                    for p in r.problems]
            if not r.problems:
                out.append("  OK: no problems found.")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "resources": self.resources.to_dict(),
                "errors": sum(p.severity == ERROR for p in self.problems),
                "problems": len(self.problems), "results": [r.to_dict() for r in self.results],
                "store": self.store.to_dict() if self.store is not None else None}

    def _repr_html_(self) -> str:
        """The same report as :meth:`lines`, for notebooks."""
        return check_html(self)


def _chunks_for(spec: ArraySpec, given: Any) -> tuple[Chunks, str]:
    if given is not None:
        return normalize_given_chunks(given, spec), "given"
    if spec.current_chunks is not None:
        return spec.current_chunks, "current dask chunks"
    if spec.storage_chunks is not None:
        chunks = normalize_given_chunks(spec.storage_chunks, spec)
        return chunks, "storage chunks, as opened by default"
    return normalize_given_chunks("auto", spec), "no chunks: dask's chunks='auto'"


def _own_dims(chunks: Any, spec: ArraySpec, targets: list[tuple[str | None, ArraySpec]]) -> Any:
    """``chunks`` keyed by dimension names, as one variable of several takes them: the names
    it lacks left out, as ``Dataset.chunk`` does (``{"time": 1}`` for ``tas(time, lat, lon)``
    and ``orog(lat, lon)``); a name no variable has stays, for its clear error."""
    if not isinstance(chunks, dict) or len(targets) < 2:
        return chunks
    known = {d for _, s in targets for d in (s.dims or ())}
    return {k: v for k, v in chunks.items()
            if not isinstance(k, str) or k in (spec.dims or ()) or k not in known}


def _targets(x: Any, name: str | None) -> list[tuple[str | None, ArraySpec]]:
    """(name, spec) of every array to check in ``x``."""
    # a Dataset without data variables goes on to describe(), which says why
    if is_dataset(x) and name is None and (names := data_variables(x)):
        return [(v, describe_xarray(x, v)[0]) for v in names]
    if isinstance(x, (str, os.PathLike)) and name is None:
        names = _store_arrays(Path(expand_home(x)))
        if names:
            return [(n, describe(x, array=n)[0]) for n in names]
    return [(name, describe(x, array=name)[0])]


def _store_arrays(path: Path) -> list[str]:
    """Names of the arrays in an HDF5 file or zarr group (empty for a lone array or no store)."""
    if path.is_file() and looks_like_hdf5(path):
        try:
            with import_h5py().File(path, "r") as f:
                return list_datasets(f)
        except OSError:
            return []  # describe() raises the precise error
    if path.is_dir():
        try:
            node = zarr.open(str(path), mode="r")
        except Exception:  # describe() raises the precise error
            return []
        if isinstance(node, zarr.Group):
            return group_data_arrays(node)
    return []


def check(
    source: Any,
    *,
    variable: str | None = None,
    array: str | None = None,
    chunks: Any = None,
    workers: int | None = None,
    threads_per_worker: int | None = None,
    memory_limit: SizeLike | None = None,
    scheduler: Any = "processes",
    client: Any = None,
    storage_options: Any = None,
) -> CheckReport:
    """Inspect the chunks ``source`` already has (no profiling, no computing) and list problems.

    Parameters
    ----------
    source : dask array, xarray DataArray/Dataset, zarr array, or a zarr/HDF5/netCDF4 path
    variable, array : name of one variable / array; default: every one in the Dataset or file.
    chunks : check these chunks instead of the current ones (a store path's default is its
        storage chunks, as ``xr.open_zarr`` / ``da.from_zarr`` open it).
    workers, threads_per_worker, memory_limit, scheduler, client :
        What will run the work, as for :func:`chunkpilot.advise`.
    storage_options : fsspec options for a URL source (``s3://``, ``gs://``, ``https://``);
        the store is then probed (a few small reads, where the workers run) and storage
        objects too small for its latency are flagged with a shard shape to rewrite with.

    Returns
    -------
    CheckReport
        ``report.ok``, ``report.problems`` (each with numbers and a fix), ``report.lines()``.
    """
    if variable is not None and array is not None and variable != array:
        raise InvalidArgumentError(
            f"Expected one name (variable or array). Got variable={variable!r}, array={array!r}."
        )
    if isinstance(source, (bytes, int, float)):
        raise InvalidArgumentTypeError(
            f"Expected an array or a store path. Got {type(source).__name__} instead.")
    res = resolve_resources(scheduler, workers=workers, threads_per_worker=threads_per_worker,
                            memory_limit=memory_limit, client=client)
    oh, th = overhead_seconds(res), config.check_thresholds()
    results = []
    targets, store = _remote_targets(source, variable or array, storage_options, res, client)
    targets = targets or _targets(source, variable or array)
    for name, spec in targets:
        try:
            ch, origin = _chunks_for(spec, _own_dims(chunks, spec, targets))
        except InvalidArgumentError as e:
            if len(targets) < 2:
                raise
            raise InvalidArgumentError(
                f"{name}: {str(e).rstrip('.')}. Chunks for several arrays are given by "
                "dimension (DIM=N), or name one (variable= / --variable).") from e
        problems = tuple(find_problems(spec, res, ch, overhead_s=oh, thresholds=th))
        problems += tuple(latency_problems(spec, store) if store is not None else ())
        results.append(CheckResult(name, spec, ch, origin, problems,
                                   suggest_chunk_shape(spec, res, oh, th)))
    return CheckReport(res, tuple(results), store)


def _remote_targets(x: Any, name: str | None, storage_options: Any, res: Resources, client: Any
                    ) -> tuple[list[tuple[str | None, ArraySpec]], StoreModel | None]:
    """A URL source: its arrays, and the store probed once (from the first)."""
    if not is_url(x):
        if storage_options is not None and not is_xarray(x):
            describe(x, storage_options=storage_options)  # raises: options need a URL
        return [], None
    names = [name] if name is not None else remote_array_names(x, storage_options) or [None]
    described = [(n, describe(x, array=n, storage_options=storage_options)) for n in names]
    ref = described[0][1][1]
    store = probe_store_for(ref, res, client) if ref.get("kind") == "remote" else None
    return [(n, spec) for n, (spec, _) in described], store
