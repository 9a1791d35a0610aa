"""Improvise a solo from a trained checkpoint: ``python -m lstm_numpy.generate --checkpoint DIR``.

Writes a MIDI file (melody and chord tracks), and beside it, with the same name, a WAV rendering
(``.wav``) and a piano roll picture (``.svg``, which any browser opens). The chords come from the
pieces the model was trained on, or from ``--changes "Dm7 G7 | Cmaj7 | ..."`` (bars separated by
``|``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

from . import cli
from .changes import parse_changes
from .checkpoint import load_checkpoint
from .cli import DEFAULT_TEMPERATURE, DEFAULT_TOP_K
from .errors import LstmNumpyError
from .improvise import generate_music
from .limits import MAX_BARS
from .render import prepare_audio, write_solo

DEFAULT_BARS = 16


def build_parser() -> cli.ArgumentParser:
    p = cli.ArgumentParser(prog="python -m lstm_numpy.generate", description="Improvise a jazz solo with a trained model.")
    p.add_argument("--checkpoint", required=True, metavar="DIR", help="a checkpoint folder written by lstm_numpy.train (e.g. output/checkpoint)")
    p.add_argument("--temperature", type=cli.non_negative_float,
                   help=f"0 is the course's greedy choice; higher is bolder (default {DEFAULT_TEMPERATURE:g}; --mode course: 0)")
    p.add_argument("--top-k", type=cli.non_negative_int,
                   help="sample only among the k likeliest values; 0, the default, samples among all")
    p.add_argument("--seed", type=cli.seed, default=0, help="the same seed gives the same solo (default 0)")
    p.add_argument("--bars", type=cli.bar_count, help=f"bars to improvise, at most {MAX_BARS} (default: 16, or the length of --changes)")
    p.add_argument("--changes", metavar="CHORDS", help='chord symbols, bars separated by "|", e.g. "Dm7 G7 | Cmaj7"')
    p.add_argument("--mode", choices=["bars", "course"], default="bars",
                   help="'bars': one continuing solo over the chords (default); 'course': the course's exact procedure")
    p.add_argument("--tempo", type=cli.tempo, default=130.0, help=f"beats per minute, {cli.MIN_TEMPO} to {cli.MAX_TEMPO} (default 130)")
    p.add_argument("--out", type=cli.output_path, default="output/my_music.mid", metavar="FILE.mid",
                   help="the MIDI file to write; .wav and .svg files are written beside it (default output/my_music.mid)")
    cli.add_sound_options(p)
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    out = Path(args.out)
    if out.suffix.lower() not in (".mid", ".midi"):
        raise LstmNumpyError(f"--out {args.out}: the output must be a .mid file; the WAV and SVG files are written beside it.")
    if out.is_dir():
        raise LstmNumpyError(f"--out {args.out} is a folder; name a .mid file in it, such as {out / 'solo.mid'}.")
    for path in (out.with_suffix(".wav"), out.with_suffix(".svg")):
        if path.is_dir():
            raise LstmNumpyError(f"--out {args.out}: a folder {path} stands where the {path.suffix} file would go; "
                                 f"choose another name.")
    sound = cli.sound_options(args)
    model = load_checkpoint(args.checkpoint)
    changes = parse_changes(args.changes) if args.changes else None
    cli.writable_folder(out.parent, "--out")
    prepare_audio(**sound)  # the SoundFont loads in a thread while the solo is sampled
    n_bars = args.bars
    if n_bars is None and changes is None and args.mode == "bars":
        n_bars = DEFAULT_BARS  # the training chords may run to hundreds of bars
    if args.mode == "course" and (args.temperature not in (None, 0) or args.top_k is not None):
        raise LstmNumpyError("--mode course is the course's greedy procedure, which draws nothing at random: "
                             "drop --temperature and --top-k, or use --mode bars.")
    if args.top_k is not None and args.top_k > model.n_values:
        raise LstmNumpyError(f"--top-k {args.top_k} is more than the model's {model.n_values} values; "
                             f"choose from 1 to {model.n_values}, or 0 for all of them.")
    temperature = DEFAULT_TEMPERATURE if args.temperature is None else args.temperature
    solo = generate_music(model, changes=changes, n_bars=n_bars, mode=args.mode,
                          temperature=temperature, top_k=cli.top_k(args.top_k), seed=args.seed)
    written = write_solo(out, solo, tempo_bpm=args.tempo, **sound)
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    cli.run(main)
