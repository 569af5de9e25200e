"""One chunk length per Dataset dim: the elementwise minimum on the storage grid, and fits."""

from __future__ import annotations

from chunkpilot.core.agree import MINIMUM, agree, minimum_chunks
from tests.core.plans import MiB
from tests.core.plans import synthetic_plan as _plan


def test_agree_min_rounds_onto_storage_and_fits_everyone():
    big = _plan((4000, 200, 400), ("time", "lat", "lon"), storage=(100, 50, 100))
    small = _plan((4000, 30), ("time", "nv"), mem=2**30)
    low = minimum_chunks({"big": big, "small": small})
    assert low["time"] % 100 == 0 or 100 % low["time"] == 0
    dp = agree({"big": big, "small": small})
    assert set(dp.chunks_by_dim) == {"time", "lat", "lon", "nv"}
    assert all(v.agreed.fits_memory and v.aligned for v in dp.variables)


def test_agree_falls_back_to_minimum_when_a_plan_does_not_fit_another():
    hungry = _plan((2000, 2000), ("y", "x"), mem=64 * MiB)
    easy = _plan((2000, 2000), ("y", "x"), mem=8 * 2**30)
    dp = agree({"hungry": hungry, "easy": easy})
    assert dp.chosen_from in (MINIMUM, "hungry")
    assert all(v.agreed.fits_memory for v in dp.variables)
