"""The S3/HTTP fixtures (see ``tests.helpers.fixtures``) for this folder."""

from collections.abc import Iterator

import pytest

from chunkpilot.sources.remote import close_sessions
from tests.helpers.fixtures import *  # noqa: F401,F403


@pytest.fixture(scope="module", autouse=True)
def _closed_sessions() -> Iterator[None]:
    """What zarr and s3fs opened in this process is closed with the module, as the CLI does
    at exit (else each cached session reports itself unclosed when the run ends)."""
    yield
    close_sessions()
