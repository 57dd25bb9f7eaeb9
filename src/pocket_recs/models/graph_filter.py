"""A training-free graph filter (GF-CF, Shen et al. 2021; BSPM, Choi et al. 2023).

With R the binary users x items graph, R~ = D_u^-1/2 R D_i^-1/2 and the item-item graph
P = R~^T R~ (symmetric, eigenvalues in [0, 1]), a user's row r is filtered by

    y0 = r P + beta * r D_i^-1/2 V V^T D_i^1/2     (linear + ideal low-pass filter)
    scores = y0 s(P)                                 (BSPM's sharpening ODE dy/dt = -y P)

where V holds the top ``factors`` right singular vectors of R~ (P = V S^2 V^T on them) and
s(P) is ``sharpen_steps`` RK4 steps of the ODE up to ``sharpen_time``: a degree-4 polynomial of
P per step. Nothing is back-propagated; fitting is one randomized truncated SVD and a few sparse
products.

P is an items x items matrix (dense it would need 40 GB at 100K items), so it is never formed
densely, and neither is s(P):

* the ideal part's right factor V^T D_i^1/2 s(P) (factors x items) is computed exactly by
  applying P = R~^T (R~ .) to it a few times (sparse products);
* the linear part's sharpening is exact on P's top-``factors`` spectrum, r V f(S^2) V^T with
  f(x) = x s(x); on the rest of the spectrum (eigenvalues below the k-th, where s(x) is between
  s(sigma_k^2) and 1) P is scaled by the constant ``tail_weight`` instead;
* the linear part keeps the ``max_neighbours`` strongest entries of each row of P (sparse).

So scores = r (tail_weight P_m) + (r L) R, with the two low-rank terms (2 x factors wide)
compressed to one of ``rank`` (default ``factors``) by an exact thin SVD of their product.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, cast

import numpy as np
import scipy.sparse as sp

from pocket_recs.config import GraphFilterConfig
from pocket_recs.models.base import FitContext, Model
from pocket_recs.models.graph import inverse_sqrt, normalized_graph, positive_graph, torch_csr
from pocket_recs.progress import Progress, progress_task

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

NEIGHBOUR_BLOCK = 2048
"""Items whose row of P is built at once (a sparse block, then its strongest entries)."""
TOPK_ROWS = 256
"""Long rows of P made dense at once to keep their strongest entries."""


def rk4_polynomial(x: np.ndarray, time_: float, steps: int) -> np.ndarray:
    """s(x): what ``steps`` RK4 steps of dy/dt = -x y up to ``time_`` multiply y(0) by.

    One step of size h multiplies by 1 - z + z^2/2 - z^3/6 + z^4/24, z = h x.
    """
    if time_ == 0:
        return np.ones_like(x)
    z = np.asarray(x, dtype=np.float64) * (time_ / steps)
    step = 1 - z + z**2 / 2 - z**3 / 6 + z**4 / 24
    return cast(np.ndarray, step**steps)


def _orthonormalize(block: torch.Tensor) -> torch.Tensor:
    """Orthonormal columns spanning ``block`` (n x l): Cholesky QR (twice) when the Gram
    matrix is well conditioned, Householder QR otherwise."""
    import torch

    for _ in range(2):
        gram = (block.T @ block).double()
        factor, info = torch.linalg.cholesky_ex(gram)
        if int(info) != 0:
            return cast(torch.Tensor, torch.linalg.qr(block.double()).Q.float())
        block = block @ torch.linalg.inv(factor).T.float()
    return block


def truncated_svd(
    matrix: sp.csr_array, k: int, *, oversampling: int, iterations: int, seed: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """The top ``k`` singular values and right singular vectors of a sparse matrix, by
    randomized subspace iteration (Halko, Martinsson and Tropp, 2011) on M^T M.

    Returns:
        float64 (k,) singular values, largest first, and float32 (n_columns, k) vectors.
    """
    import torch

    n_columns = matrix.shape[1]
    width = min(k + oversampling, min(matrix.shape))
    rows, transposed = torch_csr(matrix), torch_csr(sp.csr_array(matrix.T))
    start = np.random.default_rng(seed).standard_normal((n_columns, width)).astype(np.float32)
    basis = _orthonormalize(torch.from_numpy(start))
    for _ in range(iterations):
        basis = _orthonormalize(transposed @ (rows @ basis))
    projected = (rows @ basis).double()  # M ~ projected basis^T
    values, vectors = torch.linalg.eigh(projected.T @ projected)
    order = torch.argsort(values, descending=True)[:k]
    singular = values[order].clamp(min=0).sqrt().numpy()
    right = (basis.double() @ vectors[:, order]).float().numpy()
    return singular, np.ascontiguousarray(right)


def strongest_per_row(matrix: sp.csr_array, keep: int) -> sp.csr_array:
    """``matrix`` with only the ``keep`` largest entries of each row (ties by column order)."""
    import torch

    lengths = np.diff(matrix.indptr)
    long_rows = np.flatnonzero(lengths > keep)
    if not len(long_rows):
        return matrix
    kept_lengths = np.minimum(lengths, keep)
    indptr = np.concatenate([[0], np.cumsum(kept_lengths)]).astype(np.int64)
    indices = np.empty(indptr[-1], dtype=matrix.indices.dtype)
    data = np.empty(indptr[-1], dtype=matrix.data.dtype)
    short = lengths <= keep
    short_cells = np.repeat(short, lengths)
    short_target = np.repeat(short, kept_lengths)
    indices[short_target] = matrix.indices[short_cells]
    data[short_target] = matrix.data[short_cells]
    for start in range(0, len(long_rows), TOPK_ROWS):
        rows = long_rows[start : start + TOPK_ROWS]
        values, columns = torch.topk(torch.from_numpy(matrix[rows].toarray()), keep, dim=1)
        columns_np, values_np = columns.numpy(), values.numpy()
        order = np.argsort(columns_np, axis=1)
        targets = (indptr[rows][:, None] + np.arange(keep)).ravel()  # each long row keeps ``keep``
        indices[targets] = np.take_along_axis(columns_np, order, axis=1).ravel()
        data[targets] = np.take_along_axis(values_np, order, axis=1).ravel()
    return sp.csr_array((data, indices, indptr), shape=matrix.shape)


def item_graph(
    normalized: sp.csr_array, *, max_neighbours: int | None, progress: Progress | None = None
) -> sp.csr_array:
    """P = R~^T R~ (n_items x n_items), built in blocks of items, each row cut to its
    ``max_neighbours`` strongest entries (all kept when None)."""
    n_items = normalized.shape[1]
    transposed = sp.csr_array(normalized.T)
    blocks = []
    starts = range(0, n_items, NEIGHBOUR_BLOCK)
    with progress_task(progress, "graph-filter P", total=len(starts)) as task:
        for start in starts:
            block = sp.csr_array(transposed[start : start + NEIGHBOUR_BLOCK] @ normalized)
            block.sort_indices()
            if max_neighbours is not None:
                block = strongest_per_row(block, max_neighbours)
            blocks.append(block)
            task.advance(1)
    result = sp.csr_array(sp.vstack(blocks, format="csr"), dtype=np.float32)
    result.sort_indices()
    return result


def compress(left: np.ndarray, right: np.ndarray, rank: int) -> tuple[np.ndarray, np.ndarray]:
    """Factors (n x r, r x m) of the best rank-``rank`` approximation of ``left @ right``
    (n x w, w x m), from an exact thin SVD of the product: QR of each side, SVD of the w x w core."""
    import torch

    if rank >= left.shape[1]:
        return left, right
    q_left, r_left = torch.linalg.qr(torch.from_numpy(left))
    q_right, r_right = torch.linalg.qr(torch.from_numpy(np.ascontiguousarray(right.T)))
    u, s, vt = torch.linalg.svd(r_left.double() @ r_right.double().T)
    new_left = (q_left @ (u[:, :rank] * s[:rank]).float()).numpy()
    new_right = (q_right @ vt[:rank].T.float()).T.numpy()
    return np.ascontiguousarray(new_left), np.ascontiguousarray(new_right)


def low_rank_filter(
    normalized: sp.csr_array,
    item_degrees: np.ndarray,
    singular: np.ndarray,
    vectors: np.ndarray,
    config: GraphFilterConfig,
) -> tuple[np.ndarray, np.ndarray]:
    """The two low-rank terms of the filter as one product L R (L: items x 2k, R: 2k x items).

    L = [V diag(f(S^2) - tail_weight S^2), ideal_weight D_i^-1/2 V] and R = [V^T; V^T D_i^1/2 s(P)]:
    the sharpening of the linear filter on the top-k spectrum (f(x) = x s(x), the tail keeping
    ``tail_weight`` x) and the sharpened ideal low-pass filter, whose right factor is computed
    exactly by RK4 steps with P applied as R~^T (R~ y).

    Args:
        normalized: R~ (users x items); item_degrees: (items,); singular, vectors: the top-k
            singular values (k,) and right singular vectors (items x k) of R~.
    """
    import torch

    rows, transposed = torch_csr(normalized), torch_csr(sp.csr_array(normalized.T))
    sqrt_degrees = np.sqrt(item_degrees).astype(np.float32)
    ideal = torch.from_numpy(np.ascontiguousarray(vectors * sqrt_degrees[:, None]))  # columns
    if config.sharpen_time > 0:
        step = config.sharpen_time / config.sharpen_steps

        def slope(y: torch.Tensor) -> torch.Tensor:
            return -(transposed @ (rows @ y))

        for _ in range(config.sharpen_steps):
            k1 = slope(ideal)
            k2 = slope(ideal + step / 2 * k1)
            k3 = slope(ideal + step / 2 * k2)
            k4 = slope(ideal + step * k3)
            ideal = ideal + step / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    eigen = singular**2
    spectrum = eigen * rk4_polynomial(eigen, config.sharpen_time, config.sharpen_steps)
    correction = (spectrum - config.tail_weight * eigen).astype(np.float32)
    left = np.concatenate(
        [vectors * correction, config.ideal_weight * vectors * inverse_sqrt(item_degrees)[:, None]], axis=1
    )
    right = np.concatenate([vectors.T, ideal.numpy().T], axis=0)
    return np.ascontiguousarray(left, dtype=np.float32), np.ascontiguousarray(right, dtype=np.float32)


class GraphFilterModel(Model):
    """Training-free scores r (tail_weight P_m) + (r L) R from a normalised item-item graph
    (see the module docstring). Negative cells of ``user_items`` are ignored; every positive
    cell is one edge.

    Learned attributes: ``neighbours_`` (items x items CSR, the linear filter already scaled by
    ``tail_weight``), ``left_`` (items x rank) and ``right_`` (rank x items).
    """

    name = "graph-filter"

    def __init__(self, config: GraphFilterConfig | None = None) -> None:
        super().__init__(config or GraphFilterConfig())
        self.neighbours_: sp.csr_array | None = None
        self.left_: np.ndarray | None = None
        self.right_: np.ndarray | None = None

    def _fit(self, user_items: sp.csr_array, *, progress: Progress | None, context: FitContext) -> None:
        config = self.config
        assert isinstance(config, GraphFilterConfig)
        graph = positive_graph(user_items)
        normalized, _, item_degrees = normalized_graph(graph)
        factors = min(config.factors, min(graph.shape))
        if factors < config.factors:
            logger.warning(
                "graph-filter: factors lowered from %d to %d for a %s matrix",
                config.factors, factors, graph.shape,
            )
        started = time.perf_counter()
        with progress_task(progress, "graph-filter svd", total=1) as task:
            singular, vectors = truncated_svd(
                normalized, factors, oversampling=config.svd_oversampling,
                iterations=config.svd_iterations, seed=config.seed,
            )
            task.advance(1)
        svd_seconds = time.perf_counter() - started

        left, right = low_rank_filter(normalized, item_degrees, singular, vectors, config)
        rank = min(config.rank or factors, left.shape[1])
        self.left_, self.right_ = compress(left, right, rank)

        started_p = time.perf_counter()
        neighbours = item_graph(normalized, max_neighbours=config.max_neighbours, progress=progress)
        neighbours.data *= np.float32(config.tail_weight)
        self.neighbours_ = neighbours
        self.info_.update(
            factors=int(factors),
            rank=int(self.left_.shape[1]),
            neighbours_nnz=int(neighbours.nnz),
            sigma_k=float(singular[-1]) if len(singular) else 0.0,
            svd_seconds=round(svd_seconds, 3),
            neighbours_seconds=round(time.perf_counter() - started_p, 3),
        )
        logger.info(
            "graph-filter: %d singular vectors (sigma_k %.3f) in %.1fs, %d item-item cells",
            factors, self.info_["sigma_k"], svd_seconds, neighbours.nnz,
        )

    def _filter(self, rows: sp.csr_array) -> np.ndarray:
        """float32 (m, n_items) filtered scores of binary rows (m, n_items)."""
        assert self.neighbours_ is not None and self.left_ is not None and self.right_ is not None
        block = np.asarray(sp.csr_array(rows @ self.neighbours_).toarray(), dtype=np.float32)
        block += np.asarray(rows @ self.left_, dtype=np.float32) @ self.right_
        return block

    def _score(self, user_idx: np.ndarray) -> np.ndarray:
        return self._filter(positive_graph(self._fitted()[user_idx]))

    def score_history(self, items: np.ndarray, values: np.ndarray) -> np.ndarray:
        items = np.asarray(items, dtype=np.int64)[np.asarray(values) > 0]
        items = np.unique(items)
        row = sp.csr_array(
            (np.ones(len(items), np.float32), items, np.array([0, len(items)])), shape=(1, self.n_items)
        )
        return cast(np.ndarray, self._filter(row)[0])

    def _similar_scores(self, item_idx: np.ndarray) -> np.ndarray:
        assert self.neighbours_ is not None and self.left_ is not None and self.right_ is not None
        block = np.asarray(self.neighbours_[item_idx].toarray(), dtype=np.float32)
        block += self.left_[item_idx] @ self.right_
        return block

    def _arrays(self) -> dict[str, np.ndarray]:
        assert self.neighbours_ is not None and self.left_ is not None and self.right_ is not None
        return {
            "neighbours_indptr": self.neighbours_.indptr.astype(np.int64),
            "neighbours_indices": self.neighbours_.indices.astype(np.int32),
            "neighbours_data": self.neighbours_.data.astype(np.float32),
            "left": self.left_,
            "right": self.right_,
        }

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        left = np.asarray(arrays["left"], dtype=np.float32)
        n_items = left.shape[0]
        self.neighbours_ = sp.csr_array(
            (
                np.asarray(arrays["neighbours_data"], dtype=np.float32),
                np.asarray(arrays["neighbours_indices"], dtype=np.int32),
                np.asarray(arrays["neighbours_indptr"], dtype=np.int64),
            ),
            shape=(n_items, n_items),
        )
        self.left_ = left
        self.right_ = np.asarray(arrays["right"], dtype=np.float32)

