"""Which arrays chunkpilot can plan: the dtype rule and the "data array" rule, in one place.

Every source asks the same two questions: may this dtype be planned (``check_dtype``, which
raises with the reason), and is this array data to plan rather than a scalar, an empty array
or text (``is_data``, which a store's or file's listing uses to pick or offer its arrays).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from chunkpilot.errors import UnsupportedDtypeError


def check_dtype(dtype: Any) -> np.dtype:
    """Return ``dtype`` as a numpy dtype with a fixed item size, or raise."""
    try:
        dt = np.dtype(dtype)
    except TypeError as e:
        raise UnsupportedDtypeError(f"Expected a numpy dtype. Got {dtype!r} instead.") from e
    if dt.names is not None and not dt.hasobject:  # issue 17: say what to do instead
        raise UnsupportedDtypeError(
            f"Expected a numeric dtype with a fixed item size. Got the structured dtype {dt} "
            "instead: chunkpilot plans one numeric field at a time; select one "
            f"(x[{dt.names[0]!r}])."
        )
    if dt.hasobject or dt.kind in "OUSV" or dt.itemsize == 0:
        why = ("text (strings or bytes): chunkpilot plans numeric arrays" if dt.kind in "US"
               else "chunkpilot cannot size chunks whose bytes per element are unknown")
        raise UnsupportedDtypeError(
            f"Expected a numeric dtype with a fixed item size. Got {dt} instead: {why}.")
    return dt


def is_data(dtype: Any, shape: Sequence[int]) -> bool:
    """Whether an array is data to plan: a dtype ``check_dtype`` accepts, at least one axis
    and no empty one (the scalar ``crs``, the ``time_bnds`` strings and zero-length
    placeholders a store often holds beside its data are not).

    Examples
    --------
    >>> is_data("float32", (10, 4)), is_data("float32", ()), is_data("<U8", (3,))
    (True, False, False)
    """
    try:
        check_dtype(dtype)
    except UnsupportedDtypeError:
        return False
    return len(shape) > 0 and 0 not in shape
