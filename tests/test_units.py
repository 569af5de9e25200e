"""Sizes like '4GiB' parsed at the edge with dask's own parser; durations formatted as dask does."""

from __future__ import annotations

import pytest

from chunkpilot.errors import InvalidArgumentTypeError, InvalidSizeError
from chunkpilot.units import format_seconds, parse_size


@pytest.mark.parametrize(("value", "expected"),
                         [("4GiB", 4 * 2**30), ("512 MB", 512 * 10**6), (1000, 1000)])
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


def test_format_seconds_is_dasks_format_time():
    assert format_seconds(0.0123) == "12.30 ms"
    assert format_seconds(2.5) == "2.50 s"
