"""Write the course notebooks from the cells below: ``python notebooks/make_notebooks.py``.

A notebook is a JSON file, awkward to edit and to review. Here each notebook is a plain list of
Markdown and code cells, and this script writes them out as ``.ipynb`` files *without outputs*:
the repository keeps the lesson, never one particular run of it, so a diff shows only what a
person changed. Edit the cells here, run the script, and commit both.
``tests/test_notebooks.py`` checks that the notebooks match this script and run top to bottom.

Notebook 2 types some of the LSTM's equations out again, in the notebook itself, on purpose: the
reader sees them written from the formulas and checked against the package's functions, which
is the point of that lesson (the same lines are in ``lstm_numpy/lstm.py``).

Every notebook starts with the same set-up cell: it finds the repository (the notebook may be
opened from ``notebooks/`` or from the repository's root) and the course's MIDI file, which is not
part of the project. When ``../shared/data/original_metheny.mid`` sits beside the repository the
notebooks use it exactly as the course did; otherwise they use the project's own corpus in
``data/``.
"""

from __future__ import annotations

import os
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Dict, List, Tuple

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

Cell = Tuple[str, str]  # ("md" or "code", source)


def md(text: str) -> Cell:
    return ("md", textwrap.dedent(text).strip("\n"))


def code(text: str) -> Cell:
    return ("code", textwrap.dedent(text).strip("\n"))


SETUP = code('''
    import sys
    from pathlib import Path

    import numpy as np

    # The notebooks sit in notebooks/, one folder below the repository; either may be the
    # working folder, depending on where Jupyter was started.
    HERE = Path.cwd()
    REPO = next((p for p in (HERE, HERE.parent) if (p / "lstm_numpy").is_dir()), HERE.parent)
    try:
        import lstm_numpy
    except ImportError:  # not installed with pip: use the package in this repository
        sys.path.insert(0, str(REPO))
        import lstm_numpy

    # The course's MIDI file is not ours to ship. When it sits in ../shared beside the
    # repository we use it exactly as the course did; otherwise the project's own corpus.
    # (Set USE_COURSE_FILE = False to use the corpus even when the course file is there.)
    USE_COURSE_FILE = True
    COURSE_MIDI = REPO.parent / "shared" / "data" / "original_metheny.mid"
    if USE_COURSE_FILE and COURSE_MIDI.exists():
        MIDI, PRESET = COURSE_MIDI, "course"
        print(f"Music: the course file {COURSE_MIDI.name}, read with preset='course'.")
    else:
        from lstm_numpy.dataset import default_corpus_paths

        MIDI, PRESET = default_corpus_paths(), None
        print(f"Music: the project's own corpus, {len(MIDI)} MIDI files in data/.")
''')


# ---------------------------------------------------------------------------------------------
# 01: from a MIDI solo to the arrays X and Y
# ---------------------------------------------------------------------------------------------

