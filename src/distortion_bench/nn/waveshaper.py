"""A learned memoryless waveshaper: a discontinuous piecewise-linear table over full scale.

Why this and not smooth activations or periodic features
--------------------------------------------------------
A bitcrusher's quantizer is a staircase of ``2^N`` flat steps of ``2^(1-N)`` over ``[-1, 1]``.
What it adds to the input, ``Q(x) - x``, is a sawtooth in ``x`` with ``2^(N-1)`` periods per unit of
amplitude: at 8 bits, 256 teeth across full scale. Networks of smooth units (tanh, sigmoid: the
LSTM, GRU and gated TCN) are biased towards low-frequency functions of their input (the
"spectral bias", Rahaman et al. 2019, "On the spectral bias of neural networks") and need of the
order of a unit per tooth; trained on the whole output they settle on the identity (residual ESR
~1, see the study). Periodic features (sin/cos of learned multiples of ``x``, SIREN: Sitzmann et
al. 2020; Fourier features: Tancik et al. 2020) can express a sawtooth with a few parameters, but
only once a learned frequency sits within about one period per unit of input amplitude of the
true one: the loss is periodic in the frequency, gradient descent from a random start lands in
a neighbouring basin, and SIREN's own initialization covers low multiples only.

The table instead makes every region of the input's amplitude its own, convex, least-squares
problem. ``cells`` equal cells tile ``[-1, 1]``; each has a learned value at its left edge and a
learned slope, and the output is ``value[c] + slope[c] * (x - left_edge[c])``. Neighbouring cells
are not tied together, so a jump between two steps costs nothing where it falls on a cell edge,
and a smooth curve is fitted to second order (as a piecewise-linear activation: PWLU, Zhu et al.
2021; the B-spline activations of Kolmogorov-Arnold networks, Liu et al. 2024; learned
waveshapers in audio: NEWT, Hayes et al. 2021). It starts as the identity (values on the diagonal,
slopes 1) and stays the identity outside ``[-1, 1]`` and in any cell the data never visits.

What it assumes, stated because it matters for the result: the cells are uniform over digital
full scale. With ``cells`` a power of two, every threshold of an integer-bit quantizer of up to
``log2(cells) - 1`` bits falls on a cell edge (the thresholds are odd multiples of ``2^-N``, the
edges multiples of ``2 / cells``: 11 bits for 4096 cells), just
as it falls on a converter's code boundaries; with another count (``cells: 3000``) they do not,
and the ablation measures what that costs. Nothing of the effect (bits, thresholds, levels) is
given to the model: each cell learns its value and slope from data.

Cost per sample: one index computation, two gathers, one multiply-add; ``2 * cells`` parameters.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

#: the table's input range: digital full scale
FULL_SCALE = 1.0
#: most cells a table may have (2^20: 8 MiB of float32 parameters)
MAX_CELLS = 2**20


class PiecewiseLinearTable(nn.Module):
    """``y = value[c] + slope[c] * (x - edge[c])`` on ``cells`` uniform cells over ``[-1, 1]``.

    Beyond full scale the end cells extend with slope 1 (identity), so the table never clips by
    itself. Shapes: any input shape (``(batch, 1, time)`` in the models); the output has the same.
    """

    def __init__(self, cells: int) -> None:
        super().__init__()
        if isinstance(cells, bool) or not isinstance(cells, int) or not 2 <= cells <= MAX_CELLS:
            raise ValueError(f"cells: expected an integer in [2, {MAX_CELLS}], got {cells!r}")
        self.cells = int(cells)
        self.width = 2.0 * FULL_SCALE / self.cells
        edges = -FULL_SCALE + self.width * torch.arange(self.cells, dtype=torch.float32)
        self.value = nn.Parameter(edges.clone())  # identity: the value at each left edge
        self.slope = nn.Parameter(torch.ones(self.cells))
        self.register_buffer("edge", edges, persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        inside = torch.clamp(x, -FULL_SCALE, FULL_SCALE)
        # floor((x + 1) / width), clamped so that x = +1 belongs to the last cell
        index = torch.clamp(torch.floor((inside + FULL_SCALE) / self.width), 0, self.cells - 1).long()
        offset = inside - self.edge[index]
        return self.value[index] + self.slope[index] * offset + (x - inside)
