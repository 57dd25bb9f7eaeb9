"""Candidate sources of the online Recommender and how their scores are blended.

Each source proposes a few candidate items and can score any item; the blend scores the union
of all candidates with every source, so the catalog is never scored in full.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import numpy as np


@dataclass
class Source:
    """The candidates one source proposes, and how it scores any item."""

    items: np.ndarray  # int64 (m,) distinct; sorted when ``score_of`` is None
    scores: np.ndarray  # float32 (m,)
    score_of: Callable[[np.ndarray], np.ndarray] | None = None  # exact scores of any items
    # (item, amount, history item) before summing, for sparse sources: who led to what
    contributions: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def on(self, candidates: np.ndarray) -> np.ndarray:
        """float32 scores of ``candidates`` (sorted); 0 for items the source does not know."""
        if self.score_of is not None:
            return np.maximum(np.asarray(self.score_of(candidates), dtype=np.float32), 0.0)
        return lookup(self.items, self.scores, candidates, 0.0).astype(np.float32)

    def driver_of(self, item: int) -> int:
        """The history item that contributed most to ``item`` (-1 for none)."""
        if self.contributions is None:
            return -1
        items, amounts, drivers = self.contributions
        mine = np.flatnonzero(items == item)
        return int(drivers[mine[np.argmax(amounts[mine])]]) if len(mine) else -1


def lookup(keys: np.ndarray, values: np.ndarray, wanted: np.ndarray, default: float) -> np.ndarray:
    """``values`` at the positions of ``wanted`` in the sorted ``keys``; ``default`` if absent."""
    if not len(keys):
        return np.full(len(wanted), default, dtype=values.dtype if len(values) else np.float32)
    position = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
    return np.where(keys[position] == wanted, values[position], default)


def run_starts(ordered: np.ndarray) -> np.ndarray:
    """Positions where a new value begins in the sorted ``ordered`` (0 first, for non-empty)."""
    first = np.empty(len(ordered), dtype=bool)
    first[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    return np.flatnonzero(first)


def distinct_sorted(values: np.ndarray) -> np.ndarray:
    """The distinct ``values``, sorted: ``np.unique`` without its fixed cost (numpy's hash-based
    unique takes ~25 us for a few hundred values, a sort ~4 us; this runs on every request)."""
    ordered = np.sort(values)
    return cast(np.ndarray, ordered[run_starts(ordered)])


def top_indices(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest ``scores`` (any order)."""
    if len(scores) <= k:
        return np.arange(len(scores))
    return np.argpartition(-scores, k - 1)[:k]


def group_order(codes: np.ndarray, popularity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Items sorted by group, most popular first within each, and each group's start (with a
    final end), so that ``items[starts[g]:starts[g + 1]]`` are group g's items."""
    grouped = np.flatnonzero(codes >= 0)
    order = grouped[np.lexsort((grouped, -popularity[grouped], codes[grouped]))]
    n_groups = int(codes.max(initial=-1)) + 1
    starts = np.searchsorted(codes[order], np.arange(n_groups + 1))
    return order, starts


def sparse_source(items: np.ndarray, amounts: np.ndarray, drivers: np.ndarray) -> Source:
    """Sum ``amounts`` per item; each item's driver (see :meth:`Source.driver_of`) is the
    history item that gave it most."""
    if not len(items):
        return Source(np.zeros(0, np.int64), np.zeros(0, np.float32))
    order = np.argsort(items, kind="stable")
    ordered = items[order]
    starts = run_starts(ordered)
    return Source(
        ordered[starts].astype(np.int64),
        np.add.reduceat(amounts[order], starts).astype(np.float32),
        contributions=(items, amounts, drivers),
    )


def blend(
    sources: dict[str, Source], candidates: np.ndarray, weights: dict[str, float]
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Blended scores of ``candidates``: each source's scores divided by their maximum over the
    candidates, times the source's weight, summed.

    Returns:
        float32 (m,) totals, and each contributing source's weighted part.
    """
    total = np.zeros(len(candidates), dtype=np.float32)
    parts: dict[str, np.ndarray] = {}
    for name, source in sources.items():
        scores = source.on(candidates)
        top = float(scores.max(initial=0.0))
        if top > 0:
            parts[name] = scores * np.float32(weights.get(name, 0.0) / top)
            total += parts[name]
    return total, parts
