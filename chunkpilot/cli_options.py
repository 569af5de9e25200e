"""The CLI's options and how their text becomes Python values (one spelling per idea).

Per-axis values are written ``DIM=N`` everywhere, comma-separated or repeated:
``--chunks time=24,lat=-1``, ``--depth time=2 --depth lat=2``; an axis may be a number
(``--depth 0=2``). ``--depth time:2`` (the older spelling) is still read the same way.
Durations take seconds or dask's spellings (``--trial-timeout 2m``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from chunkpilot.errors import InvalidArgumentError
from chunkpilot.loader import load_callable
from chunkpilot.sources.storage_options import parse_storage_option_args
from chunkpilot.types import is_axis_number
from chunkpilot.units import parse_seconds

__all__ = ["advise_kwargs", "check_options", "common_options", "output_options",
           "parse_axes_option", "parse_chunks_option", "parse_depth_option"]

#: What ``--scheduler`` accepts, per command (``tune`` needs threads to tune).
SCHEDULER_HELP = {
    "advise": "processes (a LocalCluster of worker processes, the default), threads, "
              "synchronous, or a scheduler address tcp://HOST:PORT.",
    "tune": "processes (a LocalCluster of worker processes, started on 127.0.0.1, the "
            "default), threads (trials on dask's threaded scheduler in this process) or a "
            "scheduler address tcp://HOST:PORT.",
    "check": "processes (a LocalCluster of worker processes, the default), threads, "
             "synchronous, or a scheduler address tcp://HOST:PORT.",
}
MEMORY_HELP = ("Memory per worker: 4GiB, auto (this machine's memory shared out) or a fraction "
               "like 0.5.")


def _axis(key: str) -> int | str:
    key = key.strip()
    return int(key) if is_axis_number(key) else key


def _items(values: tuple[str, ...] | str) -> list[str]:
    """Repeated and comma-separated values, flattened: ``("a,b", "c") -> ["a", "b", "c"]``."""
    values = (values,) if isinstance(values, str) else values
    return [t.strip() for v in values for t in v.split(",") if t.strip()]


def parse_chunks_option(text: str | None) -> Any:
    """``--chunks``: ``"auto"``, ``"24"``, ``"24,-1,40"`` or ``"time=24,lat=-1"`` -> dask chunks.

    Refused: empty items (``5,,5``, ``5,``), an axis named twice (``time=5,time=6``), mixing
    ``DIM=N`` with bare lengths, and anything but integers, ``-1`` or ``auto``.
    """
    if text is None:
        return None
    usage = "--chunks like 24,-1,40 or time=24,lat=-1 or auto"
    items = [t.strip() for t in text.split(",")]
    if not text.strip() or any(not t for t in items):
        raise InvalidArgumentError(f"Expected {usage}, without empty items. Got {text!r} instead.")

    def value(v: str) -> int | str:
        if v == "auto":
            return v
        try:
            return int(v)
        except ValueError as e:
            raise InvalidArgumentError(f"Expected {usage}. Got {text!r} instead.") from e

    keyed = ["=" in t for t in items]
    if any(keyed):
        pairs = [tuple(p.strip() for p in t.partition("=")) for t in items]
        if not all(keyed) or any(not k or not v or "=" in v for k, _, v in pairs):
            raise InvalidArgumentError(f"Expected --chunks as DIM=N,DIM=N. Got {text!r} instead.")
        keys = [int(k) if is_axis_number(k) else k for k, _, _ in pairs]
        if len(set(keys)) != len(keys):
            raise InvalidArgumentError(
                f"Expected each dimension once in --chunks. Got {text!r} instead.")
        return {k: value(v) for k, (_, _, v) in zip(keys, pairs, strict=True)}
    return value(items[0]) if len(items) == 1 else tuple(value(t) for t in items)


def _int(v: str, name: str) -> int:
    try:
        return int(v)
    except ValueError as e:
        raise InvalidArgumentError(f"Expected an integer for {name}. Got {v!r} instead.") from e


def parse_depth_option(values: tuple[str, ...]) -> Any:
    """``--depth``: ``N`` for every axis, or ``AXIS=N`` per axis (``AXIS:N`` also read)."""
    items = _items(values)
    if not items:
        return None
    if len(items) == 1 and "=" not in items[0] and ":" not in items[0]:
        return _int(items[0], "--depth")
    out: dict[Any, int] = {}
    for v in items:
        sep = "=" if "=" in v else ":"
        axis, found, n = v.rpartition(sep)
        if not found or not axis.strip():
            raise InvalidArgumentError(f"Expected --depth N or --depth AXIS=N. Got {v!r} instead.")
        key = _axis(axis)
        if key in out:  # two depths for one axis: which one was meant is not ours to guess
            raise InvalidArgumentError(
                f"Expected each axis once in --depth. Got {key!r} twice ({', '.join(items)}).")
        out[key] = _int(n.strip(), "--depth")
    return out


def parse_axes_option(values: tuple[str, ...]) -> tuple[Any, ...]:
    """``--keep-whole time --keep-whole 1`` or ``--keep-whole time,1`` -> axis names/numbers."""
    return tuple(_axis(v) for v in _items(values))


def _apply(f: Callable[..., Any], opts: list[Callable[..., Any]]) -> Callable[..., Any]:
    for opt in reversed(opts):
        f = opt(f)
    return f


def output_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """--json, -v/--verbose and -q/--quiet: results on stdout, progress and logs on stderr."""
    return _apply(f, [
        click.option("--json", "as_json", is_flag=True,
                     help="Print one JSON object on stdout (no progress display)."),
        click.option("-v", "--verbose", count=True,
                     help="More detail on stderr: every sample and debug logs."),
        click.option("-q", "--quiet", is_flag=True,
                     help="Nothing on stderr but errors; results still go to stdout."),
    ])


def resource_options(command: str) -> list[Callable[..., Any]]:
    """--workers, --threads-per-worker, --memory-limit and --scheduler."""
    return [
        click.option("--workers", type=int, default=None, help="Worker processes."),
        click.option("--threads-per-worker", type=int, default=None, help="Threads per worker."),
        click.option("--memory-limit", default=None, metavar="SIZE", help=MEMORY_HELP),
        click.option("--scheduler", default="processes", show_default=True, metavar="NAME|ADDRESS",
                     help=SCHEDULER_HELP[command]),
    ]


#: Object stores: ``--storage-option KEY=VALUE`` (repeatable) and ``--anon``.
STORE_OPTIONS = [
    click.option("--storage-option", "storage_option", multiple=True, metavar="KEY=VALUE",
                 help="fsspec option for a URL source (s3://, gs://, https://), e.g. "
                      "endpoint_url=http://HOST:PORT, key=..., secret=...; repeatable; a.b=V "
                      "nests. Credentials are never printed."),
    click.option("--anon", is_flag=True, help="Read a URL source anonymously (public bucket)."),
]


def storage_options_of(o: dict[str, Any]) -> dict[str, Any] | None:
    """``--storage-option``/``--anon`` values -> ``storage_options=`` (popped from ``o``)."""
    return parse_storage_option_args(o.pop("storage_option", ()), bool(o.pop("anon", False)))


def common_options(command: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Options shared by advise and tune (``command`` words the scheduler help)."""
    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        return _apply(f, [
            click.argument("source"),
            click.option("--array", "--variable", "array", default=None, metavar="NAME",
                         help="Array inside a zarr group, or variable inside a netCDF4/HDF5 file."),
            click.option("--func", "func", default=None, metavar="MODULE:FUNC",
                         help="Per-block function MODULE:FUNC or FILE.py:FUNC."),
            click.option("--pipeline", "pipeline", default=None, metavar="MODULE:FUNC",
                         help="Whole-array pipeline MODULE:FUNC or FILE.py:FUNC (fn(x) -> dask "
                              "result); not with --func."),
            *resource_options(command),
            click.option("--keep-whole", multiple=True, metavar="AXIS",
                         help="Axis (number or dim name) kept whole: time, or time,lat; "
                              "repeatable."),
            click.option("--depth", multiple=True, metavar="N|AXIS=N",
                         help="Overlap depth: N for every axis, or AXIS=N (time=2,lat=2); "
                              "repeatable."),
            click.option("--drop-axis", multiple=True, metavar="AXIS",
                         help="Axis (number or dim name) the function's output lacks, as "
                              "map_blocks(drop_axis=) takes it; repeatable."),
            click.option("--profile-timeout", default=None, metavar="SECONDS",
                         help="Seconds (or 2m, 90s) one profiling sample may run before it is "
                              "killed [default: 60s, dask config "
                              "chunkpilot.advise.profile-timeout]."),
            *STORE_OPTIONS,
            output_options,
        ])
    return decorate


