"""A SoundFont small enough to write byte by byte, so that no test downloads one.

The layout follows the SoundFont 2.01 specification: a RIFF file of form ``sfbk`` holding three
lists,

* ``INFO``: the format version (``ifil``), the sound engine it was made for (``isng``) and a name
  (``INAM``);
* ``sdta``: the samples, 16-bit signed little-endian (``smpl``), each followed by 46 zero points;
* ``pdta``: the "hydra" of nine tables: presets (``phdr``) with their zones (``pbag``), modulators
  (``pmod``) and generators (``pgen``); the same three for instruments (``inst``, ``ibag``,
  ``imod``, ``igen``); and the sample headers (``shdr``). Every table ends with a terminal record.

By default there is one sample (a sine wave of exactly 440 Hz, recorded as A4, looped over whole
cycles so a note can be held as long as it is written), one instrument playing it over the whole
keyboard and one preset (bank 0, program 0) playing that instrument. ``programs=`` adds more
presets, each with its own instrument and a sample an octave, a twelfth, ... higher.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

SAMPLE_RATE = 8800  # 20 points per cycle of 440 Hz, so the loop can span whole cycles
FREQUENCY = 440.0
ROOT_KEY = 69  # A4
AMPLITUDE = 0.5  # of full scale
N_POINTS = 880  # 0.1 s
LOOP = (20, 860)  # whole cycles; the loop end is the first point after the loop
PADDING = 46  # zero points the specification asks for after every sample

# Generator operators (section 8.1.2 of the specification).
RELEASE_VOL_ENV = 38  # timecents
INSTRUMENT = 41
KEY_RANGE = 43
SAMPLE_ID = 53
SAMPLE_MODES = 54  # 1: loop continuously


def chunk(chunk_id: bytes, data: bytes) -> bytes:
    """A RIFF chunk: four-letter id, little-endian size, data, and a pad byte to an even size."""
    return chunk_id + struct.pack("<I", len(data)) + data + b"\0" * (len(data) % 2)


def riff_list(list_type: bytes, *chunks: bytes) -> bytes:
    return chunk(b"LIST", list_type + b"".join(chunks))


def name20(text: str) -> bytes:
    return text.encode("ascii")[:19].ljust(20, b"\0")


def generator(operator: int, amount: int) -> bytes:
    return struct.pack("<Hh", operator, amount)


def key_range(low: int, high: int) -> bytes:
    return struct.pack("<HBB", KEY_RANGE, low, high)


def sine_points() -> np.ndarray:
    """N_POINTS of a sine, 20 points per cycle: FREQUENCY at SAMPLE_RATE, and twice both, ...

    The same points serve every sample: recorded at k times SAMPLE_RATE they sound k times higher,
    and the loop still spans whole cycles.
    """
    n = np.arange(N_POINTS)
    wave = AMPLITUDE * np.sin(2 * np.pi * FREQUENCY * n / SAMPLE_RATE)
    return np.round(wave * 32767).astype("<i2")


def tiny_soundfont_bytes(name: str = "tiny sine", programs=(0,)) -> bytes:
    """One preset per program (bank 0), each with its own instrument and sample.

    The k-th program's sample is recorded at ``(k + 1) * SAMPLE_RATE`` with the root key A4, so
    it sounds (k + 1) times higher than A4: 440, 880, 1320 Hz, ... which tells them apart.
    Its preset and instrument are named "sine" for the first program, "sine 2", "sine 3", ...
    """
    info = riff_list(b"INFO",
                     chunk(b"ifil", struct.pack("<HH", 2, 1)),
                     chunk(b"isng", b"EMU8000\0"),
                     chunk(b"INAM", name.encode("ascii") + b"\0"))
    padding = np.zeros(PADDING, dtype="<i2")
    samples = np.concatenate([part for _ in programs for part in (sine_points(), padding)])
    sdta = riff_list(b"sdta", chunk(b"smpl", samples.tobytes()))

    phdr, pbag, pgen, inst, ibag, igen, shdr = [], [], [], [], [], [], []
    for k, program in enumerate(programs):
        label = "sine" if k == 0 else f"sine {k + 1}"
        # A preset with one zone, whose one generator (the instrument) ends the zone.
        phdr.append(name20(label) + struct.pack("<HHHIII", program, 0, k, 0, 0, 0))
        pbag.append(struct.pack("<HH", k, 0))
        pgen.append(generator(INSTRUMENT, k))
        # An instrument with one zone: keyRange first and sampleID last, as the specification orders them.
        inst.append(name20(label) + struct.pack("<H", k))
        ibag.append(struct.pack("<HH", 4 * k, 0))
        igen.append(key_range(0, 127) + generator(RELEASE_VOL_ENV, -2400) + generator(SAMPLE_MODES, 1)
                    + generator(SAMPLE_ID, k))
        start = k * (N_POINTS + PADDING)
        shdr.append(name20(f"{label} A4") + struct.pack("<IIIIIBbHH", start, start + N_POINTS, start + LOOP[0],
                                                         start + LOOP[1], (k + 1) * SAMPLE_RATE, ROOT_KEY, 0, 0, 1))
    n = len(programs)
    # Terminal records: each table's last entry marks where the previous one's range ends.
    phdr.append(name20("EOP") + struct.pack("<HHHIII", 0, 0, n, 0, 0, 0))
    pbag.append(struct.pack("<HH", n, 0))
    pgen.append(b"\0" * 4)
    inst.append(name20("EOI") + struct.pack("<H", n))
    ibag.append(struct.pack("<HH", 4 * n, 0))
    igen.append(b"\0" * 4)
    shdr.append(name20("EOS") + struct.pack("<IIIIIBbHH", 0, 0, 0, 0, 0, 0, 0, 0, 0))
    no_modulators = b"\0" * 10
    pdta = riff_list(b"pdta", *(chunk(tag, b"".join(rows)) for tag, rows in (
        (b"phdr", phdr), (b"pbag", pbag), (b"pmod", [no_modulators]), (b"pgen", pgen), (b"inst", inst),
        (b"ibag", ibag), (b"imod", [no_modulators]), (b"igen", igen), (b"shdr", shdr))))
    return chunk(b"RIFF", b"sfbk" + info + sdta + pdta)


def write_tiny_soundfont(path, programs=(0,)) -> Path:
    path = Path(path)
    path.write_bytes(tiny_soundfont_bytes(programs=programs))
    return path
