"""Adam, as the course's Keras ran it: bias correction, time decay, optional gradient clipping,
and optional decoupled weight decay (AdamW).

For every parameter p with gradient g, update number t + 1 (t updates already made)::

    lr_t  = lr / (1 + decay * t)                           the course's time decay
    m     = beta1 * m + (1 - beta1) * g                    running mean of g
    v     = beta2 * v + (1 - beta2) * g**2                 running mean of g**2
    alpha = lr_t * sqrt(1 - beta2**(t+1)) / (1 - beta1**(t+1))
    p    -= lr_t * weight_decay * p                        weight decay (weights only, not biases)
    p    -= alpha * m / (sqrt(v) + eps)

The bias correction (m and v start at zero, so early averages are too small) is folded into
alpha, exactly as Keras does; this differs from the paper's ``m_hat / (sqrt(v_hat) + eps)`` only
in where the tiny eps sits. With decay = 0.01 and the course's 200 updates, lr ends near 0.0033.

Weight decay pulls every weight a little toward zero at each update, so that only weights the
data keeps asking for grow large: a model that can no longer store its training music by heart
in a few big weights does better on music it has not heard. It is *decoupled* (Loshchilov and
Hutter's AdamW): the shrinking sits beside the Adam step instead of being added to g as an L2
penalty's gradient, where Adam's division by sqrt(v) would shrink the weights with large
gradients least. It follows lr's time decay, and it leaves the biases alone: a bias only shifts an
activation (and the forget gate's bias of 1, which keeps the cell remembering, should stay). The
shrinking uses p as it was before the update. The course used none: weight_decay = 0 is its Adam,
bit for bit.
"""

from __future__ import annotations

import math
from typing import Dict, Optional

import numpy as np

from .errors import LstmNumpyError
from .kernels import adam_update


def global_norm(grads: Dict[str, np.ndarray]) -> float:
    """The L2 norm of all gradients together, as if they were one long vector."""
    return math.sqrt(sum(float(np.vdot(g, g)) for g in grads.values()))


def _layout(a: np.ndarray) -> str:
    """How numba types an array's memory: "C", "F" or "A" (arrays of one layout share a call)."""
    return "C" if a.flags.c_contiguous else "F" if a.flags.f_contiguous else "A"


def is_bias(name: str) -> bool:
    """Whether a parameter is a bias (bf ... bo, by), which weight decay leaves alone."""
    return name.startswith("b")


