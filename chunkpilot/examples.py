"""Built-in example workloads for the demo, the tests and the benchmarks."""

from __future__ import annotations

import numpy as np


def hungry_filter(block: np.ndarray) -> np.ndarray:
    """A memory-hungry per-block function: several full-size temporaries, like real analyses.

    Peak memory is about 6x the block: the input plus five float64-sized temporaries.
    """
    x = block.astype(np.float64, copy=True)
    mean = x.mean()
    anomalies = x - mean
    squared = anomalies**2
    smooth = 0.5 * (squared + np.roll(squared, 1, axis=-1))
    return np.sqrt(smooth + 1.0) * np.sign(anomalies)


def elementwise(block: np.ndarray) -> np.ndarray:
    """Cheap elementwise work: where too-small chunks are scheduler-bound."""
    return np.sin(block) + 1.0


def block_mean(block: np.ndarray) -> np.ndarray:
    """A per-block reduction: output far smaller than input."""
    return np.asarray(block.mean(keepdims=True))
