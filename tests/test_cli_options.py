"""How option text becomes values: one spelling (DIM=N) for every per-axis option."""

from __future__ import annotations

import pytest

from chunkpilot.cli_options import parse_axes_option, parse_depth_option
from chunkpilot.errors import InvalidArgumentError


@pytest.mark.parametrize(
    ("values", "expected"),
    [((), None), (("4",), 4), (("time=2",), {"time": 2}),
     (("time=2,lat=3",), {"time": 2, "lat": 3}),
     (("time=2", "lat=3"), {"time": 2, "lat": 3}), (("0=4", "1=4"), {0: 4, 1: 4}),
     (("time:2",), {"time": 2}), (("0:4", "1:4"), {0: 4, 1: 4})],
    ids=["none", "all-axes", "one", "comma", "repeated", "axis-numbers", "older-colon",
         "older-colon-numbers"],
)
def test_depth(values, expected):
    assert parse_depth_option(values) == expected


@pytest.mark.parametrize("values", [("x=y",), ("=3",), ("two",)])
def test_depth_rejects(values):
    with pytest.raises(InvalidArgumentError, match="--depth"):
        parse_depth_option(values)


def test_axes_repeated_or_comma_separated():
    assert parse_axes_option(("time,1", "lat")) == ("time", 1, "lat")
