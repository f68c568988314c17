"""Execute the example notebooks against a freshly generated sample county, and check what they
show: every cell that ends in an expression displays it, every plotting cell draws a figure, and
checks run in the notebook's own kernel hold for the results it computed."""

import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))

# per notebook: code run after the last cell, in the same kernel, on the notebook's variables.
# Each assertion is about what the notebook claims to show, not about exact figures.
CHECKS = {
    "01_quickstart": """
assert before.shape[1:] == after.shape[1:] == frame.shape
assert len(patches) > 0 and len(verdicts) == len(patches)
assert verdicts["verdict"].isin(["unapproved", "partly_approved"]).any()
assert ev["tp"] > 0 and 0 < ev["recall"] <= 1 and 0 < ev["precision"] <= 1
assert ev["per_case"]["n"].sum() == len(county.truth)
""",
    "02_overlay": """
import numpy as np
assert len(zs) == len(landuse) and zs["count"].sum() > 0
assert codes_grid.shape == frame.shape
assert set(np.unique(codes_grid.values)) & set(landuse["code_int"])
assert len(abc) > 0 and len(exact) > 0
assert abs(ellipsoidal / plane - 1) < 0.01  # Gauss-Kruger near its meridian: scale close to 1
""",
    "03_change": """
import numpy as np
assert t >= 2.0  # the floor passed to threshold_score
assert mask.dtype == bool and 0 < int(mask.sum()) < mask.size
assert np.isfinite(score.values).any() and len(patches) > 0
""",
}


def _expression_cell(source: str) -> bool:
    """Does the cell end in a bare expression (which Jupyter displays)?"""
    import ast

    body = ast.parse(source).body
    if not body or not isinstance(body[-1], ast.Expr) or source.rstrip().endswith(";"):
        return False
    last = body[-1].value  # print(...) is an expression too, but shows a stream, not a result
    return not (isinstance(last, ast.Call) and getattr(last.func, "id", None) == "print")


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_and_shows_its_results(path, tmp_path, monkeypatch):
    from nbclient import NotebookClient

    monkeypatch.setenv("ONEMAP_NOTEBOOK_DATA", str(tmp_path))
    monkeypatch.setenv("ONEMAP_NOTEBOOK_SIZE", "384")
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend shows figures
    nb = nbformat.read(path, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), \
        "commit notebooks stripped"
    shown = [c for c in nb.cells if c.cell_type == "code"]
    nb.cells.append(nbformat.v4.new_code_cell(CHECKS[path.stem]))
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    errors = [o for o in outputs if o.output_type == "error"]
    assert not errors, "\n".join(f"{e.ename}: {e.evalue}" for e in errors)
    for cell in shown:
        kinds = {o.output_type for o in cell.outputs}
        data = {k for o in cell.outputs for k in o.get("data", {})}
        if _expression_cell(cell.source):
            assert "execute_result" in kinds, cell.source
        if re.search(r"\.plot\(|plt\.subplots", cell.source):
            assert "image/png" in data, cell.source
        if "print(" in cell.source:
            assert any(o.output_type == "stream" and o.text.strip() for o in cell.outputs)


def test_notebooks_exist():
    assert [p.stem for p in NOTEBOOKS] == ["01_quickstart", "02_overlay", "03_change"]
    assert set(CHECKS) == {p.stem for p in NOTEBOOKS}
