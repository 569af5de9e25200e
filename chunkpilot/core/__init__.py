"""The pure core: shapes, cost model, planner, explanations, observations and diagnosis.

Ints, tuples and frozen values in, frozen values out: nothing here imports distributed,
zarr, h5py or subprocess, nor touches files (a test checks every module).
"""