MUSIC_AS_VALUES: List[Cell] = [
    md('''
    # 1. Music as values

    An LSTM cannot read a score. It reads a sequence of vectors, and at every step it guesses
    which vector comes next. So before any learning can happen, a jazz solo has to become a
    sequence of symbols drawn from a fixed list, the *vocabulary*, and each symbol has to become
    a vector.

    The course did this with music21 inside a helper file that students never opened. This
    notebook opens it: we follow one solo from the MIDI file to the arrays `X` and `Y` that the
    model trains on, and we rebuild one symbol by hand.

    The first cell finds the music. If the course's file `original_metheny.mid` is available
    (in `../shared/data/` beside the repository) we read it with the course's settings; if not,
    we read the project's own corpus of jazz solos in `data/`. Everything below works on both;
    only the numbers differ.
    '''),
    SETUP,
    md('''
    ## Measures: a melody over its chords

    A MIDI file is a list of note-on and note-off events on several tracks. The course kept
    two of them: one instrument's solo (the *melody*) and the piano's chords under it, and cut
    both into *measures*. (For other files the package picks the two parts itself: the
    melody is the part that most often plays one note at a time, above the bass register; the
    chords come from the part that plays the most notes at once.) Times are counted in quarter notes ("beats") and kept as exact
    fractions, because jazz mixes straight sixteenths (1/4 of a beat) with triplets (1/3 of a
    beat), and 1/3 has no exact decimal or binary form.
    '''),
    code('''
    from lstm_numpy.dataset import get_measures

    measures = get_measures(MIDI, preset=PRESET)
    n_notes = sum(len(m.melody) for m in measures)
    n_chords = sum(len(m.chords) for m in measures)
    print(f"{len(measures)} measures, {n_notes} melody notes, {n_chords} chords")

    first = measures[0]
    print(f"the first measure starts on beat {first.start} and lasts {first.length} beats; "
          "its first notes:")
    for note in first.melody[:4]:
        print("   ", note)
    '''),
    md('''
    A piano roll shows the same thing as a picture: time runs to the right, pitch goes up. The
    orange boxes are the melody, the pale blue ones the notes of the chords. (The times are
    shifted so that the picture starts at 0.) The picture is SVG, written by
    `lstm_numpy/render.py` itself, with no plotting library; give `plot_piano_roll` a file name
    instead of `None` to save it.
    '''),
    code('''
    from dataclasses import replace

    from lstm_numpy import plot_piano_roll

    shown = measures[:8]
    origin = shown[0].start
    melody = [replace(n, offset=n.offset - origin) for m in shown for n in m.melody]
    chords = [replace(c, offset=c.offset - origin) for m in shown for c in m.chords]
    plot_piano_roll(None, melody, chords, title=f"the first {len(shown)} measures")
    '''),
    md('''
    ## One note becomes a value

    The symbols are called *values*. A value such as `C,0.250,<m2,P-4>` does not say which
    pitch was played. It says three things about the note, each relative to its surroundings:

    1. **its type**, one letter, found by comparing the note with the chord that is sounding:
       `C` a chord tone, `S` a tone of the chord's scale, `A` an *approach* tone (a semitone
       away from a chord tone), `X` anything else (and `R` for a rest);
    2. **its duration** in beats, with three decimals (`0.250` is a sixteenth note);
    3. **a range for the leap** from the previous note: the interval actually played, widened
       by a minor third up and down, written with the interval names musicians use (`m2` a
       minor second up, `P-4` a perfect fourth down). The first note of a measure has no range.

    Describing notes relative to the harmony is what lets a model trained on one tune play over
    other chords, and the range (rather than the exact interval) leaves the decoder room to
    choose, which is where the improvising happens.

    Let's take one note and rebuild its value by hand. We look for the first note whose value
    is `C,0.250,<m2,P-4>`, one of the most common values in the course's solo, and take the
    first chord tone with a range if the music has no such note.
    '''),
    code('''
    from lstm_numpy import grammar, theory

    EXAMPLE = "C,0.250,<m2,P-4>"


    def find_example(measures):
        """(measure number, note number) of EXAMPLE, else of the first chord tone with a range."""
        fallback = None
        for k, measure in enumerate(measures):
            values = grammar.parse_measure(measure.melody, measure.chords, measure.start).split()
            for i, value in enumerate(values):
                if value == EXAMPLE:
                    return k, i
                if fallback is None and value.startswith("C,") and "<" in value:
                    fallback = (k, i)
        return fallback


    k, i = find_example(measures)
    measure = measures[k]
    note = measure.melody[i]
    previous = next(n for n in reversed(measure.melody[:i]) if not n.is_rest)
    print(f"measure {k}, note {i}: {theory.pitch_name(note.pitch)} (MIDI {note.pitch}), "
          f"{float(note.offset - measure.start):.3f} beats into the measure, "
          f"lasting {note.duration} beat(s)")
    print(f"the note before it: {theory.pitch_name(previous.pitch)} (MIDI {previous.pitch})")
    '''),
    md('''
    **Step 1: the chord in force.** It is the last chord that started at or before the note
    (if none has started yet, the measure's first chord). Its quality, read from its root, its
    third and its fifth, decides which scale the `S` test uses: a major scale over a major
    chord, a Dorian scale otherwise, in each case the one that holds most of the chord's notes.
    '''),
    code('''
    chord = grammar.chord_in_force(sorted(measure.chords, key=lambda c: c.offset), note.offset)
    root = theory.chord_root(chord.pitches)
    quality = theory.chord_quality(chord.pitches)
    scale = theory.membership_scale(chord.pitches)
    print("chord in force:", " ".join(theory.pitch_name(p) for p in chord.pitches),
          f"(started {float(chord.offset - measure.start):.3f} beats into the measure)")
    print(f"root {root.name}, {quality}; its scale for the S test: {scale.tonic} {scale.kind} =",
          " ".join(scale.names))
    '''),
    md('''
    **Step 2: the type.** The tests run in a fixed order and the first that passes wins. Names
    are compared with their spelling (`E-` is E flat), as music21 did: a MIDI file only says
    "note 63", and the course always spelled it `E-`.
    '''),
    code('''
    name = theory.spell(note.pitch).name
    print(f"C: is {name} among the chord's names {sorted(theory.chord_pitch_names(chord.pitches))}?",
          theory.is_chord_tone(note.pitch, chord.pitches))
    print(f"S: is {name} in the scale?", theory.is_scale_tone(note.pitch, chord.pitches))
    print(f"A: is {name} a semitone from a chord tone?",
          theory.is_approach_tone(note.pitch, chord.pitches))
    kind = grammar.tone_type(note.pitch, chord.pitches)
    print("type:", kind)
    '''),
    md('''
    **Step 3: the duration**, printed with three decimals. (A triplet eighth, 1/3 of a beat,
    prints as `0.333`.)

    **Step 4: the range.** The interval from the previous note is counted in letter steps and
    semitones, then a minor third (2 steps, 3 semitones) is added for the upper bound and
    subtracted for the lower one.
    '''),
    code('''
    duration = f"{float(note.duration):.3f}"
    step = theory.interval_between(previous.pitch, note.pitch)
    upper = theory.add_intervals(step, theory.MINOR_THIRD)
    lower = theory.subtract_intervals(step, theory.MINOR_THIRD)
    print(f"duration: {duration}")
    print(f"interval played: {step.name} ({step.semitones:+d} semitones)")
    print(f"upper bound: {step.name} + m3 = {upper.name}; lower bound: {step.name} - m3 = {lower.name}")

    by_hand = f"{kind},{duration},<{upper.name},{lower.name}>"
    from_package = grammar.parse_measure(measure.melody, measure.chords, measure.start).split()[i]
    print(f"by hand:     {by_hand}")
    print(f"the package: {from_package}")
    assert by_hand == from_package
    '''),
    md('''
    The whole measure, value by value. Only its first note has no range: the previous note is
    forgotten at each bar line.
    '''),
    code('''
    for note_, value in zip(measure.melody,
                            grammar.parse_measure(measure.melody, measure.chords, measure.start).split()):
        pitch = "rest" if note_.is_rest else theory.pitch_name(note_.pitch)
        print(f"{pitch:>5}  {value}")
    '''),
    md('''
    ## The corpus and the vocabulary

    `get_musical_data` does the above for every measure and returns one string of values per
    measure; `get_corpus_data` lays all the values end to end (the *corpus*) and numbers the
    distinct ones (the *vocabulary*). Its size, `n_values`, is the length of every input and
    output vector of the model. On the course file it is 78.
    '''),
    code('''
    from collections import Counter

    from lstm_numpy import get_corpus_data, get_musical_data

    chords, abstract_grammars = get_musical_data(MIDI, preset=PRESET)
    corpus, values, val_indices, indices_val = get_corpus_data(abstract_grammars)
    print(f"corpus: {len(corpus)} values in {len(abstract_grammars)} measures")
    print(f"vocabulary: n_values = {len(values)}")
    counts = Counter(corpus)
    print(f"{sum(1 for c in counts.values() if c == 1)} values occur only once; the most common:")
    for value, count in counts.most_common(5):
        print(f"   {count:4d} x  {value}   (index {val_indices[value]})")
    '''),
    md('''
    Many values occur only once or twice. For so little music the vocabulary is large: the
    model meets most values in very few contexts, one reason why it tends to memorise whole
    phrases rather than learn general habits.

    ## X, Y and one-hot rows

    Training does not use the corpus as one long sequence. `data_processing` cuts `m = 60`
    windows of `Tx = 30` consecutive values, each starting at a random place, and turns each
    value into a *one-hot* row: a vector of `n_values` zeros with a single 1 at the value's
    index.

    * `X` has shape `(m, Tx, n_values)`: window `i`, step `t`, one-hot row. Its first step
      `X[i, 0]` is all zeros: the model starts every window from nothing.
    * `Y` has shape `(Ty, m, n_values)` with `Ty = Tx`: time comes first, because the model has
      one output per step. `Y[t]` is the value that *follows* step `t`, so `Y[t] == X[:, t+1]`,
      and the last `Y[Tx-1]` is all zeros since nothing follows the window.
    '''),
    code('''
    from lstm_numpy import data_processing

    X, Y, n_values = data_processing(corpus, val_indices, m=60, Tx=30)
    print("X:", X.shape, " = (m, Tx, n_values)")
    print("Y:", Y.shape, " = (Ty, m, n_values)")
    print("n_values =", n_values)

    row = X[0, 1]
    hot = np.flatnonzero(row)
    print(f"X[0, 1] holds {int(row.sum())} one, at index {hot[0]}: the value {indices_val[hot[0]]!r}")
    print("as a row:", "".join(str(int(v)) for v in row))
    '''),
    code('''
    print("any 1 in X[:, 0]?            ", bool(X[:, 0].any()))
    print("Y[t] == X[:, t+1] for every t:", np.array_equal(Y[:-1], X[:, 1:].transpose(1, 0, 2)))
    print("any 1 in Y[Tx-1]?            ", bool(Y[-1].any()))

    print("\\nwindow 0, steps 1 to 4 (input -> value to predict):")
    for t in range(1, 5):
        x_value = indices_val[int(np.argmax(X[0, t]))]
        y_value = indices_val[int(np.argmax(Y[t, 0]))]
        print(f"   t={t}: {x_value:<20} -> {y_value}")
    '''),
    md('''
    `load_music_utils` runs the whole chain at once, from the MIDI file to `X`, `Y`, `n_values`
    and the index-to-value dictionary. The windows are drawn from NumPy's generator seeded with 0,
    as the course seeded it, so both routes give the very same arrays:
    '''),
    code('''
    from lstm_numpy import load_music_utils

    X2, Y2, n_values2, indices_values = load_music_utils(MIDI, preset=PRESET)
    print("same X:", np.array_equal(X, X2), " same Y:", np.array_equal(Y, Y2),
          " same vocabulary:", indices_values == indices_val)
    '''),
    md('''
    Next: `02_lstm_step_by_step.ipynb`, the network that reads these rows.
    '''),
]


