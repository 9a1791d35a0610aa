"""The project's own corpus in data/.

It loads with the reader's default choices, its statistics are those data/README.md documents
(recomputed here from the MIDI files), it plays within reach of the real solos the README sets it
beside (measured again with lstm_numpy.evaluate), data/make_corpus.py rewrites it byte for byte
from its seed, and the improviser keeps its own rules whatever the seed.
"""

import importlib.util
import re
import subprocess
import sys
from collections import Counter
from fractions import Fraction
from pathlib import Path

import mido
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lstm_numpy import midi_io
from lstm_numpy.changes import ROOT_NAMES
from lstm_numpy.dataset import default_corpus_paths, get_corpus_data, get_measures, get_musical_data

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"
README = DATA / "README.md"


def _load_script():
    spec = importlib.util.spec_from_file_location("make_corpus", DATA / "make_corpus.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


make_corpus = _load_script()
TUNES = make_corpus.tunes()


@pytest.fixture(scope="module")
def corpus():
    _, grammars = get_musical_data(default_corpus_paths())
    values, vocabulary, _, _ = get_corpus_data(grammars)
    return grammars, values, vocabulary


def documented_statistics():
    """The README's statistics table: {key: count}, from rows such as "| `C` | 2056 | ... |"."""
    rows = re.findall(r"^\| `([^`]+)` \| (\d+) \|", README.read_text(), flags=re.MULTILINE)
    return {key: int(count) for key, count in rows}


# --------------------------------------------------------------------------------------------
# The files as they are committed
# --------------------------------------------------------------------------------------------

def test_the_files_are_the_scripts_tunes_and_the_readme_lists_each():
    on_disk = sorted(p.name for p in DATA.glob("*.mid"))
    assert on_disk == sorted(f"{t.stem}.mid" for t in TUNES)
    assert [p.name for p in default_corpus_paths()] == on_disk
    listed = set(re.findall(r"^\| `(\w+\.mid)` \|", README.read_text(), flags=re.MULTILINE))
    assert listed == set(on_disk)


@pytest.mark.parametrize("tune", TUNES, ids=lambda t: t.stem)
def test_each_file_has_the_documented_layout(tune):
    midi = mido.MidiFile(DATA / f"{tune.stem}.mid")
    assert (midi.type, midi.ticks_per_beat) == (1, 480)
    names = [next((m.name for m in track if m.type == "track_name"), "") for track in midi.tracks]
    assert names == [tune.title, "Tenor Sax", "Piano", "Bass"]
    meta = {m.type: m for m in midi.tracks[0]}
    assert (meta["time_signature"].numerator, meta["time_signature"].denominator) == (4, 4)
    assert round(mido.tempo2bpm(meta["set_tempo"].tempo)) == tune.tempo
    channels = [{m.channel for m in track if m.type == "note_on"} for track in midi.tracks[1:]]
    assert channels == [{0}, {1}, {2}]


@pytest.mark.parametrize("tune", TUNES, ids=lambda t: t.stem)
def test_the_default_choice_finds_the_sax_and_the_piano(tune):
    score = midi_io.read_midi(DATA / f"{tune.stem}.mid")
    melody, chords = midi_io.choose_sources(score)
    assert score.track_names[melody.track] == "Tenor Sax"
    assert score.track_names[chords.track] == "Piano"
    # the solo is strictly one note at a time: each note ends before the next begins
    notes = sorted((n for n in score.notes if n.track == melody.track), key=lambda n: n.start)
    assert all(a.end <= b.start for a, b in zip(notes, notes[1:]))


@pytest.mark.parametrize("tune", TUNES, ids=lambda t: t.stem)
def test_every_bar_has_melody_and_a_piano_chord(tune):
    measures = get_measures(DATA / f"{tune.stem}.mid")
    # the reader skips bars without melody: none may be missing
    assert [m.start for m in measures] == [Fraction(4 * k) for k in range(len(tune.bars))]
    for m in measures:
        assert any(m.start <= c.offset < m.start + 4 for c in m.chords), m.start


def test_statistics_are_those_the_readme_documents(corpus):
    grammars, values, vocabulary = corpus
    counts = Counter(values)
    found = {"measures": len(grammars), "values": len(values), "distinct": len(vocabulary),
             "once": sum(1 for n in counts.values() if n == 1),
             "rare": sum(1 for n in counts.values() if n < 3)}
    for letter in "CSAXR":
        found[letter] = sum(1 for v in values if v.startswith(letter + ","))
    found.update(Counter(v.split(",")[1] for v in values))
    found.update(Counter(v for v in values if v.startswith("R,")))
    assert found == documented_statistics()


@pytest.fixture(scope="module")
def style():
    return make_corpus.style_statistics(DATA)


def test_the_readme_sets_the_corpus_beside_the_real_solos(style):
    assert make_corpus.style_table(style) in README.read_text()


@pytest.mark.parametrize("key, label, low, high", make_corpus.REAL_SOLOS, ids=lambda x: str(x))
def test_the_corpus_plays_like_the_real_solos(style, key, label, low, high):
    # within 8 points of the real solos' figure or range, or 20 % for a figure that is no share
    if label.endswith("(%)"):
        assert low - 8 <= style[key] <= high + 8, label
    else:
        assert 0.8 * low <= style[key] <= 1.2 * high, label


def test_the_corpus_is_the_size_the_issue_asks_for(corpus):
    _, values, vocabulary = corpus
    assert 1000 <= len(values) <= 10000  # some thousands of values
    assert 20 <= len(vocabulary) <= 450  # tens to a few hundreds, as the course's 78
    # learnable: fewer than half of the values are seen fewer than three times (the course's
    # whole Metheny file has two thirds)
    counts = Counter(values)
    assert sum(n < 3 for n in counts.values()) < 0.5 * len(vocabulary)
    letters = Counter(v[0] for v in values)
    assert letters["C"] > letters["S"] > letters["X"]  # chord tones lead, as in the course


# --------------------------------------------------------------------------------------------
# The script
# --------------------------------------------------------------------------------------------

def test_the_script_rewrites_identical_bytes_from_its_seed(tmp_path):
    subprocess.run([sys.executable, str(DATA / "make_corpus.py"), "--out", str(tmp_path)],
                   check=True, capture_output=True)
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == sorted(p.name for p in DATA.glob("*.mid"))
    for name in written:
        assert (tmp_path / name).read_bytes() == (DATA / name).read_bytes(), name


def test_another_seed_gives_other_music(tmp_path):
    # one file is enough: each file depends only on the seed and its own number
    path = tmp_path / "other.mid"
    make_corpus.save_atomically(make_corpus.tune_to_midi(TUNES[0], make_corpus.SEED + 1, 0), path)
    assert path.read_bytes() != (DATA / f"{TUNES[0].stem}.mid").read_bytes()


@settings(max_examples=20, deadline=None)
@given(tune=st.sampled_from(TUNES), seed=st.integers(0, 2**32 - 1))
def test_the_improviser_keeps_its_rules_for_any_seed(tune, seed):
    import numpy as np

    solo = make_corpus.improvise(tune.bars, np.random.default_rng([seed, 0]),
                                 make_corpus.STYLES[tune.style])
    low, high = make_corpus.MELODY_RANGE
    bars = len(tune.bars)

    def harmony(slot):
        return make_corpus.harmony_at(tune.bars, slot.start)

    # one note at a time, on the grid of sixteenths and triplets, within the form
    for a, b in zip(solo, solo[1:]):
        assert a.start + a.length <= b.start
    assert all(s.start.denominator in (1, 2, 3, 4) and s.length > 0 for s in solo)
    assert solo[-1].start == 4 * (bars - 1)
    # every bar has a note
    assert {int(s.start // 4) for s in solo} == set(range(bars))
    # a note of its own on a beat (not a lick's or a motif's) is a chord tone, a tension or a
    # scale tone of the chord sounding there
    for s in solo:
        if s.group is None and s.role != "fill" and s.on_beat:
            h = harmony(s)
            assert s.pitch % 12 in h.tones + h.tensions + h.scale
    # a tension is resolved: unless its phrase ends, a lick or a motif begins or the chord
    # changes to one it belongs to, the next note is a chord tone a step away (the solo's very
    # last note follows its own rule, below)
    for a, b in zip(solo, solo[1:-1]):
        if (a.tension and a.role != "end" and b.group is None
                and a.pitch % 12 not in harmony(b).tones):
            assert b.pitch % 12 in harmony(b).tones and abs(b.pitch - a.pitch) <= 2
    # an echo is its motif moved to its own chord's root: the same intervals, the root's shift
    for s in solo:
        if s.role == "echo":
            motif = solo[s.source]
            assert s.shift == (harmony(s).root - harmony(motif).root) % 12
            assert (s.pitch - motif.pitch - s.shift) % 12 == 0
    for a, b in zip(solo, solo[1:]):
        if a.role == b.role == "echo" and a.group == b.group:
            assert b.pitch - a.pitch == solo[b.source].pitch - solo[a.source].pitch
    # a push rings over the next beat
    assert all(not s.on_beat and s.start + s.length > -(-s.start // 1) for s in solo
               if s.role == "push")
    # a tenor's range, give or take the whole step an approach or neighbour tone may stretch it
    assert all(low - 2 <= s.pitch <= high + 2 for s in solo)
    # the solo ends at rest on the root, third or fifth of the last chord
    assert solo[-1].pitch % 12 in tune.bars[-1][0].tones[:3]


@pytest.mark.parametrize("kind", sorted(make_corpus.KINDS))
def test_the_pianos_voicing_is_the_packages_reading_of_the_symbol(kind):
    # The script reads its symbols with lstm_numpy.changes; its own table adds only the scales
    # and tensions. The piano voices the chord tones, and the b9 the symbol "7b9" names.
    harmony = make_corpus.Harmony.parse("D" + kind)
    tones, _ = make_corpus.KINDS[kind]
    assert harmony.root == 2
    extra = {(2 + 1) % 12} if kind == "7b9" else set()
    assert set(harmony.voiced) == {(2 + t) % 12 for t in tones} | extra
    assert not set(harmony.tensions) & set(harmony.tones)


@settings(max_examples=20, deadline=None)
@given(symbol=st.sampled_from(sorted(make_corpus.KINDS)), root=st.sampled_from(ROOT_NAMES))
def test_lick_degrees_name_the_chord_and_scale_tones(symbol, root):
    harmony = make_corpus.Harmony.parse(root + symbol)
    tones, scale = make_corpus.KINDS[symbol]
    # odd degrees are the chord tones, even ones the scale tones between, 8 and up an octave higher
    assert [make_corpus.degree_semitones(d, harmony) for d in "1 3 5 7".split()] == list(tones)
    assert [make_corpus.degree_semitones(d, harmony) for d in "2 4 6".split()] == [
        scale[1], scale[3], scale[5]]
    assert make_corpus.degree_semitones("9", harmony) == scale[1] + 12
    assert make_corpus.degree_semitones("5-", harmony) == tones[2] - 1
