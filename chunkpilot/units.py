"""Parse and format sizes and durations at the edge, with dask's own utilities (one of each)."""

from __future__ import annotations

from dask.utils import format_bytes, format_time, parse_bytes

from chunkpilot.errors import InvalidArgumentTypeError, InvalidSizeError

__all__ = ["SizeLike", "format_bytes", "format_seconds", "parse_size"]

SizeLike = int | float | str

#: Durations are written as dask writes them (``"12.35 ms"``, ``"1.20 s"``), everywhere.
format_seconds = format_time


def parse_size(value: SizeLike, *, name: str = "size", allow_zero: bool = False) -> int:
    """Return ``value`` as a positive number of bytes (``"4GiB"``, ``"500 MB"``, ``2**30``).

    Examples
    --------
    >>> parse_size("4GiB")
    4294967296
    >>> parse_size(1000)
    1000
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InvalidArgumentTypeError(
            f"Expected {name} as a number of bytes or a string like '4GiB'. "
            f"Got {type(value).__name__} {value!r} instead."
        )
    if isinstance(value, str) and not value.strip():
        raise InvalidSizeError(f"Expected {name} like '4GiB'. Got an empty string instead.")
    try:
        nbytes = parse_bytes(value.strip() if isinstance(value, str) else value)
    except (ValueError, TypeError, OverflowError) as e:
        raise InvalidSizeError(
            f"Expected {name} like '4GiB', '512MB' or a number of bytes. Got {value!r} instead."
        ) from e
    if nbytes < 0 or (nbytes == 0 and not allow_zero):
        raise InvalidSizeError(f"Expected {name} greater than zero. Got {value!r} instead.")
    return int(nbytes)