# ---------------------------------------------------------------------------------------------
# 02: the LSTM cell, forward and backward, checked
# ---------------------------------------------------------------------------------------------

LSTM_STEP_BY_STEP: List[Cell] = [
    md('''
    # 2. The LSTM, step by step

    The course built its model from Keras layers, so the LSTM itself stayed a black box. In
    this package the equations are a handful of NumPy functions in `lstm_numpy/lstm.py`
    (`reference_cell_forward` and its friends), and the course's functions, `lstm_cell_forward`
    and its friends, run the same equations on the fast path that training uses. This notebook
    puts the equations next to those functions, re-types a few of them here to show there is
    nothing more to it, and checks the gradients against finite differences.
    '''),
    SETUP,
    md(r'''
    ## One step forward

    At step $t$ the cell receives the input $x^{\langle t \rangle}$ (a one-hot value, shape
    $(n_x, m)$ for a batch of $m$ examples) and its own state from the step before: the hidden
    state $a^{\langle t-1 \rangle}$ and the memory $c^{\langle t-1 \rangle}$, both
    $(n_a, m)$. Every gate looks at the same stacked vector
    $[a^{\langle t-1 \rangle}; x^{\langle t \rangle}]$ of $n_a + n_x$ rows:

    $$\Gamma_f^{\langle t \rangle} = \sigma(W_f [a^{\langle t-1 \rangle}; x^{\langle t \rangle}] + b_f) \qquad \text{forget gate: how much of the old memory to keep}$$
    $$\Gamma_i^{\langle t \rangle} = \sigma(W_i [a^{\langle t-1 \rangle}; x^{\langle t \rangle}] + b_i) \qquad \text{update gate: how much of the candidate to write}$$
    $$\tilde{c}^{\langle t \rangle} = \tanh(W_c [a^{\langle t-1 \rangle}; x^{\langle t \rangle}] + b_c) \qquad \text{candidate memory}$$
    $$\Gamma_o^{\langle t \rangle} = \sigma(W_o [a^{\langle t-1 \rangle}; x^{\langle t \rangle}] + b_o) \qquad \text{output gate: how much of the memory to show}$$
    $$c^{\langle t \rangle} = \Gamma_f^{\langle t \rangle} * c^{\langle t-1 \rangle} + \Gamma_i^{\langle t \rangle} * \tilde{c}^{\langle t \rangle}$$
    $$a^{\langle t \rangle} = \Gamma_o^{\langle t \rangle} * \tanh(c^{\langle t \rangle})$$
    $$\hat{y}^{\langle t \rangle} = \mathrm{softmax}(W_y a^{\langle t \rangle} + b_y)$$

    $\sigma$ is the logistic sigmoid $1 / (1 + e^{-z})$ and $*$ multiplies element by element.
    The gates are numbers between 0 and 1, so they act as dimmer switches. The memory is
    updated by a *sum*, not by a matrix product, and that is why gradients survive many steps
    back in time better than in a plain RNN.

    In the code, `ft, it, cct, ot` are $\Gamma_f, \Gamma_i, \tilde{c}, \Gamma_o$;
    `lstm_cell_forward(xt, a_prev, c_prev, parameters)` returns `a_next, c_next, yt_pred, cache`.
    We try it on small random weights, in float64 so that the checks below can be tight.
    '''),
    code('''
    from lstm_numpy import lstm_cell_forward

    rng = np.random.default_rng(1)
    n_x, n_a, n_y, m = 3, 5, 2, 10


    def random_parameters(rng, n_x, n_a, n_y):
        p = {f"W{g}": rng.standard_normal((n_a, n_a + n_x)) for g in "fico"}
        p.update({f"b{g}": rng.standard_normal((n_a, 1)) for g in "fico"})
        p["Wy"] = rng.standard_normal((n_y, n_a))
        p["by"] = rng.standard_normal((n_y, 1))
        return p


    parameters = random_parameters(rng, n_x, n_a, n_y)
    xt = rng.standard_normal((n_x, m))
    a_prev = rng.standard_normal((n_a, m))
    c_prev = rng.standard_normal((n_a, m))

    a_next, c_next, yt_pred, cache = lstm_cell_forward(xt, a_prev, c_prev, parameters)
    print("a_next", a_next.shape, " c_next", c_next.shape, " yt_pred", yt_pred.shape)
    print("each column of yt_pred sums to 1:", np.allclose(yt_pred.sum(axis=0), 1))
    '''),
    md('''
    The same step, typed out from the equations with nothing but NumPy:
    '''),
    code('''
    def sigmoid(z):
        return 1 / (1 + np.exp(-z))


    p = parameters
    concat = np.concatenate([a_prev, xt], axis=0)          # (n_a + n_x, m)
    ft_ = sigmoid(p["Wf"] @ concat + p["bf"])
    it_ = sigmoid(p["Wi"] @ concat + p["bi"])
    cct_ = np.tanh(p["Wc"] @ concat + p["bc"])
    ot_ = sigmoid(p["Wo"] @ concat + p["bo"])
    c_next_ = ft_ * c_prev + it_ * cct_
    a_next_ = ot_ * np.tanh(c_next_)
    z = p["Wy"] @ a_next_ + p["by"]
    yt_pred_ = np.exp(z) / np.exp(z).sum(axis=0)
    '''),
    md('''
    ...and checked against the package, gates included (the cache keeps them for the backward
    pass):
    '''),
    code('''
    _, _, _, _, ft, it, cct, ot, _, _ = cache
    for name, mine, package in [("ft", ft_, ft), ("it", it_, it), ("cct", cct_, cct), ("ot", ot_, ot),
                                ("c_next", c_next_, c_next), ("a_next", a_next_, a_next),
                                ("yt_pred", yt_pred_, yt_pred)]:
        print(f"{name:8s} equal: {np.allclose(mine, package, rtol=1e-12, atol=1e-12)}")
        assert np.allclose(mine, package, rtol=1e-12, atol=1e-12)
    '''),
    md(r'''
    ## A whole sequence

    `lstm_forward(x, a0, parameters)` runs the same cell, with the same weights, over $T_x$ steps.
    $x$ has shape $(n_x, m, T_x)$; the memory starts at zero; the outputs stack every step's
    $a$, $\hat{y}$ and $c$ along a last axis of length $T_x$. It is nothing but a loop over
    `lstm_cell_forward`:
    '''),
    code('''
    from lstm_numpy import lstm_forward

    T_x = 7
    x = rng.standard_normal((n_x, m, T_x))
    a0 = rng.standard_normal((n_a, m))
    a, y, c, caches = lstm_forward(x, a0, parameters)
    print("a", a.shape, " y", y.shape, " c", c.shape)

    a_t, c_t = a0, np.zeros((n_a, m))
    for t in range(T_x):
        a_t, c_t, y_t, _ = lstm_cell_forward(x[:, :, t], a_t, c_t, parameters)
        assert np.allclose(a_t, a[:, :, t]) and np.allclose(c_t, c[:, :, t]) and np.allclose(y_t, y[:, :, t])
    print("a loop of lstm_cell_forward gives the same a, c and y at every step")
    '''),
    md(r'''
    ## One step backward

    Backpropagation runs the chain rule through the same equations, in reverse. Given the
    gradients arriving at the step's outputs, $da^{\langle t \rangle}$ and
    $dc^{\langle t \rangle}$ (from the loss and from step $t+1$), write
    $\tau = \tanh(c^{\langle t \rangle})$. The memory receives gradient both directly and
    through $a^{\langle t \rangle}$:

    $$dc = dc^{\langle t \rangle} + da^{\langle t \rangle} * \Gamma_o * (1 - \tau^2)$$

    Each gate's *pre-activation* $z$ (what goes into its $\sigma$ or $\tanh$) then gets, using
    $\sigma' = \sigma(1-\sigma)$ and $\tanh' = 1 - \tanh^2$:

    $$dz_o = da^{\langle t \rangle} * \tau * \Gamma_o (1 - \Gamma_o) \qquad
      dz_f = dc * c^{\langle t-1 \rangle} * \Gamma_f (1 - \Gamma_f)$$
    $$dz_i = dc * \tilde{c} * \Gamma_i (1 - \Gamma_i) \qquad
      dz_c = dc * \Gamma_i * (1 - \tilde{c}^2)$$

    and from these, for each gate $g$: $dW_g = dz_g\,[a^{\langle t-1 \rangle}; x^{\langle t \rangle}]^T$,
    $db_g = \sum_{\text{batch}} dz_g$, and the gradient flowing back into the stacked input is
    $\sum_g W_g^T dz_g$, whose first $n_a$ rows are $da^{\langle t-1 \rangle}$ and the rest
    $dx^{\langle t \rangle}$. Finally $dc^{\langle t-1 \rangle} = dc * \Gamma_f$.

    `lstm_cell_backward(da_next, dc_next, cache)` returns all of them in a dictionary.
    '''),
    code('''
    from lstm_numpy import lstm_cell_backward

    da_next = rng.standard_normal((n_a, m))
    dc_next = rng.standard_normal((n_a, m))
    gradients = lstm_cell_backward(da_next, dc_next, cache)
    for name in ("dxt", "da_prev", "dc_prev", "dWf", "dbf"):
        print(f"{name:8s}{gradients[name].shape}")
    '''),
    md('''
    Two of those formulas typed out, and checked against the package in the next cell:
    '''),
    code('''
    tau = np.tanh(c_next)
    dc_ = dc_next + da_next * ot * (1 - tau**2)
    dc_prev_ = dc_ * ft
    dz_o = da_next * tau * ot * (1 - ot)
    dWo_ = dz_o @ np.concatenate([a_prev, xt], axis=0).T
    '''),
    code('''
    print("dc_prev equal:", np.allclose(dc_prev_, gradients["dc_prev"], rtol=1e-12, atol=1e-12))
    print("dWo equal:    ", np.allclose(dWo_, gradients["dWo"], rtol=1e-12, atol=1e-12))
    assert np.allclose(dc_prev_, gradients["dc_prev"], rtol=1e-12, atol=1e-12)
    assert np.allclose(dWo_, gradients["dWo"], rtol=1e-12, atol=1e-12)
    '''),
    md(r'''
    ## Backpropagation through time, and a gradient check

    `lstm_backward(da, caches)` walks the sequence backwards. At each step the gradient on
    $a^{\langle t \rangle}$ is the sum of what the loss sends to step $t$ (`da[:, :, t]`) and what
    step $t+1$ sends back; the weight gradients of all steps are added up, since all steps
    share the weights.

    How do we know the formulas are right? We compare them with *finite differences*. Take a
    scalar loss, here $J = \sum_t \sum R^{\langle t \rangle} * a^{\langle t \rangle}$ with a fixed
    random $R$ (so that $\partial J / \partial a^{\langle t \rangle} = R^{\langle t \rangle}$),
    nudge one weight by $\pm\varepsilon$, and measure how $J$ moves:

    $$\text{gradapprox} = \frac{J(\theta + \varepsilon) - J(\theta - \varepsilon)}{2 \varepsilon}$$

    Doing this for every entry gives a numerical gradient to compare with backprop's, by the
    relative difference

    $$\text{difference} = \frac{\lVert \text{grad} - \text{gradapprox} \rVert_2}
      {\lVert \text{grad} \rVert_2 + \lVert \text{gradapprox} \rVert_2}$$

    which is around $10^{-7}$ or smaller in float64 when backprop is right, and close to 1 when it
    is wrong. ($\varepsilon = 10^{-5}$ is a compromise: a larger nudge sees the curvature of $J$,
    a much smaller one loses the difference in the rounding error of float64.)

    The two formulas are `numeric_gradient` and `relative_difference` in `lstm_numpy/gradcheck.py`,
    short enough to read in a minute; the package's tests check every gradient with the same functions.
    '''),
    code('''
    from lstm_numpy import lstm_backward
    from lstm_numpy.gradcheck import numeric_gradient, relative_difference

    R = rng.standard_normal((n_a, m, T_x))


    def J():
        a, _, _, _ = lstm_forward(x, a0, parameters)
        return np.sum(R * a)


    _, _, _, caches = lstm_forward(x, a0, parameters)
    grads = lstm_backward(R, caches)
    checks = [(f"d{name}", parameters[name]) for name in ("Wf", "Wi", "Wc", "Wo", "bf", "bi", "bc", "bo")]
    checks += [("dx", x), ("da0", a0)]
    for name, array in checks:
        d = relative_difference(grads[name], numeric_gradient(J, array))
        verdict = "ok" if d < 1e-7 else "WRONG"
        print(f"{name:4s} difference = {d:.2e}  {verdict}")
        assert d < 1e-7
    '''),
    md(r'''
    ## The whole course model

    The course's model puts the Dense softmax layer $W_y, b_y$ on top of every step and sums the
    cross-entropy of the $T_x$ outputs. `lstm_numpy.model.loss_and_gradients` computes that loss
    and all its gradients for a batch `X, Y` shaped as in notebook 1. The same check on a tiny
    model, in float64:
    '''),
    code('''
    from lstm_numpy import data_processing, init_model
    from lstm_numpy.model import loss_and_gradients

    tiny_values = ["C,0.250", "C,0.500", "S,0.250", "A,0.250", "C,0.333", "R,0.250"]
    tiny_corpus = list(rng.choice(tiny_values, size=40))
    X, Y, n_values = data_processing(tiny_corpus, {v: k for k, v in enumerate(tiny_values)}, m=4, Tx=6)
    tiny = init_model(tiny_values, n_a=4, seed=3, dtype=np.float64)
    loss, _, grads = loss_and_gradients(tiny.parameters, X, Y)
    print(f"loss = {loss:.4f} for {X.shape[0]} windows of {X.shape[1]} steps, n_values = {n_values}")


    def tiny_J():
        return loss_and_gradients(tiny.parameters, X, Y)[0]


    for name, array in tiny.parameters.items():
        d = relative_difference(grads["d" + name], numeric_gradient(tiny_J, array))
        print(f"d{name:3s} difference = {d:.2e}  {'ok' if d < 1e-7 else 'WRONG'}")
        assert d < 1e-7
    '''),
    md(r'''
    ## The fast path: the same numbers, sooner

    Training calls the cell thousands of times, so the package also has a fast version of it
    (`layout.py` arranges the weights, `kernels.py` holds the compiled loops, `passes.py` runs
    them through time).
    Nothing in the mathematics changes; three rewrites make it quicker:

    * **One row per example, four gates side by side.** With examples in rows, one matrix
      product `[a_prev, xt] @ [Wf; Wi; Wc; Wo].T` gives all four gates' pre-activations at once.
    * **One-hot inputs are looked up, not multiplied.** Multiplying a one-hot row by a matrix
      picks one of the matrix's rows; so the input is stored as an integer index. The all-zero
      input of the first step is index $-1$, which picks a row of zeros.
    * **One tanh for every gate.** $\sigma(z) = \tfrac{1}{2}\left(1 + \tanh(z/2)\right)$, so the
      sigmoid gates' weights are stored halved and one `tanh` over the whole block does all four.

    `layout.fuse` rearranges the course's weights that way, and `kernels.cell_step`, a loop
    compiled with numba, runs one step on them. First the identity:
    '''),
    code('''
    z = np.linspace(-30, 30, 601)
    print("sigmoid(z) == (1 + tanh(z/2)) / 2:", np.allclose(1 / (1 + np.exp(-z)), (1 + np.tanh(z / 2)) / 2))
    '''),
    md('''
    Now the numba kernel against `lstm_cell_forward`, on one-hot inputs (one example gets the
    all-zero input, index -1):
    '''),
    code('''
    from lstm_numpy import kernels, layout, passes
    from lstm_numpy.lstm import reference_forward

    x_index = rng.integers(0, n_x, size=m)
    x_index[0] = -1
    xt_onehot = np.zeros((n_x, m))
    for j, k in enumerate(x_index):
        if k >= 0:
            xt_onehot[k, j] = 1

    # the course's layout: one example per column
    a_course, c_course, _, _ = lstm_cell_forward(xt_onehot, a_prev, c_prev, parameters)

    # the fast layout: one example per row, fused and halved weights, numba
    Wa, Wx, b, _ = layout.fuse(parameters)
    a_rows, c_rows = np.ascontiguousarray(a_prev.T), np.ascontiguousarray(c_prev.T)
    a_fast, c_fast = np.empty_like(a_rows), np.empty_like(c_rows)
    scratch = np.empty((m, 4 * n_a))
    kernels.cell_step(x_index, a_rows, c_rows, Wa, Wx, b, a_fast, c_fast, scratch)

    print("a equal:", np.allclose(a_fast.T, a_course, rtol=1e-12, atol=1e-12))
    print("c equal:", np.allclose(c_fast.T, c_course, rtol=1e-12, atol=1e-12))
    assert np.allclose(a_fast.T, a_course, rtol=1e-12, atol=1e-12)
    assert np.allclose(c_fast.T, c_course, rtol=1e-12, atol=1e-12)
    '''),
    md('''
    Training uses `passes.sequence_forward`, which runs all $T_x$ steps in the fast layout in one
    compiled call (the time loop, its products and the gates all in numba); `lstm_forward` is
    this same pass in the course's shapes. Same numbers as `lstm_forward` again, and a rough
    idea of the time it takes on a course-sized batch (`n_a = 64`, 78 values, 60 windows of 30
    steps) against `reference_forward`, the equations typed out in plain NumPy:
    '''),
    code('''
    import time

    x_steps = rng.integers(0, n_x, size=(T_x, m))
    x_steps[0] = -1                                    # the course's zero first input
    x_dense = np.zeros((n_x, m, T_x))
    for t in range(T_x):
        for j in range(m):
            if x_steps[t, j] >= 0:
                x_dense[x_steps[t, j], j, t] = 1
    a_course, _, c_course, _ = lstm_forward(x_dense, a0, parameters)
    fast = passes.sequence_forward(x_steps, np.ascontiguousarray(a0.T), np.zeros((m, n_a)),
                                   layout.join(parameters))
    # fast.A[t + 1] is a<t+1> with examples in rows: (T_x, m, n_a) against (n_a, m, T_x)
    same = (np.allclose(fast.A[1:].transpose(2, 1, 0), a_course, rtol=1e-12, atol=1e-12)
            and np.allclose(fast.C[1:].transpose(2, 1, 0), c_course, rtol=1e-12, atol=1e-12))
    print("sequence_forward == lstm_forward:", same)
    assert same


    def seconds(function, repeat=3):
        best = np.inf
        for _ in range(repeat):
            start = time.perf_counter()
            function()
            best = min(best, time.perf_counter() - start)
        return best


    big = init_model([str(k) for k in range(78)], n_a=64, seed=0, dtype=np.float32).parameters
    steps = rng.integers(0, 78, size=(30, 60))
    dense = np.zeros((78, 60, 30), np.float32)
    dense[steps.T[None, :, :] == np.arange(78)[:, None, None]] = 1
    zeros_columns, zeros_rows = np.zeros((64, 60), np.float32), np.zeros((60, 64), np.float32)
    slow = seconds(lambda: reference_forward(dense, zeros_columns, big))
    quick = seconds(lambda: passes.sequence_forward(steps, zeros_rows, zeros_rows, layout.join(big)))
    print(f"forward pass over 30 steps: reference_forward {slow * 1e3:.1f} ms, "
          f"sequence_forward {quick * 1e3:.1f} ms")
    '''),
    md('''
    (The timings depend on your machine and on what else it is doing; the equality does not.)

    Next: `03_improvise_a_jazz_solo.ipynb`, where this LSTM is trained and plays.
    '''),
]


