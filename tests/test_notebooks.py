"""The notebooks as committed: paired, without outputs, and free of package logic.

Executing them is nbmake's job (`make test` runs `pytest --nbmake notebooks`); these checks
keep the committed files reviewable: each `.ipynb` has a `py:percent` twin with the same
content, no outputs or execution counts, and no `def` (code a notebook needs belongs in the
package).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

jupytext = pytest.importorskip("jupytext")
nbformat = pytest.importorskip("nbformat")

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))

# The header records the jupytext release that wrote it; a newer release on a fresh install is
# not a difference in content.
_WRITER = re.compile(r"^#\s+jupytext_version: .*$", re.MULTILINE)


def _content(py_percent: str) -> str:
    return _WRITER.sub("#     jupytext_version: <any>", py_percent)


def test_there_are_notebooks() -> None:
    assert len(NOTEBOOKS) >= 3


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_paired_py_percent_file_matches(path: Path) -> None:
    twin = path.with_suffix(".py")
    assert twin.exists(), f"{twin.name} missing: run jupytext --set-formats ipynb,py:percent"
    expected = jupytext.writes(jupytext.read(path), fmt="py:percent")
    assert _content(twin.read_text()) == _content(expected), (
        f"run: .venv/bin/jupytext --sync notebooks/{twin.name}"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), (
        f"strip outputs: .venv/bin/jupytext --sync notebooks/{path.stem}.py after editing the .py"
    )
    assert nb.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_function_definitions(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        source = "\n".join(
            line for line in cell.source.splitlines() if not line.lstrip().startswith("%")
        )
        defs = [
            node.name
            for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        ]
        assert not defs, f"{path.name} defines {defs}: move the code into the package"
