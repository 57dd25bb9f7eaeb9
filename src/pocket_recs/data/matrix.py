"""From an interaction log to the user x item matrix (``user_items``) the models train on."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from pocket_recs.config import MatrixConfig
from pocket_recs.data.idmap import IdMap
from pocket_recs.data.tables import Interactions
from pocket_recs.errors import DataValidationError

logger = logging.getLogger(__name__)

PREFERENCE_SCALE = np.array([-2.0, -1.0, 1.0, 2.0], dtype=np.float32)
"""Preference of rating buckets 1..4 (seed 003)."""


@dataclass(frozen=True)
class UserItems:
    """A user x item matrix with the id maps of its rows and columns.

    Attributes:
        matrix: float32 CSR (n_users, n_items) with sorted indices and no explicit zeros. Users
            and items removed by k-core filtering keep their row or column, left empty.
        users, items: id maps of rows and columns.
    """

    matrix: sp.csr_array
    users: IdMap
    items: IdMap

    @property
    def shape(self) -> tuple[int, int]:
        """(n_users, n_items)."""
        return (len(self.users), len(self.items))

    def active_users(self) -> np.ndarray:
        """Indices of users with at least one cell."""
        return np.flatnonzero(np.diff(self.matrix.indptr) > 0)


def rating_preferences(ratings: np.ndarray, edges: tuple[float, float, float]) -> np.ndarray:
    """Map ratings to the preferences -2, -1, +1, +2 of buckets 1..4 split at ``edges``.

    A rating equal to an edge falls in the lower bucket: with edges (2, 3, 4), ratings 1-2 give
    -2, 2.5-3 give -1, 3.5-4 give +1 and 4.5-5 give +2.
    """
    bucket = np.searchsorted(np.asarray(edges, dtype=np.float64), ratings, side="left")
    return PREFERENCE_SCALE[bucket]


def event_values(
    interactions: Interactions, config: MatrixConfig, event_weights: dict[str, float]
) -> np.ndarray:
    """float32 (n,): what each event adds to its (user, item) cell under ``config.value_mode``."""
    weights = interactions.event_weight_array(event_weights)
    if config.value_mode == "ignore" or interactions.value is None:
        return weights
    value = interactions.value
    has_value = ~np.isnan(value)
    if config.value_mode == "multiply":
        return np.where(has_value, weights * np.maximum(value, 0), weights).astype(np.float32)
    preference = rating_preferences(np.where(has_value, value, 0.0), config.rating_bucket_edges)
    return np.where(has_value, preference, weights).astype(np.float32)


def _aggregate(
    interactions: Interactions, values: np.ndarray, how: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (user, item) cells and their combined value, sorted by user then item."""
    key = interactions.user_idx.astype(np.int64) * interactions.n_items + interactions.item_idx
    if how == "sum":
        cells, inverse = np.unique(key, return_inverse=True)
        combined = np.bincount(inverse.reshape(-1), weights=values, minlength=len(cells))
    else:
        secondary = interactions.timestamp_ms if how == "last" else values
        order = np.lexsort((np.arange(len(key)), secondary, key))
        sorted_key = key[order]
        last_of_cell = np.flatnonzero(np.append(sorted_key[1:] != sorted_key[:-1], True))
        cells = sorted_key[last_of_cell]
        combined = values[order][last_of_cell]
    users = (cells // interactions.n_items).astype(np.int32)
    items = (cells % interactions.n_items).astype(np.int32)
    return users, items, combined.astype(np.float32)


def k_core(matrix: sp.csr_array, *, min_user: int, min_item: int) -> sp.csr_array:
    """Drop cells of users with fewer than ``min_user`` items and items with fewer than
    ``min_item`` users, repeatedly, until every remaining user and item qualifies.
    """
    current = sp.csr_array(matrix)
    while True:
        user_counts = np.diff(current.indptr)
        item_counts = np.bincount(current.indices, minlength=current.shape[1])
        bad_users = (user_counts > 0) & (user_counts < min_user)
        bad_items = (item_counts > 0) & (item_counts < min_item)
        if not bad_users.any() and not bad_items.any():
            return current
        rows = np.repeat(np.arange(current.shape[0]), user_counts)
        keep = ~bad_users[rows] & ~bad_items[current.indices]
        current = sp.csr_array(
            (current.data[keep], (rows[keep], current.indices[keep])), shape=current.shape
        )


def build_user_items(
    interactions: Interactions,
    config: MatrixConfig | None = None,
    *,
    event_weights: dict[str, float],
    check: bool = True,
) -> UserItems:
    """The user x item matrix of ``interactions``: weighted, aggregated, optionally binarised and
    k-core filtered.

    Raises:
        DataValidationError: with ``check``, fewer than 2 users or 2 items remain after
            filtering; the message says how many remained and which setting to lower.
    """
    started = time.perf_counter()
    config = config or MatrixConfig()
    values = event_values(interactions, config, event_weights)
    users, items, combined = _aggregate(interactions, values, config.aggregate)
    if config.binary:
        positive = combined > 0
        users, items, combined = users[positive], items[positive], np.ones(int(positive.sum()), np.float32)
    nonzero = combined != 0
    matrix = sp.csr_array(
        (combined[nonzero], (users[nonzero], items[nonzero])),
        shape=(interactions.n_users, interactions.n_items),
        dtype=np.float32,
    )
    matrix.sort_indices()
    filtered = k_core(
        matrix, min_user=config.min_user_interactions, min_item=config.min_item_interactions
    )
    n_users = int((np.diff(filtered.indptr) > 0).sum())
    n_items = int((np.bincount(filtered.indices, minlength=filtered.shape[1]) > 0).sum())
    if check and (n_users < 2 or n_items < 2):
        before_users = int((np.diff(matrix.indptr) > 0).sum())
        before_items = int((np.bincount(matrix.indices, minlength=matrix.shape[1]) > 0).sum())
        setting = (
            f"min_user_interactions={config.min_user_interactions}"
            if n_users < 2 and config.min_user_interactions > 1
            else f"min_item_interactions={config.min_item_interactions}"
        )
        raise DataValidationError(
            f"{interactions.source}: not enough users/items: {n_users} users and {n_items} items "
            f"remain of {before_users} and {before_items} after filtering "
            f"(min_user_interactions={config.min_user_interactions}, "
            f"min_item_interactions={config.min_item_interactions}); at least 2 of each are "
            f"needed; lower {setting.split('=')[0]} or bring more interactions"
        )
    logger.info(
        "user_items: %d users x %d items, %d cells (of %d events) in %.1fs",
        n_users, n_items, filtered.nnz, len(interactions), time.perf_counter() - started,
    )
    return UserItems(filtered, interactions.users, interactions.items)


def keep_top_k(matrix: sp.csr_array, top_k: int) -> sp.csr_array:
    """Keep the ``top_k`` largest entries of each row, which must all be positive; ties go to
    smaller columns. Returns a float32 CSR with sorted indices.

    Each long row's k-th largest value comes from ``np.partition`` of that row: a loop over
    rows, not entries, and ten times faster here than one global sort of (row, value) keys
    (0.2 s against 3.6 s for 27M entries in 50K rows). Entries above it are kept, and entries
    equal to it in column order until the row has k.
    """
    matrix = sp.csr_array(matrix, dtype=np.float32)
    matrix.sum_duplicates()
    matrix.eliminate_zeros()
    lengths = np.diff(matrix.indptr)
    long_rows = np.flatnonzero(lengths > top_k)
    if not len(long_rows):
        return matrix
    assert np.all(matrix.data > 0), "keep_top_k takes positive entries only"
    data, indptr = matrix.data, matrix.indptr
    kth = np.zeros(matrix.shape[0], dtype=np.float32)  # short rows keep every (positive) entry
    for row in long_rows.tolist():
        values = data[indptr[row] : indptr[row + 1]]
        kth[row] = np.partition(values, len(values) - top_k)[len(values) - top_k]
    rows = np.repeat(np.arange(matrix.shape[0], dtype=np.int64), lengths)
    row_kth = kth[rows]
    keep = data > row_kth
    tied = np.flatnonzero(data == row_kth)
    room = top_k - np.bincount(rows[keep], minlength=matrix.shape[0])
    tied_rows = rows[tied]
    rank_among_tied = np.arange(len(tied)) - np.searchsorted(tied_rows, tied_rows, side="left")
    keep[tied[rank_among_tied < room[tied_rows]]] = True
    result = sp.csr_array(
        (data[keep], matrix.indices[keep], np.concatenate([[0], np.cumsum(np.bincount(rows[keep], minlength=matrix.shape[0]))])),
        shape=matrix.shape,
    )
    result.has_sorted_indices = True
    return result
