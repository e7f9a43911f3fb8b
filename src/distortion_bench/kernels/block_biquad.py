"""A biquad cascade run in blocks of :data:`BLOCK` samples (state-space look-ahead), so the
recursion no longer sets the pace.

A section in transposed direct form II (``y = b0 v + z0``, ``z0' = b1 v - a1 y + z1``,
``z1' = b2 v - a2 y``) is, with state ``s = (z0, z1)``, ``y_t = D v_t + C s_t`` and
``s_{t+1} = A s_t + B v_t`` where ``A = [[-a1, 1], [-a2, 0]]``, ``B = (b1 - a1 b0, b2 - a2 b0)``,
``C = (1, 0)``, ``D = b0``. Over a block of N samples starting from state ``s``::

    y_k   = sum_j H[k, j] v_j + P[k] . s        (H[k, j] = C A^(k-1-j) B for j < k, H[k, k] = D, else 0;
                                                 P[k] = C A^k)
    s_N   = A^N s + sum_j G[:, j] v_j           (G[:, j] = A^(N-1-j) B)

Sample by sample, each output waits for the previous one: a multiply and three adds, ~12
cycles per sample per section. In blocks, the N outputs are independent sums (vectorized across
``k``) and the only chain is ``s -> s_N`` once per block: ~1 ns per sample instead of ~4.6.

Exactness: every output is one fixed sum (the terms in the same order whatever the buffer
cuts), and the block grid is anchored to the stream, not to the buffers: a buffer that ends
inside a block keeps the block's start state and its inputs so far in the state, and the next
buffer finishes the block with the same formula. So chunked processing equals whole-signal
processing bit for bit. Against the sample-by-sample recursion (the exact reference the
targets are rendered with) the result differs by float64 rounding only: the matrices are
powers of ``A`` computed once in float64, ~1e-16 relative per term
(``tests/test_dsp_tube_block.py`` bounds the float32 output's difference at 1e-6 of full scale).
"""

from __future__ import annotations

import numba
import numpy as np

#: samples per block: eight float64 lanes of AVX-512, two AVX2 vectors (the kernel is written
#: out for 8)
BLOCK = 8
#: per section, float64 elements of :func:`block_arena`: the output rows, the block's output
#: scratch, the next state's two rows
ARENA = (BLOCK + 2) * BLOCK + BLOCK + 2 * (BLOCK + 2)
_ACC = (BLOCK + 2) * BLOCK  # where the output scratch starts
_NEXT = _ACC + BLOCK  # where the next state's rows start (z0's, then z1's)


def block_arena(sos: np.ndarray) -> np.ndarray:
    """``(sections, ARENA)`` float64, per section the map from ``[v_0 .. v_7, z0, z1]`` (the
    block's inputs and start state) to the block's outputs and next state, laid out for the
    kernel: ``[row 0 | .. | row 9 | output scratch (8) | z0' coefficients (10) | z1'
    coefficients (10)]`` where row ``j`` (8 values) is what input ``j`` adds to each output.

    One array per section on purpose: the kernel's output loop stores into the scratch and
    loads the rows at fixed distances within one array, so LLVM proves they do not overlap and
    vectorizes the loop without run-time alias checks (with the rows and the outputs in separate
    arrays, ten checks per block cost more than the block's arithmetic: measured)."""
    block = BLOCK
    sos = np.asarray(sos, np.float64)
    out = np.zeros((sos.shape[0], ARENA), np.float64)
    for s, (b0, b1, b2, _, a1, a2) in enumerate(sos):
        a = np.array([[-a1, 1.0], [-a2, 0.0]])
        b = np.array([b1 - a1 * b0, b2 - a2 * b0])
        powers = [np.eye(2)]
        for _ in range(block):
            powers.append(a @ powers[-1])
        m = np.zeros((block + 2, block + 2))  # [output k or next state, input j]
        for k in range(block):
            m[k, k] = b0
            for j in range(k):
                m[k, j] = (powers[k - 1 - j] @ b)[0]
            m[k, block : block + 2] = powers[k][0]
        for j in range(block):
            m[block : block + 2, j] = powers[block - 1 - j] @ b
        m[block : block + 2, block : block + 2] = powers[block]
        out[s, :_ACC] = m[:block].T.reshape(-1)  # row j: input j's share of each output
        out[s, _NEXT : _NEXT + block + 2] = m[block]
        out[s, _NEXT + block + 2 :] = m[block + 1]
    return out


def initial_block_state(sections: int) -> np.ndarray:
    """``(sections, BLOCK + 3)`` float64 after silence: per section the current block's inputs
    so far (zeros beyond), its start state ``z0, z1``, and (column ``BLOCK + 2``, section 0)
    how many of the block's samples have arrived."""
    return np.zeros((sections, BLOCK + 3), np.float64)


