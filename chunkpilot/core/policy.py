"""The planner's policy: thresholds that turn predictions into one choice.

Pure constants, shared by the planner, its explanation, ``check`` and the Dataset agreement,
so each threshold is written once.
"""

from __future__ import annotations

import math

#: Keep every thread busy with some load balancing and room for read/compute overlap.
MIN_CHUNKS_PER_THREAD = 2
#: Predictions closer than this are always ties: prefer the aligned, then the smaller chunk.
TIE_TOLERANCE = 0.03
#: Samples whose runs spread more than this still widen the tie band only this far.
MAX_TIE_BAND = 0.15
#: Ties are only called among chunks whose overhead share stays under this (~100x overhead
#: per task: dask's "tasks of 100 ms or more" on distributed, ~10 ms on threads).
TARGET_OVERHEAD_FRACTION = 0.01
#: The parallelism rule is dropped when obeying it would cost more than this in overhead.
MAX_OVERHEAD_FOR_PARALLELISM = 0.10
#: Smallest block the search considers.
MIN_CANDIDATE_BYTES = 16 * 1024
#: Geometric step between candidate sizes (the planner's and tune's ladder).
CANDIDATE_STEP = math.sqrt(2)