# ---------------------------------------------------------------------------------------------
# 03: train the course model and improvise
# ---------------------------------------------------------------------------------------------

IMPROVISE: List[Cell] = [
    md('''
    # 3. Improvise a jazz solo

    Now the whole assignment: build the course's model, train it, let it improvise, and listen.
    The model is one LSTM cell with `n_a = 64` hidden units, shared by all `Tx = 30` steps, and a
    Dense softmax layer on top of each step; it learns to predict the next value from the
    values so far.

    The course settings are used throughout: 60 training windows of 30 values, 100 epochs,
    batches of 32, Adam with learning rate 0.01 slowly decayed (by 1 / (1 + 0.01 t) after t
    updates). On the course file that takes a few seconds.
    The project's corpus is more than ten times longer than the course's solo; to keep this
    notebook quick we still draw only the course's 60 windows from it, which is far less than
    it deserves (`python -m lstm_numpy.train` draws more windows for a bigger corpus).
    '''),
    SETUP,
    code('''
    OUTPUT = REPO / "notebooks" / "output"   # the files this notebook writes; git ignores them
    OUTPUT.mkdir(exist_ok=True)
    '''),
    md('''
    ## The data and the model

    `load_music_utils` gives the arrays of notebook 1; `get_musical_data` also gives the chords
    of every measure, which the model keeps so that it can later improvise over them.
    `init_model` starts the weights as Keras did (see its docstring), from a fixed seed.
    '''),
    code('''
    from lstm_numpy import get_musical_data, init_model, load_music_utils

    X, Y, n_values, indices_values = load_music_utils(MIDI, preset=PRESET, m=60, Tx=30)
    chords, _ = get_musical_data(MIDI, preset=PRESET)
    print("X", X.shape, " Y", Y.shape, f" n_values = {n_values}, {len(chords)} measures of chords")

    model = init_model(indices_values, n_a=64, seed=0, chords=chords)
    for name, array in model.parameters.items():
        print(f"   {name:3s}{str(array.shape):>12}")
    print(f"{sum(a.size for a in model.parameters.values())} parameters in all")
    '''),
    md('''
    ## Training

    `fit` (named after the course's Keras call) runs mini-batch gradient descent with Adam: each
    epoch shuffles the 60 windows, and for each batch it runs the forward pass, the loss,
    backpropagation through time and one update. A callback after each epoch moves the progress bar. The loss printed is the course's:
    the cross-entropy summed over the 30 steps, averaged over the windows.
    '''),
    code('''
    from tqdm.auto import tqdm

    from lstm_numpy.model import fit

    EPOCHS = 100

    with tqdm(total=EPOCHS, unit="epoch") as bar:
        def show_progress(epoch, history):
            bar.set_postfix(loss=f"{history['loss'][-1]:.2f}")
            bar.update(1)

        history = fit(model, X, Y, epochs=EPOCHS, batch_size=32, seed=0, on_epoch_end=show_progress)

    print(f"loss: {history['loss'][0]:.2f} after epoch 1, {history['loss'][-1]:.2f} after epoch {EPOCHS}")
    '''),
    md('''
    The loss curve. If the course's own Keras run on the same data is available beside the
    repository, it is drawn too: the two start from different random weights, so they are not
    identical, but they should tell the same story.
    '''),
    code('''
    import json

    from lstm_numpy import plot_loss

    others = {}
    keras_run = REPO.parent / "shared" / "reference" / "keras_training.json"
    if PRESET == "course" and keras_run.exists():
        keras_loss = json.loads(keras_run.read_text())["loss_per_epoch_main"]
        others["the course's Keras run"] = keras_loss
        print(f"Keras: {keras_loss[0]:.2f} after epoch 1, {keras_loss[-1]:.2f} after epoch {len(keras_loss)}")
    plot_loss(None, history, others=others, label="this notebook")
    '''),
    md('''
    ## Sampling: the course's greedy choice

    To improvise, the trained cell runs on its own. It starts from a zero input and zero state;
    at each step it computes the softmax over the vocabulary, picks a value, and feeds that
    value back in, one-hot, as the next input. The course picked the *most likely* value every
    time (the argmax). `predict_and_sample` does exactly that by default and returns the course's
    `results` (one-hot rows) and `indices`:
    '''),
    code('''
    from lstm_numpy import predict_and_sample

    results, indices = predict_and_sample(model, Ty=50)
    print("results", results.shape, " indices", indices.shape)
    print("np.argmax(results[12]) =", np.argmax(results[12]), " indices[12] =", indices[12])
    greedy = [indices_values[int(k)] for k in indices[:, 0]]
    print(f"{len(set(greedy))} different values among 50; the first ten:")
    print("   ", " ".join(greedy[:10]))
    again, _ = predict_and_sample(model, Ty=50)
    print("the same 50 values every time:", np.array_equal(results, again))
    '''),
    md(r'''
    Greedy sampling is deterministic, and a model trained this hard mostly replays a training
    phrase. The usual remedy is to *draw* each value from the softmax, after dividing the
    logits by a **temperature** $T$: $p_T(v) \propto \exp(z_v / T) \propto p(v)^{1/T}$. Below 1
    the distribution gets sharper (towards the argmax), above 1 flatter (bolder choices).

    Here is the distribution of the very first value, computed with the cell of notebook 2
    from a zero input and a zero state, then reshaped by hand for three temperatures. With
    nothing heard yet, the model spreads its bets thinly over many values; later steps are
    far more certain.
    '''),
    code('''
    from lstm_numpy import lstm_cell_forward

    params64 = {k: v.astype(np.float64) for k, v in model.parameters.items()}
    zeros_x, zeros_a = np.zeros((n_values, 1)), np.zeros((model.n_a, 1))
    _, _, p_first, _ = lstm_cell_forward(zeros_x, zeros_a, zeros_a, params64)
    p_first = p_first[:, 0]
    top = np.argsort(p_first)[::-1][:4]
    for T in (0.5, 1.0, 2.0):
        p_T = p_first ** (1 / T)
        p_T /= p_T.sum()
        print(f"T = {T}: " + "  ".join(f"{indices_values[int(v)]} {p_T[v]:.3f}" for v in top))
    print("greedy's first value is the most likely one:", int(indices[0, 0]) == int(top[0]))
    '''),
    code('''
    for T in (0.5, 1.0, 1.5):
        _, drawn = predict_and_sample(model, Ty=50, temperature=T, seed=0)
        values = [indices_values[int(k)] for k in drawn[:, 0]]
        print(f"temperature {T}: {len(set(values))} different values; starts", " ".join(values[:4]))
    '''),
    md('''
    ## From values to music

    Values are not notes yet. `generate_music` samples values bar by bar, from one continuing
    LSTM state, until their durations fill the bar, then *decodes* them over that bar's chords:
    a `C` value becomes a chord tone, an `S` value a scale tone, and so on, each chosen at random
    inside the range its value allows from the previous note. The same seed gives the same solo.

    First over the chords the model was trained on, 16 bars (a `Solo` keeps the notes, the
    chords and the values of each bar):
    '''),
    code('''
    from lstm_numpy import generate_music, plot_piano_roll

    solo = generate_music(model, n_bars=16, temperature=1.0, seed=0)
    print(f"{len(solo.melody)} notes over {len(solo.bars)} bars; the values of bar 1:")
    print("   ", " ".join(solo.values[0]))
    plot_piano_roll(None, solo, title="16 bars over the training chords")
    '''),
    md('''
    Listen to it. When a General MIDI SoundFont and the extra `audio` are installed (the README's
    "Hearing it like a band" gives the one install line), `listen` plays the solo on a tenor
    saxophone over a piano, through the SoundFont; `bass=True` adds a walking bass from the chord
    roots. Without them the sound comes from a small synthesizer written in NumPy (in
    `lstm_numpy/render.py`): an electric-piano-like tone for the solo, a soft pad for the chords.
    `choose_soundfont` says which one this machine has.
    '''),
    code('''
    from lstm_numpy.render import listen
    from lstm_numpy.soundfont import choose_soundfont

    soundfont, why = choose_soundfont()  # pass soundfont="path/to/font.sf2" to listen for another
    print("playing with", why)
    listen(solo, bass=True)
    '''),
    md('''
    ## Over chord changes you type

    The values are relative to the harmony, so the model can play over chords it never saw
    together. Type a progression the way a lead sheet writes it: bars separated by `|`, two
    chords in a bar share it. `write_solo` saves the result as MIDI, WAV and a picture; the
    WAV file then plays in the page.
    '''),
    code('''
    from lstm_numpy import write_solo

    CHANGES = "Dm7 G7 | Cmaj7 | Cm7 F7 | Bbmaj7 | Ebm7 Ab7 | Dbmaj7 | Dm7 G7 | Cmaj7"
    typed = generate_music(model, changes=CHANGES, temperature=0.8, seed=1)
    paths = write_solo(OUTPUT / "typed_changes", typed)
    print("written:", ", ".join(p.name for p in paths), "in", OUTPUT)
    plot_piano_roll(None, typed, title=CHANGES)
    '''),
    code('''
    from IPython.display import Audio

    Audio(filename=str(OUTPUT / "typed_changes.wav"))
    '''),
    md('''
    ## The course's own recipe

    For comparison, `mode="course"` repeats what the assignment's `generate_music` did: the 50
    greedy values from above, decoded again over each of the first chord sets, with its
    post-processing (approach and other tones turned into chord tones, durations rounded at
    random to quarters of a beat, some repeated notes removed). The sets start 4 beats apart but
    last much longer, so they overlap: the course's solo was several phrases played on top of
    each other.
    '''),
    code('''
    course_solo = generate_music(model, mode="course", n_bars=5, seed=0)
    print(f"{len(course_solo.bars)} chord sets, {len(course_solo.melody)} notes, "
          f"ending on beat {float(course_solo.end):.1f}")
    plot_piano_roll(None, course_solo, title="the course's recipe: 5 overlapping chord sets")
    '''),
    md('''
    Things to try: more epochs or fewer, another temperature or `top_k=5`, your own changes,
    or `n_a = 32`. Does a lower loss make better music?
    '''),
]



