"""The practice notebook runs top to bottom (with one epoch per training run), so it never rots."""

import os
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "week9_practice.ipynb"


def test_practice_notebook_executes(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIDL_NOTEBOOK_EPOCHS", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    # the kernel imports the minidl under test, not whatever copy is installed
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(NOTEBOOK.parents[1]), os.environ.get("PYTHONPATH")]))
    )
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()  # the kernel inherits os.environ, set above (NotebookClient takes no env= argument)
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.get("outputs", [])]
    assert not [output for output in outputs if output.get("output_type") == "error"]
    printed = "".join(output.get("text", "") for output in outputs if output.get("output_type") == "stream")
    assert "eval mode: p(true)" in printed
