"""LightGCN (He et al., SIGIR 2020) trained with BPR in PyTorch on the CPU.

Users and items are the nodes of one bipartite graph with the symmetric-normalised adjacency
A~ = D^-1/2 A D^-1/2 (A has an edge for every positive cell of ``user_items``). Layer-0
embeddings E0 are the only parameters; layer l is E_l = A~ E_(l-1), and the final embedding of a
node is the mean of its layers 0..L. A user's score for an item is the dot product of their
final embeddings, trained with the BPR loss on (user, positive, sampled negative) triples plus an
L2 penalty on the triples' layer-0 embeddings.

On a CPU the full-graph propagation dominates each step and costs the same whatever the batch
size, so training uses large batches (65,536 triples by default) with Adam.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from pocket_recs.config import LightGCNConfig
from pocket_recs.models.base import SCORE_BATCH_CELLS, FitContext, mask_rows, top_k
from pocket_recs.models.factors import FactorModel
from pocket_recs.models.graph import inverse_sqrt, positive_graph, torch_csr
from pocket_recs.progress import Progress, progress_task

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

NEGATIVE_REDRAWS = 20
"""Rounds of redrawing negatives that hit a positive before the rest are accepted as they are."""

EpochMonitor = Callable[["LightGCNModel", dict[str, Any]], None]
"""Called after each validation round (or every ``eval_every`` epochs without validation) with
the model, whose factors are then the current ones, and that epoch's record."""


def normalized_adjacency(graph: sp.csr_array) -> sp.csr_array:
    """A~ = D^-1/2 [[0, R], [R^T, 0]] D^-1/2 of a binary users x items graph R: a square
    float32 CSR over users (first) and items, symmetric."""
    n_users, n_items = graph.shape
    degrees = np.concatenate([np.diff(graph.indptr), np.bincount(graph.indices, minlength=n_items)])
    adjacency = sp.csr_array(sp.bmat([[None, graph], [graph.T, None]], format="csr"), dtype=np.float32)
    scale = inverse_sqrt(degrees)
    rows = np.repeat(np.arange(n_users + n_items), np.diff(adjacency.indptr))
    adjacency.data = (adjacency.data * scale[rows] * scale[adjacency.indices]).astype(np.float32)
    adjacency.sort_indices()
    return adjacency


def propagate(embeddings: torch.Tensor, adjacency: torch.Tensor, layers: int) -> torch.Tensor:
    """The mean of layers 0..``layers`` of E_l = A~ E_(l-1): S E with S = mean_l A~^l.

    A~ is symmetric, so S is too, and the same call maps a gradient with respect to the final
    embeddings back to the layer-0 embeddings.
    """
    total, layer = embeddings, embeddings
    for _ in range(layers):
        layer = adjacency @ layer
        total = total + layer
    return total / (layers + 1)


def bpr_gradient(
    embeddings: torch.Tensor,
    adjacency: torch.Tensor,
    layers: int,
    rows: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    regularization: float,
) -> tuple[float, torch.Tensor]:
    """The LightGCN BPR loss of a batch and its gradient with respect to the layer-0 embeddings.

    loss = mean over (u, i, j) of softplus(f_u.f_j - f_u.f_i)
           + regularization * (|e_u|^2 + |e_i|^2 + mean_j |e_j|^2) summed over the batch / (2 b)
    with F = S E (``propagate``). The gradient is computed by hand: dL/dF gathered into the
    batch's rows with ``index_add_`` (deterministic on the CPU, unlike autograd's indexing
    backward), then S dL/dF since S is symmetric.

    Args:
        embeddings: (n_nodes, dim) layer-0 embeddings E.
        rows: int64 node rows of the users (b,), positive items (b,) and negatives (b, m).

    Returns:
        the loss and the (n_nodes, dim) gradient.
    """
    import torch

    users, positives, negatives = rows
    batch, count = negatives.shape
    final = propagate(embeddings, adjacency, layers)
    user_vectors, positive_vectors = final[users], final[positives]
    negative_vectors = final[negatives.reshape(-1)].reshape(batch, count, -1)
    differences = positive_vectors[:, None, :] - negative_vectors  # (b, m, d)
    margins = torch.einsum("bd,bmd->bm", user_vectors, differences)
    ranking = torch.nn.functional.softplus(-margins).mean()
    slopes = -torch.sigmoid(-margins) / margins.numel()  # d ranking / d margin
    gradient = torch.zeros_like(final)
    gradient.index_add_(0, users, torch.einsum("bm,bmd->bd", slopes, differences))
    gradient.index_add_(0, positives, slopes.sum(dim=1, keepdim=True) * user_vectors)
    gradient.index_add_(0, negatives.reshape(-1), (-slopes[:, :, None] * user_vectors[:, None, :]).reshape(batch * count, -1))
    gradient = propagate(gradient, adjacency, layers)
    penalty = 0.0
    for node_rows, weight in ((users, 1.0), (positives, 1.0), (negatives.reshape(-1), 1.0 / count)):
        selected = embeddings[node_rows]
        penalty += weight * float(selected.pow(2).sum())
        gradient.index_add_(0, node_rows, selected * (regularization * weight / batch))
    return float(ranking) + regularization * penalty / (2 * batch), gradient