def check_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """SOURCE, --array, --chunks, the resource and store options and the output flags of
    ``chunkpilot check``."""
    return _apply(f, [
        click.argument("source"),
        click.option("--array", "--variable", "array", default=None, metavar="NAME",
                     help="One array/variable; default: every one in the group or file."),
        click.option("--chunks", default=None, metavar="CHUNKS",
                     help="Check these chunks instead of the source's: 24,-1,40 or "
                          "time=24,lat=-1 or auto."),
        *resource_options("check"),
        *STORE_OPTIONS,
        output_options,
    ])


def advise_kwargs(o: dict[str, Any]) -> dict[str, Any]:
    """Turn CLI option values into keyword arguments of ``chunkpilot.advise``."""
    if o.get("func") and o.get("pipeline"):
        raise InvalidArgumentError(
            f"Expected --func or --pipeline, not both. Got --func {o['func']} and "
            f"--pipeline {o['pipeline']}."
        )
    out = {
        "func": load_callable(o["func"]) if o["func"] else None,
        "pipeline": load_callable(o["pipeline"]) if o.get("pipeline") else None,
        "array": o["array"],
        "workers": o["workers"],
        "threads_per_worker": o["threads_per_worker"],
        "memory_limit": o["memory_limit"],
        "scheduler": o["scheduler"],
        "keep_whole": parse_axes_option(o["keep_whole"]),
        "depth": parse_depth_option(o["depth"]),
        "drop_axis": parse_axes_option(o["drop_axis"]),
        "storage_options": storage_options_of(o),
    }
    if o.get("profile_timeout") is not None:
        out["profile_timeout_s"] = parse_seconds(o["profile_timeout"], name="--profile-timeout")
    return out
