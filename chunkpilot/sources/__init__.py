"""Describing inputs without loading them: numpy, dask, zarr, HDF5/netCDF, xarray."""
