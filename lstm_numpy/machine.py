"""What the machine offers the compiled kernels, and the choices made from it.

The kernels were first tuned on one processor (AMD Zen 5, 1 MiB of L2 cache per core), and
constants chosen there did not carry over to another (an Intel Xeon with 2 MiB of L2, where
numba's compiler also chose narrower SIMD code). So the choices that depend on the machine are
made here, at run time, from what the operating system and the compiler report:

* **SIMD width.** On Intel processors with AVX-512, LLVM (numba's compiler) prefers 256-bit
  registers by default, a precaution against the clock slowing down under 512-bit code; on AMD's
  it uses all 512 bits. Our loops are laid out for 512-bit registers (rows padded to 16 float32
  numbers, 64-byte aligned), and on the Intel Xeon they measured faster that way: the products
  ran 20-30% faster. ``wide_vectors`` therefore lets numba use 512-bit registers wherever the
  processor has AVX-512, unless the user chose numba's target themselves (``NUMBA_CPU_NAME`` or
  ``NUMBA_CPU_FEATURES``).
* **Cache sizes** (``caches``), read from Linux's sysfs, else ``os.sysconf``, else assumed (48 KiB
  of L1d, 1 MiB of L2): training's products read the weights in strips that fit in half the L1
  cache (``strip_rows``). The other levels are reported by ``describe``, not used.
* **Register tiles** (``vector_bytes``): the products keep 6 rows by 2 vectors of sums in
  registers; a vector is two registers wide where the processor has 32 of them (AVX-512), one
  where it has 16 (AVX2), so that the tile fills the registers without spilling.
* **Usable cores** (``usable_cores``): the cores this process may run on, which on a shared or
  containerised machine can be fewer than the machine has.
* **Whether a batch is split between threads** (``split_pays``): measured, because no figure the
  operating system reports tells it. Two virtual cores may share one physical core, and waking a
  worker thread costs more under some hypervisors; on one such machine two threads took 25%
  longer than one on the course model. So the first time ``train`` is asked for several threads
  on batches of a given shape, it times the batch both ways, a few times each, and splits only
  when that was clearly faster. The decision is kept in a small file beside numba's cache of
  the kernels, so that every later run on this machine makes the same one, as long as the
  code it timed is unchanged: the key holds a fingerprint of the timed modules' source
  (``code_stamp``), so an edited or upgraded kernel is timed anew. A decision measured while
  the machine was busy can be wrong; deleting the file measures again.

Strips and tiles change no result: every sum keeps its order whatever their sizes. The
SIMD width changes the order of the sums that the compiler may reorder (``kernels.REDUCE_MATH``),
as another compiler would: results differ between machines in their last bits, never between
runs on one machine. A split changes the order in which the gradients are added, so the
split decision is kept: a run resumed with the same settings on the same machine splits as the
first did, and reproduces it bit for bit. (Deleting the file measures again.)
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import statistics
import time
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Tuple

# What a cache is assumed to be when the operating system does not say (the machine the
# kernels were first tuned on).
DEFAULT_CACHES = {"L1d": 48 * 1024, "L2": 1024 * 1024, "L3": 32 * 1024 * 1024}

SYSFS_CACHES = Path("/sys/devices/system/cpu/cpu0/cache")


# --------------------------------------------------------------------------------------------
# Cache sizes
# --------------------------------------------------------------------------------------------


def parse_size(text: str) -> Optional[int]:
    """Bytes in a sysfs cache size such as "48K", "2048K", "1M" or "32768" (None if unreadable)."""
    match = re.fullmatch(r"\s*(\d+)\s*([KMG]?)i?B?\s*", text, re.IGNORECASE)
    if not match:
        return None
    scale = {"": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3}[match.group(2).upper()]
    return int(match.group(1)) * scale


def caches_from_entries(entries: Iterable[Dict[str, str]]) -> Dict[str, int]:
    """Cache sizes in bytes by name ("L1d", "L2", "L3") from sysfs cache entries.

    entries: one dict per ``cpu0/cache/index*`` folder, mapping its file names ("level",
    "type", "size") to their text. Instruction caches are left out; a level reported twice
    keeps its first entry.
    """
    sizes: Dict[str, int] = {}
    for entry in entries:
        kind = entry.get("type", "").strip()
        level = entry.get("level", "").strip()
        size = parse_size(entry.get("size", ""))
        if kind == "Instruction" or not level.isdigit() or not size:
            continue
        name = "L1d" if level == "1" else f"L{level}"
        sizes.setdefault(name, size)
    return sizes


def _read_sysfs(root: Path) -> Dict[str, int]:
    entries = []
    for folder in sorted(root.glob("index*")):
        entry = {}
        for name in ("level", "type", "size"):
            try:
                entry[name] = (folder / name).read_text()
            except OSError:
                pass
        entries.append(entry)
    return caches_from_entries(entries)


def _read_sysconf() -> Dict[str, int]:
    sizes = {}
    for name, key in (("L1d", "SC_LEVEL1_DCACHE_SIZE"), ("L2", "SC_LEVEL2_CACHE_SIZE"),
                      ("L3", "SC_LEVEL3_CACHE_SIZE")):
        try:
            value = os.sysconf(key)
        except (ValueError, OSError, AttributeError):
            continue
        if value > 0:
            sizes[name] = value
    return sizes


_caches: Optional[Tuple[Dict[str, int], str]] = None


def caches() -> Tuple[Dict[str, int], str]:
    """({"L1d", "L2", "L3"}: bytes per core's cache, where they came from), read once.

    From sysfs on Linux, else ``os.sysconf`` (glibc), else ``DEFAULT_CACHES``; a level
    neither reports is taken from the defaults.
    """
    global _caches
    if _caches is None:
        for source, read in (("sysfs", lambda: _read_sysfs(SYSFS_CACHES)), ("sysconf", _read_sysconf)):
            found = read()
            if "L2" in found:
                _caches = (dict(DEFAULT_CACHES, **found), source)
                break
        else:
            _caches = (dict(DEFAULT_CACHES), "assumed")
    return _caches


# --------------------------------------------------------------------------------------------
# Cores
# --------------------------------------------------------------------------------------------


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


# --------------------------------------------------------------------------------------------
# SIMD width
# --------------------------------------------------------------------------------------------

_WIDE = "-prefer-256-bit"  # LLVM's tuning flag, turned off


def wide_vectors() -> bool:
    """Let numba's compiler use 512-bit registers on a processor with AVX-512 (see above).

    Must run before numba compiles or loads its first function in this process: the compiler's
    target is made once. Returns whether the setting is in force (False on a processor without
    AVX-512, when the user set numba's target, or when numba's compiler was made already).
    """
    from numba.core import config
    from numba.core.codegen import get_host_cpu_features
    from numba.core.registry import cpu_target

    if config.CPU_FEATURES is not None:
        return _WIDE in config.CPU_FEATURES.split(",")
    if config.CPU_NAME is not None or "_toplevel_target_context" in vars(cpu_target):
        return False
    features = get_host_cpu_features()
    if "+avx512f" not in features.split(","):
        return False
    config.CPU_FEATURES = f"{features},{_WIDE}"
    return True


def vector_bits() -> str:
    """The SIMD width of the code numba compiles in this process, as a phrase."""
    features = _target_features()
    if "+avx512f" in features:
        return "512-bit (AVX-512)" if _WIDE in features else "LLVM's default for this AVX-512 processor"
    if "+avx" in features:
        return "256-bit (AVX2)" if "+avx2" in features else "256-bit (AVX)"
    return "128-bit or less"


def _target_features() -> List[str]:
    from numba.core import config
    from numba.core.codegen import get_host_cpu_features

    return (config.CPU_FEATURES or get_host_cpu_features()).split(",")


def vector_bytes() -> int:
    """Bytes of one vector in the products' register tiles (``kernels.matmul_add``).

    A tile holds 6 rows by 2 vectors of sums, 12 vectors, and reads 2 vectors of weights per
    step: 14 or 15 registers. That fits a processor with 16 SIMD registers (AVX, AVX2: one
    register per vector) and leaves most of 32 unused, so with 32 (AVX-512) each vector is two
    registers wide: 24 registers of sums, 4 of weights, 1 for the broadcast number. A vector of
    two registers is split into two instructions by the compiler, so the same loops serve both.
    """
    features = _target_features()
    if "+avx512f" in features:
        register = 64 if _WIDE in features else 32  # LLVM's 256-bit preference splits 512-bit vectors
        return 2 * register  # 32 registers
    if "+avx" in features:
        return 32
    return 16


def strip_rows() -> int:
    """Rows of a weight strip (2 vectors wide) that a product keeps in the L1 cache at a time.

    ``kernels.matmul_add`` walks W in strips two vectors wide, and each strip ``strip_rows``
    rows at a time, while every row of the other operand passes over them: half the L1 data
    cache, the other half left to those rows and the sums. (Intel Xeon, 48 KiB of L1d,
    AVX-512: 96 rows of 64 float32 numbers.) Any depth gives the same numbers, bit for bit.
    """
    return max(16, caches()[0]["L1d"] // 2 // (2 * vector_bytes()))


def describe() -> Dict[str, object]:
    """The machine as the kernels see it and the choices made, for ``python -m bench``."""
    from . import kernels  # noqa: F401  (importing the kernels is what sets the SIMD width)

    sizes, source = caches()
    return {"caches": {k: f"{v // 1024} KiB" for k, v in sizes.items()}, "caches_from": source,
            "usable_cores": usable_cores(), "simd": vector_bits(),
            "register_tile": f"6 rows x 2 vectors of {vector_bytes()} bytes",
            "strip_rows": strip_rows(),
            "split_choices": {k: v["split"] for k, v in sorted(_read_choices(choices_file()).items())}}


# --------------------------------------------------------------------------------------------
# Splitting a batch between threads
# --------------------------------------------------------------------------------------------

# A split is taken only when it measured at least this much faster: two threads must never be
# slower than one, and timings on a busy machine scatter by a few percent.
SPLIT_MARGIN = 0.9

CHOICES_NAME = "lstm_numpy_machine_choices.json"

_choices: Dict[str, dict] = {}  # this process's decisions, by key


def split_decision(one_thread: List[float], split: List[float]) -> bool:
    """Split when the split batch's median time is at most SPLIT_MARGIN of one thread's."""
    return statistics.median(split) <= SPLIT_MARGIN * statistics.median(one_thread)


def choices_file() -> Path:
    """Where measured choices are kept: beside numba's cache of the kernels (``NUMBA_CACHE_DIR``
    when set, else the package's ``__pycache__``)."""
    from numba.core import config

    folder = Path(config.CACHE_DIR) if config.CACHE_DIR else Path(__file__).parent / "__pycache__"
    return folder / CHOICES_NAME


def _read_choices(path: Path) -> Dict[str, dict]:
    try:
        choices = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return choices if isinstance(choices, dict) else {}


def _processor() -> str:
    """The processor's model name and this process's usable cores: part of every choice's key."""
    return f"{_host_cpu_name()} x{usable_cores()}"


@functools.lru_cache(maxsize=None)
def _host_cpu_name() -> str:
    """LLVM's name of this processor, asked once: asking took about 100 us, and training with
    two threads makes a choice's key on every batch."""
    import llvmlite.binding as ll

    return ll.get_host_cpu_name()


# The modules whose code a batch's time depends on: a choice measured with other code is stale.
_TIMED_MODULES = ("kernels.py", "layout.py", "passes.py", "model.py")


@functools.lru_cache(maxsize=None)
def code_stamp() -> str:
    """A short fingerprint of the timed modules' source: part of every choice's key, so that a
    changed kernel (an upgrade, an edit) is measured anew instead of trusting old timings."""
    digest = hashlib.sha256()
    for name in _TIMED_MODULES:
        digest.update((Path(__file__).parent / name).read_bytes())
    return digest.hexdigest()[:12]


def split_pays(shape: str, threads: int, one_thread: Callable[[], object],
               split: Callable[[], object], budget: float = 0.5, most: int = 7) -> bool:
    """Whether batches of this shape run faster split between `threads` threads, measured once.

    shape: what the batch's time depends on besides the machine (sizes, dtype), as text.
    one_thread, split: compute one such batch either way (their results are thrown away).
    The first call for a key times both in turns, after one warming call each: at least two
    and at most `most` times each, stopping once `budget` seconds are spent; the decision is
    ``split_decision``'s. It is kept for the process and in ``choices_file()`` (if writable),
    with the times it came from; later calls, in this process or later ones, read it back.
    """
    if threads > usable_cores():
        return False  # the threads would take turns on fewer cores
    key = f"{_processor()} {shape} threads={threads} code={code_stamp()}"
    if key not in _choices:
        path = choices_file()
        kept = _read_choices(path).get(key)
        if isinstance(kept, dict) and isinstance(kept.get("split"), bool):
            _choices[key] = kept
        else:
            _choices[key] = _measure_split(one_thread, split, budget, most)
            _keep(path, key, _choices[key])
    return _choices[key]["split"]


def _measure_split(one_thread, split, budget: float, most: int) -> dict:
    split()  # the first calls also make the threads' scratch memory
    one_thread()
    times: Dict[str, List[float]] = {"one_thread": [], "split": []}
    start = time.perf_counter()
    while len(times["split"]) < most and (len(times["split"]) < 2 or time.perf_counter() - start < budget):
        for name, run in (("one_thread", one_thread), ("split", split)):
            began = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - began)
    return {"split": split_decision(times["one_thread"], times["split"]),
            "one_thread_ms": [round(t * 1e3, 3) for t in times["one_thread"]],
            "split_ms": [round(t * 1e3, 3) for t in times["split"]]}


def _keep(path: Path, key: str, choice: dict) -> None:
    """Add one choice to the file, under a lock so that processes measuring at once keep all."""
    from .files import locked, write_atomically

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with locked(path.with_name(path.name + ".lock")):
            choices = _read_choices(path)
            choices[key] = choice
            write_atomically(path, json.dumps(choices, indent=1, sort_keys=True).encode())
    except OSError:
        pass  # a read-only cache: the choice holds for this process only
