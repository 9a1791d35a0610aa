"""How much music the package takes on: the limits, in one place, and why they are where they are.

Nothing here is a limit of the method. They keep a typing slip (``--bars 50000``) or a strange
file from asking the machine for gigabytes of memory or hours of work; each is far above what a
solo, a practice session or a corpus of jazz MIDI files needs, and each refusal names its limit.
The README's "Limits" section lists them with what they cost at the limit.
"""

from __future__ import annotations

# A solo (``--bars``, the bars of ``--changes``, the course procedure's chord sets): 1000 bars of
# 4/4 are 31 minutes at 130 beats per minute, longer than any chorus-after-chorus solo.
MAX_BARS = 1000
# Chord symbols in one bar of ``--changes``: one per sixteenth of a 4/4 bar.
MAX_CHORDS_PER_BAR = 16
# The WAV file: 20 minutes of stereo 16-bit audio is about 106 MB at 22050 Hz (212 MB at 44100 Hz).
MAX_WAV_SECONDS = 20 * 60
# A MIDI file: mido reads every event into a Python object (a file of 1.4 million notes, 11 MB,
# took 740 MB and a minute to read here), so the size is checked before reading. 2 MiB hold about
# 260,000 notes (8 bytes a note); real performances take kilobytes.
MAX_MIDI_BYTES = 2 * 2**20
# Notes in one MIDI file: at five notes a second, a two-hour solo piano recital has 36,000.
MAX_NOTES = 100_000
# Training windows, one-hot, as one epoch holds them in memory: X and Y of m x Tx x n_values (and the
# conditioned model's features of every step, ``train._check_window_memory``).
MAX_WINDOW_BYTES = 2 * 2**30


def gigabytes(n_bytes: float) -> str:
    return f"{n_bytes / 2**30:.1f} GB"
