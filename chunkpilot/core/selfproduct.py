"""Pure: block products of an array with its own transpose (``x @ x.T``, ``x.T @ x``).

numpy hands ``a @ a.T`` (the same buffer, transposed) to BLAS's SYRK, which computes one
triangle of the symmetric result: half the multiply-adds of a general product, plus a
share that shrinks with the contraction's length (:func:`self_product_cost`: 0.56x the
time of ``a @ b.T`` at 2048 x 4096 float64, 0.69x at 1024 x 1024). In a
blocked Gram matrix the products where a block meets its own transpose are such products:
1 in ``n`` of them for ``n`` chunks along the paired axis (``x @ x.T`` with 4 row blocks: the
4 diagonal output blocks of 16). A sub-array of 3 row blocks runs a third of its products at
half cost, the whole array at 2 row blocks half of them, at 1 all of them: without this,
matmul's single 4096 x 4096 chunk was priced at 3.4 s where it ran in 1.8 s.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

#: Cost of a self-product relative to a general product of the same blocks, for a long
#: contraction (SYRK: one triangle, half the multiply-adds).
SELF_PRODUCT_COST = 0.5
#: What a self-product costs beyond half, times the contraction's length ``k`` (elements
#: summed per output element): numpy copies the triangle SYRK computed to the other half,
#: and SYRK blocks less efficiently than GEMM, both a fixed share of the ``k``-long work.
#: Measured on this project's 2-core machine (``a @ a.T`` over ``a @ b.T``, one BLAS
#: thread): float64 0.80 / 0.69 / 0.58-0.61 / 0.56 of a general product at k = 512 / 1024 /
#: 2048 / 4096, float32 0.91 / 0.76-0.78 / 0.65-0.66 / 0.58 (``a.T @ a``, k its rows: within
#: 0.05 of those); 0.5 + 200 / k lies within 0.09 of each (modelled from them, not measured
#: per run; a constant 0.5 was up to 0.41 off).
SELF_PRODUCT_OVERHEAD = 200.0


def self_product_cost(contraction_length: float | None) -> float:
    """A self-product's cost relative to a general product for a contraction of that length
    (the block's extent along the contracted axes); :data:`SELF_PRODUCT_COST` when unknown.

    Examples
    --------
    >>> self_product_cost(400), self_product_cost(4000), self_product_cost(None)
    (1.0, 0.55, 0.5)
    """
    if not contraction_length:
        return SELF_PRODUCT_COST
    return min(1.0, SELF_PRODUCT_COST + SELF_PRODUCT_OVERHEAD / contraction_length)


def self_share(counts: Sequence[int], axes: Sequence[int]) -> float:
    """Share of block products that pair a block with its own transpose, for ``counts``
    chunks per input axis and the paired input ``axes`` (0 when there are none).

    Examples
    --------
    >>> self_share((4, 2), (0,))
    0.25
    >>> self_share((4, 2), ())
    0.0
    """
    if not axes:
        return 0.0
    return 1.0 / math.prod(max(int(counts[a]), 1) for a in axes)


def product_work(counts: Sequence[int], axes: Sequence[int],
                 contraction_length: float | None = None) -> float:
    """Work of the products relative to all of them general ones: self-products cost
    :func:`self_product_cost` of a general one.

    Examples
    --------
    >>> product_work((2, 1), (0,))  # half the products at half cost
    0.75
    >>> product_work((1, 1), (0,)), product_work((1, 1), (0,), 1000)
    (0.5, 0.7)
    """
    return 1.0 - self_share(counts, axes) * (1.0 - self_product_cost(contraction_length))


def contraction_length(chunk: Sequence[int], axes: Sequence[int]) -> int | None:
    """Elements a block product sums per output element: the chunk's extent along the
    contracted ``axes`` (``None`` when none are known).

    Examples
    --------
    >>> contraction_length((512, 1024), (1,)), contraction_length((8, 4, 4), (1, 2))
    (1024, 16)
    """
    return math.prod(int(chunk[a]) for a in axes) if axes else None
