"""Pure: block products of an array with its own transpose (``x @ x.T``, ``x.T @ x``).

numpy hands ``a @ a.T`` (the same buffer, transposed) to BLAS's SYRK, which computes one
triangle of the symmetric result: half the multiply-adds of a general product (on this
project's 2-core machine, 0.57x the time of ``a @ b.T`` at 2048 x 4096 float64). In a
blocked Gram matrix the products where a block meets its own transpose are such products:
1 in ``n`` of them for ``n`` chunks along the paired axis (``x @ x.T`` with 4 row blocks: the
4 diagonal output blocks of 16). A sub-array of 3 row blocks runs a third of its products at
half cost, the whole array at 2 row blocks half of them, at 1 all of them: without this,
matmul's single 4096 x 4096 chunk was priced at 3.4 s where it ran in 1.8 s.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

#: Cost of a self-product relative to a general product of the same blocks (SYRK: one
#: triangle, half the multiply-adds; modelled, not measured per run).
SELF_PRODUCT_COST = 0.5


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


def product_work(counts: Sequence[int], axes: Sequence[int]) -> float:
    """Work of the products relative to all of them general ones: self-products cost
    :data:`SELF_PRODUCT_COST` of a general one.

    Examples
    --------
    >>> product_work((2, 1), (0,))  # half the products at half cost
    0.75
    >>> product_work((1, 1), (0,))
    0.5
    """
    return 1.0 - self_share(counts, axes) * (1.0 - SELF_PRODUCT_COST)