def sample_negatives(
    users: np.ndarray, keys: np.ndarray, n_items: int, count: int, rng: np.random.Generator
) -> np.ndarray:
    """int64 (len(users), count) items drawn uniformly, redrawn while they are one of the user's
    positives (``keys``: sorted user * n_items + item of every positive cell)."""
    negatives = rng.integers(0, n_items, size=(len(users), count))
    user_keys = users[:, None] * n_items
    for _ in range(NEGATIVE_REDRAWS):
        wanted = user_keys + negatives
        position = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
        hit = keys[position] == wanted
        if not hit.any():
            break
        negatives[hit] = rng.integers(0, n_items, size=int(hit.sum()))
    return negatives


def holdout_cells(
    graph: sp.csr_array, fraction: float, rng: np.random.Generator
) -> tuple[sp.csr_array, sp.csr_array]:
    """Split a binary graph's cells into training and validation cells: per user with at least
    2 cells, a random ``fraction`` of them (at least 1) is held out, as ``holdout_validation``
    does for events.

    Returns:
        the training cells and the held-out cells, both (n_users, n_items) CSR.
    """
    lengths = np.diff(graph.indptr)
    rank = np.empty(graph.nnz, dtype=np.int64)
    order = np.lexsort((rng.random(graph.nnz), np.repeat(np.arange(graph.shape[0]), lengths)))
    rank[order] = np.arange(graph.nnz) - np.repeat(graph.indptr[:-1], lengths)
    count = np.repeat(lengths, lengths)
    held = (count >= 2) & (rank < np.maximum(1, np.floor(count * fraction)))
    rows = np.repeat(np.arange(graph.shape[0]), lengths)
    parts = []
    for mask in (~held, held):
        parts.append(sp.csr_array(
            (graph.data[mask], (rows[mask], graph.indices[mask])), shape=graph.shape, dtype=np.float32
        ))
    return parts[0], parts[1]


