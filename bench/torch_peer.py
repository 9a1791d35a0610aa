"""The PyTorch peer: the same course model, built the way a PyTorch user would build it.

Training: ``nn.LSTM`` (PyTorch's fused kernel) or an ``nn.LSTMCell`` loop, then ``nn.Linear`` on
every step, cross-entropy averaged over the batch and summed over the steps (as Keras sums the Tx
outputs' losses), and ``torch.optim.Adam``; inputs are one-hot float32 tensors, the course's X.
Sampling: an ``nn.LSTMCell`` loop (or ``nn.LSTM`` stepped one step at a time) from x0 = 0 and
a0 = c0 = 0, argmax fed back one-hot, under ``torch.inference_mode``.

Run as a script it is the whole-process peer of ``python -m lstm_numpy.train``: a fresh Python
process that imports torch, reads the same MIDI file with lstm_numpy's data pipeline, trains
``--epochs`` full-batch epochs and samples a 50-value solo::

    python -m bench.torch_peer --midi ../shared/data/original_metheny.mid --epochs 100

PyTorch is optional (``pip install torch==2.13.0``, the ``bench`` extra); nothing in the package
or its tests imports this file.
"""

from __future__ import annotations

import argparse
import time
from typing import Callable, Optional

import numpy as np
import torch
from torch import nn


class CourseModel(nn.Module):
    """LSTM(n_a) shared over Tx steps and Dense(n_values) on each step; fused or cell loop."""

    def __init__(self, n_values: int, n_a: int, kind: str = "fused", n_in: Optional[int] = None):
        super().__init__()
        self.kind = kind
        n_in = n_values if n_in is None else n_in  # wider for the conditioned model's features
        if kind == "fused":
            self.lstm = nn.LSTM(n_in, n_a, batch_first=True)
        elif kind == "cell":
            self.cell = nn.LSTMCell(n_in, n_a)
        else:
            raise ValueError(f"kind must be 'fused' or 'cell', not {kind!r}")
        self.dense = nn.Linear(n_a, n_values)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (m, Tx, n_values) one-hot -> logits (m, Tx, n_values)."""
        if self.kind == "fused":
            a, _ = self.lstm(x)
        else:
            m, Tx, _ = x.shape
            h = x.new_zeros(m, self.cell.hidden_size)
            c = x.new_zeros(m, self.cell.hidden_size)
            steps = []
            for t in range(Tx):
                h, c = self.cell(x[:, t], (h, c))
                steps.append(h)
            a = torch.stack(steps, dim=1)
        return self.dense(a)


def training_data(m: int, Tx: int, n_values: int, seed: int = 0):
    """Random course-shaped data: X (m, Tx, n_values) one-hot with x<1> = 0, Y = X shifted left.

    Returns (X, targets) as tensors; targets (m, Tx) are class indices, -100 (ignored) where the
    course's target is all zeros (the last step).
    """
    rng = np.random.default_rng(seed)
    values = rng.integers(0, n_values, size=(m, Tx))
    X = np.zeros((m, Tx, n_values), np.float32)
    X[:, 1:][np.arange(m)[:, None], np.arange(Tx - 1)[None, :], values[:, 1:]] = 1
    targets = np.full((m, Tx), -100, np.int64)
    targets[:, :-1] = values[:, 1:]
    return torch.from_numpy(X), torch.from_numpy(targets)


def as_tensors(X: np.ndarray, Y: np.ndarray):
    """The course's X (m, Tx, n) and Y (Tx, m, n) as (X float32, class-index targets (m, Tx))."""
    Yt = np.moveaxis(np.asarray(Y), 0, 1)  # (m, Tx, n)
    targets = np.where(Yt.any(axis=2), Yt.argmax(axis=2), -100).astype(np.int64)
    return torch.from_numpy(np.asarray(X, np.float32)), torch.from_numpy(targets)


def make_epoch(X: torch.Tensor, targets: torch.Tensor, n_a: int, batch_size: int,
               kind: str = "fused", lr: float = 0.01, n_values: Optional[int] = None):
    """(epoch, model): epoch() trains one epoch (mini-batches of batch_size), returns its last loss.

    n_values: the output layer's size; by default X's width (the course model's input is its
    output's one-hot). Give it when X is wider (the conditioned model's features beside it).
    """
    torch.manual_seed(0)
    n_values = X.shape[2] if n_values is None else n_values
    model = CourseModel(n_values, n_a, kind, n_in=X.shape[2])
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss(ignore_index=-100)
    m, Tx = targets.shape

    def epoch() -> float:
        for start in range(0, m, batch_size):
            xb = X[start : start + batch_size]
            yb = targets[start : start + batch_size]
            optimizer.zero_grad(set_to_none=True)
            logits = model(xb)
            # mean over the batch, summed over the Tx outputs, like Keras's per-output losses
            loss = Tx * loss_fn(logits.reshape(-1, n_values), yb.reshape(-1))
            loss.backward()
            optimizer.step()
        return float(loss.detach())

    return epoch, model


def make_sampler(n_values: int, n_a: int, batch: int, Ty: int = 50, kind: str = "cell",
                 model: "CourseModel | None" = None) -> Callable:
    """A function that samples Ty greedy steps for ``batch`` solos and returns indices (Ty, batch).

    kind "cell" steps an nn.LSTMCell, "fused" steps nn.LSTM one step at a time; ``model`` (a
    trained CourseModel of that kind) supplies the weights, else they are freshly initialised.
    """
    torch.manual_seed(0)
    if model is None:
        model = CourseModel(n_values, n_a, kind)
    cell = model.cell if kind == "cell" else None
    lstm = model.lstm if kind == "fused" else None
    dense = model.dense
    eye = torch.eye(n_values)

    @torch.inference_mode()
    def sample() -> torch.Tensor:
        x = torch.zeros(batch, n_values)
        h = torch.zeros(batch, n_a)
        c = torch.zeros(batch, n_a)
        chosen = []
        for _ in range(Ty):
            if kind == "cell":
                h, c = cell(x, (h, c))
            else:
                out, (h1, c1) = lstm(x[:, None, :], (h[None], c[None]))
                h, c = h1[0], c1[0]
            index = dense(h).argmax(dim=1)
            chosen.append(index)
            x = eye[index]
        return torch.stack(chosen)

    return sample


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--midi", required=True, help="the MIDI file to learn from")
    parser.add_argument("--preset", default="course")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=60)
    parser.add_argument("--n-a", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from lstm_numpy.dataset import load_music_utils

    start = time.perf_counter()
    X, Y, n_values, indices_values = load_music_utils(args.midi, preset=args.preset)
    Xt, targets = as_tensors(X, Y)
    epoch, model = make_epoch(Xt, targets, args.n_a, args.batch_size, "fused")
    for _ in range(args.epochs):
        loss = epoch()
    solo = make_sampler(n_values, args.n_a, 1, kind="fused", model=model)()
    print(f"loss {loss:.3f}; solo of {len(solo)} values; {time.perf_counter() - start:.2f} s after import")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
