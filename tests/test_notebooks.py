"""The notebooks of notebooks/: kept without outputs, holding no logic of their own, and run in a real kernel."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_the_notebooks_are_committed_without_outputs_and_read_the_lake_through_jobs():
    assert len(NOTEBOOKS) >= 4
    for path in NOTEBOOKS:
        book = json.loads(path.read_text())
        code = [c for c in book["cells"] if c["cell_type"] == "code"]
        assert all(not c["outputs"] and c["execution_count"] is None for c in code), f"{path.name} holds outputs"
        source = "\n".join("".join(c["source"]) for c in code)
        assert "from jobs." in source, f"{path.name} does not use jobs/"
        assert "def " not in source and "class " not in source, f"{path.name} defines logic of its own"


@pytest.mark.e2e
def test_every_notebook_runs_on_the_shared_lake(e2e, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("C360_LAKE_ROOT", e2e.rt.lake.root)
    for path in NOTEBOOKS:
        book = nbformat.read(path, as_version=4)
        NotebookClient(book, timeout=300, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
        errors = [o for c in book.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
        assert not errors, f"{path.name}: {errors}"
        shown = [o for c in book.cells if c.cell_type == "code" for o in c.outputs]
        assert len(shown) >= 4, f"{path.name} showed almost nothing"
