"""Values at the edge: ArraySpec, WorkSpec and Resources validate; axes and depths parse;
JSON round-trips."""

from __future__ import annotations

import pytest

from chunkpilot.errors import InvalidArgumentError
from chunkpilot.types import ArraySpec, Resources, WorkSpec, normalize_axes, parse_depth


def test_axes_and_depth():
    assert normalize_axes((-1, 0), 3, None, "keep_whole") == (0, 2)
    assert normalize_axes("time", 3, ("time", "y", "x"), "keep_whole") == (0,)
    with pytest.raises(InvalidArgumentError, match="range"):
        normalize_axes(3, 3, None, "keep_whole")
    with pytest.raises(InvalidArgumentError, match="name a dimension"):
        normalize_axes("lat", 3, ("time", "y", "x"), "keep_whole")
    # before: "Expected keep_whole to name a dimension of []" for an array without names
    with pytest.raises(InvalidArgumentError, match="axis numbers: this array has no dimension"):
        normalize_axes("lat", 3, None, "keep_whole")
    assert parse_depth(2, 2) == (2, 2)
    assert parse_depth({"y": 8}, 2, ("y", "x")) == (8, 0)
    with pytest.raises(InvalidArgumentError):
        parse_depth({0: -1}, 2)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"workers": 0}, "greater than zero"),
    ({"threads_per_worker": -1}, "greater than zero"),
    ({"memory_limit_bytes": 0}, "greater than zero"),
])
def test_resources_validate(kwargs, match):
    base = {"workers": 1, "threads_per_worker": 1, "memory_limit_bytes": 2**30}
    with pytest.raises(InvalidArgumentError, match=match):
        Resources(**{**base, **kwargs})


def test_array_spec_derived_fields():
    s = ArraySpec((10, 10), "float32", storage_chunks=(20, 5))
    assert s.nbytes == 400 and s.storage_chunks == (10, 5)


def test_values_round_trip_through_dicts():
    spec = ArraySpec((10, 20), "float32", storage_chunks=(5, 5), current_chunks=((5, 5), (20,)),
                     dims=("y", "x"), source="zarr:/a")
    assert ArraySpec.from_dict(spec.to_dict()) == spec
    work = WorkSpec(2, (1,), (2, 0), (0,))
    assert WorkSpec.from_dict(work.to_dict()) == work
    res = Resources(2, 3, 2**30, "local", target_fraction=0.5)
    assert Resources.from_dict(res.to_dict()) == res


def test_memory_budget_is_target_times_limit():
    assert Resources(1, 1, 1000, target_fraction=0.6).memory_budget_bytes == 600
