"""Edge: load the user's function from ``MODULE:FUNC`` or ``FILE.py:FUNC``."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cloudpickle

from chunkpilot.errors import FunctionLoadError


def load_callable(spec: str) -> Callable[..., Any]:
    """Import the callable named by ``spec`` (``pkg.mod:func`` or ``path/to/file.py:func``)."""
    if not isinstance(spec, str) or ":" not in spec:
        raise FunctionLoadError(
            f"Expected a function as MODULE:FUNC or FILE.py:FUNC. Got {spec!r} instead."
        )
    where, _, name = spec.rpartition(":")
    if not where or not name:
        raise FunctionLoadError(f"Expected MODULE:FUNC or FILE.py:FUNC. Got {spec!r} instead.")
    module = _load_file(where) if where.endswith(".py") or "/" in where else _import(where)
    obj: Any = module
    for part in name.split("."):
        if not hasattr(obj, part):
            raise FunctionLoadError(f"Expected {where!r} to define {name!r}. It does not.")
        obj = getattr(obj, part)
    if not callable(obj):
        raise FunctionLoadError(f"Expected {spec!r} to be callable. Got {type(obj).__name__}.")
    return obj


def _import(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as e:
        raise FunctionLoadError(f"Expected an importable module {name!r}. Got {e}.") from e
    except Exception as e:
        raise FunctionLoadError(f"Importing {name!r} failed: {type(e).__name__}: {e}") from e


def _load_file(path_str: str) -> Any:
    path = Path(path_str).resolve()
    if not path.is_file():
        raise FunctionLoadError(f"Expected a Python file {path_str!r}. It does not exist.")
    mod_name = f"chunkpilot_user_{path.stem}"
    spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None or spec.loader is None:
        raise FunctionLoadError(f"Expected a Python file {path_str!r}. Cannot load it.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        sys.modules.pop(mod_name, None)
        raise FunctionLoadError(f"Loading {path_str!r} failed: {type(e).__name__}: {e}") from e
    # the module is not importable by that name elsewhere: ship its functions by value
    # to sandboxes and dask workers
    cloudpickle.register_pickle_by_value(module)
    return module
