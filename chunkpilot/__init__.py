"""chunkpilot: pick Dask chunk sizes from measurements instead of guesses."""

from chunkpilot.errors import ChunkpilotError, ChunkpilotWarning

__version__ = "0.1.0"
__all__ = ["ChunkpilotError", "ChunkpilotWarning", "__version__"]
