"""Test helpers: a real S3-compatible server (moto), a delaying TCP proxy and an HTTP server.

Everything binds to 127.0.0.1 on a free port and is stopped by the fixture that started it.
The pytest fixtures live in :mod:`tests.helpers.fixtures`; the test folders that want them import
them from their ``conftest.py`` (``from tests.helpers.fixtures import *``), or the root conftest
registers the module with ``pytest_plugins = ["helpers.fixtures"]``.

``helpers`` is importable because ``tests/`` has no ``__init__.py``: pytest's default
("prepend") import mode puts ``tests/`` on ``sys.path`` when it loads ``tests/conftest.py``.
The modules import only the standard library at import time (``--doctest-modules`` imports
them); moto, s3fs, zarr and friends are imported inside the functions that need them.
"""
