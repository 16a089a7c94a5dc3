"""Random draws for the kernels from a state array each solver owns (private kernels).

The generator is the 32-bit Mersenne Twister (MT19937) with the draws numba's ``np.random``
makes from it (``random``, ``uniform``, ``randint``, ``shuffle``), so a solver's stream for a
seed is the one numba's per-thread generator gave after ``np.random.seed(seed)``; but two
solvers in one thread no longer share it. The state is int64: the 624 words, then the
position of the next one.
"""

from __future__ import annotations

import numpy as np

from routing._kernels_config import inline, leaf

MT_N, MT_M = 624, 397
NEXT = MT_N  # the state's last entry: the position of the next word (MT_N: twist first)
STATE_SIZE = MT_N + 1
_MATRIX_A = 0x9908B0DF
_UPPER, _LOWER = 0x80000000, 0x7FFFFFFF
_WORD = 0xFFFFFFFF


def rng_state(seed: int) -> np.ndarray:
    """A fresh state for ``seed`` (taken modulo 2**32, as ``np.random.seed`` in numba does)."""
    state = np.empty(STATE_SIZE, dtype=np.int64)
    x = seed & _WORD
    for i in range(MT_N):
        state[i] = x
        x = (1812433253 * (x ^ (x >> 30)) + i + 1) & _WORD
    state[NEXT] = MT_N
    return state


@leaf
def _twist(state):
    """The next 624 words."""
    for i in range(MT_N):
        y = (state[i] & _UPPER) | (state[(i + 1) % MT_N] & _LOWER)
        state[i] = state[(i + MT_M) % MT_N] ^ (y >> 1) ^ (_MATRIX_A if y & 1 else 0)
    state[NEXT] = 0


@inline
def next_word(state):
    """The next 32-bit output, tempered."""
    if state[NEXT] >= MT_N:
        _twist(state)
    y = state[state[NEXT]]
    state[NEXT] += 1
    y ^= y >> 11
    y ^= (y << 7) & 0x9D2C5680
    y ^= (y << 15) & 0xEFC60000
    y ^= y >> 18
    return y


@inline
def random(state):
    """A float in [0, 1) with 53 random bits."""
    a = next_word(state) >> 5
    b = next_word(state) >> 6
    return (a * 67108864.0 + b) / 9007199254740992.0


@inline
def uniform(state, low, high):
    """A float in [low, high)."""
    width = high - low
    return low + width * random(state)


@inline
def randint(state, low, high):
    """An int in [low, high) (high > low), by rejection of the fewest bits that hold it."""
    n = high - low
    if n == 1:
        return low
    bits = 0
    m = n - 1
    while m > 0:
        bits += 1
        m >>= 1
    while True:
        if bits <= 32:
            r = next_word(state) & (_WORD >> (32 - bits))
        else:
            hi = next_word(state) & (_WORD >> (64 - bits))
            r = (hi << 32) | next_word(state)
        if r < n:
            return low + r


@inline
def shuffle(state, x):
    """Shuffle ``x`` in place (Fisher-Yates from the end)."""
    i = x.shape[0] - 1
    while i > 0:
        j = randint(state, 0, i + 1)
        x[i], x[j] = x[j], x[i]
        i -= 1
