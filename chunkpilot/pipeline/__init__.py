"""Plan the input chunks of a whole dask pipeline: graph analysis, sandboxed measurement."""
