from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from pocket_recs.config import MatrixConfig
from pocket_recs.data.idmap import IdMap
from pocket_recs.data.matrix import build_user_items, k_core, keep_top_k, rating_preferences
from pocket_recs.data.tables import Interactions
from pocket_recs.errors import DataValidationError

WEIGHTS = {"view": 1.0, "purchase": 5.0, "rating": 1.0}


def log(rows: list[tuple[int, int, int, str, float]], n_users: int = 4, n_items: int = 5) -> Interactions:
    users, items, times, events, values = zip(*rows, strict=True)
    names = ("view", "purchase", "rating")
    return Interactions(
        user_idx=np.array(users, np.int32),
        item_idx=np.array(items, np.int32),
        timestamp_ms=np.array(times, np.int64),
        event_idx=np.array([names.index(e) for e in events], np.int8),
        value=np.array(values, np.float32),
        users=IdMap(np.arange(n_users), kind="user"),
        items=IdMap(np.arange(n_items)),
        event_names=names,
    )


ROWS = [
    (0, 0, 1, "view", np.nan),
    (0, 0, 2, "purchase", np.nan),
    (0, 1, 3, "view", np.nan),
    (1, 1, 4, "rating", 4.5),
    (1, 2, 5, "rating", 2.0),
    (1, 2, 9, "rating", 3.5),
    (2, 3, 6, "view", np.nan),
]


def test_event_weights_sum_by_default() -> None:
    matrix = build_user_items(log(ROWS), event_weights=WEIGHTS).matrix.toarray()
    assert matrix[0].tolist() == [6, 1, 0, 0, 0]  # view 1 + purchase 5
    assert matrix[1].tolist() == [0, 1, 2, 0, 0]  # ratings count their event weight (1)
    assert matrix.dtype == np.float32


def test_preference_mode_and_last_aggregation() -> None:
    config = MatrixConfig(value_mode="preference", aggregate="last")
    matrix = build_user_items(log(ROWS), config, event_weights=WEIGHTS).matrix.toarray()
    # user 1: 4.5 -> +2; item 2 rated 2.0 (-> -2) then 3.5 (-> +1): the last one counts
    assert matrix[1].tolist() == [0, 2, 1, 0, 0]
    assert matrix[0].tolist() == [5, 1, 0, 0, 0]  # no rating: last event's weight (purchase 5)


def test_multiply_and_max() -> None:
    config = MatrixConfig(value_mode="multiply", aggregate="max")
    matrix = build_user_items(log(ROWS), config, event_weights=WEIGHTS).matrix.toarray()
    assert matrix[1].tolist() == [0, 4.5, 3.5, 0, 0]
    assert matrix[0, 0] == 5


def test_rating_buckets() -> None:
    ratings = np.array([0.5, 1, 2, 2.5, 3, 3.5, 4, 4.5, 5])
    assert rating_preferences(ratings, (2, 3, 4)).tolist() == [-2, -2, -2, -1, -1, 1, 1, 2, 2]


def test_binary_drops_negatives() -> None:
    config = MatrixConfig(value_mode="preference", aggregate="last", binary=True)
    rows = ROWS + [(3, 4, 10, "rating", 1.0)]
    matrix = build_user_items(log(rows), config, event_weights=WEIGHTS).matrix
    assert set(matrix.data.tolist()) == {1.0}
    assert matrix[[3]].nnz == 0


def test_k_core_is_iterative() -> None:
    # item 3 has one user (2); dropping it leaves user 2 with nothing; then item 1 has users 0, 1.
    import scipy.sparse as sp

    dense = np.array([[1, 1, 0, 0], [1, 1, 1, 0], [0, 0, 0, 1], [1, 0, 1, 0]], dtype=np.float32)
    filtered = k_core(sp.csr_array(dense), min_user=2, min_item=2).toarray()
    assert filtered[2].sum() == 0 and filtered[:, 3].sum() == 0
    assert filtered[0].tolist() == [1, 1, 0, 0]


@settings(max_examples=100)
@given(st.integers(1, 4), st.integers(1, 4), st.integers(0, 2**31 - 1))
def test_k_core_result_satisfies_both_minimums(min_user: int, min_item: int, seed: int) -> None:
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    matrix = sp.csr_array((rng.random((12, 10)) < 0.3).astype(np.float32))
    filtered = k_core(matrix, min_user=min_user, min_item=min_item)
    user_counts = np.diff(filtered.indptr)
    item_counts = np.bincount(filtered.indices, minlength=10)
    assert np.all((user_counts == 0) | (user_counts >= min_user))
    assert np.all((item_counts == 0) | (item_counts >= min_item))
    assert filtered.multiply(matrix).nnz == filtered.nnz  # only removes


def test_too_strict_filtering_says_what_to_lower() -> None:
    with pytest.raises(DataValidationError, match=r"not enough users/items: 0 users and 0 items remain .* lower min_item_interactions"):
        build_user_items(log(ROWS), MatrixConfig(min_item_interactions=5), event_weights=WEIGHTS)
    with pytest.raises(DataValidationError, match=r"lower min_user_interactions"):
        build_user_items(log(ROWS), MatrixConfig(min_user_interactions=9), event_weights=WEIGHTS)


def test_keep_top_k_breaks_ties_by_smaller_item() -> None:
    matrix = sp.csr_array(np.array([[0, 2, 2, 2, 1], [1, 0, 0, 0, 0]], dtype=np.float32))
    kept = keep_top_k(matrix, 2).toarray()
    assert kept[0].tolist() == [0, 2, 2, 0, 0]
    assert kept[1].tolist() == [1, 0, 0, 0, 0]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.lists(st.integers(0, 4), min_size=6, max_size=6), min_size=1, max_size=6),
    st.integers(1, 7),
)
def test_keep_top_k_keeps_each_rows_k_largest(rows: list[list[int]], top_k: int) -> None:
    # Small integer values make ties common; the reference ranks a row by value, then column.
    dense = np.array(rows, dtype=np.float32)
    kept = keep_top_k(sp.csr_array(dense), top_k)
    assert kept.has_sorted_indices and kept.dtype == np.float32
    expected = np.zeros_like(dense)
    for r, row in enumerate(dense):
        ranked = sorted((c for c in range(len(row)) if row[c] > 0), key=lambda c: (-row[c], c))
        expected[r, ranked[:top_k]] = row[ranked[:top_k]]
    np.testing.assert_array_equal(kept.toarray(), expected)