class Adam:
    """Adam with the course's time decay, optional clipping by the global gradient norm and
    optional decoupled weight decay of the weights (not the biases, ``is_bias``).

    ``step(params, grads)`` updates each ``params[name]`` in place from ``grads["d" + name]``
    (the course's gradient names: Wf -> dWf). The state is plain arrays and one int, so a
    checkpoint can store it and training can resume bit for bit.
    """

    def __init__(self, lr: float = 0.01, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-7, decay: float = 0.01, clip_norm: Optional[float] = None,
                 weight_decay: float = 0.0):
        if lr <= 0 or not 0 <= beta1 < 1 or not 0 <= beta2 < 1 or eps <= 0 or decay < 0:
            raise LstmNumpyError(
                "Adam needs lr > 0, 0 <= beta1, beta2 < 1, eps > 0 and decay >= 0; check the "
                "optimizer settings.")
        if clip_norm is not None and clip_norm <= 0:
            raise LstmNumpyError("clip_norm must be a positive number (or None for no clipping).")
        if not 0 <= weight_decay * lr < 1:  # lr_t * weight_decay >= 1 would flip weights' signs
            raise LstmNumpyError("weight_decay must be at least 0 and less than 1 / lr; check the "
                                 "optimizer settings.")
        self.lr, self.beta1, self.beta2, self.eps, self.decay = lr, beta1, beta2, eps, decay
        self.clip_norm = clip_norm
        self.weight_decay = weight_decay
        self.t = 0  # updates made so far
        self.m: Dict[str, np.ndarray] = {}
        self.v: Dict[str, np.ndarray] = {}
        self._kept = None  # step's groups of arrays (see _groups)

    def learning_rate(self) -> float:
        """The decayed learning rate of the next update."""
        return self.lr / (1 + self.decay * self.t)

    def step(self, params: Dict[str, np.ndarray], grads: Dict[str, np.ndarray],
             norm: Optional[float] = None) -> float:
        """Apply one update in place; returns the gradients' global norm before clipping.

        norm: the global norm of grads if the caller has already computed it (else the update
        computes it on its way). When the norm is not finite (a NaN or an infinity in the
        gradients), nothing is updated and the norm is returned: the caller reports it.
        """
        groups = self._groups(params)
        gradients = []
        for names, shapes, ps, ms, vs, decayed in groups:
            gs = []
            for name, shape, p in zip(names, shapes, ps):
                g = grads["d" + name]
                if type(g) is np.ndarray and g.shape == shape == p.shape and g.dtype == p.dtype and g.flags.c_contiguous:
                    gs.append(g)  # as training hands them on: the checks and conversions below are no-ops
                    continue
                g = np.asarray(g, p.dtype)
                if g.shape != shape:
                    raise LstmNumpyError(
                        f"The gradient d{name} has shape {g.shape} but {name} has {shape}; pass "
                        "gradients of these parameters.")
                gs.append(np.ascontiguousarray(g.reshape(p.shape)))
            gradients.append(tuple(gs))
        if norm is None and len(groups) > 1:  # the kernel sees one group at a time
            norm = global_norm({name: g for group, gs in zip(groups, gradients) for name, g in zip(group[0], gs)})
        if norm is not None and not math.isfinite(norm):
            return norm
        t1 = self.t + 1
        lr_t = self.learning_rate()
        alpha = lr_t * math.sqrt(1 - self.beta2**t1) / (1 - self.beta1**t1)
        clip = 0.0 if self.clip_norm is None else self.clip_norm
        for (names, shapes, ps, ms, vs, decayed), gs in zip(groups, gradients):
            d = ps[0].dtype.type
            norm = adam_update(ps, gs, ms, vs, decayed * d(lr_t * self.weight_decay),
                               -1.0 if norm is None else float(norm), clip, d(alpha), d(self.beta1),
                               d(self.beta2), d(self.eps))
            if not math.isfinite(norm):
                return norm
        self.t = t1
        return norm

    def _groups(self, params: Dict[str, np.ndarray]) -> list:
        """params, m and v as the update kernel takes them: groups of one dtype and memory layout
        (a model's arrays are one group), each (names, shapes, ps, ms, vs, decayed), 1-d arrays
        viewed as one row, decayed 1 for a weight and 0 for a bias (``is_bias``).

        Kept from step to step while params, m and v hold the same arrays: making the groups
        takes a dozen Python operations per array, each slowed by the cache misses the passes
        leave behind (about 50 us per course-model batch).
        """
        arrays = [(p, self.m.get(name), self.v.get(name)) for name, p in params.items()]
        kept = self._kept
        if kept is not None and kept[0] == list(params) and all(
                a is b for now, then in zip(arrays, kept[1]) for a, b in zip(now, then)):
            return kept[2]
        groups: Dict[tuple, list] = {}
        for name, p in params.items():
            if name not in self.m:
                self.m[name] = np.zeros_like(p)
                self.v[name] = np.zeros_like(p)
            shape = p.shape
            if p.ndim != 2:  # the kernel takes 2-d arrays: view others as one row
                if not p.flags.c_contiguous:
                    raise LstmNumpyError(f"Adam updates in place and needs {name} C-contiguous.")
                p = p.reshape(1, -1)
            m, v = self.m[name].reshape(p.shape), self.v[name].reshape(p.shape)
            group = groups.setdefault((p.dtype, _layout(p), _layout(m), _layout(v)), [])
            group.append((name, shape, p, m, v, 0.0 if is_bias(name) else 1.0))
        made = [(names, shapes, ps, ms, vs, np.array(decayed, ps[0].dtype))
                for names, shapes, ps, ms, vs, decayed in (tuple(zip(*g)) for g in groups.values())]
        arrays = [(p, self.m[name], self.v[name]) for name, p in params.items()]
        self._kept = (list(params), arrays, made)
        return made

    def state_dict(self) -> Dict[str, object]:
        """The state as a flat dict: ``t`` (int) and the arrays ``m_<name>``, ``v_<name>``."""
        state: Dict[str, object] = {"t": int(self.t)}
        for name in self.m:
            state["m_" + name] = self.m[name].copy()
            state["v_" + name] = self.v[name].copy()
        return state

    def load_state_dict(self, state: Dict[str, object]) -> None:
        """Restore what ``state_dict`` returned (for example from a checkpoint)."""
        try:
            t = int(state["t"])
            names = [k[2:] for k in state if k.startswith("m_")]
            m = {n: np.array(state["m_" + n]) for n in names}
            v = {n: np.array(state["v_" + n]) for n in names}
        except (KeyError, TypeError, ValueError) as e:
            raise LstmNumpyError(
                f"The optimizer state is incomplete ({e}); resume from a checkpoint written by "
                "this version of lstm_numpy.") from None
        if t < 0 or any(m[n].shape != v[n].shape for n in names):
            raise LstmNumpyError(
                "The optimizer state is inconsistent; resume from an intact checkpoint.")
        self.t, self.m, self.v = t, m, v
