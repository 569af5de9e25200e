"""Every module under chunkpilot/core is pure: no cluster, store, subprocess or file I/O."""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import chunkpilot.core

CORE = Path(chunkpilot.core.__file__).parent
MODULES = sorted(m.name for m in pkgutil.iter_modules([str(CORE)]))
#: Packages a pure module may not pull in, directly or through another module.
FORBIDDEN_PACKAGES = ("distributed", "zarr", "h5py", "fsspec")
#: Not imported by core modules themselves (dask.array itself loads xarray and psutil).
FORBIDDEN_DIRECT = FORBIDDEN_PACKAGES + (
    "xarray", "psutil", "subprocess", "os", "pathlib", "shutil", "tempfile", "socket",
    "multiprocessing", "dask.config")
#: Calls that touch files or the environment.
FORBIDDEN_CALLS = ("open", "exec", "eval", "input")


def test_core_has_the_modules_we_expect():
    assert {"shapes", "model", "evaluate", "plan", "explain", "diagnose",
            "observations"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_module_source_makes_no_impure_imports_or_calls(name):
    tree = ast.parse((CORE / f"{name}.py").read_text())
    imported = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    imported += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    bad = [m for m in imported if m.split(".")[0] in FORBIDDEN_DIRECT or m in FORBIDDEN_DIRECT]
    assert not bad, f"chunkpilot.core.{name} imports {bad}"
    calls = [n.func.id for n in ast.walk(tree)
             if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
    assert not set(calls) & set(FORBIDDEN_CALLS), f"chunkpilot.core.{name} calls {calls}"


def test_importing_all_of_core_pulls_in_no_cluster_or_store_package():
    code = ("import sys\n"
            + "".join(f"import chunkpilot.core.{m}\n" for m in MODULES)
            + f"bad = [p for p in {FORBIDDEN_PACKAGES!r} if p in sys.modules]\n"
            "print(bad)\nsys.exit(1 if bad else 0)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
