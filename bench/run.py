"""Measure lstm_numpy against PyTorch on the course model, row by row, and print the ratios.

    python -m bench                 # every row (a few minutes on 2 cores)
    python -m bench --quick         # few repeats, fewer big models (under a minute or so)
    python -m bench --rows sample   # only some rows: train, sample, conditioned, big, data, process, floor, sound

Each row runs our code and its PyTorch peer (``bench/torch_peer.py``) in the same process, in
alternating blocks: ours k times, the peer k times, ours again..., so that a busy moment on the
machine hits both. A block's figure is its median; a row's figure is the median of its blocks.
Ratios are ours / peer: below 1 we are faster. Without PyTorch installed only our figures print.

Thread counts are set for both sides alike: ``threadpoolctl`` limits every BLAS/OpenMP pool in
the process (NumPy's OpenBLAS and PyTorch's pools), and ``torch.set_num_threads`` sets PyTorch's
intra-op threads.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Dict, List, Optional

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MIDI = REPO.parent / "shared" / "data" / "original_metheny.mid"
if __name__ == "__main__" and not __package__:  # run as a file: python bench/run.py
    sys.path.insert(0, str(REPO))
N_VALUES = 78  # the course's vocabulary size

from bench.data_pipeline import bench_data_pipeline, median_seconds

try:
    import torch

    from bench import torch_peer
except ImportError:  # PyTorch is optional: our figures alone
    torch = None
    torch_peer = None


# --------------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------------


@contextmanager
def threads(n: Optional[int]):
    """Run with n threads in every thread pool (None: leave the defaults)."""
    if n is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(n)
    with threadpool_limits(n):
        yield
    if torch is not None:
        torch.set_num_threads(before)


def timed(fn: Callable[[], object]) -> Callable[[int], float]:
    """A block function for ``alternate``: the median seconds of k calls of fn (after one call)."""

    def block(k: int) -> float:
        fn()  # warm caches, compile, settle the thread pools
        return median_seconds(fn, k)

    return block


def alternate(blocks: Dict[str, Callable[[int], float]], rounds: int, k: int) -> Dict[str, float]:
    """Median over ``rounds`` of each contender's block figure, the contenders taking turns."""
    figures: Dict[str, List[float]] = {name: [] for name in blocks}
    for _ in range(rounds):
        for name, block in blocks.items():
            # PyTorch's OpenMP threads keep spinning for a while after their last task; right
            # after its blocks our two-thread epochs measured up to 50% slower (1.5-2.1 ms
            # against 1.4), so every block starts after a short pause with the cores idle
            time.sleep(0.05)
            figures[name].append(block(k))
    return {name: statistics.median(values) for name, values in figures.items()}


# --------------------------------------------------------------------------------------------
# Rows
# --------------------------------------------------------------------------------------------


class Table:
    """Collects rows (what, our figure, peer figures, ratio, target) and prints them as they come."""

    def __init__(self):
        self.rows: List[dict] = []

    def add(self, what: str, ours: Optional[float], peers: Dict[str, float], target: str = "",
            ratio_to: Optional[str] = None, note: str = ""):
        ratio = None
        if ours is not None and ratio_to in peers:
            ratio = ours / peers[ratio_to]
        row = {"what": what, "ours_s": ours, "peers_s": peers, "ratio": ratio, "ratio_to": ratio_to,
               "target": target, "note": note}
        self.rows.append(row)
        print(self.format(row), flush=True)

    @staticmethod
    def format(row: dict) -> str:
        ours = _ms(row["ours_s"]) if row["ours_s"] is not None else row["note"]
        peers = ", ".join(f"{_ms(v)} ({k})" for k, v in row["peers_s"].items()) or "-"
        # three significant figures below 0.1, so that 0.048x and 0.052x do not both print 0.05x
        r = row["ratio"]
        ratio = "-" if r is None else (f"{r:.3f}x" if r < 0.1 else f"{r:.2f}x")
        return f"| {row['what']} | {ours} | {peers} | {ratio} | {row['target']} |"

    def markdown(self) -> str:
        head = "| what | lstm_numpy | PyTorch | ratio | target |\n|---|---|---|---|---|\n"
        return head + "\n".join(self.format(r) for r in self.rows)


def _ms(seconds: float) -> str:
    if seconds >= 1.0:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.0f} us"


