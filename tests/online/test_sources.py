"""Candidate sources and the blend, on hand-made numbers."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from pocket_recs.online.sources import Source, blend, group_order, lookup, sparse_source


def test_sparse_source_sums_per_item_and_keeps_the_strongest_driver() -> None:
    source = sparse_source(np.array([5, 2, 5, 5]), np.array([1.0, 4.0, 3.0, 0.5]), np.array([10, 11, 12, 13]))
    assert source.items.tolist() == [2, 5] and source.scores.tolist() == [4.0, 4.5]
    assert source.driver_of(2) == 11 and source.driver_of(5) == 12 and source.driver_of(7) == -1
    tied = sparse_source(np.array([4, 4]), np.array([2.0, 2.0]), np.array([20, 21]))
    assert tied.driver_of(4) == 20  # equal amounts: the first one


def test_blend_scales_each_source_to_its_maximum() -> None:
    candidates = np.array([1, 2, 3])
    covis = Source(np.array([1, 2]), np.array([2.0, 4.0], np.float32))
    popularity = Source(np.array([3]), np.zeros(0, np.float32), score_of=lambda items: items * 10.0)
    total, parts = blend({"covis": covis, "popularity": popularity}, candidates, {"covis": 1.0, "popularity": 0.5})
    np.testing.assert_allclose(parts["covis"], [0.5, 1.0, 0.0])
    np.testing.assert_allclose(parts["popularity"], [0.5 * 10 / 30, 0.5 * 20 / 30, 0.5])
    np.testing.assert_allclose(total, parts["covis"] + parts["popularity"])
    assert "covis" not in blend({"covis": covis}, np.array([3]), {"covis": 1.0})[1]  # all zero: left out


def test_group_order_lists_each_groups_items_most_popular_first() -> None:
    codes = np.array([1, 0, 1, -1, 1, 0])
    popularity = np.array([0.1, 0.5, 0.9, 1.0, 0.9, 0.2])
    order, starts = group_order(codes, popularity)
    assert order[starts[0] : starts[1]].tolist() == [1, 5]
    assert order[starts[1] : starts[2]].tolist() == [2, 4, 0]  # ties by index; item 3 has no group


@given(st.lists(st.integers(0, 50), unique=True), st.lists(st.integers(0, 60)))
def test_lookup_finds_exactly_the_stored_keys(keys: list[int], wanted: list[int]) -> None:
    stored = np.array(sorted(keys), dtype=np.int64)
    values = stored * 2.0
    found = lookup(stored, values, np.array(wanted, dtype=np.int64), -1.0)
    assert found.tolist() == [2.0 * w if w in keys else -1.0 for w in wanted]
