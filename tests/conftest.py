"""Shared test fixtures.

The course file and the reference outputs live in ``../shared`` beside the checkout; they are not
ours to ship. Tests that need them use the fixtures below: where ``../shared`` is absent they skip
with a reason, except under ``CI=true``, where a missing reference is a failure.
"""

import json
import os
from pathlib import Path

import pytest

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
