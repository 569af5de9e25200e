"""Pure: agree on one chunk length per dimension across the plans of a Dataset's variables.

``ds.chunk(...)`` takes one length per dimension, but each data variable gets its own plan.
The rule: candidates are each variable's own plan (its lengths, other dims from the
elementwise minimum) and the elementwise minimum itself, rounded down onto the storage grid
of the biggest variable stored along that dim. Every variable is re-predicted under each
candidate with its own measured model; a candidate must fit every variable's memory bound
and depth. Among those, the lowest summed predicted wall time wins (a misaligned candidate
pays its re-read storage chunks there, ``evaluate.read_amplification_seconds``); within the
plans' ``policy.tie_tolerance`` of it, one aligned with every variable's storage chunks, then
the smaller peak. (Alignment came first until 2026-12-06: on a climate file whose variables'
storage grids disagree, only whole axes aligned, and the agreed chunks ran 2.2-2.5x the
variables' own plans.)
The minimum only shrinks chunks, so it always fits memory: it is the fallback.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chunkpilot.core.display import repr_html
from chunkpilot.core.evaluate import Evaluation, evaluate
from chunkpilot.core.plan import Plan
from chunkpilot.core.shapes import regular_chunks
from chunkpilot.units import format_bytes, plural

MINIMUM = "elementwise minimum"


@dataclass(frozen=True, slots=True)
class VariableFit:
    """One variable's own plan and its predictions under the agreed chunks."""

    name: str
    """Data variable name."""
    plan: Plan
    """The plan made for this variable alone."""
    agreed: Evaluation
    """Predictions for this variable under the agreed per-dimension chunks."""
    aligned: bool
    """Agreed chunks tile this variable's storage chunks (always true without storage chunks)."""


@dataclass(frozen=True, slots=True)
class DatasetPlan:
    """Chunks by dimension for a whole Dataset, with every variable's plan behind them."""

    dim_chunks: tuple[tuple[str, int], ...]
    """Agreed chunk length per dimension, in Dataset order."""
    variables: tuple[VariableFit, ...]
    """Every planned data variable."""
    chosen_from: str
    """Which candidate won: a variable's name or ``"elementwise minimum"``."""

    @property
    def chunks_by_dim(self) -> dict[str, int]:
        """Ready for ``ds.chunk(...)`` / ``xr.open_dataset(path, chunks=...)``."""
        return dict(self.dim_chunks)

    @property
    def plans(self) -> dict[str, Plan]:
        return {v.name: v.plan for v in self.variables}

    def explain(self) -> str:
        return "\n".join(dataset_lines(self))

    def _repr_html_(self) -> str | None:
        return repr_html(self)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``chunks_by_dim`` (one length per dimension), and per variable its
        own plan and, under ``agreed``, the ``chunk_shape`` and ``chunks`` it gets."""
        out: dict[str, Any] = {
            "chunks_by_dim": self.chunks_by_dim,
            "chosen_from": self.chosen_from,
            "explanation": dataset_lines(self),
            "variables": {},
        }
        for v in self.variables:
            agreed = v.agreed.to_dict()
            agreed["chunks"] = [list(ax) for ax in regular_chunks(v.plan.spec.shape,
                                                                  v.agreed.chunk_shape)]
            out["variables"][v.name] = {"plan": v.plan.to_dict(), "agreed": agreed,
                                        "aligned": v.aligned}
        return out


def _dims(plan: Plan) -> tuple[str, ...]:
    assert plan.spec.dims is not None, "Dataset variables always have dims"
    return plan.spec.dims


def _aligned(plan: Plan, chunk: tuple[int, ...]) -> bool:
    sc = plan.spec.storage_chunks
    return sc is None or all(
        c % s == 0 or s % c == 0 or c == n
        for c, s, n in zip(chunk, sc, plan.spec.shape, strict=True)
    )


def _round_down(length: int, unit: int, full: int) -> int:
    if length >= full:
        return full
    if length >= unit:
        return length // unit * unit
    return max(d for d in range(1, length + 1) if unit % d == 0)


def minimum_chunks(plans: Mapping[str, Plan]) -> dict[str, int]:
    """Smallest planned length per dim, rounded down onto the biggest variable's storage grid."""
    out: dict[str, int] = {}
    for p in plans.values():
        for d, c in zip(_dims(p), p.chunk_shape, strict=True):
            out[d] = min(out.get(d, c), c)
    for d in out:
        stored = [p for p in plans.values() if p.spec.storage_chunks and d in _dims(p)]
        if stored:
            big = max(stored, key=lambda p: p.spec.nbytes)
            i = _dims(big).index(d)
            out[d] = _round_down(out[d], big.spec.storage_chunks[i], big.spec.shape[i])  # type: ignore[index]
    return out


