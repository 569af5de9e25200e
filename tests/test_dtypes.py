"""``chunkpilot.dtypes``: the dtype rule and the data-array rule every source shares."""

from __future__ import annotations

import numpy as np
import pytest

from chunkpilot.dtypes import check_dtype, is_data
from chunkpilot.errors import UnsupportedDtypeError


@pytest.mark.parametrize(("dtype", "shape", "expected"), [
    ("float64", (4, 3), True),
    ("int8", (1,), True),
    ("datetime64[ns]", (10,), True),  # fixed item size: sizable (xarray's listing leaves it out)
    ("float32", (), False),  # a scalar such as ``crs``
    ("float32", (5, 0), False),  # an empty placeholder
    ("<U8", (3,), False),  # text
    (object, (3,), False),
    (np.dtype([("a", "f4"), ("b", "i4")]), (3,), False),  # structured: pick one field
])
def test_is_data(dtype, shape, expected):
    assert is_data(dtype, shape) is expected


def test_check_dtype_says_why():
    with pytest.raises(UnsupportedDtypeError, match="text"):
        check_dtype("<U8")
    with pytest.raises(UnsupportedDtypeError, match=r"select one \(x\['a'\]\)"):
        check_dtype([("a", "f4"), ("b", "i4")])
    assert check_dtype("float32") == np.dtype("float32")
