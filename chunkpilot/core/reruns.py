"""How many times a trial runs its work, and which of its runs count.

A trial runs once when its one run is long enough to time and says what the model expected
within reason. A short trial (a small array) runs again until it has taken long enough; a
run far slower than expected runs again before it steers the search; a run far slower than
its re-run is set aside as an outlier. The first trial of a tune runs twice and its first
run is set aside (``FIRST_TRIAL_RUNS``). The runs count as one trial.
"""

from __future__ import annotations

from collections.abc import Sequence

#: A trial should take about this long at the plan's predicted speed
#: (``core.converge.region_bytes``): ufunc_reduce's 1 MiB plan made 90 ms trials of 512
#: rows, where chunks 4x bigger could not show their gain (tune kept a plan 1.6x slower
#: than the best shape over the whole array).
MIN_TRIAL_SECONDS = 0.5
#: A trial shorter than that (the whole array is small) runs its work again, at least this
#: many times in all: one run each of rechunk_transpose's 0.3 s trials spread 0.21-0.30 s
#: and 0.26-0.39 s for two shapes whose medians were 0.27 s and 0.36 s, and tune kept the
#: slower one (1.43x the best shape in a full benchmark run).
SHORT_TRIAL_RUNS = 3
#: ... and on until the trial has taken ``MIN_TRIAL_SECONDS``, at most this many runs.
MAX_TRIAL_RUNS = 7
#: A run this many times slower than expected is a surprise, measured again before it
#: counts, and set aside when its re-run was this many times faster.
SURPRISE_FACTOR = 1.5
#: The first trial on a cluster (or thread pool) runs its work at least this often, its first
#: run set aside: that run carries an excess the later ones do not. Measured back to back on
#: fresh 2 x 1 LocalClusters: overlap_filter's first trial's first run took 1.34x its later
#: runs (1.20-1.67x, 4 of 4 tunes), later trials' first runs 0.99x. Over 30 stored full
#: runs a tune's first trial ran up to 1.3x slower than its later ones against the
#: benchmark (overlap_filter and rechunk_transpose on a LocalCluster), and tune left the
#: advised shape for worse; ``benchmarks.search_sim --first-excess``: 1.062x the best shape
#: (19 of 282 rows over 1.15) with one run, 1.043x (3 of 277) with the first run set aside.
FIRST_TRIAL_RUNS = 2


def more_runs(active_s: Sequence[float], spent_s: float,
              min_seconds: float = MIN_TRIAL_SECONDS, expected_s: float | None = None,
              first_trial: bool = False) -> bool:
    """Whether a trial whose runs so far took ``active_s`` seconds each (first task to last),
    ``spent_s`` in all (observing included), runs once more.

    A short one (first run under ``min_seconds``) runs to ``SHORT_TRIAL_RUNS`` runs and on
    while the trial has taken less than ``min_seconds``, at most ``MAX_TRIAL_RUNS``. Its
    median is the trial's time and its spread the measured noise
    (``core.converge.measured_noise``). Observing a run costs ~0.1-0.2 s more than its
    active time (sampling memory, the task stream): charged, a short trial costs about
    ``min_seconds``. A first run over ``SURPRISE_FACTOR`` x ``expected_s`` (the model's
    prediction, refitted on the trials before) runs once more; so does a ``first_trial``
    (``FIRST_TRIAL_RUNS``).

    Examples
    --------
    >>> more_runs([0.9], 1.0), more_runs([0.3], 0.4), more_runs([0.3] * 3, 1.2)
    (False, True, False)
    >>> more_runs([0.01] * 3, 0.3), more_runs([0.01] * 3, 0.6), more_runs([0.01] * 7, 0.1)
    (True, False, False)
    >>> more_runs([1.7], 1.8, expected_s=0.8), more_runs([1.7, 0.8], 2.7, expected_s=0.8)
    (True, False)
    >>> more_runs([0.9], 1.0, first_trial=True), more_runs([0.9, 0.8], 1.9, first_trial=True)
    (True, False)
    """
    if not active_s or len(active_s) >= MAX_TRIAL_RUNS:
        return False
    if first_trial and len(active_s) < FIRST_TRIAL_RUNS:
        return True
    if len(active_s) == 1 and expected_s and active_s[0] > SURPRISE_FACTOR * expected_s:
        return True
    if active_s[0] >= min_seconds:
        return False
    return len(active_s) < SHORT_TRIAL_RUNS or spent_s < min_seconds


def first_run_aside(active_s: Sequence[float], expected_s: float | None = None,
                    first_trial: bool = False) -> bool:
    """Whether the first run is set aside: always in a ``first_trial`` that ran again
    (``FIRST_TRIAL_RUNS``); else when it was a surprise (over ``SURPRISE_FACTOR`` x
    ``expected_s``) and a run after it was that much faster again. Runs are judged against
    each other only after the model's surprise: without ``expected_s`` nothing is set aside
    (a short trial's millisecond jitter alone never is).

    >>> first_run_aside([1.7, 0.8], 0.8), first_run_aside([1.7, 1.6], 0.8)
    (True, False)
    >>> first_run_aside([0.03, 0.01, 0.01]), first_run_aside([0.03, 0.01, 0.01], 0.01)
    (False, True)
    >>> first_run_aside([1.0, 1.1], first_trial=True), first_run_aside([1.0], first_trial=True)
    (True, False)
    """
    if len(active_s) < 2:
        return False
    if first_trial:
        return True
    if not expected_s:
        return False
    return active_s[0] > SURPRISE_FACTOR * max(expected_s, min(active_s[1:]))


def median_run(active_s: Sequence[float]) -> int:
    """Index of the median run (the lower middle of an even count): the trial's observation."""
    order = sorted(range(len(active_s)), key=lambda i: active_s[i])
    return order[(len(order) - 1) // 2]
