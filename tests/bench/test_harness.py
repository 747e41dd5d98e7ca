"""bench.harness: the baselines' workflow modules get their bytecode written."""

from __future__ import annotations

import importlib
import importlib.util
import marshal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.harness import precompile


@pytest.fixture
def package(tmp_path: Path) -> Iterator[Path]:
    """`wfpkg.flows.wf` with a workflow-like class, importable, without bytecode."""
    root = tmp_path / "wfpkg"
    (root / "flows").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "flows" / "__init__.py").write_text("")
    (root / "flows" / "wf.py").write_text("class Flow:\n    pass\n")
    sys.path.insert(0, str(tmp_path))
    try:
        yield root
    finally:
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n == "wfpkg" or n.startswith("wfpkg.")]:
            del sys.modules[name]


def _code_in_pyc(source: Path) -> object:
    pyc = Path(importlib.util.cache_from_source(str(source)))
    assert pyc.exists(), f"no bytecode for {source}"
    return marshal.loads(pyc.read_bytes()[16:])  # after the 16-byte header


def test_precompile_writes_bytecode_of_workflow_modules_and_their_packages(package: Path) -> None:
    module = importlib.import_module("wfpkg.flows.wf")
    for path in (package / "__init__.py", package / "flows" / "__init__.py", package / "flows" / "wf.py"):
        assert not Path(importlib.util.cache_from_source(str(path))).exists()

    precompile([module.Flow])

    for path in (package / "__init__.py", package / "flows" / "__init__.py", package / "flows" / "wf.py"):
        code = _code_in_pyc(path)
        assert getattr(code, "co_filename", None) == str(path)


def test_precompile_refreshes_stale_bytecode(package: Path) -> None:
    module = importlib.import_module("wfpkg.flows.wf")
    precompile([module.Flow])
    source = package / "flows" / "wf.py"
    source.write_text("class Flow:\n    pass\n\n\nCHANGED = 1\n")

    precompile([module.Flow])

    code = _code_in_pyc(source)
    assert "CHANGED" in getattr(code, "co_names", ())
