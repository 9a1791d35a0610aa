"""generate_music on a tiny untrained model: bars that never overlap, the course's procedure, seeds."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lstm_numpy import grammar, improvise, line, sampling
from lstm_numpy.changes import parse_changes
from lstm_numpy.errors import LstmNumpyError
from lstm_numpy.improvise import Solo, generate_music
from lstm_numpy.lstm import parameter_shapes
from lstm_numpy.model import Model
from lstm_numpy.notes import Chord, Note

# Values as the course's corpus spells them (SPEC section 5): type, duration, interval window.
VOCABULARY = [
    "C,0.250", "C,0.500", "C,0.333,<P1,d-5>", "C,0.250,<M-2,m-6>", "C,0.250,<M3,d-3>",
    "S,0.250,<m2,P-4>", "S,0.500,<d1,P-5>", "A,0.250,<P4,m-2>", "C,0.667,<M2,d-4>",
    "X,0.250,<d5,P1>", "C,0.750,<d4,M-2>", "S,0.333,<P5,A1>",
]
DURATIONS = {"0.250": Fraction(1, 4), "0.500": Fraction(1, 2), "0.333": Fraction(1, 3),
             "0.667": Fraction(2, 3), "0.750": Fraction(3, 4)}


def duration_of(value: str) -> Fraction:
    return DURATIONS[value.split(",")[1]]


def course_like_chords(n_measures=18):
    """Chords with absolute offsets, as read from a piece whose solo starts at beat 476."""
    bars = []
    for k in range(n_measures):
        start = Fraction(476 + 4 * k)
        bars.append([Chord(start, Fraction(1, 4), (55, 59, 62, 65)),
                     Chord(start + Fraction(5, 2), Fraction(0), (48, 52, 55, 59))])
    return bars


def tiny_model(seed=0, n_a=8, chords=None) -> Model:
    rng = np.random.default_rng(seed)
    n_values = len(VOCABULARY)
    parameters = {name: rng.normal(0, 0.8, shape) for name, shape in parameter_shapes(n_a, n_values).items()}
    return Model(parameters=parameters, indices_values=list(VOCABULARY),
                 chords=course_like_chords() if chords is None else chords, config={})


CHANGES = "Dm7 G7 | Cmaj7 | Fmaj7 | Bm7b5 E7"
MODEL = tiny_model()


# -------------------------------------------------------------------------------------- bars mode

@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("temperature", [0.0, 1.0, 3.0])
def test_every_note_stays_inside_its_bar(seed, temperature):
    solo = generate_music(tiny_model(), changes=CHANGES, n_bars=6, temperature=temperature, seed=seed)
    assert isinstance(solo, Solo) and solo.mode == "bars"
    assert len(solo.bars) == len(solo.chords) == len(solo.values) == 6
    for k, notes in enumerate(solo.bars):
        for note in notes:
            assert 4 * k <= note.offset < 4 * k + 4
            assert note.duration > 0
            assert note.offset + note.duration <= 4 * k + 4, "no note rings into the next bar"
    assert solo.end <= 24


@settings(max_examples=15, deadline=None)
@given(
    shape=st.lists(st.integers(1, 3), min_size=1, max_size=5),
    beats=st.integers(2, 7),
    n_bars=st.integers(1, 8),
    temperature=st.sampled_from([0.0, 0.5, 1.0, 2.0]),
    top_k=st.sampled_from([None, 1, 3]),
    seed=st.integers(0, 2**32 - 1),
)
def test_any_progression_and_metre_keeps_notes_in_their_bars(shape, beats, n_bars, temperature, top_k, seed):
    symbols = ["Dm7", "G7", "Cmaj7", "F#m7b5", "Bb6", "Ebdim7"]
    changes = " | ".join(" ".join(symbols[(k + j) % 6] for j in range(n)) for k, n in enumerate(shape))
    solo = generate_music(MODEL, changes=changes, n_bars=n_bars, beats_per_bar=beats,
                          temperature=temperature, top_k=top_k, seed=seed)
    assert len(solo.bars) == n_bars
    for k, (notes, chords) in enumerate(zip(solo.bars, solo.chords)):
        assert all(k * beats <= n.offset and n.offset + n.duration <= (k + 1) * beats for n in notes)
        assert chords[0].offset == k * beats and chords[-1].offset + chords[-1].duration == (k + 1) * beats
        assert_fills_its_bar_on_the_grid(notes, k * beats, beats)
        assert len(notes) == len(solo.values[k]), "every value sampled is played"
        register = line.DEFAULT_REGISTER  # the tiny model has none of its own
        assert all(register.low <= n.pitch <= register.high for n in notes if not n.is_rest)


ON_THE_GRID = {Fraction(k, 4) for k in range(4)} | {Fraction(k, 3) for k in range(3)}


def assert_fills_its_bar_on_the_grid(notes, start, beats):
    """Each element starts where the one before ended, on a quarter or third of a beat, from the
    bar line to the next: no gap, no overlap, nothing off the grid."""
    assert notes[0].offset == start and notes[-1].offset + notes[-1].duration == start + beats
    for before, after in zip(notes, notes[1:]):
        assert after.offset == before.offset + before.duration
    assert all(n.offset % 1 in ON_THE_GRID and n.duration > 0 for n in notes)


def test_each_bar_samples_just_enough_values_to_fill_it():
    solo = generate_music(tiny_model(), changes=CHANGES, n_bars=8, temperature=1.5, seed=5)
    for k, (values, notes) in enumerate(zip(solo.values, solo.bars)):
        assert len(values) == len(notes)
        ends = [n.offset + n.duration - 4 * k for n in notes]
        assert ends[-1] == 4 and all(end < 4 for end in ends[:-1]), "sampling stops when the bar is full"
        for value, note in zip(values, notes[:-1]):
            # a value on the grid keeps its own length; off it, it ends at the nearest grid point
            wanted = duration_of(value)
            assert abs(note.duration - wanted) < Fraction(1, 8)
            if (note.offset + wanted) % 1 in ON_THE_GRID:
                assert note.duration == wanted


def test_a_model_keeps_to_its_own_register():
    model = tiny_model()
    model.register = (60, 67)
    solo = generate_music(model, changes=CHANGES, n_bars=8, temperature=2.0, seed=3)
    pitches = [n.pitch for n in solo.melody if not n.is_rest]
    assert pitches and min(pitches) >= 60 and max(pitches) <= 67


def test_one_lstm_state_continues_across_bars():
    model = tiny_model(seed=3)
    solo = generate_music(model, changes=CHANGES, n_bars=5, temperature=0.0, seed=0)
    played = [v for values in solo.values for v in values]
    # Greedy sampling from one unbroken state is the course's predict_and_sample of that length.
    _, indices = sampling.predict_and_sample(model, Ty=len(played), temperature=0.0)
    assert played == [VOCABULARY[i] for i in indices[:, 0]]


def test_the_previous_note_carries_across_bars(monkeypatch):
    seen = []
    real = line.decode_bar

    def recording(values, chords, bar_length, previous, register):
        notes = real(values, chords, bar_length, previous, register)
        seen.append((previous, notes))
        return notes

    monkeypatch.setattr(line, "decode_bar", recording)
    generate_music(tiny_model(), changes=CHANGES, n_bars=4, temperature=1.0, seed=11)
    assert len(seen) == 4 and seen[0][0] is None
    last = None
    for previous, notes in seen:
        assert previous == last
        pitched = [n.pitch for n in notes if not n.is_rest]
        last = pitched[-1] if pitched else last


def test_chords_sit_under_their_bars_and_fill_them():
    solo = generate_music(tiny_model(), changes=CHANGES, n_bars=6, seed=0)
    parsed = parse_changes(CHANGES)
    for k, chords in enumerate(solo.chords):
        source = parsed[k % 4]  # the progression repeats
        assert [c.pitches for c in chords] == [c.pitches for c in source]
        assert [c.offset - 4 * k for c in chords] == [c.offset % 4 for c in source]
        assert chords[0].offset == 4 * k
        assert chords[-1].offset + chords[-1].duration == 4 * k + 4


def test_training_chords_are_reduced_to_their_bars():
    model = tiny_model()
    solo = generate_music(model, n_bars=3, seed=0)
    for k, chords in enumerate(solo.chords):
        assert [c.offset for c in chords] == [4 * k, 4 * k + Fraction(5, 2)]
        # each chord is held until the next (the piano's were short or of zero length)
        assert [c.duration for c in chords] == [Fraction(5, 2), Fraction(3, 2)]
    assert len(generate_music(model, seed=0).bars) == 18, "default: the training chords once"


def test_same_seed_same_solo_other_seed_other_solo():
    model = tiny_model()
    one = generate_music(model, changes=CHANGES, n_bars=4, temperature=1.0, seed=42)
    two = generate_music(model, changes=CHANGES, n_bars=4, temperature=1.0, seed=42)
    other = generate_music(model, changes=CHANGES, n_bars=4, temperature=1.0, seed=43)
    assert one == two
    assert one.melody != other.melody


def test_a_generator_can_stand_in_for_the_seed():
    model = tiny_model()
    one = generate_music(model, changes=CHANGES, seed=np.random.default_rng(9))
    two = generate_music(model, changes=CHANGES, seed=np.random.default_rng(9))
    assert one.melody == two.melody


def test_changes_as_text_or_parsed_give_the_same_solo():
    model = tiny_model()
    by_text = generate_music(model, changes=CHANGES, seed=1)
    by_bars = generate_music(model, changes=parse_changes(CHANGES), seed=1)
    by_chords = generate_music(model, chords=parse_changes(CHANGES), seed=1)
    assert by_text == by_bars == by_chords


def test_melody_is_in_time_order():
    solo = generate_music(tiny_model(), changes=CHANGES, n_bars=4, seed=2)
    offsets = [n.offset for n in solo.melody]
    assert offsets == sorted(offsets)
    assert len(solo.melody) == sum(len(bar) for bar in solo.bars)


@pytest.mark.parametrize("kwargs, words", [
    ({"mode": "jazz"}, "mode"),
    ({"n_bars": 0}, "n_bars"),
    ({"beats_per_bar": 0}, "beats_per_bar"),
    ({"changes": "Dm7 | Hm7"}, "'Hm7'"),
    ({"changes": "C", "chords": parse_changes("C")}, "not both"),
])
def test_bad_arguments_are_clear_errors(kwargs, words):
    with pytest.raises(LstmNumpyError, match=words):
        generate_music(tiny_model(), **kwargs)


def test_a_model_without_chords_asks_for_changes():
    with pytest.raises(LstmNumpyError, match="changes"):
        generate_music(tiny_model(chords=[]))



def test_a_solo_can_start_anywhere_in_the_changes_and_wraps_round():
    # four bars of distinct chords: bar k's root is 60 + k
    changes = [[Chord(Fraction(0), Fraction(4), (60 + k, 64 + k, 67 + k))] for k in range(4)]
    solo = generate_music(tiny_model(), chords=changes, n_bars=6, seed=3, start_bar=2)
    # bars 2 3 0 1 2 3 of the changes, each in its own place on the solo's time line
    assert [bar[0].pitches[0] for bar in solo.chords] == [62, 63, 60, 61, 62, 63]
    assert [bar[0].offset for bar in solo.chords] == [0, 4, 8, 12, 16, 20]
    # start_bar 0 is the solo from the top, the same draw for the same seed
    top = generate_music(tiny_model(), chords=changes, n_bars=6, seed=3)
    assert top.values == generate_music(tiny_model(), chords=changes, n_bars=6, seed=3, start_bar=0).values
    assert top.values == generate_music(tiny_model(), chords=changes, n_bars=6, seed=3, start_bar=4).values
    with pytest.raises(LstmNumpyError, match="start_bar"):
        generate_music(tiny_model(), chords=changes, start_bar=-1)


def test_an_empty_bar_keeps_its_held_chord_when_a_solo_starts_on_it():
    bars = course_like_chords(4)
    bars[2] = []
    solo = generate_music(tiny_model(chords=bars), seed=0, start_bar=2)
    # the solo starts on the empty bar 2, which holds bar 1's last chord, not the first chord there is
    assert [c.pitches for c in solo.chords[0]] == [bars[1][-1].pitches]

# ------------------------------------------------------------------------------------ course mode

def greedy_values(model, Ty=50):
    _, indices = sampling.predict_and_sample(model, Ty=Ty, temperature=0.0)
    return [model.indices_values[i] for i in indices[:, 0]]


def test_course_mode_is_the_course_procedure(monkeypatch):
    """SPEC section 8: the same 50 greedy values are decoded over each of the first five chord
    sets, each set's chords counted from its bar line (the course's offset mod 4), and set k is
    placed 4 k beats on. The decoding itself, grammar.course_postprocess, has its own tests; here
    a stand-in records what it is given and returns one marker note per call."""
    calls = []

    def decode(values, chords, rng):
        calls.append((list(values), list(chords), rng))
        return [Note(Fraction(len(calls)), Fraction(1, 4), 60 + len(calls))]

    monkeypatch.setattr(grammar, "course_postprocess", decode)
    model = tiny_model(seed=4)
    solo = generate_music(model, mode="course", seed=7)
    greedy = greedy_values(model)  # the course's inference (test_sampling holds it to the course)
    assert len(calls) == len(solo.bars) == 5
    for k, (values, chords, rng) in enumerate(calls):
        assert values == greedy
        # course_like_chords: measure k starts on beat 476 + 4 k, a multiple of 4
        assert chords == [Chord(Fraction(0), Fraction(1, 4), (55, 59, 62, 65)),
                          Chord(Fraction(5, 2), Fraction(0), (48, 52, 55, 59))]
        assert rng is calls[0][2]  # one generator, drawn from set after set
        assert solo.values[k] == ["C,0.25"] + greedy
        assert solo.bars[k] == [Note(Fraction(5 * k + 1), Fraction(1, 4), 61 + k)]
        assert solo.chords[k] == [Chord(Fraction(4 * k), Fraction(1, 4), (55, 59, 62, 65)),
                                  Chord(Fraction(4 * k) + Fraction(5, 2), Fraction(0), (48, 52, 55, 59))]


def test_course_sets_start_four_beats_apart_and_overlap():
    solo = generate_music(tiny_model(seed=4), mode="course", seed=0)
    for k, notes in enumerate(solo.bars):
        assert 0 < len(notes) <= 51, "at most one note per decoded value"
        assert min(n.offset for n in notes) >= 4 * k
    assert max(n.offset + n.duration for n in solo.bars[0]) > 4, "as in the course, sets overlap"


def test_course_mode_ignores_temperature_as_the_course_did():
    model = tiny_model(seed=4)
    assert generate_music(model, mode="course", temperature=0.0, seed=3) == \
        generate_music(model, mode="course", temperature=2.5, top_k=2, seed=3)


@pytest.mark.parametrize("n_measures, expected", [(18, 5), (17, 5), (8, 2), (3, 1), (1, 1)])
def test_course_set_count_follows_the_course_rule(n_measures, expected):
    # the course: range(1, int((n_measures + 1) / 3)), at least one set here; the course file's
    # 18 measures gave its 5 sets
    assert improvise._course_set_count(n_measures) == expected


def test_course_mode_over_user_changes_plays_each_bar_once():
    solo = generate_music(tiny_model(), changes=CHANGES, mode="course", seed=0)
    assert len(solo.bars) == 4
    assert len(generate_music(tiny_model(), changes=CHANGES, mode="course", n_bars=7, seed=0).bars) == 7


# ------------------------------------------------------------------------------- files and reloads

def test_same_seed_gives_byte_identical_midi_and_wav(tmp_path):
    import wave

    import mido

    from lstm_numpy.render import write_solo

    model = tiny_model()
    for name in ("one", "two"):
        solo = generate_music(model, changes=CHANGES, n_bars=4, temperature=1.0, seed=8)
        write_solo(tmp_path / name, solo, tempo_bpm=100)
    for suffix in (".mid", ".wav"):
        assert (tmp_path / f"one{suffix}").read_bytes() == (tmp_path / f"two{suffix}").read_bytes()
    midi = mido.MidiFile(str(tmp_path / "one.mid"))
    # 4 bars of 4 beats at 100 bpm; the chords fill every bar, so the file lasts exactly that long
    assert midi.length == pytest.approx(16 * 60 / 100, abs=0.01)
    with wave.open(str(tmp_path / "one.wav")) as w:
        assert w.getnframes() == round((16 * 60 / 100 + 1.0) * w.getframerate())


def test_a_reloaded_checkpoint_improvises_the_same_solo(tmp_path):
    from lstm_numpy.checkpoint import load_checkpoint, save_checkpoint

    model = tiny_model()
    save_checkpoint(tmp_path / "ck", model)
    again = load_checkpoint(tmp_path / "ck")
    for mode in ("bars", "course"):
        assert generate_music(again, mode=mode, seed=4) == generate_music(model, mode=mode, seed=4)


def test_a_bar_without_chords_keeps_the_chord_of_the_bar_before():
    bars = course_like_chords(4)
    bars[0], bars[2] = [], []
    solo = generate_music(tiny_model(chords=bars), seed=0)
    assert len(solo.chords) == 4
    # bar 0 takes the first chord there is (bar 1's first); bar 2 the last one of bar 1
    assert [c.pitches for c in solo.chords[0]] == [bars[1][0].pitches]
    assert [c.pitches for c in solo.chords[2]] == [bars[1][-1].pitches]
    assert solo.chords[2][0].offset == 8 and solo.chords[2][0].duration == 4


def test_course_mode_plays_over_the_courses_five_chord_sets(course_midi, reference):
    from lstm_numpy import dataset
    from lstm_numpy.model import init_model

    chords, grammars = dataset.get_musical_data(course_midi, preset="course")
    _, _, _, indices_values = dataset.get_corpus_data(grammars)
    model = init_model([indices_values[i] for i in range(len(indices_values))], n_a=8, seed=0, chords=chords)
    solo = generate_music(model, mode="course", seed=0)

    # The course used its chord groups 1..int(19 / 3) - 1 (SPEC section 8); group 0 was metadata.
    expected_sets = reference["chords_per_measure"][1:int(reference["n_chords_dict"] / 3)]
    assert len(solo.chords) == len(expected_sets) == 5
    for k, (ours, theirs) in enumerate(zip(solo.chords, expected_sets)):
        assert [c.pitches for c in ours] == [tuple(c["midi"]) for c in theirs["chords"]]
        assert [float(c.offset) for c in ours] == [4 * k + c["offset_in_measure"] for c in theirs["chords"]]
        assert [float(c.duration) for c in ours] == pytest.approx([c["quarterLength"] for c in theirs["chords"]])


def test_course_mode_plays_the_courses_five_sets_over_a_long_corpus():
    long_corpus = parse_changes(" | ".join(["Cmaj7 | A7 | Dm7 | G7"] * 20))  # 80 bars of chords
    solo = generate_music(tiny_model(chords=long_corpus), mode="course", seed=0)
    assert len(solo.bars) == 5


def test_a_solo_longer_than_the_limit_is_refused():
    from lstm_numpy.limits import MAX_BARS

    with pytest.raises(LstmNumpyError, match=f"from 1 to {MAX_BARS}"):
        generate_music(MODEL, changes=CHANGES, n_bars=MAX_BARS + 1)
    long_chords = parse_changes("C7 | F7") * (MAX_BARS // 2 + 1)
    with pytest.raises(LstmNumpyError, match=f"more than the {MAX_BARS}"):
        generate_music(MODEL, chords=long_chords)


# ----------------------------------------------------------------------------- sampling defaults

def test_the_default_sampling_is_the_stated_one():
    from lstm_numpy.cli import DEFAULT_TEMPERATURE, DEFAULT_TOP_K

    assert DEFAULT_TOP_K is None  # the default draws among all values (README, "Improvising")
    small = Model(parameters=tiny_model().parameters, indices_values=list(VOCABULARY), chords=[], config={})
    # a k above the vocabulary's size keeps every value
    assert generate_music(small, changes=CHANGES, n_bars=4, top_k=small.n_values + 5, seed=6) == \
        generate_music(small, changes=CHANGES, n_bars=4, top_k=None, seed=6)
    # with a larger vocabulary the default draws among all values, not among the 20 likeliest
    words = [f"C,{0.25 * (1 + k % 4):.3f}" for k in range(60)]
    rng = np.random.default_rng(1)
    n_a, n_values = 6, len(words)
    shapes = {name: (n_a, n_a + n_values) for name in ("Wf", "Wi", "Wc", "Wo")}
    shapes.update({name: (n_a, 1) for name in ("bf", "bi", "bc", "bo")})
    shapes.update(Wy=(n_values, n_a), by=(n_values, 1))
    wide = Model({name: rng.normal(0, 0.8, shape) for name, shape in shapes.items()}, words, [], {})
    default = generate_music(wide, changes=CHANGES, n_bars=4, seed=2)
    assert default == generate_music(wide, changes=CHANGES, n_bars=4, top_k=None,
                                     temperature=DEFAULT_TEMPERATURE, seed=2)
    assert default != generate_music(wide, changes=CHANGES, n_bars=4, top_k=20, seed=2)


def test_top_k_option_of_the_commands():
    from lstm_numpy import cli

    assert cli.top_k(None) == cli.DEFAULT_TOP_K and cli.top_k(0) is None and cli.top_k(7) == 7
