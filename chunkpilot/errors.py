"""Every exception and warning chunkpilot raises, in one place.

The CLI catches :class:`ChunkpilotError` only: one line on stderr, exit code 2.
Each subclass also inherits the matching builtin so ``except FileNotFoundError``
keeps working for users who do not know our types.
"""

from __future__ import annotations

import traceback


def one_line(e: BaseException, limit: int = 500) -> str:
    """``Type: message`` on one line (as the last line of a traceback, with dask's multi-line
    messages joined: a plan quotes it inside a sentence), at most ``limit`` characters."""
    return " ".join("".join(traceback.format_exception_only(type(e), e)).split())[:limit]


class ChunkpilotError(ValueError):
    """Base class: a problem the user can fix (bad input, impossible request)."""


class InvalidSizeError(ChunkpilotError):
    """A byte size such as ``"4GiB"`` could not be parsed or is out of range."""


class InvalidArgumentError(ChunkpilotError):
    """An option has the wrong value (workers <= 0, axis out of range, ...)."""


class InvalidArgumentTypeError(ChunkpilotError, TypeError):
    """An option or source has the wrong kind (not an array, not callable, ...)."""


class StoreNotFoundError(ChunkpilotError, FileNotFoundError):
    """A path does not exist, or exists but is not a zarr/HDF5 store."""

    # OSError's instance layout: tblib (how distributed ships a worker's exception) rebuilds
    # with ``cls.__new__``, which would otherwise resolve to ValueError's and fail
    __new__ = OSError.__new__


class StoreReadError(ChunkpilotError, OSError):
    """A store exists but cannot be read (corrupt, truncated, unsupported)."""

    __new__ = OSError.__new__  # see StoreNotFoundError


class StoreAccessError(ChunkpilotError, PermissionError):
    """An object store refused the read: no credentials, or credentials without access."""

    __new__ = OSError.__new__  # see StoreNotFoundError


class StoreConnectionError(ChunkpilotError, ConnectionError):
    """An object store's endpoint (or an HTTP host) could not be reached."""

    __new__ = OSError.__new__  # see StoreNotFoundError


class UnsupportedDtypeError(ChunkpilotError, TypeError):
    """Object, string or other dtypes whose size per element is unknown."""


class FunctionLoadError(ChunkpilotError, ImportError):
    """``--func``/``--pipeline`` does not name an importable callable."""


class ProfilingError(ChunkpilotError, RuntimeError):
    """The user's function failed on every sample block (raised, crashed, timed out)."""


class PipelineBuildError(ProfilingError):
    """The pipeline raised (or returned no lazy result) while building its graph."""

    def __init__(self, message: str, cause: str = "") -> None:
        super().__init__(message)
        self.cause = cause or message
        """What it raised, in one line without our sentence around it."""

    def __reduce__(self) -> tuple:  # picklable with both arguments (sandboxes, workers)
        return type(self), (str(self), self.cause)


class NoFeasiblePlanError(ChunkpilotError):
    """No chunk shape satisfies the memory bound (e.g. a whole axis is too big)."""


class SchedulerError(ChunkpilotError, ConnectionError):
    """A scheduler address is malformed or unreachable, or has no workers."""

    __new__ = OSError.__new__  # see StoreNotFoundError


class TuningError(ChunkpilotError, RuntimeError):
    """Tuning could not run any trial to completion; the failed trials are kept in
    :attr:`trials` (and in the report)."""

    trials: tuple[object, ...] = ()
    """The trials that ran, every one failed (set by ``tune``)."""
    report: str | None = None
    """The HTML report of those trials, when ``tune`` was asked for one."""


class MissingDependencyError(ChunkpilotError, ImportError):
    """An optional extra (xarray, h5py) is needed for this input."""


class UnsupportedPlatformError(ChunkpilotError, ImportError):
    """chunkpilot runs on Linux and macOS only (raised on ``import chunkpilot`` elsewhere)."""


class ChunkpilotWarning(UserWarning):
    """Base class for degraded-but-usable advice; the text always carries a fix."""


class ModelledValueWarning(ChunkpilotWarning):
    """A number in the plan is modelled (defaulted), not measured."""


class SampleFailedWarning(ChunkpilotWarning):
    """Some (not all) profiling samples failed; the plan steers around them."""


class GraphTooLargeError(ChunkpilotError):
    """A pipeline's graph at the planned chunks has more tasks than the configured cap."""


class GraphSizeWarning(ChunkpilotWarning):
    """A pipeline's graph is large enough for scheduler overhead to show."""


class IntermediateBlowupWarning(ChunkpilotWarning):
    """A pipeline turns an input chunk into a far larger intermediate chunk."""


# --- reliability round 2 (issue 17) ---------------------------------------------------------

class OutputPathError(InvalidArgumentError):
    """A path chunkpilot would write (``--report``, a watch report, benchmark ``--out``) is
    refused before any work: inside a source, a directory, a file that is not a previous
    chunkpilot report (without ``overwrite``), or in a directory that cannot be written."""


class ResourceLimitError(InvalidArgumentError):
    """More workers or threads than this machine can run as a LocalCluster (cores, open-file
    limit, memory per worker); the message names the option and the maximum."""


class UnsupportedProtocolError(SchedulerError):
    """A scheduler address whose protocol chunkpilot cannot connect with (``ucx://``, or
    ``tls://`` without TLS credentials in dask's config)."""


class SchedulerLostError(SchedulerError):
    """The scheduler went away (died, closed, network lost) while work was running; the
    trials finished so far are kept in :attr:`trials` (and in the report)."""

    trials: tuple[object, ...] = ()
    """The trials that finished before the scheduler was lost (set by ``tune``)."""
    report: str | None = None
    """The HTML report of those trials, when ``tune`` was asked for one."""


class Interrupted(KeyboardInterrupt):
    """SIGINT, SIGTERM or SIGHUP arrived (the CLI's handlers raise it, so cleanup runs as for
    Ctrl-C); :attr:`signum` gives the exit code 128 + signum."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
        """The signal that arrived."""


class UsageError(ChunkpilotError, RuntimeError):
    """The API was used out of order (a watch's results asked for before its block ended)."""
