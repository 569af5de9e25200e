"""Every way a URL source can be wrong ends in one clear error (issue 14; docs/errors.md):
the API raises a specific ChunkpilotError, the CLI prints one line and exits 2 (its entry
point for every case; real processes for three), and neither shows the storage options'
secret."""

from __future__ import annotations

import os
import re
import socket
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest

import chunkpilot
from chunkpilot.cli import main
from chunkpilot.errors import (
    ChunkpilotError,
    InvalidArgumentError,
    MissingDependencyError,
    StoreAccessError,
    StoreConnectionError,
    StoreNotFoundError,
)
from tests.helpers import data
from tests.helpers.cli_runs import CLI
from tests.helpers.s3server import FAKE_KEY, FAKE_SECRET

CREDS = {"key": FAKE_KEY, "secret": FAKE_SECRET}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Case:
    """One bad input: URL and options from the sample bucket, the error, its message."""

    id: str
    source: Callable[[Any], tuple[str, dict[str, Any] | None]]
    error: type[ChunkpilotError]
    match: str


def _s3(key: str, **opts: Any) -> Callable[[Any], tuple[str, dict[str, Any]]]:
    return lambda s: (f"s3://{s.name}/{key}", {"endpoint_url": s.endpoint_url, **CREDS, **opts})


CASES = [
    Case("bad-url", lambda s: ("s3://", None), InvalidArgumentError,
         r"Expected a URL like s3://BUCKET/PATH\. Got 's3://'"),
    Case("unknown-protocol", lambda s: ("foo://bucket/x.zarr", None), InvalidArgumentError,
         "Expected a URL with a protocol fsspec knows"),
    Case("missing-package", lambda s: ("gs://bucket/x.zarr", None), MissingDependencyError,
         r'Expected gcsfs to read gs:// URLs\. .*pip install "chunkpilot\[gcs\]"'),
    Case("missing-credentials", lambda s: (s.zarr_url, {"endpoint_url": s.endpoint_url}),
         StoreAccessError, "Expected credentials to read s3://.*Got none"),
    Case("access-refused", lambda s: (s.zarr_url, {"endpoint_url": s.endpoint_url, "anon": True}),
         StoreAccessError, "Expected read access to s3://.*Forbidden"),
    Case("unreachable-endpoint",
         lambda s: (s.zarr_url, {"endpoint_url": f"http://127.0.0.1:{_closed_port()}", **CREDS}),
         StoreConnectionError, r"Expected a reachable endpoint .*Got no connection to http://127"),
    Case("missing-bucket", lambda s: ("s3://no-such-bucket-cp/x.zarr", _s3("")(s)[1]),
         StoreNotFoundError, "Expected an existing bucket 'no-such-bucket-cp'"),
    Case("missing-path", _s3("nope.zarr"), StoreNotFoundError,
         r"Expected a zarr store or an HDF5/netCDF4 file at s3://.*/nope\.zarr\. Got nothing"),
    Case("invalid-bucket-name", lambda s: ("s3://Bad_Bucket!/x.zarr", _s3("")(s)[1]),
         InvalidArgumentError, "Expected a valid bucket name .* Got 'Bad_Bucket!'"),
    Case("unknown-option", _s3(data.ZARR_NAME, bogus=1), InvalidArgumentError,
         "Got unknown option 'bogus'"),
    Case("http-unreachable", lambda s: (f"http://127.0.0.1:{_closed_port()}/x.nc", None),
         StoreConnectionError, "Expected a reachable endpoint"),
]
IDS = [c.id for c in CASES]


@pytest.fixture
def isolated_env(aws_env_isolated: None) -> dict[str, str]:
    """The test's environment without AWS credentials (also for CLI subprocesses)."""
    return dict(os.environ)


def _installed(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def _skip_if_installed(case: Case) -> None:
    if case.id == "missing-package" and _installed("gcsfs"):
        pytest.skip("gcsfs is installed here")


def _no_secret(*texts: str) -> None:
    for t in texts:
        assert FAKE_SECRET not in t, t


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_api_raises_one_clear_error(case: Case, s3_sample, isolated_env) -> None:
    _skip_if_installed(case)
    url, opts = case.source(s3_sample)
    with pytest.raises(case.error, match=case.match) as info:
        chunkpilot.advise(url, storage_options=opts, scheduler="threads")
    e: BaseException | None = info.value
    assert info.value.__cause__ is None or case.error is MissingDependencyError
    while e is not None:  # the whole chain: nothing shows the secret
        _no_secret(str(e), repr(e.args))
        e = e.__cause__ or e.__context__
    with pytest.raises(case.error, match=case.match):  # check says the same
        chunkpilot.check(url, storage_options=opts, workers=1, memory_limit="1GiB")


def _option_args(opts: dict[str, Any] | None) -> list[str]:
    out: list[str] = []
    for k, v in (opts or {}).items():
        if k == "anon":
            out.append("--anon")
        else:
            out += ["--storage-option", f"{k}={v}"]
    return out


def _one_line(case_id: str, match: str, code: int, out: str, err: str) -> None:
    lines = err.strip().splitlines()
    assert code == 2, (case_id, err[-2000:])
    assert len(lines) == 1 and lines[0].startswith("chunkpilot: error: Expected"), (
        case_id, err[-2000:])
    assert "Traceback" not in err and out == ""
    _no_secret(out, err)
    assert re.search(match, lines[0]), (case_id, lines[0])


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_cli_one_line_exit_2(case: Case, s3_sample, isolated_env, capsys) -> None:
    """The CLI's entry point on each case: one line on stderr, exit code 2."""
    _skip_if_installed(case)
    url, opts = case.source(s3_sample)
    with pytest.raises(SystemExit) as info:
        main(["advise", url, "--scheduler", "threads", *_option_args(opts)])
    out, err = capsys.readouterr()
    _one_line(case.id, case.match, int(info.value.code), out, err)


@pytest.mark.slow
def test_cli_subprocesses_one_line_exit_2(s3_sample, delayed_s3, isolated_env) -> None:
    """Real processes, to the end of the interpreter (nothing printed at exit): advise with
    --anon through a 20-ms proxy (requests in flight when access is refused), check on a
    missing bucket, tune on an unreachable endpoint."""
    slow = delayed_s3(0.02)
    by_id = {c.id: c for c in CASES}
    runs = []
    for cmd, case_id, endpoint in (("advise", "access-refused", slow.endpoint_url),
                                   ("check", "missing-bucket", None),
                                   ("tune", "unreachable-endpoint", None)):
        url, opts = by_id[case_id].source(s3_sample)
        if endpoint is not None:
            opts = dict(opts or {}, endpoint_url=endpoint)
        extra = ["--scheduler", "threads"] if cmd == "advise" else []
        runs.append((by_id[case_id], [cmd, url, *extra, *_option_args(opts)]))
    with ThreadPoolExecutor(len(runs)) as pool:
        results = list(pool.map(lambda r: subprocess.run(
            CLI + r[1], capture_output=True, text=True, env=isolated_env, timeout=180), runs))
    for (case, _), r in zip(runs, results, strict=True):
        _one_line(case.id, case.match, r.returncode, r.stdout, r.stderr)
