"""``chunkpilot watch ADDRESS``: read the cluster watch's computations from a scheduler.

ADDRESS is the scheduler (``tcp://HOST:PORT``: one call to the plugin's
``chunkpilot_computations`` handler, no pickled code) or its dashboard (``http://HOST:PORT``:
``GET /chunkpilot/api/v1/computations``).
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

from distributed.core import rpc

from chunkpilot.cluster.connect import check_address
from chunkpilot.cluster.dashboard import API_PATH
from chunkpilot.cluster.identify import identify
from chunkpilot.core.computations import ComputationSummary
from chunkpilot.errors import InvalidArgumentError, SchedulerError

__all__ = ["computations", "fetch", "follow"]

TIMEOUT_S = 10.0
NOT_WATCHED = ("Expected a scheduler running chunkpilot's ClusterWatch (start it with `dask "
               "scheduler --preload chunkpilot.plugin` or chunkpilot.watch(client, always=True)). "
               "Got none at {address}.")


async def _call(address: str, timeout_s: float) -> Any:
    r = rpc(address, timeout=timeout_s)
    try:
        return await asyncio.wait_for(r.chunkpilot_computations(), timeout_s)
    finally:
        await r.close_rpc()


def _http(address: str, timeout_s: float) -> Any:
    url = address.rstrip("/") + "/" + API_PATH
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310
            return json.loads(response.read())
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return None
        raise SchedulerError(f"Expected {url} to answer. Got HTTP {e.code} instead.") from e
    except (OSError, ValueError) as e:
        raise SchedulerError(
            f"Expected a reachable dask dashboard at {address}. Got {type(e).__name__}: {e}."
        ) from e


def fetch(address: str, *, timeout_s: float = TIMEOUT_S) -> dict[str, Any]:
    """The plugin's JSON document (see ``/chunkpilot/api/v1/computations``). Who answers
    at a dask address (``cluster.identify``: nothing, something else, a worker) is asked only
    when the call fails, not on every poll."""
    http = address.startswith(("http://", "https://"))
    if http:
        payload = _http(address, timeout_s)
    else:
        address = check_address(address)
        try:
            payload = asyncio.run(_call(address, timeout_s))
        except (OSError, asyncio.TimeoutError) as e:
            identify(address, timeout_s)  # nothing there, something else, a worker: says which
            raise SchedulerError(
                f"Expected a reachable dask scheduler at {address}. Got no answer within "
                f"{timeout_s:.0f} s ({type(e).__name__})."
            ) from e
    if not isinstance(payload, dict) or "computations" not in payload:
        if not http:
            identify(address, timeout_s)  # a worker's address says so
        raise SchedulerError(NOT_WATCHED.format(address=address))
    return payload


def computations(payload: dict[str, Any]) -> tuple[ComputationSummary, ...]:
    """The payload's computations, newest first."""
    return tuple(ComputationSummary.from_dict(d) for d in payload["computations"])


#: The longest wait between polls ``follow`` accepts.
MAX_INTERVAL_S = 86_400.0


def check_interval(interval_s: float) -> float:
    """``interval_s`` when it is a poll interval: above 0 seconds and at most a day."""
    if not 0 < interval_s <= MAX_INTERVAL_S:  # nan and inf too (time.sleep(inf) overflows)
        raise InvalidArgumentError(
            f"Expected an interval > 0 seconds and at most a day ({MAX_INTERVAL_S:g}). Got "
            f"{interval_s!r}.")
    return interval_s


def follow(address: str, *, interval_s: float = 2.0,
           sleep: Callable[[float], None] | None = None) -> Iterator[ComputationSummary]:
    """Yield each computation once, oldest first, as the scheduler finishes them (forever);
    between polls ``sleep`` (``time.sleep`` as it is at the time)."""
    check_interval(interval_s)
    seen: set[str] = set()
    while True:
        latest = computations(fetch(address))
        for s in reversed(latest):
            if s.id not in seen:
                yield s
        seen = {s.id for s in latest}  # the scheduler keeps the last N: so do we
        (sleep or time.sleep)(interval_s)
