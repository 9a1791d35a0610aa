"""The course notebooks run from top to bottom, on the course file and on the project's corpus.

Each notebook in ``notebooks/`` is executed with a Jupyter kernel (nbclient, the ``python3``
kernel that ipykernel installs), with ``notebooks/`` as its working folder, as a student would
run it. A cell that raises fails the test. Then a few things are read back from the outputs and
checked against independent sources: the vocabulary size and a value of the course's reference
corpus, the gradient checks' relative differences, the pictures and the audio players.

Every notebook's set-up cell has a switch, ``USE_COURSE_FILE = True``. The "course" runs keep it
(and need ``../shared``, like every course test); the "corpus" runs flip it in memory, so the
project's own corpus in ``data/`` is covered whether or not the course file is present.

The repository keeps the notebooks without outputs, and they must be what
``notebooks/make_notebooks.py`` writes; both are checked here too.
"""

from __future__ import annotations

import importlib.util
import re
import sys
import time
from pathlib import Path
from typing import List

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = REPO / "notebooks"
NAMES = ["01_music_as_values.ipynb", "02_lstm_step_by_step.ipynb", "03_improvise_a_jazz_solo.ipynb",
         "04_chords_and_beat_as_input.ipynb"]
SWITCH = "USE_COURSE_FILE = True"
CELL_TIMEOUT = 600  # seconds; the slowest cell (training) takes a few seconds on an idle machine


def read(name: str):
    return nbformat.read(NOTEBOOK_DIR / name, as_version=4)


@pytest.fixture(scope="module")
def kernel_is_this_python() -> None:
    """The "python3" kernel must run this interpreter, so it sees the packages under test.

    ipykernel's own spec says "python", which jupyter_client replaces with sys.executable; a
    python3 kernelspec installed elsewhere could name another interpreter instead.
    """
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        command = KernelSpecManager().get_kernel_spec("python3").argv[0]
    except NoSuchKernel:
        pytest.fail("No Jupyter kernel named python3 was found; pip install ipykernel in this environment.")
    short_names = {"python", f"python{sys.version_info[0]}", "python%i.%i" % sys.version_info[:2]}
    if command not in short_names and Path(command).resolve() != Path(sys.executable).resolve():
        pytest.fail(f"The python3 Jupyter kernel runs {command}, not this interpreter {sys.executable}; "
                    "remove that kernelspec or run the tests with that interpreter.")


def run(name: str, music: str):
    """Execute a notebook on "course" (the course file) or "corpus" (data/); returns it with outputs."""
    notebook = read(name)
    if music == "corpus":
        setup = next(cell for cell in notebook.cells if cell.cell_type == "code")
        assert setup.source.count(SWITCH) == 1, f"{name}: the set-up cell has no {SWITCH!r} switch"
        setup.source = setup.source.replace(SWITCH, "USE_COURSE_FILE = False")
    client = nbclient.NotebookClient(notebook, timeout=CELL_TIMEOUT, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOK_DIR)}})
    client.execute()
    return notebook


def text_of(notebook) -> str:
    """Everything the code cells printed or returned as plain text, in order."""
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.output_type == "stream" and output.name == "stdout":
                parts.append(output.text)
            elif output.output_type in ("execute_result", "display_data"):
                parts.append(output.data.get("text/plain", "") + "\n")
    return "".join(parts)


def rich_outputs(notebook, mime: str) -> List[str]:
    return [output.data[mime] for cell in notebook.cells for output in cell.get("outputs", [])
            if output.output_type in ("execute_result", "display_data") and mime in output.data]


# ------------------------------------------------------------------------- the stored notebooks

def test_the_four_notebooks_are_there():
    assert sorted(p.name for p in NOTEBOOK_DIR.glob("*.ipynb")) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_notebooks_are_stored_without_outputs(name):
    notebook = read(name)
    nbformat.validate(notebook)
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code_cells
    for cell in code_cells:
        assert cell.outputs == [], f"{name}: a cell was committed with its outputs"
        assert cell.execution_count is None, f"{name}: a cell was committed with an execution count"
    assert notebook.metadata["kernelspec"]["name"] == "python3"


