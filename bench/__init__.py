"""Benchmarks of lstm_numpy against PyTorch on the course model; run ``python -m bench --quick``.

Not part of the installed package: PyTorch, when present, is only ever imported from here.
"""
