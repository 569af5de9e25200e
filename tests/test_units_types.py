"""Edge validation of sizes, shapes, axes and depths."""

from __future__ import annotations

import pytest

from chunkpilot.errors import InvalidArgumentError, InvalidArgumentTypeError, InvalidSizeError
from chunkpilot.types import ArraySpec, Resources, normalize_axes, parse_depth
from chunkpilot.units import parse_size


@pytest.mark.parametrize(("value", "expected"), [("4GiB", 4 * 2**30), ("512 MB", 512 * 10**6), (1000, 1000)])
def test_parse_size_ok(value, expected):
    assert parse_size(value) == expected


@pytest.mark.parametrize("value", ["4 gigs", "-1GiB", "0", "", "nan", float("inf"), -5])
def test_parse_size_rejects(value):
    with pytest.raises(InvalidSizeError, match="Expected"):
        parse_size(value)


@pytest.mark.parametrize("value", [None, [1], True])
def test_parse_size_wrong_type(value):
    with pytest.raises(InvalidArgumentTypeError):
        parse_size(value)


def test_axes_and_depth():
    assert normalize_axes((-1, 0), 3, None, "keep_whole") == (0, 2)
    assert normalize_axes("time", 3, ("time", "y", "x"), "keep_whole") == (0,)
    with pytest.raises(InvalidArgumentError, match="range"):
        normalize_axes(3, 3, None, "keep_whole")
    with pytest.raises(InvalidArgumentError, match="name a dimension"):
        normalize_axes("lat", 3, ("time", "y", "x"), "keep_whole")
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
