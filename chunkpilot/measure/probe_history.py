"""Edge: this machine's recent overhead probes of its local schedulers, kept in a small JSON
file, pooled by :func:`chunkpilot.core.probes.pool_probes`.

A setup is the host, Python, dask, CPU count, scheduler and thread count: probes of another
setup are never pooled. The file is a cache: missing or unreadable, the plan uses this run's
probe alone (and says how many it pooled); unwritable, it is left as it was. It is replaced
atomically; concurrent runs can at worst lose one record.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import socket
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import dask
from dask.system import CPU_COUNT

from chunkpilot.core.probes import PooledOverhead, ProbeRecord, pool_probes, reuse_pool

#: The history file's name inside the cache directory.
FILE_NAME = "overhead-probes.json"


@dataclass(frozen=True, slots=True)
class ProbeHistory:
    """Where recent probes are kept and how many are pooled."""

    directory: Path
    """The cache directory (created when first written)."""
    keep: int
    """Probes pooled per setup, this run's included (1: this run's alone, no file)."""
    max_age_s: float
    """Older probes are dropped (the machine may have changed)."""
    reuse_s: float = 0.0
    """With ``keep`` recent probes, the newest no older than this, a run does not probe
    again (0: every run probes)."""

    @property
    def path(self) -> Path:
        return self.directory / FILE_NAME


def setup_key(scheduler: str, threads: int) -> str:
    """What a probe's result depends on besides noise."""
    return (f"{socket.gethostname()} | python {platform.python_version()} | "
            f"dask {dask.__version__} | {CPU_COUNT} cpus | {scheduler} | {threads} threads")


def _load(path: Path) -> dict[str, list[ProbeRecord]]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return {str(k): [ProbeRecord(float(r["seconds_per_task"]), float(r["at_unix_s"]))
                         for r in v] for k, v in raw.items()}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return {}  # no file yet, or not ours to trust: start afresh


def _save(path: Path, records: dict[str, list[ProbeRecord]]) -> bool:
    """Write ``records`` atomically; ``False`` when the directory is not writable."""
    data: dict[str, Any] = {k: [asdict(r) for r in v] for k, v in records.items() if v}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".probes-", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f, indent=1)
            os.replace(tmp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
    except OSError:
        return False
    return True


def recall_probes(history: ProbeHistory | None, key: str,
                  now_unix_s: float | None = None) -> PooledOverhead | None:
    """The pool of ``key``'s recent probes when it may stand in for a new probe
    (:func:`chunkpilot.core.probes.reuse_pool`), else ``None``."""
    if history is None or history.keep <= 1 or history.reuse_s <= 0:
        return None
    now = time.time() if now_unix_s is None else now_unix_s
    return reuse_pool(_load(history.path).get(key, ()), now, keep=history.keep,
                      max_age_s=history.max_age_s, reuse_s=history.reuse_s)


def remember_probe(history: ProbeHistory | None, key: str, seconds_per_task: float,
                   now_unix_s: float | None = None) -> PooledOverhead:
    """Pool ``seconds_per_task`` with the recent probes of ``key`` and record it."""
    new = ProbeRecord(seconds_per_task, time.time() if now_unix_s is None else now_unix_s)
    if history is None or history.keep <= 1:
        return pool_probes((), new, keep=1, max_age_s=0.0)[0]
    records = _load(history.path)
    pooled, kept = pool_probes(records.get(key, ()), new, keep=history.keep,
                               max_age_s=history.max_age_s)
    records = {k: [r for r in v if 0 <= new.at_unix_s - r.at_unix_s <= history.max_age_s]
               for k, v in records.items()}
    records[key] = list(kept)
    _save(history.path, records)  # best effort: a read-only cache still pools what it holds
    return pooled
