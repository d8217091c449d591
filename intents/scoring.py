"""The one loop of a search that runs compiled: add up the question's postings, keep the best few.

Written in Python and compiled by numba (``njit``) the first time a process builds an index; the
machine code is cached beside this file (or under ``NUMBA_CACHE_DIR`` where the code is read-only),
so later processes load it instead of compiling. Where no cache folder is writable at all, every
process compiles it (about half a second) instead of failing. In NumPy the same work took about twenty calls
(gather the postings, scale them, bincount, partition, filter), each paying NumPy's dispatch, and
that fixed cost was most of a search; compiled, it is one call. ``best_intents.py_func`` is the same
function run by the interpreter, which the tests hold the compiled one to.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numba import njit

# A feature counts once per time it occurs, at most this many times.
MAX_COUNT = 2.0


def _best_intents(
    starts: np.ndarray,
    lengths: np.ndarray,
    posting_intents: np.ndarray,
    posting_scores: np.ndarray,
    rows: np.ndarray,
    counts: np.ndarray,
    allowed: np.ndarray,
    scores: np.ndarray,
    top_positions: np.ndarray,
    top_scores: np.ndarray,
) -> int:
    """Fill ``top_positions``/``top_scores`` with the best intents, best first, the earlier intent first
    on a tie, and return how many there are (only intents scoring above zero count).

    ``rows[j]`` is the postings row of the question's j-th feature (-1: not in the index) and
    ``counts[j]`` how often it occurs (a synonym's expansion less than once). Row r's postings are
    ``posting_intents``/``posting_scores`` from ``starts[r]``, ``lengths[r]`` of them. ``allowed`` is
    empty or one flag per intent; ``scores`` is zeros, one per intent, and is used up. The caller owns
    every array, so the compiled code allocates nothing (and compiles in half the time).
    """
    n_intents, limit = scores.size, top_scores.size
    for j in range(rows.size):
        row = rows[j]
        if row < 0:
            continue
        factor = min(counts[j], MAX_COUNT)
        start = starts[row]
        for k in range(start, start + lengths[row]):
            scores[posting_intents[k]] += posting_scores[k] * factor
    if allowed.size:
        for position in range(n_intents):
            if not allowed[position]:
                scores[position] = 0.0
    # One pass with a small sorted buffer: a candidate replaces the last one only when strictly
    # better, and moves up past strictly lower scores only, so ties keep catalog order.
    filled = 0
    for position in range(n_intents):
        score = scores[position]
        if score <= 0.0 or (filled == limit and score <= top_scores[limit - 1]):
            continue
        if filled < limit:
            filled += 1
        slot = filled - 1
        while slot > 0 and top_scores[slot - 1] < score:
            top_scores[slot] = top_scores[slot - 1]
            top_positions[slot] = top_positions[slot - 1]
            slot -= 1
        top_scores[slot] = score
        top_positions[slot] = position
    return filled


def _compiled(function: Callable[..., Any]) -> Any:
    try:
        return njit(cache=True, nogil=True)(function)
    except RuntimeError:  # numba found no writable cache folder ("no locator available")
        return njit(nogil=True)(function)


best_intents = _compiled(_best_intents)
