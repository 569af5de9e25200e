"""A sample's sandbox reads a store at a URL through ``sources.array_readers`` (preloaded by
its spawner, ``sources.urls.reader_preload``) without importing dask.array: ~1 s of imports
per spawner, and a sample of a URL then starts from the same interpreter state as a sample
of a local store (``measure.spawner``: what an interpreter imported moved a sample's time)."""

from __future__ import annotations

import json
import subprocess
import sys

from chunkpilot.sources.urls import reader_preload


def _imported_after(modules: tuple[str, ...]) -> set[str]:
    code = ("import importlib, json, sys\n"
            f"for m in {list(modules)!r}: importlib.import_module(m)\n"
            "print(json.dumps(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    return set(json.loads(out.stdout))


def test_a_url_samples_readers_do_not_import_dask_array():
    preload = reader_preload({"kind": "remote", "url": "s3://bucket/a.zarr"})
    assert preload == ("chunkpilot.sources.array_readers", "s3fs")
    modules = _imported_after(("chunkpilot.measure.child", *preload))
    assert "zarr" in modules and "s3fs" in modules
    assert "dask.array" not in modules
