"""LightGCN through the shared contract, its propagation against a dense reference, and its
training loop (negative sampling, early stopping, the time limit)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from pocket_recs.config import LightGCNConfig
from pocket_recs.models.base import FitContext, Model
from pocket_recs.models.graph import torch_csr
from pocket_recs.models.lightgcn import (
    LightGCNModel,
    bpr_gradient,
    holdout_cells,
    normalized_adjacency,
    propagate,
    sample_negatives,
    validation_recall,
)
from tests.models.contract import PersonalisedContract, block_matrix

FAST = LightGCNConfig(dim=16, layers=2, epochs=40, batch_size=128, learning_rate=0.05, seed=3)


class TestLightGCN(PersonalisedContract):
    def make_model(self) -> Model:
        return LightGCNModel(FAST)


def dense_adjacency(graph: np.ndarray) -> np.ndarray:
    n_users, n_items = graph.shape
    adjacency = np.zeros((n_users + n_items,) * 2)
    adjacency[:n_users, n_users:] = graph
    adjacency[n_users:, :n_users] = graph.T
    degrees = adjacency.sum(1)
    scale = np.where(degrees > 0, 1 / np.sqrt(np.maximum(degrees, 1)), 0.0)
    return scale[:, None] * adjacency * scale[None, :]


def test_adjacency_is_the_symmetric_normalised_bipartite_graph() -> None:
    graph = np.array([[1, 1, 0], [0, 1, 0], [0, 0, 0]], dtype=np.float32)  # user 2 has nothing
    adjacency = normalized_adjacency(sp.csr_array(graph)).toarray()
    np.testing.assert_allclose(adjacency, dense_adjacency(graph), rtol=1e-6)
    # user 0 (degree 2) and item 1 (degree 2): 1 / sqrt(2 * 2)
    assert adjacency[0, 3 + 1] == pytest.approx(0.5)


def test_propagation_matches_a_dense_reference() -> None:
    graph = block_matrix()[0].toarray()
    dense = dense_adjacency(graph)
    sparse = torch_csr(normalized_adjacency(sp.csr_array(graph)))
    start = np.random.default_rng(0).standard_normal((100, 8))
    expected = np.mean([np.linalg.matrix_power(dense, layer) @ start for layer in range(4)], axis=0)
    result = propagate(torch.from_numpy(start.astype(np.float32)), sparse, 3).numpy()
    np.testing.assert_allclose(result, expected, atol=1e-5)


def test_bpr_gradient_matches_autograd_on_a_dense_reference() -> None:
    """The hand-written gradient equals torch's autograd through the dense formula, with users
    and items repeated across the batch and two negatives per triple."""
    graph = block_matrix()[0].toarray()
    dense = torch.from_numpy(dense_adjacency(graph))
    sparse = torch_csr(normalized_adjacency(sp.csr_array(graph)))
    rng = np.random.default_rng(1)
    users = torch.from_numpy(rng.integers(0, 60, 50))
    positives = torch.from_numpy(rng.integers(60, 100, 50))
    negatives = torch.from_numpy(rng.integers(60, 100, (50, 2)))
    start = torch.from_numpy(rng.standard_normal((100, 8)))

    reference = start.clone().requires_grad_(True)
    layers = [reference]
    for _ in range(3):
        layers.append(dense @ layers[-1])
    final = torch.stack(layers).mean(0)
    margins = (final[users][:, None, :] * (final[positives][:, None, :] - final[negatives])).sum(-1)
    penalty = (
        reference[users].pow(2).sum() + reference[positives].pow(2).sum() + reference[negatives].pow(2).sum() / 2
    ) / (2 * 50)
    loss = torch.nn.functional.softplus(-margins).mean() + 0.1 * penalty
    loss.backward()

    ours, gradient = bpr_gradient(start.float(), sparse, 3, (users, positives, negatives), 0.1)
    assert ours == pytest.approx(float(loss.detach()), rel=1e-5)
    np.testing.assert_allclose(gradient.numpy(), reference.grad.numpy(), atol=1e-6)


def test_zero_layers_is_matrix_factorisation() -> None:
    sparse = torch_csr(normalized_adjacency(block_matrix()[0]))
    start = torch.randn(100, 4)
    assert torch.equal(propagate(start, sparse, 0), start)


def test_negatives_are_never_positives() -> None:
    graph = sp.csr_array(np.random.default_rng(0).random((30, 12)) < 0.4, dtype=np.float32)
    users = np.repeat(np.arange(30), np.diff(graph.indptr)).astype(np.int64)
    keys = users * 12 + graph.indices
    negatives = sample_negatives(users, keys, 12, 4, np.random.default_rng(1))
    assert negatives.shape == (len(users), 4)
    dense = graph.toarray()
    assert not dense[users[:, None], negatives].any()


def test_one_step_lowers_the_bpr_loss_of_its_formula() -> None:
    """The loss of a step is softplus(s_neg - s_pos) plus the L2 term, as computed by hand."""
    graph = sp.csr_array(np.array([[1, 0], [0, 1]], dtype=np.float32))
    config = LightGCNConfig(dim=2, layers=0, regularization=0.5, learning_rate=0.1)
    model = LightGCNModel(config)
    embeddings = torch.nn.Parameter(torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5], [1.0, -1.0]]))
    optimizer = torch.optim.SGD([embeddings], lr=0.1)
    adjacency = torch_csr(normalized_adjacency(graph))
    loss = model._step(embeddings, optimizer, adjacency, np.array([0]), np.array([0]), np.array([[1]]), 2)
    # user (1, 0), positive item 0 (0.5, 0.5), negative item 1 (1, -1): 0.5 vs 1.0
    penalty = (1.0 + 0.5 + 2.0) / 2
    assert loss == pytest.approx(np.log1p(np.exp(1.0 - 0.5)) + 0.5 * penalty, rel=1e-6)


def test_validation_recall_by_hand() -> None:
    users = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    items = np.array([[3.0, 0.0], [2.0, 0.0], [0.0, 1.0], [1.0, 0.0]], dtype=np.float32)
    train = sp.csr_array(np.array([[1, 0, 0, 0], [0, 0, 0, 0]], dtype=np.float32))
    validation = sp.csr_array(np.array([[0, 1, 0, 1], [0, 0, 0, 1]], dtype=np.float32))
    # user 0 ranks 1, 3, 2 (item 0 seen): recall@1 = 1/2; user 1 has no training history
    assert validation_recall(users, items, train, validation, 1) == pytest.approx(0.5)
    assert validation_recall(users, items, train, validation, 2) == pytest.approx(1.0)


def test_early_stopping_keeps_the_best_epoch() -> None:
    matrix, _, _ = block_matrix()
    rng = np.random.default_rng(0)
    held = rng.random(matrix.nnz) < 0.2
    cells = matrix.tocoo()
    train = sp.csr_array((cells.data[~held], (cells.row[~held], cells.col[~held])), shape=matrix.shape)
    validation = sp.csr_array((cells.data[held], (cells.row[held], cells.col[held])), shape=matrix.shape)
    config = FAST.model_copy(update={"epochs": 500, "eval_every": 2, "patience": 3, "learning_rate": 0.2})
    seen: list[dict[str, object]] = []
    model = LightGCNModel(config, monitor=lambda m, record: seen.append(record))
    model.fit(train, context=FitContext(validation=validation))
    recalls = [record["recall@20"] for record in model.info_["history"]]
    assert model.info_["stopped_by"] == "early stopping" and model.info_["epochs"] < 500
    assert model.info_["validation_recall"] == pytest.approx(max(recalls), abs=1e-5)
    assert recalls[-3:] < [max(recalls)] * 3  # the last 3 rounds brought no gain
    assert len(seen) == len(recalls)
    best = model.info_["best_epoch"]
    # the kept factors are those of the best epoch: their recall is the best recall
    recall = validation_recall(model.user_factors_, model.item_factors_, train, validation, 20)
    assert recall == pytest.approx(max(recalls), abs=1e-5) and best % 2 == 0


def test_time_limit_stops_training() -> None:
    config = FAST.model_copy(update={"epochs": 100_000, "max_minutes": 0.001})
    model = LightGCNModel(config).fit(block_matrix()[0])
    assert model.info_["stopped_by"] == "max_minutes" and model.info_["epochs"] < 100_000


def test_another_seed_gives_other_embeddings() -> None:
    matrix = block_matrix()[0]
    first = LightGCNModel(FAST).fit(matrix).item_factors_
    second = LightGCNModel(FAST.model_copy(update={"seed": 4})).fit(matrix).item_factors_
    assert not np.allclose(first, second)


def test_holdout_cells_cuts_a_share_of_each_users_cells() -> None:
    dense = (np.random.default_rng(2).random((40, 30)) < 0.3).astype(np.float32)
    dense[0] = 0
    dense[0, 3] = 1.0  # a user with one cell keeps it
    graph = sp.csr_array(dense)
    train, held = holdout_cells(graph, 0.2, np.random.default_rng(0))
    np.testing.assert_array_equal((train + held).toarray(), graph.toarray())
    assert not (train.multiply(held)).nnz
    counts, held_counts = np.diff(graph.indptr), np.diff(held.indptr)
    expected = np.where(counts >= 2, np.maximum(1, np.floor(counts * 0.2)), 0)
    np.testing.assert_array_equal(held_counts, expected)


def test_own_validation_part_then_refit_on_every_cell() -> None:
    config = FAST.model_copy(update={"epochs": 60, "eval_every": 2, "patience": 2, "validation_fraction": 0.2})
    model = LightGCNModel(config).fit(block_matrix()[0])
    first = model.info_["validation_run"]
    assert first["stopped_by"] in ("early stopping", "epochs") and "validation_recall" in first
    assert model.info_["epochs"] == first["best_epoch"] and "validation_recall" not in model.info_
    without_refit = LightGCNModel(config.model_copy(update={"refit": False})).fit(block_matrix()[0])
    assert without_refit.info_["epochs"] == first["epochs"]
    assert without_refit.info_["validation_recall"] == first["validation_recall"]


def test_learning_rate_decay_shrinks_later_steps() -> None:
    matrix = block_matrix()[0]
    frozen = FAST.model_copy(update={"learning_rate_decay": 1e-9})  # only epoch 1 moves anything
    after_one = LightGCNModel(frozen.model_copy(update={"epochs": 1})).fit(matrix).item_factors_
    after_five = LightGCNModel(frozen.model_copy(update={"epochs": 5})).fit(matrix).item_factors_
    np.testing.assert_allclose(after_five, after_one, atol=1e-6)
    constant = LightGCNModel(FAST.model_copy(update={"epochs": 5})).fit(matrix).item_factors_
    assert not np.allclose(constant, after_one, atol=1e-3)
