"""Parse and format sizes and durations at the edge, with dask's own utilities (one of each)."""

from __future__ import annotations

import math

from dask.utils import format_bytes, format_time, parse_bytes, parse_timedelta

from chunkpilot.errors import InvalidArgumentError, InvalidArgumentTypeError, InvalidSizeError

__all__ = ["SizeLike", "format_bytes", "format_seconds", "parse_seconds", "parse_size", "plural"]

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


def plural(n: int, word: str, plural_word: str | None = None) -> str:
    """``"1 task"``, ``"2 tasks"``: a count with its noun in the right number.

    Examples
    --------
    >>> plural(1, "task"), plural(3, "task"), plural(2, "process", "processes")
    ('1 task', '3 tasks', '2 processes')
    >>> plural(12345, "task")
    '12,345 tasks'
    """
    return f"{n:,} {word if n == 1 else (plural_word or word + 's')}"


def parse_seconds(value: int | float | str, *, name: str = "timeout",
                  allow_zero: bool = False) -> float:
    """A positive, finite duration in seconds: ``60``, ``"60s"``, ``"2m"`` (dask's spellings);
    with ``allow_zero``, zero too (a setting that can be off).

    Examples
    --------
    >>> parse_seconds("2m"), parse_seconds(1.5), parse_seconds("0s", allow_zero=True)
    (120.0, 1.5, 0.0)
    """
    what = "a non-negative" if allow_zero else "a positive"
    bad = InvalidArgumentError(f"Expected {name} as {what} number of seconds or a duration "
                               f"like '60s'. Got {value!r} instead.")
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise bad
    try:
        seconds = float(parse_timedelta(value.strip() if isinstance(value, str) else value,
                                        default="seconds"))
    except (TypeError, ValueError, KeyError, OverflowError, IndexError) as e:
        raise bad from e
    if not math.isfinite(seconds) or seconds < 0 or (seconds == 0 and not allow_zero):
        raise bad
    return seconds
