"""In-process fake workers for scheduler benchmarks: they speak the scheduler's worker
protocol (no network, no serialisation) and finish every task the moment it is sent."""

from __future__ import annotations

import asyncio
import pickle
import time
from typing import Any

from distributed import Scheduler
from distributed.comm.core import CommClosedError
from distributed.versions import get_versions

__all__ = ["FakeWorkerComm", "add_fake_worker"]

#: Each fake worker reports this many threads (the scheduler sends that many tasks at once).
THREADS = 4


class FakeWorkerComm:
    """The scheduler's end of a worker connection: every compute-task finishes at once."""

    def __init__(self, address: str) -> None:
        self.peer_address = self.local_address = address
        self.name = "fake"
        self._inbox: asyncio.Queue[Any] = asyncio.Queue()
        self._closed = False
        self._type = pickle.dumps(float)
        self._thread = 0

    async def read(self, deserializers: Any = None) -> Any:
        msgs = await self._inbox.get()
        if msgs is None:
            raise CommClosedError("fake worker closed")
        return msgs

    async def write(self, msg: Any, serializers: Any = None, on_error: Any = None) -> int:
        now = time.time()
        done = []
        for m in msg if isinstance(msg, list) else [msg]:
            if isinstance(m, dict) and m.get("op") == "compute-task":
                self._thread = (self._thread + 1) % THREADS
                done.append({"op": "task-finished", "key": m["key"], "run_id": m["run_id"],
                             "nbytes": 8, "type": self._type, "typename": "float",
                             "metadata": {}, "thread": self._thread,
                             "startstops": [{"action": "compute", "start": now,
                                             "stop": now + 0.001}],
                             "stimulus_id": f"fake-finished-{now}"})
        if done:
            self._inbox.put_nowait(done)
        return 0

    def closed(self) -> bool:
        return self._closed

    async def close(self) -> None:
        self.abort()

    def abort(self) -> None:
        if not self._closed:
            self._closed = True
            self._inbox.put_nowait(None)


async def add_fake_worker(s: Scheduler, i: int) -> FakeWorkerComm:
    address = f"tcp://127.0.0.1:{50000 + i}"
    comm = FakeWorkerComm(address)
    metrics = {"memory": 100 * 2**20, "managed_bytes": 0, "spilled_bytes": {"memory": 0,
               "disk": 0}, "task_counts": {}, "bandwidth": {"total": 1e8, "workers": {},
               "types": {}}, "digests_total_since_heartbeat": {}, "event_loop_interval": 0.02,
               "cpu": 0, "time": time.time(), "transfer": {"incoming_bytes": 0,
               "incoming_count": 0, "incoming_count_total": 0, "outgoing_bytes": 0,
               "outgoing_count": 0, "outgoing_count_total": 0}, "num_fds": 0,
               "host_net_io": {"read_bps": 0, "write_bps": 0},
               "host_disk_io": {"read_bps": 0, "write_bps": 0}}
    asyncio.ensure_future(s.add_worker(
        comm, address=address, status="running", server_id=f"fake-{i}", nthreads=THREADS,
        name=f"fake-{i}", now=time.time(), resources={}, memory_limit=4 * 2**30,
        metrics=metrics, pid=0, services={}, local_directory="/tmp", versions=get_versions(),
        nanny="",
        extra={}, stimulus_id=f"fake-add-{i}"))
    while address not in s.workers:
        await asyncio.sleep(0.01)
    return comm