def validation_recall(
    user_factors: np.ndarray,
    item_factors: np.ndarray,
    train: sp.csr_array,
    validation: sp.csr_array,
    k: int,
) -> float:
    """Mean recall@k over users with validation cells and training history, every item
    ranked, training items excluded (the evaluation protocol of ``pocket-recs evaluate``)."""
    relevant = sp.csr_array(validation > 0, dtype=np.float32)
    relevant = sp.csr_array(relevant - relevant.multiply(train != 0))
    relevant.eliminate_zeros()
    users = np.flatnonzero((np.diff(relevant.indptr) > 0) & (np.diff(train.indptr) > 0))
    if not len(users):
        return 0.0
    batch = max(1, SCORE_BATCH_CELLS // max(item_factors.shape[0], 1))
    total = 0.0
    for start in range(0, len(users), batch):
        chunk = users[start : start + batch]
        scores = user_factors[chunk] @ item_factors.T
        mask_rows(scores, train, chunk)
        top, _ = top_k(scores, k)
        wanted = relevant[chunk]
        hits = wanted[np.repeat(np.arange(len(chunk)), k), top.ravel()].reshape(len(chunk), k)
        hits[top < 0] = 0
        total += float((np.asarray(hits).sum(axis=1) / np.diff(wanted.indptr)).sum())
    return total / len(users)


@contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
    import torch

    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class LightGCNModel(FactorModel):
    """LightGCN embeddings; ``user_factors_`` and ``item_factors_`` are the final (layer-mean)
    embeddings, so scores are their dot products and the Recommender's fold-in and cf index
    work as for ALS.

    With ``FitContext.validation`` it ranks the validation users every ``eval_every`` epochs,
    keeps the embeddings of the best recall@``eval_k`` and stops after ``patience`` rounds
    without improvement; without it, it trains ``epochs`` epochs (or ``max_minutes``).

    Args:
        config: the settings.
        monitor: called after each validation round with the model (its factors then the
            current ones) and the epoch's record; its own time is not counted as training.
    """

    name = "lightgcn"

    def __init__(self, config: LightGCNConfig | None = None, *, monitor: EpochMonitor | None = None) -> None:
        super().__init__(config or LightGCNConfig())
        self.monitor = monitor
        self.history_: list[dict[str, Any]] = []
        self._item_degrees: np.ndarray | None = None

    def user_vector(self, items: np.ndarray, values: np.ndarray) -> np.ndarray:
        """float32 (dim,): a history's vector the way LightGCN's first layer aggregates a
        user's items, sum_i v_i e_i / sqrt(d_i) / sqrt(sum_i |v_i|) (d_i the item's training
        degree, e_i its final embedding; seed 002's "user embedding = average of the items'
        embeddings"); a negative preference pushes the vector away from the item."""
        assert self.item_factors_ is not None
        if self._item_degrees is None:
            positive = positive_graph(self._fitted())
            self._item_degrees = np.bincount(positive.indices, minlength=self.n_items).astype(np.float32)
        items = np.asarray(items, dtype=np.int64)
        values = np.asarray(values, dtype=np.float32)
        weights = values * inverse_sqrt(np.maximum(self._item_degrees[items], 1.0))
        scale = float(np.sqrt(max(float(np.abs(values).sum()), 1e-12)))
        return np.asarray(weights @ self.item_factors_[items] / scale, dtype=np.float32)

    def _fit(self, user_items: sp.csr_array, *, progress: Progress | None, context: FitContext) -> None:
        config = self.config
        assert isinstance(config, LightGCNConfig)
        graph = positive_graph(user_items)
        rng = np.random.default_rng(config.seed)
        self.history_ = []
        validation = None if context.validation is None else sp.csr_array(context.validation)
        with _torch_threads(config.threads):
            if validation is None and config.validation_fraction > 0:
                train, validation = holdout_cells(graph, config.validation_fraction, rng)
                run = self._train(train, validation, config.epochs, rng, progress, "lightgcn (validation)")
                self.info_["validation_fraction"] = config.validation_fraction
                if config.refit:
                    self.info_["validation_run"] = run
                    run = self._train(graph, None, run["best_epoch"], rng, progress, "lightgcn (refit)")
            else:
                run = self._train(graph, validation, config.epochs, rng, progress, "lightgcn")
        self.info_.update(run)
        self.info_["history"] = [record for record in self.history_ if f"recall@{config.eval_k}" in record]
        logger.info(
            "lightgcn: %d epochs (%s) in %.1f min, dim %d, %d layers%s",
            run["epochs"], run["stopped_by"], run["training_minutes"], config.dim, config.layers,
            "" if "validation_recall" not in run
            else f", best validation recall@{config.eval_k} {run['validation_recall']:.4f} at epoch {run['best_epoch']}",
        )

    def _train(
        self,
        graph: sp.csr_array,
        validation: sp.csr_array | None,
        epochs: int,
        rng: np.random.Generator,
        progress: Progress | None,
        label: str,
    ) -> dict[str, Any]:
        """Train from new random embeddings on ``graph`` for up to ``epochs`` epochs; set the
        factors (with ``validation``: those of the best validation round) and return a summary:
        epochs, stopped_by, training_minutes, final_loss, best_epoch, validation_recall."""
        import torch

        config = self.config
        assert isinstance(config, LightGCNConfig)
        n_users, n_items = graph.shape
        cell_users = np.repeat(np.arange(n_users, dtype=np.int64), np.diff(graph.indptr))
        cell_items = graph.indices.astype(np.int64)
        keys = cell_users * n_items + cell_items  # sorted: CSR rows in order, sorted indices
        steps = max(1, math.ceil(len(cell_users) / config.batch_size))
        adjacency = torch_csr(normalized_adjacency(graph))
        generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
        start = torch.randn(n_users + n_items, config.dim, generator=generator) * config.init_std
        embeddings = torch.nn.Parameter(start)
        optimizer = torch.optim.Adam([embeddings], lr=config.learning_rate)
        best: tuple[float, int, np.ndarray, np.ndarray] | None = None
        rounds_without_gain = 0
        training_seconds = 0.0
        epoch = 0
        stop_reason = "epochs"
        loss = float("nan")
        with progress_task(progress, label, total=epochs) as task:
            for epoch in range(1, epochs + 1):
                started = time.perf_counter()
                loss_sum = 0.0
                if len(cell_users):
                    order = rng.permutation(len(cell_users))
                    for step in range(steps):
                        batch = order[step * config.batch_size : (step + 1) * config.batch_size]
                        loss_sum += self._step(
                            embeddings, optimizer, adjacency, cell_users[batch], cell_items[batch],
                            sample_negatives(cell_users[batch], keys, n_items, config.negatives, rng),
                            n_users,
                        )
                loss = loss_sum / steps
                for group in optimizer.param_groups:
                    group["lr"] *= config.learning_rate_decay
                record: dict[str, Any] = {"epoch": epoch, "loss": loss}
                check = epoch % config.eval_every == 0 or epoch == epochs
                if check and (validation is not None or self.monitor is not None):
                    self._set_factors(embeddings, adjacency, n_users)
                if check and validation is not None:
                    assert self.user_factors_ is not None and self.item_factors_ is not None
                    recall = validation_recall(
                        self.user_factors_, self.item_factors_, graph, validation, config.eval_k
                    )
                    record[f"recall@{config.eval_k}"] = recall
                    if best is None or recall > best[0]:
                        best = (recall, epoch, self.user_factors_, self.item_factors_)
                        rounds_without_gain = 0
                    else:
                        rounds_without_gain += 1
                training_seconds += time.perf_counter() - started
                record["minutes"] = training_seconds / 60
                self.history_.append(record)
                task.advance(1, **{key: value for key, value in record.items() if key != "epoch"})
                if check and self.monitor is not None:
                    self.monitor(self, record)
                if rounds_without_gain >= config.patience:
                    stop_reason = "early stopping"
                    break
                if config.max_minutes is not None and training_seconds >= config.max_minutes * 60:
                    stop_reason = "max_minutes"
                    break
        summary: dict[str, Any] = {
            "epochs": epoch,
            "stopped_by": stop_reason,
            "training_minutes": round(training_seconds / 60, 3),
            "final_loss": round(loss, 6),
            "best_epoch": epoch,
        }
        if best is not None:
            recall, summary["best_epoch"], self.user_factors_, self.item_factors_ = best
            summary["validation_recall"] = round(recall, 5)
            self._item_degrees = None
        else:
            self._set_factors(embeddings, adjacency, n_users)
        return summary

    def _step(
        self,
        embeddings: torch.Tensor,
        optimizer: torch.optim.Optimizer,
        adjacency: torch.Tensor,
        users: np.ndarray,
        positives: np.ndarray,
        negatives: np.ndarray,
        n_users: int,
    ) -> float:
        """One Adam step on the BPR loss of a batch of triples; returns the loss."""
        import torch

        config = self.config
        assert isinstance(config, LightGCNConfig)
        rows = (
            torch.from_numpy(users),
            torch.from_numpy(positives + n_users),
            torch.from_numpy(negatives + n_users),
        )
        with torch.no_grad():
            loss, gradient = bpr_gradient(embeddings, adjacency, config.layers, rows, config.regularization)
        embeddings.grad = gradient
        optimizer.step()
        return loss

    def _set_factors(self, embeddings: torch.Tensor, adjacency: torch.Tensor, n_users: int) -> None:
        """Store the current final embeddings as ``user_factors_`` / ``item_factors_``."""
        import torch

        config = self.config
        assert isinstance(config, LightGCNConfig)
        with torch.no_grad():
            final = propagate(embeddings.detach(), adjacency, config.layers).numpy()
        self.user_factors_ = np.ascontiguousarray(final[:n_users], dtype=np.float32)
        self.item_factors_ = np.ascontiguousarray(final[n_users:], dtype=np.float32)
        self._item_degrees = None
