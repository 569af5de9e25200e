"""Read a dask ``HighLevelGraph`` into plain, JSON-ready layer records (in a sandbox).

Chunk metadata from each layer's ``collection_annotations``, Blockwise indices and overlap
depths; :mod:`chunkpilot.pipeline.graph` interprets them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from dask.blockwise import Blockwise
from dask.utils import key_split

#: Count tasks exactly (``len(layer)``) only for layers this small: ``len`` materializes
#: a lazy Blockwise layer, which takes minutes at a million blocks.
EXACT_COUNT_MAX_BLOCKS = 20_000


@dataclass(frozen=True, slots=True)
class LayerRecord:
    """One graph layer as plain values (JSON-ready)."""

    name: str
    """Full layer name (``"rechunk-merge-<token>"``)."""
    prefix: str
    """Readable operation name (dask ``key_split``), e.g. ``"rechunk-merge"``."""
    type_name: str
    """Layer class: ``Blockwise``, ``MaterializedLayer``, ``ArrayOverlapLayer``, ..."""
    deps: tuple[str, ...]
    """Names of the layers this one reads."""
    shape: tuple[int, ...] | None
    """Shape of the array the layer produces, when it produces one."""
    chunks: tuple[tuple[int, ...], ...] | None
    """Its chunks; ``None`` when unknown (NaN chunks, non-array layers)."""
    itemsize: int | None
    """Bytes per element of its dtype."""
    tasks: int
    """Tasks in the layer (exact when small, else its number of output blocks)."""
    out_symbols: tuple[str, ...] | None = None
    """Blockwise output index symbols, one per output axis."""
    args: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """Blockwise array arguments: (layer name, index symbols per argument axis)."""
    overlap_depth: tuple[tuple[int, int], ...] = ()
    """(axis, depth) pairs of an ``ArrayOverlapLayer``."""

    @property
    def chunk_bytes(self) -> int | None:
        """Bytes of the layer's largest chunk."""
        if self.chunks is None or self.itemsize is None or any(not c for c in self.chunks):
            return None
        return math.prod(max(c) for c in self.chunks) * self.itemsize

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LayerRecord:
        def tup(v: Any) -> Any:
            return tuple(tup(x) for x in v) if isinstance(v, (list, tuple)) else v

        return cls(**{k: tup(v) for k, v in d.items()})


def _known_chunks(ann: dict[str, Any]) -> tuple[tuple[int, ...], ...] | None:
    chunks = ann.get("chunks")
    if chunks is None:
        return None
    try:
        return tuple(tuple(int(c) for c in ax) for ax in chunks)
    except (TypeError, ValueError):  # NaN chunks (boolean indexing): sizes unknown
        return None


def _depth(d: Any) -> int:
    """Overlap depth of one axis: an int, or (left, right) for asymmetric overlap."""
    return max(int(v) for v in d) if isinstance(d, (tuple, list)) else int(d)


def layer_records(hlg: Any) -> list[LayerRecord]:
    """Read every layer of a ``HighLevelGraph`` into a :class:`LayerRecord` (topological order)."""
    order = hlg._toposort_layers() if hasattr(hlg, "_toposort_layers") else list(hlg.layers)
    out = []
    for name in order:
        layer = hlg.layers[name]
        ann = dict(layer.collection_annotations or {})
        chunks = _known_chunks(ann)
        blocks = math.prod(len(c) for c in chunks) if chunks else 1
        exact = layer.is_materialized() or blocks <= EXACT_COUNT_MAX_BLOCKS
        dtype = ann.get("dtype")
        itemsize = int(np.dtype(dtype).itemsize) if dtype is not None else None
        shape = ann.get("shape")
        out_symbols: tuple[str, ...] | None = None
        args: tuple[tuple[str, tuple[str, ...]], ...] = ()
        if isinstance(layer, Blockwise):
            out_symbols = tuple(str(s) for s in layer.output_indices)
            args = tuple((str(n), tuple(str(s) for s in idx))
                         for n, idx in layer.indices if idx is not None)
        axes = getattr(layer, "axes", None) if type(layer).__name__ == "ArrayOverlapLayer" else None
        depth = tuple(sorted((int(a), _depth(d)) for a, d in dict(axes).items())) if axes else ()
        out.append(LayerRecord(
            name=str(name), prefix=key_split(name), type_name=type(layer).__name__,
            deps=tuple(sorted(str(d) for d in hlg.dependencies.get(name, ()))),
            shape=tuple(int(s) for s in shape) if chunks and shape is not None else None,
            chunks=chunks, itemsize=itemsize, tasks=len(layer) if exact else blocks,
            out_symbols=out_symbols, args=args, overlap_depth=depth,
        ))
    return out
