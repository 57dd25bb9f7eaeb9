"""Candidate sources of the online Recommender and how their scores are blended.

Each source proposes a few candidate items and can score any item; the blend scores the union
of all candidates with every source, so the catalog is never scored in full.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass
class Source:
    """The candidates one source proposes, and how it scores any item."""

    items: np.ndarray  # int64 (m,) distinct; sorted when ``score_of`` is None
    scores: np.ndarray  # float32 (m,)
    drivers: np.ndarray | None = None  # int64 (m,): the history item behind each score
    score_of: Callable[[np.ndarray], np.ndarray] | None = None  # exact scores of any items

    def on(self, candidates: np.ndarray) -> np.ndarray:
        """float32 scores of ``candidates`` (sorted); 0 for items the source does not know."""
        if self.score_of is not None:
            return np.maximum(np.asarray(self.score_of(candidates), dtype=np.float32), 0.0)
        return lookup(self.items, self.scores, candidates, 0.0).astype(np.float32)

    def driver_of(self, item: int) -> int:
        """The history item that led to ``item`` (-1 for none)."""
        if self.drivers is None:
            return -1
        return int(lookup(self.items, self.drivers, np.array([item]), -1)[0])


def lookup(keys: np.ndarray, values: np.ndarray, wanted: np.ndarray, default: float) -> np.ndarray:
    """``values`` at the positions of ``wanted`` in the sorted ``keys``; ``default`` if absent."""
    if not len(keys):
        return np.full(len(wanted), default, dtype=values.dtype if len(values) else np.float32)
    position = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
    return np.where(keys[position] == wanted, values[position], default)


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
    """Sum ``amounts`` per item; each item's driver is the history item that gave it most."""
    if not len(items):
        return Source(np.zeros(0, np.int64), np.zeros(0, np.float32), np.zeros(0, np.int64))
    order = np.lexsort((-amounts, items))  # per item, the largest amount first
    items, amounts, drivers = items[order], amounts[order], drivers[order]
    starts = np.flatnonzero(np.diff(items, prepend=-1))
    return Source(
        items[starts].astype(np.int64),
        np.add.reduceat(amounts, starts).astype(np.float32),
        drivers[starts].astype(np.int64),
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