def test_notebooks_are_what_the_generator_writes():
    spec = importlib.util.spec_from_file_location("make_notebooks", NOTEBOOK_DIR / "make_notebooks.py")
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    assert sorted(generator.NOTEBOOKS) == NAMES
    for name in NAMES:
        stored = (NOTEBOOK_DIR / name).read_text(encoding="utf-8")
        assert stored == generator.text_of(generator.build(name)), (
            f"{name} differs from notebooks/make_notebooks.py; edit the script and run it")


# ------------------------------------------------------------------------------ running them

@pytest.fixture(params=["course", "corpus"])
def music(request, kernel_is_this_python) -> str:
    if request.param == "course":
        request.getfixturevalue("course_midi")  # skips (or fails under CI) without ../shared
    return request.param


def check_source(text: str, music: str) -> None:
    if music == "course":
        assert "Music: the course file original_metheny.mid" in text
    else:
        assert "Music: the project's own corpus" in text


def test_01_music_as_values(music, request):
    notebook = run(NAMES[0], music)
    text = text_of(notebook)
    check_source(text, music)

    n_values = int(re.search(r"vocabulary: n_values = (\d+)", text).group(1))
    shape = re.search(r"X: \((\d+), (\d+), (\d+)\)", text).groups()
    assert tuple(map(int, shape)) == (60, 30, n_values)
    assert "Y[t] == X[:, t+1] for every t: True" in text
    assert "same X: True  same Y: True  same vocabulary: True" in text
    by_hand = re.search(r"by hand: +(\S+)", text).group(1)
    assert re.search(r"the package: +(\S+)", text).group(1) == by_hand
    assert rich_outputs(notebook, "image/svg+xml"), "the piano roll is missing"

    if music == "course":
        reference = request.getfixturevalue("reference")
        assert n_values == reference["n_values"] == 78
        assert by_hand == "C,0.250,<m2,P-4>"
        assert by_hand in reference["corpus"]


def test_02_lstm_step_by_step(music):
    notebook = run(NAMES[1], music)
    text = text_of(notebook)
    check_source(text, music)

    differences = [float(d) for d in re.findall(r"difference = (\S+)", text)]
    # lstm_backward: 8 weights and biases, dx and da0; the course model: its 10 parameters
    assert len(differences) == 20
    assert all(d < 1e-7 for d in differences), differences
    equal = re.findall(r"equal:\s+(\w+)", text)
    assert len(equal) >= 11 and set(equal) == {"True"}
    assert "sequence_forward == lstm_forward: True" in text


def test_03_improvise_a_jazz_solo(music):
    started = time.time()
    notebook = run(NAMES[2], music)
    text = text_of(notebook)
    check_source(text, music)

    first, last = map(float, re.search(r"loss: (\S+) after epoch 1, (\S+) after epoch 100", text).groups())
    assert last < first / 2, "training did not bring the loss down"
    assert "results (50, " in text and "indices (50, 1)" in text
    assert "the same 50 values every time: True" in text
    assert "greedy's first value is the most likely one: True" in text
    players = [html for html in rich_outputs(notebook, "text/html") if "<audio" in html]
    assert len(players) == 2, "expected two audio players (training chords, typed changes)"
    assert len(rich_outputs(notebook, "image/svg+xml")) >= 4  # the loss and three piano rolls
    for suffix in (".mid", ".wav", ".svg"):
        written = (NOTEBOOK_DIR / "output" / f"typed_changes{suffix}").stat()
        assert written.st_size > 0 and written.st_mtime >= started - 1, f"typed_changes{suffix} not written"


def test_04_chords_and_beat_as_input(music):
    notebook = run(NAMES[3], music)
    text = text_of(notebook)
    check_source(text, music)

    assert re.search(r"features of one bar: \(\d+, 35\)", text)
    assert "the fast path equals the formulas: True" in text
    models = re.findall(r"  model    (\S+)", text)
    assert len(models) == 2 and all(float(nats) > 0 for nats in models)
    ratio = float(re.search(r"conditioned / course cross-entropy: (\S+)", text).group(1))
    assert abs(ratio - float(models[1]) / float(models[0])) < 1e-3
    players = [html for html in rich_outputs(notebook, "text/html") if "<audio" in html]
    assert len(players) == 2, "expected an audio player for each model"
    # the features of a bar, two distribution pictures and two piano rolls
    assert len(rich_outputs(notebook, "image/svg+xml")) >= 5
