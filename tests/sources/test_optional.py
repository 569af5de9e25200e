"""Optional extras fail with an install hint, chained from the ImportError."""

from __future__ import annotations

import pytest

from chunkpilot.errors import MissingDependencyError
from chunkpilot.sources.optional import import_optional


def test_missing_extra_names_the_install_command():
    with pytest.raises(MissingDependencyError, match=r'pip install "chunkpilot\[xarray\]"') as info:
        import_optional("no_such_module_for_chunkpilot", "for tests", "xarray")
    assert isinstance(info.value.__cause__, ImportError)


def test_present_module_is_returned():
    assert import_optional("json", "for tests", "all").dumps([1]) == "[1]"
