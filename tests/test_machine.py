"""The machine's figures the kernels' choices follow, and the choices themselves.

No timing here: the measurements are replaced by given figures, so each test checks what is
decided from them."""

import json

import pytest

from lstm_numpy import machine

# what sysfs holds for one core of an Intel Xeon with 2 MiB of L2 (cpu0/cache/index0..3)
XEON = [{"level": "1\n", "type": "Data\n", "size": "48K\n"},
        {"level": "1\n", "type": "Instruction\n", "size": "64K\n"},
        {"level": "2\n", "type": "Unified\n", "size": "2048K\n"},
        {"level": "3\n", "type": "Unified\n", "size": "491520K\n"}]


@pytest.mark.parametrize("text, size", [("48K", 48 * 1024), ("2048K\n", 2 * 1024 ** 2), ("1M", 1024 ** 2),
                                        ("32768", 32768), ("8 KiB", 8192), ("", None), ("large", None)])
def test_sysfs_sizes_are_read(text, size):
    assert machine.parse_size(text) == size


def test_cache_entries_give_each_level_and_leave_out_instruction_caches():
    assert machine.caches_from_entries(XEON) == {"L1d": 48 * 1024, "L2": 2 * 1024 ** 2, "L3": 480 * 1024 ** 2}
    broken = [{"level": "2", "type": "Unified"}, {"type": "Data", "size": "48K"}, {}]
    assert machine.caches_from_entries(broken) == {}


def test_caches_are_read_from_a_sysfs_tree(tmp_path, monkeypatch):
    for i, entry in enumerate(XEON):
        folder = tmp_path / f"index{i}"
        folder.mkdir()
        for name, text in entry.items():
            (folder / name).write_text(text)
    monkeypatch.setattr(machine, "SYSFS_CACHES", tmp_path)
    monkeypatch.setattr(machine, "_caches", None)
    sizes, source = machine.caches()
    assert source == "sysfs" and sizes["L1d"] == 48 * 1024 and sizes["L2"] == 2 * 1024 ** 2


def test_without_sysfs_or_sysconf_the_caches_are_assumed(tmp_path, monkeypatch):
    monkeypatch.setattr(machine, "SYSFS_CACHES", tmp_path / "missing")
    monkeypatch.setattr(machine, "_read_sysconf", dict)
    monkeypatch.setattr(machine, "_caches", None)
    assert machine.caches() == (machine.DEFAULT_CACHES, "assumed")


def test_usable_cores_follow_the_affinity_mask(monkeypatch):
    monkeypatch.setattr(machine.os, "sched_getaffinity", lambda pid: {3}, raising=False)
    assert machine.usable_cores() == 1


@pytest.mark.parametrize("one, split, decided", [
    ([10.0, 10.2, 9.9], [5.5, 5.4, 9.0], True),   # about half the time: split
    ([10.0, 10.2, 9.9], [9.5, 9.4, 9.6], False),  # under 10% faster: not worth the risk
    ([10.0, 10.2, 9.9], [12.5, 13.0, 12.7], False),  # slower, as on a machine with busy cores
])
def test_the_split_decision_follows_the_figures(one, split, decided):
    assert machine.split_decision(one, split) is decided


