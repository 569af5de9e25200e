"""Edge: whether a dask address is on this machine (a store probe made here then crosses the
same network as the workers' reads)."""

from __future__ import annotations

import contextlib

from distributed.comm import get_address_host
from distributed.utils import get_ip

#: Hosts only this machine's processes can reach.
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def host_of(address: str) -> str:
    """The host of a dask address.

    >>> host_of("tcp://127.0.0.1:8786"), host_of("tcp://[::1]:8786")
    ('127.0.0.1', '::1')
    """
    return get_address_host(address)


def this_ip() -> str:
    """This machine's address on its default route (loopback when it has none)."""
    with contextlib.suppress(OSError, ValueError):
        return get_ip()
    return "127.0.0.1"