# ---------------------------------------------------------------------------------------------
# 04: the chords and the beat as input
# ---------------------------------------------------------------------------------------------

CONDITIONED: List[Cell] = [
    md("""
    # 4. The chords and the beat as input

    The course's LSTM reads one thing at every step: the value before. A value such as
    `C,0.250,<m2,P-4>` says *a chord tone, a sixteenth, about a step down*, but nothing says
    which chord is sounding, or where in the bar the note falls. The chords reach the music only
    afterwards, when the decoder turns the values into pitches over them. So the model cannot
    learn that the third of a dominant chord pulls to the next root, or that a phrase lands on
    beat one: it never sees either.

    The *conditioned* model (`model="conditioned"`, `--model conditioned` on the command) is told
    both. Beside the previous value it reads, at every step, a vector of 35 numbers describing
    where the value it is choosing will sound. This notebook builds those numbers for one bar,
    shows the cell's equations with the new input, trains both models on the same music, and
    compares them with the evaluate command's measures and by ear.
    """),
    SETUP,
    code("""
    OUTPUT = REPO / "notebooks" / "output"   # the files this notebook writes; git ignores them
    OUTPUT.mkdir(exist_ok=True)
    # Both models need held-out music to be compared on: the course file is read whole (not the
    # course's window) with its last fifth held out; the corpus holds out whole pieces.
    TRAINING_MUSIC = ["--midi", str(COURSE_MIDI), "--val-fraction", "0.2"] if PRESET == "course" else []
    """),
    md("""
    ## The features of one bar

    For every value, `features.measure_features` looks at the onset of its note (or rest):

    * **the chord in force** there, as pitch classes relative to its root (12 columns: C E G Bb
      over C sets columns 0, 4, 7 and 10), so that a ii-V in any key looks alike, as the values
      themselves are relative;
    * **where the harmony goes next**: the interval from this chord's root up to the next
      chord's root (12 one-hot columns; G7 to C is 5, a fourth up);
    * **the beat of the bar** (4 one-hot columns) and **the place within the beat** on the grid
      of quarters and thirds: 0, 1/4, 1/3, 1/2, 2/3, 3/4, or off the grid (7 one-hot columns).

    At step t the model's input is value t and it predicts value t + 1, so it reads value
    t + 1's features: where the note it is choosing will sound.
    """),
    code("""
    from lstm_numpy import features as F
    from lstm_numpy.changes import chord_symbol
    from lstm_numpy.dataset import get_measures, musical_data
    from lstm_numpy.grammar import chord_in_force

    measures = get_measures(MIDI if PRESET is None else COURSE_MIDI)
    _, grammars = musical_data(measures)
    rows = F.measure_features(measures)
    bar = next(k for k, m in enumerate(measures) if len(m.melody) >= 4 and len(m.chords) >= 1)
    start = sum(len(m.melody) for m in measures[:bar])
    measure = measures[bar]
    print(f"bar {bar}: chords {', '.join(chord_symbol(c.pitches) for c in measure.chords)}")
    print(f"{'value':22s} {'onset':>6s}  chord  tones (from the root)  next root  beat  place")
    places = ["0", "1/4", "1/3", "1/2", "2/3", "3/4", "off"]
    for k, (element, value) in enumerate(zip(measure.melody, grammars[bar].split())):
        row = rows[start + k]
        chord = chord_in_force(sorted(measure.chords, key=lambda c: c.offset), element.offset)
        tones = " ".join(str(i) for i in np.flatnonzero(row[F.CHORD_TONES]))
        move = int(np.flatnonzero(row[F.ROOT_MOVE])[0])
        beat = int(np.flatnonzero(row[F.BEAT])[0]) + 1
        place = places[int(np.flatnonzero(row[F.SUBBEAT])[0])]
        onset = element.offset - measure.start
        print(f"{value:22s} {str(onset):>6s}  {chord_symbol(chord.pitches):6s} {tones:22s} +{move:<9d} {beat:4d}  {place}")
    print(f"features of one bar: {rows[start:start + len(measure.melody)].shape}")
    """),
    md("""
    The same numbers as a picture: one row per value of the bar, one column per feature (dark:
    set). The four groups are the chord's tones, the root's move, the beat and the place in it.
    """),
    code("""
    from IPython.display import SVG

    def feature_picture(block, cell=14):
        groups = [(0, "chord tones"), (12, "root move"), (24, "beat"), (28, "place in the beat")]
        height, width = block.shape[0] * cell + 40, block.shape[1] * cell + 20
        parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">']
        for start, label in groups:
            parts.append(f'<text x="{10 + start * cell}" y="14" font-size="11">{label}</text>')
        for i, row in enumerate(block):
            for j, v in enumerate(row):
                fill = "#1f5fa8" if v else "#eeeeee"
                parts.append(f'<rect x="{10 + j * cell}" y="{24 + i * cell}" width="{cell - 2}" '
                             f'height="{cell - 2}" fill="{fill}"/>')
        return SVG("".join(parts) + "</svg>")

    feature_picture(rows[start:start + len(measure.melody)])
    """),
    md(r"""
    ## The conditioned cell

    Nothing in the cell's formulas changes: its input is longer. With the one-hot previous
    value $x^{\langle t \rangle}$ and the features $d^{\langle t \rangle}$ stacked,

    $$\Gamma_f^{\langle t \rangle} = \sigma(W_f [a^{\langle t-1 \rangle}; x^{\langle t \rangle}; d^{\langle t \rangle}] + b_f)$$

    and likewise for the update gate, the candidate and the output gate: each of $W_f, W_i, W_c,
    W_o$ gains 35 columns, $(n_a, n_a + n_{values} + 35)$. So the plain formulas of notebook 2,
    `reference_cell_forward`, are the conditioned cell when given `conditioned_input(x, d)`;
    and the fast path, which looks up the one-hot part as a row and adds $d^{\langle t \rangle}
    W_d$ for all steps before its compiled loop, gives the same numbers.
    """),
    code("""
    from lstm_numpy import layout, passes
    from lstm_numpy.lstm import conditioned_input, reference_forward
    from lstm_numpy.model import init_model

    vocabulary = sorted(set(v for g in grammars for v in g.split()))
    small = init_model(vocabulary, n_a=8, seed=0, dtype=np.float64, model="conditioned")
    print("Wf", small.parameters["Wf"].shape, f"= (n_a, n_a + n_values + {small.n_features})")

    T = 6
    index = {v: i for i, v in enumerate(vocabulary)}
    values = [index[v] for v in grammars[bar].split()][:T]
    T = len(values)
    d = rows[start:start + T]
    x = np.zeros((len(vocabulary), 1, T))
    x[values[:-1], 0, np.arange(1, T)] = 1          # step t reads value t - 1 (step 0: the zero input)
    a_ref = reference_forward(conditioned_input(x, d.T[:, None, :]), np.zeros((8, 1)), small.parameters)[0]

    joined = layout.join(small.parameters)._replace(Wd=layout.dense_rows(small.parameters, small.n_features))
    x_index = np.array([-1] + values[:-1])[:, None]
    zeros = np.zeros((1, 8))
    fast = passes.sequence_forward(x_index, zeros, zeros, joined, features=d[:, None, :])
    print("the fast path equals the formulas:", np.allclose(fast.A[1:, 0].T, a_ref[:, 0], atol=1e-12))
    """),
    md("""
    ## Two models, the same music

    Both are trained by the command, on the same music and the same split, with the same
    epochs, size and seed; only `--model` differs. (Few epochs and a small model keep this
    notebook quick: the README gives figures for full runs.)
    """),
    code("""
    from lstm_numpy.train import main as train_main

    EPOCHS, N_A = 10, 32
    runs = {}
    for kind in ("course", "conditioned"):
        out = OUTPUT / f"run_{kind}"
        train_main(TRAINING_MUSIC + ["--model", kind, "--epochs", str(EPOCHS), "--n-a", str(N_A),
                                     "--seed", "0", "--bars", "4", "--out", str(out), "--force", "--quiet"])
        runs[kind] = out / "checkpoint"
    """),
    md("""
    The evaluate command's fit: the cross-entropy per held-out value (lower is better), beside
    the unigram and bigram counted on the same training values.
    """),
    code("""
    from lstm_numpy.checkpoint import read_checkpoint
    from lstm_numpy.evaluate import evaluate, format_fit, format_table, picture

    results = {kind: evaluate(read_checkpoint(path), n_solos=4, n_bars=8) for kind, path in runs.items()}
    for kind, result in results.items():
        print(f"--- the {kind} model")
        print(format_fit(result["fit"]))
    ratio = results["conditioned"]["fit"]["model_nats"] / results["course"]["fit"]["model_nats"]
    print(f"conditioned / course cross-entropy: {ratio:.3f}")
    """),
    md("""
    The statistics of their solos (4 solos of 8 bars each, starting at bars spread over the
    training pieces' changes) beside the training music, whole and over exactly the bars the
    solos were played over (the same bars for both models), and the distributions side by side:
    first the course model's, then the conditioned one's.
    """),
    code("""
    print(format_table({"course": results["course"]["generated"],
                        "conditioned": results["conditioned"]["generated"],
                        "training": results["course"]["training"],
                        "solos' bars": results["course"]["training_solo_bars"]}))
    """),
    code("""
    picture(results["course"])
    """),
    code("""
    picture(results["conditioned"])
    """),
    md("""
    ## Listening over the same changes

    Both models improvise over the same progression with the same seed. The conditioned one
    knows, at every step, which chord the next note lands on and on which beat.
    """),
    code("""
    from IPython.display import Audio, display

    from lstm_numpy import generate_music, load_checkpoint, plot_piano_roll, write_solo

    CHANGES = "Dm7 G7 | Cmaj7 | Cm7 F7 | Bbmaj7 | Ebm7 Ab7 | Dbmaj7 | Dm7 G7 | Cmaj7"
    for kind, path in runs.items():
        solo = generate_music(load_checkpoint(path), changes=CHANGES, temperature=0.8, seed=1)
        written = write_solo(OUTPUT / f"changes_{kind}", solo)
        display(plot_piano_roll(None, solo, title=f"the {kind} model"))
        display(Audio(filename=str(OUTPUT / f"changes_{kind}.wav")))
    """),
    md("""
    Things to try: more epochs (the README's figures are for 100), `--n-a 64`, other changes.
    Does the conditioned model's lower loss make its lines land better on the chords?
    """),
]

