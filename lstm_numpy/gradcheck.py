"""Gradient checking: backprop's gradients against centred finite differences.

How do we know a backward pass is right? Take a scalar loss J of the weights, nudge one entry
theta by +-epsilon, run the forward pass again, and see how J moves::

    gradapprox = (J(theta + epsilon) - J(theta - epsilon)) / (2 epsilon)

Doing that for every entry gives a numerical gradient (``numeric_gradient``), which is compared
with backprop's by the course's relative difference (``relative_difference``)::

    difference = ||grad - gradapprox|| / (||grad|| + ||gradapprox||)

In float64 it is about 1e-7 or less when backprop is right and close to 1 when it is wrong.
epsilon = 1e-5 is a compromise: a larger nudge sees the curvature of J, a much smaller one loses
the difference in the rounding of J itself. ``gradient_agrees`` is the verdict the tests use.
Notebook 2 and the tests share these functions.
"""

from __future__ import annotations

from typing import Callable

import numpy as np


def numeric_gradient(J: Callable[[], float], array: np.ndarray, epsilon: float = 1e-5) -> np.ndarray:
    """Centred differences of J() with respect to every entry of array, which J must read.

    Each entry is nudged in place and put back, so array must be writeable (and float64, or
    the nudges drown in rounding). Returns an array of array's shape.
    """
    approx = np.zeros_like(array)
    for index in np.ndindex(array.shape):
        saved = array[index]
        array[index] = saved + epsilon
        plus = J()
        array[index] = saved - epsilon
        minus = J()
        array[index] = saved
        approx[index] = (plus - minus) / (2 * epsilon)
    return approx


def relative_difference(grad: np.ndarray, gradapprox: np.ndarray) -> float:
    """||grad - gradapprox|| / (||grad|| + ||gradapprox||); 0 when both are zero."""
    denominator = np.linalg.norm(grad) + np.linalg.norm(gradapprox)
    return 0.0 if denominator == 0 else float(np.linalg.norm(grad - gradapprox) / denominator)


def gradient_agrees(J: Callable[[], float], array: np.ndarray, grad: np.ndarray,
                    epsilon: float = 1e-5, tolerance: float = 1e-7) -> bool:
    """True when grad is J's gradient on array: the relative difference from the centred
    differences is below tolerance, or, where the gradient is so small that the differences'
    own rounding decides, every entry is within that rounding.

    A centred difference of a float64 loss J carries an error of about eps |J| / epsilon from
    the rounding of J itself. A bias gradient of 7e-6 once had centred differences 1e-11 off
    (with the plain formulas as much as with the fast path): a relative error of 7e-7 with
    nothing wrong. The allowance is 50 eps (|J| + 1) / epsilon, about 1e-9 at order-1 losses;
    a wrong formula is off by a sizeable fraction of the gradient instead.
    """
    gradapprox = numeric_gradient(J, array, epsilon)
    if relative_difference(grad, gradapprox) < tolerance:
        return True
    rounding = 50 * np.finfo(np.float64).eps * (abs(J()) + 1) / epsilon
    return bool(np.max(np.abs(gradapprox - grad)) < rounding)
