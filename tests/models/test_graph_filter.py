"""The graph filter through the shared contract, and against dense numpy reference computations."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from pocket_recs.config import GraphFilterConfig
from pocket_recs.models.base import Model
from pocket_recs.models.graph_filter import (
    GraphFilterModel,
    compress,
    item_graph,
    rk4_polynomial,
    strongest_per_row,
    truncated_svd,
)
from tests.models.contract import PersonalisedContract, block_matrix


def dense_parts(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """R~, P = R~^T R~ and the item degrees of a binary matrix, computed densely."""
    user_degrees, item_degrees = matrix.sum(1), matrix.sum(0)
    with np.errstate(divide="ignore"):
        du = np.where(user_degrees > 0, user_degrees**-0.5, 0.0)
        di = np.where(item_degrees > 0, item_degrees**-0.5, 0.0)
    normalized = du[:, None] * matrix * di[None, :]
    return normalized, normalized.T @ normalized, item_degrees


def rk4(y: np.ndarray, p: np.ndarray, time_: float, steps: int) -> np.ndarray:
    """Plain RK4 integration of dy/dt = -y P (rows of y), as BSPM's torchdiffeq call does."""
    h = time_ / steps
    for _ in range(steps):
        k1 = -y @ p
        k2 = -(y + h / 2 * k1) @ p
        k3 = -(y + h / 2 * k2) @ p
        k4 = -(y + h * k3) @ p
        y = y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return y


def bspm_reference(matrix: np.ndarray, k: int, beta: float, time_: float, steps: int) -> np.ndarray:
    """BSPM's scores, dense: (r P + beta r D^-1/2 V V^T D^1/2) sharpened by RK4."""
    normalized, p, item_degrees = dense_parts(matrix)
    v = np.linalg.svd(normalized)[2][:k].T
    with np.errstate(divide="ignore"):
        di_inv = np.where(item_degrees > 0, item_degrees**-0.5, 0.0)
    ideal = (matrix * di_inv) @ v @ v.T * np.sqrt(item_degrees)
    return rk4(matrix @ p + beta * ideal, p, time_, steps)


class TestGraphFilter(PersonalisedContract):
    def make_model(self) -> Model:
        return GraphFilterModel(GraphFilterConfig(factors=8))


def test_full_spectrum_equals_bspm_computed_densely() -> None:
    """With every singular vector kept there is no tail: the filter is BSPM exactly."""
    matrix = block_matrix()[0]
    config = GraphFilterConfig(
        factors=40, ideal_weight=0.3, sharpen_time=2.5, sharpen_steps=2, max_neighbours=None,
        rank=80, svd_iterations=3,
    )
    model = GraphFilterModel(config).fit(matrix)
    expected = bspm_reference(matrix.toarray().astype(np.float64), 40, 0.3, 2.5, 2)
    np.testing.assert_allclose(model.score(np.arange(60)), expected, atol=2e-4 * np.abs(expected).max())


def test_truncated_spectrum_matches_its_formula() -> None:
    """k < items: sharpened exactly on the top-k spectrum, P scaled by tail_weight elsewhere."""
    matrix = block_matrix(seed=4)[0]
    x = matrix.toarray().astype(np.float64)
    normalized, p, item_degrees = dense_parts(x)
    _, s, vt = np.linalg.svd(normalized)
    v, eigen = vt[:10].T, s[:10] ** 2
    beta, tail, time_ = 0.2, 0.6, 2.0
    sharpen = 1 - time_ * eigen + (time_ * eigen) ** 2 / 2 - (time_ * eigen) ** 3 / 6 + (time_ * eigen) ** 4 / 24
    linear = tail * x @ p + (x @ v) * (eigen * sharpen - tail * eigen) @ v.T
    ideal = rk4((x * item_degrees**-0.5) @ v @ v.T * np.sqrt(item_degrees), p, time_, 1)
    expected = linear + beta * ideal
    config = GraphFilterConfig(
        factors=10, ideal_weight=beta, tail_weight=tail, sharpen_time=time_, max_neighbours=None,
        rank=20, svd_iterations=20,
    )
    model = GraphFilterModel(config).fit(matrix)
    np.testing.assert_allclose(model.score(np.arange(60)), expected, atol=1e-3 * np.abs(expected).max())


