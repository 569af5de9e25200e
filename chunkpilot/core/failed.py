"""Pure: what a failed sample means for a chunking, in one place: whether a block size is
beyond what the function was seen to run, and the words that say so."""

from __future__ import annotations

from chunkpilot.core.model import CostModel
from chunkpilot.units import format_bytes


def beyond_ran(model: CostModel, task_bytes: int) -> bool:
    """Whether blocks of ``task_bytes`` are bigger than the largest that ran below a failed
    sample (``CostModel.block_limit_bytes``); ``False`` when no sample failed."""
    limit = model.block_limit_bytes
    return limit is not None and task_bytes > limit


def failed_words(model: CostModel, task_bytes: int) -> str:
    """``blocks of X are bigger than the largest the function ran (Y); a Z sample failed``."""
    return (f"blocks of {format_bytes(task_bytes)} are bigger than the largest the function "
            f"ran ({format_bytes(model.block_limit_bytes or 0)}); a "
            f"{format_bytes(model.max_ok_bytes or 0)} sample failed")
