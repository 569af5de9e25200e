"""Edge: the exceptions of the remote stack (botocore, aiohttp, fsspec, zarr) as one clear error.

Bad URL, missing credentials, access refused, unreachable endpoint, invalid options: one
:class:`ChunkpilotError` each, naming the URL and the endpoint, never a credential. Classes are
matched by name along the exception chain, so botocore and aiohttp need not be installed.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

from chunkpilot.errors import (
    ChunkpilotError,
    InvalidArgumentError,
    StoreAccessError,
    StoreConnectionError,
    StoreReadError,
)
from chunkpilot.sources.storage_options import StorageOptions
from chunkpilot.sources.urls import RemoteURL, endpoint_of


def _names(e: BaseException) -> set[str]:
    return {c.__name__ for c in type(e).__mro__}


def _chain(e: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    cur: BaseException | None = e
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        yield cur
        cur = cur.__cause__ or cur.__context__


CONNECTION_ERRORS = {"EndpointConnectionError", "ConnectTimeoutError", "ClientConnectorError",
                     "ServerDisconnectedError", "ConnectionRefusedError", "ServerTimeoutError",
                     "ConnectionClosedError", "ProxyConnectionError"}


def connection_cause(e: BaseException) -> BaseException | None:
    return next((c for c in _chain(e) if _names(c) & CONNECTION_ERRORS), None)


def translate(e: BaseException, parsed: RemoteURL, opts: StorageOptions) -> ChunkpilotError | None:
    """The one-line error for an exception of the remote stack, or ``None`` if not ours to say."""
    where, ep = parsed.display, endpoint_of(parsed, opts)
    if isinstance(e, ChunkpilotError):
        return e
    for c in _chain(e):
        names, text = _names(c), opts.redact(str(c))
        if names & {"NoCredentialsError", "PartialCredentialsError"}:
            return StoreAccessError(
                f"Expected credentials to read {where}. Got none: pass them with --storage-option "
                "KEY=VALUE (storage_options= in Python), set the provider's environment variables "
                "or profile, or use --anon for a public bucket.")
        if names & {"InvalidAccessKeyId", "SignatureDoesNotMatch", "PermissionError"} or (
                "ClientError" in names and re.search(r"\b403\b|AccessDenied|Forbidden", text)):
            return StoreAccessError(
                f"Expected read access to {where}. Got access refused by {ep} "
                f"({text.splitlines()[0][:120] if text else type(c).__name__}): check the "
                "credentials, or leave out --anon for a private bucket.")
        if names & CONNECTION_ERRORS or "ClientConnectorSSLError" in names:
            return StoreConnectionError(
                f"Expected a reachable endpoint for {where}. Got no connection to {ep} "
                f"({type(c).__name__}): check endpoint_url and that the server is up.")
        if "ParamValidationError" in names:
            bad = re.search(r'Invalid bucket name "([^"]*)"', text)
            return InvalidArgumentError(
                f"Expected a valid bucket name in {where}. Got {bad.group(1)!r}: lower-case "
                "letters, digits, dots and hyphens, 3 to 63 characters." if bad else
                f"Expected valid request parameters for {where}. Got {text.splitlines()[0][:160]}.")
        if isinstance(c, ValueError) and text.startswith("Invalid endpoint"):
            return InvalidArgumentError(
                f"Expected endpoint_url like http://HOST:PORT for {where}. Got {ep!r} instead.")
        bad = re.search(r"unexpected keyword argument '([^']+)'", text)
        if isinstance(c, TypeError) and bad:
            return InvalidArgumentError(
                f"Expected storage options that {parsed.protocol}:// accepts. Got unknown option "
                f"{bad.group(1)!r}.")
    return None


@contextlib.contextmanager
def remote_errors(parsed: RemoteURL, opts: StorageOptions) -> Iterator[None]:
    """Re-raise remote-stack exceptions as one clear :class:`ChunkpilotError` (no secrets)."""
    try:
        yield
    except ChunkpilotError:
        raise
    except MemoryError:
        raise
    except Exception as e:
        mapped = translate(e, parsed, opts)
        if mapped is not None:
            raise mapped from None
        if isinstance(e, FileNotFoundError):
            raise
        raise StoreReadError(
            f"Expected to read {parsed.display}. Got {type(e).__name__}: "
            f"{opts.redact(' '.join(str(e).split()))[:300]}") from None
