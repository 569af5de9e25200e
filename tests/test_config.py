"""chunkpilot's thresholds in dask config: shipped defaults, overrides, clear errors."""

from __future__ import annotations

import importlib.resources
import os
import subprocess
import sys

import dask
import dask.array as da
import pytest
import yaml

import chunkpilot
from chunkpilot import config
from chunkpilot.commands.options import AdviseOptions
from chunkpilot.core.policy import CheckThresholds, Policy
from chunkpilot.core.taskcap import GraphLimits
from chunkpilot.errors import InvalidArgumentError, SchedulerError


def test_yaml_is_package_data_and_registered():
    shipped = importlib.resources.files("chunkpilot") / "chunkpilot.yaml"
    assert shipped.is_file()
    assert yaml.safe_load(shipped.read_text()) == config.DEFAULTS
    assert dask.config.get("chunkpilot.tune.max-trials") == 5


def test_defaults_are_the_cores_own():
    """The YAML states the same numbers the pure core defaults to (one rule, two readers)."""
    assert config.policy() == Policy()
    assert config.check_thresholds() == CheckThresholds()
    assert config.task_limits() == (GraphLimits().warn_tasks, GraphLimits().max_tasks)
    assert (config.max_trials(), config.profile_timeout_s(), config.trial_timeout_s(),
            config.connect_timeout_s()) == (5, 60.0, 120.0, 10.0)


def test_dask_config_overrides_reach_the_commands():
    x = da.zeros((1000, 1000), chunks=(100, 100))  # 100 chunks
    before = chunkpilot.check(x, scheduler="threads")
    assert "too_many_tasks" not in {p.code for p in before.problems}
    with dask.config.set({"chunkpilot.check.max-tasks": 50, "chunkpilot.pipeline.warn-tasks": 7,
                          "chunkpilot.advise.profile-timeout": "2m"}):
        report = chunkpilot.check(x, scheduler="threads")
        opts = AdviseOptions()
    assert "too_many_tasks" in {p.code for p in report.problems}
    assert (opts.warn_tasks, opts.profile_timeout_s) == (7, 120.0)


def test_connect_timeout_is_what_an_unreachable_address_waits():
    """An address nobody answers on is refused after the configured wait, and says it."""
    with dask.config.set({"chunkpilot.cluster.connect-timeout": "1s"}), \
            pytest.raises(SchedulerError, match="within 1 s"):
        chunkpilot.advise(da.zeros((100, 100), chunks=10), lambda b: b,
                          scheduler="tcp://127.0.0.1:1")


def test_environment_variables_override():
    env = {**os.environ, "DASK_CHUNKPILOT__TUNE__MAX_TRIALS": "3",
           "DASK_CHUNKPILOT__ADVISE__TIE_TOLERANCE": "0.1"}
    code = ("import chunkpilot.config as c; p = c.policy(); "
            "print(c.max_trials(), p.tie_tolerance)")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert out.split() == ["3", "0.1"]


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [("tune.max-trials", "many", r"chunkpilot.tune.max-trials .*DASK_CHUNKPILOT__TUNE__MAX_TRIALS"),
     ("tune.max-trials", 2.5, "as an integer"),
     ("advise.tie-tolerance", 1.5, r"share in \[0, 1\)"),
     ("tune.trial-timeout", "soon", "duration like '60s'"),
     ("tune.min-trial-seconds", 0, "duration like '60s'"),
     ("check.tiny-fraction", 0, "> 0"),
     ("cluster.connect-timeout", "-3s", "duration like '60s'"),
     ("cluster.allowed-failures", -1, ">= 0"),
     ("cluster.allowed-failures", "twice", "as an integer"),
     ("probe.history", 0, "> 0"),
     ("probe.history-max-age", "a while", "duration like '60s'"),
     ("probe.reuse-within", "-5m", "duration like '60s'"),
     ("probe.cache-dir", 3, "directory path"),
     ("advise.time-budget", "-1s", "duration like '60s'"),
     ("advise.time-budget", "quick", "duration like '60s'")],
)
def test_bad_config_values_name_the_key(key, value, match):
    readers = {"tune": lambda: (config.max_trials(), config.trial_timeout_s(),
                                config.min_trial_seconds()),
               "advise": lambda: (config.policy(), config.advise_budget_s()),
               "check": config.check_thresholds,
               "cluster": lambda: (config.connect_timeout_s(), config.allowed_failures()),
               "probe": config.probe_history}
    with dask.config.set({f"chunkpilot.{key}": value}), \
            pytest.raises(InvalidArgumentError, match=match):
        readers[key.split(".")[0]]()


@pytest.mark.parametrize(("value", "seconds"), [(0, 0.0), ("0", 0.0), ("0s", 0.0), (False, 0.0),
                                                ("0h", 0.0), (" 0 minutes ", 0.0), (0.0, 0.0),
                                                ("1h", 3600.0), ("90s", 90.0)])
def test_probe_reuse_window_is_a_duration_or_off(value, seconds):
    with dask.config.set({"chunkpilot.probe.reuse-within": value}):
        assert config.probe_history().reuse_s == seconds


@pytest.mark.parametrize(("value", "seconds"), [(0, 0.0), ("0s", 0.0), (False, 0.0),
                                                ("10s", 10.0), ("1 minute", 60.0), (2.5, 2.5)])
def test_advise_time_budget_is_a_duration_or_off(value, seconds):
    with dask.config.set({"chunkpilot.advise.time-budget": value}):
        assert config.advise_budget_s() == seconds


def test_advise_time_budget_defaults_to_the_issues_ten_seconds():
    """10 s in the shipped YAML (the suite itself turns it off: ``tests/conftest.py``)."""
    shipped = yaml.safe_load(config.DEFAULTS_PATH.read_text())
    assert shipped["chunkpilot"]["advise"]["time-budget"] == "10s"
