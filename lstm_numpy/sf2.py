"""The SoundFont 2 file format, just enough to cut out the few instruments a solo plays.

A General MIDI SoundFont holds 128 instruments and more; FluidR3_GM is 148 MB, almost all of it
samples. A synthesizer loads every sample before it plays a note, so most of the time spent
rendering one solo went into loading instruments it never played. This module reads the file's
tables and writes, in memory, a SoundFont with only the presets asked for, their instruments and
their samples (FluidR3_GM's tenor sax, piano and acoustic bass are about a tenth of it), which
the synthesizer then loads instead.

The layout (SoundFont 2.01 specification): a RIFF file of form ``sfbk`` with three lists. ``INFO``
names the file; ``sdta`` holds the samples (``smpl``: 16-bit points, 46 zero points after each
sample); ``pdta`` holds nine tables, each ending with a terminal record:

    phdr  presets: name, program, bank, first zone in pbag
    pbag  preset zones: first generator in pgen, first modulator in pmod
    pmod, pgen   the zones' modulators and generators; generator 41 names an instrument
    inst  instruments: name, first zone in ibag
    ibag, imod, igen   the same for instrument zones; generator 53 names a sample
    shdr  samples: name, start, end and loop in smpl, rate, root key, stereo link, type

A zone's generators run from its own index to the next zone's, and a preset's zones from its own
to the next preset's: cutting out presets means renumbering these ranges, and the instrument and
sample numbers that generators 41 and 53 hold.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Dict, Iterable, List, Optional, Sequence, Tuple

# Record layouts of the nine tables (little-endian), and the generators that point elsewhere.
RECORDS = {"phdr": "<20sHHHIII", "pbag": "<HH", "pmod": "<HHhHH", "pgen": "<HH", "inst": "<20sH",
           "ibag": "<HH", "imod": "<HHhHH", "igen": "<HH", "shdr": "<20sIIIIIBbHH"}
INSTRUMENT, SAMPLE_ID = 41, 53
PADDING = 46  # zero points after every sample
COMPRESSED, ROM = 0x10, 0x8000  # sample type bits: Ogg Vorbis in an .sf3 file; samples in ROM
LINKED_TYPES = (2, 4, 8)  # right, left and linked samples name a partner in wSampleLink


class FormatError(ValueError):
    """The tables cannot be cut: not a plain SoundFont 2 with 16-bit samples in the file."""


@dataclass
class Tables:
    """The nine pdta tables as lists of tuples (terminal records included), and where smpl starts."""

    records: Dict[str, List[tuple]]
    info: bytes  # the whole INFO list, copied unchanged
    smpl_offset: int  # the file position of the first sample point
    smpl_points: int


def _chunks(f: BinaryIO, start: int, end: int) -> Iterable[Tuple[bytes, int, int]]:
    """(id, data position, size) of each chunk between two file positions."""
    position = start
    while position + 8 <= end:
        f.seek(position)
        chunk_id, size = struct.unpack("<4sI", f.read(8))
        yield chunk_id, position + 8, size
        position += 8 + size + size % 2


def read_tables(path) -> Tables:
    """The preset, instrument and sample tables of a SoundFont, without reading its samples."""
    with open(path, "rb") as f:
        f.seek(0, 2)
        file_end = f.tell()
        lists: Dict[bytes, Tuple[int, int]] = {}
        for chunk_id, data, size in _chunks(f, 12, file_end):
            if chunk_id == b"LIST":
                f.seek(data)
                lists[f.read(4)] = (data, size)
        if not {b"INFO", b"sdta", b"pdta"} <= set(lists):
            raise FormatError("a SoundFont needs INFO, sdta and pdta lists")
        f.seek(lists[b"INFO"][0] - 8)
        info = f.read(8 + lists[b"INFO"][1])
        data, size = lists[b"sdta"]
        samples = {chunk_id: (position, length) for chunk_id, position, length in _chunks(f, data + 4, data + size)}
        if b"smpl" not in samples:
            raise FormatError("the sdta list has no smpl chunk")
        data, size = lists[b"pdta"]
        records: Dict[str, List[tuple]] = {}
        for chunk_id, position, length in _chunks(f, data + 4, data + size):
            name = chunk_id.decode("latin-1")
            if name in RECORDS:
                width = struct.calcsize(RECORDS[name])
                if length % width or length < width:
                    raise FormatError(f"the {name} table is not a whole number of records")
                f.seek(position)
                records[name] = list(struct.iter_unpack(RECORDS[name], f.read(length)))
    if set(records) != set(RECORDS):
        raise FormatError("the pdta list lacks some of the nine tables")
    smpl_position, smpl_length = samples[b"smpl"]
    return Tables(records, info, smpl_position, smpl_length // 2)


def presets(tables: Tables) -> List[Tuple[int, int, str]]:
    """(bank, program, name) of every preset, in the file's order."""
    return [(bank, program, _name(name)) for name, program, bank, *_ in tables.records["phdr"][:-1]]