class FakeClock:
    """time.perf_counter for the measurement: each run advances it by its given duration."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def run(self, seconds, calls):
        def run():
            calls.append(seconds)
            self.now += seconds
        return run


def _measuring_in(tmp_path, monkeypatch) -> FakeClock:
    """A fake clock for split_pays's measurement, its choices kept in tmp_path, two usable
    cores and no decision remembered yet."""
    clock = FakeClock()
    monkeypatch.setattr(machine.time, "perf_counter", clock)
    monkeypatch.setattr(machine, "choices_file", lambda: tmp_path / "choices.json")
    monkeypatch.setattr(machine, "usable_cores", lambda: 2)
    monkeypatch.setattr(machine, "_choices", {})
    return clock


@pytest.mark.parametrize("one_seconds, split_seconds", [(0.010, 0.006), (0.010, 0.012)])
def test_split_pays_measures_once_and_keeps_the_decision(tmp_path, monkeypatch, one_seconds,
                                                         split_seconds):
    clock = _measuring_in(tmp_path, monkeypatch)
    calls = []
    one, split = clock.run(one_seconds, calls), clock.run(split_seconds, calls)
    decided = machine.split_pays("n_a=64 m=60", 2, one, split)
    assert decided is (split_seconds < one_seconds)
    measured = len(calls)
    assert 2 + 2 * 2 <= measured <= 2 + 2 * 7  # warming calls, then both in turns
    kept = json.loads((tmp_path / "choices.json").read_text())
    (key, choice), = kept.items()
    assert "n_a=64 m=60" in key and "threads=2" in key and choice["split"] is decided
    assert choice["one_thread_ms"][0] == pytest.approx(one_seconds * 1e3)
    # later calls, in this process or a new one (an empty memory), run nothing
    assert machine.split_pays("n_a=64 m=60", 2, one, split) is decided
    monkeypatch.setattr(machine, "_choices", {})
    assert machine.split_pays("n_a=64 m=60", 2, one, split) is decided
    assert len(calls) == measured
    # another shape is measured anew, and both are kept
    machine.split_pays("n_a=512 m=60", 2, one, split)
    assert len(json.loads((tmp_path / "choices.json").read_text())) == 2


def test_no_split_is_measured_for_more_threads_than_usable_cores(monkeypatch):
    monkeypatch.setattr(machine, "usable_cores", lambda: 1)
    def fail():
        raise AssertionError("measured")
    assert machine.split_pays("n_a=64 m=60", 2, fail, fail) is False


def test_the_description_names_caches_width_and_choices():
    described = machine.describe()
    assert set(described["caches"]) >= {"L1d", "L2", "L3"}
    assert described["usable_cores"] >= 1
    assert "bit" in described["simd"] or "LLVM" in described["simd"]
    assert isinstance(described["split_choices"], dict)


@pytest.mark.parametrize("features, vector", [
    ("+avx512f,+avx2,+avx,-prefer-256-bit", 128),  # AVX-512 at full width: two 64-byte registers
    ("+avx512f,+avx2,+avx", 32 * 2),  # LLVM keeps to 256 bits: two 32-byte registers of 32
    ("+avx2,+avx,-avx512f", 32),  # 16 registers: one per vector
    ("+sse4.2,-avx", 16),
])
def test_register_tiles_follow_the_compiled_simd_width(monkeypatch, features, vector):
    monkeypatch.setattr(machine, "_target_features", lambda: features.split(","))
    assert machine.vector_bytes() == vector


def test_strips_fill_half_the_l1_cache(monkeypatch):
    monkeypatch.setattr(machine, "_target_features", lambda: ["+avx512f", "-prefer-256-bit"])
    monkeypatch.setattr(machine, "_caches", (dict(machine.DEFAULT_CACHES, L1d=48 * 1024), "sysfs"))
    assert machine.strip_rows() == 96  # 24 KiB of strips 256 bytes wide
    monkeypatch.setattr(machine, "_caches", (dict(machine.DEFAULT_CACHES, L1d=32 * 1024), "sysfs"))
    assert machine.strip_rows() == 64
    monkeypatch.setattr(machine, "_target_features", lambda: ["+avx2", "+avx"])
    assert machine.strip_rows() == 256  # strips 64 bytes wide


def test_a_choice_measured_with_other_code_is_measured_again(tmp_path, monkeypatch):
    """The key holds the timed modules' fingerprint: a kept decision from other code is stale."""
    clock = _measuring_in(tmp_path, monkeypatch)
    calls = []
    one, split = clock.run(0.010, calls), clock.run(0.006, calls)
    machine.split_pays("n_a=64 m=60", 2, one, split)
    measured = len(calls)
    monkeypatch.setattr(machine, "_choices", {})
    monkeypatch.setattr(machine, "code_stamp", lambda: "other-code")  # as after an edit
    machine.split_pays("n_a=64 m=60", 2, one, split)
    assert len(calls) > measured
    assert len(json.loads((tmp_path / "choices.json").read_text())) == 2


def test_the_code_stamp_changes_when_a_timed_module_changes(tmp_path, monkeypatch):
    for name in machine._TIMED_MODULES:
        (tmp_path / name).write_text(f"# {name}\n")
    monkeypatch.setattr(machine, "__file__", str(tmp_path / "machine.py"))
    machine.code_stamp.cache_clear()
    try:
        before = machine.code_stamp()
        (tmp_path / "kernels.py").write_text("# kernels.py, edited\n")
        machine.code_stamp.cache_clear()
        after = machine.code_stamp()
    finally:
        machine.code_stamp.cache_clear()
    assert len(before) == len(after) == 12 and before != after


def test_a_choice_key_asks_llvm_for_the_processor_once(monkeypatch):
    """Training with two threads makes a choice's key on every batch; asking LLVM for the
    processor's name each time took about 100 us."""
    import llvmlite.binding as ll

    asked = []
    monkeypatch.setattr(ll, "get_host_cpu_name", lambda: asked.append(1) or "someprocessor")
    monkeypatch.setattr(machine, "usable_cores", lambda: 2)
    machine._host_cpu_name.cache_clear()
    try:
        keys = [machine._processor() for _ in range(3)]
    finally:
        machine._host_cpu_name.cache_clear()
    assert keys == ["someprocessor x2"] * 3 and len(asked) == 1
