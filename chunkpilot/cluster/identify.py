"""Edge: ask an address whether a dask scheduler answers there, within a bounded time.

``distributed.Client(address, timeout=...)`` bounds the TCP connect but not the handshake
after it: pointed at a port that accepts connections and never speaks dask (the scheduler's
dashboard port, any other server), ``tune`` waited 555 s and more. One ``identity`` call,
cut off by ``asyncio.wait_for``, answers first.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
from typing import Any

from distributed.comm import get_address_host_port, parse_address
from distributed.core import rpc
from distributed.security import Security

from chunkpilot.errors import SchedulerError


class _NoConnection(ConnectionError):
    """Nothing accepted a TCP connection at the address."""


class _SpeaksTcp(ConnectionError):
    """A ``ws://``/``wss://``/``tls://`` address where a dask tcp scheduler greeted first."""


#: How long a raw connection to a ws/wss/tls address waits for a greeting: a dask tcp
#: scheduler speaks first (its handshake), a websocket or TLS server waits for the client.
GREETING_WAIT_S = 0.5


def _greets(host: str, port: int, timeout_s: float, *, listen: bool) -> bool:
    """Connect to ``host:port`` (an OSError when nothing accepts); with ``listen``, whether
    the server sends bytes before it is sent any."""
    with socket.create_connection((host, port), timeout_s) as s:
        if not listen:
            return False
        s.settimeout(min(GREETING_WAIT_S, timeout_s))
        try:
            return bool(s.recv(8))
        except OSError:  # a timeout: it waits for the client, as ws and TLS servers do
            return False


async def _identity(address: str, timeout_s: float) -> Any:
    scheme, where = parse_address(address)
    if scheme in ("tcp", "ws", "wss", "tls"):  # refused or unreachable: an OSError of its own
        host, port = get_address_host_port(address)
        try:
            greets = await asyncio.to_thread(_greets, host, port, timeout_s,
                                             listen=scheme != "tcp")
        except OSError as e:  # a timeout too: never read as "connected, no dask answer"
            raise _NoConnection(f"{type(e).__name__}") from e
        # a tcp scheduler sent an HTTP upgrade or a TLS hello reads it as a frame length
        # and logs a 5 EiB allocation error per attempt: tell before sending either
        if greets:
            raise _SpeaksTcp(where)
    r = rpc(address, timeout=timeout_s,
            connection_args=Security().get_connection_args("client"))
    try:
        return await asyncio.wait_for(r.identity(), timeout_s)
    finally:
        await asyncio.wait_for(r.close_rpc(), timeout_s)


def _other_scheme(address: str) -> str:
    """A no-answer message's last sentence for ``ws://`` or ``tls://``: the scheduler may
    speak tcp (dask's default) on that port; empty for tcp."""
    scheme, where = parse_address(address)
    return (f" If the scheduler speaks tcp (dask's default), not {scheme}, use tcp://{where}."
            if scheme != "tcp" else "")


def identify(address: str, timeout_s: float) -> dict[str, Any]:
    """The scheduler's ``identity`` at ``address``, or :class:`SchedulerError` when nothing
    that speaks dask answers within ``timeout_s`` (run in its own thread, so callers with a
    running event loop, such as notebooks, can use it)."""
    try:
        with concurrent.futures.ThreadPoolExecutor(1, "chunkpilot-identify") as pool:
            info = pool.submit(asyncio.run, _identity(address, timeout_s)).result()
    except _SpeaksTcp as e:
        raise SchedulerError(
            f"Expected a dask scheduler speaking {parse_address(address)[0]} at {address}. "
            f"Got one that speaks tcp (dask's default) on that port: use tcp://{e}.") from e
    except _NoConnection as e:
        raise SchedulerError(
            f"Expected a reachable dask scheduler at {address}. Got no answer within "
            f"{timeout_s:.0f} s ({e}). Is the scheduler running?"
        ) from e
    except (asyncio.TimeoutError, TimeoutError) as e:
        raise SchedulerError(
            f"Expected a dask scheduler at {address}. Got a connection but no dask answer "
            f"within {timeout_s:.0f} s: something else listens there (a dashboard? the "
            "scheduler's default port is 8786, its dashboard's 8787)." + _other_scheme(address)
        ) from e
    except OSError as e:
        raise SchedulerError(
            f"Expected a reachable dask scheduler at {address}. Got no answer within "
            f"{timeout_s:.0f} s ({type(e).__name__}). Is the scheduler running?"
            + _other_scheme(address)
        ) from e
    except Exception as e:  # a peer that answered, not in dask's protocol (garbage lengths)
        raise SchedulerError(
            f"Expected a dask scheduler at {address}. Got an answer that is not dask's "
            f"protocol ({type(e).__name__}: {str(e)[:80]}): is it the scheduler's address?"
        ) from e
    if not isinstance(info, dict) or info.get("type") != "Scheduler":
        kind = info.get("type") if isinstance(info, dict) else type(info).__name__
        raise SchedulerError(
            f"Expected a dask scheduler at {address}. Got a {kind} (point at the scheduler, "
            "not a worker).")
    return info