def _name(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("latin-1").strip()


def _ranges(table: List[tuple], column: int, chosen: Sequence[int]) -> Dict[int, range]:
    """For each chosen record, the range of the next table's records it owns (to the next record's start)."""
    return {k: range(table[k][column], table[k + 1][column]) for k in chosen}


def _cut(zones_of: Dict[int, range], bags: List[tuple], gens: List[tuple], mods: List[tuple],
         target: int, renumber: Dict[int, int]):
    """New bag, generator and modulator tables for the chosen headers' zones, in their order.

    Returns (first bag of each chosen header, bags, generators, modulators); the ``target``
    generator's amount is renumbered with ``renumber``.
    """
    firsts, new_bags, new_gens, new_mods = [], [], [], []
    for zones in zones_of.values():
        firsts.append(len(new_bags))
        for zone in zones:
            new_bags.append((len(new_gens), len(new_mods)))
            for operator, amount in gens[bags[zone][0]:bags[zone + 1][0]]:
                new_gens.append((operator, renumber[amount] if operator == target else amount))
            new_mods.extend(mods[bags[zone][1]:bags[zone + 1][1]])
    return firsts, new_bags, new_gens, new_mods


def _referenced(zones_of: Dict[int, range], bags: List[tuple], gens: List[tuple], target: int) -> List[int]:
    """The distinct amounts of the ``target`` generator in the zones, in order of first use."""
    found: Dict[int, None] = {}
    for zones in zones_of.values():
        for zone in zones:
            for operator, amount in gens[bags[zone][0]:bags[zone + 1][0]]:
                if operator == target:
                    found[amount] = None
    return list(found)


def _chunk(chunk_id: bytes, data: bytes) -> bytes:
    return chunk_id + struct.pack("<I", len(data)) + data + b"\0" * (len(data) % 2)


def _table(name: str, rows: Iterable[tuple]) -> bytes:
    layout = struct.Struct(RECORDS[name])
    return _chunk(name.encode(), b"".join(layout.pack(*row) for row in rows))


def subset(path, tables: Tables, wanted: Sequence[Tuple[int, int]]) -> bytes:
    """A SoundFont (as bytes) with only the presets ``wanted`` ((bank, program) pairs).

    Their instruments and samples come along, renumbered; every sample keeps its own points and
    its loop. Raises FormatError for what this cutting does not handle: compressed (.sf3) or ROM
    samples, and numbers that point outside their tables. The caller then loads the whole file.
    """
    r = tables.records
    headers = [k for k, row in enumerate(r["phdr"][:-1]) if (row[2], row[1]) in set(wanted)]
    try:
        preset_zones = _ranges(r["phdr"], 3, headers)
        instruments = _referenced(preset_zones, r["pbag"], r["pgen"], INSTRUMENT)
        instrument_zones = _ranges(r["inst"], 1, instruments)
        samples = _referenced(instrument_zones, r["ibag"], r["igen"], SAMPLE_ID)
        for k in list(samples):  # a stereo sample's other half plays with it
            row = r["shdr"][k]
            if row[9] & 0xF in LINKED_TYPES and row[8] not in samples:
                samples.append(row[8])
        sample_rows = [r["shdr"][k] for k in samples]
    except IndexError:
        raise FormatError("a zone or generator points outside its table") from None
    if any(row[9] & (COMPRESSED | ROM) for row in sample_rows):
        raise FormatError("compressed or ROM samples are not cut")

    new_instrument = {old: new for new, old in enumerate(instruments)}
    new_sample = {old: new for new, old in enumerate(samples)}
    p_firsts, pbag, pgen, pmod = _cut(preset_zones, r["pbag"], r["pgen"], r["pmod"], INSTRUMENT, new_instrument)
    i_firsts, ibag, igen, imod = _cut(instrument_zones, r["ibag"], r["igen"], r["imod"], SAMPLE_ID, new_sample)
    phdr = [r["phdr"][k][:3] + (first,) + r["phdr"][k][4:] for k, first in zip(headers, p_firsts)]
    phdr.append((b"EOP".ljust(20, b"\0"), 0, 0, len(pbag), 0, 0, 0))
    inst = [(r["inst"][k][0], first) for k, first in zip(instruments, i_firsts)]
    inst.append((b"EOI".ljust(20, b"\0"), len(ibag)))
    pbag.append((len(pgen), len(pmod)))
    ibag.append((len(igen), len(imod)))
    zero_gen, zero_mod = (0, 0), (0, 0, 0, 0, 0)
    pgen.append(zero_gen), igen.append(zero_gen), pmod.append(zero_mod), imod.append(zero_mod)

    points, shdr = [], []
    total = 0
    with open(path, "rb") as f:
        for row in sample_rows:
            name, start, end, loop_start, loop_end, rate, key, correction, link, kind = row
            if not 0 <= start <= end <= tables.smpl_points:
                raise FormatError("a sample lies outside the sample data")
            f.seek(tables.smpl_offset + 2 * start)
            points.append(f.read(2 * (end - start)) + b"\0" * (2 * PADDING))
            shift = total - start
            shdr.append((name, start + shift, end + shift, loop_start + shift, loop_end + shift, rate, key,
                         correction, new_sample.get(link, 0), kind))
            total += end - start + PADDING
    shdr.append((b"EOS".ljust(20, b"\0"), 0, 0, 0, 0, 0, 0, 0, 0, 0))

    sdta = _chunk(b"LIST", b"sdta" + _chunk(b"smpl", b"".join(points)))
    pdta = _chunk(b"LIST", b"pdta" + b"".join(_table(name, rows) for name, rows in (
        ("phdr", phdr), ("pbag", pbag), ("pmod", pmod), ("pgen", pgen), ("inst", inst), ("ibag", ibag),
        ("imod", imod), ("igen", igen), ("shdr", shdr))))
    return _chunk(b"RIFF", b"sfbk" + tables.info + sdta + pdta)