NOTEBOOKS: Dict[str, List[Cell]] = {
    "01_music_as_values.ipynb": MUSIC_AS_VALUES,
    "02_lstm_step_by_step.ipynb": LSTM_STEP_BY_STEP,
    "03_improvise_a_jazz_solo.ipynb": IMPROVISE,
    "04_chords_and_beat_as_input.ipynb": CONDITIONED,
}


def build(name: str) -> nbformat.NotebookNode:
    """The notebook called ``name``, without outputs; cell ids are stable so rebuilds diff cleanly."""
    stem = name.split("_")[0]
    cells = []
    for k, (kind, source) in enumerate(NOTEBOOKS[name]):
        make = new_markdown_cell if kind == "md" else new_code_cell
        cell = make(source)
        cell["id"] = f"nb{stem}-{k:02d}"
        cells.append(cell)
    notebook = new_notebook(cells=cells, metadata={
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    })
    nbformat.validate(notebook)
    return notebook


def text_of(notebook: nbformat.NotebookNode) -> str:
    return nbformat.writes(notebook) + "\n"


def write_atomically(path: Path, text: str) -> None:
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(temporary, 0o644)  # mkstemp makes it private; a notebook is for everyone to read
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def main(argv: List[str]) -> int:
    for name in NOTEBOOKS:
        path = HERE / name
        write_atomically(path, text_of(build(name)))
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
