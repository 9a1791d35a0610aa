"""A SoundFont small enough to write byte by byte, so that no test downloads one.

The layout follows the SoundFont 2.01 specification: a RIFF file of form ``sfbk`` holding three
lists,

* ``INFO``: the format version (``ifil``), the sound engine it was made for (``isng``) and a name
  (``INAM``);
* ``sdta``: the samples, 16-bit signed little-endian (``smpl``), each followed by 46 zero points;
* ``pdta``: the "hydra" of nine tables: presets (``phdr``) with their zones (``pbag``), modulators
  (``pmod``) and generators (``pgen``); the same three for instruments (``inst``, ``ibag``,
  ``imod``, ``igen``); and the sample headers (``shdr``). Every table ends with a terminal record.

Here there is one sample (a sine wave of exactly 440 Hz, recorded as A4, looped over whole
cycles so a note can be held as long as it is written), one instrument playing it over the whole
keyboard and one preset (bank 0, program 0) playing that instrument.
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
    n = np.arange(N_POINTS)
    wave = AMPLITUDE * np.sin(2 * np.pi * FREQUENCY * n / SAMPLE_RATE)
    return np.round(wave * 32767).astype("<i2")


def tiny_soundfont_bytes(name: str = "tiny sine") -> bytes:
    info = riff_list(b"INFO",
                     chunk(b"ifil", struct.pack("<HH", 2, 1)),
                     chunk(b"isng", b"EMU8000\0"),
                     chunk(b"INAM", name.encode("ascii") + b"\0"))
    samples = np.concatenate([sine_points(), np.zeros(PADDING, dtype="<i2")])
    sdta = riff_list(b"sdta", chunk(b"smpl", samples.tobytes()))

    # Presets: "sine" (program 0, bank 0) with one zone (bag 0); the terminal "EOP" points past it.
    phdr = (name20("sine") + struct.pack("<HHHIII", 0, 0, 0, 0, 0, 0)
            + name20("EOP") + struct.pack("<HHHIII", 0, 0, 1, 0, 0, 0))
    pbag = struct.pack("<HH", 0, 0) + struct.pack("<HH", 1, 0)  # zone 0 starts at generator 0
    pmod = b"\0" * 10
    pgen = generator(INSTRUMENT, 0) + b"\0" * 4  # the instrument generator ends a preset zone
    inst = name20("sine") + struct.pack("<H", 0) + name20("EOI") + struct.pack("<H", 1)
    ibag = struct.pack("<HH", 0, 0) + struct.pack("<HH", 4, 0)
    imod = b"\0" * 10
    # keyRange comes first in a zone and sampleID last, as the specification orders them.
    igen = (key_range(0, 127) + generator(RELEASE_VOL_ENV, -2400) + generator(SAMPLE_MODES, 1)
            + generator(SAMPLE_ID, 0) + b"\0" * 4)
    start, end = 0, N_POINTS
    shdr = (name20("sine A4") + struct.pack("<IIIIIBbHH", start, end, LOOP[0], LOOP[1], SAMPLE_RATE,
                                            ROOT_KEY, 0, 0, 1)
            + name20("EOS") + struct.pack("<IIIIIBbHH", 0, 0, 0, 0, 0, 0, 0, 0, 0))
    pdta = riff_list(b"pdta", chunk(b"phdr", phdr), chunk(b"pbag", pbag), chunk(b"pmod", pmod),
                     chunk(b"pgen", pgen), chunk(b"inst", inst), chunk(b"ibag", ibag),
                     chunk(b"imod", imod), chunk(b"igen", igen), chunk(b"shdr", shdr))
    return chunk(b"RIFF", b"sfbk" + info + sdta + pdta)


def write_tiny_soundfont(path) -> Path:
    path = Path(path)
    path.write_bytes(tiny_soundfont_bytes())
    return path
