"""The numba compile flags of every routing kernel, in one place, and the kernels' infinity.

Every kernel is cached on disk (``cache=True``) and releases the GIL (``nogil``). numba checks
a cached kernel against its own file only, not against the kernels it calls (or inlines) from
other modules: after editing one kernel module, delete ``routing/__pycache__/*.nbi`` and
``*.nbc`` so that no caller runs stale code.
"""

from __future__ import annotations

import numba as nb
import numpy as np

# A cost or time no plan reaches: "infeasible" in a delta, "no limit" in a slack.
INF = np.int64(2**62)

# A kernel called from Python, or one that allocates.
kernel = nb.njit(cache=True, nogil=True)
# Kernels that allocate nothing are compiled without reference counting: numba increfs and
# decrefs every array of ``D`` and ``S`` (atomically) on each call, which took over half of
# the solver's time (numba issue #2345).
leaf = nb.njit(cache=True, nogil=True, _nrt=False)  # type: ignore[call-overload]  # numba-internal flag
# The insertion price, called in the innermost loop of every recreate, is inlined into its
# callers: a call that is not inlined passes every array of ``D`` and ``S`` (dozens of pointers,
# shapes and strides), which cost more than the pricing itself (VRPTW annealing 2.5x faster
# inlined). Inlining more (the local search's prices into ``descend``) made it slower.
inline = nb.njit(cache=True, nogil=True, inline="always")
