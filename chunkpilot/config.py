"""Edge: chunkpilot's thresholds in dask's config (``chunkpilot.*``), read into frozen values.

``chunkpilot.yaml`` (shipped with the package) is registered with
``dask.config.update_defaults`` on import, the way distributed registers ``distributed.yaml``,
so the usual dask ways to override apply: a YAML file in ``~/.config/dask/``,
``DASK_CHUNKPILOT__TUNE__MAX_TRIALS=3`` in the environment, or
``dask.config.set({"chunkpilot.tune.max-trials": 3})``. Commands read the values here, at
the edge, and pass plain values down: the core never reads config.
"""

from __future__ import annotations

import os
import pathlib
from typing import Any

import dask.config
import yaml
from dask.utils import parse_bytes

from chunkpilot.core.policy import CheckThresholds, Policy
from chunkpilot.errors import InvalidArgumentError
from chunkpilot.measure.probe_history import ProbeHistory
from chunkpilot.units import parse_seconds

__all__ = ["DEFAULTS_PATH", "allowed_failures", "check_thresholds", "get", "max_trials", "policy",
           "probe_history", "profile_timeout_s", "task_limits", "trial_timeout_s"]

#: The shipped defaults (package data).
DEFAULTS_PATH = pathlib.Path(__file__).with_name("chunkpilot.yaml")

with DEFAULTS_PATH.open(encoding="utf-8") as _f:
    DEFAULTS: dict[str, Any] = yaml.safe_load(_f)

dask.config.update_defaults(DEFAULTS)


def _where(key: str) -> str:
    env = "DASK_" + "__".join(p.upper().replace("-", "_") for p in ("chunkpilot." + key).split("."))
    return f"chunkpilot.{key} (dask config, or {env})"


def get(key: str) -> Any:
    """The configured value of ``chunkpilot.<key>``, e.g. ``get("tune.max-trials")``."""
    return dask.config.get(f"chunkpilot.{key}")


def _number(key: str, *, integer: bool = False, size: bool = False, share: bool = False,
            zero: bool = False) -> Any:
    """A positive number (``share``: in [0, 1); ``zero``: 0 allowed too) from config, or a
    clear error naming the key."""
    value = get(key)
    try:
        if size and isinstance(value, str):
            value = parse_bytes(value)
        if isinstance(value, bool):
            raise TypeError
        number = int(value) if integer else float(value)
        if integer and number != float(value):
            raise ValueError
    except (TypeError, ValueError) as e:
        kind = "an integer" if integer else "a number"
        raise InvalidArgumentError(
            f"Expected {_where(key)} as {kind}. Got {value!r} instead.") from e
    if share and not 0 <= number < 1:
        raise InvalidArgumentError(
            f"Expected {_where(key)} as a share in [0, 1). Got {value!r} instead.")
    if not share and not (number > 0 or (zero and number == 0)):
        sign = ">= 0" if zero else "> 0"
        raise InvalidArgumentError(f"Expected {_where(key)} {sign}. Got {value!r} instead.")
    return number


def _seconds(key: str) -> float:
    return parse_seconds(get(key), name=_where(key))


def _seconds_or_off(key: str) -> float:
    """A duration, or off: ``False`` or any zero duration (``0``, ``"0s"``, ``"0h"``)."""
    value = get(key)
    return 0.0 if value is False else parse_seconds(value, name=_where(key), allow_zero=True)


def policy() -> Policy:
    """The planner's and tuning's tie bands."""
    return Policy(_number("advise.tie-tolerance", share=True),
                  _number("tune.noise-fraction", share=True))


def check_thresholds() -> CheckThresholds:
    """``chunkpilot check``'s thresholds."""
    return CheckThresholds(
        max_tasks=_number("check.max-tasks", integer=True),
        worthy_overhead_multiple=_number("check.worthy-overhead-multiple"),
        assumed_bytes_per_second=_number("check.assumed-bytes-per-second", integer=True,
                                         size=True),
        tiny_fraction=_number("check.tiny-fraction"),
        max_read_amplification=_number("check.max-read-amplification"),
        ragged_fraction=_number("check.ragged-fraction"),
    )


def task_limits() -> tuple[int, int]:
    """(warn above, re-plan above) this many tasks in a plan's graph (``core.taskcap``)."""
    return _number("pipeline.warn-tasks", integer=True), _number("pipeline.max-tasks", integer=True)


def max_trials() -> int:
    """At most this many trials in ``tune``."""
    return int(_number("tune.max-trials", integer=True))


def allowed_failures() -> int:
    """How many times a task may kill a worker of chunkpilot's own LocalCluster before it is
    failed (distributed's ``allowed_failures``)."""
    return int(_number("cluster.allowed-failures", integer=True, zero=True))


def profile_timeout_s() -> float:
    """Seconds a profiling sample may run before it is killed."""
    return _seconds("advise.profile-timeout")


def advise_budget_s() -> float:
    """Seconds an advise aims to finish in (0: no budget; ``measure.time_budget.TimeBudget``)."""
    return _seconds_or_off("advise.time-budget")


def trial_timeout_s() -> float:
    """Seconds a tune trial may run before it is cancelled."""
    return _seconds("tune.trial-timeout")


def min_trial_seconds() -> float:
    """Seconds of the plan's predicted work a tune trial's region holds at least."""
    return _seconds("tune.min-trial-seconds")


def probe_history() -> ProbeHistory:
    """Where recent overhead probes are kept and how many the planner pools."""
    directory = get("probe.cache-dir")
    if directory is None:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        directory = os.path.join(base, "chunkpilot")
    elif not isinstance(directory, (str, os.PathLike)) or not str(directory).strip():
        raise InvalidArgumentError(
            f"Expected {_where('probe.cache-dir')} as a directory path. Got {directory!r} instead.")
    return ProbeHistory(pathlib.Path(directory).expanduser(),
                        int(_number("probe.history", integer=True)),
                        _seconds("probe.history-max-age"), _seconds_or_off("probe.reuse-within"))


def connect_timeout_s() -> float:
    """Seconds to wait for a scheduler address to answer."""
    return _seconds("cluster.connect-timeout")