@numba.njit(inline="always", error_model="numpy")
def _state_after(a, v0, v1, v2, v3, v4, v5, v6, v7, z0, z1):  # pragma: no cover - compiled
    """The state after a block: the inputs' part first, the start state's last (the chain from
    one block's state to the next is two multiplies and two adds)."""
    n0 = a[_NEXT] * v0
    n1 = a[_NEXT + 10] * v0
    n0 = n0 + a[_NEXT + 1] * v1 + a[_NEXT + 2] * v2 + a[_NEXT + 3] * v3 + a[_NEXT + 4] * v4
    n1 = n1 + a[_NEXT + 11] * v1 + a[_NEXT + 12] * v2 + a[_NEXT + 13] * v3 + a[_NEXT + 14] * v4
    n0 = n0 + a[_NEXT + 5] * v5 + a[_NEXT + 6] * v6 + a[_NEXT + 7] * v7
    n1 = n1 + a[_NEXT + 15] * v5 + a[_NEXT + 16] * v6 + a[_NEXT + 17] * v7
    return n0 + (a[_NEXT + 8] * z0 + a[_NEXT + 9] * z1), n1 + (a[_NEXT + 18] * z0 + a[_NEXT + 19] * z1)


@numba.njit(inline="always", error_model="numpy")
def _output(a, row, k):  # pragma: no cover - compiled
    """Output ``k`` of the block from ``row`` = ``[v_0 .. v_7, z0, z1]`` (inputs not arrived
    yet are 0): the start state's part, then the inputs' in order, the one sum every path takes."""
    return (
        (
            (
                (
                    (
                        (((a[64 + k] * row[8] + a[72 + k] * row[9]) + a[k] * row[0]) + a[8 + k] * row[1])
                        + a[16 + k] * row[2]
                    )
                    + a[24 + k] * row[3]
                )
                + a[32 + k] * row[4]
            )
            + a[40 + k] * row[5]
        )
        + a[48 + k] * row[6]
    ) + a[56 + k] * row[7]


@numba.njit(error_model="numpy")
def block_filter_chunk(work, m, out, start, arena, bstate):  # pragma: no cover - compiled
    """The cascade over ``work[:m]`` (float64), section by section; the last section writes
    ``out[start:start + m]`` (float32), the others overwrite ``work``. ``arena``:
    :func:`block_arena`; ``bstate``: :func:`initial_block_state` (updated).

    Three parts per section: the rest of a block an earlier buffer began (its inputs and start
    state are in ``bstate``), whole blocks (inputs read into scalars, the state in registers,
    the outputs one loop vectorized across them), and the start of a block this buffer ends in
    (kept in ``bstate``). Every output is :func:`_output`'s sum whichever part computes it."""
    sections = arena.shape[0]
    phase0 = int(bstate[0, BLOCK + 2])
    for s in range(sections):
        a = arena[s]
        row = bstate[s, 0 : BLOCK + 2]
        last = s == sections - 1
        phase = phase0
        i = 0
        if phase > 0:  # finish the block an earlier buffer began
            take = min(BLOCK - phase, m)
            for j in range(take):
                row[phase + j] = work[j]
            for k in range(phase, phase + take):
                if last:
                    out[start + k - phase] = _output(a, row, k)
                else:
                    work[k - phase] = _output(a, row, k)
            phase += take
            i = take
            if phase == BLOCK:
                z0, z1 = _state_after(a, row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8], row[9])
                for j in range(BLOCK):
                    row[j] = 0.0
                row[BLOCK], row[BLOCK + 1] = z0, z1
                phase = 0
        if phase == 0:
            # views at fixed offsets of one array (see block_arena); the trip count is read from
            # the array, not written 8: a literal 8 is unrolled before the vectorizer sees the
            # loop, and the unrolled code stayed scalar (measured)
            nb = (a.shape[0] - 2 * (BLOCK + 2)) // (BLOCK + 3)
            r0, r1, r2, r3, r4 = a[0:8], a[8:16], a[16:24], a[24:32], a[32:40]
            r5, r6, r7, r8, r9 = a[40:48], a[48:56], a[56:64], a[64:72], a[72:80]
            acc = a[_ACC : _ACC + BLOCK]
            z0, z1 = row[BLOCK], row[BLOCK + 1]
            while m - i >= BLOCK:
                v0, v1, v2, v3 = work[i], work[i + 1], work[i + 2], work[i + 3]
                v4, v5, v6, v7 = work[i + 4], work[i + 5], work[i + 6], work[i + 7]
                for k in range(nb):
                    acc[k] = (
                        (
                            (
                                (((((r8[k] * z0 + r9[k] * z1) + r0[k] * v0) + r1[k] * v1) + r2[k] * v2) + r3[k] * v3)
                                + r4[k] * v4
                            )
                            + r5[k] * v5
                        )
                        + r6[k] * v6
                    ) + r7[k] * v7
                if last:
                    for k in range(nb):
                        out[start + i + k] = acc[k]
                else:
                    for k in range(nb):
                        work[i + k] = acc[k]
                z0, z1 = _state_after(a, v0, v1, v2, v3, v4, v5, v6, v7, z0, z1)
                i += BLOCK
            row[BLOCK], row[BLOCK + 1] = z0, z1
            if i < m:  # a block this buffer does not finish
                take = m - i
                for j in range(take):
                    row[j] = work[i + j]
                for k in range(take):
                    if last:
                        out[start + i + k] = _output(a, row, k)
                    else:
                        work[i + k] = _output(a, row, k)
                phase = take
        if last:
            bstate[0, BLOCK + 2] = phase
