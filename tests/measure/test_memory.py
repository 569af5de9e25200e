"""Memory readings on each supported platform, and a clear refusal elsewhere."""

from __future__ import annotations

import resource
import subprocess
import sys

import psutil
import pytest

import chunkpilot
from chunkpilot.errors import ChunkpilotError, UnsupportedPlatformError
from chunkpilot.measure import memory


def test_linux_reads_proc_and_resets_the_peak():
    if not sys.platform.startswith("linux"):
        pytest.skip("Linux's /proc path")
    block = bytearray(64 * 2**20)  # noqa: F841  (hold 64 MiB so the peak is well above zero)
    # the resident size first, the high-water mark after: it holds every earlier size (read
    # the other way round, a page the process touched in between failed it by 4 KiB in CI)
    rss = memory.rss_bytes()
    assert memory.peak_bytes() >= rss > 64 * 2**20
    del block  # freed (mmap'ed): the high-water mark still holds it ...
    rss = memory.rss_bytes()
    assert memory.peak_bytes() >= rss + 60 * 2**20
    assert memory.reset_peak() is True  # ... until the reset (resetting with the block still
    # held, as this test did, left the mark at exactly rss + 64 MiB: it failed on any noise)
    assert memory.peak_bytes() < memory.rss_bytes() + 64 * 2**20


def test_macos_path_uses_bytes_and_no_proc(monkeypatch):
    """macOS: ru_maxrss is in bytes, /proc does not exist, the peak cannot be reset."""
    monkeypatch.setattr(memory, "LINUX", False)
    monkeypatch.setattr(memory, "MAXRSS_UNIT", 1)
    monkeypatch.setattr("builtins.open", _no_proc(open))
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert memory.peak_bytes() == pytest.approx(maxrss, rel=0.05)
    assert memory.rss_bytes() == pytest.approx(psutil.Process().memory_info().rss, rel=0.2)
    assert memory.reset_peak() is False
    assert memory.limit_address_space(2**30) is False  # RLIMIT_AS is not enforced there


def _no_proc(real_open):
    """chunkpilot's own reads of /proc/self must not happen (psutil's Linux backend, which
    stands in for its macOS one here, may read /proc/<pid>)."""
    def guarded(path, *args, **kwargs):
        assert not str(path).startswith("/proc/self"), f"read {path} on macOS"
        return real_open(path, *args, **kwargs)
    return guarded


@pytest.mark.parametrize("platform", ["win32", "cygwin", "emscripten"])
def test_other_platforms_are_refused_clearly(platform):
    with pytest.raises(UnsupportedPlatformError, match="Linux or macOS.*WSL2") as e:
        chunkpilot.check_platform(platform)
    assert isinstance(e.value, ChunkpilotError) and isinstance(e.value, ImportError)
    chunkpilot.check_platform("darwin")
    chunkpilot.check_platform("linux")


def test_import_on_windows_fails_with_the_reason():
    code = "import sys; sys.platform = 'win32'; import chunkpilot"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert r.stderr.strip().splitlines()[-1].startswith(
        "chunkpilot.errors.UnsupportedPlatformError: Expected Linux or macOS")
