"""Pure analysis of a dask array graph: what one input chunk turns into.

:func:`profile_graph` interprets :class:`~chunkpilot.pipeline.layers.LayerRecord` values
(read from a ``HighLevelGraph`` in a sandbox, sent back as JSON), relative to the layer
holding the pipeline's input, as a frozen :class:`GraphProfile`: tasks per input chunk, the
largest intermediate chunk (blow-up), overlap halos, rechunks, and contraction axes traced
back to the input's axes. No I/O, no scheduler.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from chunkpilot.pipeline.layers import LayerRecord

#: Layer-name prefixes (dask ``key_split``) of contractions, as a hint besides the indices.
CONTRACTION_NAMES = ("matmul", "tensordot", "dot", "einsum", "_einsum", "vdot")


AxisMap = dict[str, tuple[frozenset[int], ...]]


def reshape_groups(old: Sequence[int], new: Sequence[int]
                   ) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """(new axes, old axes) of a reshape, grouped left to right where their lengths multiply
    to the same size (C order, as numpy and dask reshape): an axis alone on both sides keeps
    its meaning (xarray's ``polyfit`` reshapes (time, lat, lon) to (time, lat * lon)); empty
    when the shapes do not group (lengths of 0 or 1 on one side only are grouped with their
    neighbours)."""
    groups: list[tuple[tuple[int, ...], tuple[int, ...]]] = []
    i = j = 0
    while i < len(old) and j < len(new):
        olds, news, po, pn = [i], [j], old[i], new[j]
        i, j = i + 1, j + 1
        while po != pn:
            if po < pn and i < len(old):
                po, i = po * old[i], i + 1
                olds.append(i - 1)
            elif pn < po and j < len(new):
                pn, j = pn * new[j], j + 1
                news.append(j - 1)
            else:
                return []
        groups.append((tuple(news), tuple(olds)))
    if any(old[k] != 1 for k in range(i, len(old))) or any(new[k] != 1 for k in range(j, len(new))):
        return []
    return groups


def trace_axes(records: Sequence[LayerRecord], input_name: str, input_ndim: int) -> AxisMap:
    """For each layer downstream of the input: which input axes each of its axes comes from.

    Blockwise layers map axes through their index symbols (transposes, broadcasting);
    a reshape maps axes through groups of matching sizes (``reshape_groups``: merged axes
    go into one, a split axis into each of its parts); other layers of the same rank as
    their input keep axis order (rechunk, overlap, slicing); anything else (dropped axes)
    is untraced. An input axis is made whole where every axis it went into is one chunk.
    """
    amap: AxisMap = {input_name: tuple(frozenset({i}) for i in range(input_ndim))}
    shapes = {r.name: r.shape for r in records}
    for r in records:
        if r.name in amap or not any(d in amap for d in r.deps):
            continue
        nd = len(r.shape) if r.shape is not None else 0
        axes: list[set[int]] = [set() for _ in range(nd)]
        if r.prefix.startswith("reshape"):  # axes grouped by matching sizes
            dep = next((d for d in r.deps if d in amap), None)
            before = shapes.get(dep) if dep is not None else None
            if before is not None and r.shape is not None and len(before) == len(amap[dep]):
                for news, olds in reshape_groups(before, r.shape):
                    merged = frozenset().union(*(amap[dep][i] for i in olds))
                    for j in news:  # a split axis goes into each of its parts
                        axes[j] |= merged
        elif r.out_symbols is not None and len(r.out_symbols) == nd:
            for arg, idx in r.args:
                for j, s in enumerate(idx):
                    if arg in amap and j < len(amap[arg]) and s in r.out_symbols:
                        axes[r.out_symbols.index(s)] |= amap[arg][j]
        else:
            for d in r.deps:
                if d in amap and len(amap[d]) == nd:
                    for i in range(nd):
                        axes[i] |= amap[d][i]
        amap[r.name] = tuple(frozenset(a) for a in axes)
    return amap


def contraction_axes(r: LayerRecord, amap: AxisMap) -> frozenset[int] | None:
    """Input axes a Blockwise layer contracts (matmul/tensordot), or ``None`` if it does not.

    A contraction has two array arguments that each bring an index of their own (the
    outer dimensions) and share another (the contracted one). Broadcast arithmetic
    such as ``x + y[None, :]`` fails the first test; ``x * y`` has no own indices.
    """
    arrays = [(a, idx) for a, idx in r.args if a in amap]
    if len(arrays) < 2:
        return None
    counts: dict[str, int] = {}
    for _, idx in arrays:
        for s in set(idx):
            counts[s] = counts.get(s, 0) + 1
    shared = {s for s, n in counts.items() if n >= 2}
    own = [any(counts[s] == 1 for s in idx) for _, idx in arrays]
    if not shared or (sum(own) < 2 and not r.prefix.startswith(CONTRACTION_NAMES)):
        return None
    axes: set[int] = set()
    for a, idx in arrays:
        for j, s in enumerate(idx):
            if s in shared and j < len(amap[a]):
                axes |= amap[a][j]
    return frozenset(axes)


def self_product_axes(r: LayerRecord, by_name: Mapping[str, LayerRecord],
                      amap: AxisMap) -> frozenset[int]:
    """Input axes along which a contraction ``r`` pairs a block with its own transpose
    (``x @ x.T``: axis 0, row block i meets row block j, itself when i == j); empty unless
    one operand is a ``transpose`` of the other (``x @ (2 * x).T`` is not: numpy's SYRK
    needs the same buffer, ``core.selfproduct``)."""
    arrays = [(a, idx) for a, idx in r.args if a in amap]
    if len(arrays) != 2:
        return frozenset()
    for (base, idx_base), (t, idx_t) in (arrays, arrays[::-1]):
        rec = by_name.get(t)
        if (rec is None or not rec.prefix.startswith("transpose") or rec.out_symbols is None
                or len(rec.args) != 1 or rec.args[0][0] != base):
            continue
        inner = rec.args[0][1]  # the transpose's symbol for each base axis
        paired: set[int] = set()
        for j, sym in enumerate(idx_base):
            if j >= len(inner) or inner[j] not in rec.out_symbols or j >= len(amap[base]):
                return frozenset()
            m = rec.out_symbols.index(inner[j])
            if m >= len(idx_t):
                return frozenset()
            if idx_t[m] != sym:
                paired |= amap[base][j]
        return frozenset(paired)
    return frozenset()


@dataclass(frozen=True, slots=True)
class GraphProfile:
    """The structure of a pipeline's graph, relative to one input chunking."""

    input_chunk: tuple[int, ...]
    """Largest input chunk per axis the graph was built with."""
    input_chunks: int
    """Number of input chunks."""
    input_chunk_bytes: int
    """Bytes of the largest input chunk."""
    tasks: int
    """Tasks in the whole (unoptimized) graph."""
    largest_intermediate_bytes: int
    """Bytes of the largest chunk of any layer downstream of the input."""
    largest_intermediate_layer: str
    """Operation producing it (``key_split`` name)."""
    blowup: float
    """``largest_intermediate_bytes`` / input chunk bytes."""
    overlap_depth: tuple[int, ...]
    """Overlap depth per input axis (``map_overlap``), 0 where none."""
    whole_axes: tuple[int, ...]
    """Input axes that some in-graph rechunk turns into one chunk."""
    hidden_whole_axes: tuple[int, ...]
    """Those of ``whole_axes`` merged by a rechunk hidden inside a reshape."""
    rechunk_targets: tuple[tuple[int, int], ...]
    """(input axis, chunk length) an in-graph rechunk imposes, besides whole axes."""
    rechunk_layers: tuple[str, ...]
    """Rechunk layers downstream of the input (task-based)."""
    p2p_layers: tuple[str, ...]
    """Peer-to-peer rechunk/shuffle layers."""
    reshape_layers: tuple[str, ...]
    """Reshape layers."""
    contraction_axes: tuple[int, ...]
    """Input axes a matmul/tensordot contracts."""
    contraction_layers: tuple[str, ...]
    """The contracting layers."""
    contraction_bytes: int
    """Largest chunk a contracting layer produces (one partial product), 0 if none."""
    reduction_layers: tuple[str, ...]
    """Tree-reduction aggregation layers."""
    contraction_tasks: int = 0
    """Tasks of the contracting layers: one per block product (``x @ x.T`` on n x m input
    chunks: n * n * m)."""
    input_grid: tuple[int, ...] = ()
    """Input chunks per axis."""
    self_product_axes: tuple[int, ...] = ()
    """Input axes along which a contraction pairs blocks with their own transposes
    (``x @ x.T``: (0,)); empty for other graphs (``core.selfproduct``)."""

    @property
    def tasks_per_input_chunk(self) -> float:
        return self.tasks / max(self.input_chunks, 1)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["tasks_per_input_chunk"] = self.tasks_per_input_chunk
        return d


def _names(records: Iterable[LayerRecord]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(r.prefix for r in records))


def _feeding_reshape(records: Sequence[LayerRecord]) -> set[str]:
    """Rechunk layers that ``reshape`` inserted: the rechunk chain right before a reshape."""
    by_name = {r.name: r for r in records}
    todo = [d for r in records if r.prefix.startswith("reshape") for d in r.deps]
    found: set[str] = set()
    while todo:
        name = todo.pop()
        r = by_name.get(name)
        if r is not None and r.prefix.startswith("rechunk") and name not in found:
            found.add(name)
            todo.extend(r.deps)
    return found


def profile_graph(records: Sequence[LayerRecord], input_name: str) -> GraphProfile:
    """Interpret layer records relative to the input layer ``input_name``."""
    by_name = {r.name: r for r in records}
    if input_name not in by_name or by_name[input_name].chunks is None:
        raise ValueError(f"input layer {input_name!r} with known chunks not in the graph")
    src = by_name[input_name]
    assert src.chunks is not None and src.shape is not None  # checked above
    ndim = len(src.shape)
    amap = trace_axes(records, input_name, ndim)
    down = [r for r in records if r.name in amap and r.name != input_name]
    in_bytes = src.chunk_bytes or 1
    sized = [r for r in down if r.chunk_bytes is not None]
    big = max(sized, key=lambda r: r.chunk_bytes or 0, default=None)
    depth = [0] * ndim
    whole: set[int] = set()
    hidden_axes: set[int] = set()
    hidden = _feeding_reshape(down)
    targets: dict[int, int] = {}
    contracted: set[int] = set()
    paired: set[int] = set()
    contractions = []
    for r in down:
        for a, d in r.overlap_depth:
            for s in amap[r.name][a] if a < len(amap[r.name]) else ():
                depth[s] = max(depth[s], d)
        if r.prefix.startswith("rechunk") and r.chunks is not None:
            traced = amap[r.name][:len(r.chunks)]
            for s in range(ndim):  # whole when every axis it went into is one chunk
                parts = [i for i, ax in enumerate(traced) if s in ax]
                if not parts:
                    continue
                if all(len(r.chunks[i]) == 1 for i in parts) and len(src.chunks[s]) > 1:
                    whole.add(s)
                    if r.name in hidden:
                        hidden_axes.add(s)
                elif len(parts) == 1 and traced[parts[0]] == {s} and \
                        max(r.chunks[parts[0]]) != max(src.chunks[s]):
                    targets[s] = max(r.chunks[parts[0]])
        c = contraction_axes(r, amap) if r.out_symbols is not None else None
        if c is not None:
            contracted |= c
            paired |= self_product_axes(r, by_name, amap)
            contractions.append(r)
    rechunks = [r for r in down if r.prefix.startswith("rechunk")]
    return GraphProfile(
        input_chunk=tuple(max(c) for c in src.chunks),
        input_chunks=math.prod(len(c) for c in src.chunks),
        input_chunk_bytes=in_bytes,
        tasks=sum(r.tasks for r in records),
        largest_intermediate_bytes=(big.chunk_bytes or 0) if big else 0,
        largest_intermediate_layer=big.prefix if big else "",
        blowup=((big.chunk_bytes or 0) / in_bytes) if big else 0.0,
        overlap_depth=tuple(depth),
        whole_axes=tuple(sorted(whole)),
        hidden_whole_axes=tuple(sorted(hidden_axes)),
        rechunk_targets=tuple(sorted((s, n) for s, n in targets.items() if s not in whole)),
        rechunk_layers=_names(r for r in rechunks if "p2p" not in r.prefix),
        p2p_layers=_names(r for r in down if "p2p" in r.prefix.lower() or "P2P" in r.type_name),
        reshape_layers=_names(r for r in down if r.prefix.startswith("reshape")),
        contraction_axes=tuple(sorted(contracted)),
        contraction_layers=_names(contractions),
        contraction_bytes=max((r.chunk_bytes or 0 for r in contractions), default=0),
        reduction_layers=_names(r for r in down if "aggregate" in r.prefix),
        contraction_tasks=sum(r.tasks for r in contractions),
        input_grid=tuple(len(c) for c in src.chunks),
        self_product_axes=tuple(sorted(paired)),
    )
