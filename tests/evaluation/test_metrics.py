from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from pocket_recs.evaluation.metrics import hit_matrix, ranking_metrics


def relevant(rows: list[list[int]], n_items: int = 10) -> sp.csr_array:
    data = [(u, i) for u, items in enumerate(rows) for i in items]
    users, items = zip(*data, strict=True) if data else ((), ())
    return sp.csr_array((np.ones(len(data)), (users, items)), shape=(len(rows), n_items))


def test_hand_computed_values() -> None:
    # user 0: relevant {1, 5, 7}; ranked [1, 2, 5] -> hits at ranks 1 and 3
    # user 1: relevant {9};       ranked [3, 4, 9] -> hit at rank 3
    recommended = np.array([[1, 2, 5], [3, 4, 9]])
    truth = relevant([[1, 5, 7], [9]])
    m = ranking_metrics(recommended, truth, [3])
    assert m["users"] == 2
    assert m["recall@3"] == pytest.approx((2 / 3 + 1) / 2)
    assert m["precision@3"] == pytest.approx((2 / 3 + 1 / 3) / 2)
    dcg0, idcg0 = 1 + 1 / math.log2(4), 1 + 1 / math.log2(3) + 1 / math.log2(4)
    dcg1, idcg1 = 1 / math.log2(4), 1.0
    assert m["ndcg@3"] == pytest.approx((dcg0 / idcg0 + dcg1 / idcg1) / 2)
    precision, recall = m["precision@3"], m["recall@3"]
    assert m["f1@3"] == pytest.approx(2 * precision * recall / (precision + recall))
    ap0 = (1 / 1 + 2 / 3) / 3
    ap1 = (1 / 3) / 1
    assert m["map@3"] == pytest.approx((ap0 + ap1) / 2)
    assert m["hitrate@3"] == 1.0
    assert m["mrr@3"] == pytest.approx((1 + 1 / 3) / 2)
    assert m["coverage@3"] == pytest.approx(6 / 10)


def test_recall_denominator_is_all_relevant_items() -> None:
    # LightGCN protocol: 4 relevant, K = 2, both hits -> recall 0.5 (not 1).
    m = ranking_metrics(np.array([[0, 1]]), relevant([[0, 1, 2, 3]]), [2])
    assert m["recall@2"] == 0.5 and m["ndcg@2"] == 1.0 and m["precision@2"] == 1.0


def test_users_without_relevant_items_are_not_averaged() -> None:
    m = ranking_metrics(np.array([[0, 1], [0, 1]]), relevant([[0], []]), [1, 2])
    assert m["users"] == 1 and m["recall@1"] == 1.0


def test_empty_slots_never_hit() -> None:
    hits = hit_matrix(np.array([[-1, 2]]), relevant([[2]], n_items=3))
    assert hits.tolist() == [[False, True]]


def test_k_larger_than_the_list_is_an_error() -> None:
    with pytest.raises(ValueError, match="k=5"):
        ranking_metrics(np.array([[0, 1]]), relevant([[0]]), [5])


@st.composite
def rankings(draw: st.DrawFn) -> tuple[np.ndarray, sp.csr_array]:
    n_users = draw(st.integers(1, 8))
    n_items = 12
    recommended = np.array([draw(st.permutations(range(n_items)))[:6] for _ in range(n_users)])
    rows = [draw(st.lists(st.integers(0, n_items - 1), min_size=1, max_size=5, unique=True)) for _ in range(n_users)]
    return recommended, relevant(rows, n_items)


@settings(max_examples=100)
@given(rankings())
def test_metrics_stay_in_unit_interval(case: tuple[np.ndarray, sp.csr_array]) -> None:
    recommended, truth = case
    for name, value in ranking_metrics(recommended, truth, [1, 3, 6]).items():
        if name != "users":
            assert 0.0 <= value <= 1.0 + 1e-12, name


@settings(max_examples=100)
@given(rankings())
def test_perfect_ranking_reaches_one(case: tuple[np.ndarray, sp.csr_array]) -> None:
    _, truth = case
    perfect = np.full((truth.shape[0], 6), -1)
    for user in range(truth.shape[0]):
        items = truth[[user]].indices
        perfect[user, : len(items)] = items
    m = ranking_metrics(perfect, truth, [5])
    assert m["ndcg@5"] == pytest.approx(1.0)
    assert m["map@5"] == pytest.approx(1.0)
    assert m["hitrate@5"] == 1.0 and m["mrr@5"] == 1.0
    assert m["recall@5"] == pytest.approx(1.0)  # at most 5 relevant items per user