def test_no_sharpening_and_full_tail_is_gf_cf() -> None:
    matrix = block_matrix(seed=2)[0]
    x = matrix.toarray().astype(np.float64)
    normalized, p, item_degrees = dense_parts(x)
    v = np.linalg.svd(normalized)[2][:6].T
    expected = x @ p + 0.3 * (x * item_degrees**-0.5) @ v @ v.T * np.sqrt(item_degrees)
    config = GraphFilterConfig(
        factors=6, ideal_weight=0.3, tail_weight=1.0, sharpen_time=0.0, max_neighbours=None,
        rank=12, svd_iterations=20,
    )
    model = GraphFilterModel(config).fit(matrix)
    np.testing.assert_allclose(model.score(np.arange(60)), expected, atol=1e-4 * np.abs(expected).max())


def test_negative_cells_are_not_edges() -> None:
    matrix, _, _ = block_matrix()
    disliked = matrix.tolil()
    disliked[0, 30] = -2.0
    config = GraphFilterConfig(factors=8)
    plain = GraphFilterModel(config).fit(matrix)
    with_dislike = GraphFilterModel(config).fit(sp.csr_array(disliked))
    np.testing.assert_allclose(with_dislike.score(np.arange(60)), plain.score(np.arange(60)), atol=1e-5)


def test_history_scores_equal_the_trained_rows() -> None:
    matrix = block_matrix()[0]
    model = GraphFilterModel(GraphFilterConfig(factors=8)).fit(matrix)
    row = matrix[[5]]
    np.testing.assert_allclose(model.score_history(row.indices, row.data), model.score(5)[0], atol=1e-6)


def test_rk4_polynomial_is_what_rk4_does_to_a_scalar() -> None:
    x = np.array([0.0, 0.1, 0.5, 1.0])
    for steps in (1, 3):
        expected = np.array([rk4(np.ones((1, 1)), np.array([[value]]), 2.5, steps)[0, 0] for value in x])
        np.testing.assert_allclose(rk4_polynomial(x, 2.5, steps), expected, rtol=1e-12)
    np.testing.assert_array_equal(rk4_polynomial(x, 0.0, 1), np.ones(4))


def test_truncated_svd_matches_numpy() -> None:
    matrix = sp.csr_array(np.random.default_rng(0).random((50, 30)) < 0.2, dtype=np.float32)
    singular, vectors = truncated_svd(matrix, 5, oversampling=10, iterations=15, seed=1)
    _, s, vt = np.linalg.svd(matrix.toarray().astype(np.float64))
    np.testing.assert_allclose(singular, s[:5], rtol=1e-4)
    np.testing.assert_allclose(vectors @ vectors.T, vt[:5].T @ vt[:5], atol=1e-4)


def test_strongest_per_row_keeps_the_largest_entries() -> None:
    dense = np.array([[5, 1, 0, 3, 4], [0, 2, 0, 0, 0], [1, 2, 3, 4, 5], [0, 0, 0, 0, 0]], dtype=np.float32)
    kept = strongest_per_row(sp.csr_array(dense), 2).toarray()
    np.testing.assert_array_equal(
        kept, [[5, 0, 0, 0, 4], [0, 2, 0, 0, 0], [0, 0, 0, 4, 5], [0, 0, 0, 0, 0]]
    )


def test_item_graph_is_the_gram_matrix_cut_per_row(monkeypatch: pytest.MonkeyPatch) -> None:
    from pocket_recs.models import graph_filter

    monkeypatch.setattr(graph_filter, "NEIGHBOUR_BLOCK", 7)  # several blocks
    monkeypatch.setattr(graph_filter, "TOPK_ROWS", 3)
    matrix = block_matrix()[0].toarray().astype(np.float64)
    normalized, p, _ = dense_parts(matrix)
    full = item_graph(sp.csr_array(normalized.astype(np.float32)), max_neighbours=None)
    np.testing.assert_allclose(full.toarray(), p, atol=1e-6)
    cut = item_graph(sp.csr_array(normalized.astype(np.float32)), max_neighbours=4).toarray()
    assert (np.count_nonzero(cut, axis=1) <= 4).all()
    for row in range(40):
        np.testing.assert_allclose(np.sort(cut[row][cut[row] > 0]), np.sort(p[row])[-4:], atol=1e-6)


def test_compress_is_the_best_low_rank_approximation() -> None:
    rng = np.random.default_rng(3)
    left, right = rng.standard_normal((40, 12)).astype(np.float32), rng.standard_normal((12, 30)).astype(np.float32)
    new_left, new_right = compress(left, right, 5)
    u, s, vt = np.linalg.svd(left.astype(np.float64) @ right)
    np.testing.assert_allclose(new_left @ new_right, (u[:, :5] * s[:5]) @ vt[:5], atol=1e-3)
