"""The course model: one LSTM shared by all Tx steps, a Dense softmax on each step, and training.

(Owned by the LSTM work; the Model container below is the agreed interface that sampling,
checkpoints and the command line build on.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np

from .notes import Chord


@dataclass
class Model:
    """A trained (or freshly initialised) jazz model, with everything needed to improvise.

    parameters: the course's names and shapes, n_x = n_y = n_values:
        Wf, Wi, Wc, Wo (n_a, n_a + n_values)  gate weights acting on [a_prev; xt]
        bf, bi, bc, bo (n_a, 1)
        Wy (n_values, n_a), by (n_values, 1)  the Dense softmax layer
    indices_values: the vocabulary, index -> value string such as "C,0.250,<m2,P-4>".
    chords: the chords of the training pieces, one list of Chord per measure (may be empty).
    config: the training configuration, JSON-serialisable (saved with each checkpoint).
    """

    parameters: Dict[str, np.ndarray]
    indices_values: List[str]
    chords: List[List[Chord]] = field(default_factory=list)
    config: Dict = field(default_factory=dict)

    @property
    def n_a(self) -> int:
        return self.parameters["Wf"].shape[0]

    @property
    def n_values(self) -> int:
        return self.parameters["Wy"].shape[0]