def _our_epoch_block(n_a: int, Tx: int, m: int, batch_size: int, n_threads: int):
    """Our training epoch as a block function (bench/train_epoch.py times its own epochs)."""
    from bench.train_epoch import bench_train_epoch

    def block(k: int) -> float:
        return bench_train_epoch(n_a=n_a, Tx=Tx, m=m, n_values=N_VALUES, batch_size=batch_size,
                                 threads=n_threads, epochs=max(k, 3))

    return block


def _peer_epoch_blocks(n_a: int, Tx: int, m: int, batch_size: int, kinds=("fused",)):
    if torch_peer is None:
        return {}
    X, targets = torch_peer.training_data(m, Tx, N_VALUES)
    blocks = {}
    for kind in kinds:
        epoch, _ = torch_peer.make_epoch(X, targets, n_a, batch_size, kind)
        blocks[f"torch {'nn.LSTM' if kind == 'fused' else 'LSTMCell loop'}"] = timed(epoch)
    return blocks


def rows_train(table: Table, rounds: int, k: int):
    for n in (1, 2):
        with threads(n):
            blocks = {"ours": _our_epoch_block(64, 30, 60, 60, n)}
            blocks.update(_peer_epoch_blocks(64, 30, 60, 60, kinds=("fused", "cell")))
            result = alternate(blocks, rounds, k)
        ours = result.pop("ours")
        table.add(f"training epoch, course model, {n} thread{'s' if n > 1 else ''}", ours, result,
                  "<= 0.5x nn.LSTM", "torch nn.LSTM")


