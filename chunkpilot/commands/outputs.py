"""Edge: check a path chunkpilot will write (a report, a results directory) before any work.

One rule for every output (``--report``, ``Watch.report``, ``demo --report``, benchmark
``--out``): never inside an input, never over a directory or over a file chunkpilot did not
write (unless ``overwrite``), never a device or pipe, and the directory must really take a
new file (probed by creating it: root passes ``os.access`` even on ``/proc``).
"""

from __future__ import annotations

import contextlib
import inspect
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from chunkpilot.errors import InvalidArgumentTypeError, OutputPathError
from chunkpilot.sources.urls import expand_home

#: Written into every HTML report's <head> (report.html.j2); an existing file that has it in
#: its first bytes is a previous chunkpilot report and may be replaced without ``overwrite``.
REPORT_MARKER = b'<meta name="generator" content="chunkpilot">'
#: How far into an existing file to look for the marker.
MARKER_SEARCH_BYTES = 4096


def _as_path(path: Any, name: str) -> Path:
    if isinstance(path, bytes) or not isinstance(path, (str, os.PathLike)):
        raise InvalidArgumentTypeError(
            f"Expected {name} as a file path (str or pathlib.Path). Got {type(path).__name__} "
            "instead.")
    text = os.fspath(path)
    if not isinstance(text, str) or not text.strip() or "\0" in text:
        raise OutputPathError(f"Expected {name} as a file path. Got {text!r} instead.")
    return Path(expand_home(text))


def source_paths(sources: Iterable[Any]) -> list[Path]:
    """The local filesystem paths among ``sources`` (str/PathLike/SourceRef), resolved."""
    out: list[Path] = []
    for s in sources:
        if isinstance(s, dict):  # a SourceRef: the store behind an array object
            s = s.get("path")
        if isinstance(s, (str, os.PathLike)) and "://" not in os.fspath(s):
            with contextlib.suppress(OSError, ValueError):
                out.append(Path(os.path.realpath(os.fspath(expand_home(s)))))
    return out


def code_files(*funcs: Any) -> list[str]:
    """The source files of the user's functions: inputs too, never to be written over."""
    out = []
    for f in funcs:
        with contextlib.suppress(TypeError, OSError):
            if f is not None and (path := inspect.getsourcefile(f)):
                out.append(path)
    return out


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _refuse(name: str, text: str, why: str) -> OutputPathError:
    return OutputPathError(f"Expected {name} to be a new file or a previous chunkpilot report "
                           f"in an existing, writable directory. Got {text!r} instead: {why}.")


def is_chunkpilot_report(path: Path) -> bool:
    """True when ``path`` is a regular file that a chunkpilot report wrote (the marker)."""
    try:
        with open(path, "rb") as f:
            return REPORT_MARKER in f.read(MARKER_SEARCH_BYTES)
    except OSError:
        return False


def check_output_path(path: Any, *, sources: Sequence[Any] = (), overwrite: bool = False,
                      name: str = "report") -> Path:
    """Refuse a report path that cannot or must not be written, before any work is done.

    Returns the path to write (``~`` expanded). Refused (:class:`OutputPathError`): empty,
    inside any of ``sources`` (the input would be overwritten), an existing directory,
    device or pipe, an existing file that is not a previous chunkpilot report unless
    ``overwrite``, or a place where a file cannot be created (missing or read-only
    directory, ``/proc``, a name too long).
    """
    p = _as_path(path, name)
    text = os.fspath(path)  # as given: Path() drops a trailing slash
    if text.endswith(os.sep):
        raise _refuse(name, text, "it names a directory (ends with a slash)")
    try:
        return _check(p, text, Path(os.path.realpath(p)), sources, overwrite, name)
    except OSError as e:  # a name too long, a loop of symlinks, ...: cannot be written
        raise _refuse(name, text, f"it cannot be written ({e.strerror or e})") from e


def _check(p: Path, text: str, real: Path, sources: Sequence[Any], overwrite: bool,
           name: str) -> Path:
    for src in source_paths(sources):
        if _inside(real, src) or (real.exists() and src.exists() and os.path.samefile(real, src)):
            raise _refuse(name, text, f"it is inside the input {str(src)!r}, which chunkpilot "
                                      "never writes")
    if real.is_dir():
        raise _refuse(name, text, "it is an existing directory")
    if real.exists():
        if not real.is_file():
            raise _refuse(name, text, "it is not a regular file (a device, pipe or socket)")
        if real.stat().st_nlink > 1:  # writing would go through to the other names too
            raise _refuse(name, text, "it has other hard links (one may be inside an input)")
        if not overwrite and not is_chunkpilot_report(real):
            raise _refuse(name, text, "it exists and is not a chunkpilot report (pass "
                                      "--overwrite / overwrite=True to replace it)")
        try:
            with open(real, "ab"):  # writable, without touching its bytes or mtime
                pass
        except OSError as e:
            raise _refuse(name, text, f"it cannot be written ({e.strerror})") from e
        return p
    parent = real.parent
    if not parent.is_dir():
        raise _refuse(name, text, f"its directory {str(parent)!r} does not exist")
    try:  # create it for real, then remove it: the only test that holds for root and /proc
        fd = os.open(real, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except OSError as e:
        raise _refuse(name, text, f"a file cannot be created there ({e.strerror})") from e
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(real)
    return p


#: Files that make a directory a zarr store (v3, v2 array, v2 group).
ZARR_METADATA = ("zarr.json", ".zarray", ".zgroup")


def enclosing_store(path: Path) -> Path | None:
    """The zarr store ``path`` is (inside), if any: never a place for chunkpilot's files."""
    for d in (path, *path.parents):
        if any((d / m).is_file() for m in ZARR_METADATA):
            return d
    return None


def check_output_dir(path: Any, *, sources: Sequence[Any] = (), name: str = "--out") -> Path:
    """Refuse a results directory that is inside an input or any zarr store, a file, or
    cannot be written."""
    p = _as_path(path, name)
    real = Path(os.path.realpath(os.fspath(p)))
    store = enclosing_store(real)
    for src in [*source_paths(sources), *([store] if store else [])]:
        if _inside(real, src):
            raise OutputPathError(f"Expected {name} outside the inputs and zarr stores. Got "
                                  f"{os.fspath(p)!r}, inside {str(src)!r}.")
    if real.exists() and not real.is_dir():
        raise OutputPathError(f"Expected {name} as a directory. Got {os.fspath(p)!r}, an "
                              "existing file.")
    existing = next((d for d in (real, *real.parents) if d.exists()), None)
    if existing is None or not existing.is_dir():
        raise OutputPathError(f"Expected {name} under an existing directory. Got "
                              f"{os.fspath(p)!r}.")
    try:
        with tempfile.TemporaryFile(dir=existing, prefix=".chunkpilot-probe-"):
            pass
    except OSError as e:
        raise OutputPathError(f"Expected {name} in a writable directory. Got {os.fspath(p)!r} "
                              f"({e.strerror}).") from e
    return p
