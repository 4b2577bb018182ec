"""The notebooks in `notebooks/` run top to bottom, headless, on their tiny budgets."""

import os
import sys

import pytest

from conftest import REPO

NOTEBOOKS = REPO / "notebooks"


@pytest.mark.large
@pytest.mark.parametrize("name", ["quickstart.ipynb", "pretraining_question.ipynb"])
def test_notebook_executes(name, shared_data):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    # In memory only: report which interpreter the kernel ran.
    notebook.cells.append(nbformat.v4.new_code_cell("import sys; print(sys.executable)"))
    # The `python3` kernelspec's "python" is replaced by this interpreter,
    # so the kernel imports the same installed kerasft as the tests.
    client = nbclient.NotebookClient(
        notebook, timeout=600, kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS)}},  # cwd = notebooks/
    )
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    client.execute(env=env)
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    executable = notebook.cells[-1].outputs[0]["text"].strip()
    assert executable == sys.executable