def rows_big(table: Table, rounds: int, k: int, quick: bool):
    points = [(128, 30, 60), (256, 30, 128)] if quick else \
        [(128, 30, 60), (256, 30, 128), (256, 100, 60), (512, 30, 60), (512, 50, 256)]
    for n_a, Tx, batch in points:
        with threads(2):
            blocks = {"ours": _our_epoch_block(n_a, Tx, batch, batch, 2)}
            blocks.update(_peer_epoch_blocks(n_a, Tx, batch, batch))
            result = alternate(blocks, rounds, max(1, k // 3))
        ours = result.pop("ours")
        table.add(f"training epoch, n_a={n_a} Tx={Tx} batch={batch}, 2 threads", ours, result,
                  "<= 1.0x nn.LSTM", "torch nn.LSTM")


def _checkpointed_model(folder: Path):
    """A course-sized float32 model, saved and loaded back as users get it."""
    from lstm_numpy.checkpoint import load_checkpoint, save_checkpoint
    from lstm_numpy.model import init_model

    # 78 distinct values of the grammar: tone type and duration, as the course's values are
    durations = [f"{q / 12:.3f}" for q in range(1, 21)]
    vocabulary = [f"{kind},{d}" for kind in "CSAX" for d in durations][:N_VALUES]
    model = init_model(vocabulary, n_a=64, seed=0, dtype=np.float32)
    save_checkpoint(folder / "checkpoint", model)
    return load_checkpoint(folder / "checkpoint")


def rows_sample(table: Table, rounds: int, k: int, n_threads: int):
    from lstm_numpy.checkpoint import load_checkpoint
    from lstm_numpy.sampling import predict_and_sample

    with tempfile.TemporaryDirectory() as tmp:
        model = _checkpointed_model(Path(tmp))
        for batch in (1, 64):
            blocks = {"ours": timed(lambda: predict_and_sample(model, Ty=50, n_solos=batch))}
            if torch_peer is not None:
                for kind, name in (("cell", "torch LSTMCell loop"), ("fused", "torch nn.LSTM stepped")):
                    blocks[name] = timed(torch_peer.make_sampler(N_VALUES, 64, batch, 50, kind))
            with threads(n_threads):
                result = alternate(blocks, rounds, 4 * k)
            ours = result.pop("ours")
            target = "<= 0.05x LSTMCell loop" if batch == 1 else "<= 0.5x LSTMCell loop"
            table.add(f"sample 50 steps, batch {batch}, {n_threads} thread", ours, result, target,
                      "torch LSTMCell loop")
        folder = Path(tmp) / "checkpoint"
        with threads(n_threads):
            whole = alternate({"ours": timed(lambda: predict_and_sample(load_checkpoint(folder), Ty=50))},
                              rounds, 4 * k)["ours"]
        table.add("load_checkpoint(dir) + sample 50 steps, batch 1", whole, {})


def rows_conditioned(table: Table, rounds: int, k: int):
    """The conditioned model's batch-1 sampling beside the course model's, both greedy, 50 steps.

    Its sampler finds each value's chord and beat inside the compiled loop; the progression's
    tables (``features.solo_tables``) are made once, as the weights' layout is, and timed on
    their own in a row below.
    """
    from lstm_numpy.changes import parse_changes
    from lstm_numpy.features import solo_tables
    from lstm_numpy.model import init_model
    from lstm_numpy.sampling import predict_and_sample
    from lstm_numpy.sampling_conditioned import sample_solo

    with tempfile.TemporaryDirectory() as tmp:
        course = _checkpointed_model(Path(tmp))
    conditioned = init_model(course.indices_values, n_a=64, seed=0, dtype=np.float32, model="conditioned")
    bars = parse_changes(" | ".join(["Dm7 G7 | Cmaj7 | A7 | Dm7 G7"] * 4))  # 16 bars: more than 50 values need
    tables = solo_tables(bars, 4)
    blocks = {"conditioned": timed(lambda: sample_solo(conditioned, tables, len(bars), temperature=0.0, max_steps=50)),
              "course": timed(lambda: predict_and_sample(course, Ty=50))}
    with threads(1):
        result = alternate(blocks, rounds, 4 * k)
        tables_time = alternate({"tables": timed(lambda: solo_tables(bars, 4))}, rounds, 4 * k)["tables"]
    table.add("sample 50 steps, batch 1, conditioned model (vs the course model)", result["conditioned"],
              {"course model": result["course"]}, "<= 1.5x course model", "course model")
    table.add("features.solo_tables of 16 bars (once per progression)", tables_time, {})

    # a training epoch of each model beside nn.LSTM reading the same inputs (one-hot and features)
    from bench.train_epoch import conditioned_features

    # at 1 and 2 threads, as the course model's rows; at 2 threads a batch is split only where
    # that measured faster (machine.split_pays), so 2 threads should never be slower than 1
    for n in (1, 2):
        with threads(n):
            blocks = {kind: _epoch_block(kind, n) for kind in ("course", "conditioned")}
            if torch_peer is not None:
                X, targets = torch_peer.training_data(60, 30, N_VALUES)
                wide = torch.cat([X, torch.from_numpy(conditioned_features(60, 30))], dim=2)
                blocks["torch nn.LSTM, one-hot and features"] = timed(torch_peer.make_epoch(wide, targets, 64, 60, "fused", n_values=N_VALUES)[0])
            result = alternate(blocks, rounds, k)
        ours = result.pop("conditioned")
        table.add(f"training epoch, conditioned model, {n} thread{'s' if n > 1 else ''}", ours, result,
                  "<= 0.5x nn.LSTM", "torch nn.LSTM, one-hot and features")


def _epoch_block(model: str, n_threads: int = 1):
    from bench.train_epoch import bench_train_epoch

    return lambda k: bench_train_epoch(n_a=64, Tx=30, m=60, n_values=N_VALUES, batch_size=60,
                                       threads=n_threads, epochs=max(k, 3), model=model)


def rows_data(table: Table, rounds: int, k: int, midi: Path):
    if not midi.exists():
        table.add("data pipeline (MIDI -> X, Y)", None, {}, note=f"skipped: {midi} not found")
        return
    stages = bench_data_pipeline(midi, repeats=max(3, k))
    table.add("data pipeline: load_music_utils(course file), first call (imports included)",
              stages["first_load_music_utils"], {})
    table.add("data pipeline: load_music_utils(course file), again", stages["load_music_utils"], {},
              note="", target=", ".join(f"{name} {_ms(stages[name])}" for name in
                                        ("read_midi", "get_musical_data", "get_corpus_data", "data_processing")))


def rows_sound(table: Table, k: int):
    from bench.sound import bench_sound

    figures = bench_sound(repeats=max(3, k // 2))
    what = f"WAV of a 32-bar solo ({figures['seconds_of_music']:.0f} s of music, walking bass)"
    table.add(f"{what}, NumPy synthesizer", figures["numpy"], {})
    if figures["soundfont"] is None:
        table.add(f"{what}, SoundFont", None, {}, note='skipped: no SoundFont found, or no pip install -e ".[audio]"')
        return
    name = Path(figures["soundfont"]).name
    table.add(f"{what}, {name}: loaded and played, as a command does (CPU {_ms(figures['first_cpu'])})",
              figures["first"], {}, target="< 1 s")
    table.add(f"{what}, {name}: played again, kept loaded (CPU {_ms(figures['again_cpu'])})", figures["again"], {})


def _run(cmd: List[str], env: Optional[dict] = None) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {done.stderr.strip().splitlines()[-1:]}")
    return seconds


def rows_process(table: Table, rounds: int, midi: Path):
    what = "whole process: 100 course epochs + a solo"
    if not midi.exists():
        table.add(what, None, {}, note=f"skipped: {midi} not found")
        return
    with tempfile.TemporaryDirectory() as tmp:
        ours = [sys.executable, "-m", "lstm_numpy.train", "--midi", str(midi), "--preset", "course",
                "--batch-size", "60", "--quiet", "--force", "--out", str(Path(tmp) / "out")]
        peer = [sys.executable, "-m", "bench.torch_peer", "--midi", str(midi), "--epochs", "100",
                "--batch-size", "60"]
        _run(ours)  # fills numba's on-disk cache
        times: Dict[str, List[float]] = {"ours": [], "torch nn.LSTM process": []}
        for _ in range(rounds):
            times["ours"].append(_run(ours))
            if torch_peer is not None:
                times["torch nn.LSTM process"].append(_run(peer))
        result = {name: statistics.median(v) for name, v in times.items() if v}
        table.add(what + ", kernels cached", result.pop("ours"), result, "<= 0.5x, under 1.5 s",
                  "torch nn.LSTM process")
        # a fresh clone: numba's cache starts empty, so every kernel is compiled in the run
        env = dict(os.environ, NUMBA_CACHE_DIR=str(Path(tmp) / "numba-cache"))
        shutil.rmtree(Path(tmp) / "out", ignore_errors=True)
        table.add(what + ", fresh clone (compiling)", _run(ours, env), {}, "under 10 s")
        # importing must compile nothing: with an empty cache folder, anything compiled would land there
        empty = Path(tmp) / "empty"
        seconds = _run([sys.executable, "-c", "import lstm_numpy; from lstm_numpy import sampling, lstm, model"],
                       env=dict(env, NUMBA_CACHE_DIR=str(empty)))
        written = sum(1 for p in empty.rglob("*") if p.is_file()) if empty.exists() else 0
        table.add("python -c 'import lstm_numpy' (+ sampling, lstm, model)", seconds, {},
                  target="compiles nothing" if written == 0 else f"wrote {written} files to numba's cache")


# --------------------------------------------------------------------------------------------
# The floor: FLOPs over measured BLAS speed
# --------------------------------------------------------------------------------------------


def gemm_gflops(m: int, k: int, n: int, n_threads: int, seconds: float = 0.2) -> float:
    """Measured float32 GFLOP/s of NumPy's BLAS for (m, k) @ (k, n)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    out = np.empty((m, n), np.float32)
    with threads(n_threads):
        np.matmul(a, b, out=out)
        calls, start = 0, time.perf_counter()
        samples = []
        while time.perf_counter() - start < seconds:
            t0 = time.perf_counter()
            np.matmul(a, b, out=out)
            samples.append(time.perf_counter() - t0)
            calls += 1
    return 2.0 * m * k * n / statistics.median(samples) / 1e9


def epoch_flops(n_a: int = 64, Tx: int = 30, m: int = 60, n_values: int = N_VALUES) -> float:
    """Multiply-add FLOPs of one full-batch epoch, one-hot inputs taken as row look-ups.

    Per step, forward: the recurrent product a_prev @ Wa (m, n_a) x (n_a, 4 n_a) and the Dense
    layer a @ Wy.T (m, n_a) x (n_a, n_values). Backward does each product twice (the gradient on
    the input and on the weights), so an epoch is 3 x forward. Elementwise work is not counted.
    """
    forward = 2 * m * n_a * 4 * n_a + 2 * m * n_a * n_values
    return 3.0 * forward * Tx


def sample_flops(batch: int, n_a: int = 64, Ty: int = 50, n_values: int = N_VALUES) -> float:
    """FLOPs of sampling Ty steps: the recurrent product and the Dense layer, per step."""
    return Ty * 2.0 * batch * n_a * (4 * n_a + n_values)


def rows_floor(table: Table) -> dict:
    """Time that the products alone would take at the best float32 GEMM speed measured here."""
    figures = {}
    for n in (1, 2):
        step = gemm_gflops(60, 64, 256, n)
        big = gemm_gflops(1024, 1024, 1024, n)
        best = max(step, big)
        figures[f"{n}_thread"] = {"course_step_gemm_gflops": step, "big_gemm_gflops": big}
        table.add(f"floor: one epoch, {n} thread{'s' if n > 1 else ''} ({epoch_flops() / 1e6:.0f} MFLOP; "
                  f"GEMM {step:.0f} GFLOP/s at 60x64x256, {big:.0f} at 1024^3)", epoch_flops() / (best * 1e9), {})
    peak = max(figures["1_thread"].values())
    for batch in (1, 64):
        step = gemm_gflops(batch, 64, 256, 1)
        flops = sample_flops(batch)
        figures[f"sample_batch_{batch}_gemm_gflops"] = step
        table.add(f"floor: sample 50 steps, batch {batch} ({flops / 1e6:.1f} MFLOP; GEMM {step:.1f} GFLOP/s "
                  f"at {batch}x64x256, best {peak:.0f})", None, {},
                  note=f"{_ms(flops / (peak * 1e9))} - {_ms(flops / (step * 1e9))}")
    return figures


# --------------------------------------------------------------------------------------------
# The machine
# --------------------------------------------------------------------------------------------


def machine() -> dict:
    """Cores, CPU model and SIMD flags, library versions and BLAS, the load while measuring."""
    info = {"python": platform.python_version(), "numpy": np.__version__, "cores": os.cpu_count()}
    try:
        import numba

        info["numba"] = numba.__version__
    except ImportError:
        pass
    if torch is not None:
        info["torch"] = torch.__version__
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        for line in cpuinfo.splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
            if line.startswith("flags"):
                flags = line.split(":", 1)[1].split()
                info["simd"] = " ".join(f for f in flags if f.startswith(("avx", "fma", "sse4")))
                break
    except OSError:
        pass
    try:
        from threadpoolctl import threadpool_info

        info["blas"] = sorted({f"{p['internal_api']} {p['version']} ({p.get('architecture')}, "
                               f"{Path(p['filepath']).parent.name})" for p in threadpool_info()})
    except ImportError:
        pass
    if hasattr(os, "getloadavg"):
        info["load_average"] = os.getloadavg()
    return info


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark lstm_numpy against PyTorch (see bench/README.md).")
    parser.add_argument("--quick", action="store_true", help="few repeats and fewer big models")
    parser.add_argument("--rows", default="floor,train,sample,conditioned,big,data,process,sound",
                        help="comma-separated rows to run: floor, train, sample, conditioned, big, data, process, sound")
    parser.add_argument("--midi", type=Path, default=DEFAULT_MIDI, help="the course MIDI file")
    parser.add_argument("--sample-threads", type=int, default=1, help="threads for the sampling rows")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    rows = {r.strip() for r in args.rows.split(",")}
    rounds, k = (3, 3) if args.quick else (7, 10)

    from lstm_numpy import machine as kernels_machine

    info = machine()
    print("machine:", json.dumps(info))
    info["kernels"] = kernels_machine.describe()
    print("the kernels' view (lstm_numpy.machine):", json.dumps(info["kernels"]))
    if torch is None:
        print("PyTorch is not installed: our figures only (pip install torch==2.13.0 for the peer).")
    table = Table()
    print("| what | lstm_numpy | PyTorch | ratio | target |\n|---|---|---|---|---|")
    floor = rows_floor(table) if "floor" in rows else None
    if "train" in rows:
        rows_train(table, rounds, k)
    if "sample" in rows:
        rows_sample(table, rounds, k, args.sample_threads)
    if "conditioned" in rows:
        rows_conditioned(table, rounds, k)
    if "big" in rows:
        rows_big(table, rounds, k, args.quick)
    if "data" in rows:
        rows_data(table, rounds, k, args.midi)
    if "process" in rows:
        rows_process(table, 1 if args.quick else 5, args.midi)
    if "sound" in rows:
        rows_sound(table, k)
    info["load_average_after"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    print("load average after:", info["load_average_after"])
    info["split_choices"] = kernels_machine.describe()["split_choices"]
    print("thread splits (measured once per machine and batch shape, kept in "
          f"{kernels_machine.choices_file()}):")
    for key, split in info["split_choices"].items():
        print(f"  {key}: {'split' if split else 'one thread'}")
    if args.json:
        tmp = args.json.with_name(args.json.name + ".tmp")
        tmp.write_text(json.dumps({"machine": info, "floor": floor, "rows": table.rows}, indent=2))
        os.replace(tmp, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
