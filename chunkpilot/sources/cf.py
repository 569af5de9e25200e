"""The dtype a netCDF / xarray-zarr variable has once xarray decodes it (CF mask and scale,
times, booleans).

A variable stored as int16 with ``scale_factor`` / ``add_offset`` / ``_FillValue`` is
float32 or float64 in the Dataset xarray opens, int32 days with ``units: "days since
2000-01-01"`` are datetime64[ns], and int8 with ``dtype: "bool"`` is bool: the "How to
apply" line opens it that way, so the plan is sized, and its samples cast, for the decoded
dtype. xarray is asked itself, on a one-element stand-in with the same attributes: its
rules (which float, when int32 needs float64, which units are times) are not copied here.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from chunkpilot.sources.optional import import_optional

#: The attributes xarray's decoding reads: mask and scale, times, booleans.
CF_KEYS = ("scale_factor", "add_offset", "_FillValue", "missing_value", "units", "calendar",
           "dtype")


def _scalar(v: Any) -> Any:
    """A one-element attribute array (h5py) as a numpy scalar of its own dtype."""
    a = np.asarray(v)
    return a.reshape(-1)[0] if a.size == 1 and a.ndim > 0 else v


def decoded_dtype(dtype: Any, attrs: Mapping[str, Any]) -> np.dtype:
    """``dtype`` as xarray decodes a variable with these ``attrs``; unchanged when there is
    nothing to decode or xarray is not installed.

    Examples
    --------
    >>> decoded_dtype("int16", {"scale_factor": np.float32(0.01), "add_offset": np.float32(2)})
    dtype('float32')
    >>> decoded_dtype("int16", {"units": "K"})
    dtype('int16')
    >>> decoded_dtype("int32", {"units": "days since 2000-01-01"}), decoded_dtype("int8",
    ...                                                                        {"dtype": "bool"})
    (dtype('<M8[ns]'), dtype('bool'))
    """
    stored = np.dtype(dtype)
    found = {k: _scalar(attrs[k]) for k in CF_KEYS if k in attrs}
    if not found:
        return stored
    try:
        xr = import_optional("xarray", "to decode CF attributes", "xarray")
        v = xr.Variable(("x",), np.zeros(1, dtype=stored), attrs=found)
        with warnings.catch_warnings():  # xarray's notes on its defaults (timedelta units)
            warnings.simplefilter("ignore")
            return np.dtype(xr.decode_cf(xr.Dataset({"v": v}))["v"].dtype)
    except Exception:  # no xarray, or attributes it cannot decode: as stored
        return stored
