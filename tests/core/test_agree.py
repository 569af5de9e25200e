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


def test_agree_does_not_buy_alignment_with_a_much_slower_plan():
    """Variables stored on disagreeing grids (lat 45 vs 30, lon 90 vs 60) and a 2-D one: only
    whole axes align with all of them, and alignment first made tas and pr one task each,
    2.2-2.5x their own plans (out-of-suite hunt). The fastest summed wall wins; alignment
    breaks ties."""
    tas = _plan((730, 90, 180), ("time", "lat", "lon"), storage=(730, 45, 90), mem=2**30)
    pr = _plan((730, 90, 180), ("time", "lat", "lon"), storage=(730, 30, 60), mem=2**30)
    orog = _plan((90, 180), ("lat", "lon"), storage=(90, 180), mem=2**30)
    dp = agree({"tas": tas, "pr": pr, "orog": orog})
    agreed = sum(v.agreed.wall_seconds for v in dp.variables)
    assert agreed <= 1.2 * sum(v.plan.chosen.wall_seconds for v in dp.variables)
    assert dp.chunks_by_dim["lat"] < 90 and dp.chunks_by_dim["lon"] < 180


def test_the_explanation_says_where_the_dims_a_chosen_variable_lacks_came_from():
    """Hunt: "Agreed chunks {'time': 60, ...} from the plan of 'orog'", a 2-D variable
    without time: its candidate takes time from the elementwise minimum, and now says so."""
    from chunkpilot.core.agree import DatasetPlan, dataset_lines

    tas = _plan((730, 90, 180), ("time", "lat", "lon"), mem=2**30)
    orog = _plan((90, 180), ("lat", "lon"), mem=2**30)
    dp = agree({"tas": tas, "orog": orog})
    chosen = DatasetPlan(dp.dim_chunks, dp.variables, "orog")
    line = dataset_lines(chosen)[0]
    assert "the plan of 'orog' (along lat, lon; time from the elementwise minimum" in line
    assert "(along" not in dataset_lines(DatasetPlan(dp.dim_chunks, dp.variables, "tas"))[0]
