"""Shared test fixtures and helpers.

The course file and the reference outputs live in ``../shared`` beside the checkout; they are not
ours to ship. Tests that need them use the fixtures below: where ``../shared`` is absent they skip
with a reason, except under ``CI=true``, where a missing reference is a failure.

The helpers at the end (random LSTM parameters, one-hot inputs, the gradient check) serve the
tests of the LSTM and of the model alike: ``from conftest import ...``.
"""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from lstm_numpy.gradcheck import gradient_agrees
from lstm_numpy.lstm import GATES

# Every rendering in the suite uses the built-in NumPy synthesizer unless a test asks for a
# SoundFont, so results do not depend on what happens to be installed on the machine (subprocesses
# inherit the setting). tests/test_soundfont.py covers the SoundFonts and how one is chosen.
os.environ["LSTM_NUMPY_SOUNDFONT"] = "none"

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
COURSE_MIDI = SHARED / "data" / "original_metheny.mid"
REFERENCE_JSON = SHARED / "reference" / "metheny_reference.json"
KERAS_JSON = SHARED / "reference" / "keras_training.json"


def _need(path: Path) -> Path:
    if path.exists():
        return path
    message = f"{path.name} not found in ../shared beside the checkout"
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (required under CI=true)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def course_midi() -> Path:
    """Path to original_metheny.mid."""
    return _need(COURSE_MIDI)


@pytest.fixture(scope="session")
def reference() -> dict:
    """metheny_reference.json: the original pipeline's output on the course file."""
    return json.loads(_need(REFERENCE_JSON).read_text())


@pytest.fixture(scope="session")
def keras_training() -> dict:
    """keras_training.json: Keras's per-epoch losses on the course data."""
    return json.loads(_need(KERAS_JSON).read_text())


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def random_parameters(rng, n_a, n_x, n_y=None, dtype=np.float64, scale=0.8):
    """The course's ten parameters (n_y = n_x unless given), standard normal times scale."""
    n_y = n_x if n_y is None else n_y
    p = {}
    for g in GATES:
        p["W" + g] = scale * rng.standard_normal((n_a, n_a + n_x))
        p["b" + g] = scale * rng.standard_normal((n_a, 1))
    p["Wy"] = scale * rng.standard_normal((n_y, n_a))
    p["by"] = scale * rng.standard_normal((n_y, 1))
    return {k: v.astype(dtype) for k, v in p.items()}


def one_hot_inputs(rng, T, m, n_x):
    """Time-major indices (T, m) with some all-zero inputs (-1), and the same as dense one-hot."""
    idx = rng.integers(-1, n_x, size=(T, m))
    dense = np.zeros((T, m, n_x))
    t, j = np.nonzero(idx >= 0)
    dense[t, j, idx[t, j]] = 1
    return idx, dense


def assert_gradient(loss, array, analytic, name):
    """analytic is the gradient of loss() on array, by ``gradcheck.gradient_agrees``."""
    assert gradient_agrees(loss, array, analytic), name