def _fits(name: str, plans: Mapping[str, Plan], by_dim: dict[str, int]) -> VariableFit:
    p = plans[name]
    chunk = tuple(min(by_dim[d], n) for d, n in zip(_dims(p), p.spec.shape, strict=True))
    return VariableFit(name, p, evaluate(chunk, p.spec, p.work, p.resources, p.model),
                       _aligned(p, chunk))


def agree(plans: Mapping[str, Plan]) -> DatasetPlan:
    """One chunk length per dimension that every variable can live with (rule: module doc)."""
    if not plans:
        raise ValueError("agree() needs at least one plan")  # internal: callers check first
    low = minimum_chunks(plans)
    candidates = {MINIMUM: low}
    for name, p in plans.items():
        candidates.setdefault(name, {**low, **dict(zip(_dims(p), p.chunk_shape, strict=True))})
    scored = []
    for label, by_dim in candidates.items():
        fits = tuple(_fits(n, plans, by_dim) for n in plans)
        if all(f.agreed.feasible for f in fits):
            wall = sum(f.agreed.wall_seconds for f in fits)
            peak = max(f.agreed.peak_bytes_per_worker for f in fits)
            scored.append((not all(f.aligned for f in fits), wall, peak, label, by_dim, fits))
    if not scored:
        label, by_dim = MINIMUM, low
        fits = tuple(_fits(n, plans, low) for n in plans)
    else:
        best_wall = min(s[1] for s in scored)
        tie = max(p.policy.tie_tolerance for p in plans.values())
        ties = [s for s in scored if s[1] <= best_wall * (1 + tie)]
        _, _, _, label, by_dim, fits = min(ties, key=lambda s: (s[0], s[2], s[1]))
    order = list(dict.fromkeys(d for p in plans.values() for d in _dims(p)))
    return DatasetPlan(tuple((d, by_dim[d]) for d in order), fits, label)


def _source(dp: DatasetPlan) -> str:
    """The chosen variable's plan, and where the dims it lacks came from."""
    own = _dims(dp.plans[dp.chosen_from])
    rest = [d for d in dp.chunks_by_dim if d not in own]
    return f"the plan of {dp.chosen_from!r}" + (
        f" (along {', '.join(own)}; {', '.join(rest)} from the elementwise minimum of the "
        "variables' plans)" if rest else "")


def dataset_lines(dp: DatasetPlan) -> list[str]:
    """Why these per-dimension chunks, and what each variable gets under them."""
    lines = [
        f"Agreed chunks {dp.chunks_by_dim} for {len(dp.variables)} variable(s), from "
        + (_source(dp) if dp.chosen_from != MINIMUM else "the elementwise "
           "minimum of the variables' plans (always fits every variable's memory)")
        + ": of the candidates that fit every variable's memory, the lowest summed predicted "
        "wall time (re-read storage chunks included; aligned ones preferred within the tie "
        "band)."
    ]
    for v in dp.variables:
        own, a = v.plan.chosen, v.agreed
        ratio = a.wall_seconds / own.wall_seconds if own.wall_seconds else math.nan
        lines.append(
            f"{v.name}: own plan {own.chunk_shape}; agreed {a.chunk_shape} gives "
            f"{plural(a.task_count, 'task')} of {format_bytes(a.task_bytes)}, "
            f"{format_bytes(a.peak_bytes_per_worker)} per "
            f"worker, predicted wall {ratio:.2f}x its own plan"
            + ("." if v.aligned else f"; NOT aligned with storage {v.plan.spec.storage_chunks}.")
        )
    return lines
