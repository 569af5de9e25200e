"""Edge: load the user's function from ``MODULE:FUNC`` or ``FILE.py:FUNC``."""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cloudpickle

from chunkpilot import interrupts
from chunkpilot.errors import FunctionLoadError, Interrupted


def load_callable(spec: str) -> Callable[..., Any]:
    """Import the callable named by ``spec`` (``pkg.mod:func`` or ``path/to/file.py:func``)."""
    if not isinstance(spec, str) or ":" not in spec:
        raise FunctionLoadError(
            f"Expected a function as MODULE:FUNC or FILE.py:FUNC. Got {spec!r} instead."
        )
    where, _, name = spec.rpartition(":")
    if ":" in where and not where.endswith(".py") and "/" not in where.rsplit(":", 1)[1]:
        raise FunctionLoadError(  # 'funcs.py:f:g': one colon too many, not a module 'funcs.py:f'
            f"Expected one colon, MODULE:FUNC or FILE.py:FUNC. Got {spec!r} instead.")
    if not where or not name:
        raise FunctionLoadError(f"Expected MODULE:FUNC or FILE.py:FUNC. Got {spec!r} instead.")
    module = _load_file(where) if where.endswith(".py") or "/" in where else _import(where)
    obj: Any = module
    with _user_import(repr(where)):  # a module __getattr__ or property is user code too
        for part in name.split("."):
            if not hasattr(obj, part):
                raise FunctionLoadError(f"Expected {where!r} to define {name!r}. It does not.")
            obj = getattr(obj, part)
    if not callable(obj):
        raise FunctionLoadError(f"Expected {spec!r} to be callable. Got {type(obj).__name__}.")
    return obj


class _ExitCalled(Exception):
    """``os._exit`` called by a module while it was being imported."""


def _refuse_exit(code: int = 0) -> None:
    raise _ExitCalled(code)


@contextlib.contextmanager
def _user_import(what: str, *, module: bool = False) -> Iterator[None]:
    """Import user code: its prints go to stderr (stdout is the result), and ``sys.exit``,
    ``os._exit`` or any ``BaseException`` it raises becomes a :class:`FunctionLoadError`.
    A signal from the terminal (our :class:`Interrupted`, or Ctrl-C outside the CLI) still
    interrupts."""
    real_exit, state = os._exit, _process_state()
    os._exit = _refuse_exit  # type: ignore[assignment]
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    except FunctionLoadError:
        raise
    except ImportError as e:
        if not module:
            raise FunctionLoadError(f"Loading {what} failed: {type(e).__name__}: {e}") from e
        raise FunctionLoadError(f"Expected an importable module {what}. Got {e}.") from e
    except SystemExit as e:
        raise FunctionLoadError(
            f"Expected {what} to import without exiting. Got sys.exit({e.code!r}) at import "
            "(guard script code with `if __name__ == '__main__':`).") from e
    except _ExitCalled as e:
        raise FunctionLoadError(
            f"Expected {what} to import without exiting. Got os._exit({e.args[0]!r}) at import "
            "(guard script code with `if __name__ == '__main__':`).") from e
    except KeyboardInterrupt as e:
        if isinstance(e, Interrupted) or not interrupts.installed():
            raise  # a real signal: interrupted, not a load error
        raise FunctionLoadError(f"Loading {what} failed: it raised KeyboardInterrupt at "
                                "import.") from e
    except BaseException as e:  # noqa: B036 - user code may raise anything at import
        raise FunctionLoadError(f"Loading {what} failed: {type(e).__name__}: {e}") from e
    finally:
        os._exit = real_exit  # type: ignore[assignment]
        _restore(state)


def _process_state() -> dict[str, Any]:
    """What an imported module may change for the whole process and must not: streams, the
    working directory, our signal handlers."""
    handlers = {}
    if threading.current_thread() is threading.main_thread():
        handlers = {s: signal.getsignal(s) for s in interrupts.SIGNALS}
    return {"stderr": sys.stderr, "cwd": os.getcwd(), "handlers": handlers}


def _restore(state: dict[str, Any]) -> None:
    sys.stderr = state["stderr"]
    with contextlib.suppress(OSError):
        os.chdir(state["cwd"])
    for s, h in state["handlers"].items():
        if h is not None and signal.getsignal(s) is not h:
            with contextlib.suppress(ValueError, OSError, TypeError):
                signal.signal(s, h)


def _import(name: str) -> Any:
    """Import ``name``; a module or package in the working directory is found too, as
    ``python -m`` finds it (the ``chunkpilot`` command's ``sys.path`` starts at its own
    script's directory). The directory is appended, so it never shadows an installed
    module; sandboxes and worker processes inherit ``sys.path``."""
    top, here = name.partition(".")[0], os.getcwd()
    beside = Path(here, f"{top}.py").is_file() or Path(here, top, "__init__.py").is_file()
    if beside and here not in sys.path and "" not in sys.path:
        sys.path.append(here)
    with _user_import(repr(name), module=True):
        return importlib.import_module(name)


def _load_file(path_str: str) -> Any:
    path = Path(path_str).expanduser().resolve()
    if path.is_dir():
        raise FunctionLoadError(
            f"Expected a Python file for {path_str!r} (FILE.py:FUNC). Got a directory: name a "
            "file in it, or import a package as MODULE:FUNC.")
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
        with _user_import(repr(path_str)):
            spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(mod_name, None)
        raise
    # the module is not importable by that name elsewhere: ship its functions by value
    # to sandboxes and dask workers
    cloudpickle.register_pickle_by_value(module)
    return module
